//! FranceConnect: the usager's login, as an OpenID Connect client (v2 behaviour).
//!
//! - Discovery document and JWKS fetched and cached; the JWKS is fetched again once
//!   when a token names an unknown `kid` (key rotation).
//! - ID token and userinfo (a signed JWT) verified: signature (ES256 or RS256 only),
//!   `iss`, `aud`, `exp`, `iat` (≤ 60 s skew, injected clock), `nonce`, `acr`.
//! - The FranceConnect session is ended right after the identity is read
//!   ([`Client::logout_url`]).
//!
//! [`simulator`] is a local FranceConnect (development and tests).

pub mod http;
pub mod jose;
pub mod simulator;

use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde_json::Value;

use crate::config::Config;
use crate::mandats::Identity;
use http::{HttpClient, HttpError};

/// Clock skew accepted on `iat` and `exp`.
pub const SKEW: i64 = 60;
/// Algorithms FranceConnect v2 signs with.
const ALLOWED: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];
/// The discovery document is fetched again after this long.
const DISCOVERY_TTL: i64 = 3_600;

#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub end_session_endpoint: String,
    pub jwks_uri: String,
}

/// Why a FranceConnect login failed. Nothing is saved in any case.
#[derive(Debug, thiserror::Error)]
pub enum FcError {
    #[error("connexion annulée par l'usager ({0})")]
    Denied(String),
    #[error("FranceConnect indisponible : {0}")]
    Unavailable(String),
    #[error("réponse de FranceConnect refusée : {0}")]
    Invalid(String),
    #[error("donnée d'identité absente : {0}")]
    MissingClaim(&'static str),
}

impl FcError {
    /// What the aidant reads, in plain French, with what to do next.
    pub fn user_message(&self) -> String {
        match self {
            FcError::Denied(_) => "La connexion FranceConnect a été annulée. Aucun mandat n'a été créé. \
                 Recommencez quand la personne est prête à se connecter."
                .to_owned(),
            FcError::Unavailable(_) => "FranceConnect ne répond pas pour le moment. Aucun mandat n'a été créé. \
                 Réessayez dans quelques minutes ; si cela dure, utilisez un mandat papier et contactez le support."
                .to_owned(),
            FcError::Invalid(_) => "La réponse de FranceConnect n'a pas pu être vérifiée : par sécurité, elle a été \
                 refusée et aucun mandat n'a été créé. Recommencez la connexion ; si le problème continue, \
                 contactez le support."
                .to_owned(),
            FcError::MissingClaim(what) => format!(
                "FranceConnect n'a pas transmis {what} de la personne : aucun mandat n'a été créé. \
                 Recommencez la connexion ; si le problème continue, la personne doit compléter \
                 son compte auprès du service avec lequel elle se connecte."
            ),
        }
    }
}

impl From<HttpError> for FcError {
    fn from(e: HttpError) -> Self {
        FcError::Unavailable(e.to_string())
    }
}

/// The verified result of a login.
#[derive(Debug, Clone)]
pub struct Login {
    pub identity: Identity,
    /// The raw ID token, only to end the FranceConnect session (`id_token_hint`).
    pub id_token: String,
}

/// Whose sign-in: the aidant's mandate creation (the person in front of them) or
/// the usager's own (their space, a consent at a distance). Each has its redirect
/// and post-logout URIs, both registered at FranceConnect for the same client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Aidant,
    Usager,
}

pub struct Client {
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    post_logout_uri: String,
    usager_redirect_uri: String,
    usager_post_logout_uri: String,
    timeout: Duration,
    http: HttpClient,
    discovery: Mutex<Option<(Discovery, i64)>>,
    jwks: Mutex<Option<JwkSet>>,
    /// How many times the JWKS was fetched (tests read it to prove re-fetching).
    pub jwks_fetches: std::sync::atomic::AtomicU64,
}

