//! A local FranceConnect (development and tests only; refused in production): a real
//! OpenID Connect provider with persistent development keys (ES256 and RS256, in
//! `fixtures/franceconnect/`), discovery, JWKS, a strict `authorize`, an identity
//! picker fed from `fixtures/franceconnect/identites.json`, a custom-identity form,
//! pairwise `sub`, single-use 30 s codes, 60 s access tokens, userinfo as a signed
//! JWT, and `session/end` requiring `id_token_hint`.
//!
//! Failure scenarios, chosen per login: see [`Scenario`]. Codes and tokens live in
//! the database (`fc_simulateur`, migration 0015): every server of a cluster shows
//! the picker, exchanges a code or answers userinfo alike.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use serde_json::{Value, json};

use super::jose::{self, SigningKey};
use crate::config::{Config, SIMULATOR_PREFIX};
use crate::crypto;
use crate::db::Db;

pub const CODE_TTL: i64 = 30;
pub const ACCESS_TOKEN_TTL: i64 = 60;
pub const ID_TOKEN_TTL: i64 = 60;

const KEY_ES256: &str = include_str!("../../fixtures/franceconnect/es256.pem");
const KEY_ES256_NEXT: &str = include_str!("../../fixtures/franceconnect/es256-suivante.pem");
const KEY_ES256_UNKNOWN: &str = include_str!("../../fixtures/franceconnect/es256-inconnue.pem");
const KEY_RS256: &str = include_str!("../../fixtures/franceconnect/rs256.pem");
const IDENTITIES: &str = include_str!("../../fixtures/franceconnect/identites.json");

/// What the simulated FranceConnect does wrong (or right) for one login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Normal,
    Rs256,
    AccessDenied,
    WrongNonce,
    BadSignature,
    Expired,
    KeyRotation,
    UnknownKid,
    ServerError,
    Slow,
    MissingClaim,
}

impl Scenario {
    pub const ALL: [Scenario; 11] = [
        Scenario::Normal,
        Scenario::Rs256,
        Scenario::AccessDenied,
        Scenario::WrongNonce,
        Scenario::BadSignature,
        Scenario::Expired,
        Scenario::KeyRotation,
        Scenario::UnknownKid,
        Scenario::ServerError,
        Scenario::Slow,
        Scenario::MissingClaim,
    ];
    pub fn key(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::Rs256 => "rs256",
            Scenario::AccessDenied => "refus",
            Scenario::WrongNonce => "nonce-faux",
            Scenario::BadSignature => "signature-fausse",
            Scenario::Expired => "jeton-expire",
            Scenario::KeyRotation => "rotation-cle",
            Scenario::UnknownKid => "cle-inconnue",
            Scenario::ServerError => "erreur-500",
            Scenario::Slow => "lent-5s",
            Scenario::MissingClaim => "donnee-absente",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Scenario::Normal => "Connexion normale (ES256)",
            Scenario::Rs256 => "Connexion normale, jetons signés en RS256",
            Scenario::AccessDenied => "La personne annule (access_denied)",
            Scenario::WrongNonce => "ID token avec un mauvais nonce",
            Scenario::BadSignature => "ID token à la signature invalide",
            Scenario::Expired => "ID token expiré",
            Scenario::KeyRotation => {
                "Rotation de clé : nouvelle clé publiée, à relire dans le JWKS"
            }
            Scenario::UnknownKid => "Jeton signé par une clé jamais publiée",
            Scenario::ServerError => "Erreur 500 au point d'accès jeton",
            Scenario::Slow => "Réponse du point d'accès jeton après 5 secondes",
            Scenario::MissingClaim => "Date de naissance absente de userinfo",
        }
    }
    pub fn parse(raw: &str) -> Scenario {
        Self::ALL
            .into_iter()
            .find(|s| s.key() == raw)
            .unwrap_or(Scenario::Normal)
    }
}

/// An identity offered by the picker.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct SimIdentity {
    pub id: String,
    pub given_name: String,
    pub family_name: String,
    pub preferred_username: String,
    pub birthdate: String,
    pub gender: String,
    pub birthplace: String,
    pub birthcountry: String,
    pub email: String,
    #[serde(default)]
    pub note: String,
}

impl SimIdentity {
    pub fn display(&self) -> String {
        crate::mandats::display_name(
            &self.given_name,
            &self.family_name,
            &self.preferred_username,
            &self.gender,
        )
    }
    pub fn birthdate_fr(&self) -> String {
        crate::mandats::birthdate_fr(&self.birthdate)
    }
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: String,
    pub nonce: String,
    /// The query string as received, carried by the picker form.
    pub raw: String,
}

