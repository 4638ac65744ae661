//! Relais as an OpenID Connect identity provider that FranceConnect federates: an
//! aidant logs into an online public service as "aidant X of structure S, acting for
//! usager Y, for démarche D".
//!
//! - [`validate_authorize`]: strict request checks; errors go back through the
//!   redirect only once `redirect_uri` is validated.
//! - [`issue_code`]: ≥ 256-bit code, hashed at rest, single use, 60 s, bound to the
//!   client, `redirect_uri`, `nonce` and PKCE challenge; the `utilisation_autorisation`
//!   journal entry is written in the same transaction.
//! - [`exchange`] (token endpoint) and [`userinfo`]: a second use of a code revokes
//!   what it issued; an autorisation revoked or expired meanwhile is refused.
//! - [`keys`]: ES256 signing keys with rotation.

pub mod keys;

use data_encoding::BASE64URL_NOPAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::{Config, IdpClientConfig};
use crate::crypto;
use crate::db::Db;
use crate::db::exec::Exec;
use crate::journal::{self, Action, NewEntry};
use crate::mandats::Demarche;

/// Lifetime of a code.
pub const CODE_TTL: i64 = 60;
/// Lifetime of an access token.
pub const ACCESS_TOKEN_TTL: i64 = 60;
/// Lifetime of an ID token; a retired key stays published at least this long.
pub const ID_TOKEN_TTL: i64 = 120;
/// How long the aidant has to sign in and choose.
pub const REQUEST_TTL: i64 = 15 * 60;

/// The longest `state` and `nonce` accepted.
pub const MAX_STATE_LEN: usize = 512;
/// How long a retired signing key still verifies an `id_token_hint` at logout.
pub const LOGOUT_HINT_TRUST: i64 = 12 * 3600;
const REQUIRED_SCOPES: [&str; 4] = ["openid", "profile", "email", "birth"];

/// The issuer: the public URL.
pub fn issuer(config: &Config) -> String {
    config.public_url()
}

pub fn discovery(config: &Config) -> Value {
    let i = issuer(config);
    json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/oidc/authorize"),
        "token_endpoint": format!("{i}/oidc/token"),
        "userinfo_endpoint": format!("{i}/oidc/userinfo"),
        "end_session_endpoint": format!("{i}/oidc/session/end"),
        "jwks_uri": format!("{i}/oidc/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256", "HS256"],
        "userinfo_signing_alg_values_supported": ["ES256", "RS256", "HS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": ["eidas1"],
        "scopes_supported": ["openid", "profile", "email", "birth"],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr",
            "amr", "given_name", "family_name", "birthdate", "gender", "birthplace",
            "birthcountry", "email", "preferred_username", "rep_scope", "aidant", "structure"],
        "prompt_values_supported": ["none", "login", "consent"],
        "display_values_supported": ["page"],
        "ui_locales_supported": ["fr"],
        "claims_locales_supported": ["fr"],
    })
}

/// `application/x-www-form-urlencoded` pairs, refusing rather than altering a value
/// that is not UTF-8 once decoded: `Err` names the parameter.
pub fn parse_params(raw: &[u8]) -> Result<Vec<(String, String)>, String> {
    fn decode(part: &[u8]) -> Result<String, ()> {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while let Some(&b) = part.get(i) {
            match b {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = part
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                _ => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).map_err(|_| ())
    }
    raw.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = match p.iter().position(|b| *b == b'=') {
                Some(i) => (p.get(..i).unwrap_or(p), p.get(i + 1..).unwrap_or(b"")),
                None => (p, &b""[..]),
            };
            let key = decode(k).map_err(|()| String::from_utf8_lossy(k).into_owned())?;
            let value = decode(v).map_err(|()| key.clone())?;
            Ok((key, value))
        })
        .collect()
}

/// An `error_description` in ASCII (RFC 6749 §4.1.2.1): the French text without its
/// accents.
pub fn ascii_description(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let s: &str = match c {
                'à' | 'â' | 'ä' => "a",
                'é' | 'è' | 'ê' | 'ë' => "e",
                'î' | 'ï' => "i",
                'ô' | 'ö' => "o",
                'ù' | 'û' | 'ü' => "u",
                'ç' => "c",
                'É' | 'È' | 'Ê' => "E",
                'À' | 'Â' => "A",
                'Ç' => "C",
                'œ' => "oe",
                '«' | '»' => "\"",
                '’' => "'",
                '\u{a0}' | '\u{202f}' => " ",
                _ => "",
            };
            if c.is_ascii() && !c.is_ascii_control() && c != '\\' {
                Some(c.to_string())
            } else if s.is_empty() {
                None
            } else {
                Some(s.to_owned())
            }
        })
        .collect()
}

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub nonce: String,
    pub code_challenge: Option<String>,
    /// The démarches the client asks for (`claims` → `rep_scope`); `None`: all.
    pub rep_scope: Option<Vec<Demarche>>,
    pub prompt_login: bool,
    /// `max_age`: the aidant proves a TOTP code again when their last proof is older.
    pub max_age: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown on a page: the redirect URI is not trusted (yet).
    Page(String),
    /// Sent back to the client's redirect URI.
    Redirect(String),
}

/// An error sent back to the client: `error`, an ASCII `error_description`,
/// `state` when there is one, and `iss` (RFC 9207).
pub fn error_redirect(
    redirect_uri: &str,
    issuer: &str,
    error: &str,
    description: &str,
    state: &str,
) -> AuthorizeError {
    match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .append_pair("error", error)
                .append_pair("error_description", &ascii_description(description));
            if !state.is_empty() {
                u.query_pairs_mut().append_pair("state", state);
            }
            u.query_pairs_mut().append_pair("iss", issuer);
            AuthorizeError::Redirect(u.into())
        }
        Err(_) => AuthorizeError::Page("redirect_uri illisible".into()),
    }
}

