//! Faults below WebSocket framing: `ignore-ping-frames` drops every Pong frame the server
//! writes, on the connection's I/O ([`PongDropping`], an I/O adapter), because tungstenite
//! answers pings by itself and no frame seam sees its pongs.
//!
//! The allowed variations `server-pings` and `fragmented-frames` act on the same bytes
//! ([`WireVariations`]): Ping frames slipped in between the server's frames, and each text
//! message cut into a text frame without FIN and continuation frames.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use chalk_reference_server::seams::{BoxIo, IoAdapter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Interval, MissedTickBehavior};

use crate::fault::{Fault, Faults};

/// The I/O adapter of the injected I/O faults and variations.
pub fn adapter(faults: Faults) -> Arc<dyn IoAdapter> {
    let variations = WireVariations {
        ping_every: faults.has(Fault::ServerPings).then_some(SERVER_PING_EVERY),
        fragment: faults.has(Fault::FragmentedFrames),
    };
    let wire_varies = variations.ping_every.is_some() || variations.fragment;
    match (faults.has(Fault::IgnorePingFrames), wire_varies) {
        (true, true) => Arc::new(Stacked(Arc::new(PongDropping), Arc::new(variations))),
        (true, false) => Arc::new(PongDropping),
        _ => Arc::new(variations),
    }
}

/// Two adapters, the first nearer the server.
#[derive(Debug)]
struct Stacked(Arc<dyn IoAdapter>, Arc<dyn IoAdapter>);

impl IoAdapter for Stacked {
    fn adapt(&self, io: BoxIo) -> BoxIo {
        self.0.adapt(self.1.adapt(io))
    }
}

/// The I/O adapter of `ignore-ping-frames`.
#[derive(Debug, Default)]
pub struct PongDropping;

impl IoAdapter for PongDropping {
    fn adapt(&self, io: BoxIo) -> BoxIo {
        Box::new(PongDropper::new(io))
    }
}

/// Where the write side of a [`PongDropper`] is in the byte stream.
#[derive(Debug)]
enum Phase {
    /// The first HTTP response head, collected until its blank line.
    Head(Vec<u8>),
    /// Not a WebSocket connection: everything passes.
    Http,
    /// WebSocket frames: the header collected so far, or the payload still to pass or drop.
    Header(Vec<u8>),
    /// Inside a frame's payload.
    Payload { remaining: u64, drop: bool },
}

/// The I/O of one connection, dropping the Pong frames the server writes after a `101`.
#[derive(Debug)]
pub struct PongDropper<Io> {
    inner: Io,
    phase: Phase,
    /// Accepted from the writer, not yet written to `inner`.
    pending: Vec<u8>,
}

const PONG_OPCODE: u8 = 0xA;

impl<Io> PongDropper<Io> {
    fn new(inner: Io) -> Self {
        Self {
            inner,
            phase: Phase::Head(Vec::new()),
            pending: Vec::new(),
        }
    }

    /// Runs `bytes` through the filter into `pending`.
    fn filter(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.phase {
                Phase::Http => {
                    self.pending.extend_from_slice(bytes);
                    return;
                }
                Phase::Head(head) => {
                    let before = head.len();
                    head.extend_from_slice(bytes);
                    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                        return;
                    };
                    let end = end + 4;
                    let upgraded = head.starts_with(b"HTTP/1.1 101");
                    self.pending.extend_from_slice(&head[..end]);
                    bytes = &bytes[end - before..];
                    self.phase = if upgraded {
                        Phase::Header(Vec::new())
                    } else {
                        Phase::Http
                    };
                }
                Phase::Header(header) => {
                    header.push(bytes[0]);
                    bytes = &bytes[1..];
                    let Some((remaining, opcode)) = frame_header(header) else {
                        continue;
                    };
                    let drop = opcode == PONG_OPCODE;
                    if !drop {
                        self.pending.extend_from_slice(header);
                    }
                    self.phase = if remaining == 0 {
                        Phase::Header(Vec::new())
                    } else {
                        Phase::Payload { remaining, drop }
                    };
                }
                Phase::Payload { remaining, drop } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    if !*drop {
                        self.pending.extend_from_slice(&bytes[..take]);
                    }
                    bytes = &bytes[take..];
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.phase = Phase::Header(Vec::new());
                    }
                }
            }
        }
    }
}

