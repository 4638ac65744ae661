//! Mediators' activity reports (« comptes rendus d'activité », CRA): individual
//! accompaniments and collective workshops, their beneficiaries, and the
//! aggregates the statistics read.
//!
//! Where an activity is recorded: [`record`] (one transaction: the report, its
//! participants, the beneficiaries' first accompaniment, the aggregates).
//!
//! **Aggregates** (`activites_cellules`): for one month, mediator, employer
//! structure, place, commune and type, how many activities and accompaniments
//! have each value of each dimension (« thematique / email », « genre / feminin »…),
//! and the same per month, département and type only (`activites_territoires`, what
//! territories read, whatever their number of mediators).
//! Every write of a report removes the old report's contribution and adds the new
//! one in the same transaction ([`contribution`], [`apply`]), so statistics sum a
//! few rows per month instead of reading every report. The one exception is « new
//! people »: a tracked person is new on their earliest remaining activity, which
//! [`refresh_first`] moves when activities are written, edited or deleted.

pub mod beneficiaires;
pub mod coordination;
pub mod export;
pub mod form;
pub mod import_v1;
pub mod stats;
pub mod vocab;

use std::collections::BTreeMap;

use crate::db::exec::{Exec, Rec};
use crate::db::{Backend, Db, Tx};

/// Individual accompaniment or collective workshop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Individuel,
    Collectif,
}

impl Kind {
    pub fn key(self) -> &'static str {
        match self {
            Kind::Individuel => "individuel",
            Kind::Collectif => "collectif",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Kind::Individuel => "Accompagnement individuel",
            Kind::Collectif => "Atelier collectif",
        }
    }
    pub fn parse(raw: &str) -> Option<Kind> {
        match raw {
            "individuel" => Some(Kind::Individuel),
            "collectif" => Some(Kind::Collectif),
            _ => None,
        }
    }
}

/// Anonymous participants: how many, how many were already accompanied, and the
/// breakdowns by genre, age band and status in the order of [`vocab::GENRES`],
/// [`vocab::AGES`], [`vocab::STATUTS`] (« non communiqué » is what remains).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub total: i64,
    pub deja: i64,
    pub genre: Vec<i64>,
    pub age: Vec<i64>,
    pub statut: Vec<i64>,
}

/// The largest value of a counter.
pub const COUNTER_MAX: i64 = 10_000;

impl Counters {
    pub fn none() -> Counters {
        Counters {
            total: 0,
            deja: 0,
            genre: vec![0; vocab::GENRES.len()],
            age: vec![0; vocab::AGES.len()],
            statut: vec![0; vocab::STATUTS.len()],
        }
    }

    fn encode(v: &[i64]) -> String {
        v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    }

    fn decode(s: &str, len: usize) -> Vec<i64> {
        let mut out: Vec<i64> = s.split(',').filter_map(|x| x.parse().ok()).collect();
        out.resize(len, 0);
        out
    }

    /// What is left for « non communiqué » in a breakdown.
    pub fn remainder(&self, part: &[i64]) -> i64 {
        (self.total - part.iter().sum::<i64>()).max(0)
    }
}

/// A report checked at the edge ([`form`]), ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kind: Kind,
    /// `YYYYMMDD`, Paris.
    pub date: i64,
    /// Minutes.
    pub duree: i64,
    pub lieu_type: String,
    pub lieu_id: Option<i64>,
    /// The commune for `domicile` and `autre`.
    pub commune_insee: String,
    pub materiel: Vec<String>,
    pub thematiques: Vec<String>,
    pub thematiques_admin: Vec<String>,
    pub precisions: String,
    pub tags: Vec<String>,
    pub notes: String,
    /// Individual only.
    pub autonomie: String,
    /// Individual only: the kind of structure the person was sent to, empty if none.
    pub orientation: String,
    /// Collective only.
    pub titre: String,
    pub niveau: String,
    /// Tracked beneficiaries (ids of the mediator's own).
    pub participants: Vec<i64>,
    pub anonymes: Counters,
    /// An Aidants Connect mandate made for the person (a link, not a copy).
    pub mandat_id: Option<i64>,
    /// A pass numérique redeemed for this activity (ready for the pass numérique).
    pub pass_code: String,
}

impl Report {
    /// Accompaniments: one per participant.
    pub fn accompagnements(&self) -> i64 {
        i64::try_from(self.participants.len()).unwrap_or(0) + self.anonymes.total
    }
}

/// A stored report.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: i64,
    pub mediateur_id: i64,
    pub structure_id: i64,
    pub departement: String,
    pub report: Report,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    #[error(transparent)]
    Db(#[from] crate::db::Error),
    /// A value refused: the field and what to tell the person.
    #[error("{1}")]
    Field(&'static str, String),
    #[error("activité introuvable")]
    NotFound,
}

/// What [`record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    /// Another report of the same mediator, date and type has a participant in common.
    pub possible_duplicate: bool,
}

macro_rules! activite_columns {
    () => {
        "a.id, a.mediateur_id, a.structure_id, a.type, a.date, a.duree, a.lieu_type, a.lieu_id,
         a.commune_insee, a.departement, a.materiel, a.thematiques, a.thematiques_admin,
         a.precisions_demarche, a.tags, a.notes, a.autonomie, a.orientation, a.titre, a.niveau,
         a.mandat_id, a.pass_code, a.anon_total, a.anon_deja, a.anon_genre, a.anon_age,
         a.anon_statut, a.created_at, a.updated_at"
    };
}

