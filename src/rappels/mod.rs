//! **Solidarité Numérique**: the back office of the national helpline
//! (01 70 772 372). A person asks to be called back on a public form (no
//! account); the request is routed to a nearby structure that accepts helpline
//! requests (same commune, then intercommunality, then département) or to the
//! national helpline's queue; agents take it, write notes, record their call
//! attempts and close it with an outcome. Every act is journaled in the acting
//! structure's chain, without the person's data; the person's data (first name,
//! phone, free text) is deleted three months after closure ([`purge`]).

pub mod stats;

use crate::db::{Db, Exec as _};
use crate::journal::{self, Action, NewEntry};

/// What the person needs help with: the activity-report thématiques (domain.md §7).
pub use crate::activites::vocab::THEMATIQUES as BESOINS;

/// When the person can be called.
pub const CRENEAUX: &[(&str, &str)] = &[
    ("matin", "Le matin (9 h – 12 h)"),
    ("midi", "Entre midi et deux (12 h – 14 h)"),
    ("apres_midi", "L'après-midi (14 h – 17 h)"),
    ("soir", "En fin de journée (17 h – 19 h)"),
];

/// How a request ends.
pub const ISSUES: &[(&str, &str)] = &[
    ("resolu", "Résolu"),
    ("oriente_lieu", "Orienté vers un lieu de médiation"),
    ("pass_remis", "Pass numérique remis"),
    ("mandat_propose", "Mandat Aidants Connect proposé"),
    ("injoignable", "Injoignable"),
];

/// What a call attempt gave.
pub const APPELS: &[(&str, &str)] = &[
    ("joint", "Personne jointe"),
    ("messagerie", "Message laissé sur la messagerie"),
    ("sans_reponse", "Pas de réponse"),
    ("numero_errone", "Numéro erroné"),
];

/// Personal data is deleted this long after closure (three months).
pub const RETENTION_SECONDS: i64 = 92 * 86_400;
/// A request nobody closed loses its personal data after six months all the same.
pub const OPEN_RETENTION_SECONDS: i64 = 183 * 86_400;

pub const PRENOM_MAX: usize = 60;
pub const PRECISIONS_MAX: usize = 500;
/// Below the form reader's bound on one value (2,000), so that nothing is cut.
pub const NOTE_MAX: usize = 1_000;

/// The label of `key` in one of the lists above.
pub fn label(list: &[(&'static str, &'static str)], key: &str) -> &'static str {
    list.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, l)| *l)
        .unwrap_or("—")
}

/// A callback request as checked from the public form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDemande {
    pub prenom: String,
    /// E.164.
    pub telephone: String,
    pub code_postal: String,
    pub commune_insee: String,
    pub departement: String,
    pub besoin: String,
    pub creneaux: Vec<String>,
    pub precisions: String,
}

/// The form's raw values.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pub prenom: String,
    pub telephone: String,
    pub code_postal: String,
    pub besoin: String,
    pub creneaux: Vec<String>,
    pub precisions: String,
    pub consentement: bool,
}

