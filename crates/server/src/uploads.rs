//! Admission of extraction uploads (S18). An upload holds a slot from before its body is
//! read until its image is processed, so the memory held by buffered uploads is bounded
//! by the number of slots, not by the number of clients sending them.
//!
//! A client can hold a slot by sending its body slowly, so slots are also shared fairly:
//! one account (with all its API keys) may hold at most a quarter of them and one client
//! address half. Further uploads wait for one of their own share instead of taking
//! everyone else's, so a few accounts trickling bodies cannot keep other users from
//! extracting; bodies that arrive below the minimum rate are cut (see `body_rate`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout_at};
use uuid::Uuid;

use crate::error::ApiError;

/// Past this many accounts with a share, unused entries are swept.
const PRUNE_ABOVE: usize = 1024;

/// Whose share an upload draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Holder {
    Account(Uuid),
    Address(IpAddr),
}

type Shares = Arc<Mutex<HashMap<Holder, Arc<Semaphore>>>>;

pub struct UploadSlots {
    all: Arc<Semaphore>,
    per_account: usize,
    per_address: usize,
    shares: Shares,
    wait: Duration,
}

/// One permit of one holder's share; forgets the share when nobody else uses it.
struct SharePermit {
    permit: Option<OwnedSemaphorePermit>,
    holder: Holder,
    semaphore: Arc<Semaphore>,
    shares: Shares,
}

impl Drop for SharePermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut shares = lock(&self.shares);
        // The map's reference and this one: nobody else holds or waits for the share.
        if Arc::strong_count(&self.semaphore) <= 2 {
            shares.remove(&self.holder);
        }
    }
}

/// A held upload slot; released when dropped.
pub struct UploadSlot {
    _all: OwnedSemaphorePermit,
    _account: SharePermit,
    _address: SharePermit,
}

impl UploadSlots {
    /// `slots` in all, at most a quarter of them for any one account and half for any
    /// one client address (at least one each); a caller waits at most `wait` before it
    /// is told to retry.
    pub fn new(slots: usize, wait: Duration) -> Self {
        let slots = slots.max(1);
        Self {
            all: Arc::new(Semaphore::new(slots)),
            per_account: (slots / 4).max(1),
            per_address: (slots / 2).max(1),
            shares: Arc::default(),
            wait,
        }
    }

    /// One slot for `account` uploading from `address`: one of the account's share, one
    /// of the address's share, then one of all.
    pub async fn acquire(&self, account: Uuid, address: IpAddr) -> Result<UploadSlot, ApiError> {
        let deadline = Instant::now() + self.wait;
        let account = self
            .share(Holder::Account(account), self.per_account, deadline)
            .await?;
        let address = self
            .share(Holder::Address(address), self.per_address, deadline)
            .await?;
        let all = timeout_at(deadline, self.all.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(ApiError::internal)?;
        Ok(UploadSlot {
            _all: all,
            _account: account,
            _address: address,
        })
    }

    async fn share(
        &self,
        holder: Holder,
        size: usize,
        deadline: Instant,
    ) -> Result<SharePermit, ApiError> {
        let semaphore = {
            let mut shares = lock(&self.shares);
            if shares.len() > PRUNE_ABOVE {
                // Entries of uploads that gave up while waiting; nobody refers to them.
                shares.retain(|_, s| Arc::strong_count(s) > 1);
            }
            shares
                .entry(holder)
                .or_insert_with(|| Arc::new(Semaphore::new(size)))
                .clone()
        };
        let mut share = SharePermit {
            permit: None,
            holder,
            semaphore: semaphore.clone(),
            shares: self.shares.clone(),
        };
        let permit = timeout_at(deadline, semaphore.acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(ApiError::internal)?;
        share.permit = Some(permit);
        Ok(share)
    }
}

fn lock(shares: &Shares) -> std::sync::MutexGuard<'_, HashMap<Holder, Arc<Semaphore>>> {
    shares
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, last])
    }

    #[tokio::test]
    async fn s18_one_account_cannot_hold_every_slot() {
        let slots = UploadSlots::new(8, Duration::from_millis(200));
        let (hog, victim) = (Uuid::new_v4(), Uuid::new_v4());
        let first = slots.acquire(hog, ip(1)).await.unwrap();
        let second = slots.acquire(hog, ip(2)).await.unwrap();
        let third = slots.acquire(hog, ip(3)).await;
        assert!(
            matches!(third, Err(ApiError::Unavailable)),
            "an account's third upload waits for its own share"
        );
        let served = slots.acquire(victim, ip(4)).await;
        assert!(served.is_ok(), "another account still gets a slot");
        drop((first, second, served));
        assert!(
            lock(&slots.shares).is_empty(),
            "unused shares are forgotten"
        );
    }

    #[tokio::test]
    async fn s18_one_address_cannot_hold_every_slot_with_many_accounts() {
        let slots = UploadSlots::new(8, Duration::from_millis(200));
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(slots.acquire(Uuid::new_v4(), ip(66)).await.unwrap());
        }
        assert!(
            matches!(
                slots.acquire(Uuid::new_v4(), ip(66)).await,
                Err(ApiError::Unavailable)
            ),
            "a fifth account from the same address waits for the address's share"
        );
        assert!(slots.acquire(Uuid::new_v4(), ip(7)).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s18_a_waiting_upload_gets_the_slot_its_account_frees() {
        let slots = Arc::new(UploadSlots::new(4, Duration::from_secs(5)));
        let account = Uuid::new_v4();
        let held = slots.acquire(account, ip(1)).await.unwrap();
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(account, ip(1)).await.map(|_| ()) })
        };
        // The waiter holds the account's share (two references) before it is freed.
        while Arc::strong_count(lock(&slots.shares).get(&Holder::Account(account)).unwrap()) < 5 {
            tokio::task::yield_now().await;
        }
        drop(held);
        assert!(waiter.await.unwrap().is_ok());
        assert!(lock(&slots.shares).is_empty());
    }
}
