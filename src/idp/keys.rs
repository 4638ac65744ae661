//! The identity provider's signing keys (ES256).
//!
//! A key is never stored: the database keeps its public JWK, a random `seed` and its
//! status; the private key is derived from the server secret and the seed, so every
//! app server sharing the secret signs with the same key and a database dump reveals
//! no key. Rotation (`relais keys rotate`) follows the published-before-used rule:
//! the `next` key is in the JWKS one rotation before it signs; the `previous` one
//! stays published until every token it signed has expired.

use crate::db::Exec as _;
use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use p256::pkcs8::EncodePrivateKey;
use serde_json::Value;
use sha2::Sha256;

use crate::crypto;
use crate::db::Db;
use crate::franceconnect::jose::{JoseError, SigningKey};

/// How long keys and the JWKS are cached by an app server. A key published as
/// `next` reaches every server's cache long before a rotation makes it sign.
const CACHE_TTL: i64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Db(#[from] crate::db::Error),
    #[error(transparent)]
    Jose(#[from] JoseError),
    #[error("aucune clé de signature courante : lancez `relais keys rotate`")]
    NoCurrentKey,
}

/// The asymmetric algorithms the provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    Es256,
    Rs256,
}

impl KeyAlg {
    pub const ALL: [KeyAlg; 2] = [KeyAlg::Es256, KeyAlg::Rs256];
    pub fn key(self) -> &'static str {
        match self {
            KeyAlg::Es256 => "ES256",
            KeyAlg::Rs256 => "RS256",
        }
    }
}

fn seed_bytes(secret: &str, label: &[u8], seed: &str, counter: u8) -> Result<[u8; 32], JoseError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| JoseError::Key(e.to_string()))?;
    mac.update(label);
    mac.update(seed.as_bytes());
    mac.update(&[counter]);
    Ok(mac.finalize().into_bytes().into())
}

