//! The WebSocket opening handshake, done by hand.
//!
//! A client library fails the connection on the very answers a conformance suite must observe: a
//! refused upgrade, a subprotocol the client did not offer, a missing Sec-WebSocket-Protocol. So
//! the suite writes the HTTP upgrade request itself, reads and keeps the whole answer (status,
//! headers, body), and only on `101` hands the byte stream (with any bytes already read past the
//! headers) to tungstenite for framing.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::driver::redact::percent_encode;
use crate::driver::transport::{Connector, Target, Transport};

/// The GUID of RFC 6455 §1.3 that the accept key is derived with.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The most header bytes accepted before the answer is declared broken.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The most body bytes kept from a refusal.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a refusal body without a length may take to arrive.
const BODY_GRACE: Duration = Duration::from_millis(500);

/// What to put in an upgrade request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// A token for the deprecated `?token=` query parameter.
    pub query_token: Option<String>,
    /// The Sec-WebSocket-Protocol entries, in order; none means no header.
    pub protocols: Vec<String>,
    /// The Origin header, if any.
    pub origin: Option<String>,
}

/// What an upgrade request carries besides its token, subprotocols and origin: query parameters
/// and headers a client adds, such as a `room_id` parameter that tries to steer the connection
/// to another room than its token names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// Query parameters appended after `token=` (names and values percent-encoded).
    pub query: Vec<(String, String)>,
    /// Headers appended after the standard ones.
    pub headers: Vec<(String, String)>,
}

/// Where a client puts its token: the documented ways of presenting one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenChannel {
    /// `Sec-WebSocket-Protocol: chalk, token.{jwt}` (the preferred way).
    Header,
    /// `?token={jwt}` and no subprotocol (the deprecated way).
    QueryNoProtocol,
    /// `?token={jwt}` and `Sec-WebSocket-Protocol: chalk`.
    QueryWithChalk,
}

impl TokenChannel {
    /// Every channel, the preferred one first.
    pub const ALL: [TokenChannel; 3] = [
        TokenChannel::Header,
        TokenChannel::QueryNoProtocol,
        TokenChannel::QueryWithChalk,
    ];

    /// The phrase the feature files use for it.
    pub fn phrase(self) -> &'static str {
        match self {
            TokenChannel::Header => "in the subprotocol header",
            TokenChannel::QueryNoProtocol => "in the query string, offering no subprotocol",
            TokenChannel::QueryWithChalk => "in the query string, offering chalk",
        }
    }

    /// The upgrade request presenting `token` this way, from `origin`.
    pub fn request(self, token: &str, origin: Option<String>) -> UpgradeRequest {
        let (query_token, protocols) = match self {
            TokenChannel::Header => (None, vec!["chalk".to_owned(), format!("token.{token}")]),
            TokenChannel::QueryNoProtocol => (Some(token.to_owned()), Vec::new()),
            TokenChannel::QueryWithChalk => (Some(token.to_owned()), vec!["chalk".to_owned()]),
        };
        UpgradeRequest {
            query_token,
            protocols,
            origin,
        }
    }
}

impl std::fmt::Display for TokenChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.phrase())
    }
}

impl std::str::FromStr for TokenChannel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.phrase() == s.trim())
            .ok_or_else(|| format!("unknown token channel {s:?}"))
    }
}

/// An HTTP answer to an upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Every header, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (refusals only; capped).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Every value of a header (names compared case-insensitively).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The comma-separated entries of every instance of a header, trimmed.
    pub fn header_list(&self, name: &str) -> Vec<String> {
        self.header_values(name)
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Status line, headers and body, as they would read on the wire.
    pub fn describe(&self) -> String {
        let mut out = format!("HTTP/1.1 {} {}", self.status, self.reason);
        for (name, value) in &self.headers {
            out.push_str(&format!("\n{name}: {value}"));
        }
        if !self.body.is_empty() {
            out.push_str(&format!("\n\n{}", self.body_text()));
        }
        out
    }
}

/// How an upgrade attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with an HTTP response.
    Answered(HttpResponse),
    /// No HTTP response came: connection refused, reset, timeout, garbage.
    Unanswered(String),
}

/// One upgrade attempt: what was sent and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The request target (path and query).
    pub request_target: String,
    /// The request headers, in order.
    pub request_headers: Vec<(String, String)>,
    /// The Sec-WebSocket-Key sent.
    pub key: String,
    /// The subprotocols offered, in order.
    pub offered: Vec<String>,
    /// The answer.
    pub outcome: Outcome,
}

impl Handshake {
    /// The response, when there was one.
    pub fn response(&self) -> Option<&HttpResponse> {
        match &self.outcome {
            Outcome::Answered(response) => Some(response),
            Outcome::Unanswered(_) => None,
        }
    }

