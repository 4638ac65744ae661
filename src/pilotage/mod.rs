//! Steering the national plan: territories (national, région, hub, département),
//! the accounts that see one territory's aggregates (never a person's data), hubs
//! created by administrators, the conseillers numériques figures imported by the
//! national role, the dashboards against the targets ([`tableau`]), the tile-grid
//! map of départements ([`carte`]) and statistical confidentiality ([`secret`]).

pub mod acteurs;
pub mod carte;
pub mod donnees;
pub mod secret;
pub mod tableau;

use crate::csv_import::{self, Capped, LineError};
use crate::db::Db;
use crate::db::Exec as _;

/// The national targets of the plan (`../shared/docs/domain.md`).
pub const OBJECTIF_PERSONNES_AN: i64 = 1_500_000;
pub const OBJECTIF_CONSEILLERS: i64 = 4_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Niveau {
    National,
    Region,
    Hub,
    Departement,
}

impl Niveau {
    pub fn key(self) -> &'static str {
        match self {
            Niveau::National => "national",
            Niveau::Region => "region",
            Niveau::Hub => "hub",
            Niveau::Departement => "departement",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Niveau::National => "National (État, ANCT)",
            Niveau::Region => "Région",
            Niveau::Hub => "Hub France connectée",
            Niveau::Departement => "Département (préfecture)",
        }
    }
    pub fn parse(raw: &str) -> Option<Niveau> {
        [
            Niveau::National,
            Niveau::Region,
            Niveau::Hub,
            Niveau::Departement,
        ]
        .into_iter()
        .find(|n| n.key() == raw)
    }
}

/// A territory: what a territorial account sees, or what a page is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Territoire {
    pub niveau: Niveau,
    /// Région or département code, hub id; empty for national.
    pub code: String,
    pub nom: String,
    /// Its départements (every one for national).
    pub departements: Vec<String>,
}

impl Territoire {
    pub fn national() -> Territoire {
        let mut deps: Vec<String> = crate::territoires::get()
            .regions()
            .iter()
            .flat_map(|(_, _, d)| d.iter().cloned())
            .collect();
        deps.sort();
        Territoire {
            niveau: Niveau::National,
            code: String::new(),
            nom: "France entière".to_owned(),
            departements: deps,
        }
    }

    pub fn region(code: &str) -> Option<Territoire> {
        let (nom, deps) = crate::territoires::get().region(code)?;
        Some(Territoire {
            niveau: Niveau::Region,
            code: code.to_owned(),
            nom: nom.to_owned(),
            departements: deps.to_vec(),
        })
    }

    pub fn departement(code: &str) -> Option<Territoire> {
        let nom = crate::territoires::get().departement_name(code)?;
        Some(Territoire {
            niveau: Niveau::Departement,
            code: code.to_owned(),
            nom: format!("{nom} ({code})"),
            departements: vec![code.to_owned()],
        })
    }

    pub fn contains(&self, departement: &str) -> bool {
        self.departements.iter().any(|d| d == departement)
    }

    /// `,21,25,39,`: what queries match with `LIKE '%,' || departement || ',%'`.
    pub fn set(&self) -> String {
        if self.departements.is_empty() {
            String::new()
        } else {
            format!(",{},", self.departements.join(","))
        }
    }

    /// Inhabitants (municipal populations of its communes).
    pub fn population(&self) -> i64 {
        crate::territoires::get()
            .communes()
            .iter()
            .filter(|c| self.contains(&c.departement))
            .map(|c| i64::from(c.population))
            .sum()
    }

    /// The scope of the activities' statistics.
    pub fn stats_scope(&self) -> crate::activites::stats::Scope {
        use crate::activites::stats::Scope;
        match self.niveau {
            Niveau::National => Scope::National,
            Niveau::Departement => Scope::Departement(self.code.clone()),
            Niveau::Region => Scope::Region(self.code.clone()),
            Niveau::Hub => Scope::Departements(self.departements.clone()),
        }
    }
}

/// The département of a commune's INSEE code (`89024` → `89`, `97411` → `974`).
pub fn departement_of(commune: &str) -> &str {
    if commune.starts_with("97") || commune.starts_with("98") {
        commune.get(..3).unwrap_or("")
    } else {
        commune.get(..2).unwrap_or("")
    }
}

/// Parses a list of département codes typed as `21, 25 39;70`; every one must exist.
pub fn parse_departements(raw: &str) -> Result<Vec<String>, String> {
    let t = crate::territoires::get();
    let mut out: Vec<String> = Vec::new();
    for code in raw
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        let code = code.to_uppercase();
        let code = if code.len() == 1 && code.bytes().all(|b| b.is_ascii_digit()) {
            format!("0{code}")
        } else {
            code
        };
        if t.departement_name(&code).is_none() {
            return Err(format!(
                "« {code} » n'est pas un code de département (par exemple 21, 2A, 974)."
            ));
        }
        if !out.contains(&code) {
            out.push(code);
        }
    }
    if out.is_empty() {
        return Err("Indiquez au moins un département, par exemple 21, 25, 39.".to_owned());
    }
    out.sort();
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct Hub {
    pub id: i64,
    pub nom: String,
    pub departements: Vec<String>,
}

