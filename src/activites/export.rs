//! Exports of activities: **one row per accompaniment** (a workshop with two tracked
//! and five anonymous participants gives seven rows), as an XLSX workbook or through
//! the spreadsheet CSV writer, and the statistics as a workbook. No name leaves: a
//! tracked person is « suivi n° id », an anonymous one gets the counters' values
//! one by one (the first ones « masculin », then « féminin », then « non communiqué »…).

use super::stats::{Filter, Scope, Stats};
use super::{Kind, vocab};
use crate::db::Db;
use crate::db::exec::{Exec, Rec};

/// The columns of an accompaniment row.
pub const HEADER: [&str; 19] = [
    "Date",
    "Type",
    "Titre de l'atelier",
    "Durée (minutes)",
    "Lieu",
    "Nom du lieu",
    "Code INSEE de la commune",
    "Département",
    "Matériel",
    "Thématiques",
    "Démarches administratives",
    "Autonomie",
    "Orientation",
    "Niveau",
    "Bénéficiaire",
    "Déjà accompagné",
    "Genre",
    "Tranche d'âge",
    "Statut",
];

/// One accompaniment, ready to write.
#[derive(Debug, Clone)]
pub struct Row {
    pub activite_id: i64,
    /// `YYYYMMDD`.
    pub date: i64,
    pub cells: [String; 19],
}

const PAGE: i64 = 2_000;

macro_rules! page_sql {
    ($cond:literal) => {
        concat!(
            "SELECT a.id, a.type, a.date, a.duree, a.lieu_type, l.nom AS lieu_nom, a.commune_insee,
                    a.departement, a.materiel, a.thematiques, a.thematiques_admin, a.autonomie,
                    a.orientation, a.niveau, a.titre, a.anon_total, a.anon_deja, a.anon_genre,
                    a.anon_age, a.anon_statut
             FROM activites a LEFT JOIN lieux l ON l.id = a.lieu_id
             WHERE ",
            $cond,
            " AND a.date BETWEEN $2 AND $3 AND a.id > $4 ORDER BY a.id LIMIT $5"
        )
    };
}

const PEOPLE_SQL: &str = "SELECT p.activite_id, b.id, b.genre, b.annee_naissance, b.statut_social,
        CASE WHEN b.premiere_activite_id = p.activite_id THEN 0 ELSE 1 END AS deja
     FROM activite_participants p JOIN beneficiaires b ON b.id = p.beneficiaire_id
     WHERE p.activite_id BETWEEN $1 AND $2 ORDER BY p.activite_id, b.id";

fn labels(list: &[vocab::Term], csv: &str) -> String {
    csv.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| vocab::label(list, s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `i`-th anonymous participant's value in a breakdown.
fn nth_value(list: &[vocab::Term], counts: &str, i: i64) -> &'static str {
    let mut seen = 0;
    for ((_, label), n) in list.iter().zip(counts.split(',')) {
        seen += n.parse::<i64>().unwrap_or(0);
        if i < seen {
            return label;
        }
    }
    vocab::NON_COMMUNIQUE.1
}

/// Reads the accompaniments of `f` page by page and gives each page to `each`;
/// with a `thematique`, only the activities about it (the pages' filter).
pub async fn for_each_page(
    db: &Db,
    f: &Filter,
    thematique: Option<&str>,
    mut each: impl FnMut(Vec<Row>) -> Result<(), crate::db::Error>,
) -> Result<(), crate::db::Error> {
    let (from, to) = (f.from * 100 + 1, f.to * 100 + 31);
    let mut after = 0_i64;
    loop {
        let mut c = db.conn().await?;
        let rows = match &f.scope {
            Scope::Mediateur(id) => {
                c.fetch_all(
                    page_sql!("a.mediateur_id = $1"),
                    crate::args![*id, from, to, after, PAGE],
                )
                .await?
            }
            Scope::StructureMediateur(sid, mid) => {
                c.fetch_all(
                    page_sql!("a.structure_id = $1 AND a.mediateur_id = $6"),
                    crate::args![*sid, from, to, after, PAGE, *mid],
                )
                .await?
            }
            Scope::Structure(id) => {
                c.fetch_all(
                    page_sql!("a.structure_id = $1"),
                    crate::args![*id, from, to, after, PAGE],
                )
                .await?
            }
            Scope::Departement(code) => {
                c.fetch_all(
                    page_sql!("a.departement = $1"),
                    crate::args![code, from, to, after, PAGE],
                )
                .await?
            }
            Scope::Region(_) | Scope::Departements(_) => {
                c.fetch_all(
                    page_sql!("$1 LIKE '%,' || a.departement || ',%'"),
                    crate::args![
                        &super::stats::departement_set(&f.scope),
                        from,
                        to,
                        after,
                        PAGE
                    ],
                )
                .await?
            }
            // A team's statistics only: no list of its members' accompaniments.
            Scope::Team(_) | Scope::Communes(_) => return Ok(()),
            Scope::National => {
                c.fetch_all(
                    page_sql!("$1 = 0"),
                    crate::args![0_i64, from, to, after, PAGE],
                )
                .await?
            }
        };
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Ok(());
        };
        let (lo, hi) = (first.int("id")?, last.int("id")?);
        let people = c.fetch_all(PEOPLE_SQL, crate::args![lo, hi]).await?;
        drop(c);
        let mut out = Vec::with_capacity(rows.len() * 2);
        let mut pi = 0;
        for r in &rows {
            let id = r.int("id")?;
            while people
                .get(pi)
                .map(|p| p.int("activite_id").map(|a| a < id))
                .transpose()?
                .unwrap_or(false)
            {
                pi += 1;
            }
            let mut mine: Vec<&Rec> = Vec::new();
            while let Some(p) = people.get(pi) {
                if p.int("activite_id")? != id {
                    break;
                }
                mine.push(p);
                pi += 1;
            }
            if let Some(t) = thematique
                && !r.text("thematiques")?.split(',').any(|x| x == t)
            {
                continue;
            }
            rows_of(r, &mine, &mut out)?;
        }
        after = hi;
        each(out)?;
        if i64::try_from(rows.len()).unwrap_or(0) < PAGE {
            return Ok(());
        }
    }
}