/// Derives the key of `seed` from the server secret: an ES256 scalar, or an RSA
/// 2048-bit key generated from a ChaCha20 stream seeded the same way.
pub fn derive(secret: &str, alg: KeyAlg, seed: &str) -> Result<SigningKey, JoseError> {
    if alg == KeyAlg::Rs256 {
        use rand::SeedableRng;
        use rsa::pkcs8::EncodePrivateKey as _;
        let mut rng =
            rand_chacha::ChaCha20Rng::from_seed(seed_bytes(secret, b"relais/idp/rs256/", seed, 0)?);
        let key =
            rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| JoseError::Key(e.to_string()))?;
        let pem = key
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(|e| JoseError::Key(e.to_string()))?;
        return SigningKey::from_pem(&pem);
    }
    for counter in 0u8..=255 {
        let bytes = seed_bytes(secret, b"relais/idp/es256/", seed, counter)?;
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
async fn add_next(db: &Db, secret: &str, alg: KeyAlg, now: i64) -> Result<SigningKey, KeyError> {
    let seed = crypto::random_token();
    let key = derive(secret, alg, &seed)?;
    db.execute("INSERT INTO idp_keys (kid, alg, seed, public_jwk, status, created_at) VALUES ($1, $2, $3, $4, 'next', $5)", crate::args![&key.kid, alg.key(), &seed, key.jwk.to_string(), now])
    .await?;
    Ok(key)
}

/// First use of an algorithm: a current key and the next one.
pub async fn ensure(db: &Db, secret: &str, alg: KeyAlg, now: i64) -> Result<(), KeyError> {
    let n: i64 = db
        .fetch_one(
            "SELECT COUNT(*) AS n FROM idp_keys WHERE alg = $1 AND status IN ('current', 'next')",
            crate::args![alg.key()],
        )
        .await?
        .get("n")?;
    if n == 0 {
        rotate_alg(db, secret, alg, now, 0).await?;
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

/// Rotates the keys of every algorithm in use (ES256 always).
pub async fn rotate(
    db: &Db,
    secret: &str,
    now: i64,
    keep_seconds: i64,
) -> Result<Vec<(KeyAlg, Rotation)>, KeyError> {
    let mut out = Vec::new();
    for alg in KeyAlg::ALL {
        let used: i64 = db
            .fetch_one(
                "SELECT COUNT(*) AS n FROM idp_keys WHERE alg = $1",
                crate::args![alg.key()],
            )
            .await?
            .get("n")?;
        if used > 0 || alg == KeyAlg::Es256 {
            out.push((alg, rotate_alg(db, secret, alg, now, keep_seconds).await?));
        }
    }
    Ok(out)
}

/// Rotates one algorithm: current → previous (kept `keep_seconds`), next → current,
/// a new next. Runs in one transaction; the first call creates both keys.
pub async fn rotate_alg(
    db: &Db,
    secret: &str,
    alg: KeyAlg,
    now: i64,
    keep_seconds: i64,
) -> Result<Rotation, KeyError> {
    // RSA keys take a moment to derive: before taking the write lock.
    let first_seed = crypto::random_token();
    let first_key = derive(secret, alg, &first_seed)?;
    let a = alg.key();
    let mut tx = db.begin().await?;
    // Key rotations of several servers one after the other (PostgreSQL).
    tx.lock(crate::db::KEYS_LOCK).await?;
    tx.execute("UPDATE idp_keys SET status = 'retired' WHERE alg = $2 AND status = 'previous' AND retire_after < $1", crate::args![now, a])
    .await?;
    let previous: Option<String> = tx
        .fetch_optional(
            "SELECT kid FROM idp_keys WHERE alg = $1 AND status = 'current'",
            crate::args![a],
        )
        .await?
        .map(|r| r.get("kid"))
        .transpose()?;
    tx.execute("UPDATE idp_keys SET status = 'previous', retire_after = $1 WHERE alg = $2 AND status = 'current'", crate::args![now + keep_seconds, a])
    .await?;
    let has_next = tx
        .fetch_optional(
            "SELECT kid FROM idp_keys WHERE alg = $1 AND status = 'next'",
            crate::args![a],
        )
        .await?;
    if has_next.is_none() {
        // First rotation: the key that signs now.
        tx.execute("INSERT INTO idp_keys (kid, alg, seed, public_jwk, status, created_at) VALUES ($1, $2, $3, $4, 'next', $5)", crate::args![&first_key.kid, a, &first_seed, first_key.jwk.to_string(), now])
        .await?;
    }
    tx.execute("UPDATE idp_keys SET status = 'current', activated_at = $1 WHERE alg = $2 AND status = 'next'", crate::args![now, a])
    .await?;
    let now_signing: String = tx
        .fetch_one(
            "SELECT kid FROM idp_keys WHERE alg = $1 AND status = 'current'",
            crate::args![a],
        )
        .await?
        .get("kid")?;
    tx.commit().await?;
    let next = add_next(db, secret, alg, now).await?;
    Ok(Rotation {
        now_signing,
        published_next: next.kid,
        previous,
    })
}

/// The asymmetric algorithms the configured clients need (ES256 always).
pub fn algs_for(clients: &[crate::config::IdpClientConfig]) -> Vec<KeyAlg> {
    let mut algs = vec![KeyAlg::Es256];
    if clients.iter().any(|c| c.signing_alg == "RS256") {
        algs.push(KeyAlg::Rs256);
    }
    algs
}

/// The HS256 key of a legacy client, derived from the server secret.
pub fn hs256_key(secret: &str, client_id: &str) -> String {
    crypto::keyed_hash(secret.as_bytes(), &format!("relais/idp/hs256/{client_id}"))
}

struct Cached {
    at: i64,
    current: HashMap<KeyAlg, SigningKey>,
    jwks: Value,
}

/// Per-server cache of the signing key and the JWKS.
pub struct Keys {
    secret: String,
    /// The algorithms configured clients need: their keys are published (JWKS)
    /// before any of them signs.
    algs: Vec<KeyAlg>,
    cache: Mutex<Option<Cached>>,
    derived: Mutex<HashMap<String, SigningKey>>,
}

impl Keys {
    /// The HS256 key of a legacy client (`relais keys hs256`): derived from the
    /// server secret, handed to that client out of band.
    pub fn hs256_key(&self, client_id: &str) -> String {
        hs256_key(&self.secret, client_id)
    }

    pub fn new(secret: &str, algs: Vec<KeyAlg>) -> Keys {
        Keys {
            secret: secret.to_owned(),
            algs,
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

    async fn load(
        &self,
        db: &Db,
        now: i64,
    ) -> Result<(HashMap<KeyAlg, SigningKey>, Value), KeyError> {
        if let Ok(c) = self.cache.lock()
            && let Some(c) = c.as_ref()
            && now - c.at < CACHE_TTL
            && now >= c.at
        {
            return Ok((c.current.clone(), c.jwks.clone()));
        }
        let rows = db
            .fetch_all(
                "SELECT kid, alg, seed, public_jwk, status FROM idp_keys
             WHERE status IN ('next', 'current') OR (status = 'previous' AND retire_after >= $1)
             ORDER BY id",
                crate::args![now],
            )
            .await?;
        let mut keys = Vec::new();
        let mut current = HashMap::new();
        for r in &rows {
            let jwk: String = r.get("public_jwk")?;
            if let Ok(v) = serde_json::from_str::<Value>(&jwk) {
                keys.push(v);
            }
            let alg = if r.get::<String>("alg")? == "RS256" {
                KeyAlg::Rs256
            } else {
                KeyAlg::Es256
            };
            if r.get::<String>("status")? == "current" {
                let kid: String = r.get("kid")?;
                let seed: String = r.get("seed")?;
                let cached = self.derived.lock().ok().and_then(|d| d.get(&kid).cloned());
                let key = match cached {
                    Some(k) => k,
                    None => {
                        let k = derive(&self.secret, alg, &seed)?;
                        if let Ok(mut d) = self.derived.lock() {
                            d.insert(kid, k.clone());
                        }
                        k
                    }
                };
                current.insert(alg, key);
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

    /// The key that signs now with `alg` (keys are created on first use).
    pub async fn signing(&self, db: &Db, now: i64, alg: KeyAlg) -> Result<SigningKey, KeyError> {
        if let Some(k) = self.load(db, now).await?.0.remove(&alg) {
            return Ok(k);
        }
        ensure(db, &self.secret, alg, now).await?;
        self.invalidate();
        self.load(db, now)
            .await?
            .0
            .remove(&alg)
            .ok_or(KeyError::NoCurrentKey)
    }

    /// The keys an `id_token_hint` may be verified with at logout: the published
    /// ones, and those retired less than [`super::LOGOUT_HINT_TRUST`] ago — a
    /// logout comes hours after the sign-in, a key stops signing sooner.
    pub async fn verification_set(
        &self,
        db: &Db,
        now: i64,
    ) -> Result<jsonwebtoken::jwk::JwkSet, KeyError> {
        self.jwks(db, now).await?;
        let rows = db
            .fetch_all(
                "SELECT public_jwk FROM idp_keys
             WHERE status IN ('next', 'current') OR retire_after >= $1 ORDER BY id",
                crate::args![now - super::LOGOUT_HINT_TRUST],
            )
            .await?;
        let mut keys = Vec::new();
        for r in &rows {
            let jwk: String = r.get("public_jwk")?;
            if let Ok(k) = serde_json::from_str(&jwk) {
                keys.push(k);
            }
        }
        Ok(jsonwebtoken::jwk::JwkSet { keys })
    }

    /// The published keys: next, current and the previous still in use.
    pub async fn jwks(&self, db: &Db, now: i64) -> Result<Value, KeyError> {
        self.signing(db, now, KeyAlg::Es256).await?;
        for alg in &self.algs {
            self.signing(db, now, *alg).await?;
        }
        Ok(self.load(db, now).await?.1)
    }
}