impl Hub {
    pub fn territoire(&self) -> Territoire {
        Territoire {
            niveau: Niveau::Hub,
            code: self.id.to_string(),
            nom: self.nom.clone(),
            departements: self.departements.clone(),
        }
    }
}

fn split_set(set: &str) -> Vec<String> {
    set.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn hubs(db: &Db) -> Result<Vec<Hub>, crate::db::Error> {
    db.fetch_all("SELECT id, nom, departements FROM hubs ORDER BY nom", &[])
        .await?
        .iter()
        .map(|r| {
            Ok(Hub {
                id: r.get("id")?,
                nom: r.get("nom")?,
                departements: split_set(&r.get::<String>("departements")?),
            })
        })
        .collect()
}

pub async fn hub(db: &Db, id: i64) -> Result<Option<Hub>, crate::db::Error> {
    Ok(hubs(db).await?.into_iter().find(|h| h.id == id))
}

/// Creates a hub; a clear message when the name is taken or empty.
pub async fn create_hub(
    db: &Db,
    nom: &str,
    departements: &[String],
    now: i64,
) -> Result<Result<i64, &'static str>, crate::db::Error> {
    let nom = nom.trim();
    if nom.is_empty() || nom.chars().count() > 120 {
        return Ok(Err(
            "Donnez un nom au hub (120 caractères au plus), par exemple « Hub Bourgogne-Franche-Comté ».",
        ));
    }
    let taken = db
        .fetch_optional("SELECT id FROM hubs WHERE nom = $1", crate::args![nom])
        .await?;
    if taken.is_some() {
        return Ok(Err("Un hub porte déjà ce nom : choisissez-en un autre."));
    }
    let id: i64 = db
        .fetch_one(
            "INSERT INTO hubs (nom, departements, created_at) VALUES ($1, $2, $3) RETURNING id",
            crate::args![nom, format!(",{},", departements.join(",")), now],
        )
        .await?
        .get("id")?;
    Ok(Ok(id))
}

/// The territory of a territorial account, if it has one.
pub async fn of_account(db: &Db, account_id: i64) -> Result<Option<Territoire>, crate::db::Error> {
    let Some(r) = db
        .fetch_optional(
            "SELECT niveau, code FROM territoire_comptes WHERE account_id = $1",
            crate::args![account_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let code: String = r.get("code")?;
    Ok(match Niveau::parse(&r.get::<String>("niveau")?) {
        Some(Niveau::National) => Some(Territoire::national()),
        Some(Niveau::Region) => Territoire::region(&code),
        Some(Niveau::Departement) => Territoire::departement(&code),
        Some(Niveau::Hub) => match code.parse::<i64>() {
            Ok(id) => hub(db, id).await?.map(|h| h.territoire()),
            Err(_) => None,
        },
        None => None,
    })
}

/// Gives an account (invited when new) a territory; returns the invitation token
/// for a new account.
pub async fn add_account(
    db: &Db,
    email: &crate::domain::Email,
    full_name: &str,
    territoire: &Territoire,
    by: i64,
    now: i64,
) -> Result<Result<Option<String>, String>, crate::db::Error> {
    let mut tx = db.begin().await?;
    let (account_id, token) =
        match crate::accounts::invite_person(&mut tx, email, full_name, Some(by), now).await {
            Ok(x) => x,
            Err(crate::accounts::AccountError::Db(e)) => return Err(e),
            Err(e) => return Ok(Err(e.to_string())),
        };
    let added = tx
        .execute(
            "INSERT INTO territoire_comptes (account_id, niveau, code, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO NOTHING",
            crate::args![
                account_id,
                territoire.niveau.key(),
                &territoire.code,
                now,
                by
            ],
        )
        .await?;
    if added == 0 {
        return Ok(Err(
            "Cette personne a déjà un territoire : une personne ne suit qu'un territoire."
                .to_owned(),
        ));
    }
    tx.commit().await?;
    Ok(Ok(token))
}

/// A territorial account as the administrators' list shows it.
#[derive(Debug, Clone)]
pub struct Compte {
    pub nom: String,
    pub email: String,
    pub niveau: Niveau,
    pub territoire: String,
}

pub async fn accounts(db: &Db) -> Result<Vec<Compte>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT a.full_name, a.email, t.niveau, t.code FROM territoire_comptes t
             JOIN accounts a ON a.id = t.account_id ORDER BY t.niveau, t.code, a.full_name",
            &[],
        )
        .await?;
    let hubs = hubs(db).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(niveau) = Niveau::parse(&r.get::<String>("niveau")?) else {
            continue;
        };
        let code: String = r.get("code")?;
        let territoire = match niveau {
            Niveau::National => "France entière".to_owned(),
            Niveau::Region => Territoire::region(&code).map(|t| t.nom).unwrap_or(code),
            Niveau::Departement => Territoire::departement(&code)
                .map(|t| t.nom)
                .unwrap_or(code),
            Niveau::Hub => hubs
                .iter()
                .find(|h| h.id.to_string() == code)
                .map(|h| h.nom.clone())
                .unwrap_or(code),
        };
        out.push(Compte {
            nom: r.get("full_name")?,
            email: r.get("email")?,
            niveau,
            territoire,
        });
    }
    Ok(out)
}

