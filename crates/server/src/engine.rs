//! The image pipeline's bounds (S18): upload slots held while a body is read, the memory
//! budget every decode reserves from, and the CPU slots decoding and quantizing run in.
//! Extraction and the drift check both go through [`ImagePipeline::run`].

use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

use crate::blocking::BlockingPool;
use crate::budget::MemoryBudget;
use crate::config::Config;
use crate::error::ApiError;
use crate::uploads::{UploadSlot, UploadSlots};

/// How long an upload or a decode waits for its turn before the client is told to retry.
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(15);

/// Uploads being received at once. Fixed, not per core: the memory their bodies hold
/// (at most this many request bodies) must not grow with the machine.
pub const UPLOAD_SLOTS: usize = 16;

pub struct ImagePipeline {
    cpu: BlockingPool,
    uploads: UploadSlots,
    memory: MemoryBudget,
}

impl ImagePipeline {
    pub fn new(config: &Config) -> Self {
        Self {
            cpu: BlockingPool::per_core(QUEUE_TIMEOUT),
            uploads: UploadSlots::new(UPLOAD_SLOTS, QUEUE_TIMEOUT),
            memory: MemoryBudget::new(config.decode_memory, QUEUE_TIMEOUT),
        }
    }

    /// An upload slot for `account` sending from `address`, held while the body is read
    /// and the image processed.
    pub async fn upload_slot(
        &self,
        account: Uuid,
        address: IpAddr,
    ) -> Result<UploadSlot, ApiError> {
        self.uploads.acquire(account, address).await
    }

    /// Decodes `image` and runs `work` on it: the header is read first, the decode's
    /// peak memory reserved from the shared budget, then decoding and `work` run on the
    /// blocking pool in one CPU slot.
    pub async fn run<T: Send + 'static>(
        &self,
        image: Vec<u8>,
        limits: copythat_core::Limits,
        work: impl FnOnce(copythat_core::DecodedImage) -> Result<T, copythat_core::Error>
        + Send
        + 'static,
    ) -> Result<Result<T, copythat_core::Error>, ApiError> {
        let plan = match copythat_core::image::plan_decode(&image, &limits) {
            Ok(plan) => plan,
            Err(err) => return Ok(Err(err)),
        };
        let _reserved = self.memory.reserve(plan.peak_bytes).await?;
        self.cpu
            .run(move || copythat_core::decode(&image, &limits).and_then(work))
            .await
    }
}
