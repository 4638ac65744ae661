//! The usager's own space: they sign in with FranceConnect (matched on the hash of
//! `sub` Relais already keeps), see every mandate given in every structure, every
//! use made in their name and the attestations, revoke, and ask for the deletion
//! of their data. Read-only otherwise.
//!
//! - A sign-in started by a usager (space or consent at a distance,
//!   [`super::distance`]) is a row keyed by the hash of its `state`, bound to the
//!   browser by the hash of a cookie, used once, 30 minutes at most.
//! - A session is a cookie whose hash is stored; it ends after 15 minutes idle,
//!   4 hours in all, or at sign-out (which also ends FranceConnect's session).

use super::{Demarche, Mandat, MandatError};
use crate::crypto;
use crate::db::Db;
use crate::db::Exec as _;
use crate::journal::{self, Action, NewEntry};

/// Idle time after which a usager's session ends.
pub const IDLE: i64 = 15 * 60;
/// The longest a usager's session lasts.
pub const ABSOLUTE: i64 = 4 * 3_600;
/// How long a FranceConnect sign-in may take.
pub const LOGIN_TTL: i64 = 30 * 60;
/// Uses listed per page of a mandate.
pub const USES_PER_PAGE: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Space,
    Consent,
}

impl Purpose {
    fn key(self) -> &'static str {
        match self {
            Purpose::Space => "espace",
            Purpose::Consent => "consentement",
        }
    }
}

/// A sign-in being made.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    pub nonce: String,
    pub purpose: Purpose,
    pub lien_id: Option<i64>,
    /// For a consent: the fingerprint of the terms accepted.
    pub terms: String,
}

/// Starts a sign-in; returns (state, nonce, browser token for the cookie).
pub async fn start_login(
    db: &Db,
    purpose: Purpose,
    lien_id: Option<i64>,
    terms: &str,
    now: i64,
) -> Result<(String, String, String), crate::db::Error> {
    let state = crypto::random_token();
    let nonce = crypto::random_token();
    let browser = crypto::random_token();
    db.execute(
        "DELETE FROM usager_fc_logins WHERE expires_at <= $1",
        crate::args![now],
    )
    .await?;
    db.execute(
        "INSERT INTO usager_fc_logins (state_hash, nonce, browser_hash, purpose, lien_id,
             terms, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        crate::args![
            crypto::sha256_hex(&state),
            &nonce,
            crypto::sha256_hex(&browser),
            purpose.key(),
            lien_id,
            terms,
            now + LOGIN_TTL
        ],
    )
    .await?;
    Ok((state, nonce, browser))
}

/// Takes (and deletes) the sign-in a callback's `state` names, if it was started
/// in this browser and is still valid.
pub async fn take_login(
    db: &Db,
    state: &str,
    browser: &str,
    now: i64,
) -> Result<Option<PendingLogin>, crate::db::Error> {
    if state.is_empty() || state.len() > 256 || browser.is_empty() {
        return Ok(None);
    }
    let key = crypto::sha256_hex(state);
    let Some(r) = db
        .fetch_optional(
            "SELECT nonce, browser_hash, purpose, lien_id, terms, expires_at FROM usager_fc_logins
             WHERE state_hash = $1",
            crate::args![&key],
        )
        .await?
    else {
        return Ok(None);
    };
    // Used once, whatever happens next.
    let taken = db
        .execute(
            "DELETE FROM usager_fc_logins WHERE state_hash = $1",
            crate::args![&key],
        )
        .await?;
    let same_browser = crypto::ct_eq(
        &r.get::<String>("browser_hash")?,
        &crypto::sha256_hex(browser),
    );
    if taken != 1 || !same_browser || r.get::<i64>("expires_at")? <= now {
        return Ok(None);
    }
    let purpose = match r.get::<String>("purpose")?.as_str() {
        "consentement" => Purpose::Consent,
        _ => Purpose::Space,
    };
    Ok(Some(PendingLogin {
        nonce: r.get("nonce")?,
        purpose,
        lien_id: r.get("lien_id")?,
        terms: r.get("terms")?,
    }))
}

