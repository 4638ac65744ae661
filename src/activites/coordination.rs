//! Coordinators and their teams. A coordinator (a mediator whose profile says so)
//! invites mediators by email; each invitation is accepted or refused by the
//! mediator; a member may leave and the coordinator may take them off. The team's
//! statistics count current members' activities and former members' up to the day
//! they left — never a beneficiary's identity ([`super::stats::Scope::Team`]).

use super::ActivityError;
use crate::db::Db;
use crate::db::exec::Exec;

/// One membership of a team, as the coordinator's page shows it.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: i64,
    pub mediateur_id: i64,
    pub name: String,
    pub email: String,
    /// « invitation envoyée », « membre », « a refusé », « a quitté l'équipe ».
    pub status: &'static str,
    pub since: Option<i64>,
    /// `YYYYMMDD` of leaving.
    pub until: Option<i64>,
}

/// An invitation or a team the mediator is in.
#[derive(Debug, Clone)]
pub struct Membership {
    pub id: i64,
    pub coordinateur: String,
    pub accepted: bool,
}

pub async fn is_coordinator(db: &Db, account_id: i64) -> Result<bool, crate::db::Error> {
    Ok(db
        .fetch_optional(
            "SELECT 1 AS x FROM mediateurs WHERE account_id = $1 AND coordinateur = 1",
            crate::args![account_id],
        )
        .await?
        .is_some())
}

pub async fn set_coordinator(db: &Db, account_id: i64, yes: bool) -> Result<(), crate::db::Error> {
    db.execute(
        "UPDATE mediateurs SET coordinateur = $1 WHERE account_id = $2",
        crate::args![i64::from(yes), account_id],
    )
    .await?;
    Ok(())
}

/// Invites the mediator with `email` into `coordinateur`'s team.
pub async fn invite(
    db: &Db,
    coordinateur: i64,
    email: &crate::domain::Email,
    now: i64,
) -> Result<i64, ActivityError> {
    let mut tx = db.begin().await?;
    let Some(m) = tx
        .fetch_optional(
            "SELECT a.id FROM accounts a JOIN mediateurs m ON m.account_id = a.id
             WHERE a.email = $1 AND a.disabled_at IS NULL",
            crate::args![email.as_str()],
        )
        .await?
    else {
        return Err(ActivityError::Field(
            "email",
            "Aucun médiateur n'a de compte Relais avec cette adresse : demandez d'abord au référent de sa structure de l'inviter comme médiateur.".into(),
        ));
    };
    let mediateur = m.int("id")?;
    if mediateur == coordinateur {
        return Err(ActivityError::Field(
            "email",
            "C'est votre propre adresse : invitez un autre médiateur.".into(),
        ));
    }
    if tx
        .fetch_optional(
            "SELECT id FROM equipe_membres WHERE coordinateur_id = $1 AND mediateur_id = $2
               AND refuse_le IS NULL AND quitte_le IS NULL",
            crate::args![coordinateur, mediateur],
        )
        .await?
        .is_some()
    {
        return Err(ActivityError::Field(
            "email",
            "Cette personne fait déjà partie de votre équipe ou a déjà une invitation en attente."
                .into(),
        ));
    }
    let id = tx
        .fetch_one(
            "INSERT INTO equipe_membres (coordinateur_id, mediateur_id, invite_le) VALUES ($1, $2, $3) RETURNING id",
            crate::args![coordinateur, mediateur, now],
        )
        .await?
        .int("id")?;
    tx.commit().await?;
    Ok(id)
}

/// The mediator answers an invitation addressed to them.
pub async fn answer(
    db: &Db,
    mediateur: i64,
    id: i64,
    accept: bool,
    now: i64,
) -> Result<bool, crate::db::Error> {
    let sql = if accept {
        "UPDATE equipe_membres SET accepte_le = $1 WHERE id = $2 AND mediateur_id = $3
           AND accepte_le IS NULL AND refuse_le IS NULL AND quitte_le IS NULL"
    } else {
        "UPDATE equipe_membres SET refuse_le = $1 WHERE id = $2 AND mediateur_id = $3
           AND accepte_le IS NULL AND refuse_le IS NULL AND quitte_le IS NULL"
    };
    Ok(db.execute(sql, crate::args![now, id, mediateur]).await? == 1)
}