#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// Shown as a page: the redirect URI is not trusted yet.
    Page(String),
    /// Sent back to the client.
    Redirect(String),
}

/// What a code was given for, kept with it in the database (`fc_simulateur`) so
/// that every server of a cluster can exchange it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    nonce: String,
    scopes: Vec<String>,
    identity: SimIdentity,
    /// [`Scenario::key`].
    scenario: String,
    auth_time: i64,
}

impl Grant {
    fn scenario(&self) -> Scenario {
        Scenario::parse(&self.scenario)
    }
}

fn server_error<E>(_: E) -> (u16, &'static str) {
    (500, "server_error")
}

pub struct Simulator {
    pub issuer: String,
    client_id: String,
    client_secret: String,
    redirect_uris: Vec<String>,
    post_logout_uris: Vec<String>,
    es256: SigningKey,
    es256_next: SigningKey,
    es256_unknown: SigningKey,
    rs256: SigningKey,
    rotated: AtomicBool,
    pub identities: Vec<SimIdentity>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("clés ou identités du simulateur illisibles : {0}")]
    Fixture(String),
}

const ALLOWED_PARAMS: [&str; 9] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "acr_values",
    "prompt",
    "claims",
];

const KNOWN_SCOPES: [&str; 12] = [
    "openid",
    "profile",
    "email",
    "birth",
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "preferred_username",
    "identite_pivot",
];

impl Simulator {
    pub fn new(config: &Config) -> Result<Simulator, SimError> {
        let key = |pem| SigningKey::from_pem(pem).map_err(|e| SimError::Fixture(e.to_string()));
        let identities: Vec<SimIdentity> =
            serde_json::from_str(IDENTITIES).map_err(|e| SimError::Fixture(e.to_string()))?;
        Ok(Simulator {
            issuer: format!("{}{SIMULATOR_PREFIX}/api/v2", config.public_url()),
            client_id: config.fc_client_id.clone(),
            client_secret: config.fc_client_secret.clone(),
            redirect_uris: vec![
                config.franceconnect_redirect_uri(),
                config.franceconnect_usager_redirect_uri(),
            ],
            post_logout_uris: vec![
                config.franceconnect_post_logout_uri(),
                config.franceconnect_usager_post_logout_uri(),
            ],
            es256: key(KEY_ES256)?,
            es256_next: key(KEY_ES256_NEXT)?,
            es256_unknown: key(KEY_ES256_UNKNOWN)?,
            rs256: key(KEY_RS256)?,
            rotated: AtomicBool::new(false),
            identities,
        })
    }

    pub fn discovery(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "userinfo_endpoint": format!("{i}/userinfo"),
            "end_session_endpoint": format!("{i}/session/end"),
            "jwks_uri": format!("{i}/jwks"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            "userinfo_signing_alg_values_supported": ["ES256", "RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "acr_values_supported": ["eidas1"],
            "scopes_supported": KNOWN_SCOPES,
            "claims_supported": ["sub", "given_name", "family_name", "birthdate", "gender",
                "birthplace", "birthcountry", "email", "preferred_username"],
        })
    }

    pub fn jwks(&self) -> Value {
        if self.rotated.load(Ordering::SeqCst) {
            jose::jwks(&[&self.es256, &self.rs256, &self.es256_next])
        } else {
            jose::jwks(&[&self.es256, &self.rs256])
        }
    }

