//! The load generator's participants: connecting, sending on a window or a schedule, and
//! receiving with loss, duplicate, misrouting and latency accounting.
//!
//! Every connection is one task. A sender's task writes and reads through the two halves of
//! its socket; everyone else only reads. A run moves through [`Phase`]s announced on a `watch`
//! channel: connecting, the probe (one message per room that proves every member is in and shows
//! whether the server echoes a message to its sender), the measured run, and the stop, after
//! which every task closes its socket with 1000 and reports an [`Outcome`].
//!
//! Receivers count per sender: a server relays one sender's messages in order over one socket,
//! so a sequence number below the next expected one is a duplicate unless it fills a gap seen
//! earlier (then it was reordered), and whatever has not arrived by the end is lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::marker::{Marker, marker_of};
use super::stats::{Batch, Recorder, Route};
use crate::driver::handshake::{self, UpgradeRequest};
use crate::driver::transport::{Connector, Target, Transport};

/// A load connection.
pub type Socket = WebSocketStream<Transport>;

/// Buffer size of every load connection, both ways: chat frames are small.
const BUFFER_BYTES: usize = 4 * 1024;

/// How long the closing handshake of one connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames a receiver handles between two looks at the phase while frames keep coming.
const PHASE_CHECK_EVERY: u32 = 256;

/// A gap in one sender's sequence longer than this is counted as lost at once, not remembered.
const MAX_REMEMBERED_GAP: u64 = 65_536;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Connections are being opened.
    Connecting,
    /// The first sender of each room sends the probe.
    Probe,
    /// Senders send until `until`.
    Run {
        /// When sending stops.
        until: Instant,
    },
    /// Every connection closes.
    Stop,
}

/// How senders pace themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each sender keeps this many messages in flight (sent, not yet received by everyone).
    Window(u32),
    /// Each sender sends this many messages per second, on a fixed schedule.
    Rate(f64),
}

/// What every connection of a run shares.
#[derive(Debug)]
pub struct RunShared {
    /// The run's clock: marker times count from here.
    pub clock: Instant,
    /// Size of a message text.
    pub payload_bytes: usize,
    /// How senders pace themselves.
    pub pace: Pace,
    /// Where deliveries are recorded.
    pub recorder: Recorder,
    /// Connections that have received their first frame.
    pub greeted: AtomicU32,
    /// Largest delay of a scheduled send behind its schedule, in nanoseconds.
    pub schedule_lag_ns: AtomicU64,
    /// Scheduled sends more than a millisecond behind schedule.
    pub late_sends: AtomicU64,
    /// Nodes (URLs) the participants are spread over, at least one.
    pub nodes: u32,
}

impl RunShared {
    /// Nanoseconds since the run's clock started.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One sender's window: free slots, and per in-flight message how many members heard it.
#[derive(Debug)]
pub struct SenderWindow {
    permits: Semaphore,
    heard: Box<[AtomicU32]>,
    mask: usize,
}

impl SenderWindow {
    fn new(window: u32) -> Self {
        // Completion is in order (every member gets one sender's messages in order), so a ring
        // a few windows long never has two live messages on one slot.
        let slots = (window.max(1) as usize * 4).next_power_of_two();
        Self {
            permits: Semaphore::new(window.max(1) as usize),
            heard: (0..slots).map(|_| AtomicU32::new(0)).collect(),
            mask: slots - 1,
        }
    }
}

/// One room of the run.
#[derive(Debug)]
pub struct RoomShared {
    /// Its index in the run (carried in every marker).
    pub index: u32,
    /// Its id at the server (the room of the tokens, or `?room=` in raw mode).
    pub id: String,
    /// Participants whose connection was opened.
    pub connected: AtomicU32,
    /// Members other than the prober that received the probe.
    pub probe_heard: AtomicU32,
    /// Whether the prober received its own probe (the server echoes to the sender).
    pub probe_echoed: AtomicBool,
    /// Receivers of each message, decided after the probe.
    pub recipients: AtomicU32,
    /// Last sequence number each sender sent.
    pub sent: Box<[AtomicU64]>,
    /// Per sender, in window mode.
    windows: Option<Box<[SenderWindow]>>,
}

impl RoomShared {
    /// A room with `senders` senders.
    pub fn new(index: u32, id: String, senders: u32, pace: Pace) -> Self {
        let windows = match pace {
            Pace::Window(w) => Some((0..senders).map(|_| SenderWindow::new(w)).collect()),
            Pace::Rate(_) => None,
        };
        Self {
            index,
            id,
            connected: AtomicU32::new(0),
            probe_heard: AtomicU32::new(0),
            probe_echoed: AtomicBool::new(false),
            recipients: AtomicU32::new(0),
            sent: (0..senders).map(|_| AtomicU64::new(0)).collect(),
            windows,
        }
    }

