//! Database-backed sessions, so that any number of app servers behind a load balancer
//! behave like one. The cookie holds a random 256-bit id; only its SHA-256 is stored.

use crate::crypto;
use crate::db::Db;
use crate::db::exec::Exec;
use crate::domain::Role;

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: i64 = 2 * 3600;
/// A session ends this long after sign-in, whatever happens.
pub const ABSOLUTE_TIMEOUT: i64 = 12 * 3600;
/// After this long idle, sensitive actions ask for a TOTP code again.
pub const STEP_UP_IDLE: i64 = 15 * 60;
/// `last_seen_at` is written at most this often (reads stay reads).
pub const TOUCH_INTERVAL: i64 = 60;

pub const COOKIE: &str = "relais_session";

#[derive(Debug, Clone)]
pub struct Session {
    pub id_hash: String,
    pub account_id: i64,
    pub email: String,
    pub full_name: String,
    pub is_admin: bool,
    /// The structure the person works in now, if any.
    pub structure_id: Option<i64>,
    /// That structure, read with the session (one statement per request).
    pub structure: Option<crate::structures::Structure>,
    /// The role in that structure; `None` when the membership is deactivated.
    pub role: Option<Role>,
    /// The person records mediation activities (has a mediator profile).
    pub mediateur: bool,
    /// The mediator coordinates a team.
    pub coordinateur: bool,
    /// The pass numérique funder the person works for.
    pub financeur_id: Option<i64>,
    /// Follows a territory's steering figures (`territoire_comptes`).
    pub territoire: bool,
    /// The current structure hands out pass numérique carnets.
    pub pass_prescripteur: bool,
    /// The current structure is a place qualified to redeem pass numérique.
    pub pass_lieu: bool,
    /// The current structure answers Solidarité Numérique requests: `national`
    /// (the helpline) or `local` (a place near people).
    pub rappels: Option<String>,
    pub csrf_token: String,
    pub created_at: i64,
    pub mfa_at: i64,
    /// A TOTP code must be confirmed before the next sensitive action.
    pub reauth_required: bool,
}

impl Session {
    /// Active member of the current structure.
    /// Active member of the current structure, whatever the role.
    pub fn member_of_current(&self) -> Option<(i64, Role)> {
        match (self.structure_id, self.role) {
            (Some(s), Some(r)) => Some((s, r)),
            _ => None,
        }
    }

    /// Active aidant or référent of the current structure: who may work with
    /// mandates (a médiateur may not).
    pub fn aidant_of_current(&self) -> Option<(i64, Role)> {
        self.member_of_current()
            .filter(|(_, r)| matches!(r, Role::Aidant | Role::Referent))
    }

    /// Active member of the current structure with a mediator profile: who
    /// records activities there.
    /// Active member (any role) of the current structure when it hands out pass
    /// numérique carnets.
    pub fn prescriber_of_current(&self) -> Option<i64> {
        self.member_of_current()
            .filter(|_| self.pass_prescripteur)
            .map(|(s, _)| s)
    }

    /// Active member (any role) of the current structure when it is a place
    /// qualified for the pass numérique.
    pub fn pass_place_of_current(&self) -> Option<i64> {
        self.member_of_current()
            .filter(|_| self.pass_lieu)
            .map(|(s, _)| s)
    }

    /// Active member (any role) of the current structure when it answers
    /// Solidarité Numérique requests.
    pub fn helpline_of_current(&self) -> Option<crate::rappels::Agent> {
        let (structure_id, _) = self.member_of_current()?;
        let account_id = self.account_id;
        match self.rappels.as_deref()? {
            "national" => Some(crate::rappels::Agent::National {
                structure_id,
                account_id,
            }),
            _ => Some(crate::rappels::Agent::Local {
                structure_id,
                account_id,
            }),
        }
    }

    pub fn mediator_of_current(&self) -> Option<i64> {
        self.member_of_current()
            .filter(|_| self.mediateur)
            .map(|(s, _)| s)
    }
}