    /// FranceConnect's strict validation of an authorization request.
    pub fn validate_authorize(&self, raw_query: &str) -> Result<AuthorizeRequest, AuthorizeError> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        for (k, _) in &pairs {
            if !ALLOWED_PARAMS.contains(&k.as_str()) {
                return Err(AuthorizeError::Page(format!("paramètre inconnu : {k}")));
            }
            if seen.contains(&k.as_str()) {
                return Err(AuthorizeError::Page(format!("paramètre en double : {k}")));
            }
            seen.push(k);
        }
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let client_id = get("client_id").unwrap_or("");
        if client_id != self.client_id {
            return Err(AuthorizeError::Page("client_id inconnu".into()));
        }
        let redirect_uri = get("redirect_uri").unwrap_or("");
        if !self.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(AuthorizeError::Page(
                "redirect_uri absente ou non enregistrée pour ce client".into(),
            ));
        }
        let state = get("state").unwrap_or("");
        let back = |error: &str, description: &str| {
            let mut u = url::Url::parse(redirect_uri).ok();
            if let Some(u) = u.as_mut() {
                u.query_pairs_mut()
                    .append_pair("error", error)
                    .append_pair("error_description", description);
                if !state.is_empty() {
                    u.query_pairs_mut().append_pair("state", state);
                }
            }
            AuthorizeError::Redirect(u.map(String::from).unwrap_or_default())
        };
        if get("response_type") != Some("code") {
            return Err(back(
                "unsupported_response_type",
                "response_type=code attendu",
            ));
        }
        if state.is_empty() {
            return Err(back("invalid_request", "state requis"));
        }
        let nonce = get("nonce").unwrap_or("");
        if nonce.chars().count() < 22 {
            return Err(back(
                "invalid_request",
                "nonce requis (22 caractères au moins)",
            ));
        }
        if get("acr_values") != Some("eidas1") {
            return Err(back("invalid_request", "acr_values=eidas1 attendu"));
        }
        let scopes: Vec<String> = get("scope")
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if !scopes.iter().any(|s| s == "openid") {
            return Err(back("invalid_scope", "le scope openid est requis"));
        }
        if let Some(bad) = scopes.iter().find(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
            return Err(back("invalid_scope", &format!("scope inconnu : {bad}")));
        }
        Ok(AuthorizeRequest {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state: state.to_owned(),
            nonce: nonce.to_owned(),
            raw: raw_query.to_owned(),
        })
    }

    /// The redirect after the picker: a code, or `access_denied`.
    pub async fn choose(
        &self,
        db: &Db,
        req: &AuthorizeRequest,
        identity: SimIdentity,
        scenario: Scenario,
        now: i64,
    ) -> Result<String, crate::db::Error> {
        let mut u = match url::Url::parse(&req.redirect_uri) {
            Ok(u) => u,
            Err(_) => return Ok("/".to_owned()),
        };
        if scenario == Scenario::AccessDenied {
            u.query_pairs_mut()
                .append_pair("error", "access_denied")
                .append_pair("error_description", "L'usager a annulé la connexion")
                .append_pair("state", &req.state);
            return Ok(u.into());
        }
        let code = crypto::random_token();
        let grant = Grant {
            client_id: req.client_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            nonce: req.nonce.clone(),
            scopes: req.scopes.clone(),
            identity,
            scenario: scenario.key().to_owned(),
            auth_time: now,
        };
        let grant_json = serde_json::to_string(&grant).map_err(crate::db::Error::data)?;
        // What is an hour past its end goes first.
        db.execute(
            "DELETE FROM fc_simulateur
             WHERE expires_at < $1 AND (token_expires_at IS NULL OR token_expires_at < $1)",
            crate::args![now - 3_600],
        )
        .await?;
        db.execute(
            "INSERT INTO fc_simulateur (code_hash, grant_json, expires_at) VALUES ($1, $2, $3)",
            crate::args![crypto::sha256_hex(&code), grant_json, now + CODE_TTL],
        )
        .await?;
        u.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &req.state)
            .append_pair("iss", &self.issuer);
        Ok(u.into())
    }

    /// The grant of a code (`None`: unknown), with its expiry and whether it
    /// was used.
    async fn grant_of(
        db: &Db,
        code_hash: &str,
    ) -> Result<Option<(Grant, i64, bool)>, crate::db::Error> {
        let Some(r) = db
            .fetch_optional(
                "SELECT grant_json, expires_at, used_at FROM fc_simulateur WHERE code_hash = $1",
                crate::args![code_hash],
            )
            .await?
        else {
            return Ok(None);
        };
        let grant: Grant =
            serde_json::from_str(&r.text("grant_json")?).map_err(crate::db::Error::data)?;
        Ok(Some((
            grant,
            r.int("expires_at")?,
            r.opt_int("used_at")?.is_some(),
        )))
    }

    fn pairwise_sub(&self, client_id: &str, identity: &SimIdentity) -> String {
        format!(
            "{}v1",
            crypto::sha256_hex(&format!("simulateur:{client_id}:{}", identity.id))
        )
    }

    fn key_for(&self, scenario: Scenario) -> &SigningKey {
        match scenario {
            Scenario::Rs256 => &self.rs256,
            Scenario::KeyRotation => {
                self.rotated.store(true, Ordering::SeqCst);
                &self.es256_next
            }
            Scenario::UnknownKid => &self.es256_unknown,
            _ => &self.es256,
        }
    }

    /// Whether this login's token endpoint must answer slowly (the handler sleeps).
    pub async fn is_slow(&self, db: &Db, code: &str) -> bool {
        matches!(
            Self::grant_of(db, &crypto::sha256_hex(code)).await,
            Ok(Some((g, _, _))) if g.scenario() == Scenario::Slow
        )
    }

    /// The token endpoint (`client_secret_post`). `Err((status, error))`.
    pub async fn token(
        &self,
        db: &Db,
        form: &[(String, String)],
        now: i64,
    ) -> Result<Value, (u16, &'static str)> {
        let get = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        if get("client_id") != self.client_id
            || !crypto::ct_eq(get("client_secret"), &self.client_secret)
        {
            return Err((401, "invalid_client"));
        }
        if get("grant_type") != "authorization_code" {
            return Err((400, "unsupported_grant_type"));
        }
        let code_hash = crypto::sha256_hex(get("code"));
        // A code used twice revokes what was issued from it.
        let revoke = || async {
            db.execute(
                "UPDATE fc_simulateur SET token_hash = NULL WHERE code_hash = $1",
                crate::args![&code_hash],
            )
            .await
            .map_err(server_error)?;
            Err((400, "invalid_grant"))
        };
        let Some((g, expires_at, used)) =
            Self::grant_of(db, &code_hash).await.map_err(server_error)?
        else {
            return Err((400, "invalid_grant"));
        };
        if used {
            return revoke().await;
        }
        if expires_at <= now
            || g.client_id != get("client_id")
            || g.redirect_uri != get("redirect_uri")
        {
            return Err((400, "invalid_grant"));
        }
        if g.scenario() == Scenario::ServerError {
            return Err((500, "server_error"));
        }
        // One atomic update: two servers given the same code issue one token.
        let access = crypto::random_token();
        let marked = db
            .execute(
                "UPDATE fc_simulateur SET used_at = $1, token_hash = $2, token_expires_at = $3
                 WHERE code_hash = $4 AND used_at IS NULL",
                crate::args![
                    now,
                    crypto::sha256_hex(&access),
                    now + ACCESS_TOKEN_TTL,
                    &code_hash
                ],
            )
            .await
            .map_err(server_error)?;
        if marked != 1 {
            return revoke().await;
        }
        let (iat, exp) = if g.scenario() == Scenario::Expired {
            (now - 3_600, now - 1_800)
        } else {
            (now, now + ID_TOKEN_TTL)
        };
        let nonce = if g.scenario() == Scenario::WrongNonce {
            format!("autre-{}", g.nonce)
        } else {
            g.nonce.clone()
        };
        let claims = json!({
            "iss": self.issuer,
            "sub": self.pairwise_sub(&g.client_id, &g.identity),
            "aud": g.client_id,
            "exp": exp,
            "iat": iat,
            "auth_time": g.auth_time,
            "nonce": nonce,
            "acr": "eidas1",
            "amr": ["pwd"],
        });
        let key = self.key_for(g.scenario());
        let mut id_token = key.sign(&claims).map_err(|_| (500, "server_error"))?;
        if g.scenario() == Scenario::BadSignature {
            id_token = corrupt(&id_token);
        }
        Ok(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL,
            "id_token": id_token,
            "scope": g.scopes.join(" "),
        }))
    }

    /// The userinfo endpoint: a signed JWT of the claims the scopes allow.
    pub async fn userinfo(
        &self,
        db: &Db,
        bearer: &str,
        now: i64,
    ) -> Result<String, (u16, &'static str)> {
        let row = db
            .fetch_optional(
                "SELECT grant_json, token_expires_at FROM fc_simulateur WHERE token_hash = $1",
                crate::args![crypto::sha256_hex(bearer)],
            )
            .await
            .map_err(server_error)?
            .ok_or((401, "invalid_token"))?;
        if row
            .opt_int("token_expires_at")
            .map_err(server_error)?
            .unwrap_or(0)
            <= now
        {
            return Err((401, "invalid_token"));
        }
        let g: Grant = serde_json::from_str(&row.text("grant_json").map_err(server_error)?)
            .map_err(server_error)?;
        let id = &g.identity;
        let has = |scope: &str, group: &str| g.scopes.iter().any(|s| s == scope || s == group);
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(g.client_id));
        claims.insert("sub".into(), json!(self.pairwise_sub(&g.client_id, id)));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ACCESS_TOKEN_TTL));
        let fields = [
            ("given_name", "profile", &id.given_name),
            ("family_name", "profile", &id.family_name),
            ("preferred_username", "profile", &id.preferred_username),
            ("birthdate", "profile", &id.birthdate),
            ("gender", "profile", &id.gender),
            ("birthplace", "birth", &id.birthplace),
            ("birthcountry", "birth", &id.birthcountry),
            ("email", "email", &id.email),
        ];
        for (name, group, value) in fields {
            if has(name, group) && !(g.scenario() == Scenario::MissingClaim && name == "birthdate")
            {
                claims.insert(name.into(), json!(value));
            }
        }
        let key = self.key_for(g.scenario());
        key.sign(&Value::Object(claims))
            .map_err(|_| (500, "server_error"))
    }

    /// `session/end`: checks the hint (our own signature and issuer), the
    /// registered post-logout URI and the `state`; returns where to go.
    pub fn end_session(&self, raw_query: &str) -> Result<String, String> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let hint = get("id_token_hint");
        if hint.is_empty() {
            return Err("id_token_hint est requis".into());
        }
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(jose::jwks(&[&self.es256, &self.rs256, &self.es256_next]))
                .map_err(|e| e.to_string())?;
        let claims = jose::verify(
            hint,
            &set,
            &[
                jsonwebtoken::Algorithm::ES256,
                jsonwebtoken::Algorithm::RS256,
            ],
        )
        .map_err(|_| "id_token_hint invalide".to_owned())?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err("id_token_hint d'un autre émetteur".into());
        }
        let target = get("post_logout_redirect_uri");
        if !self.post_logout_uris.iter().any(|u| u == target) {
            return Err("post_logout_redirect_uri non enregistrée".into());
        }
        let state = get("state");
        if state.is_empty() {
            return Err("state est requis".into());
        }
        let mut u = url::Url::parse(target).map_err(|e| e.to_string())?;
        u.query_pairs_mut().append_pair("state", state);
        Ok(u.into())
    }
}

