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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn s2_s18_blocking_work_never_runs_beyond_its_slots() {
        let pool = BlockingPool::new(2, Duration::from_secs(30));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks = (0..12).map(|_| {
            let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Long enough for every task to be in flight at once if nothing held
                    // them back.
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            })
        });
        for task in futures_util::future::join_all(tasks).await {
            task.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn s18_a_caller_that_waits_past_the_queue_timeout_is_told_to_retry() {
        let pool = BlockingPool::new(1, Duration::from_millis(50));
        let held = pool.acquire().await.unwrap();
        assert!(matches!(pool.acquire().await, Err(ApiError::Unavailable)));
        drop(held);
        assert!(pool.acquire().await.is_ok());
    }
}
