//! Caps on concurrent WebSocket connections: a global one (`max_connections`) and an optional
//! one per client IP address (`max_connections_per_ip`). A [`Slot`] is taken before `101` and
//! released when dropped, whichever way the connection ends (refused after all, upgrade failed,
//! session over).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::config::Limits;

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// `max_connections` connections are open.
    Total,
    /// `max_connections_per_ip` connections are open from the client's address.
    PerIp,
}

/// The connection counters.
#[derive(Debug)]
pub struct Capacity {
    max: usize,
    per_ip: Option<usize>,
    open: AtomicUsize,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection's place under the caps; gives it back when dropped.
#[derive(Debug)]
pub struct Slot {
    capacity: Arc<Capacity>,
    ip: Option<IpAddr>,
}

impl Capacity {
    /// Counters for the caps of `limits`.
    pub fn new(limits: &Limits) -> Capacity {
        Capacity {
            max: limits.max_connections,
            per_ip: limits.max_connections_per_ip,
            open: AtomicUsize::new(0),
            by_ip: Mutex::new(HashMap::new()),
        }
    }

    fn by_ip(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.by_ip.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of slots taken.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Takes a slot for a connection from `peer` (its address, when known), or says which cap
    /// is reached.
    pub fn acquire(self: &Arc<Self>, peer: Option<IpAddr>) -> Result<Slot, Full> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .map_err(|_| Full::Total)?;
        let ip = match (self.per_ip, peer) {
            (Some(cap), Some(ip)) => {
                // An IPv4 client on a dual-stack socket counts as its IPv4 address.
                let ip = ip.to_canonical();
                let mut by_ip = self.by_ip();
                let count = by_ip.entry(ip).or_insert(0);
                if *count >= cap {
                    if *count == 0 {
                        by_ip.remove(&ip);
                    }
                    drop(by_ip);
                    self.open.fetch_sub(1, Ordering::AcqRel);
                    return Err(Full::PerIp);
                }
                *count += 1;
                Some(ip)
            }
            _ => None,
        };
        Ok(Slot {
            capacity: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut by_ip = self.capacity.by_ip();
            if let Some(count) = by_ip.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    by_ip.remove(&ip);
                }
            }
        }
        self.capacity.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacity(max: usize, per_ip: Option<usize>) -> Arc<Capacity> {
        Arc::new(Capacity::new(&Limits {
            max_connections: max,
            max_connections_per_ip: per_ip,
            ..Limits::default()
        }))
    }

    #[test]
    fn refuses_above_the_global_cap_and_frees_on_drop() {
        let c = capacity(2, None);
        let a = c.acquire(None).unwrap();
        let _b = c.acquire(None).unwrap();
        assert_eq!(c.acquire(None).unwrap_err(), Full::Total);
        drop(a);
        assert!(c.acquire(None).is_ok());
        assert_eq!(c.open(), 1);
    }

    #[test]
    fn counts_each_address_on_its_own() {
        let c = capacity(10, Some(1));
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let two: IpAddr = "192.0.2.2".parse().unwrap();
        let a = c.acquire(Some(one)).unwrap();
        assert_eq!(c.acquire(Some(mapped)).unwrap_err(), Full::PerIp);
        let _b = c.acquire(Some(two)).unwrap();
        assert_eq!(c.open(), 2, "a refused slot is given back");
        drop(a);
        assert!(c.acquire(Some(one)).is_ok());
        assert!(c.by_ip().len() <= 2);
    }
}
