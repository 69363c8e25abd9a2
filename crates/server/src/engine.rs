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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(budget_mib: &str, pixels: &str) -> Config {
        Config::from_lookup(&|name| match name {
            "COPYTHAT_DECODE_MEMORY_MB" => Some(budget_mib.into()),
            "COPYTHAT_MAX_IMAGE_PIXELS" => Some(pixels.into()),
            _ => None,
        })
        .unwrap()
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = copythat_core::DecodedImage::from_rgba(
            w,
            h,
            copythat_core::ImageFormat::Png,
            vec![200; (w * h * 4) as usize],
        )
        .unwrap();
        copythat_core::synth::encode_png(&img)
    }

    /// S18: decodes in flight share one budget: while one image holds its share, a second
    /// that does not fit beside it waits, and runs once the first is done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s18_decodes_wait_for_room_in_the_shared_budget() {
        // 1 MP allowed: the worst case is 12 MB + 24 MiB; a 64 MiB budget holds one
        // 1 MP image (28 MiB at its peak) beside another, not three.
        let pipeline = std::sync::Arc::new(ImagePipeline::new(&config("64", "1000000")));
        let limits = copythat_core::Limits {
            max_pixels: 1_000_000,
            ..copythat_core::Limits::default()
        };
        let image = png(1000, 1000);
        let need = copythat_core::image::plan_decode(&image, &limits)
            .unwrap()
            .peak_bytes;
        assert!(need > 16 << 20 && 3 * need > 64 << 20, "{need}");

        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = std::sync::Arc::new(std::sync::Mutex::new(wait));
        let start = |wait: std::sync::Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>| {
            let (pipeline, image) = (pipeline.clone(), image.clone());
            tokio::spawn(async move {
                pipeline
                    .run(image, limits, move |_| {
                        let _ = wait.lock().unwrap().recv();
                        Ok(())
                    })
                    .await
            })
        };
        let first = start(wait.clone());
        let second = start(wait.clone());
        // Both reservations are taken (two fit), and the budget shows it.
        while pipeline.memory.available() > (64 << 20) - 2 * need {
            tokio::task::yield_now().await;
        }
        let third = start(wait.clone());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!third.is_finished(), "a third decode waits for room");
        assert!(pipeline.memory.available() < need);
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for task in [first, second, third] {
            assert!(task.await.unwrap().unwrap().is_ok());
        }
        assert_eq!(pipeline.memory.available(), 64 << 20);
    }
}
