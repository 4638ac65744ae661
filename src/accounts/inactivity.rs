//! Inactive accounts (daily job `inactivite`): an aidant or référent who has not
//! signed in for 5 months is warned by email; after 6 months, and at least 14 days
//! after the warning, their memberships are deactivated and their sessions ended.
//! A référent can reactivate them from the team page. Administrators are left out.

use crate::db::Db;
use crate::db::exec::Exec;
use crate::journal::{self, Action, NewEntry};
use crate::mail::{Mailer, messages};

pub const JOB: &str = "inactivite";
pub const WARN_AFTER: i64 = 150 * 86_400;
pub const DEACTIVATE_AFTER: i64 = 182 * 86_400;
/// Time left to react between the warning and the deactivation, at least.
pub const NOTICE: i64 = 14 * 86_400;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub warned: usize,
    pub deactivated: usize,
}

impl Report {
    pub fn summary(&self) -> String {
        format!(
            "{} compte(s) prévenu(s), {} compte(s) désactivé(s)",
            self.warned, self.deactivated
        )
    }
}

pub async fn run_if_due(
    db: &Db,
    mailer: &Mailer,
    public_url: &str,
    now: i64,
) -> Result<Option<Report>, crate::db::Error> {
    if !crate::jobs::claim(db, JOB, now).await? {
        return Ok(None);
    }
    let report = run(db, mailer, public_url, now).await?;
    let next = crate::time_fr::paris_midnight(now, 1) + 4 * 3_600;
    crate::jobs::finish(db, JOB, now, next, &report.summary()).await?;
    tracing::info!(résultat = %report.summary(), "comptes inactifs");
    Ok(Some(report))
}

/// Accounts with an active membership, not administrators, not disabled, activated.
const CANDIDATES: &str = "SELECT a.id, a.email, COALESCE(a.last_login_at, a.created_at) AS seen,
        a.inactivity_warned_at
     FROM accounts a
     WHERE a.is_admin = 0 AND a.disabled_at IS NULL AND a.password_hash IS NOT NULL
       AND COALESCE(a.last_login_at, a.created_at) < $1
       AND EXISTS (SELECT 1 FROM memberships m WHERE m.account_id = a.id AND m.deactivated_at IS NULL)
     ORDER BY a.id";

pub async fn run(
    db: &Db,
    mailer: &Mailer,
    public_url: &str,
    now: i64,
) -> Result<Report, crate::db::Error> {
    let mut report = Report::default();
    let rows = db
        .conn()
        .await?
        .fetch_all(CANDIDATES, crate::args![now - WARN_AFTER])
        .await?;
    for r in rows {
        let id = r.int("id")?;
        let seen = r.int("seen")?;
        match r.opt_int("inactivity_warned_at")? {
            None => {
                let deadline =
                    crate::time_fr::date_long((seen + DEACTIVATE_AFTER).max(now + NOTICE));
                mailer
                    .send(messages::inactivity_warning(
                        &r.text("email")?,
                        &deadline,
                        &format!("{public_url}/connexion"),
                    ))
                    .await
                    .map_err(|e| crate::db::Error::Data(format!("e-mail d'inactivité : {e}")))?;
                db.execute(
                    "UPDATE accounts SET inactivity_warned_at = $1 WHERE id = $2 AND inactivity_warned_at IS NULL",
                    crate::args![now, id],
                )
                .await?;
                report.warned += 1;
            }
            Some(warned) if seen < now - DEACTIVATE_AFTER && warned <= now - NOTICE => {
                deactivate(db, id, now).await?;
                report.deactivated += 1;
            }
            Some(_) => {}
        }
    }
    Ok(report)
}

/// Deactivates every membership of the account and ends its sessions, journaled on
/// each structure's chain, in one transaction.
async fn deactivate(db: &Db, account_id: i64, now: i64) -> Result<(), crate::db::Error> {
    let mut tx = db.begin().await?;
    let structures: Vec<i64> = tx
        .fetch_all(
            "SELECT structure_id FROM memberships WHERE account_id = $1 AND deactivated_at IS NULL ORDER BY structure_id",
            crate::args![account_id],
        )
        .await?
        .iter()
        .map(|r| r.int("structure_id"))
        .collect::<Result<_, _>>()?;
    tx.execute(
        "UPDATE memberships SET deactivated_at = $1 WHERE account_id = $2 AND deactivated_at IS NULL",
        crate::args![now, account_id],
    )
    .await?;
    tx.execute(
        "DELETE FROM sessions WHERE account_id = $1",
        crate::args![account_id],
    )
    .await?;
    for sid in structures {
        journal::append(
            &mut tx,
            &NewEntry::new(sid, Action::DesactivationInactivite).account(account_id),
            now,
        )
        .await?;
    }
    tx.commit().await
}
