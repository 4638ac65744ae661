//! **The resource centre** (the plan's two resource platforms: one equips aidants,
//! one helps local authorities). A resource is written in Markdown by a structure,
//! a hub or an administrator; every save is a version; it is published after review
//! by an administrator or a hub (a *curator*), and may be unpublished with a reason.
//! Published resources are searched publicly (accent-free words, by audience,
//! thématique and format), grouped in collections, and announced in an Atom feed.
//! The census of local authorities' initiatives is in [`initiatives`].

/// The columns a [`Publiee`] is read from, with the author structure's name.
macro_rules! publiee_columns {
    () => {
        "r.id, r.titre, r.resume, r.corps_html, r.publics, r.thematiques, r.format, r.licence,
         r.liens, r.structure_id, r.version_publiee, r.publiee_le, r.mise_a_jour_le,
         s.name AS structure"
    };
}

pub mod collections;
pub mod fiches;
pub mod fichiers;
pub mod initiatives;
pub mod markdown;

use crate::db::{Backend, Db, Exec as _};

/// Who a resource is for.
pub const PUBLICS: &[(&str, &str)] = &[
    ("aidants", "Aidants"),
    ("mediateurs", "Médiateurs numériques"),
    ("collectivites", "Collectivités"),
    ("usagers", "Usagers"),
];

/// What kind of resource it is.
pub const FORMATS: &[(&str, &str)] = &[
    ("fiche", "Fiche pratique"),
    ("guide", "Guide"),
    ("video", "Vidéo"),
    ("modele", "Modèle de document"),
    ("outil", "Outil"),
];

/// Under which terms it may be reused.
pub const LICENCES: &[(&str, &str)] = &[
    ("etalab-2.0", "Licence Ouverte 2.0 (Etalab)"),
    ("cc-by-4.0", "Creative Commons BY 4.0"),
    ("cc-by-sa-4.0", "Creative Commons BY-SA 4.0"),
    ("tous-droits", "Tous droits réservés"),
];

/// The thématiques of the activity reports (domain.md §7).
pub use crate::activites::vocab::THEMATIQUES;

pub const TITRE_MAX: usize = 150;
pub const RESUME_MAX: usize = 500;
pub const CORPS_MAX: usize = 50_000;
pub const LIENS_MAX: usize = 20;
/// What a resource's form may hold per value (the body's bound and a margin).
pub const FORM_VALUE_MAX: usize = CORPS_MAX;

pub fn label(list: &[(&'static str, &'static str)], key: &str) -> &'static str {
    list.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, l)| *l)
        .unwrap_or("—")
}

/// `,a,b,` → `["a", "b"]`.
pub fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn join_list(items: &[String]) -> String {
    format!(",{},", items.join(","))
}

/// Who writes: an account, and the structure it writes for (none for an
/// administrator or a hub).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auteur {
    pub account_id: i64,
    pub structure_id: Option<i64>,
}

/// The form's raw values.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pub titre: String,
    pub resume: String,
    pub corps: String,
    pub publics: Vec<String>,
    pub thematiques: Vec<String>,
    pub format: String,
    pub licence: String,
    /// One link a line: `Titre | https://…` or just the address.
    pub liens: String,
}

/// A checked resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contenu {
    pub titre: String,
    pub resume: String,
    pub corps: String,
    pub publics: Vec<String>,
    pub thematiques: Vec<String>,
    pub format: String,
    pub licence: String,
    pub liens: Vec<(String, String)>,
}

fn keep_known(values: &[String], list: &[(&str, &str)]) -> Vec<String> {
    list.iter()
        .filter(|(k, _)| values.iter().any(|v| v == k))
        .map(|(k, _)| (*k).to_owned())
        .collect()
}