/// Conseillers numériques of a département: in post, in training, planned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conseillers {
    pub en_poste: i64,
    pub en_formation: i64,
    pub prevus: i64,
}

/// Every département's figures.
pub async fn conseillers(db: &Db) -> Result<Vec<(String, Conseillers)>, crate::db::Error> {
    db.fetch_all(
        "SELECT departement, en_poste, en_formation, prevus FROM conseillers_objectifs
         ORDER BY departement",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.get("departement")?,
            Conseillers {
                en_poste: r.get("en_poste")?,
                en_formation: r.get("en_formation")?,
                prevus: r.get("prevus")?,
            },
        ))
    })
    .collect()
}

/// Imports the conseillers numériques figures (`departement;en_poste;en_formation;prevus`):
/// every line checked first, then all written in one transaction, or nothing.
pub async fn import_conseillers(
    db: &Db,
    bytes: &[u8],
    by: i64,
    now: i64,
) -> Result<Result<usize, Capped<LineError>>, crate::db::Error> {
    let mut errors = Capped::default();
    let (mut reader, [dep, poste, formation, prevus]) =
        match csv_import::open(bytes, ["departement", "en_poste", "en_formation", "prevus"]) {
            Ok(x) => x,
            Err(list) => {
                for e in list {
                    errors.push(e);
                }
                return Ok(Err(errors));
            }
        };
    let t = crate::territoires::get();
    let mut rows: Vec<(String, Conseillers)> = Vec::new();
    for item in csv_import::lines(&mut reader) {
        let (line, rec) = match item {
            Ok(x) => x,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if rows.len() >= 200 {
            errors.push(LineError::new(
                line,
                "plus de 200 lignes : un fichier compte une ligne par département",
            ));
            break;
        }
        let mut code = csv_import::field(&rec, dep).to_uppercase();
        if code.len() == 1 {
            code = format!("0{code}");
        }
        if t.departement_name(&code).is_none() {
            errors.push(LineError::new(
                line,
                format!("« {code} » n'est pas un code de département"),
            ));
            continue;
        }
        if rows.iter().any(|(c, _)| *c == code) {
            errors.push(LineError::new(
                line,
                format!("le département {code} figure deux fois"),
            ));
            continue;
        }
        let number = |i: usize, what: &str| -> Result<i64, LineError> {
            let raw = csv_import::field(&rec, i);
            raw.parse::<i64>()
                .ok()
                .filter(|n| (0..=100_000).contains(n))
                .ok_or_else(|| {
                    LineError::new(
                        line,
                        format!("{what} : « {raw} » n'est pas un nombre entier positif"),
                    )
                })
        };
        match (
            number(poste, "en_poste"),
            number(formation, "en_formation"),
            number(prevus, "prevus"),
        ) {
            (Ok(en_poste), Ok(en_formation), Ok(prevus)) => rows.push((
                code,
                Conseillers {
                    en_poste,
                    en_formation,
                    prevus,
                },
            )),
            (a, b, c) => {
                for e in [a.err(), b.err(), c.err()].into_iter().flatten() {
                    errors.push(e);
                }
            }
        }
    }
    if errors.total() > 0 {
        return Ok(Err(errors));
    }
    if rows.is_empty() {
        errors.push(LineError::new(0, "le fichier ne contient aucune ligne"));
        return Ok(Err(errors));
    }
    let mut tx = db.begin().await?;
    for (code, c) in &rows {
        tx.execute(
            "INSERT INTO conseillers_objectifs (departement, en_poste, en_formation, prevus,
                 updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (departement) DO UPDATE SET en_poste = excluded.en_poste,
                 en_formation = excluded.en_formation, prevus = excluded.prevus,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            crate::args![code, c.en_poste, c.en_formation, c.prevus, now, by],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(rows.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn territories() {
        let nat = Territoire::national();
        assert!(nat.departements.len() >= 100, "{}", nat.departements.len());
        assert!(nat.contains("2A") && nat.contains("974"));
        let yonne = Territoire::departement("89").unwrap();
        assert_eq!(yonne.nom, "Yonne (89)");
        assert!(yonne.population() > 300_000 && yonne.population() < 360_000);
        let bfc = Territoire::region("27").unwrap();
        assert!(bfc.contains("89") && !bfc.contains("75"));
        assert_eq!(bfc.set().matches(',').count(), bfc.departements.len() + 1);
        assert_eq!(departement_of("97411"), "974");
        assert_eq!(departement_of("2A004"), "2A");
        assert_eq!(departement_of("89024"), "89");
        assert_eq!(
            parse_departements("21, 25;39 1 2a"),
            Ok(vec![
                "01".into(),
                "21".into(),
                "25".into(),
                "2A".into(),
                "39".into()
            ])
        );
        assert!(parse_departements("21, 99").is_err());
        assert!(parse_departements(" ").is_err());
    }
}
