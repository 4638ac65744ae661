//! The funders' and the operator's figures, read from the counters kept in the
//! hand-outs' and redemptions' transactions (`pass_carnets.utilises`,
//! `pass_mois`): the same cost whatever the number of redemptions.

use crate::db::Db;

/// An order's carnets: issued, handed out, started (≥ 1 pass used), fully used,
/// unused (no pass used); and its pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub commande_id: i64,
    pub carnets: i64,
    /// « Injectés »: left the funder (confided to a prescripteur, or handed out).
    pub injectes: i64,
    pub remis: i64,
    pub entames: i64,
    pub termines: i64,
    pub non_utilises: i64,
    pub pass: i64,
    pub pass_utilises: i64,
}

/// The figures of a funder's orders (every funder's with 0), by order.
pub async fn figures(db: &Db, financeur_id: i64) -> Result<Vec<Figures>, crate::db::Error> {
    db.fetch_all(
        "SELECT k.commande_id, COUNT(*) AS carnets,
                CAST(SUM(CASE WHEN k.remis_le IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS remis,
                CAST(SUM(CASE WHEN k.remis_le IS NOT NULL OR k.alloue_le IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS injectes,
                CAST(SUM(CASE WHEN k.utilises > 0 THEN 1 ELSE 0 END) AS BIGINT) AS entames,
                CAST(SUM(CASE WHEN k.utilises >= c.pass_par_carnet THEN 1 ELSE 0 END) AS BIGINT) AS termines,
                CAST(SUM(k.utilises) AS BIGINT) AS utilises, MAX(c.pass_par_carnet) AS ppc
         FROM pass_carnets k JOIN pass_commandes c ON c.id = k.commande_id
         WHERE ($1 = 0 OR c.financeur_id = $1)
         GROUP BY k.commande_id ORDER BY k.commande_id DESC",
        crate::args![financeur_id],
    )
    .await?
    .iter()
    .map(|r| {
        let carnets = r.int("carnets")?;
        let entames = r.int("entames")?;
        Ok(Figures {
            commande_id: r.int("commande_id")?,
            carnets,
            injectes: r.int("injectes")?,
            remis: r.int("remis")?,
            entames,
            termines: r.int("termines")?,
            non_utilises: carnets - entames,
            pass: carnets * r.int("ppc")?,
            pass_utilises: r.int("utilises")?,
        })
    })
    .collect()
}

/// The sum of several orders' figures.
pub fn total(list: &[Figures]) -> Figures {
    list.iter().fold(Figures::default(), |mut t, f| {
        t.carnets += f.carnets;
        t.injectes += f.injectes;
        t.remis += f.remis;
        t.entames += f.entames;
        t.termines += f.termines;
        t.non_utilises += f.non_utilises;
        t.pass += f.pass;
        t.pass_utilises += f.pass_utilises;
        t
    })
}

/// One month, or one département: carnets handed out and pass used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub key: String,
    pub label: String,
    pub remis: i64,
    pub utilises: i64,
}

/// A funder's (or every funder's, with 0) hand-outs and redemptions by month
/// and by département.
pub async fn series(
    db: &Db,
    financeur_id: i64,
    commande_id: i64,
) -> Result<(Vec<Line>, Vec<Line>), crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT m.mois, m.departement, CAST(SUM(m.remis) AS BIGINT) AS remis,
                    CAST(SUM(m.utilises) AS BIGINT) AS utilises
             FROM pass_mois m JOIN pass_commandes c ON c.id = m.commande_id
             WHERE ($1 = 0 OR c.financeur_id = $1) AND ($2 = 0 OR m.commande_id = $2)
             GROUP BY m.mois, m.departement",
            crate::args![financeur_id, commande_id],
        )
        .await?;
    let t = crate::territoires::get();
    let mut months: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
    let mut deps: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for r in &rows {
        let (remis, used) = (r.int("remis")?, r.int("utilises")?);
        let m = months.entry(r.int("mois")?).or_default();
        m.0 += remis;
        m.1 += used;
        let d = deps.entry(r.text("departement")?).or_default();
        d.0 += remis;
        d.1 += used;
    }
    let months = months
        .into_iter()
        .map(|(m, (remis, utilises))| Line {
            key: format!("{}-{:02}", m / 100, m % 100),
            label: crate::activites::stats::month_label(m),
            remis,
            utilises,
        })
        .collect();
    let mut deps: Vec<Line> = deps
        .into_iter()
        .map(|(d, (remis, utilises))| Line {
            label: match t.departement_name(&d) {
                Some(n) => format!("{n} ({d})"),
                None => "Département non renseigné".to_owned(),
            },
            key: d,
            remis,
            utilises,
        })
        .collect();
    deps.sort_by(|a, b| b.utilises.cmp(&a.utilises).then(a.key.cmp(&b.key)));
    Ok((months, deps))
}

/// The operator's overview of places and payments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operations {
    pub demandes: i64,
    pub lieux_qualifies: i64,
    pub releves_a_payer: i64,
    pub montant_a_payer: i64,
    pub montant_paye: i64,
}

pub async fn operations(db: &Db) -> Result<Operations, crate::db::Error> {
    let r = db
        .fetch_one(
            "SELECT
               (SELECT COUNT(*) FROM pass_lieux WHERE statut = 'demande') AS demandes,
               (SELECT COUNT(*) FROM pass_lieux WHERE statut = 'qualifie') AS qualifies,
               (SELECT COUNT(*) FROM pass_releves WHERE paye_le IS NULL) AS a_payer,
               (SELECT CAST(COALESCE(SUM(montant_centimes), 0) AS BIGINT) FROM pass_releves
                 WHERE paye_le IS NULL) AS montant_a_payer,
               (SELECT CAST(COALESCE(SUM(montant_centimes), 0) AS BIGINT) FROM pass_releves
                 WHERE paye_le IS NOT NULL) AS montant_paye",
            crate::args![],
        )
        .await?;
    Ok(Operations {
        demandes: r.int("demandes")?,
        lieux_qualifies: r.int("qualifies")?,
        releves_a_payer: r.int("a_payer")?,
        montant_a_payer: r.int("montant_a_payer")?,
        montant_paye: r.int("montant_paye")?,
    })
}
