//! The driver: everything that talks to the server under test.
//!
//! The transport ([`transport`]) and the hand-made opening handshake ([`handshake`]) open a
//! WebSocket; a [`connection`] sends and receives its frames, each written to the scenario's
//! wire [`transcript`]. Participants, rooms and recordings come from [`provision`] (through the
//! [`rest`] API, a command, or [`tokens`] minted with the deployment's key), and [`redact`] keeps
//! every secret of the run out of what is shown.

pub mod connection;
pub mod handshake;
pub mod provision;
pub mod redact;
pub mod rest;
pub mod tokens;
pub mod transcript;
pub mod transport;
