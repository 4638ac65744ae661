//! Password hashing with Argon2id (19 MiB, 2 passes), off the async runtime and
//! **bounded**: every hash or verification of the process goes through one
//! [`Hasher`], whose semaphore lets at most one per core run at once. A request
//! waits [`VERIFY_WAIT`] at most for its turn, then gets [`Busy`] (the page answers
//! 503 with `Retry-After`). Without the bound, 250 parallel sign-ins allocated
//! 250 × 19 MiB at once.
//!
//! Memory is reused: a verification runs in a block buffer taken from a small pool
//! (at most one per permit) and gives it back while others wait; when nobody waits
//! the buffers are freed, so the process falls back to its resting size (the
//! allocator then returns them to the system: see docs/PERFORMANCE.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, Block, Params};
use tokio::sync::Semaphore;

/// How long a sign-in waits for a free hashing slot before [`Busy`].
pub const VERIFY_WAIT: Duration = Duration::from_secs(3);
/// How long setting a password (activation, rare) waits.
const HASH_WAIT: Duration = Duration::from_secs(30);
/// What a 503 tells the browser to wait.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// Too many password checks at once: try again in a few seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("serveur occupé : trop de vérifications de mot de passe en même temps")]
pub struct Busy;

/// Capacity of a block buffer, in bytes: above glibc's largest mmap threshold
/// (32 MiB on 64-bit), so that every buffer is a mapping of its own, returned to the
/// system as soon as it is freed. A 19 MiB buffer would be mmapped the first time
/// only: freeing it raises glibc's threshold to its size, later ones come from the
/// heap arenas of the threads that allocate them and stay there (measured: a server
/// at 85 MB for good after 250 parallel sign-ins; docs/PERFORMANCE.md). Pages past
/// the blocks used are never touched, so they are not resident.
const BUFFER_CAPACITY_BYTES: usize = 33 << 20;

fn new_buffer(blocks: usize) -> Vec<Block> {
    let capacity = (BUFFER_CAPACITY_BYTES / std::mem::size_of::<Block>()).max(blocks);
    let mut v = Vec::with_capacity(capacity);
    v.resize(blocks, Block::default());
    v
}

/// The process's bound on concurrent Argon2 computations.
pub struct Hasher {
    permits: Semaphore,
    slots: usize,
    waiting: AtomicUsize,
    /// Block buffers kept for waiting requests (at most `slots`).
    pool: Mutex<Vec<Vec<Block>>>,
}

static HASHER: LazyLock<Hasher> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    Hasher::new(cores)
});

