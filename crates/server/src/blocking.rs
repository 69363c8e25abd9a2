//! CPU-heavy work (argon2, image decoding, quantization) off the async runtime: a
//! semaphore caps how many run at once, and a caller waits at most a bounded time (S18).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

#[derive(Clone)]
pub struct BlockingPool {
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
}

impl BlockingPool {
    pub fn new(slots: usize, queue_timeout: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(slots.max(1))),
            queue_timeout,
        }
    }

    /// One slot per core: the size for work that keeps a core busy.
    pub fn per_core(queue_timeout: Duration) -> Self {
        Self::new(cores(), queue_timeout)
    }

    /// A slot, waiting at most the queue timeout; past it the client is told to retry.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(ApiError::internal)
    }

    /// Runs `work` on the blocking pool once a slot is free. The slot is held until the
    /// work ends, even if the request that asked for it is gone.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.acquire().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(ApiError::internal)
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
