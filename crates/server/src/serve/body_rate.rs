//! Request bodies must keep arriving (S18): after a short grace a body must average at
//! least [`MIN_RATE`] bytes a second and no gap between its chunks may last longer than
//! [`MAX_GAP`]. A body that falls behind ends with [`BodyTooSlow`], which handlers
//! answer 408, so a trickled upload gives its slot back instead of holding it until the
//! request timeout.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Bytes a second a body must average once the grace period is over.
pub const MIN_RATE: u64 = 16 * 1024;
/// Time a body may take before the average rate is required of it.
pub const GRACE: Duration = Duration::from_secs(5);
/// Longest pause between two chunks of a body.
pub const MAX_GAP: Duration = Duration::from_secs(10);

/// The error a body too slow to wait for ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct BodyTooSlow;

/// Whether `err`, or anything it wraps, is [`BodyTooSlow`].
pub fn is_too_slow(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<BodyTooSlow>() {
            return true;
        }
        current = e.source();
    }
    false
}

pub struct MinRateBody<B> {
    inner: B,
    /// When the first poll happened (the body is not read while a request waits).
    started: Option<Instant>,
    received: u64,
    deadline: Pin<Box<Sleep>>,
    min_rate: u64,
    grace: Duration,
    max_gap: Duration,
}

impl<B> MinRateBody<B> {
    pub fn new(inner: B) -> Self {
        Self::with_limits(inner, MIN_RATE, GRACE, MAX_GAP)
    }

    pub fn with_limits(inner: B, min_rate: u64, grace: Duration, max_gap: Duration) -> Self {
        Self {
            inner,
            started: None,
            received: 0,
            deadline: Box::pin(tokio::time::sleep(max_gap)),
            min_rate: min_rate.max(1),
            grace,
            max_gap,
        }
    }

    /// The latest moment the next chunk may arrive: within the gap, and soon enough that
    /// the average stays at the minimum rate.
    fn next_deadline(&self, now: Instant) -> Instant {
        let started = self.started.unwrap_or(now);
        let by_rate = started
            + self.grace
            + Duration::from_secs_f64(self.received as f64 / self.min_rate as f64);
        (now + self.max_gap).min(by_rate.max(now))
    }
}

impl<B> Body for MinRateBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let now = Instant::now();
        if this.started.is_none() {
            this.started = Some(now);
            let deadline = this.next_deadline(now);
            this.deadline.as_mut().reset(deadline);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                let deadline = this.next_deadline(Instant::now());
                this.deadline.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTooSlow)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};

    type Chunks = futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::io::Error>>;

    /// A body sending `chunk` bytes every `every`, `count` times, then ending — or, with
    /// `then_silent`, never ending.
    fn trickle(
        chunk: usize,
        every: Duration,
        count: usize,
        then_silent: bool,
    ) -> StreamBody<Chunks> {
        let chunks = futures_util::stream::iter(0..count).then(move |_| async move {
            tokio::time::sleep(every).await;
            Ok(Frame::data(Bytes::from(vec![b'x'; chunk])))
        });
        let stream = if then_silent {
            chunks.chain(futures_util::stream::pending()).boxed()
        } else {
            chunks.boxed()
        };
        StreamBody::new(stream)
    }

    #[tokio::test(start_paused = true)]
    async fn s18_a_trickled_body_is_cut() {
        // 100 bytes a second is far below the minimum: cut once the grace is spent.
        let body = MinRateBody::new(trickle(100, Duration::from_secs(1), 100, false));
        let started = Instant::now();
        let err = body.collect().await.unwrap_err();
        assert!(is_too_slow(err.as_ref()), "{err}");
        let took = started.elapsed();
        assert!(
            took >= GRACE && took < GRACE + Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn s18_a_body_that_stops_is_cut_after_the_gap() {
        // One megabyte at once (a fine average), then silence.
        let body = MinRateBody::new(trickle(1 << 20, Duration::from_millis(10), 1, true));
        let started = Instant::now();
        let err = body.collect().await.unwrap_err();
        assert!(is_too_slow(err.as_ref()));
        let took = started.elapsed();
        assert!(
            took >= MAX_GAP && took < MAX_GAP + Duration::from_secs(1),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn s18_a_body_at_a_reasonable_rate_is_read_whole() {
        // 64 KiB a second for ten seconds.
        let body = MinRateBody::new(trickle(64 * 1024, Duration::from_secs(1), 10, false));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 640 * 1024);
    }
}