/// Strict validation of `/oidc/authorize` (by GET, its query; by POST, its form).
/// Unknown parameters are ignored (RFC 6749 §3.1); a repeated one is refused.
pub fn validate_authorize(
    clients: &[IdpClientConfig],
    issuer: &str,
    raw: &[u8],
) -> Result<AuthorizeRequest, AuthorizeError> {
    let strict = parse_params(raw);
    let pairs: Vec<(String, String)> = match &strict {
        Ok(p) => p.clone(),
        Err(_) => url::form_urlencoded::parse(raw)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    };
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let client_id = get("client_id").unwrap_or("");
    let Some(client) = clients.iter().find(|c| c.client_id == client_id) else {
        return Err(AuthorizeError::Page("client_id absent ou inconnu".into()));
    };
    let redirect_uri = get("redirect_uri").unwrap_or("");
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(AuthorizeError::Page(
            "redirect_uri absente ou différente de celles enregistrées pour ce client".into(),
        ));
    }
    // From here on, errors go back to the client.
    if let Err(name) = &strict {
        return Err(error_redirect(
            redirect_uri,
            issuer,
            "invalid_request",
            &format!("le paramètre {name} n'est pas en UTF-8"),
            "",
        ));
    }
    let state = get("state").unwrap_or("");
    let fail = |error: &str, description: &str| {
        error_redirect(redirect_uri, issuer, error, description, state)
    };
    if state.len() > MAX_STATE_LEN {
        return Err(error_redirect(
            redirect_uri,
            issuer,
            "invalid_request",
            &format!("state trop long ({MAX_STATE_LEN} caractères au plus)"),
            "",
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for (k, _) in &pairs {
        if seen.contains(&k.as_str()) {
            return Err(fail(
                "invalid_request",
                &format!("paramètre en double : {k}"),
            ));
        }
        seen.push(k);
    }
    if get("request").is_some() {
        return Err(fail(
            "request_not_supported",
            "le paramètre request n'est pas pris en charge",
        ));
    }
    if get("request_uri").is_some() {
        return Err(fail(
            "request_uri_not_supported",
            "le paramètre request_uri n'est pas pris en charge",
        ));
    }
    if get("response_type") != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "response_type=code attendu",
        ));
    }
    if get("response_mode").is_some_and(|m| m != "query") {
        return Err(fail("invalid_request", "response_mode=query seulement"));
    }
    if state.is_empty() {
        return Err(fail("invalid_request", "state requis"));
    }
    let nonce = get("nonce").unwrap_or("");
    if nonce.is_empty() || nonce.len() > MAX_STATE_LEN {
        return Err(fail("invalid_request", "nonce requis"));
    }
    let scopes: Vec<&str> = get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(missing) = REQUIRED_SCOPES.iter().find(|s| !scopes.contains(s)) {
        return Err(fail(
            "invalid_scope",
            &format!("le scope {missing} est requis"),
        ));
    }
    // `acr_values` is a list of preferences (OpenID Connect Core §3.1.2.1): the
    // answer is always eidas1, the level Relais gives.
    let prompt_login = match get("prompt") {
        None => false,
        Some(p) => {
            let values: Vec<&str> = p.split(' ').filter(|s| !s.is_empty()).collect();
            if values
                .iter()
                .any(|v| !matches!(*v, "none" | "login" | "consent"))
            {
                return Err(fail("invalid_request", "valeur de prompt inconnue"));
            }
            if values.contains(&"none") {
                if values.len() > 1 {
                    return Err(fail(
                        "invalid_request",
                        "prompt=none ne se combine avec aucune autre valeur",
                    ));
                }
                // The aidant always chooses the person and the démarche.
                return Err(fail(
                    "interaction_required",
                    "l'aidant doit choisir la personne et la démarche",
                ));
            }
            values.contains(&"login")
        }
    };
    let max_age = match get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    "invalid_request",
                    "max_age doit être un nombre de secondes",
                ));
            }
        },
    };
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, None) => None,
        (Some(c), Some("S256"))
            if c.len() == 43 && BASE64URL_NOPAD.decode(c.as_bytes()).is_ok() =>
        {
            Some(c.to_owned())
        }
        (Some(_), Some("S256")) => return Err(fail("invalid_request", "code_challenge invalide")),
        _ => {
            return Err(fail(
                "invalid_request",
                "PKCE : seule la méthode S256 est acceptée (plain est refusée)",
            ));
        }
    };
    let rep_scope = match get("claims") {
        None => None,
        Some(raw) => {
            let v: Value = serde_json::from_str(raw)
                .map_err(|_| fail("invalid_request", "claims n'est pas un JSON valide"))?;
            match v
                .pointer("/id_token/rep_scope/values")
                .and_then(Value::as_array)
            {
                Some(values) => {
                    let list: Vec<Demarche> = values
                        .iter()
                        .filter_map(Value::as_str)
                        .filter_map(|d| Demarche::parse(d).ok())
                        .collect();
                    if list.is_empty() {
                        return Err(fail(
                            "invalid_request",
                            "rep_scope ne contient aucune démarche connue",
                        ));
                    }
                    Some(list)
                }
                None => None,
            }
        }
    };
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: state.to_owned(),
        nonce: nonce.to_owned(),
        code_challenge,
        rep_scope,
        prompt_login,
        max_age,
    })
}

/// A pending request, as the aidant's pages read it.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub public_id: String,
    pub request: AuthorizeRequest,
    pub session_hash: Option<String>,
    pub confirmed_at: Option<i64>,
    /// Whether the aidant's proof is recent enough ([`request_confirmed!`]).
    pub confirmed: bool,
    pub usager_id: Option<i64>,
    pub created_at: i64,
}

/// Whether the aidant has proved a TOTP code recently enough for a request, as a
/// condition on `idp_requests` (`$p` its alias with the dot, or empty; `$mfa` when
/// the aidant last proved a code; `$now`) — the one definition, read by
/// [`pending_for_session`] and by the statements that act on a request:
/// confirmed in the flow (`confirmed_at`), or else `prompt=login` asks a proof made
/// after the request arrived — strictly after: a sign-in in the same second as the
/// request may have preceded it, so it asks the code again; `max_age`, a proof
/// younger than it; otherwise a proof made since the request arrived.
macro_rules! request_confirmed {
    ($p:literal, $mfa:literal, $now:literal) => {
        concat!(
            "(",
            $p,
            "confirmed_at IS NOT NULL OR CASE WHEN ",
            $p,
            "prompt_login <> 0 THEN ",
            $mfa,
            " > ",
            $p,
            "created_at WHEN ",
            $p,
            "max_age IS NOT NULL THEN ",
            $now,
            " - ",
            $mfa,
            " <= ",
            $p,
            "max_age ELSE ",
            $mfa,
            " >= ",
            $p,
            "created_at END)"
        )
    };
}

impl Pending {
    /// The démarches offered: the request's `rep_scope`, or all.
    pub fn scope(&self) -> Vec<Demarche> {
        self.request
            .rep_scope
            .clone()
            .unwrap_or_else(|| Demarche::ALL.to_vec())
    }
}