fn rows_of(r: &Rec, people: &[&Rec], out: &mut Vec<Row>) -> Result<(), crate::db::Error> {
    let id = r.int("id")?;
    let date = r.int("date")?;
    let kind = Kind::parse(&r.text("type")?).unwrap_or(Kind::Individuel);
    let commune = r.text("commune_insee")?;
    let orientation = r.text("orientation")?;
    let common = |who: String,
                  deja: &str,
                  genre: &str,
                  age: &str,
                  statut: &str|
     -> Result<Row, crate::db::Error> {
        Ok(Row {
            activite_id: id,
            date,
            cells: [
                super::date_fr(date),
                kind.label().to_owned(),
                r.text("titre")?,
                r.int("duree")?.to_string(),
                vocab::label(vocab::LIEU_TYPES, &r.text("lieu_type")?).to_owned(),
                r.opt_text("lieu_nom")?.unwrap_or_default(),
                commune.clone(),
                r.text("departement")?,
                labels(vocab::MATERIELS, &r.text("materiel")?),
                labels(vocab::THEMATIQUES, &r.text("thematiques")?),
                labels(vocab::THEMATIQUES_ADMIN, &r.text("thematiques_admin")?),
                labels(vocab::AUTONOMIES, &r.text("autonomie")?),
                if kind == Kind::Collectif {
                    String::new()
                } else if orientation.is_empty() {
                    "Non".to_owned()
                } else {
                    format!("Oui : {}", vocab::label(vocab::ORIENTATIONS, &orientation))
                },
                labels(vocab::NIVEAUX, &r.text("niveau")?),
                who,
                deja.to_owned(),
                genre.to_owned(),
                age.to_owned(),
                statut.to_owned(),
            ],
        })
    };
    let year = date / 10_000;
    for p in people {
        let age = p
            .opt_int("annee_naissance")?
            .map(|y| vocab::label(vocab::AGES, vocab::age_band(y, year)))
            .unwrap_or(vocab::NON_COMMUNIQUE.1);
        out.push(common(
            format!("Suivi n° {}", p.int("id")?),
            if p.int("deja")? == 1 { "Oui" } else { "Non" },
            vocab::label(vocab::GENRES, &p.text("genre")?),
            age,
            vocab::label(vocab::STATUTS, &p.text("statut_social")?),
        )?);
    }
    let (total, deja) = (r.int("anon_total")?, r.int("anon_deja")?);
    let (g, a, s) = (
        r.text("anon_genre")?,
        r.text("anon_age")?,
        r.text("anon_statut")?,
    );
    for i in 0..total {
        out.push(common(
            "Anonyme".to_owned(),
            if i < deja { "Oui" } else { "Non" },
            nth_value(vocab::GENRES, &g, i),
            nth_value(vocab::AGES, &a, i),
            nth_value(vocab::STATUTS, &s, i),
        )?);
    }
    Ok(())
}

