//! Open data, published by a daily job (04:00 Paris, once across servers) and
//! served at stable URLs (`/donnees-ouvertes/<file>`):
//! - `lieux.csv`, `lieux.json`: the places in the national standard;
//! - `statistiques.csv`, `statistiques.json`: per département and month (and the
//!   year, and France as a whole) for the current and the previous year:
//!   accompaniments and new people under statistical confidentiality
//!   ([`super::secret::protect`]: « secret » where masked), uses of mandates;
//! - `statistiques.schema.json`: their Table Schema, which the job checks its own
//!   rows against before publishing anything.
//!
//! The files are kept in the database so that every app server serves the same.

use crate::csv_export::{Cell, Dialect, Writer};
use crate::db::Db;
use crate::db::Exec as _;
use crate::lieux::schema::Schema;

pub const JOB: &str = "donnees_ouvertes";

/// The Table Schema of the statistics.
pub const STATS_SCHEMA: &str = r#"{
  "$schema": "https://frictionlessdata.io/schemas/table-schema.json",
  "name": "relais-statistiques",
  "title": "Relais — statistiques de l'inclusion numérique par territoire et par mois",
  "description": "Accompagnements de médiation numérique, nouvelles personnes accompagnées et utilisations des mandats Aidants Connect, par département et par mois, avec l'année et la France entière. Secret statistique : aucun nombre de personnes inférieur à 5 n'est publié, ni aucun nombre qu'on pourrait retrouver par différence avec un total publié ; ces cases valent « secret ».",
  "version": "1.0.0",
  "created": "2026-12-04",
  "licenses": [{ "name": "etalab-2.0", "title": "Licence Ouverte / Open Licence version 2.0", "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence" }],
  "missingValues": ["", "secret"],
  "fields": [
    { "name": "niveau", "title": "Niveau du territoire", "type": "string", "description": "departement ou national", "constraints": { "required": true, "pattern": "departement|national" } },
    { "name": "code", "title": "Code du territoire", "type": "string", "description": "Code officiel géographique du département (89, 2A, 974), FR pour la France entière", "constraints": { "required": true, "pattern": "[0-9]{2}|2A|2B|97[1-6]|FR" } },
    { "name": "nom", "title": "Nom du territoire", "type": "string", "constraints": { "required": true } },
    { "name": "periode", "title": "Période", "type": "string", "description": "Un mois (AAAA-MM) ou une année (AAAA)", "constraints": { "required": true, "pattern": "[0-9]{4}(-(0[1-9]|1[0-2]))?" } },
    { "name": "accompagnements", "title": "Accompagnements", "type": "integer", "description": "Accompagnements individuels et participations aux ateliers ; « secret » si masqué" },
    { "name": "nouvelles_personnes", "title": "Nouvelles personnes accompagnées", "type": "integer", "description": "Personnes accompagnées pour la première fois ; « secret » si masqué" },
    { "name": "utilisations_mandats", "title": "Utilisations des mandats", "type": "integer", "description": "Connexions d'un aidant à un service en ligne au nom d'une personne (des actes, pas des personnes)", "constraints": { "required": true } }
  ]
}"#;

/// The statistics' columns, in the schema's order.
pub const STATS_COLUMNS: [&str; 7] = [
    "niveau",
    "code",
    "nom",
    "periode",
    "accompagnements",
    "nouvelles_personnes",
    "utilisations_mandats",
];

/// A year's figures per département (rows) and month (columns).
#[derive(Debug, Clone)]
pub struct YearTable {
    pub annee: i64,
    pub departements: Vec<String>,
    pub accompagnements: Vec<Vec<i64>>,
    pub nouveaux: Vec<Vec<i64>>,
    pub utilisations: Vec<Vec<i64>>,
}

