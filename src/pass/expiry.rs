//! The daily job of the pass numérique (run with the injected clock):
//! - each order's end of validity (domain.md §6): alert on the funder's dashboard
//!   at J-30, hand-outs blocked at J-15, the funder's acknowledgement asked at J-7
//!   (a reminder until it is given), pass still accepted for a month after the
//!   end, the closing statement at J+37 that both sides accept, then the credit
//!   note at face value for the unused pass;
//! - the monthly statements of the places ([`statements`]), from the second day of
//!   the month for the month before (the 24 hours a place has to cancel have
//!   passed).

use super::{Commande, PassError, add_days, append, commande, funder_chain};
use crate::db::Db;
use crate::db::exec::Exec;
use crate::journal::Action;

const JOB: &str = "pass_numerique";

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Run {
    pub alerts: u64,
    pub blocked: u64,
    pub reminders: u64,
    pub closing: u64,
    pub statements: u64,
}

impl Run {
    pub fn summary(&self) -> String {
        format!(
            "{} alerte(s) J-30, {} blocage(s) J-15, {} rappel(s) J-7, {} bilan(s) J+37, {} relevé(s)",
            self.alerts, self.blocked, self.reminders, self.closing, self.statements
        )
    }
}

/// Runs the job when due (once a day, on one server).
pub async fn run_if_due(db: &Db, now: i64) -> Result<Option<Run>, crate::db::Error> {
    if !crate::jobs::claim(db, JOB, now).await? {
        return Ok(None);
    }
    let run = run(db, now).await?;
    let next = crate::time_fr::paris_midnight(now, 1) + 3 * 3_600 + 15 * 60;
    crate::jobs::finish(db, JOB, now, next, &run.summary()).await?;
    tracing::info!(résultat = %run.summary(), "pass numérique : échéances et relevés");
    Ok(Some(run))
}

/// One day's steps; idempotent (each step is recorded once per order).
pub async fn run(db: &Db, now: i64) -> Result<Run, crate::db::Error> {
    let today = crate::activites::today(now);
    let mut r = Run::default();
    let steps: [(&str, i64, &str, &str); 4] = [
        ("alerte_le", -30, "alerte", "alerts"),
        ("blocage_le", -15, "blocage", "blocked"),
        ("rappel_le", -7, "accuse_demande", "reminders"),
        ("bilan_le", 37, "bilan", "closing"),
    ];
    for c in super::commandes(db, 0).await? {
        if !c.active() {
            continue;
        }
        for (column, offset, step, counter) in steps {
            let due = add_days(c.fin, offset);
            if today < due || step_done(&c, column) {
                continue;
            }
            if column == "rappel_le" && c.accuse_le.is_some() {
                continue;
            }
            let mut tx = db.begin().await?;
            let n = tx
                .execute(
                    match column {
                        "alerte_le" => {
                            "UPDATE pass_commandes SET alerte_le = $1 WHERE id = $2 AND alerte_le IS NULL"
                        }
                        "blocage_le" => {
                            "UPDATE pass_commandes SET blocage_le = $1 WHERE id = $2 AND blocage_le IS NULL"
                        }
                        "rappel_le" => {
                            "UPDATE pass_commandes SET rappel_le = $1 WHERE id = $2 AND rappel_le IS NULL"
                        }
                        _ => {
                            "UPDATE pass_commandes SET bilan_le = $1 WHERE id = $2 AND bilan_le IS NULL"
                        }
                    },
                    crate::args![now, c.id],
                )
                .await?;
            if n == 1 {
                append(
                    &mut tx,
                    funder_chain(c.financeur_id),
                    Action::PassEcheance,
                    None,
                    serde_json::json!({ "commande": c.id, "etape": step, "jour": today }),
                    now,
                )
                .await?;
                match counter {
                    "alerts" => r.alerts += 1,
                    "blocked" => r.blocked += 1,
                    "reminders" => r.reminders += 1,
                    _ => r.closing += 1,
                }
            }
            tx.commit().await?;
        }
    }
    r.statements = super::releves::make_due(db, now).await?;
    Ok(r)
}

fn step_done(c: &Commande, column: &str) -> bool {
    match column {
        "alerte_le" => c.alerte_le.is_some(),
        "blocage_le" => c.blocage_le.is_some(),
        "rappel_le" => c.rappel_le.is_some(),
        _ => c.bilan_le.is_some(),
    }
}

