//! The outbound queue of one connection: frames waiting for the session's writer.
//!
//! Many producers (the room's fan-out, presence, the session's own replies) push shared frames
//! without waiting; one consumer, the writer, takes them. A bounded `VecDeque` under a mutex
//! plus the writer's waker is all it needs: an idle connection's queue costs about a hundred
//! bytes, where a bounded `tokio::sync::mpsc` channel allocates a cache-padded channel and a
//! 32-slot block up front (about 1.5 KiB per connection). The queue gives its memory back once
//! a burst has been written.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use axum::extract::ws::Utf8Bytes;

/// Queued frames beyond which an emptied queue frees its buffer (a burst is over).
const KEEP_CAPACITY: usize = 16;

#[derive(Debug)]
struct Queue {
    frames: VecDeque<Utf8Bytes>,
    capacity: usize,
    writer: Option<Waker>,
    sender_gone: bool,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves a consistent queue behind.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The queue is full: the receiver is a slow consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// The pushing end (one per connection, held by its [`crate::connection::Connection`]).
#[derive(Debug)]
pub struct Sender {
    shared: Arc<Shared>,
}

/// The writer's end.
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Shared>,
}

/// A queue of at most `capacity` frames (at least one).
pub fn queue(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            frames: VecDeque::new(),
            capacity: capacity.max(1),
            writer: None,
            sender_gone: false,
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl Sender {
    /// Queues `frame` without waiting; [`Full`] when `capacity` frames are already waiting.
    pub fn try_send(&self, frame: Utf8Bytes) -> Result<(), Full> {
        let mut queue = self.shared.lock();
        if queue.frames.len() >= queue.capacity {
            return Err(Full);
        }
        queue.frames.push_back(frame);
        let writer = queue.writer.take();
        drop(queue);
        if let Some(writer) = writer {
            writer.wake();
        }
        Ok(())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.sender_gone = true;
        let writer = queue.writer.take();
        drop(queue);
        if let Some(writer) = writer {
            writer.wake();
        }
    }
}

impl Receiver {
    /// The next frame; `None` once the queue is empty and its sender is gone.
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        poll_fn(|cx| {
            let mut queue = self.shared.lock();
            if let Some(frame) = pop(&mut queue) {
                return Poll::Ready(Some(frame));
            }
            if queue.sender_gone {
                return Poll::Ready(None);
            }
            match &mut queue.writer {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }

    /// The next frame if one is waiting.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        pop(&mut self.shared.lock())
    }
}

fn pop(queue: &mut Queue) -> Option<Utf8Bytes> {
    let frame = queue.frames.pop_front();
    if frame.is_some() && queue.frames.is_empty() {
        release_after_burst(queue);
    }
    frame
}

fn release_after_burst(queue: &mut Queue) {
    if queue.frames.capacity() > KEEP_CAPACITY {
        queue.frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &'static str) -> Utf8Bytes {
        Utf8Bytes::from_static(text)
    }

    #[test]
    fn refuses_frames_beyond_its_capacity() {
        let (tx, mut rx) = queue(2);
        assert_eq!(tx.try_send(frame("a")), Ok(()));
        assert_eq!(tx.try_send(frame("b")), Ok(()));
        assert_eq!(tx.try_send(frame("c")), Err(Full));
        assert_eq!(rx.try_recv().as_deref(), Some("a"));
        assert_eq!(tx.try_send(frame("c")), Ok(()));
        assert_eq!(rx.try_recv().as_deref(), Some("b"));
        assert_eq!(rx.try_recv().as_deref(), Some("c"));
        assert_eq!(rx.try_recv(), None);
    }

    #[tokio::test]
    async fn wakes_the_writer_and_ends_when_the_sender_is_gone() {
        let (tx, mut rx) = queue(8);
        let writer = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(frame) = rx.recv().await {
                got.push(frame);
            }
            got
        });
        tokio::task::yield_now().await;
        tx.try_send(frame("a")).unwrap();
        tx.try_send(frame("b")).unwrap();
        drop(tx);
        assert_eq!(writer.await.unwrap(), [frame("a"), frame("b")]);
    }

    #[test]
    fn gives_memory_back_after_a_burst() {
        let (tx, mut rx) = queue(1024);
        for _ in 0..100 {
            tx.try_send(frame("x")).unwrap();
        }
        while rx.try_recv().is_some() {}
        assert!(rx.shared.lock().frames.capacity() <= KEEP_CAPACITY);
    }
}