/// Reads a year's table from the aggregates (one query each).
pub async fn year_table(db: &Db, annee: i64) -> Result<YearTable, crate::db::Error> {
    let departements = super::Territoire::national().departements;
    let index = |d: &str| departements.iter().position(|x| x == d);
    let zero = || vec![vec![0_i64; 12]; departements.len()];
    let (mut acc, mut new, mut uses) = (zero(), zero(), zero());
    let (from, to) = (annee * 100 + 1, annee * 100 + 12);
    let rows = db
        .fetch_all(
            "SELECT departement, mois,
                    CAST(SUM(CASE WHEN dim = 'total' THEN accompagnements ELSE 0 END) AS BIGINT) AS n,
                    CAST(SUM(CASE WHEN dim = 'nouveaux' THEN accompagnements ELSE 0 END) AS BIGINT) AS nouveaux
             FROM activites_territoires
             WHERE mois BETWEEN $1 AND $2 AND (dim = 'total' AND val = 'tout' OR dim = 'nouveaux')
             GROUP BY departement, mois",
            crate::args![from, to],
        )
        .await?;
    let put = |t: &mut Vec<Vec<i64>>, d: usize, m: usize, v: i64| {
        if let Some(x) = t.get_mut(d).and_then(|row| row.get_mut(m)) {
            *x += v;
        }
    };
    for r in &rows {
        let d: String = r.get("departement")?;
        let mois: i64 = r.get("mois")?;
        let m = usize::try_from(mois % 100 - 1).unwrap_or(0);
        if let Some(i) = index(&d) {
            put(&mut acc, i, m, r.get("n")?);
            put(&mut new, i, m, r.get("nouveaux")?);
        }
    }
    let rows = db
        .fetch_all(
            "SELECT departement, mois, CAST(SUM(n) AS BIGINT) AS n FROM utilisations_mois
             WHERE mois BETWEEN $1 AND $2 GROUP BY departement, mois",
            crate::args![from, to],
        )
        .await?;
    for r in &rows {
        let d: String = r.get("departement")?;
        let mois: i64 = r.get("mois")?;
        if let Some(i) = index(&d) {
            put(
                &mut uses,
                i,
                usize::try_from(mois % 100 - 1).unwrap_or(0),
                r.get("n")?,
            );
        }
    }
    Ok(YearTable {
        annee,
        departements,
        accompagnements: acc,
        nouveaux: new,
        utilisations: uses,
    })
}

/// One published line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatLine {
    pub niveau: &'static str,
    pub code: String,
    pub nom: String,
    pub periode: String,
    pub accompagnements: Option<i64>,
    pub nouvelles_personnes: Option<i64>,
    pub utilisations_mandats: i64,
}

/// The published lines of a year: each département's months and year, then
/// France's months and year; people counts protected.
pub fn lines(t: &YearTable) -> Vec<StatLine> {
    let acc = super::secret::protect(&t.accompagnements);
    let new = super::secret::protect(&t.nouveaux);
    let names = crate::territoires::get();
    let month = |m: usize| format!("{}-{:02}", t.annee, m + 1);
    let sum = |row: &Vec<i64>| row.iter().sum::<i64>();
    let mut out = Vec::with_capacity((t.departements.len() + 1) * 13);
    for (i, d) in t.departements.iter().enumerate() {
        let nom = names.departement_name(d).unwrap_or(d).to_owned();
        let uses = t.utilisations.get(i).cloned().unwrap_or_default();
        for m in 0..12 {
            out.push(StatLine {
                niveau: "departement",
                code: d.clone(),
                nom: nom.clone(),
                periode: month(m),
                accompagnements: acc.cells.get(i).and_then(|r| r.get(m)).copied().flatten(),
                nouvelles_personnes: new.cells.get(i).and_then(|r| r.get(m)).copied().flatten(),
                utilisations_mandats: uses.get(m).copied().unwrap_or(0),
            });
        }
        out.push(StatLine {
            niveau: "departement",
            code: d.clone(),
            nom,
            periode: t.annee.to_string(),
            accompagnements: acc.row_totals.get(i).copied().flatten(),
            nouvelles_personnes: new.row_totals.get(i).copied().flatten(),
            utilisations_mandats: sum(&uses),
        });
    }
    for m in 0..12 {
        out.push(StatLine {
            niveau: "national",
            code: "FR".into(),
            nom: "France entière".into(),
            periode: month(m),
            accompagnements: acc.column_totals.get(m).copied().flatten(),
            nouvelles_personnes: new.column_totals.get(m).copied().flatten(),
            utilisations_mandats: t
                .utilisations
                .iter()
                .map(|r| r.get(m).copied().unwrap_or(0))
                .sum(),
        });
    }
    out.push(StatLine {
        niveau: "national",
        code: "FR".into(),
        nom: "France entière".into(),
        periode: t.annee.to_string(),
        accompagnements: acc.total,
        nouvelles_personnes: new.total,
        utilisations_mandats: t.utilisations.iter().map(sum).sum(),
    });
    out
}