fn split(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn stored_from(r: &Rec, participants: Vec<i64>) -> Result<Stored, crate::db::Error> {
    let kind = Kind::parse(&r.text("type")?).unwrap_or(Kind::Individuel);
    Ok(Stored {
        id: r.int("id")?,
        mediateur_id: r.int("mediateur_id")?,
        structure_id: r.int("structure_id")?,
        departement: r.text("departement")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        report: Report {
            kind,
            date: r.int("date")?,
            duree: r.int("duree")?,
            lieu_type: r.text("lieu_type")?,
            lieu_id: r.opt_int("lieu_id")?,
            commune_insee: r.text("commune_insee")?,
            materiel: split(&r.text("materiel")?),
            thematiques: split(&r.text("thematiques")?),
            thematiques_admin: split(&r.text("thematiques_admin")?),
            precisions: r.text("precisions_demarche")?,
            tags: split(&r.text("tags")?),
            notes: r.text("notes")?,
            autonomie: r.text("autonomie")?,
            orientation: r.text("orientation")?,
            titre: r.text("titre")?,
            niveau: r.text("niveau")?,
            participants,
            anonymes: Counters {
                total: r.int("anon_total")?,
                deja: r.int("anon_deja")?,
                genre: Counters::decode(&r.text("anon_genre")?, vocab::GENRES.len()),
                age: Counters::decode(&r.text("anon_age")?, vocab::AGES.len()),
                statut: Counters::decode(&r.text("anon_statut")?, vocab::STATUTS.len()),
            },
            mandat_id: r.opt_int("mandat_id")?,
            pass_code: r.text("pass_code")?,
        },
    })
}

/// The département of an activity: its place's, its commune's, or (at a distance)
/// the employer structure's.
async fn departement_of(
    tx: &mut Tx,
    report: &Report,
    structure_id: i64,
) -> Result<(String, String), crate::db::Error> {
    let t = crate::territoires::get();
    let commune = if let Some(lid) = report.lieu_id {
        tx.fetch_optional(
            "SELECT code_insee FROM lieux WHERE id = $1",
            crate::args![lid],
        )
        .await?
        .and_then(|r| r.opt_text("code_insee").ok().flatten())
        .unwrap_or_default()
    } else if !report.commune_insee.is_empty() {
        report.commune_insee.clone()
    } else {
        tx.fetch_optional(
            "SELECT commune_insee FROM structures WHERE id = $1",
            crate::args![structure_id],
        )
        .await?
        .and_then(|r| r.opt_text("commune_insee").ok().flatten())
        .unwrap_or_default()
    };
    let dep = t
        .commune(&commune)
        .map(|c| c.departement.clone())
        .unwrap_or_default();
    Ok((commune, dep))
}

/// Checks what only the database knows: the place is one of the mediator's, every
/// participant is one of the mediator's people and not deleted.
async fn check_owned(tx: &mut Tx, mediateur_id: i64, report: &Report) -> Result<(), ActivityError> {
    if let Some(lid) = report.lieu_id {
        let mine = tx
            .fetch_optional(
                "SELECT 1 AS x FROM mediateur_lieux WHERE account_id = $1 AND lieu_id = $2",
                crate::args![mediateur_id, lid],
            )
            .await?
            .is_some();
        if !mine {
            return Err(ActivityError::Field(
                "lieu",
                "Ce lieu ne fait pas partie de vos lieux d'activité : choisissez-en un dans la liste, ou ajoutez-le depuis « Mes lieux d'activité ».".into(),
            ));
        }
    }
    for b in &report.participants {
        let ok = tx
            .fetch_optional(
                "SELECT 1 AS x FROM beneficiaires WHERE id = $1 AND mediateur_id = $2 AND supprime_at IS NULL AND anonyme = 0",
                crate::args![*b, mediateur_id],
            )
            .await?
            .is_some();
        if !ok {
            return Err(ActivityError::Field(
                "beneficiaire",
                "Cette personne ne fait pas partie de vos bénéficiaires : choisissez-la dans la liste.".into(),
            ));
        }
    }
    Ok(())
}

/// Records a report of `mediateur_id` working for `structure_id`, in one transaction.
pub async fn record(
    db: &Db,
    mediateur_id: i64,
    structure_id: i64,
    report: &Report,
    now: i64,
) -> Result<Recorded, ActivityError> {
    let mut tx = db.begin().await?;
    let recorded = record_in(&mut tx, mediateur_id, structure_id, report, None, now).await?;
    tx.commit().await?;
    Ok(recorded)
}

/// Where an imported report comes from: the tool, its id there, the line as read.
#[derive(Debug, Clone)]
pub struct Source {
    pub tool: &'static str,
    pub id: String,
    pub data: String,
}

/// [`record`] inside the caller's transaction (an import writes a file's reports
/// in one).
pub async fn record_in(
    tx: &mut Tx,
    mediateur_id: i64,
    structure_id: i64,
    report: &Report,
    source: Option<&Source>,
    now: i64,
) -> Result<Recorded, ActivityError> {
    check_owned(tx, mediateur_id, report).await?;
    let (commune, dep) = departement_of(tx, report, structure_id).await?;
    let id = tx
        .fetch_one(
            "INSERT INTO activites (mediateur_id, structure_id, type, date, duree, lieu_type, lieu_id,
                commune_insee, departement, materiel, thematiques, thematiques_admin,
                precisions_demarche, tags, notes, autonomie, orientation, titre, niveau, mandat_id,
                pass_code, anon_total, anon_deja, anon_genre, anon_age, anon_statut, created_at,
                updated_at, source, source_id, source_data)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $27, $28, $29, $30)
             RETURNING id",
            crate::args![
                mediateur_id,
                structure_id,
                report.kind.key(),
                report.date,
                report.duree,
                &report.lieu_type,
                report.lieu_id,
                &commune,
                &dep,
                report.materiel.join(","),
                report.thematiques.join(","),
                report.thematiques_admin.join(","),
                &report.precisions,
                report.tags.join(","),
                &report.notes,
                &report.autonomie,
                &report.orientation,
                &report.titre,
                &report.niveau,
                report.mandat_id,
                &report.pass_code,
                report.anonymes.total,
                report.anonymes.deja,
                Counters::encode(&report.anonymes.genre),
                Counters::encode(&report.anonymes.age),
                Counters::encode(&report.anonymes.statut),
                now,
                source.map(|s| s.tool).unwrap_or(""),
                source.map(|s| s.id.clone()),
                source.map(|s| s.data.clone())
            ],
        )
        .await?
        .int("id")?;
    write_participants(tx, id, &report.participants).await?;
    add_contribution(tx, id, 1).await?;
    for b in &report.participants {
        refresh_first(tx, *b).await?;
    }
    if report.kind == Kind::Individuel {
        tx.execute(
            "UPDATE mediateurs SET dernier_lieu_id = $1, dernier_materiel = $2, derniere_duree = $3 WHERE account_id = $4",
            crate::args![report.lieu_id, report.materiel.join(","), report.duree, mediateur_id],
        )
        .await?;
    }
    let possible_duplicate = has_duplicate(tx, id).await?;
    Ok(Recorded {
        id,
        possible_duplicate,
    })
}

