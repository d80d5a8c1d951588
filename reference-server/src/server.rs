//! Starting and stopping a server: [`serve`] binds and spawns (and [`serve_with`] does so with
//! [`Seams`] installed), [`Server::shutdown`] drains.
//!
//! HTTP/1 is served with hyper directly rather than `axum::serve`, because axum 0.8 gives hyper
//! no timer: without one a client that never finishes its request head (slowloris) holds the
//! connection forever. Here the head must arrive within `header_read_timeout`, may have at
//! most 64 headers, and is read into a buffer capped at 32 KiB (a longer head gets 431).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::{Listener, ListenerExt};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::app::app;
use crate::cluster::Cluster;
use crate::config::{Config, DEFAULT_TENANT};
use crate::error::StartError;
use crate::hub::Hub;
use crate::node::{NodeId, name_node};
use crate::seams::Seams;
use crate::seams::{BoxIo, IoAdapter};
use crate::tls;

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    hub: Arc<Hub>,
    stop_http: watch::Sender<bool>,
    task: JoinHandle<()>,
    drain: Duration,
}

/// Validates `config`, binds, and serves in a background task; returns once listening.
pub async fn serve(config: Config) -> Result<Server, StartError> {
    serve_with(config, Seams::default()).await
}

/// Like [`serve`], with `seams` installed.
pub async fn serve_with(config: Config, mut seams: Seams) -> Result<Server, StartError> {
    if config.redis_url.is_none() {
        seams.wrap_local_room_events();
    }
    let mut hub = Hub::with_seams(&config, &mut seams)?;
    let tls_acceptor = config.tls.as_ref().map(tls::acceptor).transpose()?;
    if let Some(url) = &config.redis_url {
        let mut cluster = Cluster::connect(url, &hub.node).await?;
        let tenants = std::iter::once(DEFAULT_TENANT.to_owned())
            .chain(config.tenants.keys().cloned())
            .collect();
        let departures = seams.wrap_departures();
        let bus = seams.wrap_bus(
            cluster
                .room_events(tenants, hub.metrics.cluster(), departures)
                .await?,
        );
        // First: the local directory it replaces holds the rooms too.
        hub.directory = cluster.directory();
        Arc::get_mut(&mut hub.rooms)
            .expect("nothing else holds the rooms before the server starts")
            .publish_through(bus);
        hub.cluster = Some(cluster);
    }
    hub.directory = seams.wrap_directory(hub.directory.clone());
    let hub = Arc::new(hub);
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let (stop_http, stopped) = watch::channel(false);
    let router = match seams.router.take() {
        Some(layer) => layer(app(hub.clone())),
        None => app(hub.clone()),
    };
    // Outside every other layer, the seams' included: no answer leaves without it.
    let router = name_node(router, &hub.node);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.limits.header_read_timeout)
        .max_buf_size(MAX_REQUEST_HEAD)
        .max_headers(MAX_HEADERS);
    let http = Arc::new(http);
    let io = seams.io.take();
    let task = match tls_acceptor {
        None => {
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            spawn_accept_loop(listener, io, router, http, stopped)
        }
        Some(acceptor) => {
            let listener = tls::TlsListener::new(listener, acceptor);
            spawn_accept_loop(listener, io, router, http, stopped)
        }
    };
    match &hub.cluster {
        Some(cluster) => {
            tracing::info!(%addr, tls = config.tls.is_some(), node = %hub.node, redis = %cluster.url(), "listening, cluster mode");
        }
        None => tracing::info!(%addr, tls = config.tls.is_some(), node = %hub.node, "listening"),
    }
    Ok(Server {
        addr,
        tls: config.tls.is_some(),
        hub,
        stop_http,
        task,
        drain: config.shutdown_drain,
    })
}

/// Largest request head (request line and headers) accepted; larger heads get 431.
const MAX_REQUEST_HEAD: usize = 32 * 1024;

/// Most headers in one request.
const MAX_HEADERS: usize = 64;

/// Spawns the accept loop over `listener`, through the I/O adapter when one is installed.
fn spawn_accept_loop<L>(
    listener: L,
    io: Option<Arc<dyn IoAdapter>>,
    router: Router,
    http: Arc<http1::Builder>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()>
where
    L: Listener<Addr = SocketAddr>,
{
    match io {
        None => tokio::spawn(accept_loop(listener, router, http, stop)),
        Some(adapter) => {
            let listener = AdaptedListener {
                inner: listener,
                adapter,
            };
            tokio::spawn(accept_loop(listener, router, http, stop))
        }
    }
}

/// A listener whose connections' I/O goes through an [`IoAdapter`].
struct AdaptedListener<L> {
    inner: L,
    adapter: Arc<dyn IoAdapter>,
}

impl<L: Listener> Listener for AdaptedListener<L> {
    type Io = BoxIo;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.inner.accept().await;
        (self.adapter.adapt(Box::new(io)), addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Serves HTTP/1 connections until `stop` turns true, then lets open HTTP exchanges finish.
/// Upgraded WebSockets are not connections of this loop any more: the tracker owns them.
/// Every request carries the client's address as `ConnectInfo<SocketAddr>` (for the
/// per-address connection cap).
async fn accept_loop<L>(
    mut listener: L,
    router: Router,
    http: Arc<http1::Builder>,
    mut stop: watch::Receiver<bool>,
) where
    L: Listener<Addr = SocketAddr>,
{
    let mut connections = JoinSet::new();
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => break,
        };
        let inner = TowerToHyperService::new(router.clone());
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                hyper::service::Service::call(&inner, request)
            },
        );
        let http = http.clone();
        let mut stop = stop.clone();
        connections.spawn(async move {
            let connection = http
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "HTTP connection ended with an error");
                    }
                }
                () = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

impl Server {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/api/v1/ws` (`wss://` with TLS).
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/api/v1/ws", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/v1` (`https://` with TLS).
    pub fn api_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/api/v1", self.addr)
    }

    /// This node's id, as the `Chalk-Node` header carries it.
    pub fn node_id(&self) -> &NodeId {
        &self.hub.node
    }

    /// Whether this node runs in cluster mode (connected to Redis).
    pub fn is_clustered(&self) -> bool {
        self.hub.cluster.is_some()
    }

    /// Number of live WebSocket sessions.
    pub fn live_sessions(&self) -> usize {
        self.hub.sessions.live()
    }

    /// Graceful shutdown: new upgrades get 503, every socket gets close 1001, sockets get up to
    /// the drain period to finish their closing handshake, then the listener stops.
    pub async fn shutdown(self) {
        tracing::info!(live = self.hub.sessions.live(), "shutting down");
        self.hub.sessions.begin_shutdown();
        if !self.hub.sessions.drained(self.drain).await {
            tracing::warn!(
                live = self.hub.sessions.live(),
                "drain period over with sockets still open"
            );
        }
        if let Some(cluster) = &self.hub.cluster {
            cluster.leave().await;
        }
        let _ = self.stop_http.send(true);
        let mut task = self.task;
        if tokio::time::timeout(self.drain, &mut task).await.is_err() {
            task.abort();
        }
        tracing::info!("stopped");
    }
}
