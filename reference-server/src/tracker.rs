//! Tracks every live socket so graceful shutdown can close them (axum's own graceful shutdown
//! does not see upgraded connections, tokio-rs/axum#3003).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::close::CloseReason;
use crate::connection::{ConnId, Connection};

#[derive(Debug, Default)]
struct Inner {
    shutting_down: bool,
    live: HashMap<ConnId, Arc<Connection>>,
}

/// The set of live sessions and the shutdown flag.
#[derive(Debug, Default)]
pub struct SessionTracker {
    inner: Mutex<Inner>,
    drained: Notify,
}

/// Removes its session from the tracker when dropped, whatever way the session ends.
#[derive(Debug)]
pub struct Registration {
    tracker: Arc<SessionTracker>,
    id: ConnId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut inner = self.tracker.lock();
        inner.live.remove(&self.id);
        if inner.live.is_empty() {
            self.tracker.drained.notify_waiters();
        }
    }
}

impl SessionTracker {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether graceful shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.lock().shutting_down
    }

    /// Number of live sessions.
    pub fn live(&self) -> usize {
        self.lock().live.len()
    }

    /// Registers a session; `None` once shutdown has started (the caller closes with 1001).
    pub fn register(self: &Arc<Self>, conn: &Arc<Connection>) -> Option<Registration> {
        let mut inner = self.lock();
        if inner.shutting_down {
            return None;
        }
        inner.live.insert(conn.id(), conn.clone());
        Some(Registration {
            tracker: self.clone(),
            id: conn.id(),
        })
    }

    /// Starts shutdown: refuses new sessions and asks every live one to close with 1001.
    pub fn begin_shutdown(&self) {
        let live: Vec<Arc<Connection>> = {
            let mut inner = self.lock();
            inner.shutting_down = true;
            inner.live.values().cloned().collect()
        };
        for conn in live {
            conn.close(CloseReason::ShuttingDown);
        }
    }

    /// Waits until every session has ended or `limit` has passed; returns whether all ended.
    pub async fn drained(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.drained.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.lock().live.is_empty() {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}