/// The member leaves (`by` is the member or the coordinator).
pub async fn leave(db: &Db, by: i64, id: i64, now: i64) -> Result<bool, crate::db::Error> {
    Ok(db
        .execute(
            "UPDATE equipe_membres SET quitte_le = $1, quitte_date = $2
             WHERE id = $3 AND (mediateur_id = $4 OR coordinateur_id = $4)
               AND accepte_le IS NOT NULL AND quitte_le IS NULL",
            crate::args![now, super::today(now), id, by],
        )
        .await?
        == 1)
}

/// A coordinator's team, current members first.
pub async fn team(db: &Db, coordinateur: i64) -> Result<Vec<Member>, crate::db::Error> {
    db.fetch_all(
        "SELECT e.id, e.mediateur_id, a.full_name, a.email, e.accepte_le, e.refuse_le, e.quitte_le,
                e.quitte_date
         FROM equipe_membres e JOIN accounts a ON a.id = e.mediateur_id
         WHERE e.coordinateur_id = $1
         ORDER BY CASE WHEN e.quitte_le IS NULL AND e.refuse_le IS NULL THEN 0 ELSE 1 END,
                  a.full_name, e.id",
        crate::args![coordinateur],
    )
    .await?
    .iter()
    .map(|r| {
        let accepted = r.opt_int("accepte_le")?;
        let status = match (
            accepted,
            r.opt_int("refuse_le")?.is_some(),
            r.opt_int("quitte_le")?.is_some(),
        ) {
            (_, _, true) => "a quitté l'équipe",
            (_, true, _) => "a refusé l'invitation",
            (Some(_), _, _) => "membre",
            (None, _, _) => "invitation envoyée",
        };
        Ok(Member {
            id: r.int("id")?,
            mediateur_id: r.int("mediateur_id")?,
            name: r.text("full_name")?,
            email: r.text("email")?,
            status,
            since: accepted,
            until: r.opt_int("quitte_date")?,
        })
    })
    .collect()
}

/// The invitations waiting for a mediator and the teams they are in.
pub async fn memberships(db: &Db, mediateur: i64) -> Result<Vec<Membership>, crate::db::Error> {
    db.fetch_all(
        "SELECT e.id, a.full_name, e.accepte_le FROM equipe_membres e
         JOIN accounts a ON a.id = e.coordinateur_id
         WHERE e.mediateur_id = $1 AND e.refuse_le IS NULL AND e.quitte_le IS NULL
         ORDER BY e.id",
        crate::args![mediateur],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Membership {
            id: r.int("id")?,
            coordinateur: r.text("full_name")?,
            accepted: r.opt_int("accepte_le")?.is_some(),
        })
    })
    .collect()
}

/// The members whose activities the team's statistics count: each mediator who
/// accepted, with the day they left (`None` while they are in the team).
pub async fn scope(
    db: &Db,
    coordinateur: i64,
) -> Result<Vec<(i64, Option<i64>)>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT mediateur_id, quitte_date, quitte_le FROM equipe_membres
             WHERE coordinateur_id = $1 AND accepte_le IS NOT NULL ORDER BY mediateur_id",
            crate::args![coordinateur],
        )
        .await?;
    let mut out: Vec<(i64, Option<i64>)> = Vec::new();
    for r in &rows {
        let m = r.int("mediateur_id")?;
        let until = if r.opt_int("quitte_le")?.is_some() {
            r.opt_int("quitte_date")?
        } else {
            None
        };
        match out.iter_mut().find(|(x, _)| *x == m) {
            // Several memberships: in the team now, or up to the latest departure.
            Some(e) => {
                e.1 = match (e.1, until) {
                    (None, _) | (_, None) => None,
                    (Some(a), Some(b)) => Some(a.max(b)),
                }
            }
            None => out.push((m, until)),
        }
    }
    Ok(out)
}
