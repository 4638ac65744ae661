//! Mandate drafts: what the aidant chose (démarches, duration), kept while the usager
//! logs in with FranceConnect and until the recap is confirmed. A draft is bound to
//! the aidant's session, lives 30 minutes and is deleted in the transaction that
//! writes the mandate.

use super::{Actor, Demarche, Duree, Identity};
use crate::crypto;
use crate::db::Exec as _;
use crate::db::{Db, Tx};

/// How long a draft (and so a FranceConnect round trip plus the recap) may take.
pub const TTL: i64 = 30 * 60;

#[derive(Debug, Clone)]
pub struct Draft {
    pub id: i64,
    pub public_id: String,
    pub account_id: i64,
    pub structure_id: i64,
    pub demarches: Vec<Demarche>,
    pub duree: Duree,
    pub is_remote: bool,
    pub usager_id: Option<i64>,
    pub renewed_from: Option<i64>,
    pub identity: Option<Identity>,
    pub nonce: Option<String>,
    pub expires_at: i64,
}

impl Draft {
    fn from_row(r: &crate::db::Rec) -> Result<Self, crate::db::Error> {
        let identity: Option<String> = r.get("identity")?;
        let days: i64 = r.get("duration_days")?;
        Ok(Draft {
            id: r.get("id")?,
            public_id: r.get("public_id")?,
            account_id: r.get("account_id")?,
            structure_id: r.get("structure_id")?,
            demarches: Demarche::parse_list(&r.get::<String>("demarches")?),
            duree: Duree::from_days(days).unwrap_or(Duree::Court),
            is_remote: r.get::<i64>("is_remote")? != 0,
            usager_id: r.get("usager_id")?,
            renewed_from: r.get("renewed_from")?,
            identity: identity.and_then(|j| serde_json::from_str(&j).ok()),
            nonce: r.get("nonce")?,
            expires_at: r.get("expires_at")?,
        })
    }
}

/// The columns [`Draft::from_row`] reads, for `concat!`.
macro_rules! columns {
    () => {
        "id, public_id, account_id, structure_id, demarches, duration_days, is_remote, \
         usager_id, renewed_from, identity, nonce, expires_at"
    };
}

/// What the aidant chose on the first page.
pub struct Choice<'a> {
    pub demarches: &'a [Demarche],
    pub duree: Duree,
    pub is_remote: bool,
}

/// Starts a FranceConnect draft; returns (public id, raw `state`, `nonce`).
pub async fn start_franceconnect(
    db: &Db,
    session_hash: &str,
    actor: Actor,
    choice: &Choice<'_>,
    now: i64,
) -> Result<(String, String, String), crate::db::Error> {
    let public_id = crypto::random_token();
    let state = crypto::random_token();
    let nonce = crypto::random_token();
    db.execute(
        "INSERT INTO mandat_drafts (public_id, state_hash, nonce, session_hash, account_id,
             structure_id, demarches, duration_days, is_remote, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        crate::args![
            &public_id,
            crypto::sha256_hex(&state),
            &nonce,
            session_hash,
            actor.account_id,
            actor.structure_id,
            Demarche::join(choice.demarches),
            choice.duree.days(),
            i64::from(choice.is_remote),
            now,
            now + TTL
        ],
    )
    .await?;
    Ok((public_id, state, nonce))
}

/// Starts a renewal draft for a known usager (no FranceConnect step).
pub async fn start_renewal(
    db: &Db,
    session_hash: &str,
    actor: Actor,
    usager_id: i64,
    renewed_from: Option<i64>,
    choice: &Choice<'_>,
    now: i64,
) -> Result<String, crate::db::Error> {
    let public_id = crypto::random_token();
    db.execute(
        "INSERT INTO mandat_drafts (public_id, session_hash, account_id, structure_id, demarches,
             duration_days, is_remote, usager_id, renewed_from, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        crate::args![
            &public_id,
            session_hash,
            actor.account_id,
            actor.structure_id,
            Demarche::join(choice.demarches),
            choice.duree.days(),
            i64::from(choice.is_remote),
            usager_id,
            renewed_from,
            now,
            now + TTL
        ],
    )
    .await?;
    Ok(public_id)
}

/// The draft a FranceConnect callback's `state` belongs to, for this session only.
pub async fn by_state(
    db: &Db,
    state: &str,
    session_hash: &str,
    now: i64,
) -> Result<Option<Draft>, crate::db::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM mandat_drafts WHERE state_hash = $1 AND session_hash = $2 AND expires_at > $3"
    );
    db.fetch_optional(
        sql,
        crate::args![crypto::sha256_hex(state), session_hash, now],
    )
    .await?
    .map(|r| Draft::from_row(&r))
    .transpose()
}

/// A draft by its public id, for this session only.
pub async fn find(
    db: &Db,
    public_id: &str,
    session_hash: &str,
    now: i64,
) -> Result<Option<Draft>, crate::db::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM mandat_drafts WHERE public_id = $1 AND session_hash = $2 AND expires_at > $3"
    );
    db.fetch_optional(sql, crate::args![public_id, session_hash, now])
        .await?
        .map(|r| Draft::from_row(&r))
        .transpose()
}

/// Stores the verified identity; the `state` can no longer be used.
pub async fn set_identity(db: &Db, id: i64, identity: &Identity) -> Result<bool, crate::db::Error> {
    let json = serde_json::to_string(identity)
        .map_err(|e| crate::db::Error::Data(format!("identité : {e}")))?;
    let done = db.execute("UPDATE mandat_drafts SET identity = $1, state_hash = NULL WHERE id = $2 AND state_hash IS NOT NULL", crate::args![json, id])
    .await?;
    Ok(done == 1)
}

/// Consumes a draft inside the mandate's transaction; false if already consumed.
pub async fn consume(tx: &mut Tx, id: i64) -> Result<bool, crate::db::Error> {
    let done = tx
        .execute("DELETE FROM mandat_drafts WHERE id = $1", crate::args![id])
        .await?;
    Ok(done == 1)
}

/// Drops a draft (failed FranceConnect login, cancel).
pub async fn discard(db: &Db, id: i64) -> Result<(), crate::db::Error> {
    db.execute("DELETE FROM mandat_drafts WHERE id = $1", crate::args![id])
        .await?;
    Ok(())
}

/// Follows a session id renewal (TOTP step-up) so drafts stay bound to it.
pub async fn rebind(db: &Db, old_hash: &str, new_hash: &str) -> Result<(), crate::db::Error> {
    db.execute(
        "UPDATE mandat_drafts SET session_hash = $1 WHERE session_hash = $2",
        crate::args![new_hash, old_hash],
    )
    .await?;
    Ok(())
}

/// Deletes expired drafts (they may hold an identity read from FranceConnect).
pub async fn purge(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    let done = db
        .execute(
            "DELETE FROM mandat_drafts WHERE expires_at <= $1",
            crate::args![now],
        )
        .await?;
    Ok(done)
}