/// The payload length and opcode of a complete frame header, or `None` while it is incomplete.
fn frame_header(header: &[u8]) -> Option<(u64, u8)> {
    if header.len() < 2 {
        return None;
    }
    let opcode = header[0] & 0x0F;
    let masked = header[1] & 0x80 != 0;
    let (extended, length) = match header[1] & 0x7F {
        126 => (2, None),
        127 => (8, None),
        short => (0, Some(u64::from(short))),
    };
    let full = 2 + extended + if masked { 4 } else { 0 };
    if header.len() < full {
        return None;
    }
    let length = length.unwrap_or_else(|| {
        header[2..2 + extended]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    });
    Some((length, opcode))
}

impl<Io: AsyncWrite + Unpin> PongDropper<Io> {
    /// Writes everything pending to the inner I/O.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let written = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..written);
        }
        Poll::Ready(Ok(()))
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for PongDropper<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for PongDropper<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        this.filter(buf);
        // Callers may write without flushing and then drop the I/O (tungstenite does so with
        // its last close frame): pass the bytes on now, as far as the inner I/O takes them. An
        // error here shows up again on the next write or flush.
        let _ = this.poll_drain(cx);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode, u8::try_from(payload.len()).unwrap()];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn drops_pong_frames_after_the_upgrade_only_whatever_the_write_sizes() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        let mut stream = head.to_vec();
        stream.extend(frame(0x1, b"{\"event\":\"ping\"}"));
        stream.extend(frame(PONG_OPCODE, b"are you there?"));
        stream.extend(frame(0x9, b""));
        let mut long = vec![0x81, 126, 0x01, 0x00];
        long.extend(std::iter::repeat_n(b'x', 256));
        stream.extend(&long);
        let mut expected = head.to_vec();
        expected.extend(frame(0x1, b"{\"event\":\"ping\"}"));
        expected.extend(frame(0x9, b""));
        expected.extend(&long);
        for chunk in [1, 3, 7, stream.len()] {
            let mut dropper = PongDropper::new(());
            for piece in stream.chunks(chunk) {
                dropper.filter(piece);
            }
            assert_eq!(dropper.pending, expected, "chunks of {chunk}");
        }
        let mut refused = PongDropper::new(());
        let http = b"HTTP/1.1 401 Unauthorized\r\n\r\n\x8a\x00";
        refused.filter(http);
        assert_eq!(refused.pending, http);
    }
}

/// How often `server-pings` pings each connection.
pub const SERVER_PING_EVERY: Duration = Duration::from_millis(80);

/// The payload of the pings `server-pings` sends.
const SERVER_PING_PAYLOAD: &[u8] = b"variation";

/// The I/O adapter of `server-pings` and `fragmented-frames`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireVariations {
    /// `server-pings`: ping every connection this often.
    pub ping_every: Option<Duration>,
    /// `fragmented-frames`: send every text message in fragments.
    pub fragment: bool,
}

impl IoAdapter for WireVariations {
    fn adapt(&self, io: BoxIo) -> BoxIo {
        let pings = self.ping_every.map(|every| {
            let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
            pings
        });
        Box::new(VariedWire {
            inner: io,
            frames: Reframer::new(self.fragment),
            pings,
        })
    }
}

/// The written byte stream of one connection, frame by frame: every complete frame the server
/// writes after its `101` is passed on (or cut into fragments) as a whole, so that a ping can be
/// slipped in between any two frames.
#[derive(Debug)]
struct Reframer {
    fragment: bool,
    /// Whether the `101` head went by (frames follow), or an HTTP answer did (nothing to do).
    upgraded: Option<bool>,
    /// The head, then the current frame, collected until complete.
    partial: Vec<u8>,
    /// Whether the server sent its Close frame: no ping may follow it.
    closed: bool,
    /// Ready to be written to the inner I/O, whole frames only.
    pending: Vec<u8>,
}

impl Reframer {
    fn new(fragment: bool) -> Self {
        Self {
            fragment,
            upgraded: None,
            partial: Vec::new(),
            closed: false,
            pending: Vec::new(),
        }
    }