/// Checks the form; the errors are tied to their field, in French.
pub fn check(f: &Form) -> Result<NewDemande, Vec<(&'static str, String)>> {
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    let prenom = f.prenom.trim();
    if prenom.is_empty() {
        errors.push((
            "prenom",
            "Indiquez votre prénom : l'écoutant vous demandera au téléphone.".into(),
        ));
    } else if prenom.chars().count() > PRENOM_MAX || prenom.chars().any(char::is_control) {
        errors.push((
            "prenom",
            format!("Votre prénom seulement, en {PRENOM_MAX} caractères au plus."),
        ));
    }
    let telephone = match crate::sms::parse_phone(&f.telephone) {
        Ok(t) => t,
        Err(e) => {
            errors.push(("telephone", e.into()));
            String::new()
        }
    };
    let cp = f.code_postal.trim();
    let commune = if cp.len() == 5 && cp.bytes().all(|b| b.is_ascii_digit()) {
        let found = crate::territoires::get().matching(cp);
        if found.is_empty() {
            errors.push((
                "code_postal",
                "Ce code postal n'existe pas : vérifiez les 5 chiffres.".into(),
            ));
        }
        found
            .first()
            .map(|c| (c.code.clone(), c.departement.clone()))
    } else {
        errors.push((
            "code_postal",
            "Saisissez le code postal de votre commune, 5 chiffres (par exemple 89000).".into(),
        ));
        None
    };
    if !BESOINS.iter().any(|(k, _)| *k == f.besoin) {
        errors.push((
            "besoin",
            "Choisissez le sujet de votre demande dans la liste.".into(),
        ));
    }
    let mut creneaux: Vec<String> = Vec::new();
    for (k, _) in CRENEAUX {
        if f.creneaux.iter().any(|c| c == k) {
            creneaux.push((*k).to_owned());
        }
    }
    if creneaux.is_empty() {
        errors.push((
            "creneaux",
            "Cochez au moins un moment où l'on peut vous appeler.".into(),
        ));
    }
    let precisions = f.precisions.trim();
    if precisions.chars().count() > PRECISIONS_MAX {
        errors.push((
            "precisions",
            format!(
                "Décrivez votre besoin en {PRECISIONS_MAX} caractères au plus : l'écoutant vous posera ses questions au téléphone."
            ),
        ));
    }
    if !f.consentement {
        errors.push((
            "consentement",
            "Cochez la case pour accepter que l'on vous rappelle à ce numéro : sans votre accord, nous ne pouvons pas enregistrer la demande.".into(),
        ));
    }
    match (errors.is_empty(), commune) {
        (true, Some((commune_insee, departement))) => Ok(NewDemande {
            prenom: prenom.to_owned(),
            telephone,
            code_postal: cp.to_owned(),
            commune_insee,
            departement,
            besoin: f.besoin.clone(),
            creneaux,
            precisions: precisions.replace('\r', ""),
        }),
        _ => Err(errors),
    }
}

/// Where a request goes: the structure that answers, `None` for the national
/// helpline's queue.
pub async fn route<E: crate::db::Exec>(
    ex: &mut E,
    commune_insee: &str,
) -> Result<Option<i64>, crate::db::Error> {
    let t = crate::territoires::get();
    let rows = ex
        .fetch_all(
            "SELECT r.structure_id, COALESCE(l.code_insee, s.commune_insee) AS commune,
                    (SELECT COUNT(*) FROM rappel_demandes d
                     WHERE d.structure_id = r.structure_id AND d.statut <> 'cloturee') AS ouvertes
             FROM rappel_structures r
             JOIN structures s ON s.id = r.structure_id
             LEFT JOIN lieux l ON l.id = s.lieu_accueil_id
             WHERE r.niveau = 'local'",
            crate::args![],
        )
        .await?;
    let here = t.commune(commune_insee);
    let dep = crate::pilotage::departement_of(commune_insee);
    // Closest level first (0 commune, 1 intercommunality, 2 département), then the
    // structure with the fewest open requests, then the oldest.
    let mut best: Option<(u8, i64, i64)> = None;
    for r in rows {
        let sid = r.int("structure_id")?;
        let commune = r.opt_text("commune")?.unwrap_or_default();
        let level = if commune == commune_insee {
            0
        } else if here.and_then(|h| h.epci.as_deref()).is_some_and(|e| {
            t.commune(&commune)
                .and_then(|c| c.epci.as_deref())
                .is_some_and(|x| x == e)
        }) {
            1
        } else if crate::pilotage::departement_of(&commune) == dep {
            2
        } else {
            continue;
        };
        let key = (level, r.int("ouvertes")?, sid);
        if best.is_none_or(|b| key < b) {
            best = Some(key);
        }
    }
    Ok(best.map(|b| b.2))
}

/// Records a request (routed, journaled) in one transaction; returns its id.
pub async fn create(db: &Db, d: &NewDemande, now: i64) -> Result<i64, crate::db::Error> {
    let mut tx = db.begin().await?;
    let structure_id = route(&mut tx, &d.commune_insee).await?;
    let id = tx
        .fetch_one(
            "INSERT INTO rappel_demandes (prenom, telephone, precisions, code_postal, commune_insee,
                 departement, besoin, creneaux, consentement_le, structure_id, statut, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'nouvelle', $9)
             RETURNING id",
            crate::args![
                &d.prenom,
                &d.telephone,
                (!d.precisions.is_empty()).then_some(d.precisions.as_str()),
                &d.code_postal,
                &d.commune_insee,
                &d.departement,
                &d.besoin,
                format!(",{},", d.creneaux.join(",")),
                now,
                structure_id
            ],
        )
        .await?
        .int("id")?;
    let entry = NewEntry::new(
        structure_id.unwrap_or(journal::ADMIN_CHAIN),
        Action::RappelDemande,
    )
    .details(
        serde_json::json!({ "demande": id, "departement": d.departement, "besoin": d.besoin }),
    );
    journal::append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Who is looking: the national helpline sees every request, a local structure