fn text_of(v: Option<i64>) -> String {
    v.map_or_else(|| "secret".to_owned(), |n| n.to_string())
}

/// The CSV of the lines (open-data dialect: `,`, no BOM).
pub fn stats_csv(lines: &[StatLine]) -> String {
    let mut w = Writer::new(Dialect::Standard, &STATS_COLUMNS);
    for l in lines {
        w.row([
            Cell::Text(l.niveau),
            Cell::Code(&l.code),
            Cell::Text(&l.nom),
            Cell::Text(&l.periode),
            Cell::Owned(text_of(l.accompagnements)),
            Cell::Owned(text_of(l.nouvelles_personnes)),
            Cell::Int(l.utilisations_mandats),
        ]);
    }
    String::from_utf8_lossy(&w.finish()).into_owned()
}

/// The JSON of the lines (an array of objects; « secret » kept as text).
pub fn stats_json(lines: &[StatLine]) -> String {
    let value = |v: Option<i64>| match v {
        Some(n) => serde_json::json!(n),
        None => serde_json::json!("secret"),
    };
    let list: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| {
            serde_json::json!({
                "niveau": l.niveau,
                "code": l.code,
                "nom": l.nom,
                "periode": l.periode,
                "accompagnements": value(l.accompagnements),
                "nouvelles_personnes": value(l.nouvelles_personnes),
                "utilisations_mandats": l.utilisations_mandats,
            })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// Checks a CSV against a Table Schema: every column, every value; the first
/// errors (at most 20), in French.
pub fn validate_csv(schema: &Schema, csv_text: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(csv_text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => return vec![format!("en-tête illisible : {e}")],
    };
    let names = schema.names();
    if header.iter().map(String::as_str).collect::<Vec<_>>() != names {
        errors.push(format!(
            "colonnes {} au lieu de {}",
            header.join(","),
            names.join(",")
        ));
        return errors;
    }
    for (i, rec) in reader.records().enumerate() {
        let Ok(rec) = rec else {
            errors.push(format!("ligne {} illisible", i + 2));
            continue;
        };
        for (field, value) in schema.fields.iter().zip(rec.iter()) {
            if let Some(e) = schema.check(field, value) {
                errors.push(format!("ligne {}, {} : {e}", i + 2, field.name));
            }
        }
        if errors.len() >= 20 {
            break;
        }
    }
    errors
}

/// What a run published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub files: usize,
    pub lieux: i64,
    pub lignes_statistiques: usize,
}

impl Report {
    pub fn summary(&self) -> String {
        format!(
            "{} fichiers publiés : {} lieux, {} lignes de statistiques",
            self.files, self.lieux, self.lignes_statistiques
        )
    }
}

/// Builds and publishes every file in one transaction (all or nothing).
pub async fn publish(db: &Db, now: i64) -> Result<Report, crate::db::Error> {
    let annee = crate::activites::today(now) / 10_000;
    let mut lines_all = lines(&year_table(db, annee - 1).await?);
    lines_all.extend(lines(&year_table(db, annee).await?));
    let csv_text = stats_csv(&lines_all);
    let schema = Schema::parse(STATS_SCHEMA).map_err(crate::db::Error::Data)?;
    let errors = validate_csv(&schema, &csv_text);
    if !errors.is_empty() {
        return Err(crate::db::Error::Data(format!(
            "statistiques non conformes à leur schéma : {}",
            errors.join(" ; ")
        )));
    }
    let lieux_csv = crate::lieux::export_csv(db).await?;
    let lieux_json = crate::lieux::export_json(db).await?;
    let lieux = crate::lieux::count(db).await?;
    let n = i64::try_from(lines_all.len()).unwrap_or(0);
    let files: [(&str, &str, String, i64); 5] = [
        ("lieux.csv", "text/csv; charset=utf-8", lieux_csv, lieux),
        ("lieux.json", "application/json", lieux_json, lieux),
        ("statistiques.csv", "text/csv; charset=utf-8", csv_text, n),
        (
            "statistiques.json",
            "application/json",
            stats_json(&lines_all),
            n,
        ),
        (
            "statistiques.schema.json",
            "application/schema+json",
            STATS_SCHEMA.to_owned(),
            0,
        ),
    ];
    let mut tx = db.begin().await?;
    for (nom, kind, content, count) in &files {
        tx.execute(
            "INSERT INTO donnees_ouvertes (nom, type_contenu, contenu, lignes, publie_le)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (nom) DO UPDATE SET type_contenu = excluded.type_contenu,
                 contenu = excluded.contenu, lignes = excluded.lignes,
                 publie_le = excluded.publie_le",
            crate::args![*nom, *kind, content, *count, now],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Report {
        files: files.len(),
        lieux,
        lignes_statistiques: lines_all.len(),
    })
}

/// Runs the job if it is due (daily at 04:00 Paris) and this server claimed it.
pub async fn run_if_due(db: &Db, now: i64) -> Result<Option<Report>, crate::db::Error> {
    if !crate::jobs::claim(db, JOB, now).await? {
        return Ok(None);
    }
    let report = publish(db, now).await?;
    let next = crate::time_fr::paris_midnight(now, 1) + 4 * 3_600;
    crate::jobs::finish(db, JOB, now, next, &report.summary()).await?;
    tracing::info!(résultat = %report.summary(), "données ouvertes publiées");
    Ok(Some(report))
}

/// A published file (without its content).
#[derive(Debug, Clone)]
pub struct Published {
    pub nom: String,
    pub type_contenu: String,
    pub lignes: i64,
    pub publie_le: i64,
    pub taille: i64,
}

pub async fn list(db: &Db) -> Result<Vec<Published>, crate::db::Error> {
    db.fetch_all(
        "SELECT nom, type_contenu, lignes, publie_le, LENGTH(contenu) AS taille
         FROM donnees_ouvertes ORDER BY nom",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Published {
            nom: r.get("nom")?,
            type_contenu: r.get("type_contenu")?,
            lignes: r.get("lignes")?,
            publie_le: r.get("publie_le")?,
            taille: r.get("taille")?,
        })
    })
    .collect()
}

