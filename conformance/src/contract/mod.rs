//! The contract: the API as this repository states it, with no server in sight.
//!
//! The JSON Schemas of `schemas/` ([`schemas`]) and the requirement catalogue
//! `spec/requirements.toml` ([`catalogue`]) are compiled into the library; the frame judge
//! ([`judge`]) checks a frame against both; [`frame`] is how every layer reads an event.

pub mod catalogue;
pub mod frame;
pub mod judge;
pub mod schemas;
