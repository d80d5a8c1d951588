//! The server's extension points, gathered for [`crate::serve_with`]: behaviour added from
//! outside (test doubles, fault injection, later a distributed event bus), never switched on
//! inside.
//!
//! | seam | trait | called |
//! | --- | --- | --- |
//! | admission policy | [`AdmissionPolicy`] | once per handshake, after the caps |
//! | join rule | [`JoinRule`] | at the handshake and at each join |
//! | room events | [`RoomEvents`] | once per event a room emits |
//! | session frames | [`FrameAdapter`] | once per session, around its socket |
//! | connection I/O | [`IoAdapter`] | once per accepted TCP (or TLS) connection |
//! | HTTP layer | a tower `Layer` | around the whole route table |
//!
//! Production code calls every seam unconditionally. [`Seams::default`] installs nothing, which
//! is the production behaviour: the admission policy is then the production one, called through
//! an `Arc<dyn …>` once per handshake; every other seam costs a branch on an empty `Option`; and
//! the hot paths (the socket, the fan-out) stay monomorphic and allocation-free.

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
use crate::events::RoomEvents;
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

/// Builds the admission policy from the production one (which it usually wraps).
type AdmissionFactory = Box<dyn FnOnce(StandardAdmission) -> Arc<dyn AdmissionPolicy> + Send>;

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
