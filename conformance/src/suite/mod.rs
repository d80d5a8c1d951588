//! The suite: the scenarios of `features/` and the code that runs them.
//!
//! The [`plan`] decides every scenario (run, skipped with a reason, extension not declared);
//! each running scenario gets a [`world`] of its own, whose [`steps`] drive the server through
//! the driver and apply the [`matchers`]; a step that fails reports a [`failure`]. [`keepalive`]
//! says how long the long-lived session lasts. [`lint`] and
//! [`listing`] read the features without a server.

pub mod failure;
pub mod keepalive;
pub mod lint;
pub mod listing;
pub mod matchers;
pub mod plan;
pub mod steps;
pub mod world;
