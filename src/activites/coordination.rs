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

/// The kinds of a coordinator's own reports.
pub const REPORT_KINDS: &[(&str, &str)] = &[
    (
        "animation",
        "Animation du réseau (réunion d'équipe, formation, échange de pratiques)",
    ),
    ("evenement", "Événement (salon, journée, forum)"),
    (
        "partenariat",
        "Partenariat (rencontre, convention avec une structure)",
    ),
];

/// The scale of what a coordinator did.
pub const SCALES: &[(&str, &str)] = &[
    ("locale", "Locale (commune, intercommunalité)"),
    ("departementale", "Départementale"),
    ("regionale", "Régionale"),
    ("nationale", "Nationale"),
];

/// A coordinator's report, checked at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kind: String,
    /// `YYYYMMDD`.
    pub date: i64,
    pub duree: i64,
    pub titre: String,
    pub echelle: String,
    pub participants: i64,
    pub partenaires: String,
    pub notes: String,
}

/// A coordinator's report as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct RawReport {
    #[serde(rename = "type")]
    pub kind: String,
    pub date: String,
    pub duree: String,
    pub titre: String,
    pub echelle: String,
    pub participants: String,
    pub partenaires: String,
    pub notes: String,
}

/// Checks a coordinator's report; `today` is `YYYYMMDD`.
pub fn check(
    raw: &RawReport,
    today: i64,
    errors: &mut crate::web::forms::FormErrors,
) -> Option<Report> {
    let before = errors.len();
    let kind = match REPORT_KINDS.iter().find(|(k, _)| *k == raw.kind) {
        Some((k, _)) => (*k).to_owned(),
        None => {
            errors.add(
                "type",
                "Choisissez le type : animation, événement ou partenariat.",
            );
            String::new()
        }
    };
    let date = match crate::time_fr::parse_date(&raw.date) {
        Some(_) => {
            let d: i64 = raw
                .date
                .trim()
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0);
            if d > today || d < 20_190_101 {
                errors.add("date", "Saisissez une date passée, à partir de 2019.");
            }
            d
        }
        None => {
            errors.add("date", "Saisissez la date sous la forme jj/mm/aaaa.");
            0
        }
    };
    let duree = match raw.duree.trim().parse::<i64>() {
        Ok(m) if (1..=super::vocab::DUREE_MAX).contains(&m) => m,
        _ => {
            errors.add("duree", "Saisissez la durée en minutes, de 1 à 1439.");
            0
        }
    };
    let titre = raw.titre.trim().to_owned();
    if titre.is_empty() || titre.chars().count() > 200 || titre.chars().any(char::is_control) {
        errors.add("titre", "Saisissez un titre de 200 caractères au plus.");
    }
    let echelle = match SCALES.iter().find(|(k, _)| *k == raw.echelle) {
        Some((k, _)) => (*k).to_owned(),
        None => {
            errors.add("echelle", "Choisissez l'échelle dans la liste.");
            String::new()
        }
    };
    let participants = match raw.participants.trim() {
        "" => 0,
        v => match v.parse::<i64>() {
            Ok(n) if (0..=super::COUNTER_MAX).contains(&n) => n,
            _ => {
                errors.add(
                    "participants",
                    "Saisissez un nombre de participants de 0 à 10000.",
                );
                0
            }
        },
    };
    let partenaires = raw.partenaires.trim().to_owned();
    let notes = raw.notes.trim().to_owned();
    if partenaires.chars().count() > 1_000 || notes.chars().count() > 5_000 {
        errors.add(
            "notes",
            "Texte trop long (partenaires : 1000 caractères, notes : 5000).",
        );
    }
    (errors.len() == before).then_some(Report {
        kind,
        date,
        duree,
        titre,
        echelle,
        participants,
        partenaires,
        notes,
    })
}

pub async fn record(
    db: &Db,
    coordinateur: i64,
    r: &Report,
    now: i64,
) -> Result<i64, crate::db::Error> {
    let mut tx = db.begin().await?;
    let id = tx
        .fetch_one(
            "INSERT INTO coordination_activites (coordinateur_id, type, date, duree, titre, echelle,
                participants, partenaires, notes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            crate::args![
                coordinateur,
                &r.kind,
                r.date,
                r.duree,
                &r.titre,
                &r.echelle,
                r.participants,
                &r.partenaires,
                &r.notes,
                now
            ],
        )
        .await?
        .int("id")?;
    tx.commit().await?;
    Ok(id)
}

pub async fn delete_report(db: &Db, coordinateur: i64, id: i64) -> Result<bool, crate::db::Error> {
    Ok(db
        .execute(
            "DELETE FROM coordination_activites WHERE id = $1 AND coordinateur_id = $2",
            crate::args![id, coordinateur],
        )
        .await?
        == 1)
}

/// A coordinator's reports, most recent first (100 at most), and the count and
/// hours per kind over the last twelve months.
pub async fn reports(
    db: &Db,
    coordinateur: i64,
    since: i64,
) -> Result<(Vec<(i64, Report)>, Vec<(&'static str, i64, i64)>), crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT id, type, date, duree, titre, echelle, participants, partenaires, notes
             FROM coordination_activites WHERE coordinateur_id = $1
             ORDER BY date DESC, id DESC LIMIT 100",
            crate::args![coordinateur],
        )
        .await?;
    let mut list = Vec::with_capacity(rows.len());
    for r in &rows {
        list.push((
            r.int("id")?,
            Report {
                kind: r.text("type")?,
                date: r.int("date")?,
                duree: r.int("duree")?,
                titre: r.text("titre")?,
                echelle: r.text("echelle")?,
                participants: r.int("participants")?,
                partenaires: r.text("partenaires")?,
                notes: r.text("notes")?,
            },
        ));
    }
    let sums = db
        .fetch_all(
            "SELECT type, COUNT(*) AS n, CAST(SUM(duree) AS BIGINT) AS m FROM coordination_activites
             WHERE coordinateur_id = $1 AND date >= $2 GROUP BY type",
            crate::args![coordinateur, since],
        )
        .await?;
    let mut per_kind = Vec::new();
    for (k, l) in REPORT_KINDS {
        let found = sums
            .iter()
            .find(|r| r.text("type").ok().as_deref() == Some(*k));
        let (n, m) = match found {
            Some(r) => (r.int("n")?, r.opt_int("m")?.unwrap_or(0)),
            None => (0, 0),
        };
        per_kind.push((*l, n, m));
    }
    Ok((list, per_kind))
}