    /// Messages sent by every sender of the room.
    pub fn total_sent(&self) -> u64 {
        self.sent.iter().map(|s| s.load(Ordering::Acquire)).sum()
    }

    /// Records that one member heard `seq` of `sender` for the first time; frees a window slot
    /// once every recipient has.
    fn heard(&self, sender: usize, seq: u64) {
        let Some(window) = self.windows.as_ref().and_then(|w| w.get(sender)) else {
            return;
        };
        let slot = &window.heard[seq as usize & window.mask];
        let heard = slot.fetch_add(1, Ordering::AcqRel) + 1;
        if heard == self.recipients.load(Ordering::Acquire) {
            slot.store(0, Ordering::Release);
            window.permits.add_permits(1);
        }
    }
}

/// The node (index of its URL) of member `member` of a room, or of idle connection `member`:
/// members go to the nodes in turn, so every room is spread over all of them, and a sender's
/// node follows from its index (senders are a room's first members).
pub fn node_of(member: u32, nodes: u32) -> u32 {
    member % nodes.max(1)
}

/// Who a connection is in the run.
#[derive(Debug, Clone)]
pub struct Seat {
    /// Its room, or `None` for an idle connection.
    pub room: Option<Arc<RoomShared>>,
    /// Participant index within the room.
    pub member: u32,
    /// Sender index within the room, for senders.
    pub sender: Option<u32>,
    /// Receiver number (spreads receivers over the recorder's shards).
    pub receiver: usize,
    /// The node (index of the URL) it connects to: [`node_of`] its member index.
    pub node: u32,
}

/// How one connection ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Close code of the close frame the server sent (its answer to ours, or its own).
    pub close_code: Option<u16>,
    /// The server closed before the run's stop.
    pub closed_early: bool,
    /// The connection broke (no closing handshake), with why.
    pub failure: Option<String>,
    /// Sends that failed.
    pub send_errors: u64,
    /// Per sender of the room: next expected sequence number and remembered gaps.
    pub tracks: Vec<Track>,
    /// Messages counted as lost at once (gaps too long to remember).
    pub lost_in_gaps: u64,
}

/// What a receiver knows of one sender's sequence.
#[derive(Debug, Clone)]
pub struct Track {
    /// The next sequence number expected.
    pub next: u64,
    /// Sequence numbers skipped and not (yet) received.
    pub missing: HashSet<u64>,
}

impl Default for Track {
    fn default() -> Self {
        Self {
            next: 1,
            missing: HashSet::new(),
        }
    }
}

/// The WebSocket settings of a load connection.
pub fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(BUFFER_BYTES)
        .write_buffer_size(BUFFER_BYTES)
}

/// Opens one connection: TCP, HTTP upgrade with `request`; the socket and the time it took, or
/// why it failed.
pub async fn connect(
    connector: &Connector,
    target: &Target,
    request: &UpgradeRequest,
    timeout: Duration,
) -> Result<(Socket, Duration), String> {
    let started = Instant::now();
    let (attempt, ws) =
        handshake::open_with_config(connector, target, request, timeout, Some(socket_config()))
            .await;
    let took = started.elapsed();
    match ws {
        Some(ws) => Ok((ws, took)),
        None => Err(match attempt.status() {
            Some(status) => format!("upgrade refused: {status}"),
            None => attempt.summary(),
        }),
    }
}