    /// The status, when there was a response.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }

    /// Whether the server switched protocols.
    pub fn accepted(&self) -> bool {
        self.status() == Some(101)
    }

    /// The request as it read on the wire.
    pub fn describe_request(&self) -> String {
        let mut out = format!("GET {} HTTP/1.1", self.request_target);
        for (name, value) in &self.request_headers {
            out.push_str(&format!("\n{name}: {value}"));
        }
        out
    }

    /// The answer in one block: the response, or why there was none.
    pub fn describe_outcome(&self) -> String {
        match &self.outcome {
            Outcome::Answered(response) => response.describe(),
            Outcome::Unanswered(why) => format!("(no HTTP response: {why})"),
        }
    }

    /// One line for messages: `101 Switching Protocols`, `401 Unauthorized`, or why none came.
    pub fn summary(&self) -> String {
        match &self.outcome {
            Outcome::Answered(r) => format!("{} {}", r.status, r.reason),
            Outcome::Unanswered(why) => format!("no HTTP response ({why})"),
        }
    }
}

/// The Sec-WebSocket-Accept value RFC 6455 derives from a key.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// Checks that every header can be written as one header line: a name made of RFC 9110 token
/// characters, a value with no control character but the tab. A CR or LF in an added header
/// would otherwise end the line and inject another header (or end the request head).
pub fn check_headers(headers: &[(String, String)]) -> Result<(), String> {
    for (name, value) in headers {
        let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(tchar) {
            return Err(format!(
                "the header name {name:?} is not an HTTP token (letters, digits, !#$%&'*+-.^_`|~)"
            ));
        }
        if let Some(c) = value.chars().find(|&c| c != '\t' && c.is_control()) {
            return Err(format!(
                "the value of the header {name} holds the control character {:?}, which would \
                 break the request's header lines",
                c
            ));
        }
    }
    Ok(())
}