/// Writes a request (`$1`…`$12`); on PostgreSQL its commit does not wait for
/// the disk ([`crate::pg_commit_without_waiting!`]): lost in a crash, the aidant
/// starts the sign-in again.
macro_rules! request_insert {
    () => {
        "INSERT INTO idp_requests (public_id, client_id, redirect_uri, state, nonce, code_challenge,
             rep_scope, prompt_login, created_at, expires_at, max_age, session_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    };
}

/// Records a request. When the browser already has a session (the aidant is
/// signed in), the request is bound to it at once; otherwise to the first
/// session that opens it ([`pending_for_session`]).
pub async fn save_request(
    db: &Db,
    r: &AuthorizeRequest,
    session_hash: Option<&str>,
    now: i64,
) -> Result<String, crate::db::Error> {
    let public_id = crypto::random_token();
    let rep_scope = r.rep_scope.as_deref().map(Demarche::join);
    let sql = match db.backend() {
        crate::db::Backend::Postgres => concat!(
            request_insert!(),
            " RETURNING ",
            crate::pg_commit_without_waiting!()
        ),
        crate::db::Backend::Sqlite => request_insert!(),
    };
    db.execute(
        sql,
        crate::args![
            &public_id,
            &r.client_id,
            &r.redirect_uri,
            &r.state,
            &r.nonce,
            r.code_challenge.as_deref(),
            rep_scope.as_deref(),
            r.prompt_login,
            now,
            now + REQUEST_TTL,
            r.max_age,
            session_hash,
        ],
    )
    .await?;
    Ok(public_id)
}

/// Loads a pending request and binds it to the first session that opens it; any
/// other session gets `None`.
/// `mfa_at`: when the session last proved a TOTP code.
pub async fn pending_for_session(
    db: &Db,
    public_id: &str,
    session_hash: &str,
    mfa_at: i64,
    now: i64,
) -> Result<Option<Pending>, crate::db::Error> {
    let Some(r) = db
        .conn()
        .await?
        .fetch_optional(
            concat!(
                "SELECT id, public_id, client_id, redirect_uri, state, nonce, code_challenge,
                        rep_scope, prompt_login, session_hash, confirmed_at, usager_id, created_at,
                        max_age, ",
                request_confirmed!("", "$3", "$2"),
                " AS confirmed FROM idp_requests WHERE public_id = $1 AND expires_at > $2"
            ),
            crate::args![public_id, now, mfa_at],
        )
        .await?
    else {
        return Ok(None);
    };
    match r.opt_text("session_hash")? {
        Some(h) if h == session_hash => {}
        Some(_) => return Ok(None),
        None => {
            // First opening: bind it, unless another session did so meanwhile.
            let done = db
                .execute(
                "UPDATE idp_requests SET session_hash = $1 WHERE public_id = $2 AND session_hash IS NULL",
                crate::args![session_hash, public_id],
            )
            .await?;
            if done != 1 {
                return Ok(None);
            }
        }
    }
    Ok(Some(Pending {
        id: r.int("id")?,
        public_id: r.text("public_id")?,
        request: AuthorizeRequest {
            client_id: r.text("client_id")?,
            redirect_uri: r.text("redirect_uri")?,
            state: r.text("state")?,
            nonce: r.text("nonce")?,
            code_challenge: r.opt_text("code_challenge")?,
            rep_scope: r.opt_text("rep_scope")?.map(|l| Demarche::parse_list(&l)),
            prompt_login: r.int("prompt_login")? != 0,
            max_age: r.opt_int("max_age")?,
        },
        session_hash: Some(session_hash.to_owned()),
        confirmed_at: r.opt_int("confirmed_at")?,
        confirmed: r.int("confirmed")? != 0,
        usager_id: r.opt_int("usager_id")?,
        created_at: r.int("created_at")?,
    }))
}

pub async fn confirm_request(db: &Db, id: i64, now: i64) -> Result<(), crate::db::Error> {
    db.execute(
        "UPDATE idp_requests SET confirmed_at = $1 WHERE id = $2",
        crate::args![now, id],
    )
    .await?;
    Ok(())
}

/// The request the aidant's session acts on: its public id, the session's hash,
/// and when the session last proved a TOTP code.
#[derive(Debug, Clone, Copy)]
pub struct RequestRef<'a> {
    pub public_id: &'a str,
    pub session_hash: &'a str,
    pub mfa_at: i64,
}

/// Every démarche, as a request without `rep_scope` offers them.
fn all_demarches() -> String {
    Demarche::join(&Demarche::ALL)
}

/// Whether the démarche key `$demarche` is in `$scope`, a request's `rep_scope`
/// (keys joined by commas, [`Demarche::join`]; NULL for every démarche, which
/// `$all` gives, [`all_demarches`]): the one SQL definition, both backends.
macro_rules! demarche_in_scope {
    ($demarche:literal, $scope:literal, $all:literal) => {
        concat!(
            "',' || COALESCE(",
            $scope,
            ", ",
            $all,
            ") || ',' LIKE '%,' || ",
            $demarche,
            " || ',%'"
        )
    };
}

/// The statement of [`choose_usager`], its `RETURNING` list open at the end.
macro_rules! usager_choice {
    () => {
        concat!(
            "UPDATE idp_requests SET usager_id = $1
             WHERE public_id = $2 AND session_hash = $3 AND expires_at > $4 AND ",
            request_confirmed!("", "$5", "$4"),
            " AND EXISTS (
                 SELECT 1 FROM autorisations a
                 WHERE a.structure_id = $6 AND a.usager_id = $1 AND a.revoked_at IS NULL
                   AND a.expires_at > $4 AND ",
            demarche_in_scope!("a.demarche", "idp_requests.rep_scope", "$7"),
            ")
             RETURNING (SELECT email FROM usagers WHERE id = $1) AS email"
        )
    };
}