/// Where an order stands in its end of validity, for its dashboards.
pub fn stage(c: &Commande, today: i64) -> Option<String> {
    let fin = crate::activites::date_fr(c.fin);
    if c.avoir_le.is_some() {
        return Some(format!(
            "Commande close : avoir de {} pour les pass non utilisés.",
            super::euros(c.avoir_centimes.unwrap_or(0))
        ));
    }
    if c.bilan_le.is_some() {
        return Some(match (c.bilan_financeur_le, c.bilan_operateur_le) {
            (Some(_), Some(_)) => "Bilan accepté des deux côtés.".to_owned(),
            (Some(_), None) => {
                "Bilan de fin de commande accepté par le financeur ; en attente de l'opérateur."
                    .to_owned()
            }
            (None, Some(_)) => {
                "Bilan de fin de commande accepté par l'opérateur ; en attente du financeur."
                    .to_owned()
            }
            (None, None) => {
                "Bilan de fin de commande à accepter par le financeur et l'opérateur.".to_owned()
            }
        });
    }
    let last = super::last_accepted_day(c.fin);
    if today > c.fin {
        return Some(format!(
            "Validité terminée le {fin} : les lieux acceptent encore les pass jusqu'au {}, le bilan viendra le {}.",
            crate::activites::date_fr(last),
            crate::activites::date_fr(add_days(c.fin, 37))
        ));
    }
    if c.blocage_le.is_some() || today >= c.blocking_day() {
        let ack = if c.accuse_le.is_some() {
            "Fin de validité prise en compte par le financeur."
        } else {
            "Le financeur doit confirmer qu'il a pris connaissance de la fin de validité."
        };
        return Some(format!(
            "Distribution close : validité jusqu'au {fin}. {ack}"
        ));
    }
    if c.alerte_le.is_some() || today >= add_days(c.fin, -30) {
        return Some(format!(
            "Fin de validité le {fin} : la distribution sera close le {}.",
            crate::activites::date_fr(c.blocking_day())
        ));
    }
    None
}

/// The funder acknowledges the end of validity (from J-30).
pub async fn acknowledge(
    db: &Db,
    financeur_id: i64,
    commande_id: i64,
    by: i64,
    now: i64,
) -> Result<(), PassError> {
    let c = commande(db, commande_id)
        .await?
        .filter(|c| c.financeur_id == financeur_id)
        .ok_or(PassError::NotFound)?;
    if crate::activites::today(now) < add_days(c.fin, -30) {
        return Err(PassError::Refused(
            "La fin de validité se confirme dans les 30 jours qui la précèdent.".into(),
        ));
    }
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            "UPDATE pass_commandes SET accuse_le = $1 WHERE id = $2 AND accuse_le IS NULL",
            crate::args![now, commande_id],
        )
        .await?;
    if n == 1 {
        append(
            &mut tx,
            funder_chain(c.financeur_id),
            Action::PassEcheance,
            Some(by),
            serde_json::json!({ "commande": c.id, "etape": "accuse" }),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The closing statement of an order: pass redeemed and unused, amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    pub emis: i64,
    pub utilises: i64,
    pub non_utilises: i64,
    pub montant_utilise: i64,
    pub avoir: i64,
}

pub async fn closing(db: &Db, c: &Commande) -> Result<Closing, crate::db::Error> {
    let used = db
        .fetch_one(
            "SELECT CAST(COALESCE(SUM(utilises), 0) AS BIGINT) AS n FROM pass_carnets
             WHERE commande_id = $1",
            crate::args![c.id],
        )
        .await?
        .int("n")?;
    let emis = c.carnets * c.pass_par_carnet;
    Ok(Closing {
        emis,
        utilises: used,
        non_utilises: emis - used,
        montant_utilise: used * c.valeur_centimes,
        avoir: (emis - used) * c.valeur_centimes,
    })
}

/// One side (the funder or the operator) accepts the closing statement; when both
/// have, the credit note for the unused pass is issued.
pub async fn accept_closing(
    db: &Db,
    commande_id: i64,
    funder: Option<i64>,
    by: i64,
    now: i64,
) -> Result<(), PassError> {
    let c = commande(db, commande_id)
        .await?
        .filter(|c| funder.is_none_or(|f| f == c.financeur_id))
        .ok_or(PassError::NotFound)?;
    if c.bilan_le.is_none() {
        return Err(PassError::Refused(format!(
            "Le bilan de cette commande sera prêt le {}.",
            crate::activites::date_fr(add_days(c.fin, 37))
        )));
    }
    let totals = closing(db, &c).await?;
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            if funder.is_some() {
                "UPDATE pass_commandes SET bilan_financeur_le = $1
                 WHERE id = $2 AND bilan_financeur_le IS NULL"
            } else {
                "UPDATE pass_commandes SET bilan_operateur_le = $1
                 WHERE id = $2 AND bilan_operateur_le IS NULL"
            },
            crate::args![now, commande_id],
        )
        .await?;
    if n == 0 {
        return Err(PassError::Refused("Ce bilan est déjà accepté.".into()));
    }
    append(
        &mut tx,
        funder_chain(c.financeur_id),
        Action::PassBilan,
        Some(by),
        serde_json::json!({ "commande": c.id, "par": if funder.is_some() { "financeur" } else { "operateur" },
            "utilises": totals.utilises, "non_utilises": totals.non_utilises }),
        now,
    )
    .await?;
    let credited = tx
        .execute(
            "UPDATE pass_commandes SET avoir_centimes = $1, avoir_le = $2
             WHERE id = $3 AND avoir_le IS NULL
               AND bilan_financeur_le IS NOT NULL AND bilan_operateur_le IS NOT NULL",
            crate::args![totals.avoir, now, commande_id],
        )
        .await?;
    if credited == 1 {
        append(
            &mut tx,
            funder_chain(c.financeur_id),
            Action::PassAvoir,
            Some(by),
            serde_json::json!({ "commande": c.id, "non_utilises": totals.non_utilises,
                "avoir_centimes": totals.avoir }),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
