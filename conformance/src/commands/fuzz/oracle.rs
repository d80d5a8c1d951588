//! The invariants a fuzz case is judged by: pure functions from what was done and what was
//! received ([`Record`]) to the requirements broken ([`Failure`]).
//!
//! Time is counted in *steps*, the positions of the case's actions. The player settles the room
//! around every step that could race (a join, a leave, an invalid frame): it waits until the
//! deliveries owed so far have arrived, so a step happens after everything before it. What a
//! receiver is owed follows from that:
//!
//! - A chat message is **owed** (must arrive exactly once, in the sender's order) to every other
//!   participant of the sender's room that joined before it was sent and was still there, when
//!   its text is valid per the published API: non-empty and at most [`PLAIN_TEXT_CHARS`]
//!   characters, or up to the reference limits when the server declares them (error-event).
//!   It **may** arrive (at most once, in order) where the API leaves the choice to the server:
//!   the sender's own copy without chat-echo, an empty or over-long text without error-event, a
//!   receiver or sender about to be closed for its own invalid input. Anything else must **not**
//!   arrive: other rooms, participants that were not there, refused texts.
//! - Presence: a participant present throughout another's arrival gets exactly one
//!   `participant.joined`; present throughout its departure, exactly one `participant.left`;
//!   nobody gets two, nobody hears about another room, nobody hears of a departure that did not
//!   happen. A joiner may hear of itself.
//! - Rejoins: each connection of a participant is a *session* of its own (a [`SeatRecord`]);
//!   sessions of one participant share its participant id, so what an observer hears about that
//!   id is judged against all of them together: the presence events in order (joined, left,
//!   joined again, …), each owed one exactly once; the chat of all sessions in the sender's
//!   order. A new session is owed nothing of what happened before it began, and nothing of it
//!   may reach an old one. A participant never hears of its own sessions.
//! - Removals through the REST API end a session like a departure: the others present are owed
//!   exactly one `participant.left`; the close code is the server's choice.
//! - Declared extensions add their own promises (echo, pong, error events, close codes, hand
//!   events, the roster); undeclared ones add none, so a server that makes another allowed
//!   choice is never failed for it.
//!
//! [`outstanding`] is the same bookkeeping used while playing: what a connection still waits
//! for, so that settling waits exactly as long as needed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::case::{Departure, Garbage, TextClass, Unusable};
use crate::contract::frame::FrameView;
use crate::contract::judge::{RequirementRef, SchemaViolation};
use crate::driver::connection::{Ending, Received, ReceivedKind};
use crate::suite::failure::{Failure, Mismatch};

/// A step that never comes: "still there at the end".
pub const NEVER: usize = usize::MAX;

/// The close code close-codes promises to a connection whose participant was removed (AUTH-021).
const REMOVED_CLOSE_CODE: u16 = 4003;

/// The extensions that change what a case owes, as declared by the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Declared {
    /// chat-echo: the sender gets its own message.
    pub chat_echo: bool,
    /// pong-event: `ping` is answered with `pong`.
    pub pong_event: bool,
    /// hand-events: hand changes are announced.
    pub hand_events: bool,
    /// room-state: the joiner's first frame is the roster.
    pub room_state: bool,
    /// error-event: unusable frames get `error` and the connection stays; refused texts.
    pub error_event: bool,
    /// close-codes: binary frames close with 1003, oversized messages with 1009.
    pub close_codes: bool,
}

impl Declared {
    /// From the declared extension names.
    pub fn from_names(names: &BTreeSet<String>) -> Self {
        let has = |name: &str| names.contains(name);
        Self {
            chat_echo: has("chat-echo"),
            pong_event: has("pong-event"),
            hand_events: has("hand-events"),
            room_state: has("room-state"),
            error_event: has("error-event"),
            close_codes: has("close-codes"),
        }
    }
}

/// A mismatch the oracle found, with the ID of the requirement it breaks: the *should* tier.
/// [`check`] charges each to its requirement as the catalogue names it.
type Found = (Option<String>, Mismatch);

/// A mismatch that breaks `requirement`.
fn found(requirement: &str, expected: impl Into<String>, actual: impl Into<String>) -> Found {
    (
        Some(requirement.to_owned()),
        Mismatch::new(expected, actual),
    )
}

/// An invalid frame a seat sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadInput {
    /// A text frame the server cannot act on.
    Unusable(Unusable),
    /// A binary frame.
    Binary,
    /// A text frame that is not UTF-8.
    NotUtf8,
    /// A frame above the reference message limit.
    Oversized,
    /// A valid `chat.send` whose text is empty or longer than [`PLAIN_TEXT_CHARS`]: the API
    /// sets no limits, so a server may refuse it any way it likes, closing the connection
    /// included, unless it declares error-event (which refuses with an `error` and keeps the
    /// connection, and takes texts up to the reference limit).
    Text(TextClass),
}

impl BadInput {
    /// Of a garbage frame.
    pub fn of(garbage: &Garbage) -> Self {
        match garbage {
            Garbage::Text { kind, .. } => BadInput::Unusable(*kind),
            Garbage::Binary { .. } => BadInput::Binary,
            Garbage::NotUtf8 { .. } => BadInput::NotUtf8,
            Garbage::Oversized { .. } => BadInput::Oversized,
        }
    }

    /// The close code the connection must end with (any code: `Some(None)`), if it must end.
    pub fn must_close(self, declared: Declared) -> Option<Option<u16>> {
        match self {
            // RFC 6455 §8.1 and ROBUST-005 (must); the code is only a `should` (ROBUST-006).
            BadInput::NotUtf8 => Some(None),
            BadInput::Binary if declared.close_codes => Some(Some(1003)),
            BadInput::Oversized if declared.close_codes => Some(Some(1009)),
            _ => None,
        }
    }
}

/// A `chat.send` that was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentChat {
    /// When.
    pub step: usize,
    /// By which seat.
    pub from: usize,
    /// The text.
    pub text: String,
    /// How the text stands against the limits.
    pub class: TextClass,
    /// Whether the client claimed its own `sender_id`.
    pub spoofed: bool,
}

/// A `hand.raise` or `hand.lower` that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentHand {
    /// When.
    pub step: usize,
    /// By which seat.
    pub from: usize,
    /// Raise (or lower).
    pub raise: bool,
    /// Whether the hand before it was known: not for the first raise or lower of a rejoined
    /// session, whose hand the server may have kept from the earlier one (then the event is
    /// allowed, not owed).
    pub certain: bool,
    /// Whether it changed the hand.
    pub changed: bool,
}

/// Everything about one seat.
#[derive(Debug, Clone, Default)]
pub struct SeatRecord {
    /// `A` to `F`.
    pub name: String,
    /// Its room (0 or 1).
    pub room: usize,
    /// Its participant id, once provisioned.
    pub participant_id: Option<String>,
    /// The step it joined at.
    pub joined: Option<usize>,
    /// The step it left at, and how (by the client).
    pub left: Option<(usize, Departure)>,
    /// The step by which the server had closed it.
    pub closed_by_server: Option<usize>,
    /// The step it was removed through the REST API at.
    pub removed: Option<usize>,
    /// The invalid frames it sent.
    pub bad_inputs: Vec<(usize, BadInput)>,
    /// The steps it sent the `ping` event at.
    pub pings: Vec<usize>,
    /// The last valid event it sent, and when.
    pub last_event: Option<(usize, &'static str)>,
    /// What it received (filled when the case ends).
    pub frames: Vec<Received>,
    /// How its connection ended (filled when the case ends).
    pub ending: Option<Ending>,
    /// Frames that broke their schema (filled when the case ends).
    pub violations: Vec<SchemaViolation>,
}

/// What a connection the server closed had just done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseCause {
    /// Sent an invalid frame.
    Input(BadInput),
    /// Sent this valid event.
    Event(&'static str),
    /// Nothing of its own.
    Unknown,
}

/// When a seat was in the room: joined at `join`; in the model until `out`; gone by `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    join: usize,
    /// Until this step everything owed to and by the seat is owed.
    out: usize,
    /// By this step the seat had certainly gone.
    end: usize,
    /// Whether it went at all.
    ended: bool,
}