/// its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    National { structure_id: i64, account_id: i64 },
    Local { structure_id: i64, account_id: i64 },
}

impl Agent {
    pub fn structure_id(self) -> i64 {
        match self {
            Agent::National { structure_id, .. } | Agent::Local { structure_id, .. } => {
                structure_id
            }
        }
    }
    pub fn account_id(self) -> i64 {
        match self {
            Agent::National { account_id, .. } | Agent::Local { account_id, .. } => account_id,
        }
    }
    pub fn is_national(self) -> bool {
        matches!(self, Agent::National { .. })
    }
    /// Whether this agent may see and act on a request held by `holder`.
    pub fn may_handle(self, holder: Option<i64>) -> bool {
        match self {
            Agent::National { .. } => true,
            Agent::Local { structure_id, .. } => holder == Some(structure_id),
        }
    }
}

/// How a structure takes part, if it does.
pub async fn participation(db: &Db, structure_id: i64) -> Result<Option<String>, crate::db::Error> {
    db.fetch_optional(
        "SELECT niveau FROM rappel_structures WHERE structure_id = $1",
        crate::args![structure_id],
    )
    .await?
    .map(|r| r.text("niveau"))
    .transpose()
}

/// A structure answering helpline requests, for the administrators' list.
#[derive(Debug, Clone)]
pub struct Participant {
    pub structure_id: i64,
    pub nom: String,
    pub commune: String,
    pub niveau: String,
    pub ouvertes: i64,
}

pub async fn participants(db: &Db) -> Result<Vec<Participant>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT r.structure_id, r.niveau, s.name, s.commune_insee,
                    (SELECT COUNT(*) FROM rappel_demandes d
                     WHERE d.structure_id = r.structure_id AND d.statut <> 'cloturee') AS ouvertes
             FROM rappel_structures r JOIN structures s ON s.id = r.structure_id
             ORDER BY r.niveau DESC, s.name",
            crate::args![],
        )
        .await?;
    let t = crate::territoires::get();
    rows.iter()
        .map(|r| {
            Ok(Participant {
                structure_id: r.int("structure_id")?,
                nom: r.text("name")?,
                commune: t.label(&r.text("commune_insee")?),
                niveau: r.text("niveau")?,
                ouvertes: r.int("ouvertes")?,
            })
        })
        .collect()
}

/// Makes a structure answer helpline requests (`Some(niveau)`) or stop (`None`;
/// its open requests go back to the national queue). Journaled in its chain.
pub async fn set_participation(
    db: &Db,
    structure_id: i64,
    niveau: Option<&str>,
    by: i64,
    now: i64,
) -> Result<(), crate::db::Error> {
    let mut tx = db.begin().await?;
    match niveau {
        Some(n) => {
            tx.execute(
                "INSERT INTO rappel_structures (structure_id, niveau, created_at, created_by)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (structure_id) DO UPDATE SET niveau = excluded.niveau",
                crate::args![structure_id, n, now, by],
            )
            .await?;
        }
        None => {
            tx.execute(
                "DELETE FROM rappel_structures WHERE structure_id = $1",
                crate::args![structure_id],
            )
            .await?;
            tx.execute(
                "UPDATE rappel_demandes SET structure_id = NULL, agent_id = NULL
                 WHERE structure_id = $1 AND statut <> 'cloturee'",
                crate::args![structure_id],
            )
            .await?;
        }
    }
    let entry = NewEntry::new(structure_id, Action::RappelParticipation)
        .account(by)
        .details(serde_json::json!({ "niveau": niveau }));
    journal::append(&mut tx, &entry, now).await?;
    tx.commit().await
}

