//! The driver: everything that talks to the server under test.
//!
//! The [`deployment`] is the server under test as the commands see it, built once from the
//! options: its endpoints, how participants get in, and (for the [`embedded`] reference server)
//! its start and stop.
//! The transport ([`transport`]) and the hand-made opening handshake ([`handshake`]) open a
//! WebSocket; a [`connection`] sends and receives its frames, each written to the scenario's
//! wire [`transcript`]. Participants, rooms and recordings come from [`provision`] (through the
//! [`rest`] API, a command, or [`tokens`] minted with the deployment's key), and [`redact`] keeps
//! every secret of the run out of what is shown; [`visible`] names the invisible and
//! combining characters of what is shown.

pub mod connection;
pub mod deployment;
pub mod embedded;
pub mod handshake;
pub mod provision;
pub mod redact;
pub mod rest;
pub mod tokens;
pub mod transcript;
pub mod transport;
pub mod visible;