impl SeatRecord {
    /// The seat's window. `removal_closes`: the server promised (close-codes) that a removal
    /// closes the connection; without that promise a removed seat may still hear the room until
    /// the case ends, and its departure may or may not be announced.
    fn window(&self, removal_closes: bool) -> Option<Window> {
        let join = self.joined?;
        let window = if let Some((step, _)) = self.left {
            Window {
                join,
                out: step,
                end: step,
                ended: true,
            }
        } else if let Some(step) = self.removed {
            Window {
                join,
                out: step,
                end: if removal_closes { step } else { usize::MAX },
                ended: true,
            }
        } else if let Some(noticed) = self.closed_by_server {
            // Closed for its own invalid input: possibly as early as the first one. Closed for
            // anything else: a finding of its own; nothing is owed about it.
            let out = match self.close_cause() {
                Some(CloseCause::Input(_)) => self.first_bad_input().unwrap_or(join).min(noticed),
                _ => join,
            };
            Window {
                join,
                out,
                end: noticed,
                ended: true,
            }
        } else {
            Window {
                join,
                out: NEVER,
                end: NEVER,
                ended: false,
            }
        };
        Some(window)
    }

    fn first_bad_input(&self) -> Option<usize> {
        self.bad_inputs.first().map(|(step, _)| *step)
    }

    /// What the server's close of this seat is put down to. Every action is followed by a Ping
    /// frame round trip, so a close caused by the seat's own frame is noticed at that frame's
    /// step; a close noticed later is put down to the seat's latest invalid frame, if any (a
    /// server may take a moment to close).
    fn close_cause(&self) -> Option<CloseCause> {
        let noticed = self.closed_by_server?;
        if let Some((_, input)) = self.bad_inputs.iter().find(|(step, _)| *step == noticed) {
            return Some(CloseCause::Input(*input));
        }
        if let Some((_, event)) = self.last_event.filter(|(step, _)| *step == noticed) {
            return Some(CloseCause::Event(event));
        }
        Some(
            self.bad_inputs
                .iter()
                .rev()
                .find(|(step, _)| *step < noticed)
                .map_or(CloseCause::Unknown, |(_, input)| CloseCause::Input(*input)),
        )
    }

    fn label(&self) -> &str {
        &self.name
    }
}

/// What was done in a case and what came back.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// The declared extensions.
    pub declared: Declared,
    /// Every seat, by index.
    pub seats: Vec<SeatRecord>,
    /// Every `chat.send`, in order.
    pub chats: Vec<SentChat>,
    /// Every `hand.raise` / `hand.lower`, in order.
    pub hands: Vec<SentHand>,
    /// How many actions the case has.
    pub steps: usize,
}

/// Whether something must, may or must not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Must not arrive.
    Never,
    /// May arrive, at most once.
    May,
    /// Must arrive exactly once.
    Must,
}

impl Record {
    /// Whether sessions `a` and `b` are connections of one participant (the same session
    /// included).
    pub fn same_participant(&self, a: usize, b: usize) -> bool {
        a == b
            || matches!(
                (&self.seats[a].participant_id, &self.seats[b].participant_id),
                (Some(x), Some(y)) if x == y
            )
    }

    /// Every participant id, with its sessions in the order they began.
    fn participants(&self) -> BTreeMap<&str, Vec<usize>> {
        let mut sessions: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, seat) in self.seats.iter().enumerate() {
            if let Some(pid) = seat.participant_id.as_deref() {
                sessions.entry(pid).or_default().push(i);
            }
        }
        for list in sessions.values_mut() {
            list.sort_by_key(|s| self.seats[*s].joined.unwrap_or(NEVER));
        }
        sessions
    }

    /// Whether `chat` is owed, allowed or forbidden at `receiver`.
    pub fn chat_need(&self, chat: &SentChat, receiver: usize) -> Need {
        let (Some(sender), Some(seat)) = (self.seats.get(chat.from), self.seats.get(receiver))
        else {
            return Need::Never;
        };
        let (Some(sw), Some(rw)) = (
            sender.window(self.declared.close_codes),
            seat.window(self.declared.close_codes),
        ) else {
            return Need::Never;
        };
        if sender.room != seat.room {
            return Need::Never;
        }
        let d = self.declared;
        let valid = match chat.class {
            TextClass::Plain => Need::Must,
            TextClass::Long if d.error_event => Need::Must,
            TextClass::Long => Need::May,
            TextClass::Empty | TextClass::OverLimit if d.error_event => Need::Never,
            TextClass::Empty | TextClass::OverLimit => Need::May,
            TextClass::Oversized if d.close_codes => Need::Never,
            TextClass::Oversized => Need::May,
        };
        let k = chat.step;
        let sender_in = if k < sw.out { Need::Must } else { Need::May };
        if receiver == chat.from {
            let echo = if d.chat_echo { Need::Must } else { Need::May };
            return valid.min(echo).min(sender_in);
        }
        if rw.join >= k {
            // A message nobody could be waited for may still be on its way when a newcomer
            // arrives; one that was owed to someone was delivered before the newcomer came.
            return if self.observable(chat) {
                Need::Never
            } else {
                valid.min(Need::May)
            };
        }
        // A close noticed at step `k` may have come just after the message was handed out.
        if k > rw.end {
            return Need::Never;
        }
        let receiver_in = if k < rw.out { Need::Must } else { Need::May };
        valid.min(sender_in).min(receiver_in)
    }

    /// Whether `chat` was owed to anyone at all when it was sent.
    fn observable(&self, chat: &SentChat) -> bool {
        (0..self.seats.len())
            .filter(|r| {
                self.seats[*r]
                    .joined
                    .is_some_and(|j| j < chat.step || *r == chat.from)
            })
            .any(|r| self.chat_need(chat, r) == Need::Must)
    }

    /// Whether `observer` must hear of `subject`'s arrival (`Must`), may (`May`), or must not.
    fn joined_need(&self, observer: usize, subject: usize) -> Need {
        let (o, s) = (&self.seats[observer], &self.seats[subject]);
        let (Some(ow), Some(sw)) = (
            o.window(self.declared.close_codes),
            s.window(self.declared.close_codes),
        ) else {
            return Need::Never;
        };
        if o.room != s.room {
            return Need::Never;
        }
        if ow.join < sw.join && sw.join < ow.out {
            Need::Must
        } else if sw.ended && sw.end < ow.join {
            // A session that had ended before the observer came: nothing of it is news.
            Need::Never
        } else {
            Need::May
        }
    }

    /// Whether `observer` must hear of `subject`'s departure.
    fn left_need(&self, observer: usize, subject: usize) -> Need {
        let (o, s) = (&self.seats[observer], &self.seats[subject]);
        let (Some(ow), Some(sw)) = (
            o.window(self.declared.close_codes),
            s.window(self.declared.close_codes),
        ) else {
            return Need::Never;
        };
        if o.room != s.room || !sw.ended {
            return Need::Never;
        }
        if ow.join < sw.out && ow.out > sw.end {
            Need::Must
        } else {
            Need::May
        }
    }

    /// The hand events (`true`: raised) `observer` must or may get about `subject`, in order.
    fn hand_needs(&self, observer: usize, subject: usize) -> Vec<(bool, Need)> {
        let (o, s) = (&self.seats[observer], &self.seats[subject]);
        let (Some(ow), Some(sw)) = (
            o.window(self.declared.close_codes),
            s.window(self.declared.close_codes),
        ) else {
            return Vec::new();
        };
        if o.room != s.room {
            return Vec::new();
        }
        self.hands
            .iter()
            .filter(|h| h.from == subject && h.changed)
            .map(|h| {
                let present = ow.join < h.step || observer == subject;
                let need = if !present || h.step > ow.end {
                    Need::Never
                } else if h.step < ow.out && h.step < sw.out && h.certain {
                    Need::Must
                } else {
                    Need::May
                };
                (h.raise, need)
            })
            .filter(|(_, need)| *need != Need::Never)
            .collect()
    }

    /// The `error` codes `seat` must have received, with how many.
    fn errors_owed(&self, seat: usize) -> BTreeMap<&'static str, usize> {
        let mut owed = BTreeMap::new();
        if !self.declared.error_event {
            return owed;
        }
        let record = &self.seats[seat];
        let Some(window) = record.window(self.declared.close_codes) else {
            return owed;
        };
        for (step, input) in &record.bad_inputs {
            if let BadInput::Unusable(kind) = input
                && *step < window.out
            {
                *owed.entry(kind.error_code()).or_default() += 1;
            }
        }
        for chat in self
            .chats
            .iter()
            .filter(|c| c.from == seat && c.step < window.out)
        {
            let code = match chat.class {
                TextClass::Empty => "text_empty",
                TextClass::OverLimit => "text_too_long",
                _ => continue,
            };
            *owed.entry(code).or_default() += 1;
        }
        owed
    }

    /// How many `pong` events `seat` is owed.
    fn pongs_owed(&self, seat: usize) -> usize {
        let record = &self.seats[seat];
        match (
            self.declared.pong_event,
            record.window(self.declared.close_codes),
        ) {
            (true, Some(window)) => record.pings.iter().filter(|s| **s < window.out).count(),
            _ => 0,
        }
    }
}