async fn write_participants(
    tx: &mut Tx,
    activite_id: i64,
    participants: &[i64],
) -> Result<(), crate::db::Error> {
    for b in participants {
        tx.execute(
            "INSERT INTO activite_participants (activite_id, beneficiaire_id) VALUES ($1, $2)",
            crate::args![activite_id, *b],
        )
        .await?;
    }
    Ok(())
}

/// Another report of the same mediator, same date and type, with a participant in
/// common (or, for anonymous individual accompaniments, the same duration and
/// thématiques).
async fn has_duplicate(tx: &mut Tx, id: i64) -> Result<bool, crate::db::Error> {
    Ok(tx
        .fetch_optional(
            "SELECT 1 AS x FROM activites a JOIN activites o
               ON o.mediateur_id = a.mediateur_id AND o.date = a.date AND o.type = a.type AND o.id <> a.id
             WHERE a.id = $1 AND (
               EXISTS (SELECT 1 FROM activite_participants p JOIN activite_participants q
                         ON q.beneficiaire_id = p.beneficiaire_id
                       WHERE p.activite_id = a.id AND q.activite_id = o.id)
               OR (a.type = 'individuel' AND a.anon_total = 1 AND o.anon_total = 1
                   AND o.duree = a.duree AND o.thematiques = a.thematiques))
             LIMIT 1",
            crate::args![id],
        )
        .await?
        .is_some())
}

/// Replaces a report of `mediateur_id` (its employer structure stays the one of
/// the day it was recorded).
pub async fn update(
    db: &Db,
    mediateur_id: i64,
    id: i64,
    report: &Report,
    now: i64,
) -> Result<Recorded, ActivityError> {
    let mut tx = db.begin().await?;
    let old = load(&mut tx, mediateur_id, id)
        .await?
        .ok_or(ActivityError::NotFound)?;
    check_owned(&mut tx, mediateur_id, report).await?;
    add_contribution(&mut tx, id, -1).await?;
    unset_first(&mut tx, id).await?;
    let (commune, dep) = departement_of(&mut tx, report, old.structure_id).await?;
    tx.execute(
        "UPDATE activites SET type = $1, date = $2, duree = $3, lieu_type = $4, lieu_id = $5,
            commune_insee = $6, departement = $7, materiel = $8, thematiques = $9,
            thematiques_admin = $10, precisions_demarche = $11, tags = $12, notes = $13,
            autonomie = $14, orientation = $15, titre = $16, niveau = $17, mandat_id = $18,
            pass_code = $19, anon_total = $20, anon_deja = $21, anon_genre = $22, anon_age = $23,
            anon_statut = $24, updated_at = $25
         WHERE id = $26",
        crate::args![
            report.kind.key(),
            report.date,
            report.duree,
            &report.lieu_type,
            report.lieu_id,
            &commune,
            &dep,
            report.materiel.join(","),
            report.thematiques.join(","),
            report.thematiques_admin.join(","),
            &report.precisions,
            report.tags.join(","),
            &report.notes,
            &report.autonomie,
            &report.orientation,
            &report.titre,
            &report.niveau,
            report.mandat_id,
            &report.pass_code,
            report.anonymes.total,
            report.anonymes.deja,
            Counters::encode(&report.anonymes.genre),
            Counters::encode(&report.anonymes.age),
            Counters::encode(&report.anonymes.statut),
            now,
            id
        ],
    )
    .await?;
    tx.execute(
        "DELETE FROM activite_participants WHERE activite_id = $1",
        crate::args![id],
    )
    .await?;
    write_participants(&mut tx, id, &report.participants).await?;
    add_contribution(&mut tx, id, 1).await?;
    let mut touched = old.report.participants.clone();
    touched.extend(report.participants.iter().copied());
    touched.sort_unstable();
    touched.dedup();
    for b in touched {
        refresh_first(&mut tx, b).await?;
    }
    let possible_duplicate = has_duplicate(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Recorded {
        id,
        possible_duplicate,
    })
}

