//! `chalk_faults`: a broken Chalk reference server, built from the outside, for testing the
//! conformance suite.
//!
//! Each [`Fault`] is a named way of breaking the server (one catalogue requirement each) or an
//! allowed variation ([`fault`]). None of it lives in the server: a set of [`Faults`] becomes
//! [`Seams`] installed into an unmodified server ([`seams`], [`serve`]), each fault acting
//! through the seam it names ([`Seam`]):
//!
//! - [`admission`]: a policy that wraps the production admission policy and bends a token,
//!   origin or subprotocol decision;
//! - [`http`]: a tower layer that edits the handshake's HTTP answer;
//! - [`rooms`]: a join rule, and the room-event seam's publisher that drops, rewrites,
//!   duplicates or misroutes events;
//! - [`frames`]: the session frame adapter, on each session's frames both ways;
//! - [`io`]: an I/O adapter below WebSocket framing;
//! - [`cluster`]: wrappers of the node's own room-event path and room directory (the bus and
//!   Redis's records in cluster mode) that keep to one node what should reach the cluster, and
//!   of the reaper's departures (a dead node's members reported left never, or twice).
//!
//! [`directory`] is the faults' own record of live sessions by room, for the faults that reach
//! beyond one room's members; [`rewrite`] edits encoded events. The `chalk-faults` binary is the
//! reference server's command line plus `--fault NAME` and `--list-faults`.

pub mod admission;
pub mod cluster;
pub mod directory;
pub mod fault;
pub mod frames;
pub mod http;
pub mod io;
pub mod rewrite;
pub mod rooms;

use std::sync::Arc;

use chalk_reference_server::auth::TokenVerifier;
use chalk_reference_server::{Config, Seams, Server, StartError};

pub use fault::{Fault, Faults, Kind, Seam, UnknownFault};

/// The seams that make a server of `config` broken by `faults` (none for an empty set).
///
/// The frame adapter is installed whenever any fault is, because it keeps the [`directory`]
/// that faults of other seams reach rooms through.
pub fn seams(faults: Faults, config: &Config) -> Seams {
    let mut seams = Seams::default();
    if faults.is_empty() {
        return seams;
    }
    let directory = Arc::new(directory::Directory::default());
    let bad_input = Arc::new(frames::BadInput::default());
    seams = seams.frames(Arc::new(
        frames::FaultyFrames::new(
            faults,
            directory.clone(),
            bad_input.clone(),
            config.limits.max_text_chars,
        )
        .idle_timeout(config.limits.idle_timeout),
    ));
    if faults.use_seam(Seam::Admission) {
        let config = config.clone();
        let (directory, bad_input) = (directory.clone(), bad_input);
        seams = seams.admission(move |standard| {
            Arc::new(admission::FaultyAdmission::new(
                standard, faults, &config, directory, bad_input,
            ))
        });
    }
    // A key the verifier refuses stops the server from starting anyway, with that error.
    if faults.use_seam(Seam::Http)
        && let Ok(verifier) = TokenVerifier::new(config)
    {
        seams = seams.layer(axum::middleware::from_fn_with_state(
            http::HttpFaults::new(faults, verifier),
            http::edit,
        ));
    }
    if faults.use_seam(Seam::JoinRule) {
        seams = seams.join_rule(Arc::new(rooms::FaultyJoinRule::new(faults)));
    }
    if faults.use_seam(Seam::RoomEvents) {
        seams = seams.room_events(Arc::new(rooms::FaultyEvents::new(faults, directory)));
    }
    if faults.use_seam(Seam::RoomEventPath) || faults.use_seam(Seam::RoomDirectory) {
        // The node's members as its events show them, for the directory's faults.
        let local = Arc::new(cluster::LocalMembers::default());
        let node = config.node_id.as_ref().map_or_else(
            || uuid::Uuid::new_v4().simple().to_string(),
            |id| id.to_string(),
        );
        let members = local.clone();
        seams = seams.room_events_around(move |own| {
            Arc::new(cluster::ClusterEvents::new(faults, own, &node, members))
        });
        seams = seams.directory_around(move |own| {
            Arc::new(cluster::ClusterDirectory::new(faults, own, local))
        });
    }
    if faults.use_seam(Seam::Departures) {
        seams = seams
            .departures_around(move |own| Arc::new(cluster::ClusterDepartures::new(faults, own)));
    }
    if faults.use_seam(Seam::Io) {
        seams = seams.io(io::adapter(faults));
    }
    tracing::warn!(?faults, "faults injected on purpose: this server is broken");
    seams
}

/// Validates `config`, binds, and serves a reference server broken by `faults`, as
/// [`chalk_reference_server::serve`] does.
pub async fn serve(config: Config, faults: Faults) -> Result<Server, StartError> {
    let seams = seams(faults, &config);
    chalk_reference_server::serve_with(config, seams).await
}