/// Checks a resource's form; errors tied to their field, in French.
pub fn check(f: &Form) -> Result<Contenu, Vec<(&'static str, String)>> {
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    let titre = f.titre.trim();
    if titre.is_empty() {
        errors.push(("titre", "Donnez un titre à la ressource.".into()));
    } else if titre.chars().count() > TITRE_MAX {
        errors.push((
            "titre",
            format!("Le titre fait {TITRE_MAX} caractères au plus."),
        ));
    }
    let resume = f.resume.trim();
    if resume.is_empty() {
        errors.push((
            "resume",
            "Écrivez un résumé de deux ou trois phrases : il s'affiche dans les résultats de recherche.".into(),
        ));
    } else if resume.chars().count() > RESUME_MAX {
        errors.push((
            "resume",
            format!("Le résumé fait {RESUME_MAX} caractères au plus."),
        ));
    }
    let corps = f.corps.replace('\r', "");
    if corps.trim().is_empty() {
        errors.push(("corps", "Écrivez le contenu de la ressource.".into()));
    } else if corps.chars().count() > CORPS_MAX {
        errors.push((
            "corps",
            format!(
                "Le contenu fait {} caractères au plus : découpez-le en plusieurs ressources, ou joignez un PDF.",
                crate::domain::thousands(CORPS_MAX as i64)
            ),
        ));
    }
    if [titre, resume, corps.as_str()]
        .iter()
        .any(|t| t.chars().any(|c| c.is_control() && c != '\n' && c != '\t'))
    {
        errors.push((
            "corps",
            "Le texte contient des caractères invisibles non autorisés : recopiez-le depuis un éditeur de texte simple.".into(),
        ));
    }
    let publics = keep_known(&f.publics, PUBLICS);
    if publics.is_empty() {
        errors.push(("publics", "Cochez au moins un public.".into()));
    }
    let thematiques = keep_known(&f.thematiques, THEMATIQUES);
    if thematiques.is_empty() {
        errors.push(("thematiques", "Cochez au moins une thématique.".into()));
    }
    if !FORMATS.iter().any(|(k, _)| *k == f.format) {
        errors.push(("format", "Choisissez le format.".into()));
    }
    if !LICENCES.iter().any(|(k, _)| *k == f.licence) {
        errors.push((
            "licence",
            "Choisissez la licence : elle dit qui peut réutiliser la ressource.".into(),
        ));
    }
    let mut liens = Vec::new();
    for (i, line) in f
        .liens
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i == LIENS_MAX {
            errors.push(("liens", format!("{LIENS_MAX} liens au plus.")));
            break;
        }
        let (t, u) = match line.rsplit_once('|') {
            Some((t, u)) => (t.trim(), u.trim()),
            None => ("", line),
        };
        let ok = (u.starts_with("https://") || u.starts_with("http://"))
            && url::Url::parse(u).is_ok()
            && !u.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            errors.push((
                "liens",
                format!(
                    "Ligne {} : « {} » n'est pas une adresse web (https://…). Une ligne par lien : « Titre | https://… ».",
                    i + 1,
                    line.chars().take(80).collect::<String>()
                ),
            ));
            continue;
        }
        let t = if t.is_empty() { u } else { t };
        liens.push((t.chars().take(200).collect(), u.to_owned()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Contenu {
        titre: titre.to_owned(),
        resume: resume.to_owned(),
        corps,
        publics,
        thematiques,
        format: f.format.clone(),
        licence: f.licence.clone(),
        liens,
    })
}

impl Contenu {
    fn liens_json(&self) -> String {
        serde_json::to_string(&self.liens).unwrap_or_else(|_| "[]".into())
    }
}