/// The chat messages of `frames`: (sender_id, text), in arrival order.
fn chat_messages(frames: &[Received]) -> Vec<(&str, &str)> {
    frames
        .iter()
        .filter_map(Received::view)
        .filter(|f| f.is("chat.message"))
        .filter_map(|f| Some((f.text("sender_id")?, f.text("text")?)))
        .collect()
}

/// How many frames of `frames` are `event` about participant `id` (in `data.id` or
/// `data.participant_id`).
fn count_about(frames: &[Received], event: &str, id: &str) -> usize {
    frames
        .iter()
        .filter_map(Received::view)
        .filter(|f| {
            f.is(event) && (f.text("id") == Some(id) || f.text("participant_id") == Some(id))
        })
        .count()
}

fn count_event(frames: &[Received], event: &str) -> usize {
    frames
        .iter()
        .filter_map(Received::view)
        .filter(|f| f.is(event))
        .count()
}

fn error_codes(frames: &[Received]) -> BTreeMap<&str, usize> {
    let mut codes = BTreeMap::new();
    for frame in frames
        .iter()
        .filter_map(Received::view)
        .filter(|f| f.is("error"))
    {
        if let Some(code) = frame.text("code") {
            *codes.entry(code).or_default() += 1;
        }
    }
    codes
}

/// What `seat` is still waiting for, given what it has received; `None` when nothing is owed
/// that has not arrived. Used while playing, to settle without sleeping.
pub fn outstanding(record: &Record, seat: usize, frames: &[Received]) -> Option<String> {
    let me = record.seats.get(seat)?;
    me.window(record.declared.close_codes)?;
    let received = chat_messages(frames);
    let mut owed: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for chat in &record.chats {
        if record.chat_need(chat, seat) == Need::Must
            && let Some(pid) = record.seats[chat.from].participant_id.as_deref()
        {
            *owed.entry((pid, chat.text.as_str())).or_default() += 1;
        }
    }
    for ((pid, text), count) in owed {
        let got = received
            .iter()
            .filter(|(s, t)| *s == pid && *t == text)
            .count();
        if got < count {
            return Some(format!("a chat.message from {pid}"));
        }
    }
    let mut presence: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (other, subject) in record.seats.iter().enumerate() {
        let Some(pid) = subject.participant_id.as_deref() else {
            continue;
        };
        if record.same_participant(other, seat) {
            continue;
        }
        let owed = presence.entry(pid).or_default();
        owed.0 += usize::from(record.joined_need(seat, other) == Need::Must);
        owed.1 += usize::from(record.left_need(seat, other) == Need::Must);
    }
    for (pid, (joined, left)) in presence {
        if count_about(frames, "participant.joined", pid) < joined {
            return Some(format!("participant.joined of {pid}"));
        }
        if count_about(frames, "participant.left", pid) < left {
            return Some(format!("participant.left of {pid}"));
        }
    }
    let d = record.declared;
    if d.room_state && count_event(frames, "room.state") == 0 {
        return Some("room.state".to_owned());
    }
    if count_event(frames, "pong") < record.pongs_owed(seat) {
        return Some("pong".to_owned());
    }
    let codes = error_codes(frames);
    for (code, count) in record.errors_owed(seat) {
        if codes.get(code).copied().unwrap_or(0) < count {
            return Some(format!("error {code}"));
        }
    }
    if d.hand_events {
        for (pid, sessions) in record.participants() {
            let needs: Vec<(bool, Need)> = sessions
                .iter()
                .flat_map(|other| record.hand_needs(seat, *other))
                .collect();
            for (raise, event) in [(true, "hand.raised"), (false, "hand.lowered")] {
                let must = needs
                    .iter()
                    .filter(|(r, n)| *r == raise && *n == Need::Must)
                    .count();
                if count_about(frames, event, pid) < must {
                    return Some(format!("{event} of {pid}"));
                }
            }
        }
    }
    None
}

/// Whether `actual` can be laid over `expected` in order, every `Must` item used once, every
/// `May` item at most once, nothing else.
pub fn embeds<T: PartialEq>(actual: &[T], expected: &[(T, Need)]) -> bool {
    let (n, m) = (expected.len(), actual.len());
    // fits[i][j]: actual[j..] fits expected[i..].
    let mut fits = vec![vec![false; m + 1]; n + 1];
    fits[n][m] = true;
    for i in (0..n).rev() {
        let (item, need) = &expected[i];
        fits[i][m] = *need != Need::Must && fits[i + 1][m];
        for j in (0..m).rev() {
            let skip = *need != Need::Must && fits[i + 1][j];
            let take = actual[j] == *item && fits[i + 1][j + 1];
            fits[i][j] = skip || take;
        }
    }
    fits[0][0]
}

fn list(texts: &[&str]) -> String {
    let shown: Vec<String> = texts.iter().map(|t| super::case::shown(t)).collect();
    format!("[{}]", shown.join(", "))
}

/// Every broken requirement the record shows, each charged to the requirement as `name` gives
/// it. `elsewhere` says whether an id belongs to a participant of another case of the run (so,
/// of another room).
pub fn check(
    record: &Record,
    elsewhere: &dyn Fn(&str) -> bool,
    name: &dyn Fn(&str) -> RequirementRef,
) -> Vec<Failure> {
    let mut findings = Vec::new();
    for seat in &record.seats {
        for violation in &seat.violations {
            findings.push(found(
                &violation.requirement.id,
                "every frame a valid event of the contract",
                format!(
                    "{} received {}\n          {}",
                    seat.label(),
                    violation.frame,
                    violation.detail
                ),
            ));
        }
    }
    check_connections(record, &mut findings);
    check_chat(record, elsewhere, &mut findings);
    check_presence(record, elsewhere, &mut findings);
    check_extensions(record, &mut findings);
    findings
        .into_iter()
        .map(|(requirement, mismatch)| match requirement {
            Some(id) => mismatch.against(name(&id)),
            None => mismatch.general(),
        })
        .collect()
}

