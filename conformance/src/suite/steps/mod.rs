//! The step vocabulary of `features/`, grouped by domain concept.
//!
//! Steps are thin: they parse their parameters, call the [`Scene`](crate::suite::world::Scene) driver
//! and apply a matcher from [`matchers`](crate::suite::matchers). Waiting is always "until this arrives,
//! within the event timeout"; the only deliberate wait is the quiet window of "receives no …".
//!
//! Steps are the *must* tier and the only code that fails a scenario: each does its work in
//! [`ChalkWorld::judge`](crate::suite::world::ChalkWorld::judge), which records a failure in the
//! scenario's failure log for the report and fails the step. What a step still fails
//! with directly, rather than through a matcher, is a failure of its own action (a frame that
//! could not be sent, provisioning that failed, a mistake in the feature), not a judgement of the
//! server.
//!
//! | module | concept |
//! | --- | --- |
//! | [`connecting`] | opening connections: token placement, defects, origins |
//! | [`upgrade`] | judging the handshake answer |
//! | [`presence`] | who joined and left, and events about a participant |
//! | [`chat`] | sending chat and judging `chat.message` |
//! | [`frames`] | raw frames: JSON doc strings, binary, invalid UTF-8, ping frames |
//! | [`closing`] | closing, dropping, and how connections end |
//! | [`keepalive`] | a connection kept alive by `ping` events alone, past the idle timeout |
//! | [`operator`] | what an operator does through the REST API: recordings, removal, room end |
//! | [`schema`] | frame shapes and `error` events |
//! | [`channels`] | every refusal on every way of presenting a token |
//! | [`binding`] | tries to steer a connection away from its token's room and participant |
//! | [`rooms`] | rooms of tens of members, and rooms whose ids look alike |
//! | [`cycles`] | operations done again (re-joins, recordings, hands, chat) and the exact events they produce |
//! | [`sizes`] | chat texts of several lengths, up to the server's limit |
//! | [`nodes`] | which node of a deployment of several a participant connects to |

pub mod binding;
pub mod channels;
pub mod chat;
pub mod closing;
pub mod connecting;
pub mod cycles;
pub mod frames;
pub mod keepalive;
pub mod nodes;
pub mod operator;
pub mod parameters;
pub mod presence;
pub mod rooms;
pub mod schema;
pub mod sizes;
pub mod upgrade;
