//! Monthly statements: for each qualified place, the pass it redeemed in a month
//! (not cancelled), made by the daily job from the second day of the next month;
//! the operator's payment run marks them paid. What was not recorded is not on a
//! statement, and what is not on a statement is not paid.

use super::append;
use crate::db::Db;
use crate::db::exec::Exec;
use crate::journal::Action;

/// One statement.
#[derive(Debug, Clone)]
pub struct Releve {
    pub id: i64,
    pub pass_lieu_id: i64,
    pub structure_id: i64,
    pub structure: String,
    pub siret: String,
    pub mois: i64,
    pub nombre: i64,
    pub montant_centimes: i64,
    pub created_at: i64,
    pub paye_le: Option<i64>,
    pub paiement_reference: String,
}

impl Releve {
    pub fn number(&self) -> String {
        format!("RPN-{}-{:06}", self.mois, self.id)
    }
}

/// The month whose statements are due on `today`: the month before, from its
/// second day (`YYYYMM`).
fn last_closed_month(today: i64) -> i64 {
    let (y, m, d) = (today / 10_000, (today / 100) % 100, today % 100);
    let back = if d >= 2 { 1 } else { 2 };
    let mut mm = m - back;
    let mut yy = y;
    while mm < 1 {
        mm += 12;
        yy -= 1;
    }
    yy * 100 + mm
}

/// Makes every statement due (months up to the last closed one that still have
/// redemptions on no statement); returns how many.
pub async fn make_due(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    let until = last_closed_month(crate::activites::today(now));
    let due = db
        .fetch_all(
            "SELECT u.pass_lieu_id, u.mois, q.structure_id FROM pass_utilisations u
             JOIN pass_lieux q ON q.id = u.pass_lieu_id
             WHERE u.releve_id IS NULL AND u.annulee_le IS NULL AND u.mois <= $1
             GROUP BY u.pass_lieu_id, u.mois, q.structure_id ORDER BY u.mois, u.pass_lieu_id",
            crate::args![until],
        )
        .await?;
    let mut made = 0;
    for r in &due {
        let (lieu, mois, structure) = (
            r.int("pass_lieu_id")?,
            r.int("mois")?,
            r.int("structure_id")?,
        );
        let mut tx = db.begin().await?;
        let id = tx
            .fetch_optional(
                "INSERT INTO pass_releves (pass_lieu_id, mois, nombre, montant_centimes, created_at)
                 VALUES ($1, $2, 0, 0, $3) ON CONFLICT (pass_lieu_id, mois) DO NOTHING RETURNING id",
                crate::args![lieu, mois, now],
            )
            .await?;
        // A statement already made for that month (a redemption cannot be dated
        // in a closed month): nothing to add.
        let Some(id) = id else {
            tx.commit().await?;
            continue;
        };
        let id = id.int("id")?;
        tx.execute(
            "UPDATE pass_utilisations SET releve_id = $1
             WHERE pass_lieu_id = $2 AND mois = $3 AND releve_id IS NULL AND annulee_le IS NULL",
            crate::args![id, lieu, mois],
        )
        .await?;
        let sums = tx
            .fetch_one(
                "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(valeur_centimes), 0) AS BIGINT) AS m
                 FROM pass_utilisations WHERE releve_id = $1",
                crate::args![id],
            )
            .await?;
        let (n, m) = (sums.int("n")?, sums.int("m")?);
        tx.execute(
            "UPDATE pass_releves SET nombre = $1, montant_centimes = $2 WHERE id = $3",
            crate::args![n, m, id],
        )
        .await?;
        append(
            &mut tx,
            structure,
            Action::PassReleve,
            None,
            serde_json::json!({ "releve": id, "mois": mois, "pass": n, "montant_centimes": m }),
            now,
        )
        .await?;
        tx.commit().await?;
        made += 1;
    }
    Ok(made)
}