/// Which requests a queue shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Etat {
    ATraiter,
    EnCours,
    Cloturees,
}

impl Etat {
    pub fn parse(raw: &str) -> Etat {
        match raw {
            "en-cours" => Etat::EnCours,
            "cloturees" => Etat::Cloturees,
            _ => Etat::ATraiter,
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            Etat::ATraiter => "a-traiter",
            Etat::EnCours => "en-cours",
            Etat::Cloturees => "cloturees",
        }
    }
    fn statut(self) -> &'static str {
        match self {
            Etat::ATraiter => "nouvelle",
            Etat::EnCours => "en_cours",
            Etat::Cloturees => "cloturee",
        }
    }
}

/// One line of a queue.
#[derive(Debug, Clone)]
pub struct Ligne {
    pub id: i64,
    pub prenom: Option<String>,
    pub departement: String,
    pub besoin: String,
    pub creneaux: String,
    pub created_at: i64,
    pub tentatives: i64,
    pub agent: Option<String>,
    pub structure: Option<String>,
    pub issue: Option<String>,
}

/// A queue's page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub lignes: Vec<Ligne>,
    /// The cursor of the next page.
    pub suivant: Option<i64>,
}

pub const PAGE: i64 = 50;

/// Where a queue reads: the national queue (requests nobody local holds), a
/// structure's, or every request (national agents' « toutes »).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    Nationale,
    Structure(i64),
    Toutes,
}

/// A page of a queue: open requests oldest first (first come, first called),
/// closed ones newest first; by key (`apres`), never counted past the page.
pub async fn queue(
    db: &Db,
    file: File,
    etat: Etat,
    departement: Option<&str>,
    mine: Option<i64>,
    apres: Option<i64>,
) -> Result<Page, crate::db::Error> {
    let closed = etat == Etat::Cloturees;
    let cursor = apres.unwrap_or(if closed { i64::MAX } else { 0 });
    let sid = match file {
        File::Structure(s) => s,
        File::Nationale | File::Toutes => 0,
    };
    // One statement per queue and order, written once.
    macro_rules! queue_sql {
        ($file:literal, $after:literal, $order:literal) => {
            concat!(
                "SELECT d.id, d.prenom, d.departement, d.besoin, d.creneaux, d.created_at,
                        d.tentatives, d.issue, a.full_name AS agent, s.name AS structure
                 FROM rappel_demandes d LEFT JOIN accounts a ON a.id = d.agent_id
                 LEFT JOIN structures s ON s.id = d.structure_id
                 WHERE ",
                $file,
                " AND d.statut = $1 AND d.id ",
                $after,
                " $3 AND ($4 = '' OR d.departement = $4) AND ($5 = 0 OR d.agent_id = $5)
                 ORDER BY d.id ",
                $order,
                " LIMIT $6"
            )
        };
    }
    let sql: &'static str = match (file, closed) {
        (File::Nationale, false) => queue_sql!("d.structure_id IS NULL AND $2 = $2", ">", "ASC"),
        (File::Nationale, true) => queue_sql!("d.structure_id IS NULL AND $2 = $2", "<", "DESC"),
        (File::Structure(_), false) => queue_sql!("d.structure_id = $2", ">", "ASC"),
        (File::Structure(_), true) => queue_sql!("d.structure_id = $2", "<", "DESC"),
        (File::Toutes, false) => queue_sql!("$2 = $2", ">", "ASC"),
        (File::Toutes, true) => queue_sql!("$2 = $2", "<", "DESC"),
    };
    let rows = db
        .fetch_all(
            sql,
            crate::args![
                etat.statut(),
                sid,
                cursor,
                departement.unwrap_or(""),
                mine.unwrap_or(0),
                PAGE + 1
            ],
        )
        .await?;
    let mut lignes = rows
        .iter()
        .map(|r| {
            Ok(Ligne {
                id: r.int("id")?,
                prenom: r.opt_text("prenom")?,
                departement: r.text("departement")?,
                besoin: r.text("besoin")?,
                creneaux: r.text("creneaux")?,
                created_at: r.int("created_at")?,
                tentatives: r.int("tentatives")?,
                agent: r.opt_text("agent")?,
                structure: r.opt_text("structure")?,
                issue: r.opt_text("issue")?,
            })
        })
        .collect::<Result<Vec<_>, crate::db::Error>>()?;
    let suivant = if lignes.len() as i64 > PAGE {
        lignes.truncate(PAGE as usize);
        lignes.last().map(|l| l.id)
    } else {
        None
    };
    Ok(Page { lignes, suivant })
}

