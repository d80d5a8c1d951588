//! The Chalk conformance suite: a black-box judge of servers that implement the Chalk real-time
//! WebSocket API.
//!
//! The suite knows the API only through the contract files of this repository, never through an
//! implementation: the JSON Schemas of `schemas/` ([`schemas`]) and the requirement catalogue
//! `spec/requirements.toml` ([`catalogue`]). Both are compiled into the library, so the suite runs
//! from any directory.

pub mod catalogue;
pub mod schemas;
