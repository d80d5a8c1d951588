//! The Chalk conformance suite: a black-box judge of servers that implement the Chalk real-time
//! WebSocket API.
//!
//! The suite knows the API only through the contract files of this repository, never through an
//! implementation: the JSON Schemas of `schemas/` ([`schemas`]) and the requirement catalogue
//! `spec/requirements.toml` ([`catalogue`]). Both are compiled into the library, so the suite runs
//! from any directory.

pub mod catalogue;
pub mod schemas;

pub mod cli;
pub mod connection;
pub mod docs_site;
pub mod expectations;
pub mod export;
pub mod failure;
pub mod fuzz;
pub mod handshake;
pub mod html;
pub mod html_report;
pub mod judge;
pub mod lint;
pub mod listing;
pub mod load;
pub mod matchers;
pub mod plan;
pub mod provision;
pub mod redact;
pub mod report;
pub mod rest;
pub mod results;
pub mod runner;
pub mod steps;
pub mod summary;
pub mod tokens;
pub mod transcript;
pub mod transport;
pub mod world;
