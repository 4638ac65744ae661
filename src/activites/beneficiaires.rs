//! The people a mediator accompanies. They belong to their mediator: no other
//! mediator, coordinator or structure reads their identity. A tracked person has a
//! name; every query takes the mediator's id.
//!
//! Deleting a person (on request, or after two years without activity:
//! [`run_if_due`]) blanks the identity and keeps genre, birth year and status, so
//! the statistics do not move.

use super::{ActivityError, vocab};
use crate::db::exec::{Exec, Rec};
use crate::db::{Db, Tx};

/// How long a person's identity is kept after their last activity.
pub const RETENTION_DAYS: i64 = 2 * 365;

/// A person's fields, checked at the edge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub prenom: String,
    pub nom: String,
    pub telephone: String,
    pub pas_de_telephone: bool,
    pub email: String,
    pub annee_naissance: Option<i64>,
    pub adresse: String,
    pub commune_insee: String,
    pub genre: String,
    pub statut_social: String,
    pub notes: String,
}

/// A stored person.
#[derive(Debug, Clone)]
pub struct Beneficiaire {
    pub id: i64,
    pub fields: Fields,
    pub deleted: bool,
    pub premiere_activite_id: Option<i64>,
    pub derniere_activite_le: Option<i64>,
    pub created_at: i64,
}

impl Beneficiaire {
    pub fn display_name(&self) -> String {
        if self.deleted {
            format!("Personne n° {} (identité supprimée)", self.id)
        } else {
            format!("{} {}", self.fields.prenom, self.fields.nom)
        }
    }
}

macro_rules! beneficiaire_columns {
    () => {
        "id, prenom, nom, telephone, pas_de_telephone, email, annee_naissance, adresse,
         commune_insee, genre, statut_social, notes, supprime_at, premiere_activite_id,
         derniere_activite_le, created_at"
    };
}

fn from_row(r: &Rec) -> Result<Beneficiaire, crate::db::Error> {
    Ok(Beneficiaire {
        id: r.int("id")?,
        fields: Fields {
            prenom: r.text("prenom")?,
            nom: r.text("nom")?,
            telephone: r.text("telephone")?,
            pas_de_telephone: r.int("pas_de_telephone")? != 0,
            email: r.text("email")?,
            annee_naissance: r.opt_int("annee_naissance")?,
            adresse: r.text("adresse")?,
            commune_insee: r.text("commune_insee")?,
            genre: r.text("genre")?,
            statut_social: r.text("statut_social")?,
            notes: r.text("notes")?,
        },
        deleted: r.opt_int("supprime_at")?.is_some(),
        premiere_activite_id: r.opt_int("premiere_activite_id")?,
        derniere_activite_le: r.opt_int("derniere_activite_le")?,
        created_at: r.int("created_at")?,
    })
}

/// What name search compares: first name and name, accent-, case- and
/// hyphen-insensitive.
fn key_of(f: &Fields) -> String {
    crate::mandats::search_key(&format!("{} {}", f.prenom, f.nom).replace('-', " "))
}

/// Checks a form's values. `year` is the current year (birth years 1900 to it).
pub fn check(
    raw: &RawFields,
    year: i64,
    errors: &mut crate::web::forms::FormErrors,
) -> Option<Fields> {
    let before = errors.len();
    let text = |errors: &mut crate::web::forms::FormErrors,
                field: &'static str,
                v: &str,
                max: usize,
                required: Option<&'static str>|
     -> String {
        let v = v.trim();
        if v.is_empty() {
            if let Some(m) = required {
                errors.add(field, m);
            }
            return String::new();
        }
        if v.chars().count() > max || v.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
            errors.add(
                field,
                format!("Ce texte est trop long ou contient des caractères non autorisés ({max} caractères au plus)."),
            );
        }
        v.to_owned()
    };
    let prenom = text(
        errors,
        "prenom",
        &raw.prenom,
        120,
        Some("Saisissez le prénom."),
    );
    let nom = text(errors, "nom", &raw.nom, 120, Some("Saisissez le nom."));
    let telephone = text(errors, "telephone", &raw.telephone, 30, None);
    if !telephone.is_empty() {
        let digits = telephone.chars().filter(char::is_ascii_digit).count();
        if digits < 10
            || !telephone
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '+' | '(' | ')'))
        {
            errors.add(
                "telephone",
                "Ce numéro de téléphone n'est pas valide : saisissez 10 chiffres, par exemple 06 12 34 56 78.",
            );
        }
    }
    let email = text(errors, "email", &raw.email, 254, None);
    let email = if email.is_empty() {
        email
    } else {
        match crate::domain::Email::parse(&email) {
            Ok(e) => e.as_str().to_owned(),
            Err(m) => {
                errors.add("email", m);
                email
            }
        }
    };
    let annee_naissance = match raw.annee_naissance.trim() {
        "" => None,
        v => {
            match v.parse::<i64>() {
                Ok(y) if (1900..=year).contains(&y) => Some(y),
                _ => {
                    errors.add(
                    "annee_naissance",
                    format!("Saisissez une année de naissance entre 1900 et {year}, par exemple 1958."),
                );
                    None
                }
            }
        }
    };
    let adresse = text(errors, "adresse", &raw.adresse, 250, None);
    let commune_insee = match raw.commune.trim() {
        "" => String::new(),
        v => match crate::territoires::get().resolve(v) {
            Ok(c) => c.code.clone(),
            Err(m) => {
                errors.add("commune", m);
                String::new()
            }
        },
    };
    let genre = match raw.genre.as_str() {
        "" => vocab::NON_COMMUNIQUE.0.to_owned(),
        g if vocab::find(vocab::GENRES, g).is_some() || g == vocab::NON_COMMUNIQUE.0 => {
            g.to_owned()
        }
        _ => {
            errors.add("genre", "Choisissez le genre dans la liste.");
            String::new()
        }
    };
    let statut_social = match raw.statut_social.as_str() {
        "" => vocab::NON_COMMUNIQUE.0.to_owned(),
        g if vocab::find(vocab::STATUTS, g).is_some() || g == vocab::NON_COMMUNIQUE.0 => {
            g.to_owned()
        }
        _ => {
            errors.add("statut_social", "Choisissez le statut dans la liste.");
            String::new()
        }
    };
    let notes = text(errors, "notes", &raw.notes, 2_000, None);
    (errors.len() == before).then_some(Fields {
        prenom,
        nom,
        telephone,
        pas_de_telephone: raw.pas_de_telephone,
        email,
        annee_naissance,
        adresse,
        commune_insee,
        genre,
        statut_social,
        notes,
    })
}

