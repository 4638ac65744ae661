//! The identity provider's signing keys (ES256).
//!
//! A key is never stored: the database keeps its public JWK, a random `seed` and its
//! status; the private key is derived from the server secret and the seed, so every
//! app server sharing the secret signs with the same key and a database dump reveals
//! no key. Rotation (`relais keys rotate`) follows the published-before-used rule:
//! the `next` key is in the JWKS one rotation before it signs; the `previous` one
//! stays published until every token it signed has expired.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use p256::pkcs8::EncodePrivateKey;
use serde_json::Value;
use sha2::Sha256;
use sqlx::Row;

use crate::crypto;
use crate::db::Db;
use crate::franceconnect::jose::{JoseError, SigningKey};

/// How long keys and the JWKS are cached by an app server. A key published as
/// `next` reaches every server's cache long before a rotation makes it sign.
const CACHE_TTL: i64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Jose(#[from] JoseError),
    #[error("aucune clé de signature courante : lancez `relais keys rotate`")]
    NoCurrentKey,
}

/// Derives the ES256 key of `seed` from the server secret.
pub fn derive(secret: &str, seed: &str) -> Result<SigningKey, JoseError> {
    for counter in 0u8..=255 {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|e| JoseError::Key(e.to_string()))?;
        mac.update(b"relais/idp/es256/");
        mac.update(seed.as_bytes());
        mac.update(&[counter]);
        let bytes = mac.finalize().into_bytes();
        if let Ok(sk) = p256::SecretKey::from_slice(&bytes) {
            let pem = sk
                .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
                .map_err(|e| JoseError::Key(e.to_string()))?;
            return SigningKey::from_pem(&pem);
        }
    }
    Err(JoseError::Key("dérivation impossible".into()))
}

/// Inserts a new `next` key.
async fn add_next(db: &Db, secret: &str, now: i64) -> Result<SigningKey, KeyError> {
    let seed = crypto::random_token();
    let key = derive(secret, &seed)?;
    sqlx::query(
        "INSERT INTO idp_keys (kid, alg, seed, public_jwk, status, created_at) VALUES ($1, 'ES256', $2, $3, 'next', $4)",
    )
    .bind(&key.kid)
    .bind(&seed)
    .bind(key.jwk.to_string())
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(key)
}

/// First start: a current key and the next one.
pub async fn ensure(db: &Db, secret: &str, now: i64) -> Result<(), KeyError> {
    let n: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM idp_keys WHERE status IN ('current', 'next')")
            .fetch_one(db.pool())
            .await?
            .try_get("n")?;
    if n == 0 {
        rotate(db, secret, now, 0).await?;
    }
    Ok(())
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub now_signing: String,
    pub published_next: String,
    pub previous: Option<String>,
}

/// Rotates: current → previous (kept `keep_seconds`), next → current, a new next.
/// Runs in one transaction; the first call creates both keys.
pub async fn rotate(
    db: &Db,
    secret: &str,
    now: i64,
    keep_seconds: i64,
) -> Result<Rotation, KeyError> {
    let mut tx = db.begin().await?;
    if db.backend() == crate::db::Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7273) AS locked")
            .fetch_optional(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE idp_keys SET status = 'retired' WHERE status = 'previous' AND retire_after < $1",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let previous: Option<String> = sqlx::query("SELECT kid FROM idp_keys WHERE status = 'current'")
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("kid"))
        .transpose()?;
    sqlx::query(
        "UPDATE idp_keys SET status = 'previous', retire_after = $1 WHERE status = 'current'",
    )
    .bind(now + keep_seconds)
    .execute(&mut *tx)
    .await?;
    let has_next = sqlx::query("SELECT kid FROM idp_keys WHERE status = 'next'")
        .fetch_optional(&mut *tx)
        .await?;
    if has_next.is_none() {
        // First rotation: create the key that signs now.
        let seed = crypto::random_token();
        let key = derive(secret, &seed)?;
        sqlx::query(
            "INSERT INTO idp_keys (kid, alg, seed, public_jwk, status, created_at) VALUES ($1, 'ES256', $2, $3, 'next', $4)",
        )
        .bind(&key.kid)
        .bind(&seed)
        .bind(key.jwk.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE idp_keys SET status = 'current', activated_at = $1 WHERE status = 'next'")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let now_signing: String = sqlx::query("SELECT kid FROM idp_keys WHERE status = 'current'")
        .fetch_one(&mut *tx)
        .await?
        .try_get("kid")?;
    tx.commit().await?;
    let next = add_next(db, secret, now).await?;
    Ok(Rotation {
        now_signing,
        published_next: next.kid,
        previous,
    })
}

struct Cached {
    at: i64,
    current: Option<SigningKey>,
    jwks: Value,
}

/// Per-server cache of the signing key and the JWKS.
pub struct Keys {
    secret: String,
    cache: Mutex<Option<Cached>>,
    derived: Mutex<HashMap<String, SigningKey>>,
}

impl Keys {
    pub fn new(secret: &str) -> Keys {
        Keys {
            secret: secret.to_owned(),
            cache: Mutex::new(None),
            derived: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets the cache (after a rotation on this server, and in tests).
    pub fn invalidate(&self) {
        if let Ok(mut c) = self.cache.lock() {
            *c = None;
        }
    }

    async fn load(&self, db: &Db, now: i64) -> Result<(Option<SigningKey>, Value), KeyError> {
        if let Ok(c) = self.cache.lock()
            && let Some(c) = c.as_ref()
            && now - c.at < CACHE_TTL
            && now >= c.at
        {
            return Ok((c.current.clone(), c.jwks.clone()));
        }
        let rows = sqlx::query(
            "SELECT kid, seed, public_jwk, status FROM idp_keys
             WHERE status IN ('next', 'current') OR (status = 'previous' AND retire_after >= $1)
             ORDER BY id",
        )
        .bind(now)
        .fetch_all(db.pool())
        .await?;
        let mut keys = Vec::new();
        let mut current = None;
        for r in &rows {
            let jwk: String = r.try_get("public_jwk")?;
            if let Ok(v) = serde_json::from_str::<Value>(&jwk) {
                keys.push(v);
            }
            if r.try_get::<String, _>("status")? == "current" {
                let kid: String = r.try_get("kid")?;
                let seed: String = r.try_get("seed")?;
                let cached = self.derived.lock().ok().and_then(|d| d.get(&kid).cloned());
                let key = match cached {
                    Some(k) => k,
                    None => {
                        let k = derive(&self.secret, &seed)?;
                        if let Ok(mut d) = self.derived.lock() {
                            d.insert(kid, k.clone());
                        }
                        k
                    }
                };
                current = Some(key);
            }
        }
        let jwks = serde_json::json!({ "keys": keys });
        if let Ok(mut c) = self.cache.lock() {
            *c = Some(Cached {
                at: now,
                current: current.clone(),
                jwks: jwks.clone(),
            });
        }
        Ok((current, jwks))
    }

    /// The key that signs now (keys are created on first use).
    pub async fn signing(&self, db: &Db, now: i64) -> Result<SigningKey, KeyError> {
        if let Some(k) = self.load(db, now).await?.0 {
            return Ok(k);
        }
        ensure(db, &self.secret, now).await?;
        self.invalidate();
        self.load(db, now).await?.0.ok_or(KeyError::NoCurrentKey)
    }

    /// The published keys: next, current and the previous still in use.
    pub async fn jwks(&self, db: &Db, now: i64) -> Result<Value, KeyError> {
        self.signing(db, now).await?;
        Ok(self.load(db, now).await?.1)
    }
}