/// The usager FranceConnect identified, if Relais knows them.
pub async fn usager_by_sub_hash(db: &Db, sub_hash: &str) -> Result<Option<i64>, crate::db::Error> {
    db.fetch_optional(
        "SELECT id FROM usagers WHERE sub_hash = $1",
        crate::args![sub_hash],
    )
    .await?
    .map(|r| r.get("id"))
    .transpose()
}

/// Opens a session; returns the cookie's value.
pub async fn open_session(
    db: &Db,
    usager_id: i64,
    id_token: &str,
    now: i64,
) -> Result<String, crate::db::Error> {
    let token = crypto::random_token();
    db.execute(
        "DELETE FROM usager_sessions WHERE last_seen <= $1 OR created_at <= $2",
        crate::args![now - IDLE, now - ABSOLUTE],
    )
    .await?;
    db.execute(
        "INSERT INTO usager_sessions (id_hash, usager_id, id_token, created_at, last_seen)
         VALUES ($1, $2, $3, $4, $4)",
        crate::args![crypto::sha256_hex(&token), usager_id, id_token, now],
    )
    .await?;
    Ok(token)
}

/// A signed-in usager.
#[derive(Debug, Clone)]
pub struct UsagerSession {
    pub id_hash: String,
    pub usager_id: i64,
}

/// The session of a cookie, still valid (its idle time restarts); an ended one is
/// deleted.
pub async fn session(
    db: &Db,
    cookie: &str,
    now: i64,
) -> Result<Option<UsagerSession>, crate::db::Error> {
    if cookie.is_empty() || cookie.len() > 128 {
        return Ok(None);
    }
    let id_hash = crypto::sha256_hex(cookie);
    let Some(r) = db
        .fetch_optional(
            "SELECT usager_id, created_at, last_seen FROM usager_sessions WHERE id_hash = $1",
            crate::args![&id_hash],
        )
        .await?
    else {
        return Ok(None);
    };
    let created: i64 = r.get("created_at")?;
    let seen: i64 = r.get("last_seen")?;
    if now - seen >= IDLE || now - created >= ABSOLUTE {
        db.execute(
            "DELETE FROM usager_sessions WHERE id_hash = $1",
            crate::args![&id_hash],
        )
        .await?;
        return Ok(None);
    }
    if now > seen {
        db.execute(
            "UPDATE usager_sessions SET last_seen = $1 WHERE id_hash = $2",
            crate::args![now, &id_hash],
        )
        .await?;
    }
    Ok(Some(UsagerSession {
        id_hash,
        usager_id: r.get("usager_id")?,
    }))
}

/// Ends a session; returns the FranceConnect ID token to end its session too.
pub async fn close_session(db: &Db, id_hash: &str) -> Result<Option<String>, crate::db::Error> {
    let token = db
        .fetch_optional(
            "SELECT id_token FROM usager_sessions WHERE id_hash = $1",
            crate::args![id_hash],
        )
        .await?
        .map(|r| r.get::<String>("id_token"))
        .transpose()?;
    db.execute(
        "DELETE FROM usager_sessions WHERE id_hash = $1",
        crate::args![id_hash],
    )
    .await?;
    Ok(token)
}

/// One use of a mandate: an aidant signed in to an online service in the
/// usager's name.
#[derive(Debug, Clone)]
pub struct Use {
    pub at: i64,
    pub mandat_id: i64,
    pub demarche: Option<Demarche>,
    pub aidant: String,
    pub structure: String,
    /// The online service's client id (the page shows its name).
    pub client_id: String,
}

impl Use {
    pub fn when(&self) -> String {
        crate::time_fr::date_time(self.at)
    }
    pub fn demarche_title(&self) -> &'static str {
        self.demarche.map(Demarche::title).unwrap_or("Démarche")
    }
}

/// An attestation of a mandate, as the usager's page links it.
#[derive(Debug, Clone)]
pub struct AttestationLink {
    pub token: String,
    pub is_revocation: bool,
    pub created_at: i64,
}

