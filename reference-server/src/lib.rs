//! `chalk_reference_server`: the reference implementation of the Chalk real-time WebSocket API.
//!
//! It passes the full conformance suite and serves as a local stand-in for the Chalk backend.
//! Where the published page is silent it implements the decisions of `spec/extensions.md`.
//!
//! In-process use (tests, the embedded conformance run):
//!
//! ```no_run
//! # async fn demo() -> Result<(), chalk_reference_server::StartError> {
//! let server = chalk_reference_server::serve(chalk_reference_server::Config::ephemeral()).await?;
//! println!("{} {}", server.ws_url(), server.api_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Modules, from the edge inwards: [`server`] (start/stop), [`app`] (routes), [`hub`] (the
//! state the handlers share), [`handshake`] and [`rest`] (handlers), [`auth`], [`origin`] and
//! [`capacity`] (admission policy), [`session`] (one socket), [`connection`] (its handle),
//! [`outbound`] (its queue of frames), [`rooms`] (membership and fan-out), [`protocol`] (wire
//! format), [`close`] (close codes), [`tracker`] (live sockets for shutdown), [`tls`],
//! [`config`], [`error`].
//!
//! With the `faults` cargo feature (never in a normal build), `faults` adds named ways of
//! breaking one requirement each, for testing the conformance suite (`Config::faults`).

pub mod app;
pub mod auth;
pub mod capacity;
pub mod close;
pub mod config;
pub mod connection;
pub mod error;
#[cfg(feature = "faults")]
pub mod faults;
pub mod handshake;
pub mod hub;
pub mod origin;
pub mod outbound;
pub mod protocol;
pub mod rest;
pub mod rooms;
pub mod server;
pub mod session;
pub mod tls;
pub mod tracker;

pub use config::{Config, JwtConfig, Limits, Secret, TenantConfig, TlsConfig};
pub use error::{ApiError, StartError};
#[cfg(feature = "faults")]
pub use faults::{Fault, Faults};
pub use server::{Server, serve};
