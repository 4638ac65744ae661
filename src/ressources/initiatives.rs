//! The census of local authorities' initiatives (the plan asks the local
//! authorities' platform to *recenser* them so others can copy them): what a
//! commune, an intercommunality (EPCI) or a département does, with its budget,
//! public, partners, results and contact; searchable by territory; recorded by
//! curators one by one or by CSV import (every line checked, then all or
//! nothing), exported as CSV.

use crate::csv_import::{self, Capped, LineError};
use crate::db::Db;

/// The CSV columns (import and export), in order.
pub const COLONNES: [&str; 9] = [
    "titre",
    "description",
    "territoire",
    "annee",
    "budget_euros",
    "publics",
    "partenaires",
    "resultats",
    "contact",
];

pub const IMPORT_MAX: usize = 5_000;

/// A local authority, from what someone typed: a département code (`89`, `2A`,
/// `971`), an EPCI's SIREN (9 digits) or a commune's INSEE code or name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collectivite {
    pub niveau: &'static str,
    pub code: String,
    pub nom: String,
    pub departement: String,
}

pub fn collectivite(raw: &str) -> Result<Collectivite, String> {
    let t = crate::territoires::get();
    let raw = raw.trim();
    let upper = raw.to_uppercase();
    if let Some(nom) = t.departement_name(&upper) {
        return Ok(Collectivite {
            niveau: "departement",
            code: upper.clone(),
            nom: format!("Département : {nom} ({upper})"),
            departement: upper,
        });
    }
    if raw.len() == 9 && raw.bytes().all(|b| b.is_ascii_digit()) {
        let members = t.members_of(raw);
        let Some(main) = members.iter().max_by_key(|c| c.population) else {
            return Err(format!(
                "« {raw} » n'est le SIREN d'aucune intercommunalité (EPCI) en vigueur"
            ));
        };
        return Ok(Collectivite {
            niveau: "epci",
            code: raw.to_owned(),
            nom: format!(
                "Intercommunalité autour de {} ({} communes, SIREN {raw})",
                main.label(),
                members.len()
            ),
            departement: main.departement.clone(),
        });
    }
    match t.resolve(raw) {
        Ok(c) => Ok(Collectivite {
            niveau: "commune",
            code: c.code.clone(),
            nom: format!("Commune : {}", c.label()),
            departement: c.departement.clone(),
        }),
        Err(e) => Err(format!(
            "territoire « {raw} » : un code de département (89), le SIREN d'une intercommunalité (9 chiffres) ou une commune. {e}"
        )),
    }
}

/// An initiative's raw values.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pub titre: String,
    pub description: String,
    pub territoire: String,
    pub annee: String,
    pub budget: String,
    pub publics: String,
    pub partenaires: String,
    pub resultats: String,
    pub contact: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nouvelle {
    pub titre: String,
    pub description: String,
    pub collectivite: Collectivite,
    pub annee: i64,
    pub budget_euros: Option<i64>,
    pub publics: String,
    pub partenaires: String,
    pub resultats: String,
    pub contact: String,
}

fn bounded(
    errors: &mut Vec<(&'static str, String)>,
    field: &'static str,
    what: &str,
    v: &str,
    max: usize,
    required: bool,
) -> String {
    let v = v.trim();
    if required && v.is_empty() {
        errors.push((field, format!("{what} : à remplir.")));
    } else if v.chars().count() > max {
        errors.push((field, format!("{what} : {max} caractères au plus.")));
    } else if v.chars().any(|c| c.is_control() && c != '\n') {
        errors.push((
            field,
            format!("{what} : caractères invisibles non autorisés."),
        ));
    }
    v.replace('\r', "")
}

/// Checks an initiative; `this_year` bounds the year.
pub fn check(f: &Form, this_year: i64) -> Result<Nouvelle, Vec<(&'static str, String)>> {
    let mut e = Vec::new();
    let titre = bounded(&mut e, "titre", "Titre", &f.titre, 150, true);
    let description = bounded(
        &mut e,
        "description",
        "Description",
        &f.description,
        3_000,
        true,
    );
    let publics = bounded(&mut e, "publics", "Publics", &f.publics, 500, false);
    let partenaires = bounded(
        &mut e,
        "partenaires",
        "Partenaires",
        &f.partenaires,
        500,
        false,
    );
    let resultats = bounded(&mut e, "resultats", "Résultats", &f.resultats, 2_000, false);
    let contact = bounded(&mut e, "contact", "Contact", &f.contact, 200, true);
    let collectivite = match collectivite(&f.territoire) {
        Ok(c) => Some(c),
        Err(m) => {
            e.push(("territoire", m));
            None
        }
    };
    let annee = match f.annee.trim().parse::<i64>() {
        Ok(y) if (2000..=this_year + 1).contains(&y) => y,
        _ => {
            e.push((
                "annee",
                format!(
                    "Année : entre 2000 et {}, par exemple {this_year}.",
                    this_year + 1
                ),
            ));
            0
        }
    };
    let budget_raw: String = f
        .budget
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '€' && *c != '\u{202f}')
        .collect();
    let budget_euros = if budget_raw.is_empty() {
        None
    } else {
        match budget_raw.parse::<i64>() {
            Ok(b) if (0..=1_000_000_000).contains(&b) => Some(b),
            _ => {
                e.push((
                    "budget",
                    format!(
                        "Budget : un nombre entier d'euros, par exemple 12000 (« {} » ne l'est pas).",
                        f.budget.trim().chars().take(40).collect::<String>()
                    ),
                ));
                None
            }
        }
    };
    match (e.is_empty(), collectivite) {
        (true, Some(collectivite)) => Ok(Nouvelle {
            titre,
            description,
            collectivite,
            annee,
            budget_euros,
            publics,
            partenaires,
            resultats,
            contact,
        }),
        _ => Err(e),
    }
}