impl Hasher {
    fn new(slots: usize) -> Hasher {
        Hasher {
            permits: Semaphore::new(slots),
            slots,
            waiting: AtomicUsize::new(0),
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with a permit and a block buffer of `blocks` blocks, on the
    /// blocking pool.
    async fn run<T, F>(&'static self, wait: Duration, blocks: usize, f: F) -> Result<T, Busy>
    where
        T: Send + 'static,
        F: FnOnce(&mut [Block]) -> T + Send + 'static,
    {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let permit = tokio::time::timeout(wait, self.permits.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let Ok(Ok(permit)) = permit else {
            return Err(Busy);
        };
        let mut buffer = self
            .pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .filter(|b| b.len() == blocks)
            .unwrap_or_else(|| new_buffer(blocks));
        let (out, buffer) = tokio::task::spawn_blocking(move || {
            let out = f(&mut buffer);
            (out, buffer)
        })
        .await
        .map_err(|_| Busy)?;
        // Kept only for someone already waiting; freed when nobody waits.
        if let Ok(mut pool) = self.pool.lock() {
            if self.waiting.load(Ordering::SeqCst) > 0 && pool.len() < self.slots {
                pool.push(buffer);
            } else {
                pool.clear();
            }
        }
        drop(permit);
        Ok(out)
    }

    /// Buffers currently kept (for tests and benches).
    pub fn pooled(&self) -> usize {
        self.pool.lock().map_or(0, |p| p.len())
    }
}

/// The process's hasher.
pub fn hasher() -> &'static Hasher {
    &HASHER
}

/// Hashes a password (PHC string).
pub async fn hash(password: String) -> Result<String, String> {
    let blocks = Params::default().block_count();
    HASHER
        .run(HASH_WAIT, blocks, move |memory| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let mut out = [0u8; 32];
            let mut salt_buf = [0u8; 64];
            let raw_salt = salt
                .as_salt()
                .decode_b64(&mut salt_buf)
                .map_err(|e| e.to_string())?;
            let argon = Argon2::default();
            argon
                .hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out, memory)
                .map_err(|e| e.to_string())?;
            // The PHC string `hash_password` would write, from the output computed
            // in the reused memory.
            let params = Params::default();
            let phc = PasswordHash {
                algorithm: argon2::Algorithm::Argon2id.ident(),
                version: Some(argon2::Version::V0x13.into()),
                params: argon2::password_hash::ParamsString::try_from(&params)
                    .map_err(|e| e.to_string())?,
                salt: Some(salt.as_salt()),
                hash: Some(argon2::password_hash::Output::new(&out).map_err(|e| e.to_string())?),
            };
            Ok(phc.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
}

/// Verifies a password against a PHC string; `Err(Busy)` when no hashing slot
/// freed within [`VERIFY_WAIT`].
pub async fn verify(password: String, phc: String) -> Result<bool, Busy> {
    let Some((params, algorithm, version)) = PasswordHash::new(&phc).ok().and_then(|p| {
        Some((
            Params::try_from(&p).ok()?,
            argon2::Algorithm::try_from(p.algorithm).ok()?,
            p.version.and_then(|v| argon2::Version::try_from(v).ok())?,
        ))
    }) else {
        return Ok(false);
    };
    let blocks = params.block_count();
    HASHER
        .run(VERIFY_WAIT, blocks, move |memory| {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
                return false;
            };
            let mut salt_buf = [0u8; 64];
            let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
                return false;
            };
            let mut out = vec![0u8; expected.len()];
            let argon = Argon2::new(algorithm, version, params);
            argon
                .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
                .is_ok()
                && crate::crypto::ct_eq_bytes(&out, expected.as_bytes())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_hasher_answers_busy_and_reuses_buffers_only_while_others_wait() {
        let h: &'static Hasher = Box::leak(Box::new(Hasher::new(1)));
        let slow = tokio::spawn(h.run(Duration::from_secs(1), 8, |_| {
            std::thread::sleep(Duration::from_millis(300));
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The only slot is taken: a short wait ends in Busy.
        assert_eq!(h.run(Duration::from_millis(10), 8, |_| ()).await, Err(Busy));
        // A longer wait gets the slot, and the buffer is handed over to it.
        let waited = h.run(Duration::from_secs(2), 8, |m| m.len()).await;
        assert_eq!(waited, Ok(8));
        slow.await.unwrap().unwrap();
        // Nobody waits any more: nothing is kept.
        assert_eq!(h.pooled(), 0);
    }

    #[tokio::test]
    async fn hashes_verify_with_reused_memory_and_against_the_library() {
        let phc = hash("un mot de passe assez long".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("un mot de passe assez long".into(), phc.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify("un autre mot de passe".into(), phc.clone())
                .await
                .unwrap()
        );
        // The library's own verification accepts what we wrote, and we accept its.
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"un mot de passe assez long", &parsed)
                .is_ok()
        );
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::default()
            .hash_password(b"abc", &salt)
            .unwrap()
            .to_string();
        assert!(verify("abc".into(), theirs).await.unwrap());
        assert!(!verify("abc".into(), "pas un hachage".into()).await.unwrap());
        // Nobody waits: no buffer is kept.
        assert_eq!(hasher().pooled(), 0);
    }
}