impl Client {
    pub fn new(config: &Config, http: HttpClient) -> Client {
        Client {
            issuer: config.franceconnect_issuer(),
            client_id: config.fc_client_id.clone(),
            client_secret: config.fc_client_secret.clone(),
            redirect_uri: config.franceconnect_redirect_uri(),
            post_logout_uri: config.franceconnect_post_logout_uri(),
            usager_redirect_uri: config.franceconnect_usager_redirect_uri(),
            usager_post_logout_uri: config.franceconnect_usager_post_logout_uri(),
            timeout: Duration::from_millis(config.fc_timeout_ms),
            http,
            discovery: Mutex::new(None),
            jwks: Mutex::new(None),
            jwks_fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    async fn json(&self, url: &str) -> Result<Value, FcError> {
        let res = self.http.get(url, None, self.timeout).await?;
        if !res.status.is_success() {
            return Err(FcError::Unavailable(format!("{url} : {}", res.status)));
        }
        serde_json::from_slice(&res.body).map_err(|e| FcError::Invalid(format!("{url} : {e}")))
    }

    pub async fn discovery(&self, now: i64) -> Result<Discovery, FcError> {
        if let Ok(guard) = self.discovery.lock()
            && let Some((d, at)) = guard.as_ref()
            && now - at < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let d: Discovery = serde_json::from_value(self.json(&url).await?)
            .map_err(|e| FcError::Invalid(format!("découverte : {e}")))?;
        if d.issuer != self.issuer {
            return Err(FcError::Invalid(format!(
                "émetteur annoncé {} au lieu de {}",
                d.issuer, self.issuer
            )));
        }
        if let Ok(mut guard) = self.discovery.lock() {
            *guard = Some((d.clone(), now));
        }
        Ok(d)
    }

    async fn fetch_jwks(&self, d: &Discovery) -> Result<JwkSet, FcError> {
        self.jwks_fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let set: JwkSet = serde_json::from_value(self.json(&d.jwks_uri).await?)
            .map_err(|e| FcError::Invalid(format!("JWKS : {e}")))?;
        if let Ok(mut guard) = self.jwks.lock() {
            *guard = Some(set.clone());
        }
        Ok(set)
    }

    /// Verifies a signature with the cached JWKS, fetching it again once when the
    /// token names a key it does not have.
    async fn verified_claims(&self, d: &Discovery, token: &str) -> Result<Value, FcError> {
        let cached = self.jwks.lock().ok().and_then(|g| g.clone());
        let set = match cached {
            Some(s) => s,
            None => self.fetch_jwks(d).await?,
        };
        match jose::verify(token, &set, &ALLOWED) {
            Ok(c) => Ok(c),
            Err(jose::JoseError::UnknownKid(_)) => {
                let fresh = self.fetch_jwks(d).await?;
                jose::verify(token, &fresh, &ALLOWED).map_err(|e| FcError::Invalid(e.to_string()))
            }
            Err(e) => Err(FcError::Invalid(e.to_string())),
        }
    }

    fn redirect_for(&self, flow: Flow) -> &str {
        match flow {
            Flow::Aidant => &self.redirect_uri,
            Flow::Usager => &self.usager_redirect_uri,
        }
    }

    /// The authorization URL the usager's browser is sent to.
    pub async fn authorize_url(
        &self,
        flow: Flow,
        state: &str,
        nonce: &str,
        now: i64,
    ) -> Result<String, FcError> {
        let d = self.discovery(now).await?;
        let mut url = url::Url::parse(&d.authorization_endpoint)
            .map_err(|e| FcError::Invalid(format!("authorization_endpoint : {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", self.redirect_for(flow))
            .append_pair(
                "scope",
                "openid given_name family_name birthdate gender birthplace birthcountry email preferred_username",
            )
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("acr_values", "eidas1")
            .append_pair("prompt", "login");
        Ok(url.into())
    }

    /// Exchanges the code, verifies the ID token and the userinfo JWT, and returns
    /// the identity with the ID token (for the logout).
    pub async fn complete(
        &self,
        flow: Flow,
        code: &str,
        nonce: &str,
        callback_iss: Option<&str>,
        now: i64,
    ) -> Result<Login, FcError> {
        let d = self.discovery(now).await?;
        if let Some(iss) = callback_iss
            && iss != d.issuer
        {
            return Err(FcError::Invalid(format!("iss du retour : {iss}")));
        }
        let res = self
            .http
            .post_form(
                &d.token_endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", self.redirect_for(flow)),
                    ("client_id", &self.client_id),
                    ("client_secret", &self.client_secret),
                ],
                self.timeout,
            )
            .await?;
        if res.status.is_server_error() {
            return Err(FcError::Unavailable(format!("jeton : {}", res.status)));
        }
        if !res.status.is_success() {
            return Err(FcError::Invalid(format!(
                "jeton : {} {}",
                res.status,
                String::from_utf8_lossy(&res.body)
            )));
        }
        let tokens: Value = serde_json::from_slice(&res.body)
            .map_err(|e| FcError::Invalid(format!("réponse du jeton : {e}")))?;
        let id_token = tokens
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| FcError::Invalid("id_token absent".into()))?
            .to_owned();
        let access_token = tokens
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| FcError::Invalid("access_token absent".into()))?
            .to_owned();
        let claims = self.verified_claims(&d, &id_token).await?;
        self.check_common(&d, &claims, now)?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(FcError::Invalid("nonce différent".into()));
        }
        if claims.get("acr").and_then(Value::as_str) != Some("eidas1") {
            return Err(FcError::Invalid("acr différent de eidas1".into()));
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| FcError::Invalid("sub absent".into()))?
            .to_owned();

        let res = self
            .http
            .get(&d.userinfo_endpoint, Some(&access_token), self.timeout)
            .await?;
        if res.status.is_server_error() {
            return Err(FcError::Unavailable(format!("userinfo : {}", res.status)));
        }
        if !res.status.is_success() {
            return Err(FcError::Invalid(format!("userinfo : {}", res.status)));
        }
        if !res.content_type.starts_with("application/jwt") {
            return Err(FcError::Invalid(format!(
                "userinfo au format {} au lieu de application/jwt",
                res.content_type
            )));
        }
        let jwt = String::from_utf8_lossy(&res.body).trim().to_owned();
        let info = self.verified_claims(&d, &jwt).await?;
        if info.get("iss").and_then(Value::as_str) != Some(d.issuer.as_str()) {
            return Err(FcError::Invalid("iss de userinfo".into()));
        }
        if !audience_is(&info, &self.client_id) {
            return Err(FcError::Invalid("aud de userinfo".into()));
        }
        if info.get("sub").and_then(Value::as_str) != Some(sub.as_str()) {
            return Err(FcError::Invalid(
                "sub de userinfo différent de l'ID token".into(),
            ));
        }
        let identity = identity_from(&info, &sub)?;
        Ok(Login { identity, id_token })
    }