fn search_key(n: &Nouvelle) -> String {
    crate::mandats::search_key(&format!(
        "{} {} {} {} {}",
        n.titre, n.description, n.collectivite.nom, n.publics, n.partenaires
    ))
}

async fn insert<E: crate::db::Exec>(
    tx: &mut E,
    n: &Nouvelle,
    by: i64,
    now: i64,
) -> Result<i64, crate::db::Error> {
    tx.fetch_one(
        "INSERT INTO initiatives (titre, description, niveau, code, territoire, departement, annee,
             budget_euros, publics, partenaires, resultats, contact, search_key, created_by,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
         RETURNING id",
        crate::args![
            &n.titre,
            &n.description,
            n.collectivite.niveau,
            &n.collectivite.code,
            &n.collectivite.nom,
            &n.collectivite.departement,
            n.annee,
            n.budget_euros,
            &n.publics,
            &n.partenaires,
            &n.resultats,
            &n.contact,
            search_key(n),
            by,
            now
        ],
    )
    .await?
    .int("id")
}

pub async fn create(db: &Db, n: &Nouvelle, by: i64, now: i64) -> Result<i64, crate::db::Error> {
    let mut tx = db.begin().await?;
    let id = insert(&mut tx, n, by, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Imports a CSV of [`COLONNES`]: every line checked first, then all written in
/// one transaction, or nothing.
pub async fn import_csv(
    db: &Db,
    bytes: &[u8],
    by: i64,
    this_year: i64,
    now: i64,
) -> Result<Result<usize, Capped<LineError>>, crate::db::Error> {
    let mut errors = Capped::default();
    let (mut reader, idx) = match csv_import::open(bytes, COLONNES) {
        Ok(x) => x,
        Err(list) => {
            for e in list {
                errors.push(e);
            }
            return Ok(Err(errors));
        }
    };
    let mut rows = Vec::new();
    for item in csv_import::lines(&mut reader) {
        let (line, rec) = match item {
            Ok(x) => x,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if rows.len() >= IMPORT_MAX {
            errors.push(LineError::new(
                line,
                format!("plus de {IMPORT_MAX} lignes : découpez le fichier"),
            ));
            break;
        }
        let get = |i: usize| csv_import::field(&rec, idx.get(i).copied().unwrap_or(usize::MAX));
        let f = Form {
            titre: get(0),
            description: get(1),
            territoire: get(2),
            annee: get(3),
            budget: get(4),
            publics: get(5),
            partenaires: get(6),
            resultats: get(7),
            contact: get(8),
        };
        match check(&f, this_year) {
            Ok(n) => rows.push(n),
            Err(list) => {
                for (_, m) in list {
                    errors.push(LineError::new(line, m));
                }
            }
        }
    }
    if errors.total() > 0 {
        return Ok(Err(errors));
    }
    if rows.is_empty() {
        errors.push(LineError::new(
            2,
            "le fichier ne contient aucune initiative",
        ));
        return Ok(Err(errors));
    }
    let mut tx = db.begin().await?;
    for n in &rows {
        insert(&mut tx, n, by, now).await?;
    }
    tx.commit().await?;
    Ok(Ok(rows.len()))
}

/// An initiative as listed and shown.
#[derive(Debug, Clone)]
pub struct Initiative {
    pub id: i64,
    pub titre: String,
    pub description: String,
    pub niveau: String,
    pub code: String,
    pub territoire: String,
    pub departement: String,
    pub annee: i64,
    pub budget_euros: Option<i64>,
    pub publics: String,
    pub partenaires: String,
    pub resultats: String,
    pub contact: String,
}

fn initiative(r: &crate::db::Rec) -> Result<Initiative, crate::db::Error> {
    Ok(Initiative {
        id: r.int("id")?,
        titre: r.text("titre")?,
        description: r.text("description")?,
        niveau: r.text("niveau")?,
        code: r.text("code")?,
        territoire: r.text("territoire")?,
        departement: r.text("departement")?,
        annee: r.int("annee")?,
        budget_euros: r.opt_int("budget_euros")?,
        publics: r.text("publics")?,
        partenaires: r.text("partenaires")?,
        resultats: r.text("resultats")?,
        contact: r.text("contact")?,
    })
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Initiative>, crate::db::Error> {
    db.fetch_optional("SELECT * FROM initiatives WHERE id = $1", crate::args![id])
        .await?
        .map(|r| initiative(&r))
        .transpose()
}

/// A territory to search in: its département, and for a commune its own code and
/// its EPCI (what concerns the commune: itself, its intercommunality, its
/// département).
#[derive(Debug, Clone, Default)]
pub struct Filtre {
    pub departement: String,
    pub codes: Vec<String>,
    pub q: String,
}

impl Filtre {
    /// From a typed territory; `Err` with the French message when unknown.
    pub fn of(territoire: &str, q: &str) -> Result<Filtre, String> {
        let mut f = Filtre {
            q: q.trim().chars().take(100).collect(),
            ..Filtre::default()
        };
        if territoire.trim().is_empty() {
            return Ok(f);
        }
        let c = collectivite(territoire)?;
        f.departement = c.departement.clone();
        match c.niveau {
            "commune" => {
                if let Some(epci) = crate::territoires::get()
                    .commune(&c.code)
                    .and_then(|x| x.epci.clone())
                {
                    f.codes.push(epci);
                }
                f.codes.push(c.code);
            }
            "epci" => f.codes.push(c.code),
            _ => {}
        }
        Ok(f)
    }
}

pub const LISTE_MAX: i64 = 500;

/// Initiatives of a territory (its own and those of the levels above it in its
/// département), newest year first, at most [`LISTE_MAX`].
pub async fn list(db: &Db, f: &Filtre) -> Result<Vec<Initiative>, crate::db::Error> {
    let like = if f.q.is_empty() {
        String::new()
    } else {
        format!("%{}%", crate::mandats::search_key(&f.q))
    };
    let codes = format!(",{},", f.codes.join(","));
    let rows = db
        .fetch_all(
            "SELECT * FROM initiatives
             WHERE ($1 = '' OR departement = $1)
               AND ($2 = ',,' OR niveau = 'departement' OR $2 LIKE '%,' || code || ',%')
               AND ($3 = '' OR search_key LIKE $3)
             ORDER BY annee DESC, id DESC LIMIT $4",
            crate::args![&f.departement, &codes, &like, LISTE_MAX],
        )
        .await?;
    rows.iter().map(initiative).collect()
}

/// Every initiative, for the export (in pages of 1,000 by key).
pub async fn all(db: &Db) -> Result<Vec<Initiative>, crate::db::Error> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let rows = db
            .fetch_all(
                "SELECT * FROM initiatives WHERE id > $1 ORDER BY id LIMIT 1000",
                crate::args![after],
            )
            .await?;
        let n = rows.len();
        for r in &rows {
            let i = initiative(r)?;
            after = i.id;
            out.push(i);
        }
        if n < 1000 {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn territories_of_initiatives() {
        let d = collectivite("89").unwrap();
        assert_eq!((d.niveau, d.code.as_str()), ("departement", "89"));
        let e = collectivite("200067114").unwrap();
        assert_eq!(e.niveau, "epci");
        assert!(e.nom.contains("Auxerre"), "{}", e.nom);
        let c = collectivite("Auxerre").unwrap();
        assert_eq!((c.niveau, c.code.as_str()), ("commune", "89024"));
        assert!(collectivite("999999999").is_err());
        assert!(collectivite("Atlantide").is_err());
        let f = Form {
            titre: "Ateliers".into(),
            description: "Des ateliers.".into(),
            territoire: "89024".into(),
            annee: "2025".into(),
            budget: "12 000 €".into(),
            contact: "mairie@auxerre.fr".into(),
            ..Form::default()
        };
        assert_eq!(check(&f, 2026).unwrap().budget_euros, Some(12_000));
        let bad = Form {
            annee: "1999".into(),
            budget: "beaucoup".into(),
            ..f
        };
        let e = check(&bad, 2026).unwrap_err();
        assert!(e.iter().any(|(k, _)| *k == "annee"));
        assert!(e.iter().any(|(k, _)| *k == "budget"));
    }
}
