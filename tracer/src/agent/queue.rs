//! A client's queue: chunks of frames from the capture loop to the HTTP
//! response that sends them. It is bounded by bytes, and offering never
//! waits: when a client reads too slowly, what does not fit is dropped
//! (and counted by the caller), so capture and the other clients go on.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// The capture loop's end.
pub struct QueueTx {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

/// The response body's end.
pub struct QueueBody {
    rx: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<AtomicUsize>,
}

/// What became of an offered chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The queue holds its limit already: the chunk was not queued.
    Full,
    /// The client is gone.
    Closed,
}

/// A queue that holds at most `limit` bytes not yet sent.
#[must_use]
pub fn queue(limit: usize) -> (QueueTx, QueueBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        QueueTx {
            tx,
            queued: queued.clone(),
            limit,
        },
        QueueBody { rx, queued },
    )
}

impl QueueTx {
    /// Queues `chunk` if it fits under the limit.
    pub fn offer(&self, chunk: Bytes) -> Offer {
        if self.queued.load(Ordering::Relaxed) + chunk.len() > self.limit {
            return if self.tx.is_closed() {
                Offer::Closed
            } else {
                Offer::Full
            };
        }
        self.push(chunk)
    }

    /// Queues `chunk` whatever the queue holds: for the small frames that
    /// tell a slow client what it lost, and the last word.
    pub fn force(&self, chunk: Bytes) -> Offer {
        self.push(chunk)
    }

    fn push(&self, chunk: Bytes) -> Offer {
        let len = chunk.len();
        self.queued.fetch_add(len, Ordering::Relaxed);
        if self.tx.send(chunk).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return Offer::Closed;
        }
        Offer::Queued
    }

    /// Bytes queued and not yet taken by the response.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

impl Body for QueueBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => {
                self.queued.fetch_sub(chunk.len(), Ordering::Relaxed);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn a_full_queue_refuses_until_read_and_a_closed_one_says_so() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, mut body) = queue(10);
        assert_eq!(tx.offer(Bytes::from_static(b"123456")), Offer::Queued);
        assert_eq!(tx.offer(Bytes::from_static(b"789012")), Offer::Full);
        assert_eq!(tx.force(Bytes::from_static(b"mark")), Offer::Queued);
        assert_eq!(tx.queued(), 10);
        let first = runtime.block_on(body.frame()).unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), &b"123456"[..]);
        assert_eq!(tx.queued(), 4);
        assert_eq!(tx.offer(Bytes::from_static(b"789012")), Offer::Queued);
        drop(body);
        assert_eq!(tx.offer(Bytes::from_static(b"x")), Offer::Closed);
        assert_eq!(tx.force(Bytes::from_static(b"x")), Offer::Closed);
    }
}