/// A published file: (content type, content, publication time).
pub async fn file(db: &Db, nom: &str) -> Result<Option<(String, String, i64)>, crate::db::Error> {
    db.fetch_optional(
        "SELECT type_contenu, contenu, publie_le FROM donnees_ouvertes WHERE nom = $1",
        crate::args![nom],
    )
    .await?
    .map(|r| {
        Ok((
            r.get("type_contenu")?,
            r.get("contenu")?,
            r.get("publie_le")?,
        ))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_reads_and_checks_what_is_published() {
        let schema = Schema::parse(STATS_SCHEMA).unwrap();
        assert_eq!(schema.names(), STATS_COLUMNS.to_vec());
        let mut table = YearTable {
            annee: 2026,
            departements: vec!["89".into(), "21".into(), "2A".into()],
            accompagnements: vec![vec![0; 12]; 3],
            nouveaux: vec![vec![0; 12]; 3],
            utilisations: vec![vec![0; 12]; 3],
        };
        if let Some(x) = table.accompagnements.get_mut(0).and_then(|r| r.get_mut(2)) {
            *x = 3;
        }
        if let Some(x) = table.accompagnements.get_mut(1).and_then(|r| r.get_mut(2)) {
            *x = 40;
        }
        let lines = lines(&table);
        assert_eq!(lines.len(), 3 * 13 + 13);
        let csv_text = stats_csv(&lines);
        assert_eq!(validate_csv(&schema, &csv_text), Vec::<String>::new());
        assert!(csv_text.contains("departement,89,Yonne,2026-03,secret,"));
        // A wrong file is refused with the reason.
        let bad = csv_text.replace("2026-03", "2026-13");
        assert!(!validate_csv(&schema, &bad).is_empty());
        let bad = csv_text.replacen(",secret,", ",beaucoup,", 1);
        let errors = validate_csv(&schema, &bad);
        assert!(
            errors.iter().any(|e| e.contains("accompagnements")),
            "{errors:?}"
        );
        let json: serde_json::Value = serde_json::from_str(&stats_json(&lines)).unwrap();
        assert_eq!(json.as_array().unwrap().len(), lines.len());
    }
}