/// Connections closed when they must stay, and kept when they must close.
fn check_connections(record: &Record, findings: &mut Vec<Found>) {
    let d = record.declared;
    for (i, seat) in record.seats.iter().enumerate() {
        let name = seat.label();
        if let Some((_, how)) = seat.left
            && how.sends_close_frame()
            && !matches!(seat.ending, Some(Ending::CloseFrame { .. }))
        {
            findings.push(found(
                "ROBUST-004",
                format!("the server answers {name}'s Close frame with its own"),
                seat.ending
                    .as_ref()
                    .map_or("no Close frame came back".to_owned(), Ending::describe),
            ));
        }
        if seat.removed.is_some() && d.close_codes {
            let code = match &seat.ending {
                Some(Ending::CloseFrame { code, .. }) => *code,
                _ => None,
            };
            if code != Some(REMOVED_CLOSE_CODE) {
                findings.push(found(
                    "AUTH-021",
                    format!(
                        "{name}'s connection closed by the server with {REMOVED_CLOSE_CODE} once \
                         removed through the REST API"
                    ),
                    seat.ending
                        .as_ref()
                        .map_or("it stayed open".to_owned(), Ending::describe),
                ));
            }
        }
        let must_close = seat
            .bad_inputs
            .iter()
            .find_map(|(step, input)| input.must_close(d).map(|code| (*step, *input, code)));
        if let Some((step, input, code)) = must_close {
            let requirement = match input {
                BadInput::Binary => "ROBUST-011",
                BadInput::Oversized => "ROBUST-012",
                _ => "ROBUST-005",
            };
            let closed_then = seat.closed_by_server == Some(step);
            let code_seen = match &seat.ending {
                Some(Ending::CloseFrame { code, .. }) => *code,
                _ => None,
            };
            if !closed_then {
                findings.push(found(
                    requirement,
                    format!(
                        "{name}'s connection closed by the server after step {}{}",
                        step + 1,
                        code.map(|c| format!(" with code {c}")).unwrap_or_default()
                    ),
                    "it stayed open",
                ));
            } else if let Some(code) = code
                && code_seen != Some(code)
            {
                findings.push(found(
                    requirement,
                    format!("{name}'s connection closed with code {code}"),
                    seat.ending
                        .as_ref()
                        .map_or("no Close frame".to_owned(), Ending::describe),
                ));
            }
        }
        let (Some(noticed), Some(cause)) = (seat.closed_by_server, seat.close_cause()) else {
            continue;
        };
        let ending = seat
            .ending
            .as_ref()
            .map_or("closed".to_owned(), Ending::describe);
        match cause {
            CloseCause::Input(BadInput::Unusable(kind)) if d.error_event => {
                findings.push(found(
                    kind.requirement(),
                    format!(
                        "{name} still connected after sending {}, with an error event",
                        kind_words(kind)
                    ),
                    format!(
                        "{name}'s connection was {ending} ({})",
                        noticed_at(record, noticed)
                    ),
                ));
            }
            CloseCause::Input(BadInput::Text(class)) if d.error_event => {
                let requirement = match class {
                    TextClass::Empty => "CHAT-013",
                    TextClass::OverLimit => "CHAT-014",
                    _ => "CHAT-001",
                };
                findings.push(found(
                    requirement,
                    format!("{name} still connected after sending chat.send (error-event)"),
                    format!(
                        "{name}'s connection was {ending} ({})",
                        noticed_at(record, noticed)
                    ),
                ));
            }
            CloseCause::Input(_) => {}
            CloseCause::Event(_) | CloseCause::Unknown => {
                let (requirement, expected) = unexplained_close(record, i, cause);
                findings.push((
                    requirement.map(str::to_owned),
                    Mismatch::new(
                        expected,
                        format!(
                            "{name}'s connection was {ending} ({})",
                            noticed_at(record, noticed)
                        ),
                    ),
                ));
            }
        }
    }
}

/// When a close was noticed, in words.
fn noticed_at(record: &Record, step: usize) -> String {
    if step >= record.steps {
        "noticed at the end of the case".to_owned()
    } else {
        format!("noticed at step {}", step + 1)
    }
}

fn kind_words(kind: Unusable) -> &'static str {
    match kind {
        Unusable::NotJson | Unusable::Truncated => "a frame that is not JSON",
        Unusable::UnknownEvent => "an unknown event",
        Unusable::WrongType => "a field of the wrong type",
        Unusable::NotAnObject | Unusable::NoEvent | Unusable::DataNotObject => {
            "an event without a usable envelope"
        }
    }
}

/// The requirement a closure of a well-behaved connection breaks, and what it calls for.
fn unexplained_close(
    record: &Record,
    seat: usize,
    cause: CloseCause,
) -> (Option<&'static str>, String) {
    let me = &record.seats[seat];
    let name = me.label();
    if let CloseCause::Event(event) = cause {
        let requirement = match event {
            "hand.raise" => "HAND-001",
            "hand.lower" => "HAND-002",
            "ping" => "PING-001",
            _ => "CHAT-001",
        };
        return (
            Some(requirement),
            format!("{name} still connected after sending {event}, a valid event"),
        );
    }
    let others_garbage = record
        .seats
        .iter()
        .enumerate()
        .filter(|(i, s)| *i != seat && s.room == me.room)
        .flat_map(|(_, s)| s.bad_inputs.iter())
        .map(|(_, input)| *input)
        .filter(|input| !matches!(input, BadInput::Text(_)))
        .collect::<Vec<_>>();
    if let Some(input) = others_garbage.first() {
        let requirement = match input {
            BadInput::Unusable(Unusable::UnknownEvent) => "ROBUST-002",
            BadInput::NotUtf8 => "ROBUST-005",
            _ => "ROBUST-001",
        };
        return (
            Some(requirement),
            format!("{name} stays connected when another participant of its room sends garbage"),
        );
    }
    (
        None,
        format!("{name} stays connected: it sent nothing the server could close it for"),
    )
}

fn check_chat(record: &Record, elsewhere: &dyn Fn(&str) -> bool, findings: &mut Vec<Found>) {
    let seat_by_pid: BTreeMap<String, usize> = record
        .seats
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((s.participant_id.clone()?, i)))
        .collect();
    for (r, receiver) in record.seats.iter().enumerate() {
        if receiver.joined.is_none() {
            continue;
        }
        let name = receiver.label();
        // The id and timestamp a client claims can only come from the client.
        let claimed = receiver
            .frames
            .iter()
            .filter_map(Received::view)
            .filter(|f| f.is("chat.message"))
            .find(|f| {
                f.text("id") == Some(super::case::SPOOFED_ID)
                    || f.text("timestamp") == Some(super::case::SPOOFED_TIMESTAMP)
            });
        if let Some(frame) = claimed {
            let data = frame.data().unwrap_or(&Value::Null);
            findings.push(found(
                "CHAT-011",
                format!("{name} gets chat messages with an id and a timestamp of the server's own"),
                format!("{name} received a chat.message with the client's claims: {data}"),
            ));
        }
        let messages = chat_messages(&receiver.frames);
        let mut by_sender: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (sender_id, text) in &messages {
            let seat = seat_by_pid.get(*sender_id).copied();
            if let Some(s) = seat
                && record.seats[s].room == receiver.room
            {
                by_sender.entry(sender_id).or_default().push(text);
                continue;
            }
            let foreign = seat.is_some() || elsewhere(sender_id);
            let (requirement, why) = misattributed(record, receiver.room, foreign, text);
            findings.push(found(
                requirement,
                format!("{name} gets the chat of its own room, each message with its sender"),
                format!(
                    "{name} (room {}) received {} with sender_id {sender_id:?}: {why}",
                    receiver.room,
                    super::case::shown(text)
                ),
            ));
        }
        // Every session of a sender, in order: its messages as one sequence.
        for (pid, sessions) in record.participants() {
            let s = sessions[0];
            let sender = &record.seats[s];
            if sender.room != receiver.room || sender.joined.is_none() {
                continue;
            }
            let actual: &[&str] = by_sender.get(pid).map_or(&[], Vec::as_slice);
            let sent: Vec<(&SentChat, Need)> = record
                .chats
                .iter()
                .filter(|c| sessions.contains(&c.from))
                .map(|c| (c, record.chat_need(c, r)))
                .collect();
            let expected: Vec<(&str, Need)> = sent
                .iter()
                .filter(|(_, need)| *need != Need::Never)
                .map(|(c, need)| (c.text.as_str(), *need))
                .collect();
            if embeds(actual, &expected) {
                continue;
            }
            findings.push(chat_mismatch(record, r, s, actual, &sent, &expected));
        }
    }
}

