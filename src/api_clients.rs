//! Machine clients of the JSON API (`/api/v1/...` behind HTTP Basic): one structure
//! each, with scopes, an expiry and revocation, created by the structure's référent.
//! The secret (256 random bits) is shown once and kept as SHA-256; every call checks
//! it in constant time (no password hashing needed for a random secret).

use crate::db::Db;

/// What a client may read.
pub const SCOPES: &[(&str, &str)] = &[
    (
        "activites",
        "Activités anonymisées des médiateurs de la structure",
    ),
    ("statistiques", "Statistiques d'activité de la structure"),
];

/// A client as its structure's page lists it.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: i64,
    pub client_id: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// The client's credentials, given once.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_id: String,
    pub secret: String,
}

pub async fn create(
    db: &Db,
    structure_id: i64,
    label: &str,
    scopes: &[&str],
    months: i64,
    by: i64,
    now: i64,
) -> Result<Credentials, crate::db::Error> {
    let client_id = format!("relais-{}", &crate::crypto::random_token()[..16]);
    let secret = crate::crypto::random_token();
    db.execute(
        "INSERT INTO api_clients (structure_id, client_id, secret_hash, label, scopes, expires_at, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        crate::args![
            structure_id,
            &client_id,
            crate::crypto::sha256_hex(&secret),
            label,
            scopes.join(","),
            now + months * 30 * 86_400,
            by,
            now
        ],
    )
    .await?;
    Ok(Credentials { client_id, secret })
}

pub async fn list(db: &Db, structure_id: i64) -> Result<Vec<Client>, crate::db::Error> {
    db.fetch_all(
        "SELECT id, client_id, label, scopes, expires_at, revoked_at, last_used_at
         FROM api_clients WHERE structure_id = $1 ORDER BY id DESC",
        crate::args![structure_id],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Client {
            id: r.int("id")?,
            client_id: r.text("client_id")?,
            label: r.text("label")?,
            scopes: r.text("scopes")?.split(',').map(str::to_owned).collect(),
            expires_at: r.int("expires_at")?,
            revoked_at: r.opt_int("revoked_at")?,
            last_used_at: r.opt_int("last_used_at")?,
        })
    })
    .collect()
}

pub async fn revoke(
    db: &Db,
    structure_id: i64,
    id: i64,
    now: i64,
) -> Result<bool, crate::db::Error> {
    Ok(db
        .execute(
            "UPDATE api_clients SET revoked_at = $1 WHERE id = $2 AND structure_id = $3 AND revoked_at IS NULL",
            crate::args![now, id, structure_id],
        )
        .await?
        == 1)
}

/// Why a call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials, unknown client, wrong secret, revoked or expired.
    Unauthenticated,
    /// The client lacks the scope.
    Scope,
}

/// The structure a call with `client_id`/`secret` may read for `scope`.
pub async fn authenticate(
    db: &Db,
    client_id: &str,
    secret: &str,
    scope: &str,
    now: i64,
) -> Result<Result<i64, Refusal>, crate::db::Error> {
    if client_id.len() > 64 || secret.len() > 128 {
        return Ok(Err(Refusal::Unauthenticated));
    }
    let Some(r) = db
        .fetch_optional(
            "SELECT structure_id, secret_hash, scopes, expires_at, revoked_at, last_used_at
             FROM api_clients WHERE client_id = $1",
            crate::args![client_id],
        )
        .await?
    else {
        return Ok(Err(Refusal::Unauthenticated));
    };
    let good = crate::crypto::ct_eq(&crate::crypto::sha256_hex(secret), &r.text("secret_hash")?);
    if !good || r.opt_int("revoked_at")?.is_some() || r.int("expires_at")? <= now {
        return Ok(Err(Refusal::Unauthenticated));
    }
    if !r.text("scopes")?.split(',').any(|s| s == scope) {
        return Ok(Err(Refusal::Scope));
    }
    // The last use, at most once a minute.
    if r.opt_int("last_used_at")?.is_none_or(|t| now - t >= 60) {
        db.execute(
            "UPDATE api_clients SET last_used_at = $1 WHERE client_id = $2",
            crate::args![now, client_id],
        )
        .await?;
    }
    Ok(Ok(r.int("structure_id")?))
}