/// Errors of an XLSX export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Db(#[from] crate::db::Error),
    #[error("classeur impossible à écrire : {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}

/// The accompaniments of `f` as an XLSX workbook (written row by row: the
/// workbook's memory stays small whatever the number of rows).
pub async fn accompaniments_xlsx(
    db: &Db,
    f: &Filter,
    thematique: Option<&str>,
) -> Result<Vec<u8>, ExportError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet_with_constant_memory()?;
    sheet.set_name("Accompagnements")?;
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, u16::try_from(c).unwrap_or(0), *h, &bold)?;
    }
    let mut row: u32 = 1;
    let mut failed: Option<rust_xlsxwriter::XlsxError> = None;
    for_each_page(db, f, thematique, |page| {
        for r in page {
            for (c, v) in r.cells.iter().enumerate() {
                let col = u16::try_from(c).unwrap_or(0);
                // Durations are numbers; everything else text (codes keep their zeros).
                let done = if c == 3 {
                    sheet
                        .write_number(row, col, v.parse::<f64>().unwrap_or(0.0))
                        .map(|_| ())
                } else {
                    sheet.write_string(row, col, v).map(|_| ())
                };
                if let Err(e) = done {
                    failed.get_or_insert(e);
                }
            }
            row += 1;
        }
        Ok(())
    })
    .await?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    sheet.autofilter(0, 0, row.saturating_sub(1), 18)?;
    Ok(book.save_to_buffer()?)
}

/// The statistics as a workbook: totals, months, one sheet of distributions.
pub fn stats_xlsx(s: &Stats) -> Result<Vec<u8>, ExportError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let t = &s.totals;
    let sheet = book.add_worksheet();
    sheet.set_name("Totaux")?;
    sheet.write_string_with_format(0, 0, "Indicateur", &bold)?;
    sheet.write_string_with_format(0, 1, "Valeur", &bold)?;
    let totals = t.labelled();
    for (i, (k, v)) in totals.iter().enumerate() {
        let r = u32::try_from(i + 1).unwrap_or(0);
        sheet.write_string(r, 0, *k)?;
        sheet.write_number(r, 1, *v)?;
    }
    let sheet = book.add_worksheet();
    sheet.set_name("Par mois")?;
    for (c, h) in ["Mois", "Accompagnements", "Activités"].iter().enumerate() {
        sheet.write_string_with_format(0, u16::try_from(c).unwrap_or(0), *h, &bold)?;
    }
    for (i, m) in s.months.iter().enumerate() {
        let r = u32::try_from(i + 1).unwrap_or(0);
        sheet.write_string(r, 0, &m.label)?;
        sheet.write_number(r, 1, m.accompagnements as f64)?;
        sheet.write_number(r, 2, m.activites as f64)?;
    }
    let sheet = book.add_worksheet();
    sheet.set_name("Répartitions")?;
    for (c, h) in ["Tableau", "Valeur", "Accompagnements", "Part (%)"]
        .iter()
        .enumerate()
    {
        sheet.write_string_with_format(0, u16::try_from(c).unwrap_or(0), *h, &bold)?;
    }
    let mut r = 1_u32;
    for d in &s.distributions {
        for row in &d.rows {
            sheet.write_string(r, 0, d.title)?;
            sheet.write_string(r, 1, &row.label)?;
            sheet.write_number(r, 2, row.n as f64)?;
            sheet.write_number(r, 3, row.pct as f64)?;
            r += 1;
        }
    }
    Ok(book.save_to_buffer()?)
}

