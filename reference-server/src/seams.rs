//! The server's extension points, gathered for [`crate::serve_with`]: behaviour added from
//! outside (test doubles, fault injection, later a distributed event bus), never switched on
//! inside.
//!
//! | seam | trait | called |
//! | --- | --- | --- |
//! | admission policy | [`AdmissionPolicy`] | once per handshake, after the caps |
//! | join rule | [`JoinRule`] | at the handshake and at each join |
//! | room events | [`RoomEvents`] | once per event a room emits |
//! | room events, wrapped | [`RoomEvents`] around the node's own path | once per event a room emits |
//! | room directory, wrapped | [`RoomDirectory`] around the node's own | once per REST call and handshake |
//! | a dead node's departures, wrapped | [`Departures`] around [`ReportOnce`] | once per member the reaper reports left |
//! | session frames | [`FrameAdapter`] | once per session, around its socket |
//! | connection I/O | [`IoAdapter`] | once per accepted TCP (or TLS) connection |
//! | HTTP layer | a tower `Layer` | around the whole route table |
//!
//! Production code calls every seam unconditionally. [`Seams::default`] installs nothing, which
//! is the production behaviour: the admission policy is then the production one, called through
//! an `Arc<dyn …>` once per handshake; every other seam costs a branch on an empty `Option`; and
//! the hot paths (the socket, the fan-out) stay monomorphic and allocation-free.
//!
//! The room-event seam comes in two kinds. [`Seams::room_events`] *replaces* local delivery on
//! a single process (and is itself replaced by the bus in cluster mode).
//! [`Seams::room_events_around`] *wraps* whatever the node's own event path is: local delivery
//! on a single process, the cluster's bus in cluster mode; so does [`Seams::directory_around`]
//! for the room directory (the in-memory records, or Redis's). A wrapper sees every call first
//! and decides what reaches the path it wraps.
//!
//! [`Seams::departures_around`] wraps what a node's reaper appends for each member of a dead
//! node it reports left (cluster mode, see `cluster::liveness`), told which dead run it is
//! ([`DeadRun`]): [`ReportOnce`], that member's `participant.left` once. The frames it returns are appended in the reaper's one atomic
//! script; the member is removed whatever they are.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::Route;
use tokio::io::{AsyncRead, AsyncWrite};
use tower_layer::Layer;
use tower_service::Service;

use crate::admission::{AdmissionPolicy, StandardAdmission};
use crate::directory::RoomDirectory;
use crate::events::{LocalDelivery, RoomEvents};
use crate::frames::FrameAdapter;
use crate::rooms::JoinRule;

/// The I/O of one accepted connection (plain TCP, or TLS).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A connection's I/O, boxed.
pub type BoxIo = Box<dyn Io>;

/// Wraps the I/O of every accepted connection, below HTTP and WebSocket framing: for what no
/// other seam sees, such as the control frames tungstenite writes by itself.
pub trait IoAdapter: Send + Sync + fmt::Debug + 'static {
    /// The I/O the server speaks HTTP over, given the connection's own.
    fn adapt(&self, io: BoxIo) -> BoxIo;
}

/// What a node's reaper appends to a room's stream for each member of a dead node it reports
/// left (cluster mode): the frames every node then delivers to the room's members.
pub trait Departures: Send + Sync + fmt::Debug + 'static {
    /// The frames to append, in order, for one member of the dead `run` reported left, given
    /// its `participant.left` frame.
    fn report(&self, run: DeadRun, left: String) -> Vec<String>;
}

/// Which dead run of a node the reaper reports the members of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadRun {
    /// A run whose liveness key expired: a node that was lost.
    Expired,
    /// An earlier run of this node's own id, reaped as this run starts: a node that restarted.
    Restarted,
}

/// The production [`Departures`]: each member's `participant.left`, once.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOnce;

impl Departures for ReportOnce {
    fn report(&self, _run: DeadRun, left: String) -> Vec<String> {
        vec![left]
    }
}

/// Builds the admission policy from the production one (which it usually wraps).
type AdmissionFactory = Box<dyn FnOnce(StandardAdmission) -> Arc<dyn AdmissionPolicy> + Send>;

/// Wraps the node's own room-event path (local delivery, or the cluster's bus).
type RoomEventsWrapper = Box<dyn FnOnce(Arc<dyn RoomEvents>) -> Arc<dyn RoomEvents> + Send>;

/// Wraps the node's own room directory (in memory, or in Redis).
type DirectoryWrapper = Box<dyn FnOnce(Arc<dyn RoomDirectory>) -> Arc<dyn RoomDirectory> + Send>;

/// Wraps the reaper's departures ([`ReportOnce`]).
type DeparturesWrapper = Box<dyn FnOnce(Arc<dyn Departures>) -> Arc<dyn Departures> + Send>;

/// Applies a layer to the route table.
type RouterLayer = Box<dyn FnOnce(Router) -> Router + Send>;

