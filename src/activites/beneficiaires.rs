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
        shown_name(self.id, &self.fields.prenom, &self.fields.nom, self.deleted)
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
    let mut tx = db.begin().await?;
    let id = insert(&mut tx, mediateur_id, f, now).await?;
    tx.commit().await?;
    Ok(id)
}

async fn insert(
    c: &mut impl Exec,
    mediateur_id: i64,
    f: &Fields,
    now: i64,
) -> Result<i64, crate::db::Error> {
    c.fetch_one(
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

/// How a person is named on every page: « Prénom Nom », or their number once the
/// identity is deleted.
pub fn shown_name(id: i64, prenom: &str, nom: &str, deleted: bool) -> String {
    if deleted {
        format!("Personne n° {id} (identité supprimée)")
    } else {
        format!("{prenom} {nom}")
    }
}

/// The name shown in a list of reports.
pub async fn name_of(db: &Db, id: i64) -> Result<String, crate::db::Error> {
    let r = db
        .fetch_one(
            "SELECT id, prenom, nom, supprime_at FROM beneficiaires WHERE id = $1",
            crate::args![id],
        )
        .await?;
    Ok(shown_name(
        id,
        &r.text("prenom")?,
        &r.text("nom")?,
        r.opt_int("supprime_at")?.is_some(),
    ))
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

/// The most people compared when looking for duplicates (a mediator's list).
pub const DUPLICATES_MAX_PEOPLE: usize = 5_000;

/// Two people who are probably the same, and why.
#[derive(Debug, Clone)]
pub struct Pair {
    pub a: Beneficiaire,
    pub b: Beneficiaire,
    /// « nom », « prénom », « téléphone », « e-mail ».
    pub signals: Vec<&'static str>,
}

/// A name as compared: without accents, case, spaces or hyphens.
fn name_key(s: &str) -> String {
    crate::mandats::search_key(s)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The last nine digits of a phone number (`06 12…`, `+33 6 12…` alike).
fn phone_key(s: &str) -> String {
    let digits: Vec<char> = s.chars().filter(char::is_ascii_digit).collect();
    let start = digits.len().saturating_sub(9);
    digits
        .get(start..)
        .map(|d| d.iter().collect())
        .unwrap_or_default()
}

/// Equal, or one typo apart (one letter changed, added, removed, or two
/// neighbours swapped) for names of five letters or more (« Marc » and « Marx »
/// are two people).
pub fn close(a: &str, b: &str) -> bool {
    if a == b {
        return !a.is_empty();
    }
    let (x, y): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if x.len().min(y.len()) < 5 || x.len().abs_diff(y.len()) > 1 {
        return false;
    }
    // Optimal string alignment distance, stopped at 2.
    let (n, m) = (x.len(), y.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        if let Some(c) = row.get_mut(0) {
            *c = i;
        }
    }
    if let Some(row) = d.get_mut(0) {
        for (j, c) in row.iter_mut().enumerate() {
            *c = j;
        }
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(x.get(i - 1) != y.get(j - 1));
            let at = |d: &Vec<Vec<usize>>, i: usize, j: usize| {
                d.get(i)
                    .and_then(|r| r.get(j))
                    .copied()
                    .unwrap_or(usize::MAX / 2)
            };
            let mut v = (at(&d, i - 1, j) + 1)
                .min(at(&d, i, j - 1) + 1)
                .min(at(&d, i - 1, j - 1) + cost);
            if i > 1 && j > 1 && x.get(i - 1) == y.get(j - 2) && x.get(i - 2) == y.get(j - 1) {
                v = v.min(at(&d, i - 2, j - 2) + 1);
            }
            if let Some(c) = d.get_mut(i).and_then(|r| r.get_mut(j)) {
                *c = v;
            }
        }
    }
    d.get(n).and_then(|r| r.get(m)).copied().unwrap_or(2) <= 1
}

/// The signals two people share.
pub fn signals(a: &Fields, b: &Fields) -> Vec<&'static str> {
    let mut out = Vec::new();
    if close(&name_key(&a.nom), &name_key(&b.nom)) {
        out.push("nom");
    }
    if close(&name_key(&a.prenom), &name_key(&b.prenom)) {
        out.push("prénom");
    }
    let (pa, pb) = (phone_key(&a.telephone), phone_key(&b.telephone));
    if pa.len() == 9 && pa == pb {
        out.push("téléphone");
    }
    if !a.email.is_empty() && a.email.eq_ignore_ascii_case(&b.email) {
        out.push("e-mail");
    }
    out
}

/// A mediator's likely duplicates: pairs sharing at least two of name, first
/// name (typo-tolerant), phone and email.
pub async fn duplicates(db: &Db, mediateur_id: i64) -> Result<Vec<Pair>, crate::db::Error> {
    let people: Vec<Beneficiaire> = db
        .fetch_all(
            concat!(
                "SELECT ",
                beneficiaire_columns!(),
                " FROM beneficiaires WHERE mediateur_id = $1 AND anonyme = 0 AND supprime_at IS NULL
                 ORDER BY id LIMIT $2"
            ),
            crate::args![
                mediateur_id,
                i64::try_from(DUPLICATES_MAX_PEOPLE).unwrap_or(5_000)
            ],
        )
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (i, a) in people.iter().enumerate() {
        for b in people.iter().skip(i + 1) {
            let s = signals(&a.fields, &b.fields);
            if s.len() >= 2 {
                out.push(Pair {
                    a: a.clone(),
                    b: b.clone(),
                    signals: s,
                });
            }
            if out.len() >= 200 {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// Merges `gone` into `keep` (both of `mediateur_id`): `keep`'s fields stay, its
/// empty ones are filled from `gone`, every activity of `gone` becomes `keep`'s (one
/// accompaniment when both took part in the same workshop), the first accompaniment
/// and the statistics are recomputed, and `gone` disappears.
pub async fn merge(
    db: &Db,
    mediateur_id: i64,
    keep: i64,
    gone: i64,
    now: i64,
) -> Result<(), ActivityError> {
    if keep == gone {
        return Err(ActivityError::Field(
            "fusion",
            "Choisissez deux personnes différentes.".into(),
        ));
    }
    let mut tx = db.begin().await?;
    let (Some(k), Some(g)) = (
        load(&mut tx, mediateur_id, keep).await?,
        load(&mut tx, mediateur_id, gone).await?,
    ) else {
        return Err(ActivityError::NotFound);
    };
    if k.deleted || g.deleted {
        return Err(ActivityError::NotFound);
    }
    let mut acts = super::activities_of(&mut tx, keep).await?;
    acts.extend(super::activities_of(&mut tx, gone).await?);
    acts.sort_unstable();
    acts.dedup();
    for a in &acts {
        super::add_contribution(&mut tx, *a, -1).await?;
    }
    // The « new person » of the one that goes away disappears with it.
    if let Some(first) = g.premiere_activite_id {
        super::move_new_person(&mut tx, first, -1).await?;
        tx.execute(
            "UPDATE beneficiaires SET premiere_activite_id = NULL WHERE id = $1",
            crate::args![gone],
        )
        .await?;
    }
    tx.execute(
        "DELETE FROM activite_participants WHERE beneficiaire_id = $1
           AND activite_id IN (SELECT activite_id FROM activite_participants WHERE beneficiaire_id = $2)",
        crate::args![gone, keep],
    )
    .await?;
    tx.execute(
        "UPDATE activite_participants SET beneficiaire_id = $1 WHERE beneficiaire_id = $2",
        crate::args![keep, gone],
    )
    .await?;
    let (kf, gf) = (&k.fields, &g.fields);
    let pick = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_owned()
        } else {
            a.to_owned()
        }
    };
    let nc = vocab::NON_COMMUNIQUE.0;
    let merged = Fields {
        prenom: kf.prenom.clone(),
        nom: kf.nom.clone(),
        telephone: pick(&kf.telephone, &gf.telephone),
        pas_de_telephone: kf.pas_de_telephone && gf.telephone.is_empty(),
        email: pick(&kf.email, &gf.email),
        annee_naissance: kf.annee_naissance.or(gf.annee_naissance),
        adresse: pick(&kf.adresse, &gf.adresse),
        commune_insee: pick(&kf.commune_insee, &gf.commune_insee),
        genre: if kf.genre == nc {
            gf.genre.clone()
        } else {
            kf.genre.clone()
        },
        statut_social: if kf.statut_social == nc {
            gf.statut_social.clone()
        } else {
            kf.statut_social.clone()
        },
        notes: match (kf.notes.is_empty(), gf.notes.is_empty()) {
            (_, true) => kf.notes.clone(),
            (true, false) => gf.notes.clone(),
            (false, false) => format!("{}\n{}", kf.notes, gf.notes),
        },
    };
    tx.execute(
        "UPDATE beneficiaires SET telephone = $1, pas_de_telephone = $2, email = $3,
            annee_naissance = $4, adresse = $5, commune_insee = $6, genre = $7,
            statut_social = $8, notes = $9, updated_at = $10
         WHERE id = $11",
        crate::args![
            &merged.telephone,
            merged.pas_de_telephone,
            &merged.email,
            merged.annee_naissance,
            &merged.adresse,
            &merged.commune_insee,
            &merged.genre,
            &merged.statut_social,
            &merged.notes,
            now,
            keep
        ],
    )
    .await?;
    tx.execute(
        "DELETE FROM beneficiaires WHERE id = $1",
        crate::args![gone],
    )
    .await?;
    for a in &acts {
        super::add_contribution(&mut tx, *a, 1).await?;
    }
    super::refresh_first(&mut tx, keep).await?;
    tx.commit().await?;
    Ok(())
}

/// The most people one import may hold.
pub const IMPORT_MAX_ROWS: usize = 20_000;

/// The columns of an import of people (header required; `prenom` and `nom` are).
pub const IMPORT_COLUMNS: [&str; 10] = [
    "prenom",
    "nom",
    "telephone",
    "email",
    "annee_naissance",
    "adresse",
    "commune",
    "genre",
    "statut",
    "notes",
];

/// A file read as a table: the header, and the rows numbered as a spreadsheet
/// shows them.
type Table = (Vec<String>, Vec<(usize, Vec<String>)>);

fn table(bytes: &[u8]) -> Result<Table, Vec<crate::csv_import::LineError>> {
    use crate::csv_import::LineError;
    // XLSX: a zip archive.
    if bytes.starts_with(b"PK\x03\x04") {
        use calamine::Reader as _;
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).map_err(|_| {
            vec![LineError::new(
                1,
                "classeur XLSX illisible : enregistrez-le de nouveau depuis votre tableur",
            )]
        })?;
        let Some(Ok(range)) = book.worksheet_range_at(0) else {
            return Err(vec![LineError::new(
                1,
                "le classeur ne contient aucune feuille",
            )]);
        };
        let mut rows = range.rows();
        let header: Vec<String> = rows
            .next()
            .map(|r| {
                r.iter()
                    .map(|c| c.to_string().trim().to_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        let body = rows
            .enumerate()
            .map(|(i, r)| {
                (
                    i + 2,
                    r.iter().map(|c| c.to_string().trim().to_owned()).collect(),
                )
            })
            .take(IMPORT_MAX_ROWS + 1)
            .collect();
        return Ok((header, body));
    }
    let (mut reader, _) = crate::csv_import::open(bytes, ["prenom", "nom"])?;
    let header: Vec<String> = reader
        .headers()
        .map(|h| h.iter().map(|c| c.trim().to_lowercase()).collect())
        .unwrap_or_default();
    let mut body = Vec::new();
    let mut errors = Vec::new();
    for item in crate::csv_import::lines(&mut reader).take(IMPORT_MAX_ROWS + 1) {
        match item {
            Ok((line, rec)) => body.push((line, rec.iter().map(|c| c.trim().to_owned()).collect())),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok((header, body))
    } else {
        Err(errors)
    }
}

/// Imports a mediator's list of people from CSV or XLSX: every cell is checked
/// first (« ligne 4, colonne email : … »), the first 200 errors kept; with any
/// error nothing is written; otherwise every person in one transaction. Returns
/// how many were recorded.
pub async fn import(
    db: &Db,
    mediateur_id: i64,
    bytes: &[u8],
    now: i64,
) -> Result<Result<usize, Vec<crate::csv_import::LineError>>, crate::db::Error> {
    use crate::csv_import::{Capped, LineError};
    let (header, rows) = match table(bytes) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let col = |name: &str| header.iter().position(|h| h == name);
    if col("prenom").is_none() || col("nom").is_none() {
        return Ok(Err(vec![LineError::new(
            1,
            format!(
                "l'en-tête doit contenir au moins les colonnes prenom et nom (colonnes possibles : {})",
                IMPORT_COLUMNS.join(", ")
            ),
        )]));
    }
    if rows.len() > IMPORT_MAX_ROWS {
        return Ok(Err(vec![LineError::new(
            1,
            format!("le fichier dépasse {IMPORT_MAX_ROWS} personnes : découpez-le"),
        )]));
    }
    let year = crate::time_fr::local(now).year;
    let mut errors: Capped<LineError> = Capped::default();
    let mut planned = Vec::new();
    for (line, cells) in &rows {
        if cells.iter().all(String::is_empty) {
            continue;
        }
        let cell = |name: &str| {
            col(name)
                .and_then(|i| cells.get(i))
                .cloned()
                .unwrap_or_default()
        };
        let raw = RawFields {
            prenom: cell("prenom"),
            nom: cell("nom"),
            telephone: cell("telephone"),
            pas_de_telephone: false,
            email: cell("email"),
            annee_naissance: cell("annee_naissance").trim_end_matches(".0").to_owned(),
            adresse: cell("adresse"),
            commune: cell("commune"),
            genre: crate::mandats::search_key(&cell("genre")).replace(' ', "_"),
            statut_social: crate::mandats::search_key(&cell("statut")).replace(' ', "_"),
            notes: cell("notes"),
        };
        let mut fe = crate::web::forms::FormErrors::default();
        match check(&raw, year, &mut fe) {
            Some(f) => planned.push(f),
            None => {
                for (field, message) in fe.list() {
                    let column = match *field {
                        "statut_social" => "statut",
                        other => other,
                    };
                    errors.push(LineError::new(
                        *line,
                        format!("colonne {column} : {message}"),
                    ));
                }
            }
        }
    }
    if planned.is_empty() && errors.is_empty() {
        errors.push(LineError::new(1, "le fichier ne contient aucune personne"));
    }
    if !errors.is_empty() {
        return Ok(Err(errors.into_lines()));
    }
    let mut tx = db.begin().await?;
    for f in &planned {
        insert(&mut tx, mediateur_id, f, now).await?;
    }
    tx.commit().await?;
    Ok(Ok(planned.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn likely_duplicates() {
        assert!(close("dupont", "dupond"));
        assert!(close("martin", "matrin"));
        assert!(!close("marc", "marx"), "too short for a typo");
        assert!(!close("dupont", "durand"));
        let a = Fields {
            prenom: "Jean-Pierre".into(),
            nom: "Lefèvre".into(),
            telephone: "06 12 34 56 78".into(),
            ..Fields::default()
        };
        let b = Fields {
            prenom: "jean pierre".into(),
            nom: "LEFEVRE".into(),
            telephone: "+33 6 12 34 56 78".into(),
            ..Fields::default()
        };
        assert_eq!(signals(&a, &b), ["nom", "prénom", "téléphone"]);
        let c = Fields {
            prenom: "Paul".into(),
            nom: "Lefèvre".into(),
            ..Fields::default()
        };
        assert_eq!(signals(&a, &c), ["nom"]);
    }
}