/// One page of the API's anonymised activities of a structure, after the activity
/// `after` (cursor), `limit` at most; with the cursor of the next page, if any.
pub async fn api_page(
    db: &Db,
    structure_id: i64,
    f: &Filter,
    after: i64,
    limit: i64,
) -> Result<(Vec<serde_json::Value>, Option<i64>), crate::db::Error> {
    let kind = f.kind.map(Kind::key).unwrap_or("");
    let lieu = f.lieu_id.unwrap_or(0);
    let mut c = db.conn().await?;
    let rows = c
        .fetch_all(
            "SELECT a.id, a.type, a.date, a.duree, a.lieu_type, a.lieu_id, a.commune_insee,
                    a.departement, a.materiel, a.thematiques, a.thematiques_admin, a.autonomie,
                    a.orientation, a.niveau, a.titre, a.anon_total, a.anon_deja, a.anon_genre,
                    a.anon_age, a.anon_statut
             FROM activites a
             WHERE a.structure_id = $1 AND a.date BETWEEN $2 AND $3 AND ($4 = '' OR a.type = $4)
               AND ($5 = 0 OR a.lieu_id = $5) AND a.id > $6
             ORDER BY a.id LIMIT $7",
            crate::args![
                structure_id,
                f.from * 100 + 1,
                f.to * 100 + 31,
                kind,
                lieu,
                after,
                limit + 1
            ],
        )
        .await?;
    let more = i64::try_from(rows.len()).unwrap_or(0) > limit;
    let rows: Vec<&Rec> = rows
        .iter()
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok((Vec::new(), None));
    };
    let (lo, hi) = (first.int("id")?, last.int("id")?);
    let people = c.fetch_all(PEOPLE_SQL, crate::args![lo, hi]).await?;
    let list = |csv: String| -> Vec<String> {
        csv.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = r.int("id")?;
        let date = r.int("date")?;
        let mut genre: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
        let mut age: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
        let mut statut: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
        for (map, list) in [
            (&mut genre, vocab::GENRES),
            (&mut age, vocab::AGES),
            (&mut statut, vocab::STATUTS),
        ] {
            for (k, _) in list {
                map.insert(k, 0);
            }
            map.insert(vocab::NON_COMMUNIQUE.0, 0);
        }
        let mut suivis = 0;
        let mut nouveaux = 0;
        for p in people
            .iter()
            .filter(|p| p.int("activite_id").ok() == Some(id))
        {
            suivis += 1;
            if p.int("deja")? == 0 {
                nouveaux += 1;
            }
            let g = p.text("genre")?;
            let g = vocab::find(vocab::GENRES, &g).unwrap_or(vocab::NON_COMMUNIQUE.0);
            *genre.entry(g).or_default() += 1;
            let band = p
                .opt_int("annee_naissance")?
                .map(|y| vocab::age_band(y, date / 10_000))
                .unwrap_or(vocab::NON_COMMUNIQUE.0);
            *age.entry(band).or_default() += 1;
            let s = p.text("statut_social")?;
            let s = vocab::find(vocab::STATUTS, &s).unwrap_or(vocab::NON_COMMUNIQUE.0);
            *statut.entry(s).or_default() += 1;
        }
        let anon_total = r.int("anon_total")?;
        for (map, list, counts) in [
            (&mut genre, vocab::GENRES, r.text("anon_genre")?),
            (&mut age, vocab::AGES, r.text("anon_age")?),
            (&mut statut, vocab::STATUTS, r.text("anon_statut")?),
        ] {
            let mut sum = 0;
            for ((k, _), n) in list.iter().zip(counts.split(',')) {
                let n = n.parse::<i64>().unwrap_or(0);
                sum += n;
                *map.entry(k).or_default() += n;
            }
            *map.entry(vocab::NON_COMMUNIQUE.0).or_default() += (anon_total - sum).max(0);
        }
        let empty = |s: String| if s.is_empty() { None } else { Some(s) };
        out.push(serde_json::json!({
            "id": id,
            "date": super::date_iso(date),
            "type": r.text("type")?,
            "duree_minutes": r.int("duree")?,
            "lieu_type": r.text("lieu_type")?,
            "lieu_id": r.opt_int("lieu_id")?,
            "commune_insee": empty(r.text("commune_insee")?),
            "departement": empty(r.text("departement")?),
            "materiel": list(r.text("materiel")?),
            "thematiques": list(r.text("thematiques")?),
            "thematiques_demarches": list(r.text("thematiques_admin")?),
            "autonomie": empty(r.text("autonomie")?),
            "orientation": empty(r.text("orientation")?),
            "niveau": empty(r.text("niveau")?),
            "titre": empty(r.text("titre")?),
            "accompagnements": suivis + anon_total,
            "beneficiaires_suivis": suivis,
            "beneficiaires_anonymes": anon_total,
            "nouveaux": nouveaux + anon_total - r.int("anon_deja")?,
            "genres": genre,
            "tranches_age": age,
            "statuts": statut,
        }));
    }
    Ok((out, more.then_some(hi)))
}