/// A person's form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct RawFields {
    pub prenom: String,
    pub nom: String,
    pub telephone: String,
    pub pas_de_telephone: bool,
    pub email: String,
    pub annee_naissance: String,
    pub adresse: String,
    pub commune: String,
    pub genre: String,
    pub statut_social: String,
    pub notes: String,
}

impl RawFields {
    pub fn from_stored(b: &Beneficiaire) -> RawFields {
        let f = &b.fields;
        RawFields {
            prenom: f.prenom.clone(),
            nom: f.nom.clone(),
            telephone: f.telephone.clone(),
            pas_de_telephone: f.pas_de_telephone,
            email: f.email.clone(),
            annee_naissance: f.annee_naissance.map(|y| y.to_string()).unwrap_or_default(),
            adresse: f.adresse.clone(),
            commune: if f.commune_insee.is_empty() {
                String::new()
            } else {
                crate::territoires::get().label(&f.commune_insee)
            },
            genre: f.genre.clone(),
            statut_social: f.statut_social.clone(),
            notes: f.notes.clone(),
        }
    }
}

/// Records a tracked person of `mediateur_id`.
pub async fn create(
    db: &Db,
    mediateur_id: i64,
    f: &Fields,
    now: i64,
) -> Result<i64, crate::db::Error> {
    db.fetch_one(
        "INSERT INTO beneficiaires (mediateur_id, prenom, nom, telephone, pas_de_telephone, email,
            annee_naissance, adresse, commune_insee, genre, statut_social, notes, search_key,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
        crate::args![
            mediateur_id,
            &f.prenom,
            &f.nom,
            &f.telephone,
            f.pas_de_telephone,
            &f.email,
            f.annee_naissance,
            &f.adresse,
            &f.commune_insee,
            &f.genre,
            &f.statut_social,
            &f.notes,
            key_of(f),
            now
        ],
    )
    .await?
    .int("id")
}