/// Counts stop here: a tab says « plus de 1 000 » rather than counting a
/// backlog row by row on every page.
pub const COUNT_MAX: i64 = 1_000;

/// Open requests of a queue by state (the tabs' counts), each counted up to
/// [`COUNT_MAX`] + 1 on an index.
pub async fn counts(db: &Db, file: File) -> Result<(i64, i64), crate::db::Error> {
    let sql: &'static str = match file {
        File::Nationale => {
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM rappel_demandes
             WHERE structure_id IS NULL AND $1 = $1 AND statut = $2 LIMIT $3) t"
        }
        File::Structure(_) => {
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM rappel_demandes
             WHERE structure_id = $1 AND statut = $2 LIMIT $3) t"
        }
        File::Toutes => {
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM rappel_demandes
             WHERE $1 = $1 AND statut = $2 LIMIT $3) t"
        }
    };
    let sid = match file {
        File::Structure(s) => s,
        _ => 0,
    };
    let mut out = Vec::with_capacity(2);
    for statut in ["nouvelle", "en_cours"] {
        out.push(
            db.fetch_one(sql, crate::args![sid, statut, COUNT_MAX + 1])
                .await?
                .int("n")?,
        );
    }
    Ok((
        out.first().copied().unwrap_or(0),
        out.get(1).copied().unwrap_or(0),
    ))
}

/// `12`, or `plus de 1 000` past [`COUNT_MAX`].
pub fn count_text(n: i64) -> String {
    if n > COUNT_MAX {
        format!("plus de {}", crate::domain::thousands(COUNT_MAX))
    } else {
        n.to_string()
    }
}

/// One request, as its page shows it.
#[derive(Debug, Clone)]
pub struct Demande {
    pub id: i64,
    pub prenom: Option<String>,
    pub telephone: Option<String>,
    pub precisions: Option<String>,
    pub code_postal: String,
    pub commune_insee: String,
    pub departement: String,
    pub besoin: String,
    pub creneaux: Vec<String>,
    pub structure_id: Option<i64>,
    pub structure: Option<String>,
    pub agent_id: Option<i64>,
    pub agent: Option<String>,
    pub statut: String,
    pub issue: Option<String>,
    pub tentatives: i64,
    pub premier_appel_le: Option<i64>,
    pub cloturee_le: Option<i64>,
    pub donnees_supprimees_le: Option<i64>,
    pub created_at: i64,
}

/// One line of a request's follow-up.
#[derive(Debug, Clone)]
pub struct Suivi {
    pub genre: String,
    pub resultat: Option<String>,
    pub texte: Option<String>,
    pub auteur: Option<String>,
    pub at: i64,
}

/// A request the agent may see (`None` otherwise: a 404 for the page).
pub async fn get(db: &Db, agent: Agent, id: i64) -> Result<Option<Demande>, crate::db::Error> {
    let row = db
        .fetch_optional(
            "SELECT d.*, a.full_name AS agent, s.name AS structure
             FROM rappel_demandes d LEFT JOIN accounts a ON a.id = d.agent_id
             LEFT JOIN structures s ON s.id = d.structure_id WHERE d.id = $1",
            crate::args![id],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    let d = Demande {
        id: r.int("id")?,
        prenom: r.opt_text("prenom")?,
        telephone: r.opt_text("telephone")?,
        precisions: r.opt_text("precisions")?,
        code_postal: r.text("code_postal")?,
        commune_insee: r.text("commune_insee")?,
        departement: r.text("departement")?,
        besoin: r.text("besoin")?,
        creneaux: r
            .text("creneaux")?
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        structure_id: r.opt_int("structure_id")?,
        structure: r.opt_text("structure")?,
        agent_id: r.opt_int("agent_id")?,
        agent: r.opt_text("agent")?,
        statut: r.text("statut")?,
        issue: r.opt_text("issue")?,
        tentatives: r.int("tentatives")?,
        premier_appel_le: r.opt_int("premier_appel_le")?,
        cloturee_le: r.opt_int("cloturee_le")?,
        donnees_supprimees_le: r.opt_int("donnees_supprimees_le")?,
        created_at: r.int("created_at")?,
    };
    Ok(agent.may_handle(d.structure_id).then_some(d))
}

pub async fn suivi(db: &Db, id: i64) -> Result<Vec<Suivi>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT f.genre, f.resultat, f.texte, f.at, a.full_name
             FROM rappel_suivi f LEFT JOIN accounts a ON a.id = f.account_id
             WHERE f.demande_id = $1 ORDER BY f.id",
            crate::args![id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Suivi {
                genre: r.text("genre")?,
                resultat: r.opt_text("resultat")?,
                texte: r.opt_text("texte")?,
                auteur: r.opt_text("full_name")?,
                at: r.int("at")?,
            })
        })
        .collect()
}

