//! Retention of personal data (a daily job, see [`crate::jobs`]):
//! - usagers whose mandates all ended more than `retention_days` ago are deleted with
//!   their mandates, autorisations and attestations; their journal entries are
//!   pseudonymised (personal fields deleted, hashes kept: the chain still verifies);
//! - long mandates expiring within 30 days are announced to the structure's référents;
//! - expired mandate drafts are purged;
//! - habilitation requests nobody can reach (drafts whose link expired) or decided
//!   against (refused, withdrawn) `retention_days` ago are deleted
//!   ([`crate::habilitation::purge`]);
//! - usagers who asked for the deletion of their data from their space are deleted
//!   the same way once no mandate of theirs is active ([`super::espace`]);
//! - ended usager sessions and sign-ins are deleted; links for mandates at a
//!   distance lose their destination once unusable and go 90 days after
//!   ([`super::distance::purge`]);
//! - what the identity provider keeps of finished sign-ins (requests, codes, access
//!   tokens) is deleted an hour after it expired ([`crate::idp::purge`]);
//! - Solidarité Numérique callback requests lose the person's data three months
//!   after closure ([`crate::rappels::purge`]).

use crate::db::Db;
use crate::db::Exec as _;
use crate::journal::{self, Action, NewEntry};
use crate::mail::Mailer;

pub const JOB: &str = "conservation_mandats";

#[derive(Debug, Clone)]
pub struct Settings {
    /// Days a usager's data is kept after their last mandate ended.
    pub retention_days: i64,
    /// Base URL for links in emails.
    pub public_url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub deleted_usagers: u64,
    pub pseudonymised_entries: u64,
    pub notified_structures: u64,
    pub purged_drafts: u64,
    pub deleted_requests: u64,
    pub purged_sign_ins: u64,
    pub deleted_on_request: u64,
    pub purged_usager_items: u64,
    /// Solidarité Numérique requests stripped of the person's data.
    pub purged_callbacks: u64,
}

impl Report {
    pub fn summary(&self) -> String {
        format!(
            "{} usager(s) supprimé(s) dont {} à leur demande, {} entrée(s) du journal pseudonymisée(s), {} structure(s) prévenue(s), {} brouillon(s) purgé(s), {} demande(s) d'habilitation supprimée(s), {} trace(s) de connexion aux services en ligne supprimée(s), {} session(s) ou lien(s) d'usager purgé(s), {} demande(s) de rappel anonymisée(s)",
            self.deleted_usagers,
            self.deleted_on_request,
            self.pseudonymised_entries,
            self.notified_structures,
            self.purged_drafts,
            self.deleted_requests,
            self.purged_sign_ins,
            self.purged_usager_items,
            self.purged_callbacks
        )
    }
}

/// Runs the job if it is due (once a day, at 03:00 Paris time) and this server
/// claimed it.
pub async fn run_if_due(
    db: &Db,
    mailer: &Mailer,
    settings: &Settings,
    now: i64,
) -> Result<Option<Report>, crate::db::Error> {
    if !crate::jobs::claim(db, JOB, now).await? {
        return Ok(None);
    }
    let report = run(db, mailer, settings, now).await?;
    let next = crate::time_fr::paris_midnight(now, 1) + 3 * 3_600;
    crate::jobs::finish(db, JOB, now, next, &report.summary()).await?;
    tracing::info!(résultat = %report.summary(), "conservation des données des mandats");
    Ok(Some(report))
}

pub async fn run(
    db: &Db,
    mailer: &Mailer,
    settings: &Settings,
    now: i64,
) -> Result<Report, crate::db::Error> {
    let mut report = Report {
        purged_drafts: super::drafts::purge(db, now).await?,
        deleted_requests: crate::habilitation::purge(db, now, settings.retention_days).await?,
        purged_sign_ins: crate::idp::purge(db, now).await?,
        purged_usager_items: super::espace::purge(db, now).await?
            + super::distance::purge(db, now).await?,
        purged_callbacks: crate::rappels::purge(db, now).await?,
        ..Report::default()
    };
    let cutoff = now - settings.retention_days * 86_400;
    // An autorisation ends when revoked (if before its expiry) or when it expires.
    let rows = db
        .fetch_all(
            "SELECT usager_id FROM autorisations GROUP BY usager_id
         HAVING MAX(CASE WHEN revoked_at IS NOT NULL AND revoked_at < expires_at
                         THEN revoked_at ELSE expires_at END) < $1",
            crate::args![cutoff],
        )
        .await?;
    for r in rows {
        let usager_id: i64 = r.get("usager_id")?;
        report.pseudonymised_entries += delete_usager(db, usager_id, now).await?;
        report.deleted_usagers += 1;
    }
    for usager_id in super::espace::deletions_due(db, now).await? {
        report.pseudonymised_entries += delete_usager(db, usager_id, now).await?;
        report.deleted_usagers += 1;
        report.deleted_on_request += 1;
    }
    report.notified_structures = notify_expiring(db, mailer, settings, now).await?;
    Ok(report)
}