/// Deletes a report of `mediateur_id`; its participants' first accompaniment is
/// recomputed.
pub async fn delete(db: &Db, mediateur_id: i64, id: i64) -> Result<(), ActivityError> {
    let mut tx = db.begin().await?;
    let old = load(&mut tx, mediateur_id, id)
        .await?
        .ok_or(ActivityError::NotFound)?;
    add_contribution(&mut tx, id, -1).await?;
    unset_first(&mut tx, id).await?;
    tx.execute(
        "DELETE FROM activite_participants WHERE activite_id = $1",
        crate::args![id],
    )
    .await?;
    for b in &old.report.participants {
        refresh_first(&mut tx, *b).await?;
    }
    tx.execute("DELETE FROM activites WHERE id = $1", crate::args![id])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A report of `mediateur_id` inside a transaction.
pub(crate) async fn load(
    tx: &mut impl Exec,
    mediateur_id: i64,
    id: i64,
) -> Result<Option<Stored>, crate::db::Error> {
    let Some(r) = tx
        .fetch_optional(
            concat!(
                "SELECT ",
                activite_columns!(),
                " FROM activites a WHERE a.id = $1 AND a.mediateur_id = $2"
            ),
            crate::args![id, mediateur_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let participants = tx
        .fetch_all(
            "SELECT beneficiaire_id FROM activite_participants WHERE activite_id = $1 ORDER BY beneficiaire_id",
            crate::args![id],
        )
        .await?
        .iter()
        .map(|p| p.int("beneficiaire_id"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(stored_from(&r, participants)?))
}

/// A report of `mediateur_id`.
pub async fn get(db: &Db, mediateur_id: i64, id: i64) -> Result<Option<Stored>, crate::db::Error> {
    let mut c = db.conn().await?;
    load(&mut c, mediateur_id, id).await
}

/// One line of a mediator's list of reports.
#[derive(Debug, Clone)]
pub struct Line {
    pub id: i64,
    pub kind: Kind,
    pub date: i64,
    pub duree: i64,
    pub thematiques: Vec<String>,
    pub titre: String,
    /// The tracked person of an individual accompaniment.
    pub beneficiaire: Option<(i64, String)>,
    pub accompagnements: i64,
    pub lieu: String,
    pub possible_duplicate: bool,
}

/// A mediator's reports, most recent first, `limit` at most, before `before`
/// (`(date, id)` of the last line of the previous page).
pub async fn list(
    db: &Db,
    mediateur_id: i64,
    before: Option<(i64, i64)>,
    beneficiaire: Option<i64>,
    limit: i64,
) -> Result<Vec<Line>, crate::db::Error> {
    let (bd, bi) = before.unwrap_or((99_999_999, i64::MAX));
    let rows = db
        .fetch_all(
            "SELECT a.id, a.type, a.date, a.duree, a.thematiques, a.titre, a.anon_total, a.lieu_type,
                    l.nom AS lieu_nom, a.commune_insee,
                    (SELECT COUNT(*) FROM activite_participants p WHERE p.activite_id = a.id) AS suivis,
                    b.id AS premier, b.prenom, b.nom, b.supprime_at,
                    CASE WHEN EXISTS (SELECT 1 FROM activites o
                            WHERE o.mediateur_id = a.mediateur_id AND o.date = a.date AND o.type = a.type
                              AND o.id <> a.id
                              AND (EXISTS (SELECT 1 FROM activite_participants p JOIN activite_participants q
                                             ON q.beneficiaire_id = p.beneficiaire_id
                                           WHERE p.activite_id = a.id AND q.activite_id = o.id)
                                   OR (a.type = 'individuel' AND a.anon_total = 1 AND o.anon_total = 1
                                       AND o.duree = a.duree AND o.thematiques = a.thematiques)))
                    THEN 1 ELSE 0 END AS doublon
             FROM activites a LEFT JOIN lieux l ON l.id = a.lieu_id
             LEFT JOIN beneficiaires b ON b.id = (SELECT MIN(p.beneficiaire_id)
                 FROM activite_participants p WHERE p.activite_id = a.id)
             WHERE a.mediateur_id = $1 AND (a.date < $2 OR (a.date = $2 AND a.id < $3))
               AND ($4 = 0 OR EXISTS (SELECT 1 FROM activite_participants p
                                      WHERE p.activite_id = a.id AND p.beneficiaire_id = $4))
             ORDER BY a.date DESC, a.id DESC LIMIT $5",
            crate::args![mediateur_id, bd, bi, beneficiaire.unwrap_or(0), limit],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let t = crate::territoires::get();
    for r in &rows {
        let kind = Kind::parse(&r.text("type")?).unwrap_or(Kind::Individuel);
        let suivis = r.int("suivis")?;
        let beneficiaire = match (kind, r.opt_int("premier")?) {
            (Kind::Individuel, Some(b)) => Some((
                b,
                beneficiaires::shown_name(
                    b,
                    &r.text("prenom")?,
                    &r.text("nom")?,
                    r.opt_int("supprime_at")?.is_some(),
                ),
            )),
            _ => None,
        };
        let lieu_type = r.text("lieu_type")?;
        let lieu = match r.opt_text("lieu_nom")? {
            Some(n) => n,
            None if lieu_type == "a_distance" => "À distance".to_owned(),
            None => t.label(&r.text("commune_insee")?),
        };
        out.push(Line {
            id: r.int("id")?,
            kind,
            date: r.int("date")?,
            duree: r.int("duree")?,
            thematiques: split(&r.text("thematiques")?),
            titre: r.text("titre")?,
            beneficiaire,
            accompagnements: suivis + r.int("anon_total")?,
            lieu,
            possible_duplicate: r.int("doublon")? != 0,
        });
    }
    Ok(out)
}

/// The cells of a mediator's reports dated `from`..=`to` (`YYYYMMDD`) recounted
/// from the reports themselves (a team member's month of departure), with the
/// month's (activities, accompaniments).
pub(crate) async fn raw_cells(
    c: &mut impl Exec,
    mediateur_id: i64,
    from: i64,
    to: i64,
    kind: &str,
    lieu: i64,
) -> Result<(Cells, (i64, i64)), crate::db::Error> {
    let ids = c
        .fetch_all(
            "SELECT id FROM activites WHERE mediateur_id = $1 AND date BETWEEN $2 AND $3
               AND ($4 = '' OR type = $4) AND ($5 = 0 OR lieu_id = $5) ORDER BY id",
            crate::args![mediateur_id, from, to, kind, lieu],
        )
        .await?;
    let mut all = Cells::new();
    for r in &ids {
        let (cells, _) = raw_cells_of(c, r.int("id")?).await?;
        for (k, (a, n)) in cells {
            let e = all.entry(k).or_insert((0, 0));
            e.0 += a;
            e.1 += n;
        }
    }
    let month = all
        .get(&("total", "tout".to_owned()))
        .copied()
        .unwrap_or((0, 0));
    Ok((all, month))
}

/// One report's cells recounted from the report, « new people » included, with
/// its (activities, accompaniments).
pub(crate) async fn raw_cells_of(
    c: &mut impl Exec,
    id: i64,
) -> Result<(Cells, (i64, i64)), crate::db::Error> {
    let mut all = match contribution(c, id).await? {
        Some((_, cells)) => cells,
        None => Cells::new(),
    };
    let new_people = c
        .fetch_one(
            "SELECT COUNT(*) AS n FROM beneficiaires WHERE premiere_activite_id = $1",
            crate::args![id],
        )
        .await?
        .int("n")?;
    if new_people > 0 {
        bump(&mut all, "nouveaux", "suivis", 0, new_people);
    }
    let total = all
        .get(&("total", "tout".to_owned()))
        .copied()
        .unwrap_or((0, 0));
    Ok((all, total))
}

/// The cells of the aggregates an activity contributes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub mois: i64,
    pub mediateur_id: i64,
    pub structure_id: i64,
    pub lieu_id: i64,
    pub commune_insee: String,
    pub departement: String,
    pub kind: String,
}

/// `(dimension, value) → (activities, accompaniments)`.
pub type Cells = BTreeMap<(&'static str, String), (i64, i64)>;

fn bump(cells: &mut Cells, dim: &'static str, val: &str, act: i64, acc: i64) {
    let e = cells.entry((dim, val.to_owned())).or_insert((0, 0));
    e.0 += act;
    e.1 += acc;
}

/// The attributes of a tracked participant the statistics count.
#[derive(Debug, Clone)]
pub struct Person {
    pub genre: String,
    pub annee_naissance: Option<i64>,
    pub statut: String,
}

/// What one report adds to the aggregates (« new people » aside: [`refresh_first`]).
pub fn cells_of(report: &Report, people: &[Person]) -> Cells {
    let mut c = Cells::new();
    let acc = i64::try_from(people.len()).unwrap_or(0) + report.anonymes.total;
    bump(&mut c, "total", "tout", 1, acc);
    bump(&mut c, "total", report.kind.key(), 1, acc);
    bump(&mut c, "minutes", "tout", report.duree, 0);
    bump(&mut c, "public", "suivis", 0, acc - report.anonymes.total);
    bump(&mut c, "public", "anonymes", 0, report.anonymes.total);
    bump(
        &mut c,
        "nouveaux",
        "anonymes",
        0,
        report.anonymes.total - report.anonymes.deja,
    );
    bump(&mut c, "lieu_type", &report.lieu_type, 1, acc);
    bump(&mut c, "duree", vocab::duree_tranche(report.duree), 1, acc);
    for m in &report.materiel {
        bump(&mut c, "materiel", m, 1, acc);
    }
    for t in &report.thematiques {
        bump(&mut c, "thematique", t, 1, acc);
    }
    for t in &report.thematiques_admin {
        bump(&mut c, "thematique_admin", t, 1, acc);
    }
    for t in &report.tags {
        bump(&mut c, "tag", t, 1, acc);
    }
    if !report.autonomie.is_empty() {
        bump(&mut c, "autonomie", &report.autonomie, 1, acc);
    }
    if report.kind == Kind::Individuel {
        let o = if report.orientation.is_empty() {
            "non"
        } else {
            "oui"
        };
        bump(&mut c, "oriente", o, 1, acc);
    }
    if !report.niveau.is_empty() {
        bump(&mut c, "niveau", &report.niveau, 1, acc);
    }
    let year = report.date / 10_000;
    for p in people {
        bump(&mut c, "genre", &p.genre, 0, 1);
        let age = p
            .annee_naissance
            .map(|y| vocab::age_band(y, year))
            .unwrap_or(vocab::NON_COMMUNIQUE.0);
        bump(&mut c, "age", age, 0, 1);
        bump(&mut c, "statut", &p.statut, 0, 1);
    }
    let a = &report.anonymes;
    for (dim, list, counts) in [
        ("genre", vocab::GENRES, &a.genre),
        ("age", vocab::AGES, &a.age),
        ("statut", vocab::STATUTS, &a.statut),
    ] {
        for ((slug, _), n) in list.iter().zip(counts.iter()) {
            if *n > 0 {
                bump(&mut c, dim, slug, 0, *n);
            }
        }
        let rest = a.remainder(counts);
        if rest > 0 {
            bump(&mut c, dim, vocab::NON_COMMUNIQUE.0, 0, rest);
        }
    }
    c
}

/// The key and cells of a stored activity, read in the transaction.
pub(crate) async fn contribution(
    tx: &mut impl Exec,
    id: i64,
) -> Result<Option<(Key, Cells)>, crate::db::Error> {
    let Some(r) = tx
        .fetch_optional(
            concat!(
                "SELECT ",
                activite_columns!(),
                " FROM activites a WHERE a.id = $1"
            ),
            crate::args![id],
        )
        .await?
    else {
        return Ok(None);
    };
    let people_rows = tx
        .fetch_all(
            "SELECT b.genre, b.annee_naissance, b.statut_social FROM activite_participants p
             JOIN beneficiaires b ON b.id = p.beneficiaire_id WHERE p.activite_id = $1",
            crate::args![id],
        )
        .await?;
    let mut people = Vec::with_capacity(people_rows.len());
    for p in &people_rows {
        people.push(Person {
            genre: p.text("genre")?,
            annee_naissance: p.opt_int("annee_naissance")?,
            statut: p.text("statut_social")?,
        });
    }
    let s = stored_from(&r, Vec::new())?;
    let key = key_of(&s);
    Ok(Some((key, cells_of(&s.report, &people))))
}

fn key_of(s: &Stored) -> Key {
    Key {
        mois: s.report.date / 100,
        mediateur_id: s.mediateur_id,
        structure_id: s.structure_id,
        lieu_id: s.report.lieu_id.unwrap_or(0),
        commune_insee: s.report.commune_insee.clone(),
        departement: s.departement.clone(),
        kind: s.report.kind.key().to_owned(),
    }
}

async fn key_of_id(tx: &mut Tx, id: i64) -> Result<Option<Key>, crate::db::Error> {
    tx.fetch_optional(
        "SELECT date, mediateur_id, structure_id, lieu_id, commune_insee, departement, type
             FROM activites WHERE id = $1",
        crate::args![id],
    )
    .await?
    .map(|r| -> Result<Key, crate::db::Error> {
        Ok(Key {
            mois: r.int("date")? / 100,
            mediateur_id: r.int("mediateur_id")?,
            structure_id: r.int("structure_id")?,
            lieu_id: r.opt_int("lieu_id")?.unwrap_or(0),
            commune_insee: r.text("commune_insee")?,
            departement: r.text("departement")?,
            kind: r.text("type")?,
        })
    })
    .transpose()
}

/// Adds (`sign` 1) or removes (`sign` −1) an activity's contribution.
pub(crate) async fn add_contribution(
    tx: &mut Tx,
    id: i64,
    sign: i64,
) -> Result<(), crate::db::Error> {
    if let Some((key, cells)) = contribution(tx, id).await? {
        apply(tx, &key, &cells, sign).await?;
    }
    Ok(())
}

/// Adds `sign` × `cells` to the aggregates under `key`: one statement (the cells
/// travel as one JSON array), then, when removing, the emptied cells are deleted.
pub async fn apply(
    tx: &mut Tx,
    key: &Key,
    cells: &Cells,
    sign: i64,
) -> Result<(), crate::db::Error> {
    if cells.is_empty() {
        return Ok(());
    }
    let json = serde_json::Value::Array(
        cells
            .iter()
            .map(|((dim, val), (act, acc))| serde_json::json!([dim, val, act * sign, acc * sign]))
            .collect(),
    )
    .to_string();
    let sql = match tx.backend() {
        Backend::Sqlite => {
            "INSERT INTO activites_cellules (mois, mediateur_id, structure_id, lieu_id, commune_insee,
                departement, type, dim, val, activites, accompagnements)
             SELECT $1, $2, $3, $4, $5, $6, $7, json_extract(j.value, '$[0]'),
                json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]'),
                json_extract(j.value, '$[3]')
             FROM json_each($8) AS j WHERE true
             ON CONFLICT (mois, mediateur_id, structure_id, lieu_id, commune_insee, type, dim, val)
             DO UPDATE SET activites = activites_cellules.activites + excluded.activites,
                accompagnements = activites_cellules.accompagnements + excluded.accompagnements"
        }
        Backend::Postgres => {
            "INSERT INTO activites_cellules (mois, mediateur_id, structure_id, lieu_id, commune_insee,
                departement, type, dim, val, activites, accompagnements)
             SELECT $1, $2, $3, $4, $5, $6, $7, j.v->>0, j.v->>1, (j.v->>2)::bigint, (j.v->>3)::bigint
             FROM jsonb_array_elements($8::text::jsonb) AS j(v)
             ON CONFLICT (mois, mediateur_id, structure_id, lieu_id, commune_insee, type, dim, val)
             DO UPDATE SET activites = activites_cellules.activites + excluded.activites,
                accompagnements = activites_cellules.accompagnements + excluded.accompagnements"
        }
    };
    tx.execute(
        sql,
        crate::args![
            key.mois,
            key.mediateur_id,
            key.structure_id,
            key.lieu_id,
            &key.commune_insee,
            &key.departement,
            &key.kind,
            &json
        ],
    )
    .await?;
    let coarse = match tx.backend() {
        Backend::Sqlite => {
            "INSERT INTO activites_territoires (mois, departement, type, dim, val, activites, accompagnements)
             SELECT $1, $2, $3, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),
                json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]')
             FROM json_each($4) AS j WHERE true
             ON CONFLICT (departement, mois, type, dim, val)
             DO UPDATE SET activites = activites_territoires.activites + excluded.activites,
                accompagnements = activites_territoires.accompagnements + excluded.accompagnements"
        }
        Backend::Postgres => {
            "INSERT INTO activites_territoires (mois, departement, type, dim, val, activites, accompagnements)
             SELECT $1, $2, $3, j.v->>0, j.v->>1, (j.v->>2)::bigint, (j.v->>3)::bigint
             FROM jsonb_array_elements($4::text::jsonb) AS j(v)
             ON CONFLICT (departement, mois, type, dim, val)
             DO UPDATE SET activites = activites_territoires.activites + excluded.activites,
                accompagnements = activites_territoires.accompagnements + excluded.accompagnements"
        }
    };
    tx.execute(
        coarse,
        crate::args![key.mois, &key.departement, &key.kind, &json],
    )
    .await?;
    if sign < 0 {
        tx.execute(
            "DELETE FROM activites_territoires WHERE mois = $1 AND departement = $2 AND type = $3
               AND activites = 0 AND accompagnements = 0",
            crate::args![key.mois, &key.departement, &key.kind],
        )
        .await?;
        tx.execute(
            "DELETE FROM activites_cellules WHERE mois = $1 AND mediateur_id = $2 AND structure_id = $3
               AND lieu_id = $4 AND commune_insee = $5 AND type = $6
               AND activites = 0 AND accompagnements = 0",
            crate::args![
                key.mois,
                key.mediateur_id,
                key.structure_id,
                key.lieu_id,
                &key.commune_insee,
                &key.kind
            ],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn move_new_person(
    tx: &mut Tx,
    activite: i64,
    sign: i64,
) -> Result<(), crate::db::Error> {
    if let Some(key) = key_of_id(tx, activite).await? {
        let mut cells = Cells::new();
        bump(&mut cells, "nouveaux", "suivis", 0, 1);
        apply(tx, &key, &cells, sign).await?;
    }
    Ok(())
}

/// Before an activity changes or goes: the people it was the first accompaniment
/// of stop being new there ([`refresh_first`] finds their new first one).
async fn unset_first(tx: &mut Tx, activite: i64) -> Result<(), crate::db::Error> {
    let n = tx
        .fetch_all(
            "SELECT id FROM beneficiaires WHERE premiere_activite_id = $1",
            crate::args![activite],
        )
        .await?;
    for r in &n {
        move_new_person(tx, activite, -1).await?;
        tx.execute(
            "UPDATE beneficiaires SET premiere_activite_id = NULL WHERE id = $1",
            crate::args![r.int("id")?],
        )
        .await?;
    }
    Ok(())
}

/// Recomputes a person's first accompaniment (their earliest remaining activity)
/// and last activity date, and moves their « new person » count to it.
pub(crate) async fn refresh_first(tx: &mut Tx, beneficiaire: i64) -> Result<(), crate::db::Error> {
    let Some(b) = tx
        .fetch_optional(
            "SELECT premiere_activite_id FROM beneficiaires WHERE id = $1",
            crate::args![beneficiaire],
        )
        .await?
    else {
        return Ok(());
    };
    let old = b.opt_int("premiere_activite_id")?;
    let first = tx
        .fetch_optional(
            "SELECT a.id FROM activite_participants p JOIN activites a ON a.id = p.activite_id
             WHERE p.beneficiaire_id = $1 ORDER BY a.date, a.id LIMIT 1",
            crate::args![beneficiaire],
        )
        .await?
        .map(|r| r.int("id"))
        .transpose()?;
    let last = tx
        .fetch_optional(
            "SELECT MAX(a.date) AS d FROM activite_participants p JOIN activites a ON a.id = p.activite_id
             WHERE p.beneficiaire_id = $1",
            crate::args![beneficiaire],
        )
        .await?
        .and_then(|r| r.opt_int("d").ok().flatten());
    if old != first {
        if let Some(o) = old {
            move_new_person(tx, o, -1).await?;
        }
        if let Some(f) = first {
            move_new_person(tx, f, 1).await?;
        }
    }
    tx.execute(
        "UPDATE beneficiaires SET premiere_activite_id = $1, derniere_activite_le = $2 WHERE id = $3",
        crate::args![first, last, beneficiaire],
    )
    .await?;
    Ok(())
}

/// The activities a person took part in.
pub(crate) async fn activities_of(
    tx: &mut Tx,
    beneficiaire: i64,
) -> Result<Vec<i64>, crate::db::Error> {
    tx.fetch_all(
        "SELECT activite_id FROM activite_participants WHERE beneficiaire_id = $1",
        crate::args![beneficiaire],
    )
    .await?
    .iter()
    .map(|r| r.int("activite_id"))
    .collect()
}

/// A mediator's profile, created when someone becomes a médiateur.
pub async fn ensure_profile(
    tx: &mut impl Exec,
    account_id: i64,
    now: i64,
) -> Result<(), crate::db::Error> {
    tx.execute(
        "INSERT INTO mediateurs (account_id, created_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING",
        crate::args![account_id, now],
    )
    .await?;
    Ok(())
}

/// What the individual form proposes: the last place, material and duration.
#[derive(Debug, Clone, Default)]
pub struct Remembered {
    pub lieu_id: Option<i64>,
    pub materiel: Vec<String>,
    pub duree: Option<i64>,
}

/// A mediator's profile.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub conseiller_numerique: bool,
    pub contrat_debut: Option<i64>,
    pub contrat_fin: Option<i64>,
    pub remembered: Remembered,
}

pub async fn profile(db: &Db, account_id: i64) -> Result<Profile, crate::db::Error> {
    let Some(r) = db
        .fetch_optional(
            "SELECT conseiller_numerique, contrat_debut, contrat_fin, dernier_lieu_id, dernier_materiel, derniere_duree
             FROM mediateurs WHERE account_id = $1",
            crate::args![account_id],
        )
        .await?
    else {
        return Ok(Profile::default());
    };
    Ok(Profile {
        conseiller_numerique: r.int("conseiller_numerique")? != 0,
        contrat_debut: r.opt_int("contrat_debut")?,
        contrat_fin: r.opt_int("contrat_fin")?,
        remembered: Remembered {
            lieu_id: r.opt_int("dernier_lieu_id")?,
            materiel: split(&r.opt_text("dernier_materiel")?.unwrap_or_default()),
            duree: r.opt_int("derniere_duree")?,
        },
    })
}

/// Saves the conseiller numérique status and contract dates.
pub async fn save_profile(
    db: &Db,
    account_id: i64,
    conseiller_numerique: bool,
    debut: Option<i64>,
    fin: Option<i64>,
) -> Result<(), crate::db::Error> {
    db.execute(
        "UPDATE mediateurs SET conseiller_numerique = $1, contrat_debut = $2, contrat_fin = $3 WHERE account_id = $4",
        crate::args![conseiller_numerique, debut, fin, account_id],
    )
    .await?;
    Ok(())
}

/// The mediator's durations used most often (besides the presets), most used first.
pub async fn frequent_durations(db: &Db, mediateur_id: i64) -> Result<Vec<i64>, crate::db::Error> {
    db.fetch_all(
        "SELECT duree, COUNT(*) AS n FROM (SELECT duree FROM activites WHERE mediateur_id = $1
            ORDER BY date DESC, id DESC LIMIT 200) r
         GROUP BY duree ORDER BY n DESC, duree LIMIT 3",
        crate::args![mediateur_id],
    )
    .await?
    .iter()
    .map(|r| r.int("duree"))
    .filter(|d| {
        d.as_ref()
            .map(|d| !vocab::DUREES.contains(d))
            .unwrap_or(true)
    })
    .collect()
}

/// A place of the directory where the mediator works.
#[derive(Debug, Clone)]
pub struct Place {
    pub id: i64,
    pub nom: String,
    pub commune: String,
}

pub async fn places(db: &Db, mediateur_id: i64) -> Result<Vec<Place>, crate::db::Error> {
    db.fetch_all(
        "SELECT l.id, l.nom, l.commune FROM mediateur_lieux m JOIN lieux l ON l.id = m.lieu_id
         WHERE m.account_id = $1 ORDER BY l.nom, l.id",
        crate::args![mediateur_id],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Place {
            id: r.int("id")?,
            nom: r.text("nom")?,
            commune: r.opt_text("commune")?.unwrap_or_default(),
        })
    })
    .collect()
}