/// Which requirement a chat message breaks whose sender is not a participant of the receiver's
/// room (`foreign`: its sender_id is a participant of another room).
fn misattributed(
    record: &Record,
    room: usize,
    foreign: bool,
    text: &str,
) -> (&'static str, &'static str) {
    let sent_in = |same_room: bool| {
        record
            .chats
            .iter()
            .filter(move |c| (record.seats[c.from].room == room) == same_room)
            .filter(move |c| c.text == text)
    };
    if sent_in(true).any(|c| c.spoofed) {
        ("CHAT-011", "the sender_id the client claimed")
    } else if sent_in(true).next().is_some() {
        ("CHAT-002", "a sender_id that is not the sender's")
    } else if foreign || sent_in(false).next().is_some() {
        ("CHAT-010", "a message of another room")
    } else {
        ("CHAT-002", "a sender_id no participant has")
    }
}

/// Which requirement a receiver's sequence of one sender's messages breaks.
fn chat_mismatch(
    record: &Record,
    r: usize,
    s: usize,
    actual: &[&str],
    sent: &[(&SentChat, Need)],
    expected: &[(&str, Need)],
) -> Found {
    let (receiver, sender) = (&record.seats[r], &record.seats[s]);
    let (rn, sn) = (receiver.label(), sender.label());
    let echo = record.same_participant(r, s);
    let owed: Vec<&str> = expected
        .iter()
        .filter(|(_, n)| *n == Need::Must)
        .map(|(t, _)| *t)
        .collect();
    let whose = if echo {
        format!("{sn}'s own messages")
    } else {
        format!("{sn}'s messages")
    };
    let expected_words = format!(
        "{rn} receives {whose} {} exactly once each, in order{}",
        list(&owed),
        if expected.len() > owed.len() {
            format!(
                " (allowed besides: {})",
                list(
                    &expected
                        .iter()
                        .filter(|(_, n)| *n == Need::May)
                        .map(|(t, _)| *t)
                        .collect::<Vec<_>>()
                )
            )
        } else {
            String::new()
        }
    );
    let actual_words = format!("{rn} received from {sn} {}", list(actual));
    let count = |texts: &[&str], text: &str| texts.iter().filter(|t| **t == text).count();
    let allowed: Vec<&str> = expected.iter().map(|(t, _)| *t).collect();
    // A text that may not arrive at all.
    if let Some(stray) = actual.iter().find(|t| !allowed.contains(t)) {
        let forbidden = sent.iter().find(|(c, _)| c.text == *stray);
        let requirement = match forbidden {
            Some((c, _)) if c.class == TextClass::Empty => "CHAT-013",
            Some((c, _)) if c.class == TextClass::OverLimit => "CHAT-014",
            Some((c, _)) if c.class == TextClass::Oversized => "ROBUST-012",
            Some(_) => "CHAT-010",
            None if record
                .chats
                .iter()
                .any(|c| c.text == *stray && c.spoofed && c.from != s) =>
            {
                "CHAT-011"
            }
            None if record.chats.iter().any(|c| c.text == *stray) => "CHAT-002",
            None => "CHAT-003",
        };
        return found(requirement, expected_words, actual_words);
    }
    if let Some(twice) = actual
        .iter()
        .find(|t| count(actual, t) > count(&allowed, t))
    {
        return found(
            "CHAT-008",
            expected_words,
            format!(
                "{actual_words}: {} more than once",
                super::case::shown(twice)
            ),
        );
    }
    if owed.iter().any(|t| count(actual, t) < count(&owed, t)) {
        let requirement = if echo { "CHAT-012" } else { "CHAT-001" };
        return found(requirement, expected_words, actual_words);
    }
    found("CHAT-009", expected_words, actual_words)
}

fn check_presence(record: &Record, elsewhere: &dyn Fn(&str) -> bool, findings: &mut Vec<Found>) {
    let rooms: BTreeMap<String, usize> = record
        .seats
        .iter()
        .filter_map(|s| Some((s.participant_id.clone()?, s.room)))
        .collect();
    for (o, observer) in record.seats.iter().enumerate() {
        if observer.joined.is_none() {
            continue;
        }
        let on = observer.label();
        for frame in observer.frames.iter().filter_map(Received::view) {
            let Some(name) = frame.event() else {
                continue;
            };
            if name != "participant.joined" && name != "participant.left" {
                continue;
            }
            let Some(id) = frame.text("id") else {
                continue;
            };
            match rooms.get(id) {
                Some(room) if *room == observer.room => {}
                None if !elsewhere(id) => findings.push(found(
                    "PRES-002",
                    format!("{on} hears of participants by their participant_id"),
                    format!("{on} received {name} of {id:?}, which is no participant's id"),
                )),
                _ => findings.push(found(
                    "PRES-007",
                    format!("{on} hears of its own room only"),
                    format!(
                        "{on} (room {}) received {name} of {id}, who is in another room",
                        observer.room
                    ),
                )),
            }
        }
        for (pid, sessions) in record.participants() {
            let c = sessions[0];
            let subject = &record.seats[c];
            if record.same_participant(c, o) || subject.room != observer.room {
                continue;
            }
            let sn = subject.label();
            let count = |needs: &[Need], need: Need| needs.iter().filter(|n| **n == need).count();
            let joined_needs: Vec<Need> =
                sessions.iter().map(|s| record.joined_need(o, *s)).collect();
            let (must, may) = (
                count(&joined_needs, Need::Must),
                count(&joined_needs, Need::May),
            );
            let joined = count_about(&observer.frames, "participant.joined", pid);
            let before = findings.len();
            let times = |n: usize| {
                if n == 1 {
                    "once".to_owned()
                } else {
                    format!("{n} times")
                }
            };
            if joined < must || (sessions.len() == 1 && must == 1 && joined != 1) {
                findings.push(found(
                    "PRES-001",
                    format!(
                        "{on} receives participant.joined of {sn} ({pid}) {}",
                        times(must)
                    ),
                    format!("{on} received it {joined} time(s)"),
                ));
            } else if joined > (must + may).max(1) {
                findings.push(found(
                    "PRES-001",
                    format!(
                        "{on} receives participant.joined of {sn} ({pid}) at most {}",
                        times((must + may).max(1))
                    ),
                    format!("{on} received it {joined} times"),
                ));
            }
            let left = count_about(&observer.frames, "participant.left", pid);
            let left_needs: Vec<Need> = sessions.iter().map(|s| record.left_need(o, *s)).collect();
            let (owed, allowed) = (
                count(&left_needs, Need::Must),
                count(&left_needs, Need::Must) + count(&left_needs, Need::May),
            );
            // The kind of departure of the first session whose left is owed.
            let how = sessions
                .iter()
                .zip(&left_needs)
                .filter(|(_, n)| **n == Need::Must)
                .map(|(s, _)| &record.seats[*s])
                .map(|s| match (s.left, s.ending.as_ref()) {
                    // Only owed under close-codes, whose AUTH-021 promises it.
                    _ if s.removed.is_some() => "AUTH-021",
                    (Some((_, how)), _) if how.sends_close_frame() => "PRES-004",
                    (None, Some(Ending::CloseFrame { .. })) => "PRES-004",
                    _ => "PRES-005",
                })
                .next()
                .unwrap_or("PRES-005");
            if left < owed {
                findings.push(found(
                    how,
                    format!(
                        "{on} receives participant.left of {sn} ({pid}) {}",
                        times(owed)
                    ),
                    format!(
                        "{on} received {}",
                        if left == 0 {
                            "none".to_owned()
                        } else {
                            times(left)
                        }
                    ),
                ));
            } else if allowed == 0 && left > 0 {
                findings.push(found(
                    "PRES-006",
                    format!("no participant.left of {sn} ({pid}): it did not leave"),
                    format!("{on} received participant.left of {pid}"),
                ));
            } else if left > allowed.max(1) {
                findings.push(found(
                    "PRES-006",
                    format!(
                        "{on} receives participant.left of {sn} ({pid}) {}",
                        times(allowed.max(1))
                    ),
                    format!("{on} received it {left} times"),
                ));
            } else if sessions.len() > 1 && findings.len() == before {
                // A rejoin: the events about the participant in the order of its sessions.
                let actual: Vec<bool> = observer
                    .frames
                    .iter()
                    .filter_map(Received::view)
                    .filter(|f| f.text("id") == Some(pid) || f.text("participant_id") == Some(pid))
                    .filter_map(|f| match f.event() {
                        Some("participant.joined") => Some(true),
                        Some("participant.left") => Some(false),
                        _ => None,
                    })
                    .collect();
                let expected: Vec<(bool, Need)> = joined_needs
                    .iter()
                    .zip(&left_needs)
                    .flat_map(|(j, l)| [(true, *j), (false, *l)])
                    .filter(|(_, n)| *n != Need::Never)
                    .collect();
                if !embeds(&actual, &expected) {
                    let words: Vec<&str> = actual
                        .iter()
                        .map(|j| if *j { "joined" } else { "left" })
                        .collect();
                    findings.push(found(
                        "PRES-001",
                        format!(
                            "{on} hears of {sn} ({pid}) joining, leaving and joining again in that order"
                        ),
                        format!("{on} received, in order: {}", words.join(", ")),
                    ));
                }
            }
        }
    }
}

