//! Playing one case against the server: provisioning its participants, sending its actions, and
//! settling the room around every step that could race, then handing what happened to the
//! oracle.
//!
//! Everything goes through the suite's own machinery: participants come from the run's
//! [`Provisioner`], connections are opened with [`handshake::open`] and read by [`Connection`],
//! whose [`FrameJudge`] checks every received frame against the schemas. Every case gets rooms
//! and participant ids of its own, so cases can run side by side on one server.
//!
//! Settling never sleeps: it waits, with the run's event timeout, until the oracle says nothing
//! owed is still missing ([`oracle::outstanding`]). Only the end of a case waits a fixed quiet
//! window, because a duplicate or a stray message can only be seen by waiting for it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::case::{
    Action, Case, Departure, Garbage, TextClass, chat_frame, not_utf8_frame, oversized_frame,
    oversized_text, seat_name,
};
use super::oracle::{self, BadInput, Declared, Record, SeatRecord, SentChat, SentHand};
use crate::contract::judge::FrameJudge;
use crate::driver::connection::{Connection, ReceivedKind};
use crate::driver::handshake::{self, UpgradeRequest};
use crate::driver::provision::Provisioner;
use crate::driver::redact::Redactor;
use crate::driver::transcript::{Direction, Transcript};
use crate::driver::transport::{Connector, Target};
use crate::suite::failure::{Failure, Mismatch};

/// How long a refused rejoin waits before it is tried again.
const REJOIN_RETRY: Duration = Duration::from_millis(100);

/// Everything the cases of one run share.
#[derive(Debug)]
pub struct Arena {
    /// The WebSocket endpoint.
    pub target: Target,
    /// Opens connections to it.
    pub connector: Connector,
    /// Makes rooms and participants.
    pub provisioner: Provisioner,
    /// Judges every received frame.
    pub judge: Arc<FrameJudge>,
    /// Knows every secret of the run.
    pub redactor: Arc<Redactor>,
    /// The Origin header of connections.
    pub origin: Option<String>,
    /// The extensions the server declared.
    pub declared: Declared,
    /// How long to wait for anything owed.
    pub event_timeout: Duration,
    /// How long the end of a case waits for frames that must not come.
    pub quiet_window: Duration,
    /// The most one case may take.
    pub case_timeout: Duration,
    /// Whether participants are removed through the REST API: the run has one, and the user
    /// did not say `--without participant-removal`.
    pub removals: bool,
    /// Prefixes everything the run creates.
    pub run_id: String,
    /// Numbers the plays of the run.
    plays: AtomicUsize,
    /// The participant ids of every case so far.
    participants: Mutex<HashSet<String>>,
}

