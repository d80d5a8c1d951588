//! The Chalk conformance suite: a black-box judge of servers that implement the Chalk real-time
//! WebSocket API.
//!
//! The crate is five layers, each a folder; every layer uses only the layers listed before it.
//!
//! - [`contract`]: the API as this repository states it, compiled into the library so that the
//!   suite runs from any directory: the JSON Schemas of `schemas/`, the requirement catalogue
//!   `spec/requirements.toml`, and the frame judge that checks a frame against both. The suite
//!   knows the API only through these, never through an implementation.
//! - [`driver`]: talking to a server under test: the transport, the opening handshake, a
//!   connection's frames, the REST API, tokens, provisioning of participants, the wire
//!   transcript and the redaction of secrets.
//! - [`suite`]: the scenarios: which run (the plan), the world of one scenario, its steps, the
//!   matchers the steps apply, and the checks of the features themselves (lint, listing).
//! - [`report`]: what a run found, as one results model and its views: the console, JUnit and
//!   Cucumber JSON, the HTML report, the Markdown summary, and expectations files.
//! - [`commands`]: the command line and one module per subcommand (run the suite, `list`,
//!   `lint`, `docs`, `fuzz`, `load`); each is a thin layer over the ones below.

pub mod commands;
pub mod contract;
pub mod driver;
pub mod report;
pub mod suite;
