//! Small cryptographic helpers: random tokens, hashes, constant-time comparison.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A random 256-bit token, hex encoded (64 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// SHA-256 of a text, hex encoded. Used to store tokens at rest.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// HMAC-SHA-256 keyed with the server secret, hex encoded. Used to pseudonymise
/// values we only need to compare (IP addresses in the throttling table).
pub fn keyed_hash(key: &[u8], text: &str) -> String {
    // HMAC accepts keys of any length: new_from_slice cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(text.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => sha256_hex(text),
    }
}

/// Constant-time equality of two secrets.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
