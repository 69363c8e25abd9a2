//! The memory budget every image decode in flight shares (S18). Each decode reserves what
//! its header says it will need at its peak (`copythat_core::image::plan_decode`) before
//! any pixel is allocated, so the memory held by decoding is bounded by configuration —
//! `COPYTHAT_DECODE_MEMORY_MB` — whatever the inputs and however many cores there are.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Reservations are counted in KiB so a budget of tens of GiB fits the semaphore's range.
const UNIT: u64 = 1024;

pub struct MemoryBudget {
    units: Arc<Semaphore>,
    total: u64,
    wait: Duration,
}

/// Memory reserved for one decode; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl MemoryBudget {
    /// A budget of `bytes`; a decode waits at most `wait` for its share before the client
    /// is told to retry.
    pub fn new(bytes: u64, wait: Duration) -> Self {
        let units = (bytes / UNIT).clamp(1, u64::from(u32::MAX)) as usize;
        Self {
            units: Arc::new(Semaphore::new(units)),
            total: bytes,
            wait,
        }
    }

    /// Reserves `bytes`. The semaphore is fair (first come, first served), so a large
    /// decode waiting for room is not overtaken forever by small ones.
    pub async fn reserve(&self, bytes: u64) -> Result<Reservation, ApiError> {
        if bytes > self.total {
            return Err(ApiError::PayloadTooLarge(
                "the image needs more memory to decode than this server allows".into(),
            ));
        }
        let units = bytes.div_ceil(UNIT).max(1) as u32;
        let permit = tokio::time::timeout(self.wait, self.units.clone().acquire_many_owned(units))
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(ApiError::internal)?;
        Ok(Reservation { _permit: permit })
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> u64 {
        self.units.available_permits() as u64 * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn s18_reservations_beyond_the_budget_wait_then_are_refused() {
        let budget = MemoryBudget::new(10 * UNIT * 1024, Duration::from_millis(50));
        let first = budget.reserve(6 * UNIT * 1024).await.unwrap();
        assert_eq!(budget.available(), 4 * UNIT * 1024);
        assert!(matches!(
            budget.reserve(6 * UNIT * 1024).await,
            Err(ApiError::Unavailable)
        ));
        drop(first);
        let second = budget.reserve(6 * UNIT * 1024).await;
        assert!(second.is_ok(), "the budget is given back on drop");
        assert!(matches!(
            budget.reserve(11 * UNIT * 1024).await,
            Err(ApiError::PayloadTooLarge(_))
        ));
    }
}