/// Saves a new version (and creates the resource when `id` is `None`), in one
/// transaction. A resource under review or published goes back to draft: its
/// published version stays online until the new one is published.
pub async fn save(
    db: &Db,
    auteur: Auteur,
    id: Option<i64>,
    c: &Contenu,
    now: i64,
) -> Result<Result<i64, &'static str>, crate::db::Error> {
    let html = markdown::to_html(&c.corps);
    let mut tx = db.begin().await?;
    let (id, version) = match id {
        None => {
            let id = tx
                .fetch_one(
                    "INSERT INTO ressources (statut, version, structure_id, auteur_id, titre, resume,
                         corps_html, publics, thematiques, format, licence, liens, created_at, updated_at)
                     VALUES ('brouillon', 1, $1, $2, '', '', '', '', '', '', '', '[]', $3, $3)
                     RETURNING id",
                    crate::args![auteur.structure_id, auteur.account_id, now],
                )
                .await?
                .int("id")?;
            (id, 1)
        }
        Some(id) => {
            let Some(r) = tx
                .fetch_optional(
                    "SELECT version, structure_id, auteur_id FROM ressources WHERE id = $1",
                    crate::args![id],
                )
                .await?
            else {
                return Ok(Err("Cette ressource n'existe pas."));
            };
            if !may_edit(auteur, r.opt_int("structure_id")?, r.opt_int("auteur_id")?) {
                return Ok(Err(
                    "Seule la structure qui a écrit cette ressource peut la modifier.",
                ));
            }
            let v = r.int("version")? + 1;
            tx.execute(
                "UPDATE ressources SET version = $1, statut = 'brouillon', updated_at = $2 WHERE id = $3",
                crate::args![v, now, id],
            )
            .await?;
            (id, v)
        }
    };
    tx.execute(
        "INSERT INTO ressource_versions (ressource_id, version, titre, resume, corps, corps_html,
             publics, thematiques, format, licence, liens, auteur_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        crate::args![
            id,
            version,
            &c.titre,
            &c.resume,
            &c.corps,
            &html,
            join_list(&c.publics),
            join_list(&c.thematiques),
            &c.format,
            &c.licence,
            c.liens_json(),
            auteur.account_id,
            now
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// Whether `auteur` may edit a resource of `structure` written by `account`.
pub fn may_edit(auteur: Auteur, structure: Option<i64>, account: Option<i64>) -> bool {
    match structure {
        Some(s) => auteur.structure_id == Some(s),
        None => auteur.structure_id.is_none() && account == Some(auteur.account_id),
    }
}

/// A resource's state for its authors and reviewers: the working copy (latest
/// version) and the workflow.
#[derive(Debug, Clone)]
pub struct Brouillon {
    pub id: i64,
    pub statut: String,
    pub version: i64,
    pub version_publiee: Option<i64>,
    pub en_ligne: bool,
    pub motif: Option<String>,
    pub structure_id: Option<i64>,
    pub structure: Option<String>,
    pub auteur_id: Option<i64>,
    pub contenu: Contenu,
    pub corps_html: String,
    pub updated_at: i64,
}

pub async fn draft(db: &Db, id: i64) -> Result<Option<Brouillon>, crate::db::Error> {
    let row = db
        .fetch_optional(
            "SELECT r.id, r.statut, r.version, r.version_publiee, r.en_ligne, r.motif, r.structure_id,
                    r.auteur_id, r.updated_at, s.name AS structure,
                    v.titre, v.resume, v.corps, v.corps_html, v.publics, v.thematiques, v.format,
                    v.licence, v.liens
             FROM ressources r
             JOIN ressource_versions v ON v.ressource_id = r.id AND v.version = r.version
             LEFT JOIN structures s ON s.id = r.structure_id
             WHERE r.id = $1",
            crate::args![id],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Brouillon {
        id: r.int("id")?,
        statut: r.text("statut")?,
        version: r.int("version")?,
        version_publiee: r.opt_int("version_publiee")?,
        en_ligne: r.int("en_ligne")? != 0,
        motif: r.opt_text("motif")?,
        structure_id: r.opt_int("structure_id")?,
        structure: r.opt_text("structure")?,
        auteur_id: r.opt_int("auteur_id")?,
        corps_html: r.text("corps_html")?,
        updated_at: r.int("updated_at")?,
        contenu: Contenu {
            titre: r.text("titre")?,
            resume: r.text("resume")?,
            corps: r.text("corps")?,
            publics: split_list(&r.text("publics")?),
            thematiques: split_list(&r.text("thematiques")?),
            format: r.text("format")?,
            licence: r.text("licence")?,
            liens: serde_json::from_str(&r.text("liens")?).unwrap_or_default(),
        },
    }))
}

/// One line of a list of resources.
#[derive(Debug, Clone)]
pub struct Ligne {
    pub id: i64,
    pub titre: String,
    pub resume: String,
    pub statut: String,
    pub en_ligne: bool,
    pub format: String,
    pub structure: Option<String>,
    pub date: i64,
}

/// The resources a structure (or an account without structure) writes, newest
/// first, drafts included.
pub async fn of_author(db: &Db, auteur: Auteur) -> Result<Vec<Ligne>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT r.id, r.statut, r.en_ligne, r.updated_at, v.titre, v.resume, v.format, s.name
             FROM ressources r
             JOIN ressource_versions v ON v.ressource_id = r.id AND v.version = r.version
             LEFT JOIN structures s ON s.id = r.structure_id
             WHERE (r.structure_id = $1 OR (r.structure_id IS NULL AND $1 = 0 AND r.auteur_id = $2))
             ORDER BY r.updated_at DESC, r.id DESC LIMIT 500",
            crate::args![auteur.structure_id.unwrap_or(0), auteur.account_id],
        )
        .await?;
    lignes(&rows, "updated_at")
}

