//! The handle of one WebSocket connection as the rest of the server sees it: an id, the sending
//! end of its outbound queue ([`crate::outbound`]), and the way to ask its session to close.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

use crate::close::CloseReason;
use crate::metrics::Traffic;
use crate::outbound;

/// Id of one WebSocket connection, unique in the process.
pub type ConnId = u64;

/// The handle through which rooms and the shutdown tracker reach one connection.
#[derive(Debug)]
pub struct Connection {
    id: ConnId,
    outbound: outbound::Sender,
    traffic: Traffic,
    close_reason: OnceLock<CloseReason>,
    close_requested: Notify,
}

impl Connection {
    /// A new handle and the receiving end of its bounded outbound queue, counted nowhere.
    pub fn new(queue: usize) -> (Arc<Connection>, outbound::Receiver) {
        Connection::with_traffic(queue, Traffic::default())
    }

    /// A new handle whose frames are counted in `traffic` (the node's metrics).
    pub fn with_traffic(queue: usize, traffic: Traffic) -> (Arc<Connection>, outbound::Receiver) {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let (outbound, rx) = outbound::queue(queue);
        let conn = Connection {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            outbound,
            traffic,
            close_reason: OnceLock::new(),
            close_requested: Notify::new(),
        };
        (Arc::new(conn), rx)
    }

    /// This connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Queues a frame without waiting. A full queue closes the connection as a slow consumer.
    pub fn send(&self, frame: Utf8Bytes) {
        if self.outbound.try_send(frame).is_err() {
            self.traffic.drops.inc();
            self.close(CloseReason::SlowConsumer);
        } else {
            self.traffic.deliveries.inc();
        }
    }

    /// Asks the session to close with `reason`; the first reason wins.
    pub fn close(&self, reason: CloseReason) {
        if self.close_reason.set(reason).is_ok() {
            self.close_requested.notify_one();
        }
    }

    /// Why the connection was asked to close, once it was.
    pub fn closing(&self) -> Option<CloseReason> {
        self.close_reason.get().copied()
    }

    /// Resolves once [`Connection::close`] has been called.
    pub async fn close_requested(&self) -> CloseReason {
        loop {
            if let Some(reason) = self.close_reason.get() {
                return *reason;
            }
            self.close_requested.notified().await;
        }
    }
}