/// Chooses the usager of a request, in one statement: the request this session's,
/// alive and confirmed ([`request_confirmed!`]), and the structure holding an active
/// autorisation of that usager within the request's scope. The usager must also
/// have an email address FranceConnect accepts ([`crate::domain::Email`]): the
/// statement returns it, and a choice whose address is not valid is taken back at
/// once ([`issue_code`] checks it again, so no code can be issued in between).
/// Returns whether the usager was chosen; when not, the caller reads the request
/// to tell why.
pub async fn choose_usager(
    db: &Db,
    request: RequestRef<'_>,
    structure_id: i64,
    usager_id: i64,
    now: i64,
) -> Result<bool, crate::db::Error> {
    // On PostgreSQL the choice's commit does not wait for the disk
    // ([`crate::pg_commit_without_waiting!`]): lost in a crash, it is made again.
    let sql = match db.backend() {
        crate::db::Backend::Postgres => {
            concat!(usager_choice!(), ", ", crate::pg_commit_without_waiting!())
        }
        crate::db::Backend::Sqlite => usager_choice!(),
    };
    let row = db
        .conn()
        .await?
        .fetch_optional(
            sql,
            crate::args![
                usager_id,
                request.public_id,
                request.session_hash,
                now,
                request.mfa_at,
                structure_id,
                all_demarches(),
            ],
        )
        .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    if crate::domain::Email::parse(&row.opt_text("email")?.unwrap_or_default()).is_ok() {
        return Ok(true);
    }
    db.execute(
        "UPDATE idp_requests SET usager_id = NULL WHERE public_id = $1 AND usager_id = $2",
        crate::args![request.public_id, usager_id],
    )
    .await?;
    Ok(false)
}

pub async fn drop_request(db: &Db, id: i64) -> Result<(), crate::db::Error> {
    db.execute("DELETE FROM idp_requests WHERE id = $1", crate::args![id])
        .await?;
    Ok(())
}

/// Deletes what the provider keeps of finished sign-ins (part of the daily
/// retention job): requests, codes and access tokens expired for an hour. A code
/// outlives its expiry by that hour so that a replay while its token lived still
/// revokes the token. Returns the number of rows deleted.
pub async fn purge(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    let before = now - 3_600;
    let mut deleted = 0;
    for sql in [
        "DELETE FROM idp_requests WHERE expires_at < $1",
        "DELETE FROM idp_tokens WHERE expires_at < $1",
        "DELETE FROM idp_codes WHERE expires_at < $1",
    ] {
        deleted += db.execute(sql, crate::args![before]).await?;
    }
    Ok(deleted)
}

/// Follows a session id renewal (TOTP step-up).
pub async fn rebind(db: &Db, old_hash: &str, new_hash: &str) -> Result<(), crate::db::Error> {
    db.execute(
        "UPDATE idp_requests SET session_hash = $1 WHERE session_hash = $2",
        crate::args![new_hash, old_hash],
    )
    .await?;
    Ok(())
}

/// A usager the aidant may act for: an active autorisation within the scope, and an
/// email FranceConnect will accept.
#[derive(Debug, Clone)]
pub struct Choice {
    pub usager_id: i64,
    pub name: String,
    pub birthdate: String,
    /// « née » or « né », agreed with the person.
    pub born: &'static str,
    pub has_email: bool,
}

/// Usagers with an active autorisation of the structure within `scope`, by name.
pub async fn usagers(
    db: &Db,
    structure_id: i64,
    scope: &[Demarche],
    search: &str,
    now: i64,
) -> Result<Vec<Choice>, crate::db::Error> {
    let key = crate::mandats::search_key(search);
    let pattern = if key.is_empty() {
        "%".to_owned()
    } else {
        format!("%{}%", key.replace(' ', "%"))
    };
    let rows = db
        .conn()
        .await?
        .fetch_all(
            "SELECT u.id, u.given_name, u.family_name, u.preferred_username, u.gender, u.birthdate, u.email, a.demarche
             FROM autorisations a JOIN usagers u ON u.id = a.usager_id
             WHERE a.structure_id = $1 AND a.revoked_at IS NULL AND a.expires_at > $2 AND u.search_key LIKE $3
             ORDER BY u.family_name, u.given_name, u.id
             LIMIT 500",
            crate::args![structure_id, now, &pattern],
        )
        .await?;
    let mut out: Vec<Choice> = Vec::new();
    for r in rows {
        if !Demarche::parse(&r.text("demarche")?).is_ok_and(|d| scope.contains(&d)) {
            continue;
        }
        let id = r.int("id")?;
        if out.last().is_some_and(|c| c.usager_id == id) {
            continue;
        }
        out.push(Choice {
            usager_id: id,
            name: crate::mandats::display_name(
                &r.text("given_name")?,
                &r.text("family_name")?,
                &r.text("preferred_username")?,
                &r.text("gender")?,
            ),
            birthdate: crate::mandats::birthdate_fr(&r.text("birthdate")?),
            born: crate::domain::born(&r.text("gender")?),
            has_email: crate::domain::Email::parse(&r.text("email")?).is_ok(),
        });
        if out.len() >= 50 {
            break;
        }
    }
    Ok(out)
}

/// The usager's active autorisations with the structure, within `scope`.
pub async fn autorisations(
    db: &Db,
    structure_id: i64,
    usager_id: i64,
    scope: &[Demarche],
    now: i64,
) -> Result<Vec<(i64, Demarche)>, crate::db::Error> {
    Ok(
        crate::mandats::active_autorisations(db, structure_id, usager_id, now)
            .await?
            .into_iter()
            .filter(|(_, d)| scope.contains(d))
            .collect(),
    )
}

/// Counts one use in `utilisations_mois` (month, département of the structure,
/// démarche, structure) for the steering dashboards, which sum the rows; `$from`
/// joins what gives the démarche. One row per structure: the row is locked until
/// the code step commits, and only that structure's code steps (serial anyway,
/// on its journal chain) ever wait for it.
macro_rules! utilisations_mois_upsert {
    ($demarche:literal, $mois:literal, $structure:literal, $from:literal) => {
        concat!(
            "INSERT INTO utilisations_mois (mois, departement, demarche, structure_id, n)
             SELECT ",
            $mois,
            ", CASE WHEN substr(s.commune_insee, 1, 2) IN ('97', '98')
                    THEN substr(s.commune_insee, 1, 3) ELSE substr(s.commune_insee, 1, 2) END, ",
            $demarche,
            ", s.id, 1 FROM structures s",
            $from,
            " WHERE s.id = ",
            $structure,
            " ON CONFLICT (mois, departement, demarche, structure_id)
              DO UPDATE SET n = utilisations_mois.n + 1"
        )
    };
}

/// Who acts, for the code.
#[derive(Debug, Clone, Copy)]
pub struct Acting {
    pub account_id: i64,
    pub structure_id: i64,
}

/// A code issued: where the browser goes back, and to which client.
#[derive(Debug, Clone)]
pub struct Issued {
    pub redirect: String,
    pub client_id: String,
}