/// The seams to install in a server; nothing by default (see the module documentation).
#[derive(Default)]
pub struct Seams {
    /// Builds the admission policy; `None`: [`StandardAdmission`].
    pub(crate) admission: Option<AdmissionFactory>,
    /// Who may enter a room; `None`: `JoinFacts::standard_verdict`.
    pub(crate) join_rule: Option<Arc<dyn JoinRule>>,
    /// Where rooms publish their events; `None`: local delivery.
    pub(crate) room_events: Option<Arc<dyn RoomEvents>>,
    /// Around the node's own room-event path; `None`: the path itself.
    pub(crate) room_events_around: Option<RoomEventsWrapper>,
    /// Around the node's own room directory; `None`: the directory itself.
    pub(crate) directory_around: Option<DirectoryWrapper>,
    /// Around the reaper's departures; `None`: [`ReportOnce`].
    pub(crate) departures_around: Option<DeparturesWrapper>,
    /// Around each session's frames; `None`: the socket itself.
    pub(crate) frames: Option<Arc<dyn FrameAdapter>>,
    /// Around each connection's I/O; `None`: the connection itself.
    pub(crate) io: Option<Arc<dyn IoAdapter>>,
    /// Layers around the route table; `None`: the route table itself.
    pub(crate) router: Option<RouterLayer>,
}

impl fmt::Debug for Seams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seams")
            .field("admission", &self.admission.is_some())
            .field("join_rule", &self.join_rule)
            .field("room_events", &self.room_events)
            .field("room_events_around", &self.room_events_around.is_some())
            .field("directory_around", &self.directory_around.is_some())
            .field("departures_around", &self.departures_around.is_some())
            .field("frames", &self.frames)
            .field("io", &self.io)
            .field("layer", &self.router.is_some())
            .finish()
    }
}

impl Seams {
    /// Installs the admission policy `build` makes from the production one.
    pub fn admission(
        mut self,
        build: impl FnOnce(StandardAdmission) -> Arc<dyn AdmissionPolicy> + Send + 'static,
    ) -> Self {
        self.admission = Some(Box::new(build));
        self
    }

    /// Installs the rule of who may enter a room.
    pub fn join_rule(mut self, rule: Arc<dyn JoinRule>) -> Self {
        self.join_rule = Some(rule);
        self
    }

    /// Installs where rooms publish their events.
    pub fn room_events(mut self, events: Arc<dyn RoomEvents>) -> Self {
        self.room_events = Some(events);
        self
    }

    /// Installs the room-event path `wrap` makes from the node's own: local delivery (or the
    /// events installed with [`Seams::room_events`]) on a single process, the bus in cluster
    /// mode.
    pub fn room_events_around(
        mut self,
        wrap: impl FnOnce(Arc<dyn RoomEvents>) -> Arc<dyn RoomEvents> + Send + 'static,
    ) -> Self {
        self.room_events_around = Some(Box::new(wrap));
        self
    }

    /// Installs the room directory `wrap` makes from the node's own: the in-memory records on a
    /// single process, Redis's in cluster mode.
    pub fn directory_around(
        mut self,
        wrap: impl FnOnce(Arc<dyn RoomDirectory>) -> Arc<dyn RoomDirectory> + Send + 'static,
    ) -> Self {
        self.directory_around = Some(Box::new(wrap));
        self
    }

    /// Installs the departures `wrap` makes from [`ReportOnce`]: what the reaper appends for each
    /// member of a dead node it reports left (cluster mode only; a single process has no
    /// reaper).
    pub fn departures_around(
        mut self,
        wrap: impl FnOnce(Arc<dyn Departures>) -> Arc<dyn Departures> + Send + 'static,
    ) -> Self {
        self.departures_around = Some(Box::new(wrap));
        self
    }

    /// The reaper's departures: [`ReportOnce`], wrapped by [`Seams::departures_around`] if
    /// installed.
    pub(crate) fn wrap_departures(&mut self) -> Arc<dyn Departures> {
        let own: Arc<dyn Departures> = Arc::new(ReportOnce);
        match self.departures_around.take() {
            Some(wrap) => wrap(own),
            None => own,
        }
    }

    /// On a single process: the installed room events (local delivery if none) wrapped by
    /// [`Seams::room_events_around`], installed as the room events. Nothing without a wrapper.
    pub(crate) fn wrap_local_room_events(&mut self) {
        if let Some(wrap) = self.room_events_around.take() {
            let own = self
                .room_events
                .take()
                .unwrap_or_else(|| Arc::new(LocalDelivery));
            self.room_events = Some(wrap(own));
        }
    }

    /// In cluster mode: the bus, wrapped by [`Seams::room_events_around`] if installed.
    pub(crate) fn wrap_bus(&mut self, bus: Arc<dyn RoomEvents>) -> Arc<dyn RoomEvents> {
        match self.room_events_around.take() {
            Some(wrap) => wrap(bus),
            None => bus,
        }
    }

    /// The node's room directory, wrapped by [`Seams::directory_around`] if installed.
    pub(crate) fn wrap_directory(&mut self, own: Arc<dyn RoomDirectory>) -> Arc<dyn RoomDirectory> {
        match self.directory_around.take() {
            Some(wrap) => wrap(own),
            None => own,
        }
    }

    /// Installs the adapter around each session's frames.
    pub fn frames(mut self, adapter: Arc<dyn FrameAdapter>) -> Self {
        self.frames = Some(adapter);
        self
    }

    /// Installs the adapter around each accepted connection's I/O.
    pub fn io(mut self, adapter: Arc<dyn IoAdapter>) -> Self {
        self.io = Some(adapter);
        self
    }

    /// Adds a tower `layer` around the route table, outside every layer of its own: it sees each
    /// request first and each response last (status, headers and body as they leave).
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        let earlier = self.router.take();
        self.router = Some(Box::new(move |router: Router| {
            let router = match earlier {
                Some(apply) => apply(router),
                None => router,
            };
            router.layer(layer)
        }));
        self
    }
}
