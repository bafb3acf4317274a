//! CPU-bound work — parsing feeds and pages, extracting articles — run off
//! the async workers, at most one job per core at a time. Without the
//! bound, a thousand sources answering together would each get a blocking
//! thread of their own: no faster on a few cores, and every new thread
//! brings its own allocator arena, so the daemon's memory grows with its
//! peak concurrency rather than with its work.

use std::sync::LazyLock;

use tokio::sync::Semaphore;
use tokio::task::JoinError;

static CORES: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// Runs `job` on a blocking thread once a core is free.
pub async fn cpu<T, F>(job: F) -> Result<T, JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // The semaphore is never closed.
    let _core = CORES.acquire().await.ok();
    tokio::task::spawn_blocking(job).await
}
