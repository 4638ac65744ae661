//! A référent adds someone to the structure's team:
//! - a new person (or an account never activated) as **aidant** is created "to be
//!   trained": invited only once the training is recorded ([`crate::formations`]);
//! - as **référent**, they are invited at once;
//! - someone already active in another structure gets a **join request** that they
//!   accept or decline from their account page.

use super::AccountError;
use super::tokens::{self, Purpose};
use crate::db::exec::Exec;
use crate::db::{Db, Tx};
use crate::domain::{Email, Role};
use crate::journal::{self, Action, NewEntry};

#[derive(Debug)]
pub enum TeamOutcome {
    /// Invitation token to email (référents, or a pending invitation sent again).
    Invited { account_id: i64, token: String },
    /// A future aidant, to be trained before any invitation.
    ToTrain { account_id: i64 },
    /// The person is active elsewhere: a join request waits for their answer.
    JoinRequested { account_id: i64 },
}

/// Adds `email` to the team of `structure_id`, in one transaction.
pub async fn add_to_team(
    db: &Db,
    structure_id: i64,
    email: &Email,
    full_name: &str,
    role: Role,
    by: i64,
    now: i64,
) -> Result<TeamOutcome, AccountError> {
    let mut tx = db.begin().await?;
    let existing = tx
        .fetch_optional(
            "SELECT id, password_hash, totp_secret, disabled_at FROM accounts WHERE email = $1",
            crate::args![email.as_str()],
        )
        .await?;
    let outcome = match existing {
        None => {
            let id = tx
                .fetch_optional(
                    "INSERT INTO accounts (email, full_name, created_at) VALUES ($1, $2, $3) RETURNING id",
                    crate::args![email.as_str(), full_name, now],
                )
                .await?
                .ok_or(crate::db::Error::NotFound)?
                .int("id")?;
            add_member(&mut tx, id, structure_id, role, now).await?;
            newcomer(&mut tx, id, role, by, now).await?
        }
        Some(a) => {
            let id = a.int("id")?;
            if a.opt_int("disabled_at")?.is_some() {
                return Err(AccountError::Refused(
                    "Ce compte a été fermé par un administrateur : contactez l'équipe Relais pour le rouvrir.",
                ));
            }
            let active =
                a.opt_text("password_hash")?.is_some() && a.opt_text("totp_secret")?.is_some();
            let membership = tx
                .fetch_optional(
                    "SELECT deactivated_at FROM memberships WHERE account_id = $1 AND structure_id = $2",
                    crate::args![id, structure_id],
                )
                .await?;
            match membership {
                Some(m) if m.opt_int("deactivated_at")?.is_some() => {
                    return Err(AccountError::Refused(
                        "Cette personne fait déjà partie de l'équipe mais son accès est désactivé : réactivez-la depuis la liste de l'équipe.",
                    ));
                }
                Some(_) if active => {
                    return Err(AccountError::Refused(
                        "Cette personne fait déjà partie de l'équipe et son compte est actif.",
                    ));
                }
                Some(_) => newcomer(&mut tx, id, role, by, now).await?,
                None if active => {
                    if tx
                        .fetch_optional(
                            "SELECT id FROM join_requests
                             WHERE account_id = $1 AND structure_id = $2 AND decided_at IS NULL",
                            crate::args![id, structure_id],
                        )
                        .await?
                        .is_some()
                    {
                        return Err(AccountError::Refused(
                            "Une demande de rattachement attend déjà la réponse de cette personne.",
                        ));
                    }
                    tx.execute(
                        "INSERT INTO join_requests (account_id, structure_id, role, requested_by, created_at)
                         VALUES ($1, $2, $3, $4, $5)",
                        crate::args![id, structure_id, role.key(), by, now],
                    )
                    .await?;
                    TeamOutcome::JoinRequested { account_id: id }
                }
                None => {
                    add_member(&mut tx, id, structure_id, role, now).await?;
                    newcomer(&mut tx, id, role, by, now).await?
                }
            }
        }
    };
    let (member, action) = match &outcome {
        TeamOutcome::Invited { account_id, .. } => (*account_id, Action::MembreInvite),
        TeamOutcome::ToTrain { account_id } => (*account_id, Action::MembreAFormer),
        TeamOutcome::JoinRequested { account_id } => (*account_id, Action::RattachementPropose),
    };
    journal::append(
        &mut tx,
        &NewEntry::new(structure_id, action)
            .account(by)
            .details(serde_json::json!({ "membre": member, "role": role.key() })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

async fn add_member(
    tx: &mut Tx,
    account_id: i64,
    structure_id: i64,
    role: Role,
    now: i64,
) -> Result<(), crate::db::Error> {
    tx.execute(
        "INSERT INTO memberships (account_id, structure_id, role, created_at) VALUES ($1, $2, $3, $4)",
        crate::args![account_id, structure_id, role.key(), now],
    )
    .await?;
    if role == Role::Mediateur {
        crate::activites::ensure_profile(tx, account_id, now).await?;
    }
    Ok(())
}

/// An account not activated yet: an aidant waits for training (unless already
/// trained), a référent is invited.
async fn newcomer(
    tx: &mut Tx,
    account_id: i64,
    role: Role,
    by: i64,
    now: i64,
) -> Result<TeamOutcome, crate::db::Error> {
    let training = tx
        .fetch_optional(
            "SELECT state FROM formations WHERE account_id = $1",
            crate::args![account_id],
        )
        .await?
        .map(|r| r.text("state"))
        .transpose()?;
    let trained = training.as_deref() == Some(crate::formations::State::Trained.key());
    if role == Role::Aidant && !trained {
        if training.is_none() {
            tx.execute(
                "INSERT INTO formations (account_id, state, updated_at, updated_by) VALUES ($1, 'a_former', $2, $3)",
                crate::args![account_id, now, by],
            )
            .await?;
        }
        return Ok(TeamOutcome::ToTrain { account_id });
    }
    let token = tokens::issue(tx, account_id, Purpose::Invitation, Some(by), now).await?;
    Ok(TeamOutcome::Invited { account_id, token })
}

/// A join request waiting for the person's answer.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub id: i64,
    pub structure_name: String,
    pub role: Role,
    pub requested_by: String,
}

pub async fn pending_requests(
    db: &Db,
    account_id: i64,
) -> Result<Vec<JoinRequest>, crate::db::Error> {
    db.conn()
        .await?
        .fetch_all(
            "SELECT j.id, j.role, s.name AS structure_name, a.full_name
             FROM join_requests j JOIN structures s ON s.id = j.structure_id
             LEFT JOIN accounts a ON a.id = j.requested_by
             WHERE j.account_id = $1 AND j.decided_at IS NULL ORDER BY j.id",
            crate::args![account_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(JoinRequest {
                id: r.int("id")?,
                structure_name: r.text("structure_name")?,
                role: Role::parse(&r.text("role")?).unwrap_or(Role::Aidant),
                requested_by: r.opt_text("full_name")?.unwrap_or_default(),
            })
        })
        .collect()
}

/// The person answers a join request of theirs; accepting adds the membership.
/// Returns false when there is no such pending request for this account.
pub async fn answer(
    db: &Db,
    account_id: i64,
    request_id: i64,
    accept: bool,
    now: i64,
) -> Result<bool, crate::db::Error> {
    let mut tx = db.begin().await?;
    let Some(r) = tx
        .fetch_optional(
            "SELECT structure_id, role FROM join_requests
             WHERE id = $1 AND account_id = $2 AND decided_at IS NULL",
            crate::args![request_id, account_id],
        )
        .await?
    else {
        return Ok(false);
    };
    tx.execute(
        "UPDATE join_requests SET decided_at = $1, accepted = $2 WHERE id = $3",
        crate::args![now, accept, request_id],
    )
    .await?;
    if accept {
        let sid = r.int("structure_id")?;
        let role = Role::parse(&r.text("role")?).unwrap_or(Role::Aidant);
        if tx
            .fetch_optional(
                "SELECT role FROM memberships WHERE account_id = $1 AND structure_id = $2",
                crate::args![account_id, sid],
            )
            .await?
            .is_none()
        {
            add_member(&mut tx, account_id, sid, role, now).await?;
        }
        journal::append(
            &mut tx,
            &NewEntry::new(sid, Action::RattachementAccepte)
                .account(account_id)
                .details(serde_json::json!({ "membre": account_id })),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// A référent adds a member of one of their structures to another structure they
/// also manage (same role). Refused when the person is not in `from`, when the
/// référent does not manage `to`, or when the person is already in `to` (a
/// deactivated membership is reactivated instead).
pub async fn add_to_other_structure(
    db: &Db,
    from: i64,
    account_id: i64,
    to: i64,
    referent: i64,
    now: i64,
) -> Result<(), AccountError> {
    let mut tx = db.begin().await?;
    let Some(m) = tx
        .fetch_optional(
            "SELECT role FROM memberships WHERE account_id = $1 AND structure_id = $2",
            crate::args![account_id, from],
        )
        .await?
    else {
        return Err(AccountError::Refused(
            "Cette personne ne fait pas partie de votre structure.",
        ));
    };
    let manages = tx
        .fetch_optional(
            "SELECT role FROM memberships
             WHERE account_id = $1 AND structure_id = $2 AND role = 'referent' AND deactivated_at IS NULL",
            crate::args![referent, to],
        )
        .await?
        .is_some();
    if !manages || from == to {
        return Err(AccountError::Refused(
            "Choisissez une autre structure dont vous êtes référent.",
        ));
    }
    match tx
        .fetch_optional(
            "SELECT deactivated_at FROM memberships WHERE account_id = $1 AND structure_id = $2",
            crate::args![account_id, to],
        )
        .await?
    {
        Some(t) if t.opt_int("deactivated_at")?.is_some() => {
            tx.execute(
                "UPDATE memberships SET deactivated_at = NULL WHERE account_id = $1 AND structure_id = $2",
                crate::args![account_id, to],
            )
            .await?;
        }
        Some(_) => {
            return Err(AccountError::Refused(
                "Cette personne fait déjà partie de cette structure.",
            ));
        }
        None => {
            let role = Role::parse(&m.text("role")?).unwrap_or(Role::Aidant);
            add_member(&mut tx, account_id, to, role, now).await?;
        }
    }
    journal::append(
        &mut tx,
        &NewEntry::new(to, Action::MembreAjouteDepuisStructure)
            .account(referent)
            .details(serde_json::json!({ "membre": account_id, "depuis": from })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The structures a référent manages (active memberships), by name.
pub async fn managed_by(db: &Db, referent: i64) -> Result<Vec<(i64, String)>, crate::db::Error> {
    db.conn()
        .await?
        .fetch_all(
            "SELECT s.id, s.name FROM memberships m JOIN structures s ON s.id = m.structure_id
             WHERE m.account_id = $1 AND m.role = 'referent' AND m.deactivated_at IS NULL
             ORDER BY s.name, s.id",
            crate::args![referent],
        )
        .await?
        .iter()
        .map(|r| Ok((r.int("id")?, r.text("name")?)))
        .collect()
}