fn check_extensions(record: &Record, findings: &mut Vec<Found>) {
    let d = record.declared;
    for (i, seat) in record.seats.iter().enumerate() {
        let Some(window) = seat.window(d.close_codes) else {
            continue;
        };
        let name = seat.label();
        let closed_early = window.out < NEVER && seat.left.is_none();
        if d.room_state {
            let first = seat
                .frames
                .iter()
                .find(|f| !matches!(f.kind, ReceivedKind::Pong(_)));
            match first
                .and_then(Received::view)
                .filter(|f| f.event().is_some())
            {
                Some(frame) if frame.is("room.state") => {
                    let roster: BTreeSet<&str> = frame.roster().into_iter().collect();
                    let owed: Vec<&str> = record
                        .seats
                        .iter()
                        .enumerate()
                        .filter(|(o, _)| *o == i || record.joined_need(*o, i) == Need::Must)
                        .filter(|(o, _)| *o == i || !record.same_participant(*o, i))
                        .filter_map(|(_, s)| s.participant_id.as_deref())
                        .collect();
                    let missing: Vec<&str> = owed
                        .iter()
                        .copied()
                        .filter(|p| !roster.contains(p))
                        .collect();
                    if !missing.is_empty() {
                        findings.push(found(
                            "PRES-008",
                            format!("{name}'s room.state lists {}", owed.join(", ")),
                            format!("it lacks {}", missing.join(", ")),
                        ));
                    }
                }
                other => findings.push(found(
                    "PRES-008",
                    format!("{name}'s first frame is room.state"),
                    other
                        .and_then(FrameView::event)
                        .map_or("no frame".to_owned(), str::to_owned),
                )),
            }
        }
        let pongs = count_event(&seat.frames, "pong");
        let owed = record.pongs_owed(i);
        if pongs < owed && !closed_early {
            findings.push(found(
                "PING-003",
                format!("{name} receives a pong for each of its {owed} ping event(s)"),
                format!("{pongs} pong(s)"),
            ));
        }
        let codes = error_codes(&seat.frames);
        if !closed_early {
            for (code, count) in record.errors_owed(i) {
                let got = codes.get(code).copied().unwrap_or(0);
                if got < count {
                    let requirement = match code {
                        "invalid_json" => "ROBUST-007",
                        "invalid_event" => "ROBUST-008",
                        "unknown_event" => "ROBUST-009",
                        "invalid_data" => "ROBUST-010",
                        "text_empty" => "CHAT-013",
                        _ => "CHAT-014",
                    };
                    findings.push(found(
                        requirement,
                        format!("{name} receives error {code} {count} time(s)"),
                        format!("{got} time(s)"),
                    ));
                }
            }
        }
        if d.hand_events {
            check_hands(record, i, findings);
        }
    }
}