/// Changes a person's fields; their activities' statistics follow (genre, age
/// band and status are counted from the person's record).
pub async fn update(
    db: &Db,
    mediateur_id: i64,
    id: i64,
    f: &Fields,
    now: i64,
) -> Result<(), ActivityError> {
    let mut tx = db.begin().await?;
    if load(&mut tx, mediateur_id, id)
        .await?
        .is_none_or(|b| b.deleted)
    {
        return Err(ActivityError::NotFound);
    }
    let activities = super::activities_of(&mut tx, id).await?;
    for a in &activities {
        super::add_contribution(&mut tx, *a, -1).await?;
    }
    tx.execute(
        "UPDATE beneficiaires SET prenom = $1, nom = $2, telephone = $3, pas_de_telephone = $4,
            email = $5, annee_naissance = $6, adresse = $7, commune_insee = $8, genre = $9,
            statut_social = $10, notes = $11, search_key = $12, updated_at = $13
         WHERE id = $14",
        crate::args![
            &f.prenom,
            &f.nom,
            &f.telephone,
            f.pas_de_telephone,
            &f.email,
            f.annee_naissance,
            &f.adresse,
            &f.commune_insee,
            &f.genre,
            &f.statut_social,
            &f.notes,
            key_of(f),
            now,
            id
        ],
    )
    .await?;
    for a in &activities {
        super::add_contribution(&mut tx, *a, 1).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Blanks a person's identity; what the statistics count stays.
pub async fn delete_identity(
    db: &Db,
    mediateur_id: i64,
    id: i64,
    now: i64,
) -> Result<(), ActivityError> {
    let mut tx = db.begin().await?;
    if load(&mut tx, mediateur_id, id)
        .await?
        .is_none_or(|b| b.deleted)
    {
        return Err(ActivityError::NotFound);
    }
    blank(&mut tx, id, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn blank(tx: &mut Tx, id: i64, now: i64) -> Result<(), crate::db::Error> {
    tx.execute(
        "UPDATE beneficiaires SET prenom = '', nom = '', telephone = '', pas_de_telephone = 0,
            email = '', adresse = '', notes = '', search_key = '', supprime_at = $1, updated_at = $1
         WHERE id = $2",
        crate::args![now, id],
    )
    .await?;
    Ok(())
}

async fn load(
    tx: &mut impl Exec,
    mediateur_id: i64,
    id: i64,
) -> Result<Option<Beneficiaire>, crate::db::Error> {
    tx.fetch_optional(
        concat!(
            "SELECT ",
            beneficiaire_columns!(),
            " FROM beneficiaires WHERE id = $1 AND mediateur_id = $2 AND anonyme = 0"
        ),
        crate::args![id, mediateur_id],
    )
    .await?
    .map(|r| from_row(&r))
    .transpose()
}

/// A person of `mediateur_id`.
pub async fn get(
    db: &Db,
    mediateur_id: i64,
    id: i64,
) -> Result<Option<Beneficiaire>, crate::db::Error> {
    let mut c = db.conn().await?;
    load(&mut c, mediateur_id, id).await
}

/// The name shown in a list of reports.
pub async fn name_of(db: &Db, id: i64) -> Result<String, crate::db::Error> {
    let r = db
        .fetch_one(
            "SELECT id, prenom, nom, supprime_at FROM beneficiaires WHERE id = $1",
            crate::args![id],
        )
        .await?;
    Ok(if r.opt_int("supprime_at")?.is_some() {
        format!("Personne n° {id} (identité supprimée)")
    } else {
        format!("{} {}", r.text("prenom")?, r.text("nom")?)
    })
}

/// A mediator's people (identity kept), by name, or the most recently seen first
/// when `q` is empty; `limit` at most.
pub async fn search(
    db: &Db,
    mediateur_id: i64,
    q: &str,
    limit: i64,
) -> Result<Vec<Beneficiaire>, crate::db::Error> {
    let key = crate::mandats::search_key(&q.replace('-', " "));
    let rows = if key.is_empty() {
        db.fetch_all(
            concat!(
                "SELECT ",
                beneficiaire_columns!(),
                " FROM beneficiaires WHERE mediateur_id = $1 AND anonyme = 0 AND supprime_at IS NULL
                 ORDER BY COALESCE(derniere_activite_le, 0) DESC, id DESC LIMIT $2"
            ),
            crate::args![mediateur_id, limit],
        )
        .await?
    } else {
        let pattern = format!("%{key}%");
        db.fetch_all(
            concat!(
                "SELECT ",
                beneficiaire_columns!(),
                " FROM beneficiaires WHERE mediateur_id = $1 AND anonyme = 0 AND supprime_at IS NULL
                   AND search_key LIKE $2
                 ORDER BY search_key, id LIMIT $3"
            ),
            crate::args![mediateur_id, &pattern, limit],
        )
        .await?
    };
    rows.iter().map(from_row).collect()
}

/// The daily job: identities of people without activity for two years (or
/// recorded two years ago and never accompanied) are blanked.
pub async fn run_if_due(db: &Db, now: i64) -> Result<Option<u64>, crate::db::Error> {
    const JOB: &str = "beneficiaires_conservation";
    if !crate::jobs::claim(db, JOB, now).await? {
        return Ok(None);
    }
    let n = purge(db, now).await?;
    let next = crate::time_fr::paris_midnight(now, 1) + 4 * 3_600 + 30 * 60;
    let summary = crate::domain::count(
        i64::try_from(n).unwrap_or(i64::MAX),
        "identité supprimée",
        "identités supprimées",
    );
    crate::jobs::finish(db, JOB, now, next, &summary).await?;
    tracing::info!(résultat = %summary, "conservation des bénéficiaires");
    Ok(Some(n))
}

/// Blanks the identities past [`RETENTION_DAYS`]; returns how many.
pub async fn purge(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    let limit_date = super::today(now - RETENTION_DAYS * 86_400);
    let limit_time = now - RETENTION_DAYS * 86_400;
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            "UPDATE beneficiaires SET prenom = '', nom = '', telephone = '', pas_de_telephone = 0,
                email = '', adresse = '', notes = '', search_key = '', supprime_at = $1, updated_at = $1
             WHERE supprime_at IS NULL AND anonyme = 0
               AND ((derniere_activite_le IS NOT NULL AND derniere_activite_le < $2)
                    OR (derniere_activite_le IS NULL AND created_at < $3))",
            crate::args![now, limit_date, limit_time],
        )
        .await?;
    tx.commit().await?;
    Ok(n)
}