    fn check_common(&self, d: &Discovery, claims: &Value, now: i64) -> Result<(), FcError> {
        if claims.get("iss").and_then(Value::as_str) != Some(d.issuer.as_str()) {
            return Err(FcError::Invalid("iss différent".into()));
        }
        if !audience_is(claims, &self.client_id) {
            return Err(FcError::Invalid("aud différent".into()));
        }
        let exp = claims.get("exp").and_then(Value::as_i64);
        let iat = claims.get("iat").and_then(Value::as_i64);
        match (exp, iat) {
            (Some(exp), Some(iat)) => {
                if exp + SKEW < now {
                    return Err(FcError::Invalid(format!(
                        "jeton expiré (exp {exp}, maintenant {now})"
                    )));
                }
                if iat - SKEW > now {
                    return Err(FcError::Invalid("iat dans le futur".into()));
                }
                Ok(())
            }
            _ => Err(FcError::Invalid("exp ou iat absent".into())),
        }
    }

    /// Where to send the browser to end the FranceConnect session.
    pub async fn logout_url(
        &self,
        flow: Flow,
        id_token: &str,
        state: &str,
        now: i64,
    ) -> Result<String, FcError> {
        let d = self.discovery(now).await?;
        let mut url = url::Url::parse(&d.end_session_endpoint)
            .map_err(|e| FcError::Invalid(format!("end_session_endpoint : {e}")))?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("state", state)
            .append_pair(
                "post_logout_redirect_uri",
                match flow {
                    Flow::Aidant => &self.post_logout_uri,
                    Flow::Usager => &self.usager_post_logout_uri,
                },
            );
        Ok(url.into())
    }

    /// The configured redirect URI (to compare with what a callback says).
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }
}

fn audience_is(claims: &Value, client_id: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    }
}

/// Reads the identity claims; `birthplace` may be empty (born abroad), the others
/// are required, except `email` and `preferred_username`.
fn identity_from(info: &Value, sub: &str) -> Result<Identity, FcError> {
    let get = |name: &str| info.get(name).and_then(Value::as_str).map(str::trim);
    let required = |name: &'static str, what: &'static str| {
        get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or(FcError::MissingClaim(what))
    };
    let given_name = required("given_name", "les prénoms")?;
    let family_name = required("family_name", "le nom de naissance")?;
    let birthdate = required("birthdate", "la date de naissance")?;
    let gender = required("gender", "le sexe")?;
    let birthcountry = required("birthcountry", "le pays de naissance")?;
    let birthplace = get("birthplace")
        .map(str::to_owned)
        .ok_or(FcError::MissingClaim("le lieu de naissance"))?;
    if birthdate.len() != 10 || crate::time_fr::parse_date(&birthdate).is_none() {
        return Err(FcError::Invalid(format!(
            "date de naissance illisible : {birthdate}"
        )));
    }
    Ok(Identity {
        sub_hash: crate::crypto::sha256_hex(sub),
        given_name,
        family_name,
        preferred_username: get("preferred_username").unwrap_or("").to_owned(),
        birthdate,
        gender,
        birthplace,
        birthcountry,
        email: get("email").unwrap_or("").to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_may_be_a_list() {
        assert!(audience_is(&serde_json::json!({ "aud": "a" }), "a"));
        assert!(audience_is(&serde_json::json!({ "aud": ["b", "a"] }), "a"));
        assert!(!audience_is(&serde_json::json!({ "aud": ["b"] }), "a"));
        assert!(!audience_is(&serde_json::json!({}), "a"));
    }

    #[test]
    fn identity_claims() {
        let full = serde_json::json!({
            "given_name": "Van An", "family_name": "NGUYEN", "birthdate": "1975-06-30",
            "gender": "male", "birthplace": "", "birthcountry": "99243",
        });
        let id = identity_from(&full, "abc").unwrap();
        assert_eq!(id.birthplace, "", "born abroad: empty birthplace accepted");
        assert_eq!(id.sub_hash, crate::crypto::sha256_hex("abc"));
        let mut missing = full.clone();
        missing.as_object_mut().unwrap().remove("birthplace");
        assert!(matches!(
            identity_from(&missing, "abc"),
            Err(FcError::MissingClaim("le lieu de naissance"))
        ));
        let mut bad = full;
        bad["birthdate"] = serde_json::json!("1975-02-30");
        assert!(matches!(
            identity_from(&bad, "abc"),
            Err(FcError::Invalid(_))
        ));
    }
}