/// Adds a place of the directory to the mediator's places.
pub async fn add_place(
    db: &Db,
    mediateur_id: i64,
    lieu_id: i64,
    now: i64,
) -> Result<bool, crate::db::Error> {
    if db
        .fetch_optional("SELECT id FROM lieux WHERE id = $1", crate::args![lieu_id])
        .await?
        .is_none()
    {
        return Ok(false);
    }
    db.execute(
        "INSERT INTO mediateur_lieux (account_id, lieu_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, lieu_id) DO NOTHING",
        crate::args![mediateur_id, lieu_id, now],
    )
    .await?;
    Ok(true)
}

/// Removes a place from the mediator's places (their reports keep it).
pub async fn remove_place(
    db: &Db,
    mediateur_id: i64,
    lieu_id: i64,
) -> Result<(), crate::db::Error> {
    db.execute(
        "DELETE FROM mediateur_lieux WHERE account_id = $1 AND lieu_id = $2",
        crate::args![mediateur_id, lieu_id],
    )
    .await?;
    Ok(())
}

/// `20261204` → `04/12/2026`.
pub fn date_fr(date: i64) -> String {
    format!(
        "{:02}/{:02}/{}",
        date % 100,
        (date / 100) % 100,
        date / 10_000
    )
}

/// `20261204` → `2026-12-04` (an `<input type="date">`).
pub fn date_iso(date: i64) -> String {
    format!(
        "{}-{:02}-{:02}",
        date / 10_000,
        (date / 100) % 100,
        date % 100
    )
}

/// Today in Paris as `YYYYMMDD`.
pub fn today(now: i64) -> i64 {
    let l = crate::time_fr::local(now);
    l.year * 10_000 + i64::from(l.month) * 100 + i64::from(l.day)
}

/// `90` → `1 h 30`, `45` → `45 min`.
pub fn duree_fr(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m:02}"),
    }
}