/// Builds the request target and headers of an upgrade.
fn build_request(
    target: &Target,
    request: &UpgradeRequest,
    extras: &Extras,
    key: &str,
) -> (String, Vec<(String, String)>) {
    let mut request_target = target.path_and_query.clone();
    let query = request
        .query_token
        .iter()
        .map(|token| ("token", token.as_str()))
        .chain(extras.query.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    for (name, value) in query {
        request_target.push(if request_target.contains('?') {
            '&'
        } else {
            '?'
        });
        request_target.push_str(&percent_encode(name));
        request_target.push('=');
        request_target.push_str(&percent_encode(value));
    }
    let mut headers = vec![
        ("Host".to_owned(), target.host_header.clone()),
        ("Upgrade".to_owned(), "websocket".to_owned()),
        ("Connection".to_owned(), "Upgrade".to_owned()),
        ("Sec-WebSocket-Key".to_owned(), key.to_owned()),
        ("Sec-WebSocket-Version".to_owned(), "13".to_owned()),
    ];
    if !request.protocols.is_empty() {
        headers.push((
            "Sec-WebSocket-Protocol".to_owned(),
            request.protocols.join(", "),
        ));
    }
    if let Some(origin) = &request.origin {
        headers.push(("Origin".to_owned(), origin.clone()));
    }
    headers.push((
        "User-Agent".to_owned(),
        concat!("chalk-conformance/", env!("CARGO_PKG_VERSION")).to_owned(),
    ));
    headers.extend(extras.headers.iter().cloned());
    (request_target, headers)
}

/// Performs one opening handshake; on `101` also returns the WebSocket.
pub async fn open(
    connector: &Connector,
    target: &Target,
    request: &UpgradeRequest,
    timeout: Duration,
) -> (Handshake, Option<WebSocketStream<Transport>>) {
    open_with_config(connector, target, request, timeout, None).await
}

/// [`open`], with query parameters and headers added to the request.
pub async fn open_with_extras(
    connector: &Connector,
    target: &Target,
    request: &UpgradeRequest,
    extras: &Extras,
    timeout: Duration,
) -> (Handshake, Option<WebSocketStream<Transport>>) {
    open_with(connector, target, request, extras, timeout, None).await
}

/// [`open`], with the WebSocket's buffer sizes and limits set by `config` (tungstenite's
/// defaults otherwise; the load generator holds thousands of sockets and sets 4 KiB buffers).
pub async fn open_with_config(
    connector: &Connector,
    target: &Target,
    request: &UpgradeRequest,
    timeout: Duration,
    config: Option<WebSocketConfig>,
) -> (Handshake, Option<WebSocketStream<Transport>>) {
    open_with(
        connector,
        target,
        request,
        &Extras::default(),
        timeout,
        config,
    )
    .await
}

async fn open_with(
    connector: &Connector,
    target: &Target,
    request: &UpgradeRequest,
    extras: &Extras,
    timeout: Duration,
    config: Option<WebSocketConfig>,
) -> (Handshake, Option<WebSocketStream<Transport>>) {
    let key = STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
    let (request_target, request_headers) = build_request(target, request, extras, &key);
    let unsendable = check_headers(&request_headers);
    let mut handshake = Handshake {
        request_target,
        request_headers,
        key,
        offered: request.protocols.clone(),
        outcome: Outcome::Unanswered(String::new()),
    };
    if let Err(why) = unsendable {
        handshake.outcome = Outcome::Unanswered(format!("not sent: {why}"));
        return (handshake, None);
    }
    let deadline = Instant::now() + timeout;
    match exchange(connector, target, &handshake, deadline).await {
        Ok((response, stream, leftover)) => {
            let switched = response.status == 101;
            handshake.outcome = Outcome::Answered(response);
            if !switched {
                return (handshake, None);
            }
            let ws =
                WebSocketStream::from_partially_read(stream, leftover, Role::Client, config).await;
            (handshake, Some(ws))
        }
        Err(why) => {
            handshake.outcome = Outcome::Unanswered(why);
            (handshake, None)
        }
    }
}

/// Sends the request and reads the answer; returns the response, the stream and any bytes read
/// past the head of a `101`.
async fn exchange(
    connector: &Connector,
    target: &Target,
    handshake: &Handshake,
    deadline: Instant,
) -> Result<(HttpResponse, Transport, Vec<u8>), String> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let mut stream = connector
        .connect(target, remaining)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", target.authority()))?;
    let mut wire = handshake.describe_request().replace('\n', "\r\n");
    wire.push_str("\r\n\r\n");
    let write = async {
        stream.write_all(wire.as_bytes()).await?;
        stream.flush().await
    };
    tokio::time::timeout_at(deadline, write)
        .await
        .map_err(|_| "timed out sending the request".to_owned())?
        .map_err(|e| format!("cannot send the request: {e}"))?;

    let mut buf = Vec::with_capacity(1024);
    let (mut response, head_len) = loop {
        if let Some(parsed) = parse_head(&buf)? {
            break parsed;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(format!("response head longer than {MAX_HEAD_BYTES} bytes"));
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .map_err(|_| "timed out waiting for the response".to_owned())?
            .map_err(|e| format!("connection failed while reading the response: {e}"))?;
        if n == 0 {
            return Err(if buf.is_empty() {
                "the server closed the connection without answering".to_owned()
            } else {
                "the server closed the connection in the middle of its response".to_owned()
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let rest = buf.split_off(head_len);
    if response.status == 101 {
        return Ok((response, stream, rest));
    }
    response.body = read_body(&mut stream, &response, rest, deadline).await;
    Ok((response, stream, Vec::new()))
}

/// Parses a response head; `None` while it is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(HttpResponse, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) => {
            let response = HttpResponse {
                status: parsed.code.unwrap_or(0),
                reason: parsed.reason.unwrap_or("").to_owned(),
                headers: parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
                body: Vec::new(),
            };
            Ok(Some((response, len)))
        }
        Err(e) => Err(format!("the answer is not HTTP: {e}")),
    }
}

/// Reads a refusal's body: by Content-Length, chunked, or until the server closes.
async fn read_body(
    stream: &mut Transport,
    response: &HttpResponse,
    mut body: Vec<u8>,
    deadline: Instant,
) -> Vec<u8> {
    let length = response
        .header_values("content-length")
        .first()
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = response
        .header_list("transfer-encoding")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("chunked"));
    let grace = (Instant::now() + BODY_GRACE).min(deadline);
    let done = |body: &[u8]| match length {
        Some(n) => body.len() >= n,
        None if chunked => body.windows(5).any(|w| w == b"0\r\n\r\n"),
        None => false,
    };
    while !done(&body) && body.len() < MAX_BODY_BYTES {
        let until = if length.is_some() || chunked {
            deadline
        } else {
            grace
        };
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(until, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    if let Some(n) = length {
        body.truncate(n);
    }
    if chunked {
        body = dechunk(&body);
    }
    body.truncate(MAX_BODY_BYTES);
    body
}

/// Decodes a chunked body as far as it is well formed.
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let end = (start + size).min(rest.len());
        out.extend_from_slice(&rest[start..end]);
        rest = rest.get(end + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_query_token_outside_the_unreserved_set_is_redacted_from_the_request_line() {
        let token = "opaque+token/from-a-command==";
        let redactor = crate::driver::redact::Redactor::new();
        redactor.register_token(token, "Alice");
        let target = Target::parse("ws://127.0.0.1:9/api/v1/ws").unwrap();
        let request = TokenChannel::QueryNoProtocol.request(token, None);
        let (request_target, request_headers) =
            build_request(&target, &request, &Extras::default(), "k");
        let handshake = Handshake {
            request_target,
            request_headers,
            key: "k".into(),
            offered: Vec::new(),
            outcome: Outcome::Unanswered("test".into()),
        };
        let line = handshake.describe_request();
        assert!(line.contains("token=opaque%2Btoken%2Ffrom-a-command%3D%3D"));
        assert!(!redactor.leaks(&line).is_empty(), "the raw line leaks");
        let shown = redactor.redact(&line);
        assert!(
            shown.starts_with("GET /api/v1/ws?token=[token:Alice] HTTP/1.1"),
            "{shown}"
        );
        assert!(!shown.contains("opaque"), "{shown}");
        assert!(redactor.leaks(&shown).is_empty(), "{shown}");
    }

    #[test]
    fn headers_that_would_break_their_line_are_not_sent() {
        let header = |n: &str, v: &str| vec![(n.to_owned(), v.to_owned())];
        assert_eq!(check_headers(&header("X-Room-Id", "room 2\t")), Ok(()));
        let crlf = check_headers(&header("X-Room-Id", "r2\r\nX-Participant-Id: bob")).unwrap_err();
        assert!(
            crlf.contains("X-Room-Id") && crlf.contains("control character"),
            "{crlf}"
        );
        assert!(check_headers(&header("X-Room-Id", "r2\n")).is_err());
        assert!(check_headers(&header("X-Room-Id", "r2\u{0}")).is_err());
        let name = check_headers(&header("X-Room\r\nId", "r2")).unwrap_err();
        assert!(name.contains("not an HTTP token"), "{name}");
        assert!(check_headers(&header("X Room", "r2")).is_err());
        assert!(check_headers(&header("", "r2")).is_err());
    }

    #[test]
    fn an_upgrade_with_an_injected_header_is_caught_in_the_built_request() {
        let target = Target::parse("ws://127.0.0.1:9/api/v1/ws").unwrap();
        let request = TokenChannel::Header.request("t", Some("https://app.test".into()));
        let (_, headers) = build_request(&target, &request, &Extras::default(), "k");
        assert_eq!(check_headers(&headers), Ok(()));
        let extras = Extras {
            query: Vec::new(),
            headers: vec![("X-Room-Id".into(), "r2\r\nX-Admin: yes".into())],
        };
        let (_, headers) = build_request(&target, &request, &extras, "k");
        let why = check_headers(&headers).unwrap_err();
        assert!(
            why.starts_with("the value of the header X-Room-Id"),
            "{why}"
        );
    }

    #[test]
    fn builds_query_tokens_and_protocol_lists() {
        let target = Target::parse("ws://127.0.0.1:9/api/v1/ws").unwrap();
        let request = UpgradeRequest {
            query_token: Some("a.b c".into()),
            protocols: vec!["chalk".into(), "token.x".into()],
            origin: Some("https://app.test".into()),
        };
        let (path, headers) = build_request(&target, &request, &Extras::default(), "k");
        assert_eq!(path, "/api/v1/ws?token=a.b%20c");
        assert!(headers.contains(&("Sec-WebSocket-Protocol".into(), "chalk, token.x".into())));
        assert!(headers.contains(&("Origin".into(), "https://app.test".into())));
        let extras = Extras {
            query: vec![("room_id".into(), "r 2".into())],
            headers: vec![("X-Room-Id".into(), "r2".into())],
        };
        let (path, headers) = build_request(&target, &request, &extras, "k");
        assert_eq!(path, "/api/v1/ws?token=a.b%20c&room_id=r%202");
        assert_eq!(headers.last(), Some(&("X-Room-Id".into(), "r2".into())));
        let channels = TokenChannel::ALL.map(|c| c.request("t", None));
        assert_eq!(channels[0].protocols, vec!["chalk", "token.t"]);
        assert_eq!(
            (
                channels[1].query_token.as_deref(),
                channels[1].protocols.len()
            ),
            (Some("t"), 0)
        );
        assert_eq!(channels[2].protocols, vec!["chalk"]);
    }

    #[test]
    fn parses_heads_and_lists() {
        let raw =
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\nX-A: a, b\r\nX-A: c\r\n\r\n{}";
        let (response, len) = parse_head(raw).unwrap().unwrap();
        assert_eq!(response.status, 401);
        assert_eq!(&raw[len..], b"{}");
        assert_eq!(response.header_list("x-a"), vec!["a", "b", "c"]);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn decodes_chunked_bodies() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
    }
}