/// Changes one character in the middle of a JWS signature (all of its bits count,
/// unlike the last character's).
fn corrupt(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    if let Some(c) = chars.len().checked_sub(20).and_then(|i| chars.get_mut(i)) {
        *c = if *c == 'A' { 'B' } else { 'A' };
    }
    chars.into_iter().collect()
}

/// Checks and builds a custom identity typed in the simulator's form.
pub fn custom_identity(
    f: &CustomIdentity,
) -> Result<SimIdentity, Vec<(&'static str, &'static str)>> {
    let mut errors = Vec::new();
    let t = |s: &str| s.trim().to_owned();
    let given = t(&f.given_name);
    let family = t(&f.family_name);
    if given.is_empty() || given.chars().count() > 100 {
        errors.push((
            "given_name",
            "Saisissez les prénoms (100 caractères au plus).",
        ));
    }
    if family.is_empty() || family.chars().count() > 100 {
        errors.push((
            "family_name",
            "Saisissez le nom de naissance (100 caractères au plus).",
        ));
    }
    if crate::time_fr::parse_date(&f.birthdate).is_none() {
        errors.push(("birthdate", "Saisissez une date de naissance valide."));
    }
    if !matches!(f.gender.as_str(), "female" | "male") {
        errors.push(("gender", "Choisissez le sexe."));
    }
    let place = t(&f.birthplace);
    if !(place.is_empty() || crate::domain::InseeCode::parse(&place).is_ok()) {
        errors.push((
            "birthplace",
            "Le lieu de naissance est un code INSEE de 5 caractères, ou vide pour une naissance à l'étranger.",
        ));
    }
    let country = t(&f.birthcountry);
    if country.len() != 5 || !country.bytes().all(|b| b.is_ascii_digit()) {
        errors.push((
            "birthcountry",
            "Le pays de naissance est un code INSEE de 5 chiffres (99100 pour la France).",
        ));
    }
    if !f.email.trim().is_empty() && crate::domain::Email::parse(&f.email).is_err() {
        errors.push(("email", "Cette adresse e-mail n'est pas valide."));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let id = crypto::sha256_hex(&format!("{given}|{family}|{}|{place}", f.birthdate.trim()));
    Ok(SimIdentity {
        id: format!("perso-{}", id.get(..16).unwrap_or_default()),
        given_name: given,
        family_name: family.to_uppercase(),
        preferred_username: t(&f.preferred_username).to_uppercase(),
        birthdate: f.birthdate.trim().to_owned(),
        gender: f.gender.clone(),
        birthplace: place,
        birthcountry: country,
        email: f.email.trim().to_lowercase(),
        note: "Identité personnalisée".into(),
    })
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct CustomIdentity {
    pub given_name: String,
    pub family_name: String,
    pub preferred_username: String,
    pub birthdate: String,
    pub gender: String,
    pub birthplace: String,
    pub birthcountry: String,
    pub email: String,
}