impl Arena {
    /// An arena; `plays` starts at zero.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: Target,
        connector: Connector,
        provisioner: Provisioner,
        judge: Arc<FrameJudge>,
        redactor: Arc<Redactor>,
        origin: Option<String>,
        declared: Declared,
        timeouts: (Duration, Duration, Duration),
        run_id: String,
    ) -> Self {
        let (event_timeout, quiet_window, case_timeout) = timeouts;
        let removals = provisioner.rest.is_some();
        Self {
            target,
            connector,
            provisioner,
            judge,
            redactor,
            origin,
            declared,
            event_timeout,
            quiet_window,
            case_timeout,
            removals,
            run_id,
            plays: AtomicUsize::new(0),
            participants: Mutex::new(HashSet::new()),
        }
    }

    /// Whether `id` is a participant of any case of the run.
    fn knows(&self, id: &str) -> bool {
        self.participants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    fn next_tag(&self) -> String {
        format!(
            "{}-{}",
            self.run_id,
            self.plays.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Provisions a participant of a fresh room and opens its connection: whether the server
    /// still accepts newcomers, as one line when it does not.
    pub async fn probe(&self, tag: &str) -> Result<(), String> {
        let room = self
            .provisioner
            .create_room(
                &format!("chalk-conformance fuzz {tag} probe"),
                &format!("{tag}-probe"),
            )
            .await
            .map_err(|e| format!("provisioning failed: {e}"))?;
        let credentials = self
            .provisioner
            .add_participant(&room, &format!("{tag}-probe-p"), "probe", "participant")
            .await
            .map_err(|e| format!("provisioning failed: {e}"))?;
        self.redactor
            .register_token(&credentials.token, &format!("{tag}:probe"));
        let request = self.request(&credentials.token);
        let (handshake, ws) =
            handshake::open(&self.connector, &self.target, &request, self.event_timeout).await;
        match ws {
            Some(mut ws) => {
                let _ = tokio::time::timeout(self.event_timeout, ws.close(None)).await;
                Ok(())
            }
            None => Err(handshake.summary()),
        }
    }

    fn request(&self, token: &str) -> UpgradeRequest {
        UpgradeRequest {
            query_token: None,
            protocols: vec!["chalk".to_owned(), format!("token.{token}")],
            origin: self.origin.clone(),
        }
    }
}

/// What one play of a case found.
#[derive(Debug)]
pub struct Play {
    /// The broken requirements; empty when the case passed.
    pub findings: Vec<Failure>,
    /// Per action: whether it did something (an action of a seat that is not connected does not).
    pub effective: Vec<bool>,
    /// The wire transcript.
    pub transcript: Arc<Transcript>,
}

impl Play {
    /// Whether the case failed.
    pub fn failed(&self) -> bool {
        !self.findings.is_empty()
    }

    /// Whether the case broke `requirement` (any failure, when `None`).
    pub fn breaks(&self, requirement: Option<&str>) -> bool {
        match requirement {
            Some(id) => self.findings.iter().any(|f| f.violated() == Some(id)),
            None => self.failed(),
        }
    }

    /// Whether the action at `step` did nothing.
    pub fn useless(&self) -> Vec<bool> {
        self.effective.iter().map(|e| !e).collect()
    }
}

/// Plays `case` once against the arena's server.
pub async fn play(arena: &Arena, case: &Case) -> Play {
    let tag = arena.next_tag();
    let transcript = Arc::new(Transcript::new());
    let mut stage = Stage {
        arena,
        case,
        tag: tag.clone(),
        transcript: Arc::clone(&transcript),
        rooms: Vec::new(),
        connections: (0..case.seats()).map(|_| None).collect(),
        record: Record {
            declared: arena.declared,
            seats: (0..case.seats())
                .map(|i| SeatRecord {
                    name: seat_name(i as u8),
                    room: case.room_of(i as u8),
                    ..SeatRecord::default()
                })
                .collect(),
            steps: case.actions.len(),
            ..Record::default()
        },
        hands: vec![Some(false); case.seats()],
        session: (0..case.seats()).collect(),
        tokens: vec![None; case.seats()],
        effective: Vec::with_capacity(case.actions.len()),
        problems: Vec::new(),
        pings: 0,
    };
    let finished = tokio::time::timeout(arena.case_timeout, stage.run())
        .await
        .is_ok();
    if !finished {
        stage.problems.push(
            Mismatch::new(
                format!("the case finished within {:?}", arena.case_timeout),
                "it was still running: a wait never ended",
            )
            .general(),
        );
    }
    stage.snapshot();
    stage.shut().await;
    let mut findings = stage.problems;
    findings.extend(oracle::check(&stage.record, &|id| arena.knows(id), &|id| {
        arena.judge.requirement(id)
    }));
    if let Err(problem) = arena.probe(&tag).await {
        findings.push(
            Mismatch::new(
                "a new participant connects after the case",
                arena.redactor.redact(&problem),
            )
            .against(arena.judge.requirement("ROBUST-003")),
        );
    }
    let mut effective = stage.effective;
    effective.resize(case.actions.len(), false);
    Play {
        findings,
        effective,
        transcript,
    }
}

/// One play in progress.
struct Stage<'a> {
    arena: &'a Arena,
    case: &'a Case,
    tag: String,
    transcript: Arc<Transcript>,
    /// The provisioned id of each room, once used.
    rooms: Vec<Option<String>>,
    connections: Vec<Option<Connection>>,
    record: Record,
    /// Each session's hand, as the model has it; `None` until a rejoined session first raises
    /// or lowers it (the page does not say whether a hand outlives a connection).
    hands: Vec<Option<bool>>,
    /// Each seat's current session (an index of `record.seats` and `connections`): the seat's
    /// own index until it joins again.
    session: Vec<usize>,
    /// Each seat's token, once provisioned (a rejoin connects with it again).
    tokens: Vec<Option<String>>,
    effective: Vec<bool>,
    problems: Vec<Failure>,
    pings: usize,
}

impl Stage<'_> {
    async fn run(&mut self) {
        let case = self.case;
        for (step, action) in case.actions.iter().enumerate() {
            self.notice_closures(step).await;
            let effective = self.perform(step, action).await;
            self.effective.push(effective);
        }
        let end = case.actions.len();
        self.notice_closures(end).await;
        self.settle((0..self.record.seats.len()).collect()).await;
        tokio::time::sleep(self.arena.quiet_window).await;
        self.notice_closures(end).await;
    }

    /// Whether session `seat` is connected, as far as the model knows.
    fn live(&self, seat: usize) -> bool {
        let record = &self.record.seats[seat];
        record.joined.is_some()
            && record.left.is_none()
            && record.closed_by_server.is_none()
            && record.removed.is_none()
    }

    fn room_members(&self, room: usize) -> Vec<usize> {
        (0..self.record.seats.len())
            .filter(|&s| self.record.seats[s].room == room && self.live(s))
            .collect()
    }

    fn note(&self, text: impl Into<String>) {
        self.transcript.record("fuzz", Direction::Note, text);
    }

    /// Marks connections the server has closed since the last look, and lets their rooms hear
    /// of it.
    async fn notice_closures(&mut self, step: usize) {
        let closed: Vec<usize> = (0..self.record.seats.len())
            .filter(|&s| self.live(s))
            .filter(|&s| {
                self.connections[s]
                    .as_ref()
                    .is_some_and(|c| c.inbox().lock().ending.is_some())
            })
            .collect();
        for &seat in &closed {
            self.record.seats[seat].closed_by_server = Some(step);
        }
        for seat in closed {
            let room = self.record.seats[seat].room;
            self.settle(self.room_members(room)).await;
        }
    }

    /// Waits until `seats` have everything they are owed so far, or the event timeout passes.
    async fn settle(&self, seats: Vec<usize>) {
        let deadline = Instant::now() + self.arena.event_timeout;
        for seat in seats {
            if !self.live(seat) {
                continue;
            }
            let Some(connection) = &self.connections[seat] else {
                continue;
            };
            let record = &self.record;
            connection
                .inbox()
                .wait_for(deadline, |state| {
                    (state.ending.is_some()
                        || oracle::outstanding(record, seat, &state.frames).is_none())
                    .then_some(())
                })
                .await;
        }
    }

    /// Round-trips a Ping frame on `seat`'s connection, so that the server has read everything
    /// sent before; with `until_closed`, waits for the connection to end instead.
    async fn barrier(&mut self, seat: usize, until_closed: bool) {
        self.pings += 1;
        let payload = format!("fuzz-{}", self.pings);
        let deadline = Instant::now() + self.arena.event_timeout;
        let Some(connection) = self.connections[seat].as_mut() else {
            return;
        };
        let ping = Message::Ping(payload.clone().into_bytes().into());
        let _ = connection
            .send_raw(ping, &format!("(ping frame {payload:?})"))
            .await;
        let expected = payload.into_bytes();
        connection
            .inbox()
            .wait_for(deadline, |state| {
                let answered = state
                    .frames
                    .iter()
                    .any(|f| matches!(&f.kind, ReceivedKind::Pong(p) if *p == expected));
                (state.ending.is_some() || (answered && !until_closed)).then_some(())
            })
            .await;
    }

    async fn room_id(&mut self, room: usize) -> Result<String, String> {
        if self.rooms.len() <= room {
            self.rooms.resize(room + 1, None);
        }
        if let Some(id) = &self.rooms[room] {
            return Ok(id.clone());
        }
        let id = self
            .arena
            .provisioner
            .create_room(
                &format!("chalk-conformance fuzz {} room {room}", self.tag),
                &format!("{}-r{room}", self.tag),
            )
            .await
            .map_err(|e| e.to_string())?;
        self.note(format!("room {room} is {id}"));
        self.rooms[room] = Some(id.clone());
        Ok(id)
    }

    async fn perform(&mut self, step: usize, action: &Action) -> bool {
        let place = self.case.seat_of(action.who());
        let seat = self.session[place];
        match action {
            Action::Join { .. } => {
                if self.record.seats[seat].joined.is_some() {
                    return false;
                }
                self.join(step, place).await;
                true
            }
            Action::Rejoin { .. } => {
                let current = &self.record.seats[seat];
                if current.joined.is_none() || current.removed.is_some() || self.live(seat) {
                    return false;
                }
                let sessions = 1
                    + (0..self.record.seats.len())
                        .filter(|s| self.record.same_participant(*s, seat))
                        .count();
                let record = SeatRecord {
                    name: format!("{}#{sessions}", seat_name(place as u8)),
                    room: current.room,
                    participant_id: current.participant_id.clone(),
                    ..SeatRecord::default()
                };
                self.record.seats.push(record);
                self.connections.push(None);
                self.hands.push(None);
                self.session[place] = self.record.seats.len() - 1;
                self.join(step, place).await;
                true
            }
            _ if !self.live(seat) => false,
            Action::Remove { .. } => self.arena.removals && self.remove(step, seat).await,
            Action::Leave { how, .. } => {
                self.leave(step, seat, *how).await;
                true
            }
            Action::Chat { text, extra, .. } => {
                let spoofed_as = self.record.seats[self.session[(place + 1) % self.case.seats()]]
                    .participant_id
                    .clone()
                    .unwrap_or_else(|| "p_somebody_else".to_owned());
                let frame = chat_frame(text, *extra, &spoofed_as);
                let class = TextClass::of(text, frame.len());
                if class != TextClass::Plain {
                    // Limits are the server's choice: it may refuse this text by closing.
                    self.record.seats[seat]
                        .bad_inputs
                        .push((step, BadInput::Text(class)));
                }
                self.record.chats.push(SentChat {
                    step,
                    from: seat,
                    text: text.clone(),
                    class,
                    spoofed: *extra == super::case::Extra::Spoof,
                });
                self.record.seats[seat].last_event = Some((step, "chat.send"));
                self.send_text(seat, &frame).await;
                self.after(step, seat, false).await;
                true
            }
            Action::Hand {
                raise, with_data, ..
            } => {
                let event = if *raise { "hand.raise" } else { "hand.lower" };
                let frame = if *with_data {
                    format!(r#"{{"event":"{event}","data":{{}}}}"#)
                } else {
                    format!(r#"{{"event":"{event}"}}"#)
                };
                self.record.hands.push(SentHand {
                    step,
                    from: seat,
                    raise: *raise,
                    changed: self.hands[seat] != Some(*raise),
                    certain: self.hands[seat].is_some(),
                });
                self.hands[seat] = Some(*raise);
                self.record.seats[seat].last_event = Some((step, event));
                self.send_text(seat, &frame).await;
                self.after(step, seat, false).await;
                true
            }
            Action::Ping { .. } => {
                self.record.seats[seat].pings.push(step);
                self.record.seats[seat].last_event = Some((step, "ping"));
                self.send_text(seat, r#"{"event":"ping"}"#).await;
                self.after(step, seat, false).await;
                true
            }
            Action::Garbage { frame, .. } => {
                self.garbage(step, seat, frame).await;
                true
            }
        }
    }

    async fn send_text(&mut self, seat: usize, text: &str) {
        if let Some(connection) = self.connections[seat].as_mut() {
            // A refused send means the server closed the connection; the next look notices.
            let _ = connection.send_text(text).await;
        }
    }

    /// Connects seat `place` as its current session: provisioned at its first join, with the
    /// same token again at a rejoin.
    async fn join(&mut self, step: usize, place: usize) {
        let seat = self.session[place];
        let room = self.record.seats[seat].room;
        self.settle(self.room_members(room)).await;
        let name = self.record.seats[seat].name.clone();
        let name = name.as_str();
        if let Some(token) = self.tokens[place].clone() {
            self.note(format!("{name} connects again as the same participant"));
            self.connect(step, seat, &token).await;
            return;
        }
        let room_id = match self.room_id(room).await {
            Ok(id) => id,
            Err(e) => {
                self.problems.push(
                    Mismatch::new(
                        format!("room {room} provisioned"),
                        self.arena.redactor.redact(&e),
                    )
                    .general(),
                );
                return;
            }
        };
        let credentials = match self
            .arena
            .provisioner
            .add_participant(
                &room_id,
                &format!("{}-p{place}", self.tag),
                name,
                "participant",
            )
            .await
        {
            Ok(credentials) => credentials,
            Err(e) => {
                self.problems.push(
                    Mismatch::new(
                        format!("{name} provisioned"),
                        self.arena.redactor.redact(&e.to_string()),
                    )
                    .general(),
                );
                return;
            }
        };
        self.arena
            .redactor
            .register_token(&credentials.token, &format!("{}:{name}", self.tag));
        self.arena
            .participants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(credentials.participant_id.clone());
        self.note(format!(
            "{name} is participant {} of room {room}",
            credentials.participant_id
        ));
        self.record.seats[seat].participant_id = Some(credentials.participant_id);
        self.tokens[place] = Some(credentials.token.clone());
        self.connect(step, seat, &credentials.token).await;
    }

    /// Opens session `seat`'s connection with `token`.
    async fn connect(&mut self, step: usize, seat: usize, token: &str) {
        let room = self.record.seats[seat].room;
        let name = self.record.seats[seat].name.clone();
        let name = name.as_str();
        let request = self.arena.request(token);
        // A rejoin may come before the server has noticed the old session's end (a dropped
        // connection with nobody left in the room to wait on): a server that still counts it may
        // refuse a second connection (the page leaves that open), so a refused rejoin is tried
        // again until the event timeout; only a refusal then is a finding.
        let rejoin = self.record.seats[seat].name.contains('#');
        let deadline = Instant::now() + self.arena.event_timeout;
        let (handshake, ws) = loop {
            let (handshake, ws) = handshake::open(
                &self.arena.connector,
                &self.arena.target,
                &request,
                self.arena.event_timeout,
            )
            .await;
            if ws.is_some() || !rejoin || Instant::now() + REJOIN_RETRY >= deadline {
                break (handshake, ws);
            }
            tokio::time::sleep(REJOIN_RETRY).await;
        };
        let Some(ws) = ws else {
            self.transcript
                .record(name, Direction::Out, handshake.describe_request());
            self.transcript
                .record(name, Direction::In, handshake.describe_outcome());
            self.problems.push(
                Mismatch::new(
                    if self.tokens.contains(&Some(token.to_owned()))
                        && self.record.seats[seat].name.contains('#')
                    {
                        format!("{name} connects again with its token, still valid")
                    } else {
                        format!("{name} connects with a freshly provisioned token")
                    },
                    handshake.summary(),
                )
                .against(self.arena.judge.requirement("AUTH-001")),
            );
            return;
        };
        self.transcript
            .record(name, Direction::In, "(101 Switching Protocols)");
        self.record.seats[seat].joined = Some(step);
        self.connections[seat] = Some(Connection::start(
            name.to_owned(),
            ws,
            Arc::clone(&self.arena.judge),
            Arc::clone(&self.transcript),
        ));
        self.barrier(seat, false).await;
        self.settle(self.room_members(room)).await;
    }

    async fn leave(&mut self, step: usize, seat: usize, how: Departure) {
        let room = self.record.seats[seat].room;
        self.settle(self.room_members(room)).await;
        self.record.seats[seat].left = Some((step, how));
        let deadline = Instant::now() + self.arena.event_timeout;
        if let Some(connection) = self.connections[seat].as_mut() {
            match how {
                Departure::Drop => connection.drop_abruptly(),
                _ => {
                    let sent = match how.close_code() {
                        Some(code) => connection.close(code).await,
                        None => {
                            connection
                                .send_raw(Message::Close(None), "(close frame without a code)")
                                .await
                        }
                    };
                    if sent.is_ok() {
                        connection
                            .inbox()
                            .wait_for(deadline, |state| state.ending.as_ref().map(|_| ()))
                            .await;
                    }
                }
            }
        }
        self.settle(self.room_members(room)).await;
    }

    /// Removes session `seat`'s participant through the REST API; whether it was removed (a
    /// refused DELETE is a problem of its own, and the step did nothing). Under close-codes the
    /// server promises to close the connection (4003): that close is waited for. Without it the
    /// page does not say what a removal does to an open connection, so nothing is waited for.
    async fn remove(&mut self, step: usize, seat: usize) -> bool {
        let room = self.record.seats[seat].room;
        self.settle(self.room_members(room)).await;
        let (Some(room_id), Some(pid)) = (
            self.rooms.get(room).cloned().flatten(),
            self.record.seats[seat].participant_id.clone(),
        ) else {
            return false;
        };
        let name = self.record.seats[seat].name.clone();
        self.transcript.record(
            &name,
            Direction::Note,
            format!("(removed through the REST API: DELETE /rooms/{room_id}/participants/{pid})"),
        );
        if let Err(e) = self
            .arena
            .provisioner
            .remove_participant(&room_id, &pid)
            .await
        {
            self.problems.push(
                Mismatch::new(
                    format!("{name} removed through the REST API"),
                    self.arena.redactor.redact(&e.to_string()),
                )
                .general(),
            );
            return false;
        }
        self.record.seats[seat].removed = Some(step);
        if self.arena.declared.close_codes {
            let deadline = Instant::now() + self.arena.event_timeout;
            if let Some(connection) = self.connections[seat].as_ref() {
                connection
                    .inbox()
                    .wait_for(deadline, |state| state.ending.as_ref().map(|_| ()))
                    .await;
            }
            self.settle(self.room_members(room)).await;
        }
        true
    }

    async fn garbage(&mut self, step: usize, seat: usize, garbage: &Garbage) {
        let room = self.record.seats[seat].room;
        self.settle(self.room_members(room)).await;
        let input = BadInput::of(garbage);
        self.record.seats[seat].bad_inputs.push((step, input));
        if let Garbage::Oversized { bytes } = garbage {
            // A valid chat.send above the reference limit: a server with a larger limit (the
            // API sets none) may deliver it, and then byte for byte, once, in order.
            let text = oversized_text(*bytes);
            self.record.chats.push(SentChat {
                step,
                from: seat,
                class: TextClass::of(&text, *bytes),
                text,
                spoofed: false,
            });
        }
        if let Some(connection) = self.connections[seat].as_mut() {
            let (message, described) = match garbage {
                Garbage::Text { text, .. } => (Message::text(text.as_str()), text.clone()),
                Garbage::Binary { bytes } => (
                    Message::binary(bytes.clone()),
                    format!("(binary frame {bytes:02x?})"),
                ),
                Garbage::NotUtf8 { bytes } => {
                    let frame = not_utf8_frame(bytes);
                    let described = format!(
                        "(text frame that is not UTF-8: {:?})",
                        String::from_utf8_lossy(&frame)
                    );
                    (
                        Message::Frame(Frame::message(frame, OpCode::Data(Data::Text), true)),
                        described,
                    )
                }
                Garbage::Oversized { bytes } => (
                    Message::text(oversized_frame(*bytes)),
                    format!("(chat.send frame of {bytes} bytes)"),
                ),
            };
            let _ = connection.send_raw(message, &described).await;
        }
        let until_closed = input.must_close(self.arena.declared).is_some();
        self.after(step, seat, until_closed).await;
        // A server may close a moment after answering the ping: a second round trip gives
        // that close the time to arrive, so that it is put down to this frame.
        if self.live(seat) {
            self.after(step, seat, false).await;
        }
    }

    /// After `seat` acted at `step`: a barrier, and the room told when the server closed it.
    async fn after(&mut self, step: usize, seat: usize, until_closed: bool) {
        self.barrier(seat, until_closed).await;
        self.notice_closures(step).await;
    }

    /// Copies every connection's inbox into the record.
    fn snapshot(&mut self) {
        for (seat, connection) in self.connections.iter().enumerate() {
            let Some(connection) = connection else {
                continue;
            };
            let state = connection.inbox().lock();
            let record = &mut self.record.seats[seat];
            record.frames = state.frames.clone();
            record.ending = state.ending.clone();
            record.violations = state.violations.clone();
        }
    }

    /// Lets go of every connection, politely where it is still open.
    async fn shut(&mut self) {
        for connection in self.connections.iter_mut().flatten() {
            connection.shut().await;
        }
    }
}