/// Deletes one usager and everything that names them, in one transaction, and
/// journals the deletion in each structure's chain. Returns the number of journal
/// entries pseudonymised.
pub async fn delete_usager(db: &Db, usager_id: i64, now: i64) -> Result<u64, crate::db::Error> {
    let mut tx = db.begin().await?;
    let structures: Vec<i64> = tx
        .fetch_all(
            "SELECT DISTINCT structure_id FROM mandats WHERE usager_id = $1 ORDER BY structure_id",
            crate::args![usager_id],
        )
        .await?
        .iter()
        .map(|r| r.get("structure_id"))
        .collect::<Result<_, _>>()?;
    for sid in &structures {
        db.lock_structure(&mut tx, *sid).await?;
    }
    let pseudonymised = journal::pseudonymise_usager(&mut tx, usager_id).await?;
    for sql in [
        "DELETE FROM attestations WHERE mandat_id IN (SELECT id FROM mandats WHERE usager_id = $1)",
        "DELETE FROM idp_requests WHERE usager_id = $1",
        "DELETE FROM idp_tokens WHERE usager_id = $1",
        "DELETE FROM idp_codes WHERE usager_id = $1",
        "DELETE FROM usager_sessions WHERE usager_id = $1",
        "DELETE FROM sms_messages WHERE lien_id IN (SELECT id FROM mandat_liens
             WHERE usager_id = $1 OR mandat_id IN (SELECT id FROM mandats WHERE usager_id = $1))",
        "DELETE FROM usager_fc_logins WHERE lien_id IN (SELECT id FROM mandat_liens
             WHERE usager_id = $1 OR mandat_id IN (SELECT id FROM mandats WHERE usager_id = $1))",
        "DELETE FROM mandat_liens WHERE usager_id = $1
             OR mandat_id IN (SELECT id FROM mandats WHERE usager_id = $1)",
        "DELETE FROM autorisations WHERE usager_id = $1",
        "DELETE FROM usager_structures WHERE usager_id = $1",
        "DELETE FROM mandat_drafts WHERE usager_id = $1",
        "DELETE FROM mandats WHERE usager_id = $1",
        "DELETE FROM usagers WHERE id = $1",
    ] {
        tx.execute(sql, crate::args![usager_id]).await?;
    }
    for sid in structures {
        journal::append(
            &mut tx,
            &NewEntry::new(sid, Action::SuppressionUsager)
                .usager(usager_id)
                .details(serde_json::json!({ "entrees_pseudonymisees": pseudonymised })),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(pseudonymised)
}

/// Emails each structure's référents about its long mandates ending within 30 days
/// (once per mandate). Returns the number of structures told.
async fn notify_expiring(
    db: &Db,
    mailer: &Mailer,
    settings: &Settings,
    now: i64,
) -> Result<u64, crate::db::Error> {
    let rows = db.fetch_all("SELECT m.id, m.structure_id FROM mandats m
         WHERE m.duration_days >= 365 AND m.expires_at > $1 AND m.expires_at <= $2
           AND m.expiry_notified_at IS NULL
           AND EXISTS (SELECT 1 FROM autorisations a WHERE a.mandat_id = m.id AND a.revoked_at IS NULL)
         ORDER BY m.structure_id, m.id", crate::args![now, now + 30 * 86_400])
    .await?;
    let mut by_structure: Vec<(i64, Vec<i64>)> = Vec::new();
    for r in rows {
        let sid: i64 = r.get("structure_id")?;
        let id: i64 = r.get("id")?;
        match by_structure.last_mut() {
            Some((s, ids)) if *s == sid => ids.push(id),
            _ => by_structure.push((sid, vec![id])),
        }
    }
    let mut told = 0;
    for (sid, ids) in by_structure {
        let referents = db
            .fetch_all(
                "SELECT a.email, s.name FROM memberships m
             JOIN accounts a ON a.id = m.account_id JOIN structures s ON s.id = m.structure_id
             WHERE m.structure_id = $1 AND m.role = 'referent' AND m.deactivated_at IS NULL
               AND a.disabled_at IS NULL",
                crate::args![sid],
            )
            .await?;
        let link = format!("{}/usagers?etat=actifs", settings.public_url);
        for r in &referents {
            let email: String = r.get("email")?;
            let name: String = r.get("name")?;
            let mail = crate::mail::messages::mandates_expiring(&email, &name, ids.len(), &link);
            if let Err(e) = mailer.send(mail).await {
                tracing::warn!(structure_id = sid, cause = %e, "e-mail d'échéance des mandats non envoyé");
            }
        }
        for id in &ids {
            db.execute(
                "UPDATE mandats SET expiry_notified_at = $1 WHERE id = $2",
                crate::args![now, id],
            )
            .await?;
        }
        told += 1;
    }
    Ok(told)
}
