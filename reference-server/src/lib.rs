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
//! Modules, from the edge inwards:
//! - start and stop: [`server`] (binding, serving, draining), [`cli`] (the command line every
//!   binary of the server shares), [`config`], [`tls`];
//! - many nodes: [`node`] (the node id, the `Chalk-Node` header, the Redis URL), [`cluster`]
//!   (the node's link to Redis, with the `cluster` feature);
//! - HTTP: [`app`] (the route table), [`hub`] (the state the handlers share), [`handshake`]
//!   and [`rest`] (handlers), [`error`] (refusals become responses), [`metrics`] (`GET
//!   /metrics`);
//! - admission: [`admission`] (token, origin and subprotocol), [`auth`] (tokens), [`origin`],
//!   [`capacity`] (connection caps);
//! - one socket: [`session`] (its loop), [`connection`] (its handle) and [`outbound`] (its
//!   queue of frames), [`close`] (close codes), [`tracker`] (live sockets, for shutdown);
//! - rooms: [`rooms`] (membership and records), [`events`] (where their events are
//!   published), [`directory`] (where the REST API finds their records), [`protocol`] (the
//!   wire format).
//!
//! [`seams`] gathers the extension points that production code calls unconditionally and that
//! do nothing by default: the admission policy, the join rule, the room-event seam, the
//! session frame adapter, the connection I/O adapter and an HTTP layer. [`serve_with`] starts a
//! server with some installed; fault injection (the `chalk-faults` crate) builds a broken
//! server that way, from the outside.

pub mod admission;
pub mod app;
pub mod auth;
pub mod capacity;
pub mod cli;
pub mod close;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod directory;
pub mod error;
pub mod events;
pub mod frames;
pub mod handshake;
pub mod hub;
pub mod metrics;
pub mod node;
pub mod origin;
pub mod outbound;
pub mod protocol;
pub mod rest;
pub mod rooms;
pub mod seams;
pub mod server;
pub mod session;
pub mod tls;
pub mod tracker;

pub use config::{Config, JwtConfig, Limits, Secret, TenantConfig, TlsConfig};
pub use error::{ApiError, StartError};
pub use seams::Seams;
pub use server::{Server, serve, serve_with};