/// Issues the code for an autorisation of the request's usager and journals its
/// use, in one transaction; the request is consumed. The request must be this
/// session's, alive, confirmed ([`request_confirmed!`]) with a usager chosen; the
/// autorisation active, the usager's, with the structure and within the request's
/// scope; the usager's email one FranceConnect accepts. Returns `None`, having
/// written nothing, when any of that does not hold: the caller reads the request
/// to tell the aidant why.
pub async fn issue_code(
    db: &Db,
    request: RequestRef<'_>,
    acting: Acting,
    autorisation_id: i64,
    issuer: &str,
    now: i64,
) -> Result<Option<Issued>, crate::db::Error> {
    let mut tx = db.begin().await?;
    crate::db::exec::lock_structure(&mut tx, acting.structure_id).await?;
    let code = crypto::random_token();
    let code_hash = crypto::sha256_hex(&code);
    let expires_at = now + CODE_TTL;
    let mois = crate::activites::today(now) / 100;
    // What both branches give back: the code's démarche and usager, the redirect,
    // the email to check, and (PostgreSQL) the journal's head.
    let row = match tx.backend() {
        // One statement after the lock: the request read, the autorisation checked,
        // the request consumed, the code written, the month's use counted, and the
        // journal's head read for the entry that follows. Nothing is written unless
        // all hold.
        crate::db::Backend::Postgres => {
            tx.fetch_optional(
                concat!(
                    "WITH r AS (
                         SELECT id, client_id, redirect_uri, state, nonce, code_challenge, usager_id,
                                GREATEST(confirmed_at, $5) AS auth_time, rep_scope
                         FROM idp_requests
                         WHERE public_id = $8 AND session_hash = $9 AND expires_at > $6
                           AND usager_id IS NOT NULL AND ",
                    request_confirmed!("", "$5", "$6"),
                    "),
                     a AS (
                         SELECT a.demarche, u.email FROM r
                         JOIN autorisations a ON a.usager_id = r.usager_id
                         JOIN usagers u ON u.id = a.usager_id
                         WHERE a.id = $4 AND a.structure_id = $3 AND a.revoked_at IS NULL
                           AND a.expires_at > $6 AND ",
                    demarche_in_scope!("a.demarche", "r.rep_scope", "$10"),
                    "),
                     consumed AS (
                         DELETE FROM idp_requests WHERE id = (SELECT id FROM r) AND EXISTS (SELECT 1 FROM a)
                         RETURNING id),
                     code AS (
                         INSERT INTO idp_codes (code_hash, client_id, redirect_uri, nonce,
                             code_challenge, account_id, structure_id, usager_id,
                             autorisation_id, demarche, auth_time, created_at, expires_at)
                         SELECT $1, r.client_id, r.redirect_uri, r.nonce, r.code_challenge, $2, $3,
                                r.usager_id, $4, a.demarche, r.auth_time, $6, $7
                         FROM consumed, r, a
                         RETURNING demarche),
                     counted AS (",
                    utilisations_mois_upsert!("code.demarche", "$11", "$3", ", code"),
                    ")
                     SELECT code.demarche, r.usager_id, r.client_id, r.redirect_uri, r.state, a.email,
                            head.seq, head.hash
                     FROM code, r, a ",
                    crate::journal_head_lateral!("$3")
                ),
                crate::args![
                    code_hash,
                    acting.account_id,
                    acting.structure_id,
                    autorisation_id,
                    request.mfa_at,
                    now,
                    expires_at,
                    request.public_id,
                    request.session_hash,
                    all_demarches(),
                    mois,
                ],
            )
            .await?
        }
        // In process, statements cost microseconds: one step at a time.
        crate::db::Backend::Sqlite => {
            let Some(r) = tx
                .fetch_optional(
                    concat!(
                        "SELECT r.id, r.client_id, r.redirect_uri, r.state, r.nonce, r.code_challenge,
                                r.usager_id, r.confirmed_at, a.demarche, u.email
                         FROM idp_requests r
                         JOIN autorisations a ON a.usager_id = r.usager_id
                         JOIN usagers u ON u.id = a.usager_id
                         WHERE r.public_id = $1 AND r.session_hash = $2 AND r.expires_at > $3
                           AND a.id = $4 AND a.structure_id = $5 AND a.revoked_at IS NULL
                           AND a.expires_at > $3 AND ",
                        demarche_in_scope!("a.demarche", "r.rep_scope", "$7"),
                        " AND ",
                        request_confirmed!("r.", "$6", "$3")
                    ),
                    crate::args![
                        request.public_id,
                        request.session_hash,
                        now,
                        autorisation_id,
                        acting.structure_id,
                        request.mfa_at,
                        all_demarches(),
                    ],
                )
                .await?
            else {
                return Ok(None);
            };
            let demarche = r.text("demarche")?;
            let auth_time = r
                .opt_int("confirmed_at")?
                .map_or(request.mfa_at, |c| c.max(request.mfa_at));
            tx.execute(
                "DELETE FROM idp_requests WHERE id = $1",
                crate::args![r.int("id")?],
            )
            .await?;
            tx.execute(
                "INSERT INTO idp_codes (code_hash, client_id, redirect_uri, nonce, code_challenge,
                     account_id, structure_id, usager_id, autorisation_id, demarche, auth_time,
                     created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                crate::args![
                    code_hash,
                    r.text("client_id")?,
                    r.text("redirect_uri")?,
                    r.text("nonce")?,
                    r.opt_text("code_challenge")?,
                    acting.account_id,
                    acting.structure_id,
                    r.int("usager_id")?,
                    autorisation_id,
                    demarche,
                    auth_time,
                    now,
                    expires_at,
                ],
            )
            .await?;
            tx.execute(
                utilisations_mois_upsert!("$2", "$1", "$3", ""),
                crate::args![mois, demarche, acting.structure_id],
            )
            .await?;
            Some(r)
        }
    };
    let Some(row) = row else {
        return Ok(None);
    };
    // FranceConnect's claims need an address it accepts; dropping `tx` undoes all.
    if crate::domain::Email::parse(&row.text("email")?).is_err() {
        return Ok(None);
    }
    let demarche = row.text("demarche")?;
    let client_id = row.text("client_id")?;
    let entry = NewEntry::new(acting.structure_id, Action::UtilisationAutorisation)
        .account(acting.account_id)
        .usager(row.int("usager_id")?)
        .autorisation(autorisation_id, &demarche)
        .details(json!({ "client": client_id }));
    match tx.backend() {
        crate::db::Backend::Postgres => {
            let head = row
                .opt_int("seq")?
                .map(|seq| Ok::<_, crate::db::Error>((seq, row.text("hash")?)))
                .transpose()?;
            journal::append_after(&mut tx, &entry, head, now).await?;
        }
        crate::db::Backend::Sqlite => {
            journal::append(&mut tx, &entry, now).await?;
        }
    }
    tx.commit().await?;
    let mut u = url::Url::parse(&row.text("redirect_uri")?)
        .map_err(|e| crate::db::Error::Data(e.to_string()))?;
    u.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &row.text("state")?)
        .append_pair("iss", issuer);
    Ok(Some(Issued {
        redirect: u.into(),
        client_id,
    }))
}

/// A token-endpoint error: HTTP status and OAuth error code.
pub type OAuthError = (u16, &'static str);

/// Authenticates the client: `client_secret_basic` or `client_secret_post`, the
/// secret's SHA-256 compared in constant time.
pub fn authenticate_client<'a>(
    clients: &'a [IdpClientConfig],
    basic: Option<&str>,
    form: &[(String, String)],
) -> Result<&'a IdpClientConfig, OAuthError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (id, secret) = match (basic, get("client_secret")) {
        (Some(_), Some(_)) => return Err((400, "invalid_request")),
        (Some(b), None) => {
            let decoded = data_encoding::BASE64
                .decode(b.trim().as_bytes())
                .map_err(|_| (401, "invalid_client"))?;
            let text = String::from_utf8(decoded).map_err(|_| (401, "invalid_client"))?;
            let (id, secret) = text.split_once(':').ok_or((401, "invalid_client"))?;
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (dec(id), dec(secret))
        }
        (None, Some(secret)) => (get("client_id").unwrap_or_default(), secret),
        (None, None) => return Err((401, "invalid_client")),
    };
    let client = clients
        .iter()
        .find(|c| c.client_id == id)
        .ok_or((401, "invalid_client"))?;
    if !crypto::ct_eq(
        &crypto::sha256_hex(&secret),
        &client.secret_sha256.to_lowercase(),
    ) {
        return Err((401, "invalid_client"));
    }
    if let Some(form_id) = get("client_id")
        && form_id != client.client_id
    {
        return Err((401, "invalid_client"));
    }
    Ok(client)
}

