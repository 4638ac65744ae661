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

/// A hex token written differently in every page (BREACH: a compressed page must
/// not repeat a secret byte for byte): a fresh random pad, then the token XORed
/// with it, both hex (twice as long). [`unmask_token`] gives the token back.
pub fn mask_token(token: &str) -> String {
    let Ok(bytes) = hex::decode(token) else {
        return token.to_owned();
    };
    let mut pad = vec![0u8; bytes.len()];
    rand::rngs::OsRng.fill_bytes(&mut pad);
    let masked: Vec<u8> = bytes.iter().zip(&pad).map(|(b, p)| b ^ p).collect();
    format!("{}{}", hex::encode(&pad), hex::encode(masked))
}

/// The token a [`mask_token`] output carries; a token sent unmasked is given back
/// as it is (it reveals nothing more than the masked one).
pub fn unmask_token(sent: &str) -> String {
    let Ok(bytes) = hex::decode(sent) else {
        return sent.to_owned();
    };
    if bytes.len() != 64 {
        return sent.to_owned();
    }
    let (pad, masked) = bytes.split_at(32);
    hex::encode(
        pad.iter()
            .zip(masked)
            .map(|(p, m)| p ^ m)
            .collect::<Vec<u8>>(),
    )
}

/// Constant-time equality of two secrets.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Keys every app server derives from the shared server secret, carried by the
/// database handle ([`crate::db::Db`]) so that domain code needs no secret of its
/// own: the key of the keyed hashes (throttling counters) and the Ed25519 key that
/// seals the journal's chain heads.
pub struct ServerKeys {
    hmac: Vec<u8>,
    seal: ed25519_dalek::SigningKey,
    /// First 16 hex digits of SHA-256 of the sealing public key.
    pub seal_key_id: String,
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKeys")
            .field("seal_key_id", &self.seal_key_id)
            .finish_non_exhaustive()
    }
}

impl ServerKeys {
    pub fn derive(secret: &str) -> ServerKeys {
        let seed: [u8; 32] = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
            Ok(mut mac) => {
                mac.update(b"relais/journal/heads/ed25519/v1");
                mac.finalize().into_bytes().into()
            }
            Err(_) => Sha256::digest(secret.as_bytes()).into(),
        };
        let seal = ed25519_dalek::SigningKey::from_bytes(&seed);
        let seal_key_id = hex::encode(Sha256::digest(seal.verifying_key().to_bytes()))
            .get(..16)
            .unwrap_or_default()
            .to_owned();
        ServerKeys {
            hmac: secret.as_bytes().to_vec(),
            seal,
            seal_key_id,
        }
    }

    /// [`keyed_hash`] with the server secret.
    pub fn keyed_hash(&self, text: &str) -> String {
        keyed_hash(&self.hmac, text)
    }

    /// Ed25519 signature of `payload`, base64url.
    pub fn seal(&self, payload: &str) -> String {
        use ed25519_dalek::Signer as _;
        data_encoding::BASE64URL_NOPAD.encode(&self.seal.sign(payload.as_bytes()).to_bytes())
    }

    /// Whether `signature` is this server key's seal of `payload`.
    pub fn seal_valid(&self, payload: &str, signature: &str) -> bool {
        use ed25519_dalek::Verifier as _;
        let Ok(bytes) = data_encoding::BASE64URL_NOPAD.decode(signature.as_bytes()) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes) else {
            return false;
        };
        self.seal
            .verifying_key()
            .verify(payload.as_bytes(), &sig)
            .is_ok()
    }
}

/// Constant-time equality of two byte strings.
pub fn ct_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_tokens_differ_every_time_and_unmask() {
        let token = random_token();
        let (a, b) = (mask_token(&token), mask_token(&token));
        assert_ne!(a, b);
        assert_eq!(a.len(), 128);
        assert!(!a.contains(&token[..16]));
        assert_eq!(unmask_token(&a), token);
        assert_eq!(unmask_token(&b), token);
        assert_eq!(unmask_token(&token), token, "unmasked: as it is");
        assert_ne!(unmask_token(&format!("{}00", &a[..126])), token);
    }
}