impl AttestationLink {
    pub fn label(&self) -> String {
        format!(
            "{} du {}",
            if self.is_revocation {
                "Attestation de révocation"
            } else {
                "Attestation de mandat"
            },
            crate::time_fr::date(self.created_at)
        )
    }
}

/// A mandate on the usager's page.
#[derive(Debug, Clone)]
pub struct MyMandat {
    pub mandat: Mandat,
    pub structure_name: String,
    pub structure_address: String,
    pub attestations: Vec<AttestationLink>,
    pub uses: i64,
}

/// What the usager's space shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub name: String,
    pub mandats: Vec<MyMandat>,
    pub recent_uses: Vec<Use>,
    pub deletion_requested: bool,
}

impl Overview {
    pub fn any_active(&self) -> bool {
        self.mandats
            .iter()
            .any(|m| m.mandat.state == super::State::Active)
    }
}

/// Everything the usager's page shows, in five queries whatever the number of
/// mandates and uses.
pub async fn overview(
    db: &Db,
    usager_id: i64,
    recent: i64,
    now: i64,
) -> Result<Option<Overview>, crate::db::Error> {
    let Some(u) = db
        .fetch_optional(
            "SELECT given_name, family_name, preferred_username, gender, deletion_requested_at
             FROM usagers WHERE id = $1",
            crate::args![usager_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let list = super::mandats_of_usager(db, usager_id, now).await?;
    let structures = db
        .fetch_all(
            "SELECT DISTINCT s.id, s.name, s.address FROM structures s
             JOIN mandats m ON m.structure_id = s.id WHERE m.usager_id = $1",
            crate::args![usager_id],
        )
        .await?;
    let mut names: Vec<(i64, String, String)> = Vec::with_capacity(structures.len());
    for r in &structures {
        names.push((r.get("id")?, r.get("name")?, r.get("address")?));
    }
    let attestation_rows = db
        .fetch_all(
            "SELECT t.token, t.kind, t.created_at, t.mandat_id FROM attestations t
             JOIN mandats m ON m.id = t.mandat_id
             WHERE m.usager_id = $1 ORDER BY t.created_at, t.id",
            crate::args![usager_id],
        )
        .await?;
    let count_rows = db
        .fetch_all(
            "SELECT a.mandat_id, COUNT(*) AS n FROM journal j
             JOIN autorisations a ON a.id = j.autorisation_id
             WHERE j.usager_id = $1 AND j.action = 'utilisation_autorisation'
             GROUP BY a.mandat_id",
            crate::args![usager_id],
        )
        .await?;
    let mut counts: Vec<(i64, i64)> = Vec::with_capacity(count_rows.len());
    for r in &count_rows {
        counts.push((r.get("mandat_id")?, r.get("n")?));
    }
    let mut mandats = Vec::with_capacity(list.len());
    for m in list {
        let (structure_name, structure_address) = names
            .iter()
            .find(|(id, _, _)| *id == m.structure_id)
            .map(|(_, n, a)| (n.clone(), a.clone()))
            .unwrap_or_default();
        let mut attestations = Vec::new();
        for r in &attestation_rows {
            if r.get::<i64>("mandat_id")? == m.id {
                attestations.push(AttestationLink {
                    token: r.get("token")?,
                    is_revocation: r.get::<String>("kind")? == "revocation",
                    created_at: r.get("created_at")?,
                });
            }
        }
        let uses = counts
            .iter()
            .find(|(id, _)| *id == m.id)
            .map_or(0, |(_, n)| *n);
        mandats.push(MyMandat {
            mandat: m,
            structure_name,
            structure_address,
            attestations,
            uses,
        });
    }
    Ok(Some(Overview {
        name: super::display_name(
            &u.get::<String>("given_name")?,
            &u.get::<String>("family_name")?,
            &u.get::<String>("preferred_username")?,
            &u.get::<String>("gender")?,
        ),
        mandats,
        recent_uses: uses(db, usager_id, None, recent, 0).await?,
        deletion_requested: u.get::<Option<i64>>("deletion_requested_at")?.is_some(),
    }))
}

/// Uses made in the usager's name (of one mandate, or all), newest first.
pub async fn uses(
    db: &Db,
    usager_id: i64,
    mandat_id: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Use>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT j.at, j.demarche, j.details, ac.full_name, s.name AS structure, a.mandat_id
             FROM journal j
             JOIN autorisations a ON a.id = j.autorisation_id
             JOIN structures s ON s.id = a.structure_id
             LEFT JOIN accounts ac ON ac.id = j.account_id
             WHERE j.usager_id = $1 AND j.action = 'utilisation_autorisation'
               AND ($2 = 0 OR a.mandat_id = $2)
             ORDER BY j.at DESC, j.id DESC LIMIT $3 OFFSET $4",
            crate::args![usager_id, mandat_id.unwrap_or(0), limit, offset],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let details: String = r.get("details")?;
        let client_id = serde_json::from_str::<serde_json::Value>(&details)
            .ok()
            .and_then(|v| v.get("client").and_then(|c| c.as_str()).map(str::to_owned))
            .unwrap_or_default();
        out.push(Use {
            at: r.get("at")?,
            mandat_id: r.get("mandat_id")?,
            demarche: r
                .get::<Option<String>>("demarche")?
                .and_then(|d| Demarche::parse(&d).ok()),
            aidant: r.get::<Option<String>>("full_name")?.unwrap_or_default(),
            structure: r.get("structure")?,
            client_id,
        });
    }
    Ok(out)
}

/// Records the usager's request to delete their data (refused while a mandate is
/// active); journaled in each structure's chain. The retention job honours it.
pub async fn request_deletion(db: &Db, usager_id: i64, now: i64) -> Result<(), MandatError> {
    let active = db
        .fetch_optional(
            "SELECT 1 AS ok FROM autorisations
             WHERE usager_id = $1 AND revoked_at IS NULL AND expires_at > $2",
            crate::args![usager_id, now],
        )
        .await?;
    if active.is_some() {
        return Err(MandatError::Refused(
            "Vous avez encore un mandat actif. Révoquez d'abord vos mandats actifs, puis demandez la suppression.",
        ));
    }
    let structures: Vec<i64> = db
        .fetch_all(
            "SELECT DISTINCT structure_id FROM mandats WHERE usager_id = $1 ORDER BY structure_id",
            crate::args![usager_id],
        )
        .await?
        .iter()
        .map(|r| r.get("structure_id"))
        .collect::<Result<_, _>>()?;
    let mut tx = db.begin().await?;
    for sid in &structures {
        db.lock_structure(&mut tx, *sid).await?;
    }
    let done = tx
        .execute(
            "UPDATE usagers SET deletion_requested_at = $1
             WHERE id = $2 AND deletion_requested_at IS NULL",
            crate::args![now, usager_id],
        )
        .await?;
    if done == 1 {
        for sid in structures {
            journal::append(
                &mut tx,
                &NewEntry::new(sid, Action::DemandeSuppressionUsager)
                    .usager(usager_id)
                    .details(serde_json::json!({ "par": "usager" })),
                now,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Usagers who asked for deletion and have no active mandate (the retention job
/// deletes them).
pub async fn deletions_due(db: &Db, now: i64) -> Result<Vec<i64>, crate::db::Error> {
    db.fetch_all(
        "SELECT u.id FROM usagers u WHERE u.deletion_requested_at IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM autorisations a WHERE a.usager_id = u.id
                           AND a.revoked_at IS NULL AND a.expires_at > $1)
         ORDER BY u.id",
        crate::args![now],
    )
    .await?
    .iter()
    .map(|r| r.get("id"))
    .collect()
}

/// Deletes ended sessions and sign-ins.
pub async fn purge(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    let sessions = db
        .execute(
            "DELETE FROM usager_sessions WHERE last_seen <= $1 OR created_at <= $2",
            crate::args![now - IDLE, now - ABSOLUTE],
        )
        .await?;
    let logins = db
        .execute(
            "DELETE FROM usager_fc_logins WHERE expires_at <= $1",
            crate::args![now],
        )
        .await?;
    Ok(sessions + logins)
}