/// The `sub` a client sees for a usager: pairwise (per client), stable.
pub fn pairwise_sub(client_id: &str, usager_sub_hash: &str) -> String {
    format!(
        "{}v1",
        crypto::sha256_hex(&format!("relais-sub-v1:{client_id}:{usager_sub_hash}"))
    )
}

/// The code presented at the token endpoint, judged: the claims' columns, `used`
/// and `valid` (see [`exchange`]). `$1` the code's hash, `$2` now, `$3` the client,
/// `$4` the redirect URI, `$5` the S256 of the verifier (NULL without one).
macro_rules! token_code {
    () => {
        "SELECT c.code_hash, c.client_id, c.nonce, c.account_id, c.structure_id, c.usager_id,
                c.autorisation_id, c.demarche, c.auth_time, u.sub_hash, ac.full_name, ac.public_id,
                s.name AS structure_name, s.siret,
                (c.used_at IS NOT NULL
                 OR EXISTS (SELECT 1 FROM idp_tokens t WHERE t.code_hash = c.code_hash)) AS used,
                (c.expires_at > $2 AND c.client_id = $3 AND c.redirect_uri = $4
                 AND COALESCE(c.code_challenge = $5, c.code_challenge IS NULL AND $5 IS NULL)
                 AND EXISTS (SELECT 1 FROM autorisations a WHERE a.id = c.autorisation_id
                             AND a.revoked_at IS NULL AND a.expires_at > $2)) AS valid
         FROM idp_codes c
         JOIN usagers u ON u.id = c.usager_id
         JOIN accounts ac ON ac.id = c.account_id
         JOIN structures s ON s.id = c.structure_id
         WHERE c.code_hash = $1"
    };
}

/// Inserts the access token of a code read `FROM $source` (which gives the code's
/// columns), unless the code already has one.
macro_rules! token_insert {
    ($token_hash:literal, $now:literal, $expires:literal, $source:literal) => {
        concat!(
            "INSERT INTO idp_tokens (token_hash, code_hash, client_id, structure_id, usager_id,
                 autorisation_id, created_at, expires_at)
             SELECT ",
            $token_hash,
            ", code_hash, client_id, structure_id, usager_id,
                 autorisation_id, ",
            $now,
            ", ",
            $expires,
            " FROM ",
            $source,
            " ON CONFLICT (code_hash) DO NOTHING"
        )
    };
}