macro_rules! releve_sql {
    ($rest:literal) => {
        concat!(
            "SELECT r.id, r.pass_lieu_id, q.structure_id, s.name, q.siret, r.mois, r.nombre,
                    r.montant_centimes, r.created_at, r.paye_le, r.paiement_reference
             FROM pass_releves r JOIN pass_lieux q ON q.id = r.pass_lieu_id
             JOIN structures s ON s.id = q.structure_id ",
            $rest
        )
    };
}

fn releve_of(r: &crate::db::exec::Rec) -> Result<Releve, crate::db::Error> {
    Ok(Releve {
        id: r.int("id")?,
        pass_lieu_id: r.int("pass_lieu_id")?,
        structure_id: r.int("structure_id")?,
        structure: r.text("name")?,
        siret: r.text("siret")?,
        mois: r.int("mois")?,
        nombre: r.int("nombre")?,
        montant_centimes: r.int("montant_centimes")?,
        created_at: r.int("created_at")?,
        paye_le: r.opt_int("paye_le")?,
        paiement_reference: r.text("paiement_reference")?,
    })
}

/// A structure's statements (every structure's with 0), newest first.
pub async fn list(db: &Db, structure_id: i64) -> Result<Vec<Releve>, crate::db::Error> {
    db.fetch_all(
        releve_sql!(
            "WHERE ($1 = 0 OR q.structure_id = $1) ORDER BY r.mois DESC, r.id DESC LIMIT 2000"
        ),
        crate::args![structure_id],
    )
    .await?
    .iter()
    .map(releve_of)
    .collect()
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Releve>, crate::db::Error> {
    db.fetch_optional(releve_sql!("WHERE r.id = $1"), crate::args![id])
        .await?
        .map(|r| releve_of(&r))
        .transpose()
}

/// The lines of a statement: (date, order number, carnet, pass rank, code's last
/// four symbols, prestation, service, amount).
pub async fn lines(db: &Db, releve_id: i64) -> Result<Vec<Line>, crate::db::Error> {
    db.fetch_all(
        "SELECT u.date, u.commande_id, k.numero, p.rang, p.code, u.prestation, u.service,
                u.valeur_centimes
         FROM pass_utilisations u JOIN pass p ON p.id = u.pass_id
         JOIN pass_carnets k ON k.id = u.carnet_id
         WHERE u.releve_id = $1 ORDER BY u.date, u.id",
        crate::args![releve_id],
    )
    .await?
    .iter()
    .map(|r| {
        let code = r.text("code")?;
        Ok((
            r.int("date")?,
            r.int("commande_id")?,
            r.int("numero")?,
            r.int("rang")?,
            code.get(code.len().saturating_sub(4)..)
                .unwrap_or_default()
                .to_owned(),
            r.text("prestation")?,
            r.text("service")?,
            r.int("valeur_centimes")?,
        ))
    })
    .collect()
}

/// The operator's payment run: marks the chosen statements paid with the
/// transfer's reference; returns how many were marked (already paid ones are
/// left as they are).
pub async fn pay(
    db: &Db,
    ids: &[i64],
    reference: &str,
    by: i64,
    now: i64,
) -> Result<u64, super::PassError> {
    let reference = reference.trim();
    if reference.is_empty() || reference.chars().count() > 100 {
        return Err(super::PassError::Field(
            "reference",
            "Saisissez la référence du virement (100 caractères au plus).".into(),
        ));
    }
    if ids.is_empty() {
        return Err(super::PassError::Field(
            "releve",
            "Cochez les relevés payés par ce virement.".into(),
        ));
    }
    let mut tx = db.begin().await?;
    let mut n = 0;
    for id in ids.iter().take(5_000) {
        let Some(r) = tx
            .fetch_optional(
                "SELECT q.structure_id, r.montant_centimes FROM pass_releves r
                 JOIN pass_lieux q ON q.id = r.pass_lieu_id WHERE r.id = $1 AND r.paye_le IS NULL",
                crate::args![*id],
            )
            .await?
        else {
            continue;
        };
        tx.execute(
            "UPDATE pass_releves SET paye_le = $1, paiement_reference = $2 WHERE id = $3",
            crate::args![now, reference, *id],
        )
        .await?;
        append(
            &mut tx,
            r.int("structure_id")?,
            Action::PassPaiementReleve,
            Some(by),
            serde_json::json!({ "releve": id, "reference": reference,
                "montant_centimes": r.int("montant_centimes")? }),
            now,
        )
        .await?;
        n += 1;
    }
    tx.commit().await?;
    Ok(n)
}

/// A statement line: (date, order, carnet, rank, code's end, prestation,
/// service, amount).
pub type Line = (i64, i64, i64, i64, String, String, String, i64);

/// The statement as a tagged PDF: the place, the month, the total, then its
/// lines, 45 a page.
pub fn pdf(r: &Releve, lines: &[Line]) -> Result<Vec<u8>, crate::pdf::PdfError> {
    use crate::pdf::{ArtifactKind, MARGIN, Op, PAGE_H, Role, text_op};
    const PER_PAGE: usize = 45;
    let title = format!(
        "Relevé {} — pass numérique de {}",
        r.number(),
        crate::activites::stats::month_label(r.mois)
    );
    let chunks: Vec<&[Line]> = if lines.is_empty() {
        vec![&[]]
    } else {
        lines.chunks(PER_PAGE).collect()
    };
    let total = chunks.len();
    let mut pages = Vec::with_capacity(total);
    for (n, chunk) in chunks.iter().enumerate() {
        let mut page: Vec<(Role, Vec<Op>)> = Vec::new();
        if n == 0 {
            page.push((
                Role::Title(title.clone()),
                vec![text_op(true, 15.0, MARGIN, MARGIN + 10.0, &title)],
            ));
            page.push((
                Role::Paragraph,
                vec![
                    text_op(
                        false,
                        10.0,
                        MARGIN,
                        MARGIN + 34.0,
                        &format!("Lieu : {} — SIRET {}", r.structure, r.siret),
                    ),
                    text_op(
                        false,
                        10.0,
                        MARGIN,
                        MARGIN + 48.0,
                        &format!(
                            "{} pass utilisés, montant dû : {}{}",
                            r.nombre,
                            super::euros(r.montant_centimes),
                            match r.paye_le {
                                Some(t) => format!(
                                    " — payé le {} (virement {})",
                                    crate::time_fr::date(t),
                                    r.paiement_reference
                                ),
                                None => " — à payer".to_owned(),
                            }
                        ),
                    ),
                ],
            ));
        }
        let top = if n == 0 { MARGIN + 76.0 } else { MARGIN + 10.0 };
        let mut ops = vec![text_op(
            true,
            8.5,
            MARGIN,
            top,
            "Date        Commande    Carnet  Pass  Code     Prestation / service                       Montant",
        )];
        for (i, l) in chunk.iter().enumerate() {
            let service: String = l.6.chars().take(34).collect();
            ops.push(text_op(
                false,
                8.5,
                MARGIN,
                top + 14.0 * (i as f32 + 1.0),
                &format!(
                    "{}  PN-{:06}  {:>6}  {:>4}  …{}  {} / {}  {}",
                    crate::activites::date_fr(l.0),
                    l.1,
                    l.2,
                    l.3,
                    l.4,
                    super::label(super::PRESTATIONS, &l.5)
                        .split(' ')
                        .next()
                        .unwrap_or(""),
                    service,
                    super::euros(l.7)
                ),
            ));
        }
        page.push((Role::Paragraph, ops));
        page.push((
            Role::Artifact(ArtifactKind::Footer),
            vec![text_op(
                false,
                8.0,
                MARGIN,
                PAGE_H - 30.0,
                &format!("{} — page {} sur {total}", r.number(), n + 1),
            )],
        ));
        pages.push(page);
    }
    crate::pdf::render(&title, &title, &pages, &[])
}

#[cfg(test)]
mod tests {
    #[test]
    fn statements_wait_for_the_second_day() {
        assert_eq!(super::last_closed_month(20_270_201), 202_612);
        assert_eq!(super::last_closed_month(20_270_202), 202_701);
        assert_eq!(super::last_closed_month(20_270_115), 202_612);
        assert_eq!(super::last_closed_month(20_270_101), 202_611);
    }
}