/// Creates a session for a person who just proved password and TOTP; returns the
/// raw id for the cookie. The sign-in is journaled in the same transaction (in the
/// chain of the structure the person lands in; 0 for administrators without one).
pub async fn create(db: &Db, account_id: i64, now: i64) -> Result<String, crate::db::Error> {
    let mut tx = db.begin().await?;
    let structure_id: Option<i64> = tx
        .fetch_optional(
            "SELECT m.structure_id FROM memberships m JOIN structures s ON s.id = m.structure_id
         WHERE m.account_id = $1 AND m.deactivated_at IS NULL ORDER BY s.name, s.id LIMIT 1",
            crate::args![account_id],
        )
        .await?
        .map(|r| r.get("structure_id"))
        .transpose()?;
    let raw = crypto::random_token();
    tx.execute("INSERT INTO sessions (id_hash, account_id, structure_id, csrf_token, created_at, last_seen_at, mfa_at)
         VALUES ($1, $2, $3, $4, $5, $5, $5)", crate::args![crypto::sha256_hex(&raw), account_id, structure_id, crypto::random_token(), now])
    .await?;
    tx.execute(
        "UPDATE accounts SET last_login_at = $1, inactivity_warned_at = NULL WHERE id = $2",
        crate::args![now, account_id],
    )
    .await?;
    crate::journal::append(
        &mut tx,
        &crate::journal::NewEntry::new(
            structure_id.unwrap_or(0),
            crate::journal::Action::ConnexionAidant,
        )
        .account(account_id),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(raw)
}

/// Loads a session from the raw cookie value; expired sessions are deleted.
pub async fn load(db: &Db, raw: &str, now: i64) -> Result<Option<Session>, crate::db::Error> {
    if raw.len() != 64 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let id_hash = crypto::sha256_hex(raw);
    // Every request reads its session: through the hot-path connection.
    let row = db
        .conn()
        .await?
        .fetch_optional(
            "SELECT s.account_id, s.structure_id, s.csrf_token, s.created_at, s.last_seen_at, s.mfa_at,
                    s.reauth_required, a.email, a.full_name, a.is_admin, a.disabled_at,
                    m.role, m.deactivated_at, st.name, st.siret, st.address, st.commune_insee,
                    st.kind, st.is_demo, md.account_id AS mediateur, md.coordinateur,
                    (SELECT MIN(f.financeur_id) FROM pass_financeur_membres f
                     WHERE f.account_id = s.account_id) AS financeur,
                    (SELECT COUNT(*) FROM pass_prescripteurs p
                     WHERE p.structure_id = s.structure_id) AS prescripteur,
                    (SELECT COUNT(*) FROM pass_lieux q
                     WHERE q.structure_id = s.structure_id AND q.statut = 'qualifie') AS pass_lieu,
                    (SELECT COUNT(*) FROM territoire_comptes tc
                     WHERE tc.account_id = s.account_id) AS territoire,
                    (SELECT rs.niveau FROM rappel_structures rs
                     WHERE rs.structure_id = s.structure_id) AS rappels
             FROM sessions s
             JOIN accounts a ON a.id = s.account_id
             LEFT JOIN memberships m ON m.account_id = s.account_id AND m.structure_id = s.structure_id
             LEFT JOIN structures st ON st.id = s.structure_id
             LEFT JOIN mediateurs md ON md.account_id = s.account_id
             WHERE s.id_hash = $1",
            crate::args![&id_hash],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let created_at = row.int("created_at")?;
    let last_seen_at = row.int("last_seen_at")?;
    if now - last_seen_at > IDLE_TIMEOUT
        || now - created_at > ABSOLUTE_TIMEOUT
        || row.opt_int("disabled_at")?.is_some()
    {
        delete(db, &id_hash).await?;
        return Ok(None);
    }
    let mut reauth_required = row.int("reauth_required")? != 0;
    if now - last_seen_at >= TOUCH_INTERVAL {
        let idle_too_long = now - last_seen_at > STEP_UP_IDLE;
        reauth_required |= idle_too_long;
        db.execute(
            "UPDATE sessions SET last_seen_at = $1, reauth_required = $2 WHERE id_hash = $3",
            crate::args![now, i64::from(reauth_required), &id_hash],
        )
        .await?;
    }
    let role = match (row.opt_text("role")?, row.opt_int("deactivated_at")?) {
        (Some(r), None) => Role::parse(&r).ok(),
        _ => None,
    };
    Ok(Some(Session {
        id_hash,
        account_id: row.int("account_id")?,
        email: row.text("email")?,
        full_name: row.text("full_name")?,
        is_admin: row.int("is_admin")? != 0,
        structure_id: row.opt_int("structure_id")?,
        structure: match (row.opt_int("structure_id")?, row.opt_text("name")?) {
            (Some(id), Some(_)) => Some(crate::structures::Structure::from_session_row(id, &row)?),
            _ => None,
        },
        role,
        mediateur: row.opt_int("mediateur")?.is_some(),
        coordinateur: row.opt_int("coordinateur")?.unwrap_or(0) != 0,
        financeur_id: row.opt_int("financeur")?,
        pass_prescripteur: row.int("prescripteur")? > 0,
        pass_lieu: row.int("pass_lieu")? > 0,
        territoire: row.int("territoire")? > 0,
        rappels: row.opt_text("rappels")?,
        csrf_token: row.text("csrf_token")?,
        created_at,
        mfa_at: row.int("mfa_at")?,
        reauth_required,
    }))
}

pub async fn delete(db: &Db, id_hash: &str) -> Result<(), crate::db::Error> {
    db.execute(
        "DELETE FROM sessions WHERE id_hash = $1",
        crate::args![id_hash],
    )
    .await?;
    Ok(())
}

/// "Sign out of all my sessions".
pub async fn delete_all_for_account(db: &Db, account_id: i64) -> Result<u64, crate::db::Error> {
    let done = db
        .execute(
            "DELETE FROM sessions WHERE account_id = $1",
            crate::args![account_id],
        )
        .await?;
    Ok(done)
}

pub async fn count_for_account(
    db: &Db,
    account_id: i64,
    now: i64,
) -> Result<i64, crate::db::Error> {
    db.fetch_one(
        "SELECT COUNT(*) AS n FROM sessions WHERE account_id = $1 AND last_seen_at > $2",
        crate::args![account_id, now - IDLE_TIMEOUT],
    )
    .await?
    .get("n")
}

/// After a TOTP step-up: new id (the old cookie stops working), fresh MFA time.
pub async fn renew_after_step_up(
    db: &Db,
    old_hash: &str,
    now: i64,
) -> Result<Option<String>, crate::db::Error> {
    let raw = crypto::random_token();
    let done = db.execute("UPDATE sessions SET id_hash = $1, mfa_at = $2, last_seen_at = $2, reauth_required = 0 WHERE id_hash = $3", crate::args![crypto::sha256_hex(&raw), now, old_hash])
    .await?;
    if done != 1 {
        return Ok(None);
    }
    let new_hash = crypto::sha256_hex(&raw);
    crate::mandats::drafts::rebind(db, old_hash, &new_hash).await?;
    crate::idp::rebind(db, old_hash, &new_hash).await?;
    Ok(Some(raw))
}

/// Switches the current structure; false when the account is not an active member.
pub async fn switch_structure(
    db: &Db,
    id_hash: &str,
    account_id: i64,
    structure_id: i64,
) -> Result<bool, crate::db::Error> {
    let done = db
        .execute(
            "UPDATE sessions SET structure_id = $1 WHERE id_hash = $2 AND EXISTS (
             SELECT 1 FROM memberships m
             WHERE m.account_id = $3 AND m.structure_id = $1 AND m.deactivated_at IS NULL)",
            crate::args![structure_id, id_hash, account_id],
        )
        .await?;
    Ok(done == 1)
}

/// Deletes sessions past their idle or absolute expiry.
pub async fn purge(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    let done = db
        .execute(
            "DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2",
            crate::args![now - IDLE_TIMEOUT, now - ABSOLUTE_TIMEOUT],
        )
        .await?;
    Ok(done)
}

/// Every 10 minutes, deletes expired sessions, old sign-in failures and old
/// account tokens.
pub fn spawn_cleanup(db: Db, clock: std::sync::Arc<dyn crate::clock::Clock>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = clock.now();
            if let Err(e) = purge(&db, now).await {
                tracing::warn!(cause = %e, "purge des sessions impossible");
            }
            if let Err(e) = crate::accounts::throttle::purge(&db, now).await {
                tracing::warn!(cause = %e, "purge des échecs de connexion impossible");
            }
            if let Err(e) = crate::accounts::tokens::purge(&db, now).await {
                tracing::warn!(cause = %e, "purge des liens d'activation impossible");
            }
        }
    });
}