/// The token endpoint.
pub async fn exchange(
    db: &Db,
    keys: &keys::Keys,
    config: &Config,
    client: &IdpClientConfig,
    form: &[(String, String)],
    now: i64,
) -> Result<Value, OAuthError> {
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    match get("grant_type") {
        "" => return Err((400, "invalid_request")),
        "authorization_code" => {}
        _ => return Err((400, "unsupported_grant_type")),
    }
    let server = |_| (500, "server_error");
    let code_hash = crypto::sha256_hex(get("code"));
    // PKCE (RFC 7636): the S256 of a verifier of 43 to 128 unreserved characters
    // must equal the request's challenge; no verifier at all when the request had
    // no challenge (RFC 9700 §2.1.1: a verifier there would be a downgrade).
    // FranceConnect sends none. A malformed verifier matches nothing (a challenge
    // is 43 characters). Compared in SQL: an attacker cannot choose the SHA-256
    // being compared, so the comparison's timing tells nothing.
    let verifier = get("code_verifier");
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let pkce = match (verifier.is_empty(), well_formed) {
        (true, _) => None,
        (false, true) => Some(BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()))),
        (false, false) => Some(String::new()),
    };
    let access = crypto::random_token();
    let token_hash = crypto::sha256_hex(&access);
    let token_expires = now + ACCESS_TOKEN_TTL;
    // The code judged by one statement (`token_code!`): `used` (a token was
    // issued, or the code was marked used before migration 0013) and `valid`
    // (alive, this client's, this redirect, PKCE, autorisation still active).
    // The token is inserted only if valid, unused and the aidant has a public id,
    // `ON CONFLICT (code_hash) DO NOTHING` on a unique index: a code serves once
    // even when two requests race, without a transaction. On PostgreSQL the
    // judgment and the insert are one statement; SQLite runs them in turn.
    // `token_code!`'s arguments, $1 to $5, in both branches.
    let redirect_uri = get("redirect_uri");
    let judge_args = crate::args![code_hash, now, client.client_id, redirect_uri, pkce];
    let judged = match db.backend() {
        crate::db::Backend::Postgres => {
            db.fetch_optional(
                concat!(
                    "WITH c AS (",
                    token_code!(),
                    "), t AS (",
                    token_insert!(
                        "$6",
                        "$2",
                        "$7",
                        "c WHERE valid AND NOT used AND public_id IS NOT NULL"
                    ),
                    " RETURNING 1 AS one)
                 SELECT c.*, (SELECT COUNT(*) FROM t) AS inserted FROM c"
                ),
                &[&judge_args[..], crate::args![&token_hash, token_expires]].concat(),
            )
            .await
        }
        crate::db::Backend::Sqlite => {
            db.fetch_optional(
                concat!("SELECT c.*, 0 AS inserted FROM (", token_code!(), ") c"),
                judge_args,
            )
            .await
        }
    };
    let Some(c) = judged.map_err(server)? else {
        return Err((400, "invalid_grant"));
    };
    let s = |name: &str| c.text(name).map_err(server);
    let i = |name: &str| c.int(name).map_err(server);
    // A second use: whatever the code issued is revoked (RFC 6749 §4.1.2).
    let replayed = || async {
        db.execute(
            "UPDATE idp_tokens SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
            crate::args![now, &code_hash],
        )
        .await
        .map_err(server)?;
        Err((400, "invalid_grant"))
    };
    if i("used")? != 0 {
        return replayed().await;
    }
    if i("valid")? == 0 {
        return Err((400, "invalid_grant"));
    }
    // The aidant's public identifier, given on first use (never the row number).
    let account_id = i("account_id")?;
    let aidant_public_id = match c.opt_text("public_id").map_err(server)? {
        Some(public_id) => public_id,
        None => {
            db.execute(
                "UPDATE accounts SET public_id = $1 WHERE id = $2 AND public_id IS NULL",
                crate::args![&crypto::random_token()[..32], account_id],
            )
            .await
            .map_err(server)?;
            db.fetch_optional(
                "SELECT public_id FROM accounts WHERE id = $1",
                crate::args![account_id],
            )
            .await
            .map_err(server)?
            .ok_or((500, "server_error"))?
            .text("public_id")
            .map_err(server)?
        }
    };
    // Judged valid and unused but not inserted by the statement above (SQLite,
    // or the aidant's first sign-in): inserted now.
    let inserted = match i("inserted")? {
        0 => db
            .execute(
                token_insert!("$1", "$2", "$3", "idp_codes WHERE code_hash = $4"),
                crate::args![&token_hash, now, token_expires, &code_hash],
            )
            .await
            .map_err(server)?,
        n => u64::try_from(n).unwrap_or(0),
    };
    if inserted != 1 {
        // Another request used the code between the judgment and the insert.
        return replayed().await;
    }
    let claims = json!({
        "iss": issuer(config),
        "aud": client.client_id,
        "exp": now + ID_TOKEN_TTL,
        "iat": now,
        "auth_time": i("auth_time")?,
        "sub": pairwise_sub(&client.client_id, &s("sub_hash")?),
        "nonce": s("nonce")?,
        "acr": "eidas1",
        "amr": ["pwd", "otp"],
        "rep_scope": s("demarche")?,
        "aidant": { "id": aidant_public_id, "nom": s("full_name")? },
        "structure": { "siret": s("siret")?, "nom": s("structure_name")? },
    });
    let id_token = sign_for(db, keys, client, &claims, now).await?;
    Ok(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL,
        "id_token": id_token,
        "scope": "openid profile email birth",
    }))
}

/// The userinfo endpoint: the usager's identity, once per access token.
pub enum UserInfo {
    Jwt(String),
    Json(Value),
}

pub async fn userinfo(
    db: &Db,
    keys: &keys::Keys,
    config: &Config,
    clients: &[IdpClientConfig],
    bearer: &str,
    now: i64,
) -> Result<UserInfo, OAuthError> {
    let server = |_| (500, "server_error");
    let token_hash = crypto::sha256_hex(bearer);
    // One atomic update makes the token single-use, and the claims are read: on
    // PostgreSQL in one statement, on SQLite (which cannot write from a `WITH`)
    // the update then the read.
    let row = match db.backend() {
        crate::db::Backend::Postgres => db
            .fetch_optional(
                "WITH t AS (
                     UPDATE idp_tokens SET used_at = $2
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
                     RETURNING client_id, usager_id, autorisation_id)
                 SELECT t.client_id, u.sub_hash, u.given_name, u.family_name, u.preferred_username,
                        u.birthdate, u.gender, u.birthplace, u.birthcountry, u.email
                 FROM t
                 JOIN usagers u ON u.id = t.usager_id
                 JOIN autorisations a ON a.id = t.autorisation_id
                 WHERE a.revoked_at IS NULL AND a.expires_at > $2",
                crate::args![&token_hash, now],
            )
            .await
            .map_err(server)?,
        crate::db::Backend::Sqlite => {
            let marked = db
                .execute(
                    "UPDATE idp_tokens SET used_at = $2
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
                    crate::args![&token_hash, now],
                )
                .await
                .map_err(server)?;
            if marked != 1 {
                return Err((401, "invalid_token"));
            }
            db.fetch_optional(
                "SELECT t.client_id, u.sub_hash, u.given_name, u.family_name, u.preferred_username,
                        u.birthdate, u.gender, u.birthplace, u.birthcountry, u.email
                 FROM idp_tokens t
                 JOIN usagers u ON u.id = t.usager_id
                 JOIN autorisations a ON a.id = t.autorisation_id
                 WHERE t.token_hash = $1 AND a.revoked_at IS NULL AND a.expires_at > $2",
                crate::args![&token_hash, now],
            )
            .await
            .map_err(server)?
        }
    };
    let Some(r) = row else {
        return Err((401, "invalid_token"));
    };
    let s = |name: &str| r.text(name).map_err(server);
    let client_id = s("client_id")?;
    let mut claims = json!({
        "sub": pairwise_sub(&client_id, &s("sub_hash")?),
        "given_name": s("given_name")?,
        "family_name": s("family_name")?,
        "preferred_username": s("preferred_username")?,
        "birthdate": s("birthdate")?,
        "gender": s("gender")?,
        "birthplace": s("birthplace")?,
        "birthcountry": s("birthcountry")?,
        "email": s("email")?,
    });
    // Claims without a value are left out (OpenID Connect Core §5.3.2).
    if let Some(o) = claims.as_object_mut() {
        o.retain(|_, v| v.as_str().is_none_or(|s| !s.is_empty()));
    }
    let Some(client) = clients.iter().find(|c| c.client_id == client_id) else {
        return Err((401, "invalid_token"));
    };
    if client.userinfo_format == "json" {
        return Ok(UserInfo::Json(claims));
    }
    if let Some(o) = claims.as_object_mut() {
        o.insert("iss".into(), json!(issuer(config)));
        o.insert("aud".into(), json!(client_id));
        o.insert("iat".into(), json!(now));
        o.insert("exp".into(), json!(now + ACCESS_TOKEN_TTL));
    }
    Ok(UserInfo::Jwt(
        sign_for(db, keys, client, &claims, now).await?,
    ))
}