    /// Takes `bytes` written by the server.
    fn take(&mut self, bytes: &[u8]) {
        if self.upgraded == Some(false) {
            self.pending.extend_from_slice(bytes);
            return;
        }
        self.partial.extend_from_slice(bytes);
        if self.upgraded.is_none() {
            let Some(end) = self.partial.windows(4).position(|w| w == b"\r\n\r\n") else {
                return;
            };
            let head: Vec<u8> = self.partial.drain(..end + 4).collect();
            let upgraded = head.starts_with(b"HTTP/1.1 101");
            self.upgraded = Some(upgraded);
            self.pending.extend_from_slice(&head);
            if !upgraded {
                self.pending.append(&mut self.partial);
                return;
            }
        }
        while let Some(length) = complete_frame(&self.partial) {
            let frame: Vec<u8> = self.partial.drain(..length).collect();
            self.pass(&frame);
        }
    }

    /// Passes one complete frame on, in fragments when it is an unfragmented text message.
    fn pass(&mut self, frame: &[u8]) {
        let opcode = frame[0] & 0x0F;
        self.closed |= opcode == 0x8;
        let (header_len, masked) = frame_layout(frame);
        let unmasked_text = opcode == 0x1 && frame[0] & 0x80 != 0 && !masked;
        let payload = &frame[header_len..];
        if !self.fragment || !unmasked_text || payload.len() < 2 {
            self.pending.extend_from_slice(frame);
            return;
        }
        // A frame boundary may cut a UTF-8 character in two: only the whole message must be
        // valid UTF-8 (RFC 6455 §5.6), so the cut falls in the middle whatever is there.
        // The RSV bits (an extension's, such as permessage-deflate's RSV1) belong to the first
        // fragment (RFC 6455 §5.2, §7.2 of RFC 7692).
        let rsv = frame[0] & 0x70;
        let (first, rest) = payload.split_at(payload.len() / 2);
        let (second, third) = rest.split_at(rest.len() / 2);
        let pieces = [(0x01 | rsv, first), (0x00, second), (0x80, third)];
        for (at, (head, piece)) in pieces.into_iter().enumerate() {
            if at == 1 {
                // A control frame in the middle of a fragmented message (RFC 6455 §5.4).
                self.push_ping();
            }
            self.pending.push(head);
            push_length(&mut self.pending, piece.len());
            self.pending.extend_from_slice(piece);
        }
    }

    fn push_ping(&mut self) {
        self.pending.push(0x89);
        push_length(&mut self.pending, SERVER_PING_PAYLOAD.len());
        self.pending.extend_from_slice(SERVER_PING_PAYLOAD);
    }

    /// Slips a Ping frame in, if frames are being written and the server has not closed.
    fn ping(&mut self) {
        if self.upgraded == Some(true) && !self.closed {
            self.push_ping();
        }
    }
}

/// The length of the first frame of `bytes`, when it is all there.
fn complete_frame(bytes: &[u8]) -> Option<usize> {
    let (length, _) = frame_header(bytes)?;
    let (header_len, _) = frame_layout(bytes);
    let total = header_len + usize::try_from(length).ok()?;
    (bytes.len() >= total).then_some(total)
}