/// Resources waiting for review, oldest first.
pub async fn to_review(db: &Db) -> Result<Vec<Ligne>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT r.id, r.statut, r.en_ligne, r.updated_at, v.titre, v.resume, v.format, s.name
             FROM ressources r
             JOIN ressource_versions v ON v.ressource_id = r.id AND v.version = r.version
             LEFT JOIN structures s ON s.id = r.structure_id
             WHERE r.statut = 'a_relire' ORDER BY r.updated_at, r.id LIMIT 500",
            crate::args![],
        )
        .await?;
    lignes(&rows, "updated_at")
}

fn lignes(rows: &[crate::db::Rec], date: &str) -> Result<Vec<Ligne>, crate::db::Error> {
    rows.iter()
        .map(|r| {
            Ok(Ligne {
                id: r.int("id")?,
                titre: r.text("titre")?,
                resume: r.text("resume")?,
                statut: r.text("statut")?,
                en_ligne: r.int("en_ligne")? != 0,
                format: r.text("format")?,
                structure: r.opt_text("name")?,
                date: r.int(date)?,
            })
        })
        .collect()
}

/// The author submits the working copy for review.
pub async fn submit(
    db: &Db,
    auteur: Auteur,
    id: i64,
    now: i64,
) -> Result<Result<(), &'static str>, crate::db::Error> {
    let Some(d) = draft(db, id).await? else {
        return Ok(Err("Cette ressource n'existe pas."));
    };
    if !may_edit(auteur, d.structure_id, d.auteur_id) {
        return Ok(Err(
            "Seule la structure qui a écrit cette ressource peut la proposer.",
        ));
    }
    if d.statut != "brouillon" {
        return Ok(Err("Cette version est déjà proposée ou publiée."));
    }
    db.execute(
        "UPDATE ressources SET statut = 'a_relire', motif = NULL, updated_at = $1
         WHERE id = $2 AND statut = 'brouillon'",
        crate::args![now, id],
    )
    .await?;
    Ok(Ok(()))
}

/// What a curator decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Publier,
    /// Back to the author with remarks.
    Renvoyer(String),
    /// Taken offline, with the reason shown to its authors.
    Depublier(String),
}

