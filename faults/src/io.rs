//! Faults below WebSocket framing: `ignore-ping-frames` drops every Pong frame the server
//! writes, on the connection's I/O ([`PongDropping`], an I/O adapter), because tungstenite
//! answers pings by itself and no frame seam sees its pongs.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use chalk_reference_server::seams::{BoxIo, IoAdapter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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