/// The header length of a frame whose header is complete, and whether it is masked.
fn frame_layout(frame: &[u8]) -> (usize, bool) {
    let masked = frame[1] & 0x80 != 0;
    let extended = match frame[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    (2 + extended + if masked { 4 } else { 0 }, masked)
}

/// Appends the second header byte (unmasked) and the extended length of a payload of `length`.
fn push_length(out: &mut Vec<u8>, length: usize) {
    if length < 126 {
        out.push(length as u8);
    } else if let Ok(short) = u16::try_from(length) {
        out.push(126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(length as u64).to_be_bytes());
    }
}

/// The I/O of one connection under [`WireVariations`].
struct VariedWire {
    inner: BoxIo,
    frames: Reframer,
    pings: Option<Interval>,
}

impl VariedWire {
    /// Queues a ping for each tick that is due.
    fn poll_pings(&mut self, cx: &mut Context<'_>) {
        if self.frames.upgraded == Some(false) {
            // An HTTP answer (a refusal, a REST call): no frames will ever be written.
            self.pings = None;
        }
        if let Some(pings) = self.pings.as_mut() {
            while pings.poll_tick(cx).is_ready() {
                self.frames.ping();
            }
        }
    }

    /// Writes everything pending to the inner I/O.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let pending = &mut self.frames.pending;
        while !pending.is_empty() {
            let written = ready!(Pin::new(&mut self.inner).poll_write(cx, pending))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            pending.drain(..written);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for VariedWire {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // The server is always reading: its reads carry the pings out while it writes nothing.
        this.poll_pings(cx);
        if this.poll_drain(cx).is_ready() {
            let _ = Pin::new(&mut this.inner).poll_flush(cx);
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for VariedWire {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        this.frames.take(buf);
        // As in `PongDropper`: pass the bytes on now, as far as the inner I/O takes them.
        let _ = this.poll_drain(cx);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // The connection ends, with or without a Close frame: no ping may follow.
        this.frames.closed = true;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    fn text_frame(payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x81];
        push_length(&mut out, payload.len());
        out.extend_from_slice(payload);
        out
    }

    /// The messages of a stream of frames, fragments joined, with their opcodes.
    fn messages(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>, usize)> {
        let mut out: Vec<(u8, Vec<u8>, usize)> = Vec::new();
        while let Some(length) = complete_frame(bytes) {
            let (header_len, _) = frame_layout(bytes);
            let (opcode, payload) = (bytes[0] & 0x0F, &bytes[header_len..length]);
            // A continuation belongs to the last data message: control frames may come between.
            match out.iter_mut().rev().find(|m| m.0 < 0x8) {
                Some(last) if opcode == 0 => {
                    last.1.extend_from_slice(payload);
                    last.2 += 1;
                }
                _ => out.push((opcode, payload.to_vec(), 1)),
            }
            bytes = &bytes[length..];
        }
        assert!(bytes.is_empty(), "a partial frame is left");
        out
    }

    #[test]
    fn fragments_text_messages_and_slips_pings_between_frames_only() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        let long = "é".repeat(300);
        let mut stream = text_frame(br#"{"event":"chat.message"}"#);
        stream.extend(text_frame(long.as_bytes()));
        stream.extend([0x88, 0x02, 0x03, 0xE8]);
        for chunk in [1, 5, stream.len()] {
            let mut wire = Reframer::new(true);
            wire.take(head);
            for piece in stream.chunks(chunk) {
                wire.ping();
                wire.take(piece);
                wire.ping();
            }
            assert!(wire.pending.starts_with(head));
            let got = messages(&wire.pending[head.len()..]);
            let data: Vec<_> = got.iter().filter(|m| m.0 != 0x9).collect();
            assert_eq!(data.len(), 3, "chunks of {chunk}");
            assert_eq!(
                (data[0].0, data[0].1.as_slice(), data[0].2),
                (1, &br#"{"event":"chat.message"}"#[..], 3)
            );
            assert_eq!((data[1].1.as_slice(), data[1].2), (long.as_bytes(), 3));
            assert_eq!(data[2].0, 0x8);
            assert!(got.iter().any(|m| m.0 == 0x9), "pinged");

            assert_eq!(got.last().unwrap().0, 0x8, "nothing after the close frame");
        }
        let mut refused = Reframer::new(true);
        refused.take(b"HTTP/1.1 401 Unauthorized\r\n\r\n\x81\x02hi");
        refused.ping();
        assert_eq!(
            refused.pending,
            b"HTTP/1.1 401 Unauthorized\r\n\r\n\x81\x02hi"
        );
    }

    #[test]
    fn a_ping_comes_between_the_first_and_second_fragment() {
        let mut wire = Reframer::new(true);
        wire.take(b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
        wire.pending.clear();
        let mut frame = text_frame(b"abcdef");
        frame[0] |= 0x40; // RSV1, as permessage-deflate sets it.
        wire.take(&frame);
        let mut bytes = wire.pending.as_slice();
        let mut heads = Vec::new();
        while let Some(length) = complete_frame(bytes) {
            heads.push(bytes[0]);
            bytes = &bytes[length..];
        }
        // Text without FIN (RSV1 kept), the ping, a continuation, the final continuation.
        assert_eq!(heads, [0x41, 0x89, 0x00, 0x80]);
    }
}
