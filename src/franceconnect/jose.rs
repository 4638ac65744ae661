//! Signed JSON Web Tokens with published keys (JWKS): signing keys loaded from PEM
//! (ES256 on P-256, RS256), their public JWK, and verification against a key set
//! chosen by `kid` with an explicit list of allowed algorithms. Time claims are
//! checked by the callers with the injected clock, never by the library.

use std::collections::HashSet;

use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum JoseError {
    #[error("clé illisible : {0}")]
    Key(String),
    #[error("jeton illisible")]
    Malformed,
    #[error("algorithme non autorisé : {0:?}")]
    Algorithm(Algorithm),
    #[error("clé inconnue (kid {0})")]
    UnknownKid(String),
    #[error("signature invalide")]
    Signature,
}

/// A private signing key and its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    /// ES256 keys sign directly with a parsed key: jsonwebtoken re-reads the DER key
    /// (and recomputes the public point) at every signature.
    es256: Option<p256::ecdsa::SigningKey>,
    /// The JWS header, encoded once.
    header_b64: String,
    pub jwk: Value,
}

impl SigningKey {
    /// Loads a PKCS#8 PEM key: P-256 (ES256) or RSA (RS256). The `kid` is derived
    /// from the public key (RFC 7638 thumbprint), so it changes only with the key.
    pub fn from_pem(pem: &str) -> Result<SigningKey, JoseError> {
        if let Ok(sk) = <p256::SecretKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_pem(pem) {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            let point = sk.public_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(JoseError::Key("point P-256".into()));
            };
            let x = BASE64URL_NOPAD.encode(x);
            let y = BASE64URL_NOPAD.encode(y);
            let thumb = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
            let kid = BASE64URL_NOPAD.encode(&Sha256::digest(thumb.as_bytes()));
            let encoding = EncodingKey::from_ec_pem(pem.as_bytes())
                .map_err(|e| JoseError::Key(e.to_string()))?;
            let jwk = serde_json::json!({
                "kty": "EC", "crv": "P-256", "x": x, "y": y,
                "kid": kid, "alg": "ES256", "use": "sig",
            });
            return Ok(SigningKey {
                header_b64: header_b64(Algorithm::ES256, &kid),
                kid,
                alg: Algorithm::ES256,
                encoding,
                es256: Some(p256::ecdsa::SigningKey::from(&sk)),
                jwk,
            });
        }
        let rsa = <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(pem)
            .map_err(|e| JoseError::Key(e.to_string()))?;
        use rsa::traits::PublicKeyParts;
        let n = BASE64URL_NOPAD.encode(&rsa.n().to_bytes_be());
        let e = BASE64URL_NOPAD.encode(&rsa.e().to_bytes_be());
        let thumb = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = BASE64URL_NOPAD.encode(&Sha256::digest(thumb.as_bytes()));
        let encoding =
            EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| JoseError::Key(e.to_string()))?;
        let jwk = serde_json::json!({
            "kty": "RSA", "n": n, "e": e, "kid": kid, "alg": "RS256", "use": "sig",
        });
        Ok(SigningKey {
            header_b64: header_b64(Algorithm::RS256, &kid),
            kid,
            alg: Algorithm::RS256,
            encoding,
            es256: None,
            jwk,
        })
    }

    /// Signs claims as a compact JWS with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> Result<String, JoseError> {
        if let Some(key) = &self.es256 {
            use p256::ecdsa::signature::Signer as _;
            let payload = serde_json::to_vec(claims).map_err(|_| JoseError::Malformed)?;
            let mut out =
                String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 100);
            out.push_str(&self.header_b64);
            out.push('.');
            out.push_str(&BASE64URL_NOPAD.encode(&payload));
            let signature: p256::ecdsa::Signature = key.sign(out.as_bytes());
            out.push('.');
            out.push_str(&BASE64URL_NOPAD.encode(&signature.to_bytes()));
            return Ok(out);
        }
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|_| JoseError::Malformed)
    }
}

/// The encoded JWS header `{"typ":"JWT","alg":…,"kid":…}`.
fn header_b64(alg: Algorithm, kid: &str) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_owned());
    let json = serde_json::to_vec(&h).unwrap_or_default();
    BASE64URL_NOPAD.encode(&json)
}

/// A JWKS document of public keys.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    serde_json::json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

/// The `kid` and `alg` of a token's header.
pub fn header(token: &str) -> Result<(Option<String>, Algorithm), JoseError> {
    let h = jsonwebtoken::decode_header(token).map_err(|_| JoseError::Malformed)?;
    Ok((h.kid, h.alg))
}

/// Verifies the signature of `token` with the key of `set` named by its `kid`,
/// refusing algorithms outside `allowed`; returns the claims unchecked otherwise.
pub fn verify(token: &str, set: &JwkSet, allowed: &[Algorithm]) -> Result<Value, JoseError> {
    let (kid, alg) = header(token)?;
    if !allowed.contains(&alg) {
        return Err(JoseError::Algorithm(alg));
    }
    let kid = kid.unwrap_or_default();
    let jwk = set
        .keys
        .iter()
        .find(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
        .ok_or_else(|| JoseError::UnknownKid(kid.clone()))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| JoseError::Key(e.to_string()))?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|_| JoseError::Signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = include_str!("../../fixtures/franceconnect/es256.pem");
    const RSA: &str = include_str!("../../fixtures/franceconnect/rs256.pem");

    fn set(keys: &[&SigningKey]) -> JwkSet {
        serde_json::from_value(jwks(keys)).unwrap()
    }

    #[test]
    fn signs_and_verifies_es256_and_rs256() {
        for pem in [PEM, RSA] {
            let k = SigningKey::from_pem(pem).unwrap();
            let t = k.sign(&serde_json::json!({ "sub": "x" })).unwrap();
            let claims = verify(&t, &set(&[&k]), &[Algorithm::ES256, Algorithm::RS256]).unwrap();
            assert_eq!(claims["sub"], "x");
        }
    }

    #[test]
    fn refuses_other_algorithms_unknown_keys_and_bad_signatures() {
        let k = SigningKey::from_pem(PEM).unwrap();
        let keys = set(&[&k]);
        // HS256 signed with the public key as secret (the classic confusion attack).
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(k.kid.clone());
        let hs = jsonwebtoken::encode(
            &h,
            &serde_json::json!({ "sub": "x" }),
            &EncodingKey::from_secret(k.jwk.to_string().as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            verify(&hs, &keys, &[Algorithm::ES256]),
            Err(JoseError::Algorithm(Algorithm::HS256))
        ));
        // alg "none" is not even a token here.
        let none = format!(
            "{}.{}.",
            BASE64URL_NOPAD.encode(br#"{"alg":"none","kid":"x"}"#),
            BASE64URL_NOPAD.encode(br#"{"sub":"x"}"#)
        );
        assert!(verify(&none, &keys, &[Algorithm::ES256]).is_err());
        let rsa = SigningKey::from_pem(RSA).unwrap();
        let t = rsa.sign(&serde_json::json!({ "sub": "x" })).unwrap();
        assert!(matches!(
            verify(&t, &keys, &[Algorithm::RS256]),
            Err(JoseError::UnknownKid(_))
        ));
        let good = k.sign(&serde_json::json!({ "sub": "x" })).unwrap();
        let (head, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = format!("{head}.{}.{sig}", BASE64URL_NOPAD.encode(br#"{"sub":"y"}"#));
        assert!(matches!(
            verify(&forged, &keys, &[Algorithm::ES256]),
            Err(JoseError::Signature)
        ));
    }
}