/// Signs with the client's algorithm: ES256 (default), RS256, or HS256 with the
/// legacy client's derived key.
async fn sign_for(
    db: &Db,
    keys: &keys::Keys,
    client: &IdpClientConfig,
    claims: &Value,
    now: i64,
) -> Result<String, OAuthError> {
    let alg = match client.signing_alg.as_str() {
        "RS256" => keys::KeyAlg::Rs256,
        "HS256" if client.legacy => {
            let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            let key = jsonwebtoken::EncodingKey::from_secret(
                keys.hs256_key(&client.client_id).as_bytes(),
            );
            return jsonwebtoken::encode(&header, claims, &key).map_err(|_| (500, "server_error"));
        }
        _ => keys::KeyAlg::Es256,
    };
    let key = keys
        .signing(db, now, alg)
        .await
        .map_err(|_| (500, "server_error"))?;
    key.sign(claims).map_err(|_| (500, "server_error"))
}

/// Where a logout ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logout {
    /// The client's registered `post_logout_redirect_uri` (with `state` when given).
    Redirect(String),
    /// No URI asked: Relais' own page says the session with the service ended.
    Page,
}

/// The claims of a JWT, unverified (to find the client of a legacy HS256 hint).
fn unverified_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = BASE64URL_NOPAD.decode(payload.as_bytes()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Verifies an `id_token_hint` of ours: ES256/RS256 with a key published or retired
/// less than [`LOGOUT_HINT_TRUST`] ago, or HS256 with the key of the legacy client
/// it names. An expired hint is accepted (a logout comes after the token's short
/// life); one issued more than [`LOGOUT_HINT_TRUST`] ago is not.
async fn verify_hint(
    db: &Db,
    keys: &keys::Keys,
    config: &Config,
    clients: &[IdpClientConfig],
    hint: &str,
    now: i64,
) -> Result<Value, String> {
    let invalid = || "id_token_hint invalide".to_owned();
    let (_, alg) = crate::franceconnect::jose::header(hint).map_err(|_| invalid())?;
    let claims = if alg == jsonwebtoken::Algorithm::HS256 {
        let aud = unverified_claims(hint)
            .and_then(|c| c.get("aud").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(invalid)?;
        let client = clients
            .iter()
            .find(|c| c.client_id == aud && c.legacy && c.signing_alg == "HS256")
            .ok_or_else(invalid)?;
        let key =
            jsonwebtoken::DecodingKey::from_secret(keys.hs256_key(&client.client_id).as_bytes());
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims = std::collections::HashSet::new();
        jsonwebtoken::decode::<Value>(hint, &key, &validation)
            .map_err(|_| invalid())?
            .claims
    } else {
        let set = keys
            .verification_set(db, now)
            .await
            .map_err(|e| e.to_string())?;
        crate::franceconnect::jose::verify(
            hint,
            &set,
            &[
                jsonwebtoken::Algorithm::ES256,
                jsonwebtoken::Algorithm::RS256,
            ],
        )
        .map_err(|_| invalid())?
    };
    if claims.get("iss").and_then(Value::as_str) != Some(issuer(config).as_str()) {
        return Err("id_token_hint d'un autre émetteur".into());
    }
    if claims
        .get("iat")
        .and_then(Value::as_i64)
        .is_none_or(|iat| iat < now - LOGOUT_HINT_TRUST)
    {
        return Err("id_token_hint trop ancien".into());
    }
    Ok(claims)
}

/// `end_session` (RP-Initiated Logout 1.0), by GET or POST: the client is named by a
/// valid `id_token_hint` of ours or by `client_id` (both: they must agree); a
/// `post_logout_redirect_uri`, when given, must be registered for it, and `state`
/// goes back with it. The aidant's own Relais session is not ended: they work for
/// several people in a row; the service's session with FranceConnect is what ends.
pub async fn end_session(
    db: &Db,
    keys: &keys::Keys,
    config: &Config,
    clients: &[IdpClientConfig],
    raw: &[u8],
    now: i64,
) -> Result<Logout, String> {
    let pairs =
        parse_params(raw).map_err(|name| format!("le paramètre {name} n'est pas en UTF-8"))?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let hint_aud = match get("id_token_hint") {
        Some(hint) => {
            let claims = verify_hint(db, keys, config, clients, hint, now).await?;
            Some(
                claims
                    .get("aud")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            )
        }
        None => None,
    };
    let client_id = match (hint_aud.as_deref(), get("client_id")) {
        (Some(aud), Some(id)) if aud != id => {
            return Err("client_id différent du destinataire de id_token_hint".into());
        }
        (Some(aud), _) => Some(aud),
        (None, id) => id,
    };
    let state = get("state").unwrap_or("");
    if state.len() > MAX_STATE_LEN {
        return Err("state trop long".into());
    }
    let Some(target) = get("post_logout_redirect_uri") else {
        return Ok(Logout::Page);
    };
    let Some(client_id) = client_id else {
        return Err("post_logout_redirect_uri demande id_token_hint ou client_id".into());
    };
    let registered = clients
        .iter()
        .find(|c| c.client_id == client_id)
        .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == target));
    if !registered {
        return Err("post_logout_redirect_uri non enregistrée pour ce client".into());
    }
    let mut u = url::Url::parse(target).map_err(|e| e.to_string())?;
    if !state.is_empty() {
        u.query_pairs_mut().append_pair("state", state);
    }
    Ok(Logout::Redirect(u.into()))
}