/// What an agent does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acte {
    /// « Je m'en occupe ».
    Prendre,
    Note(String),
    /// A call attempt, its result and an optional note.
    Appel {
        resultat: String,
        note: String,
    },
    Cloturer {
        issue: String,
        note: String,
    },
    /// Send to another structure that answers, or to the national queue (`None`).
    Orienter(Option<i64>),
}

/// Why an act is refused, in French for the agent.
pub type Refus = (&'static str, String);

/// Applies an act in one transaction (re-reading the request under the
/// transaction so that two agents acting at once never both win), with its
/// follow-up line and journal entry.
pub async fn act(
    db: &Db,
    agent: Agent,
    id: i64,
    acte: &Acte,
    now: i64,
) -> Result<Result<(), Refus>, crate::db::Error> {
    // Checks that do not need the database first.
    match acte {
        Acte::Note(t) if t.trim().is_empty() => {
            return Ok(Err((
                "texte",
                "Écrivez la note avant de l'enregistrer.".into(),
            )));
        }
        Acte::Note(t) | Acte::Appel { note: t, .. } | Acte::Cloturer { note: t, .. }
            if t.chars().count() > NOTE_MAX =>
        {
            return Ok(Err((
                "texte",
                format!("Une note fait {NOTE_MAX} caractères au plus."),
            )));
        }
        Acte::Appel { resultat, .. } if !APPELS.iter().any(|(k, _)| k == resultat) => {
            return Ok(Err((
                "resultat",
                "Choisissez ce qu'a donné l'appel.".into(),
            )));
        }
        Acte::Cloturer { issue, .. } if !ISSUES.iter().any(|(k, _)| k == issue) => {
            return Ok(Err(("issue", "Choisissez l'issue de la demande.".into())));
        }
        _ => {}
    }
    let mut tx = db.begin().await?;
    let row = tx
        .fetch_optional(
            "SELECT structure_id, statut, tentatives, agent_id FROM rappel_demandes
             WHERE id = $1 AND donnees_supprimees_le IS NULL",
            crate::args![id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Err((
            "demande",
            "Cette demande n'existe plus : ses données ont été supprimées.".into(),
        )));
    };
    let holder = row.opt_int("structure_id")?;
    if !agent.may_handle(holder) {
        return Ok(Err((
            "demande",
            "Cette demande a été orientée vers une autre structure : vous ne pouvez plus la traiter.".into(),
        )));
    }
    let statut = row.text("statut")?;
    if statut == "cloturee" {
        return Ok(Err((
            "demande",
            "Cette demande est clôturée : rien ne peut plus y être ajouté.".into(),
        )));
    }
    let me = agent.account_id();
    let (genre, resultat, texte, action): (&str, Option<&str>, Option<&str>, Action) = match acte {
        Acte::Prendre => {
            tx.execute(
                "UPDATE rappel_demandes SET agent_id = $1, statut = 'en_cours' WHERE id = $2",
                crate::args![me, id],
            )
            .await?;
            ("prise", None, None, Action::RappelPris)
        }
        Acte::Note(t) => ("note", None, Some(t.trim()), Action::RappelNote),
        Acte::Appel { resultat, note } => {
            tx.execute(
                "UPDATE rappel_demandes SET tentatives = tentatives + 1, statut = 'en_cours',
                     agent_id = COALESCE(agent_id, $1), premier_appel_le = COALESCE(premier_appel_le, $2)
                 WHERE id = $3",
                crate::args![me, now, id],
            )
            .await?;
            (
                "appel",
                Some(resultat.as_str()),
                Some(note.trim()).filter(|n| !n.is_empty()),
                Action::RappelAppel,
            )
        }
        Acte::Cloturer { issue, note } => {
            if row.int("tentatives")? == 0 {
                return Ok(Err((
                    "issue",
                    "Notez d'abord votre appel (« Appel passé ») : une demande se clôture après au moins un appel.".into(),
                )));
            }
            tx.execute(
                "UPDATE rappel_demandes SET statut = 'cloturee', issue = $1, cloturee_le = $2,
                     agent_id = COALESCE(agent_id, $3)
                 WHERE id = $4",
                crate::args![issue.as_str(), now, me, id],
            )
            .await?;
            (
                "cloture",
                Some(issue.as_str()),
                Some(note.trim()).filter(|n| !n.is_empty()),
                Action::RappelCloture,
            )
        }
        Acte::Orienter(target) => {
            if let Some(t) = target {
                let ok = tx
                    .fetch_optional(
                        "SELECT niveau FROM rappel_structures WHERE structure_id = $1",
                        crate::args![*t],
                    )
                    .await?
                    .is_some_and(|r| r.text("niveau").is_ok_and(|n| n == "local"));
                if !ok {
                    return Ok(Err((
                        "structure",
                        "Choisissez une structure de la liste : elle doit accepter les demandes de rappel.".into(),
                    )));
                }
                if !agent.is_national() {
                    return Ok(Err((
                        "structure",
                        "Seule la ligne nationale oriente vers une autre structure : renvoyez la demande à la ligne nationale.".into(),
                    )));
                }
            }
            if *target == holder {
                return Ok(Err((
                    "structure",
                    "La demande est déjà dans cette file.".into(),
                )));
            }
            tx.execute(
                "UPDATE rappel_demandes SET structure_id = $1, agent_id = NULL, statut = 'nouvelle'
                 WHERE id = $2",
                crate::args![*target, id],
            )
            .await?;
            ("orientation", None, None, Action::RappelOriente)
        }
    };
    tx.execute(
        "INSERT INTO rappel_suivi (demande_id, account_id, genre, resultat, texte, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        crate::args![id, me, genre, resultat, texte, now],
    )
    .await?;
    let details = match acte {
        Acte::Orienter(t) => serde_json::json!({ "demande": id, "vers": t }),
        _ => serde_json::json!({ "demande": id, "resultat": resultat }),
    };
    let entry = NewEntry::new(agent.structure_id(), action)
        .account(me)
        .details(details);
    journal::append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Deletes the person's data (first name, phone, free texts) of requests closed
/// three months ago, or opened six months ago and never closed; the counts stay
/// (département, need, dates, outcome); a request nobody closed is closed without
/// outcome. Returns the number of requests stripped.
pub async fn purge(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    let closed = now - RETENTION_SECONDS;
    let opened = now - OPEN_RETENTION_SECONDS;
    let mut tx = db.begin().await?;
    tx.execute(
        "UPDATE rappel_suivi SET texte = NULL WHERE texte IS NOT NULL AND demande_id IN
             (SELECT id FROM rappel_demandes WHERE donnees_supprimees_le IS NULL
                AND ((cloturee_le IS NOT NULL AND cloturee_le <= $1)
                     OR (cloturee_le IS NULL AND created_at <= $2)))",
        crate::args![closed, opened],
    )
    .await?;
    let n = tx
        .execute(
            "UPDATE rappel_demandes SET prenom = NULL, telephone = NULL, precisions = NULL,
                 donnees_supprimees_le = $3, statut = 'cloturee', cloturee_le = COALESCE(cloturee_le, $3)
             WHERE donnees_supprimees_le IS NULL
               AND ((cloturee_le IS NOT NULL AND cloturee_le <= $1)
                    OR (cloturee_le IS NULL AND created_at <= $2))",
            crate::args![closed, opened, now],
        )
        .await?;
    tx.commit().await?;
    Ok(n)
}