/// Runs one connection through the phases of the run; how it ended.
pub async fn participate(
    ws: Socket,
    seat: Seat,
    run: Arc<RunShared>,
    phase: watch::Receiver<Phase>,
) -> Outcome {
    let (mut sink, mut stream) = ws.split();
    let senders = seat.room.as_ref().map_or(0, |r| r.sent.len());
    let mut inbox = Inbox {
        batch: run.recorder.batch(seat.receiver),
        tracks: vec![Track::default(); senders],
        lost_in_gaps: 0,
        greeted: false,
        close_code: None,
        seat: seat.clone(),
        run: run.clone(),
    };
    let (send_errors, read_end) = tokio::join!(
        send(&mut sink, &seat, &run, phase.clone()),
        receive(&mut stream, &mut inbox, phase.clone())
    );
    inbox.batch.hand_over();
    let mut outcome = Outcome {
        send_errors,
        ..Outcome::default()
    };
    match read_end {
        ReadEnd::Stopped => {
            let close = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            let closing = async {
                if sink.send(Message::Close(Some(close))).await.is_err() {
                    return;
                }
                while let Some(Ok(message)) = stream.next().await {
                    if let Message::Close(frame) = message {
                        inbox.close_code = Some(frame.map_or(1005, |f| u16::from(f.code)));
                    }
                }
            };
            if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
                outcome.failure = Some("no close frame from the server in time".to_owned());
            }
        }
        ReadEnd::Ended => outcome.closed_early = true,
        ReadEnd::Failed(why) => {
            outcome.closed_early = true;
            outcome.failure = Some(why);
        }
    }
    outcome.close_code = inbox.close_code;
    outcome.tracks = inbox.tracks;
    outcome.lost_in_gaps = inbox.lost_in_gaps;
    outcome
}

/// Why a receiver stopped reading.
enum ReadEnd {
    /// The run stopped; the socket is still open.
    Stopped,
    /// The server closed the connection.
    Ended,
    /// The connection broke.
    Failed(String),
}

/// A receiver's state.
struct Inbox {
    seat: Seat,
    run: Arc<RunShared>,
    batch: Batch,
    tracks: Vec<Track>,
    lost_in_gaps: u64,
    greeted: bool,
    close_code: Option<u16>,
}

impl Inbox {
    fn text(&mut self, frame: &str) {
        if !self.greeted {
            self.greeted = true;
            self.run.greeted.fetch_add(1, Ordering::AcqRel);
        }
        let Some(marker) = marker_of(frame) else {
            self.batch.counts.other_frames += 1;
            return;
        };
        let Some(room) = self.seat.room.as_deref() else {
            self.batch.counts.misrouted += 1;
            return;
        };
        if marker.room != room.index {
            self.batch.counts.misrouted += 1;
            return;
        }
        if marker.seq == 0 {
            if marker.sender == 0 && self.seat.sender == Some(0) {
                room.probe_echoed.store(true, Ordering::Release);
            } else {
                room.probe_heard.fetch_add(1, Ordering::AcqRel);
            }
            return;
        }
        let sender = marker.sender as usize;
        let Some(track) = self.tracks.get_mut(sender) else {
            self.batch.counts.misrouted += 1;
            return;
        };
        let seq = marker.seq;
        if seq == track.next {
            track.next += 1;
        } else if seq > track.next {
            let gap = seq - track.next;
            if gap > MAX_REMEMBERED_GAP {
                self.lost_in_gaps += gap;
            } else {
                track.missing.extend(track.next..seq);
            }
            track.next = seq + 1;
        } else if track.missing.remove(&seq) {
            self.batch.counts.reordered += 1;
        } else {
            self.batch.counts.duplicates += 1;
            return;
        }
        let latency = self.run.now_ns().saturating_sub(marker.sent_ns);
        let route = if node_of(marker.sender, self.run.nodes) == self.seat.node {
            Route::SameNode
        } else {
            Route::CrossNode
        };
        self.batch.delivered(latency, route);
        room.heard(sender, seq);
    }
}