/// Applies a curator's decision in one transaction (publication copies the
/// working version into the published copy and the search index).
pub async fn decide(
    db: &Db,
    curator: i64,
    id: i64,
    decision: &Decision,
    now: i64,
) -> Result<Result<(), &'static str>, crate::db::Error> {
    match decision {
        Decision::Renvoyer(m) | Decision::Depublier(m) if m.trim().is_empty() => {
            return Ok(Err(
                "Écrivez la raison : l'auteur la lira pour corriger sa ressource.",
            ));
        }
        Decision::Renvoyer(m) | Decision::Depublier(m) if m.chars().count() > 1_000 => {
            return Ok(Err("La raison fait 1 000 caractères au plus."));
        }
        _ => {}
    }
    let mut tx = db.begin().await?;
    let Some(r) = tx
        .fetch_optional(
            "SELECT statut, version, en_ligne FROM ressources WHERE id = $1",
            crate::args![id],
        )
        .await?
    else {
        return Ok(Err("Cette ressource n'existe pas."));
    };
    let statut = r.text("statut")?;
    match decision {
        Decision::Publier => {
            if statut != "a_relire" {
                return Ok(Err(
                    "Seule une ressource proposée à la relecture peut être publiée.",
                ));
            }
            let version = r.int("version")?;
            let v = tx
                .fetch_one(
                    "SELECT titre, resume, corps, corps_html, publics, thematiques, format, licence, liens
                     FROM ressource_versions WHERE ressource_id = $1 AND version = $2",
                    crate::args![id, version],
                )
                .await?;
            tx.execute(
                "UPDATE ressources SET statut = 'publiee', version_publiee = $1, en_ligne = 1,
                     motif = NULL, relu_par = $2, titre = $3, resume = $4, corps_html = $5,
                     publics = $6, thematiques = $7, format = $8, licence = $9, liens = $10,
                     publiee_le = COALESCE(publiee_le, $11), mise_a_jour_le = $11, updated_at = $11
                 WHERE id = $12",
                crate::args![
                    version,
                    curator,
                    v.text("titre")?,
                    v.text("resume")?,
                    v.text("corps_html")?,
                    v.text("publics")?,
                    v.text("thematiques")?,
                    v.text("format")?,
                    v.text("licence")?,
                    v.text("liens")?,
                    now,
                    id
                ],
            )
            .await?;
            let texte = format!(
                "{} {}",
                v.text("resume")?,
                markdown::to_text(&v.text("corps")?)
            );
            index(&mut tx, id, &v.text("titre")?, &texte).await?;
        }
        Decision::Renvoyer(m) => {
            if statut != "a_relire" {
                return Ok(Err("Cette ressource n'est pas en relecture."));
            }
            tx.execute(
                "UPDATE ressources SET statut = 'brouillon', motif = $1, relu_par = $2, updated_at = $3
                 WHERE id = $4",
                crate::args![m.trim(), curator, now, id],
            )
            .await?;
        }
        Decision::Depublier(m) => {
            if r.int("en_ligne")? == 0 {
                return Ok(Err("Cette ressource n'est pas en ligne."));
            }
            tx.execute(
                "UPDATE ressources SET en_ligne = 0, motif = $1, relu_par = $2, updated_at = $3,
                     statut = CASE WHEN statut = 'publiee' THEN 'brouillon' ELSE statut END
                 WHERE id = $4",
                crate::args![m.trim(), curator, now, id],
            )
            .await?;
            unindex(&mut tx, id).await?;
        }
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// Accent-free lower-case words, for the search index and queries.
pub fn search_words(text: &str) -> Vec<String> {
    crate::mandats::search_key(text)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn index<E: crate::db::Exec>(
    tx: &mut E,
    id: i64,
    titre: &str,
    texte: &str,
) -> Result<(), crate::db::Error> {
    let titre = search_words(titre).join(" ");
    let texte = search_words(texte).join(" ");
    match tx.backend() {
        Backend::Sqlite => {
            tx.execute(
                "DELETE FROM ressources_recherche WHERE rowid = $1",
                crate::args![id],
            )
            .await?;
            tx.execute(
                "INSERT INTO ressources_recherche (rowid, titre, texte) VALUES ($1, $2, $3)",
                crate::args![id, &titre, &texte],
            )
            .await?;
        }
        Backend::Postgres => {
            // Lexemes without positions (small, never out of line): the search
            // needs presence, not phrases; the title's own vector puts title
            // matches first.
            tx.execute(
                "UPDATE ressources SET recherche = strip(to_tsvector('simple', $1 || ' ' || $2)),
                     recherche_titre = strip(to_tsvector('simple', $1))
                 WHERE id = $3",
                crate::args![&titre, &texte, id],
            )
            .await?;
        }
    }
    Ok(())
}

async fn unindex<E: crate::db::Exec>(tx: &mut E, id: i64) -> Result<(), crate::db::Error> {
    match tx.backend() {
        Backend::Sqlite => {
            tx.execute(
                "DELETE FROM ressources_recherche WHERE rowid = $1",
                crate::args![id],
            )
            .await?;
        }
        Backend::Postgres => {
            tx.execute(
                "UPDATE ressources SET recherche = NULL, recherche_titre = NULL WHERE id = $1",
                crate::args![id],
            )
            .await?;
        }
    }
    Ok(())
}

/// A published resource, as the public reads it.
#[derive(Debug, Clone)]
pub struct Publiee {
    pub id: i64,
    pub titre: String,
    pub resume: String,
    pub corps_html: String,
    pub publics: Vec<String>,
    pub thematiques: Vec<String>,
    pub format: String,
    pub licence: String,
    pub liens: Vec<(String, String)>,
    pub structure_id: Option<i64>,
    pub structure: Option<String>,
    pub version: i64,
    pub publiee_le: i64,
    pub mise_a_jour_le: i64,
}

pub async fn published(db: &Db, id: i64) -> Result<Option<Publiee>, crate::db::Error> {
    let row = db
        .fetch_optional(
            concat!(
                "SELECT ",
                publiee_columns!(),
                " FROM ressources r
             LEFT JOIN structures s ON s.id = r.structure_id
             WHERE r.id = $1 AND r.en_ligne = 1"
            ),
            crate::args![id],
        )
        .await?;
    row.map(|r| publiee(&r)).transpose()
}

fn publiee(r: &crate::db::Rec) -> Result<Publiee, crate::db::Error> {
    Ok(Publiee {
        id: r.int("id")?,
        titre: r.text("titre")?,
        resume: r.text("resume")?,
        corps_html: r.text("corps_html")?,
        publics: split_list(&r.text("publics")?),
        thematiques: split_list(&r.text("thematiques")?),
        format: r.text("format")?,
        licence: r.text("licence")?,
        liens: serde_json::from_str(&r.text("liens")?).unwrap_or_default(),
        structure_id: r.opt_int("structure_id")?,
        structure: r.opt_text("structure")?,
        version: r.opt_int("version_publiee")?.unwrap_or(0),
        publiee_le: r.opt_int("publiee_le")?.unwrap_or(0),
        mise_a_jour_le: r.opt_int("mise_a_jour_le")?.unwrap_or(0),
    })
}

/// A public search.
#[derive(Debug, Clone, Default)]
pub struct Recherche {
    pub q: String,
    pub public: String,
    pub thematique: String,
    pub format: String,
    /// 1-based, at most [`PAGES_MAX`].
    pub page: i64,
}

pub const PAR_PAGE: i64 = 20;
pub const PAGES_MAX: i64 = 50;

/// Results of a search: the page, and whether another follows.
#[derive(Debug, Clone, Default)]
pub struct Resultats {
    pub lignes: Vec<Publiee>,
    pub suivante: bool,
}

/// Published resources matching the search: when words are typed (every word
/// required, each as a prefix: « mail » finds « mails »), those whose **title**
/// holds them first, then the others, newest first in each group; without words,
/// the latest updated first. Filters on audience, thématique and format. Each
/// group is read in the index's order and stops at the page's end, so a common
/// word costs no more than a rare one.
pub async fn search(db: &Db, r: &Recherche) -> Result<Resultats, crate::db::Error> {
    // One-letter words (« e » of « e-mail ») would match almost everything.
    let words: Vec<String> = search_words(&r.q)
        .into_iter()
        .filter(|w| w.chars().count() > 1)
        .take(8)
        .collect();
    let page = r.page.clamp(1, PAGES_MAX);
    let offset = (page - 1) * PAR_PAGE;
    let like = |v: &str| {
        if v.is_empty() {
            String::new()
        } else {
            format!("%,{v},%")
        }
    };
    let (public, thematique) = (like(&r.public), like(&r.thematique));
    let rows = if words.is_empty() {
        db.fetch_all(
            concat!(
                "SELECT ",
                publiee_columns!(),
                " FROM ressources r LEFT JOIN structures s ON s.id = r.structure_id
                 WHERE r.en_ligne = 1 AND ($1 = '' OR r.publics LIKE $1)
                   AND ($2 = '' OR r.thematiques LIKE $2) AND ($3 = '' OR r.format = $3)
                 ORDER BY r.mise_a_jour_le DESC, r.id DESC LIMIT $4 OFFSET $5"
            ),
            crate::args![&public, &thematique, &r.format, PAR_PAGE + 1, offset],
        )
        .await?
    } else {
        // Enough of each group for this page (and to know whether one follows).
        let want = offset + PAR_PAGE + 1;
        let (everywhere, in_title) = match db.backend() {
            Backend::Sqlite => (
                words
                    .iter()
                    .map(|w| format!("\"{w}\"*"))
                    .collect::<Vec<_>>()
                    .join(" AND "),
                words
                    .iter()
                    .map(|w| format!("titre : \"{w}\"*"))
                    .collect::<Vec<_>>()
                    .join(" AND "),
            ),
            Backend::Postgres => {
                let q = words
                    .iter()
                    .map(|w| format!("{w}:*"))
                    .collect::<Vec<_>>()
                    .join(" & ");
                (q.clone(), q)
            }
        };
        let group = |query: String, titles: bool, limit: i64| {
            let sql: &'static str = match (db.backend(), titles) {
                (Backend::Sqlite, _) => concat!(
                    "SELECT ",
                    publiee_columns!(),
                    " FROM ressources_recherche f JOIN ressources r ON r.id = f.rowid
                     LEFT JOIN structures s ON s.id = r.structure_id
                     WHERE ressources_recherche MATCH $1 AND r.en_ligne = 1
                       AND ($2 = '' OR r.publics LIKE $2) AND ($3 = '' OR r.thematiques LIKE $3)
                       AND ($4 = '' OR r.format = $4)
                     ORDER BY f.rowid DESC LIMIT $5"
                ),
                (Backend::Postgres, false) => concat!(
                    "SELECT ",
                    publiee_columns!(),
                    " FROM ressources r LEFT JOIN structures s ON s.id = r.structure_id
                     WHERE r.recherche @@ to_tsquery('simple', $1) AND r.en_ligne = 1
                       AND ($2 = '' OR r.publics LIKE $2) AND ($3 = '' OR r.thematiques LIKE $3)
                       AND ($4 = '' OR r.format = $4)
                     ORDER BY r.id DESC LIMIT $5"
                ),
                (Backend::Postgres, true) => concat!(
                    "SELECT ",
                    publiee_columns!(),
                    " FROM ressources r LEFT JOIN structures s ON s.id = r.structure_id
                     WHERE r.recherche @@ to_tsquery('simple', $1)
                       AND r.recherche_titre @@ to_tsquery('simple', $1) AND r.en_ligne = 1
                       AND ($2 = '' OR r.publics LIKE $2) AND ($3 = '' OR r.thematiques LIKE $3)
                       AND ($4 = '' OR r.format = $4)
                     ORDER BY r.id DESC LIMIT $5"
                ),
            };
            let (public, thematique, format) =
                (public.clone(), thematique.clone(), r.format.clone());
            async move {
                db.fetch_all(
                    sql,
                    crate::args![&query, &public, &thematique, &format, limit],
                )
                .await
            }
        };
        let mut rows = group(in_title, true, want).await?;
        if (rows.len() as i64) < want {
            let first: Vec<i64> = rows.iter().map(|r| r.int("id")).collect::<Result<_, _>>()?;
            let rest = group(everywhere, false, want + first.len() as i64).await?;
            for row in rest {
                if !first.contains(&row.int("id")?) {
                    rows.push(row);
                }
            }
        }
        rows.into_iter()
            .skip(offset as usize)
            .take(PAR_PAGE as usize + 1)
            .collect()
    };
    let mut lignes = rows
        .iter()
        .map(publiee)
        .collect::<Result<Vec<_>, crate::db::Error>>()?;
    let suivante = lignes.len() as i64 > PAR_PAGE && page < PAGES_MAX;
    lignes.truncate(PAR_PAGE as usize);
    Ok(Resultats { lignes, suivante })
}

/// The latest published resources (the Atom feed), newest first.
pub async fn latest(db: &Db, n: i64) -> Result<Vec<Publiee>, crate::db::Error> {
    let rows = db
        .fetch_all(
            concat!(
                "SELECT ",
                publiee_columns!(),
                " FROM ressources r
             LEFT JOIN structures s ON s.id = r.structure_id
             WHERE r.en_ligne = 1 ORDER BY r.mise_a_jour_le DESC, r.id DESC LIMIT $1"
            ),
            crate::args![n],
        )
        .await?;
    rows.iter().map(publiee).collect()
}

/// A saved version, for the history.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: i64,
    pub titre: String,
    pub auteur: Option<String>,
    pub created_at: i64,
    pub corps_html: String,
}

pub async fn versions(db: &Db, id: i64) -> Result<Vec<Version>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT v.version, v.titre, v.corps_html, v.created_at, a.full_name
             FROM ressource_versions v LEFT JOIN accounts a ON a.id = v.auteur_id
             WHERE v.ressource_id = $1 ORDER BY v.version DESC LIMIT 200",
            crate::args![id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Version {
                version: r.int("version")?,
                titre: r.text("titre")?,
                auteur: r.opt_text("full_name")?,
                created_at: r.int("created_at")?,
                corps_html: r.text("corps_html")?,
            })
        })
        .collect()
}
