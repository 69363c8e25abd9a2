//! Admission of extraction uploads (S18). An upload holds a slot from before its body is
//! read until its image is processed, so the memory held by buffered uploads is bounded
//! by the number of slots, not by the number of clients sending them.
//!
//! A client can hold a slot by sending its body slowly, so slots are also shared fairly:
//! one account (with all its API keys) may hold at most half of them. Its further
//! uploads wait for one of its own slots instead of taking everyone else's, so a single
//! account trickling bodies cannot keep other users from extracting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout_at};
use uuid::Uuid;

use crate::error::ApiError;

/// Past this many accounts with a share, unused entries are swept.
const PRUNE_ABOVE: usize = 1024;

type Shares = Arc<Mutex<HashMap<Uuid, Arc<Semaphore>>>>;

pub struct UploadSlots {
    all: Arc<Semaphore>,
    per_account: usize,
    shares: Shares,
    wait: Duration,
}

/// A held upload slot; released when dropped.
pub struct UploadSlot {
    _slot: Option<OwnedSemaphorePermit>,
    share: Option<OwnedSemaphorePermit>,
    account: Uuid,
    semaphore: Arc<Semaphore>,
    shares: Shares,
}

impl UploadSlots {
    /// `slots` in all, at most half of them (at least one) for any one account; a caller
    /// waits at most `wait` before it is told to retry.
    pub fn new(slots: usize, wait: Duration) -> Self {
        let slots = slots.max(1);
        Self {
            all: Arc::new(Semaphore::new(slots)),
            per_account: (slots / 2).max(1),
            shares: Arc::default(),
            wait,
        }
    }

    /// One slot for `account`: first one of the account's own share, then one of all.
    pub async fn acquire(&self, account: Uuid) -> Result<UploadSlot, ApiError> {
        let deadline = Instant::now() + self.wait;
        let semaphore = {
            let mut shares = lock(&self.shares);
            if shares.len() > PRUNE_ABOVE {
                // Entries of uploads that gave up while waiting; nobody refers to them.
                shares.retain(|_, s| Arc::strong_count(s) > 1);
            }
            shares
                .entry(account)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_account)))
                .clone()
        };
        let share = timeout_at(deadline, semaphore.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(ApiError::internal)?;
        let mut slot = UploadSlot {
            _slot: None,
            share: Some(share),
            account,
            semaphore,
            shares: self.shares.clone(),
        };
        let all = timeout_at(deadline, self.all.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(ApiError::internal)?;
        slot._slot = Some(all);
        Ok(slot)
    }
}

fn lock(shares: &Shares) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<Semaphore>>> {
    shares
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        drop(self.share.take());
        let mut shares = lock(&self.shares);
        // The map's reference and this one: nobody else holds or waits for the share.
        if Arc::strong_count(&self.semaphore) <= 2 {
            shares.remove(&self.account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn s18_one_account_cannot_hold_every_slot() {
        let slots = UploadSlots::new(4, Duration::from_millis(200));
        let (hog, victim) = (Uuid::new_v4(), Uuid::new_v4());
        let first = slots.acquire(hog).await.unwrap();
        let second = slots.acquire(hog).await.unwrap();
        let third = slots.acquire(hog).await;
        assert!(
            matches!(third, Err(ApiError::Unavailable)),
            "an account's third upload waits for its own share"
        );
        let served = slots.acquire(victim).await;
        assert!(served.is_ok(), "another account still gets a slot");
        drop((first, second, served));
        assert!(
            lock(&slots.shares).is_empty(),
            "unused shares are forgotten"
        );
    }

    #[tokio::test]
    async fn s18_a_waiting_upload_gets_the_slot_its_account_frees() {
        let slots = Arc::new(UploadSlots::new(2, Duration::from_secs(5)));
        let account = Uuid::new_v4();
        let held = slots.acquire(account).await.unwrap();
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(account).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert!(waiter.await.unwrap().is_ok());
        assert!(lock(&slots.shares).is_empty());
    }
}