fn check_hands(record: &Record, observer: usize, findings: &mut Vec<Found>) {
    let seat = &record.seats[observer];
    for (pid, sessions) in record.participants() {
        let subject = &record.seats[sessions[0]];
        if subject.room != seat.room {
            continue;
        }
        let actual: Vec<bool> = seat
            .frames
            .iter()
            .filter_map(Received::view)
            .filter(|f| f.text("participant_id") == Some(pid))
            .filter_map(|f| match f.event() {
                Some("hand.raised") => Some(true),
                Some("hand.lowered") => Some(false),
                _ => None,
            })
            .collect();
        let expected: Vec<(bool, Need)> = sessions
            .iter()
            .flat_map(|c| record.hand_needs(observer, *c))
            .collect();
        if embeds(&actual, &expected) {
            continue;
        }
        let words = |seq: &[bool]| {
            seq.iter()
                .map(|r| if *r { "raised" } else { "lowered" })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let owed: Vec<bool> = expected
            .iter()
            .filter(|(_, n)| *n == Need::Must)
            .map(|(r, _)| *r)
            .collect();
        let allowed = expected.len();
        let requirement = if actual.len() > allowed {
            "HAND-005"
        } else if owed.iter().any(|r| *r) && !actual.contains(&true) {
            "HAND-003"
        } else if owed.iter().any(|r| !*r) && !actual.contains(&false) {
            "HAND-004"
        } else {
            "HAND-005"
        };
        findings.push(found(
            requirement,
            format!(
                "{} receives hand events of {} for each change only: [{}]",
                seat.label(),
                subject.label(),
                words(&owed)
            ),
            format!("[{}]", words(&actual)),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::catalogue::Level;

    /// A requirement as the tests name it: only its ID matters to them.
    fn named(id: &str) -> RequirementRef {
        RequirementRef {
            id: id.to_owned(),
            title: "a title".to_owned(),
            level: Level::Must,
        }
    }

    #[test]
    fn embedding_uses_every_must_once_and_mays_at_most_once() {
        use Need::{May, Must};
        assert!(embeds(&["a", "b"], &[("a", Must), ("b", Must)]));
        assert!(!embeds(&["b", "a"], &[("a", Must), ("b", Must)]));
        assert!(!embeds(&["a", "a"], &[("a", Must)]));
        assert!(!embeds::<&str>(&[], &[("a", Must)]));
        assert!(embeds(&["a"], &[("a", May), ("a", Must)]));
        assert!(embeds(&["x", "a"], &[("x", May), ("a", Must)]));
        assert!(embeds(&["a"], &[("x", May), ("a", Must)]));
        assert!(!embeds(&["y", "a"], &[("x", May), ("a", Must)]));
    }

    fn seat(name: &str, room: usize, joined: usize) -> SeatRecord {
        SeatRecord {
            name: name.to_owned(),
            room,
            participant_id: Some(format!("p_{name}")),
            joined: Some(joined),
            ..SeatRecord::default()
        }
    }

    fn chat(step: usize, from: usize, text: &str) -> SentChat {
        SentChat {
            step,
            from,
            text: text.to_owned(),
            class: TextClass::of(text, text.len() + 40),
            spoofed: false,
        }
    }

    fn frame(event: &str, data: Value) -> Received {
        Received {
            at: std::time::Duration::ZERO,
            kind: ReceivedKind::Json(serde_json::json!({ "event": event, "data": data })),
        }
    }

    fn message(from: &str, text: &str) -> Received {
        frame(
            "chat.message",
            serde_json::json!({ "id": "m", "sender_id": from, "text": text, "timestamp": "t" }),
        )
    }

    #[test]
    fn chat_is_owed_to_the_others_present_and_allowed_to_the_sender_without_echo() {
        let record = Record {
            seats: vec![
                seat("A", 0, 0),
                seat("B", 0, 1),
                seat("C", 1, 2),
                seat("D", 0, 4),
            ],
            chats: vec![
                chat(3, 0, "hi"),
                chat(5, 0, ""),
                chat(6, 0, &"x".repeat(600)),
            ],
            ..Record::default()
        };
        let hi = &record.chats[0];
        assert_eq!(record.chat_need(hi, 1), Need::Must);
        assert_eq!(record.chat_need(hi, 0), Need::May);
        assert_eq!(record.chat_need(hi, 2), Need::Never);
        assert_eq!(record.chat_need(hi, 3), Need::Never);
        assert_eq!(record.chat_need(&record.chats[1], 1), Need::May);
        assert_eq!(record.chat_need(&record.chats[2], 1), Need::May);
        let strict = Record {
            declared: Declared {
                chat_echo: true,
                error_event: true,
                ..Declared::default()
            },
            ..record.clone()
        };
        assert_eq!(strict.chat_need(hi, 0), Need::Must);
        assert_eq!(strict.chat_need(&strict.chats[1], 1), Need::Never);
        assert_eq!(strict.chat_need(&strict.chats[2], 1), Need::Must);
    }

    #[test]
    fn duplicates_missing_messages_and_reordering_name_their_requirements() {
        let base = Record {
            seats: vec![seat("A", 0, 0), seat("B", 0, 1)],
            chats: vec![chat(2, 0, "one"), chat(3, 0, "two")],
            ..Record::default()
        };
        let with = |frames: Vec<Received>| {
            let mut record = base.clone();
            record.seats[1].frames = frames;
            record.seats[0].frames = vec![frame(
                "participant.joined",
                serde_json::json!({"id": "p_B", "display_name": "B", "role": "participant"}),
            )];
            check(&record, &|_| false, &named)
                .into_iter()
                .filter_map(|f| f.violated().map(str::to_owned))
                .collect::<Vec<_>>()
        };
        assert!(with(vec![message("p_A", "one"), message("p_A", "two")]).is_empty());
        assert_eq!(
            with(vec![
                message("p_A", "one"),
                message("p_A", "one"),
                message("p_A", "two")
            ]),
            ["CHAT-008"]
        );
        assert_eq!(with(vec![message("p_A", "one")]), ["CHAT-001"]);
        assert_eq!(
            with(vec![message("p_A", "two"), message("p_A", "one")]),
            ["CHAT-009"]
        );
        assert_eq!(
            with(vec![message("p_A", "one"), message("p_A", "tw")]),
            ["CHAT-003"]
        );
    }

    #[test]
    fn open_choices_of_the_page_are_not_findings() {
        let mut record = Record {
            seats: vec![seat("A", 0, 0), seat("B", 0, 1)],
            chats: vec![chat(2, 0, "one")],
            ..Record::default()
        };
        record.seats[0].frames = vec![frame(
            "participant.joined",
            serde_json::json!({"id": "p_B", "display_name": "B", "role": "participant"}),
        )];
        let extra = Received {
            at: std::time::Duration::ZERO,
            kind: ReceivedKind::Json(serde_json::json!({
                "event": "chat.message", "seq": 4, "server_time": "2026-01-06T10:45:00+00:00",
                "data": {"id": "5b0c3e9e-2f4e-4f0e-9d3a-0c1b2a3d4e5f", "sender_id": "p_A",
                    "text": "one", "timestamp": "2026-01-06T10:45:00.123456+00:00", "x_node": "n1"},
            })),
        };
        record.seats[1].frames = vec![
            // An initial roster: B hears of A, who was there before it.
            frame(
                "participant.joined",
                serde_json::json!({"id": "p_A", "display_name": "A", "role": "participant"}),
            ),
            frame("room.notice", serde_json::json!({"text": "Welcome!"})),
            extra,
        ];
        let findings: Vec<String> = check(&record, &|_| false, &named)
            .into_iter()
            .map(|f| format!("{f:?}"))
            .collect();
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn a_message_id_or_timestamp_chosen_by_the_client_breaks_chat_011() {
        let mut record = Record {
            seats: vec![seat("A", 0, 0), seat("B", 0, 1)],
            chats: vec![SentChat {
                spoofed: true,
                ..chat(2, 0, "hi")
            }],
            ..Record::default()
        };
        record.seats[0].frames = vec![frame(
            "participant.joined",
            serde_json::json!({"id": "p_B", "display_name": "B", "role": "participant"}),
        )];
        let requirements = |id: &str, timestamp: &str| {
            let mut record = record.clone();
            record.seats[1].frames = vec![frame(
                "chat.message",
                serde_json::json!({ "id": id, "sender_id": "p_A", "text": "hi", "timestamp": timestamp }),
            )];
            check(&record, &|_| false, &named)
                .into_iter()
                .filter_map(|f| f.violated().map(str::to_owned))
                .collect::<Vec<_>>()
        };
        assert!(requirements("msg_1", "2026-01-06T10:45:00Z").is_empty());
        assert_eq!(
            requirements(super::super::case::SPOOFED_ID, "2026-01-06T10:45:00Z"),
            ["CHAT-011"]
        );
        assert_eq!(
            requirements("msg_1", super::super::case::SPOOFED_TIMESTAMP),
            ["CHAT-011"]
        );
    }

    #[test]
    fn a_close_noticed_at_a_message_s_step_may_come_after_its_delivery() {
        // B sent a binary frame at step 2; the server closed it a moment later, noticed only
        // after A's message of step 3 was out, which B got first.
        let mut record = Record {
            seats: vec![seat("A", 0, 0), seat("B", 0, 1)],
            chats: vec![chat(3, 0, "hi")],
            ..Record::default()
        };
        record.seats[0].frames = vec![frame(
            "participant.joined",
            serde_json::json!({"id": "p_B", "display_name": "B", "role": "participant"}),
        )];
        record.seats[1].bad_inputs = vec![(2, BadInput::Binary)];
        record.seats[1].closed_by_server = Some(3);
        record.seats[1].frames = vec![message("p_A", "hi")];
        assert_eq!(record.chat_need(&record.chats[0], 1), Need::May);
        let findings = check(&record, &|_| false, &named);
        assert!(
            !findings.iter().any(|f| f.violated() == Some("CHAT-010")),
            "{findings:?}"
        );
    }

    #[test]
    fn presence_is_owed_to_those_present_throughout() {
        let mut record = Record {
            seats: vec![seat("A", 0, 0), seat("B", 0, 1), seat("C", 0, 3)],
            ..Record::default()
        };
        record.seats[1].left = Some((2, Departure::Drop));
        assert_eq!(record.joined_need(0, 1), Need::Must);
        assert_eq!(record.left_need(0, 1), Need::Must);
        assert_eq!(record.joined_need(1, 0), Need::May);
        assert_eq!(record.left_need(2, 1), Need::May);
        assert_eq!(record.left_need(0, 2), Need::Never);
        // A heard nothing: B's arrival and drop, C's arrival.
        let missing: Vec<(Option<String>, String)> = check(&record, &|_| false, &named)
            .into_iter()
            .map(|f| (f.violated().map(str::to_owned), f.expected))
            .collect();
        let ids: Vec<&str> = missing.iter().filter_map(|(r, _)| r.as_deref()).collect();
        assert_eq!(ids, ["PRES-001", "PRES-005", "PRES-001"], "{missing:?}");
        assert!(
            missing[2].1.contains("participant.joined of C"),
            "{missing:?}"
        );
        // An id nobody in the run has is no participant's; one of another case is another room's.
        record.seats[2].frames = vec![frame(
            "participant.left",
            serde_json::json!({ "id": "p_stranger" }),
        )];
        let requirements = |elsewhere: &dyn Fn(&str) -> bool| {
            check(&record, elsewhere, &named)
                .into_iter()
                .filter_map(|f| f.violated().map(str::to_owned))
                .collect::<Vec<_>>()
        };
        assert!(requirements(&|_| false).contains(&"PRES-002".to_owned()));
        assert!(requirements(&|id| id == "p_stranger").contains(&"PRES-007".to_owned()));
    }

    /// The violated requirements of `record`, in order.
    fn violated(record: &Record) -> Vec<String> {
        check(record, &|_| false, &named)
            .into_iter()
            .map(|f| f.violated().unwrap_or("-").to_owned())
            .collect()
    }

    /// A and B in room 0; B drops at step 2 and joins again (session `B#2`) at step 3, sends
    /// "back" at step 4.
    fn rejoined() -> Record {
        let mut again = seat("B", 0, 3);
        again.name = "B#2".to_owned();
        let mut record = Record {
            seats: vec![seat("A", 0, 0), seat("B", 0, 1), again],
            chats: vec![chat(4, 2, "back")],
            steps: 5,
            ..Record::default()
        };
        record.seats[1].left = Some((2, Departure::Drop));
        record
    }

    #[test]
    fn a_rejoin_is_judged_per_session_and_in_order() {
        let joined = || frame("participant.joined", serde_json::json!({ "id": "p_B" }));
        let left = || frame("participant.left", serde_json::json!({ "id": "p_B" }));
        let mut record = rejoined();
        assert_eq!(record.joined_need(0, 2), Need::Must);
        assert_eq!(record.left_need(0, 1), Need::Must);
        assert_eq!(record.left_need(0, 2), Need::Never);
        // Nothing of the old session is owed to, or may reach, the new one.
        assert_eq!(record.chat_need(&record.chats[0], 1), Need::Never);
        // Joined, left, joined again, and the chat after the rejoin: all is well.
        record.seats[0].frames = vec![joined(), left(), joined(), message("p_B", "back")];
        assert!(violated(&record).is_empty(), "{:?}", violated(&record));
        assert_eq!(outstanding(&record, 0, &record.seats[0].frames), None);
        // The rejoin not announced (no-rejoin-announce).
        record.seats[0].frames = vec![joined(), left(), message("p_B", "back")];
        assert_eq!(violated(&record), ["PRES-001"]);
        assert_eq!(
            outstanding(&record, 0, &record.seats[0].frames).as_deref(),
            Some("participant.joined of p_B")
        );
        // Announced again before the left: out of order.
        record.seats[0].frames = vec![joined(), joined(), left(), message("p_B", "back")];
        assert_eq!(violated(&record), ["PRES-001"]);
        // The chat after the rejoin lost.
        record.seats[0].frames = vec![joined(), left(), joined()];
        assert_eq!(violated(&record), ["CHAT-001"]);
        // Delivered to the old session too: a leak into a session that had ended.
        record.seats[0].frames = vec![joined(), left(), joined(), message("p_B", "back")];
        record.seats[1].frames = vec![message("p_B", "back")];
        assert_eq!(violated(&record), ["CHAT-010"]);
        // The old departure announced twice.
        record.seats[1].frames.clear();
        record.seats[0].frames = vec![joined(), left(), left(), joined(), message("p_B", "back")];
        assert_eq!(violated(&record), ["PRES-006"]);
    }

    #[test]
    fn the_first_hand_change_of_a_rejoined_session_is_allowed_not_owed() {
        let mut record = Record {
            seats: vec![seat("A", 0, 0), seat("B", 0, 1)],
            steps: 3,
            declared: Declared {
                hand_events: true,
                ..Declared::default()
            },
            hands: vec![SentHand {
                step: 2,
                from: 0,
                raise: true,
                changed: true,
                certain: true,
            }],
            ..Record::default()
        };
        record.seats[0].frames = vec![frame(
            "participant.joined",
            serde_json::json!({ "id": "p_B" }),
        )];
        let raised = frame(
            "hand.raised",
            serde_json::json!({ "participant_id": "p_A" }),
        );
        // A known change is owed to everyone in the room, the raiser included.
        assert_eq!(violated(&record), ["HAND-003", "HAND-003"]);
        record.seats[0].frames.push(raised.clone());
        record.seats[1].frames = vec![raised.clone()];
        assert!(violated(&record).is_empty(), "{:?}", violated(&record));
        // After a rejoin the server may have kept the hand: the event may or may not come.
        record.hands[0].certain = false;
        record.seats[0].frames.pop();
        for frames in [Vec::new(), vec![raised]] {
            record.seats[1].frames = frames;
            assert!(violated(&record).is_empty(), "{:?}", violated(&record));
        }
    }

    #[test]
    fn a_removal_is_judged_by_what_close_codes_promises() {
        let closed = |code| {
            Some(Ending::CloseFrame {
                code: Some(code),
                reason: String::new(),
                at: std::time::Duration::ZERO,
            })
        };
        let told = || {
            vec![frame(
                "participant.left",
                serde_json::json!({ "id": "p_A" }),
            )]
        };
        let mut record = Record {
            seats: vec![seat("A", 0, 0), seat("B", 0, 1)],
            steps: 3,
            declared: Declared {
                close_codes: true,
                ..Declared::default()
            },
            ..Record::default()
        };
        record.seats[0].removed = Some(2);
        record.seats[0].frames = vec![frame(
            "participant.joined",
            serde_json::json!({ "id": "p_B" }),
        )];
        record.seats[0].ending = closed(4003);
        assert_eq!(record.left_need(1, 0), Need::Must);
        record.seats[1].frames = told();
        assert!(violated(&record).is_empty(), "{:?}", violated(&record));
        // Another close code than the one close-codes promises.
        record.seats[0].ending = closed(4999);
        assert_eq!(violated(&record), ["AUTH-021"]);
        record.seats[0].ending = closed(4003);
        // The others not told.
        record.seats[1].frames.clear();
        assert_eq!(violated(&record), ["AUTH-021"]);
        // Told twice.
        record.seats[1].frames = [told(), told()].concat();
        assert_eq!(violated(&record), ["PRES-006"]);
        // Still open after the removal.
        record.seats[1].frames = told();
        record.seats[0].ending = None;
        assert_eq!(violated(&record), ["AUTH-021"]);

        // Without close-codes the page does not say what a removal does to an open connection:
        // left open, closed with any code, announced or not, all pass; twice still does not.
        record.declared.close_codes = false;
        assert_eq!(record.left_need(1, 0), Need::May);
        for ending in [None, closed(4999), closed(1000)] {
            record.seats[0].ending = ending;
            for frames in [Vec::new(), told()] {
                record.seats[1].frames = frames;
                assert!(violated(&record).is_empty(), "{:?}", violated(&record));
            }
        }
        record.seats[1].frames = [told(), told()].concat();
        assert_eq!(violated(&record), ["PRES-006"]);
    }
}