/// Reads until the run stops or the connection ends.
async fn receive(
    stream: &mut SplitStream<Socket>,
    inbox: &mut Inbox,
    mut phase: watch::Receiver<Phase>,
) -> ReadEnd {
    let mut since_check = 0u32;
    loop {
        since_check += 1;
        let ready = if since_check >= PHASE_CHECK_EVERY {
            since_check = 0;
            None
        } else {
            stream.next().now_or_never()
        };
        let item = match ready {
            Some(item) => item,
            None => {
                inbox.batch.hand_over();
                if *phase.borrow() == Phase::Stop {
                    return ReadEnd::Stopped;
                }
                tokio::select! {
                    item = stream.next() => item,
                    _ = phase.wait_for(|p| *p == Phase::Stop) => return ReadEnd::Stopped,
                }
            }
        };
        match item {
            None => return ReadEnd::Ended,
            Some(Err(e)) => return ReadEnd::Failed(e.to_string()),
            Some(Ok(Message::Text(text))) => inbox.text(text.as_str()),
            Some(Ok(Message::Close(frame))) => {
                inbox.close_code = Some(frame.map_or(1005, |f| u16::from(f.code)));
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Sends the probe and the measured messages of a sender; the number of failed sends.
async fn send(
    sink: &mut SplitSink<Socket, Message>,
    seat: &Seat,
    run: &RunShared,
    mut phase: watch::Receiver<Phase>,
) -> u64 {
    let (Some(room), Some(sender)) = (seat.room.as_deref(), seat.sender) else {
        return 0;
    };
    let frame = |seq: u64, sent_ns: u64| {
        Message::text(
            Marker {
                room: room.index,
                sender,
                seq,
                sent_ns,
            }
            .frame(run.payload_bytes),
        )
    };
    match phase.wait_for(|p| !matches!(p, Phase::Connecting)).await {
        Ok(p) if *p != Phase::Stop => {}
        _ => return 0,
    }
    if sender == 0 && sink.send(frame(0, run.now_ns())).await.is_err() {
        return 1;
    }
    let until = match phase
        .wait_for(|p| matches!(p, Phase::Run { .. } | Phase::Stop))
        .await
        .map(|p| *p)
    {
        Ok(Phase::Run { until }) => until,
        _ => return 0,
    };
    let sent = &room.sent[sender as usize];
    let mut seq = 0u64;
    match run.pace {
        Pace::Window(_) => {
            let Some(window) = room.windows.as_ref().map(|w| &w[sender as usize]) else {
                return 0;
            };
            loop {
                let Ok(Ok(permit)) = tokio::time::timeout_at(until, window.permits.acquire()).await
                else {
                    break;
                };
                permit.forget();
                seq += 1;
                if sink.feed(frame(seq, run.now_ns())).await.is_err() {
                    return 1;
                }
                // Everything the window allows right now goes out in one write.
                while let Ok(permit) = window.permits.try_acquire() {
                    permit.forget();
                    seq += 1;
                    if sink.feed(frame(seq, run.now_ns())).await.is_err() {
                        return 1;
                    }
                }
                if sink.flush().await.is_err() {
                    return 1;
                }
                sent.store(seq, Ordering::Release);
            }
        }
        Pace::Rate(per_second) => {
            let interval = Duration::from_secs_f64(1.0 / per_second.max(1e-6));
            let senders = room.sent.len().max(1) as u32;
            // Senders of a room take turns instead of sending together.
            let first = Instant::now() + interval * sender / senders;
            let mut due = first;
            while due < until {
                if due > Instant::now() {
                    tokio::time::sleep_until(due).await;
                }
                let now = Instant::now();
                while due <= now && due < until {
                    let lag = u64::try_from(now.duration_since(due).as_nanos()).unwrap_or(0);
                    run.schedule_lag_ns.fetch_max(lag, Ordering::Relaxed);
                    if lag > 1_000_000 {
                        run.late_sends.fetch_add(1, Ordering::Relaxed);
                    }
                    seq += 1;
                    if sink.feed(frame(seq, run.now_ns())).await.is_err() {
                        return 1;
                    }
                    due += interval;
                }
                if sink.flush().await.is_err() {
                    return 1;
                }
                sent.store(seq, Ordering::Release);
            }
        }
    }
    0
}
