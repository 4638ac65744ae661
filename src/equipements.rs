//! **Inclusion equipment kits** (about 40 M€ of the plan: furniture and
//! reconditioned computers to accompany people « hors les murs »). Administrators
//! open **campaigns** with a budget and eligible structures; a structure
//! **applies** (what, how many, for which places and uses); an administrator
//! **allocates** within the budget (quantities and unit prices, checked against
//! what is already committed in the same transaction) or refuses with a reason,
//! then records **deliveries** (supplier, date, serial numbers), which fill the
//! structure's **inventory**. Each device has a state and may be **lent** to a
//! mediator or a person until a return date; overdue loans are reminded to the
//! structure's référents once ([`remind_overdue`]); a borrower's first name goes
//! three months after the return ([`purge`]).

use crate::db::{Db, Exec as _};
use crate::journal::{self, Action, NewEntry};

/// What a structure may ask for.
pub const TYPES: &[(&str, &str)] = &[
    ("ordinateur_portable", "Ordinateur portable"),
    ("tablette", "Tablette"),
    ("telephone", "Téléphone"),
    ("imprimante", "Imprimante"),
    ("mobilier_mobile", "Mobilier mobile"),
];

/// A device's state.
pub const ETATS: &[(&str, &str)] = &[
    ("en_service", "En service"),
    ("en_panne", "En panne"),
    ("prete", "Prêté"),
    ("reforme", "Réformé"),
];

pub const ORIGINES: &[(&str, &str)] = &[("reconditionne", "Reconditionné"), ("neuf", "Neuf")];

/// At most this many devices of one type in one application.
pub const QUANTITE_MAX: i64 = 500;
/// A borrower's first name is kept this long after the return.
pub const PRET_RETENTION_SECONDS: i64 = 92 * 86_400;

pub fn label(list: &[(&'static str, &'static str)], key: &str) -> &'static str {
    list.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, l)| *l)
        .unwrap_or("—")
}

/// `1 234,50 €` from cents.
pub fn euros(centimes: i64) -> String {
    let e = centimes / 100;
    let c = (centimes % 100).abs();
    if c == 0 {
        format!("{} €", crate::domain::thousands(e))
    } else {
        format!("{},{c:02} €", crate::domain::thousands(e))
    }
}

/// Parses an amount in euros typed as `12 000`, `12000,50`, `1 234.5 €`.
pub fn parse_euros(raw: &str) -> Option<i64> {
    let t: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '€' && *c != '\u{202f}')
        .collect();
    let t = t.replace(',', ".");
    let (e, c) = match t.split_once('.') {
        Some((e, c)) => (e, c),
        None => (t.as_str(), ""),
    };
    if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) || e.len() > 12 {
        return None;
    }
    if c.len() > 2 || !c.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let cents = match c.len() {
        0 => 0,
        1 => c.parse::<i64>().ok()? * 10,
        _ => c.parse::<i64>().ok()?,
    };
    e.parse::<i64>().ok()?.checked_mul(100)?.checked_add(cents)
}

// ---------------------------------------------------------------------------
// Campaigns

#[derive(Debug, Clone)]
pub struct Campagne {
    pub id: i64,
    pub nom: String,
    pub budget_centimes: i64,
    pub cloture_le: i64,
    pub types_structures: Vec<String>,
    pub departements: Vec<String>,
    /// Allocated so far (applications allocated or delivered).
    pub engage_centimes: i64,
    pub demandes: i64,
}

impl Campagne {
    pub fn restant(&self) -> i64 {
        self.budget_centimes - self.engage_centimes
    }
    pub fn ouverte(&self, now: i64) -> bool {
        now <= self.cloture_le
    }
    /// Whether a structure of `kind` in `departement` may apply.
    pub fn eligible(&self, kind: &str, departement: &str) -> bool {
        (self.types_structures.is_empty() || self.types_structures.iter().any(|k| k == kind))
            && (self.departements.is_empty() || self.departements.iter().any(|d| d == departement))
    }
}

fn split(raw: &str) -> Vec<String> {
    raw.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn campagne(r: &crate::db::Rec) -> Result<Campagne, crate::db::Error> {
    Ok(Campagne {
        id: r.int("id")?,
        nom: r.text("nom")?,
        budget_centimes: r.int("budget_centimes")?,
        cloture_le: r.int("cloture_le")?,
        types_structures: split(&r.text("types_structures")?),
        departements: split(&r.text("departements")?),
        engage_centimes: r.int("engage")?,
        demandes: r.int("demandes")?,
    })
}

macro_rules! campagne_sql {
    ($where:literal) => {
        concat!(
            "SELECT c.*,
                CAST(COALESCE((SELECT SUM(d.montant_centimes) FROM equipement_demandes d
                          WHERE d.campagne_id = c.id AND d.statut IN ('allouee', 'livree')), 0) AS BIGINT) AS engage,
                (SELECT COUNT(*) FROM equipement_demandes d WHERE d.campagne_id = c.id) AS demandes
             FROM equipement_campagnes c ",
            $where
        )
    };
}

pub async fn campagnes(db: &Db) -> Result<Vec<Campagne>, crate::db::Error> {
    let rows = db
        .fetch_all(
            campagne_sql!("ORDER BY c.cloture_le DESC, c.id DESC LIMIT 200"),
            crate::args![],
        )
        .await?;
    rows.iter().map(campagne).collect()
}

pub async fn campagne_get(db: &Db, id: i64) -> Result<Option<Campagne>, crate::db::Error> {
    db.fetch_optional(campagne_sql!("WHERE c.id = $1"), crate::args![id])
        .await?
        .map(|r| campagne(&r))
        .transpose()
}

/// A campaign's raw values.
#[derive(Debug, Default, Clone)]
pub struct CampagneForm {
    pub nom: String,
    pub budget: String,
    pub cloture: String,
    pub types: Vec<String>,
    pub departements: String,
}

pub async fn create_campagne(
    db: &Db,
    f: &CampagneForm,
    by: i64,
    now: i64,
) -> Result<Result<i64, Vec<(&'static str, String)>>, crate::db::Error> {
    let mut e: Vec<(&'static str, String)> = Vec::new();
    let nom = f.nom.trim();
    if nom.is_empty() || nom.chars().count() > 150 {
        e.push((
            "nom",
            "Donnez un nom à la campagne (150 caractères au plus).".into(),
        ));
    }
    let budget = parse_euros(&f.budget).filter(|b| *b > 0);
    if budget.is_none() {
        e.push((
            "budget",
            "Indiquez le budget en euros, par exemple 250 000.".into(),
        ));
    }
    let cloture = crate::time_fr::parse_date(&f.cloture)
        .map(|d| crate::time_fr::paris_midnight(d + 43_200, 1) - 1);
    if cloture.is_none_or(|c| c < now) {
        e.push((
            "cloture",
            "Indiquez la date limite des demandes, à venir (jj/mm/aaaa ou le calendrier).".into(),
        ));
    }
    let kinds: Vec<String> = crate::domain::StructureKind::ALL
        .iter()
        .map(|k| k.key().to_owned())
        .filter(|k| f.types.iter().any(|t| t == k))
        .collect();
    let deps = if f.departements.trim().is_empty() {
        Vec::new()
    } else {
        match crate::pilotage::parse_departements(&f.departements) {
            Ok(d) => d,
            Err(m) => {
                e.push(("departements", m));
                Vec::new()
            }
        }
    };
    let (Some(budget), Some(cloture), true) = (budget, cloture, e.is_empty()) else {
        return Ok(Err(e));
    };
    let join = |v: &[String]| {
        if v.is_empty() {
            String::new()
        } else {
            format!(",{},", v.join(","))
        }
    };
    let mut tx = db.begin().await?;
    if tx
        .fetch_optional(
            "SELECT id FROM equipement_campagnes WHERE nom = $1",
            crate::args![nom],
        )
        .await?
        .is_some()
    {
        return Ok(Err(vec![("nom", "Une campagne porte déjà ce nom.".into())]));
    }
    let id = tx
        .fetch_one(
            "INSERT INTO equipement_campagnes (nom, budget_centimes, cloture_le, types_structures,
                 departements, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            crate::args![nom, budget, cloture, join(&kinds), join(&deps), by, now],
        )
        .await?
        .int("id")?;
    let entry = NewEntry::new(journal::ADMIN_CHAIN, Action::EquipementCampagne)
        .account(by)
        .details(serde_json::json!({ "campagne": id, "budget_centimes": budget }));
    journal::append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(Ok(id))
}

// ---------------------------------------------------------------------------
// Applications

#[derive(Debug, Clone)]
pub struct Ligne {
    pub id: i64,
    pub type_: String,
    pub quantite: i64,
    pub quantite_allouee: i64,
    pub prix_unitaire_centimes: i64,
    pub livres: i64,
}

#[derive(Debug, Clone)]
pub struct Demande {
    pub id: i64,
    pub campagne_id: i64,
    pub campagne: String,
    pub structure_id: i64,
    pub structure: String,
    pub departement: String,
    pub statut: String,
    pub usages: String,
    pub motif: Option<String>,
    pub montant_centimes: i64,
    pub deposee_le: i64,
    pub lignes: Vec<Ligne>,
}

impl Demande {
    pub fn statut_text(&self) -> &'static str {
        match self.statut.as_str() {
            "deposee" => "Déposée, en attente d'instruction",
            "allouee" => "Accordée, livraison à venir",
            "refusee" => "Refusée",
            _ => "Livrée",
        }
    }
}

/// An application as typed: quantity per type, and the uses.
#[derive(Debug, Default, Clone)]
pub struct DemandeForm {
    pub campagne: String,
    pub quantites: Vec<(String, String)>,
    pub usages: String,
}

/// A structure applies to a campaign (once).
pub async fn apply(
    db: &Db,
    structure_id: i64,
    f: &DemandeForm,
    by: i64,
    now: i64,
) -> Result<Result<i64, Vec<(&'static str, String)>>, crate::db::Error> {
    let mut e: Vec<(&'static str, String)> = Vec::new();
    let campagne = match f.campagne.parse::<i64>() {
        Ok(id) => campagne_get(db, id).await?,
        Err(_) => None,
    };
    let Some(campagne) = campagne else {
        return Ok(Err(vec![(
            "campagne",
            "Choisissez une campagne de la liste.".into(),
        )]));
    };
    if !campagne.ouverte(now) {
        e.push((
            "campagne",
            "Cette campagne est close : les demandes ne sont plus reçues.".into(),
        ));
    }
    let structure = crate::structures::find(db, structure_id)
        .await?
        .ok_or(crate::db::Error::NotFound)?;
    let dep = crate::pilotage::departement_of(&structure.commune_insee).to_owned();
    if !campagne.eligible(&structure.kind, &dep) {
        e.push((
            "campagne",
            "Votre structure n'est pas éligible à cette campagne (type de structure ou département).".into(),
        ));
    }
    let mut lignes: Vec<(&'static str, i64)> = Vec::new();
    for (k, _) in TYPES {
        let raw = f
            .quantites
            .iter()
            .find(|(t, _)| t == k)
            .map_or("", |(_, q)| q.trim());
        if raw.is_empty() {
            continue;
        }
        match raw.parse::<i64>() {
            Ok(0) => {}
            Ok(q) if (1..=QUANTITE_MAX).contains(&q) => lignes.push((k, q)),
            _ => e.push((
                "quantites",
                format!("{} : un nombre entre 0 et {QUANTITE_MAX}.", label(TYPES, k)),
            )),
        }
    }
    if lignes.is_empty() && !e.iter().any(|(k, _)| *k == "quantites") {
        e.push((
            "quantites",
            "Indiquez au moins un équipement et sa quantité.".into(),
        ));
    }
    let usages = f.usages.trim();
    if usages.is_empty() || usages.chars().count() > 2_000 {
        e.push((
            "usages",
            "Dites pour quels lieux et quels usages (permanences hors les murs, ateliers…), en 2 000 caractères au plus.".into(),
        ));
    }
    if !e.is_empty() {
        return Ok(Err(e));
    }
    let mut tx = db.begin().await?;
    let exists = tx
        .fetch_optional(
            "SELECT id FROM equipement_demandes WHERE campagne_id = $1 AND structure_id = $2",
            crate::args![campagne.id, structure_id],
        )
        .await?;
    if exists.is_some() {
        return Ok(Err(vec![(
            "campagne",
            "Votre structure a déjà déposé une demande pour cette campagne.".into(),
        )]));
    }
    let id = tx
        .fetch_one(
            "INSERT INTO equipement_demandes (campagne_id, structure_id, statut, usages, deposee_le)
             VALUES ($1, $2, 'deposee', $3, $4) RETURNING id",
            crate::args![campagne.id, structure_id, usages.replace('\r', ""), now],
        )
        .await?
        .int("id")?;
    for (t, q) in &lignes {
        tx.execute(
            "INSERT INTO equipement_lignes (demande_id, type, quantite) VALUES ($1, $2, $3)",
            crate::args![id, *t, *q],
        )
        .await?;
    }
    let entry = NewEntry::new(structure_id, Action::EquipementDemande)
        .account(by)
        .details(serde_json::json!({ "demande": id, "campagne": campagne.id }));
    journal::append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(Ok(id))
}

async fn lignes_of(db: &Db, demande: i64) -> Result<Vec<Ligne>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT * FROM equipement_lignes WHERE demande_id = $1 ORDER BY id",
            crate::args![demande],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Ligne {
                id: r.int("id")?,
                type_: r.text("type")?,
                quantite: r.int("quantite")?,
                quantite_allouee: r.int("quantite_allouee")?,
                prix_unitaire_centimes: r.int("prix_unitaire_centimes")?,
                livres: r.int("livres")?,
            })
        })
        .collect()
}

/// Applications of a campaign (`campagne`) or of a structure (`structure`).
pub async fn demandes(
    db: &Db,
    campagne: Option<i64>,
    structure: Option<i64>,
) -> Result<Vec<Demande>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT d.*, c.nom AS campagne, s.name AS structure, s.commune_insee
             FROM equipement_demandes d
             JOIN equipement_campagnes c ON c.id = d.campagne_id
             JOIN structures s ON s.id = d.structure_id
             WHERE ($1 = 0 OR d.campagne_id = $1) AND ($2 = 0 OR d.structure_id = $2)
             ORDER BY d.deposee_le, d.id LIMIT 2000",
            crate::args![campagne.unwrap_or(0), structure.unwrap_or(0)],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id = r.int("id")?;
        out.push(Demande {
            id,
            campagne_id: r.int("campagne_id")?,
            campagne: r.text("campagne")?,
            structure_id: r.int("structure_id")?,
            structure: r.text("structure")?,
            departement: crate::pilotage::departement_of(&r.text("commune_insee")?).to_owned(),
            statut: r.text("statut")?,
            usages: r.text("usages")?,
            motif: r.opt_text("motif")?,
            montant_centimes: r.int("montant_centimes")?,
            deposee_le: r.int("deposee_le")?,
            lignes: lignes_of(db, id).await?,
        });
    }
    Ok(out)
}

pub async fn demande(db: &Db, id: i64) -> Result<Option<Demande>, crate::db::Error> {
    let row = db
        .fetch_optional(
            "SELECT campagne_id FROM equipement_demandes WHERE id = $1",
            crate::args![id],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(demandes(db, Some(r.int("campagne_id")?), None)
        .await?
        .into_iter()
        .find(|d| d.id == id))
}

/// An administrator's decision on an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Per line id: quantity allocated and unit price in cents.
    Allouer(Vec<(i64, i64, i64)>),
    Refuser(String),
}

/// Decides an application in one transaction; the allocation must fit in what
/// remains of the campaign's budget, read in the same transaction.
pub async fn decide(
    db: &Db,
    id: i64,
    decision: &Decision,
    by: i64,
    now: i64,
) -> Result<Result<(), String>, crate::db::Error> {
    let mut tx = db.begin().await?;
    // Decisions on one campaign are serialised (the budget is shared).
    let Some(d) = tx
        .fetch_optional(
            "SELECT d.campagne_id, d.structure_id, d.statut, c.budget_centimes
             FROM equipement_demandes d JOIN equipement_campagnes c ON c.id = d.campagne_id
             WHERE d.id = $1",
            crate::args![id],
        )
        .await?
    else {
        return Ok(Err("Cette demande n'existe pas.".into()));
    };
    let campagne = d.int("campagne_id")?;
    crate::db::exec::lock_structure(&mut tx, journal::ADMIN_CHAIN).await?;
    if d.text("statut")? != "deposee" {
        return Ok(Err("Cette demande est déjà instruite.".into()));
    }
    let structure_id = d.int("structure_id")?;
    match decision {
        Decision::Refuser(motif) => {
            let motif = motif.trim();
            if motif.is_empty() || motif.chars().count() > 1_000 {
                return Ok(Err(
                    "Donnez la raison du refus (1 000 caractères au plus) : la structure la lira."
                        .into(),
                ));
            }
            tx.execute(
                "UPDATE equipement_demandes SET statut = 'refusee', motif = $1, decidee_le = $2,
                     decidee_par = $3 WHERE id = $4",
                crate::args![motif, now, by, id],
            )
            .await?;
        }
        Decision::Allouer(lines) => {
            let known = tx
                .fetch_all(
                    "SELECT id, quantite FROM equipement_lignes WHERE demande_id = $1",
                    crate::args![id],
                )
                .await?;
            let mut total: i64 = 0;
            for (line, q, price) in lines {
                let Some(k) = known.iter().find(|k| k.int("id").is_ok_and(|x| x == *line)) else {
                    return Ok(Err(
                        "Une ligne de la demande est inconnue : rechargez la page.".into(),
                    ));
                };
                let asked = k.int("quantite")?;
                if *q < 0 || *q > asked {
                    return Ok(Err(format!(
                        "La quantité accordée va de 0 à la quantité demandée ({asked})."
                    )));
                }
                if *price < 0 || *price > 100_000_000 {
                    return Ok(Err(
                        "Le prix unitaire est en euros, entre 0 et 1 000 000.".into()
                    ));
                }
                total += q * price;
            }
            if total <= 0 {
                return Ok(Err(
                    "Rien n'est accordé : indiquez des quantités et des prix, ou refusez la demande.".into(),
                ));
            }
            let engaged = tx
                .fetch_one(
                    "SELECT CAST(COALESCE(SUM(montant_centimes), 0) AS BIGINT) AS s FROM equipement_demandes
                     WHERE campagne_id = $1 AND statut IN ('allouee', 'livree')",
                    crate::args![campagne],
                )
                .await?
                .int("s")?;
            let budget = d.int("budget_centimes")?;
            if engaged + total > budget {
                return Ok(Err(format!(
                    "Le budget ne suffit pas : {} demandés, {} restants sur {}.",
                    euros(total),
                    euros(budget - engaged),
                    euros(budget)
                )));
            }
            for (line, q, price) in lines {
                tx.execute(
                    "UPDATE equipement_lignes SET quantite_allouee = $1, prix_unitaire_centimes = $2
                     WHERE id = $3 AND demande_id = $4",
                    crate::args![*q, *price, *line, id],
                )
                .await?;
            }
            tx.execute(
                "UPDATE equipement_demandes SET statut = 'allouee', montant_centimes = $1,
                     decidee_le = $2, decidee_par = $3 WHERE id = $4",
                crate::args![total, now, by, id],
            )
            .await?;
        }
    }
    let entry = NewEntry::new(structure_id, Action::EquipementDecision)
        .account(by)
        .details(serde_json::json!({
            "demande": id,
            "accordee": matches!(decision, Decision::Allouer(_)),
        }));
    journal::append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// A delivery of one line: supplier, day, origin and one serial number a device.
#[derive(Debug, Default, Clone)]
pub struct LivraisonForm {
    pub ligne: String,
    pub fournisseur: String,
    pub date: String,
    pub origine: String,
    pub numeros: String,
}

/// Records a delivery (all its devices or none); the application is delivered
/// once every allocated device is.
pub async fn deliver(
    db: &Db,
    demande_id: i64,
    f: &LivraisonForm,
    by: i64,
    now: i64,
) -> Result<Result<usize, Vec<(&'static str, String)>>, crate::db::Error> {
    let mut e: Vec<(&'static str, String)> = Vec::new();
    let fournisseur = f.fournisseur.trim();
    if fournisseur.is_empty() || fournisseur.chars().count() > 150 {
        e.push((
            "fournisseur",
            "Indiquez le fournisseur (150 caractères au plus).".into(),
        ));
    }
    let date = crate::time_fr::parse_date(&f.date);
    if date.is_none_or(|d| d > now + 86_400) {
        e.push((
            "date",
            "Indiquez la date de livraison, pas dans le futur.".into(),
        ));
    }
    if !ORIGINES.iter().any(|(k, _)| *k == f.origine) {
        e.push(("origine", "Choisissez : reconditionné ou neuf.".into()));
    }
    let mut numeros: Vec<String> = Vec::new();
    for (i, n) in f
        .numeros
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .enumerate()
    {
        if n.chars().count() > 80 || n.chars().any(char::is_control) {
            e.push((
                "numeros",
                format!(
                    "Ligne {} : un numéro de série fait 80 caractères au plus.",
                    i + 1
                ),
            ));
        } else if numeros.iter().any(|x| x == n) {
            e.push((
                "numeros",
                format!("Ligne {} : « {n} » figure deux fois.", i + 1),
            ));
        } else {
            numeros.push(n.to_owned());
        }
        if i >= QUANTITE_MAX as usize {
            e.push((
                "numeros",
                format!("{QUANTITE_MAX} numéros au plus par livraison."),
            ));
            break;
        }
    }
    if numeros.is_empty() && !e.iter().any(|(k, _)| *k == "numeros") {
        e.push((
            "numeros",
            "Saisissez un numéro de série par ligne, un par appareil livré.".into(),
        ));
    }
    let ligne = f.ligne.parse::<i64>().unwrap_or(0);
    if !e.is_empty() {
        return Ok(Err(e));
    }
    let mut tx = db.begin().await?;
    let Some(l) = tx
        .fetch_optional(
            "SELECT l.type, l.quantite_allouee, l.livres, d.structure_id, d.statut
             FROM equipement_lignes l JOIN equipement_demandes d ON d.id = l.demande_id
             WHERE l.id = $1 AND l.demande_id = $2",
            crate::args![ligne, demande_id],
        )
        .await?
    else {
        return Ok(Err(vec![(
            "ligne",
            "Choisissez l'équipement livré dans la liste.".into(),
        )]));
    };
    if !matches!(l.text("statut")?.as_str(), "allouee") {
        return Ok(Err(vec![(
            "ligne",
            "Cette demande n'est pas accordée, ou déjà livrée.".into(),
        )]));
    }
    let reste = l.int("quantite_allouee")? - l.int("livres")?;
    if numeros.len() as i64 > reste {
        return Ok(Err(vec![(
            "numeros",
            format!(
                "{} numéros pour {reste} appareil(s) restant à livrer sur cette ligne.",
                numeros.len()
            ),
        )]));
    }
    for n in &numeros {
        let dup = tx
            .fetch_optional(
                "SELECT id FROM equipements WHERE fournisseur = $1 AND numero_serie = $2",
                crate::args![fournisseur, n.as_str()],
            )
            .await?;
        if dup.is_some() {
            return Ok(Err(vec![(
                "numeros",
                format!("Le numéro « {n} » de ce fournisseur est déjà enregistré."),
            )]));
        }
    }
    let structure_id = l.int("structure_id")?;
    let type_ = l.text("type")?;
    for n in &numeros {
        tx.execute(
            "INSERT INTO equipements (structure_id, ligne_id, type, numero_serie, fournisseur, origine,
                 livre_le, etat, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'en_service', $8)",
            crate::args![
                structure_id,
                ligne,
                &type_,
                n.as_str(),
                fournisseur,
                f.origine.as_str(),
                date.unwrap_or(now),
                now
            ],
        )
        .await?;
    }
    tx.execute(
        "UPDATE equipement_lignes SET livres = livres + $1 WHERE id = $2",
        crate::args![numeros.len() as i64, ligne],
    )
    .await?;
    let pending = tx
        .fetch_one(
            "SELECT CAST(COALESCE(SUM(quantite_allouee - livres), 0) AS BIGINT) AS r FROM equipement_lignes
             WHERE demande_id = $1",
            crate::args![demande_id],
        )
        .await?
        .int("r")?;
    if pending == 0 {
        tx.execute(
            "UPDATE equipement_demandes SET statut = 'livree' WHERE id = $1",
            crate::args![demande_id],
        )
        .await?;
    }
    let entry = NewEntry::new(structure_id, Action::EquipementLivraison)
        .account(by)
        .details(serde_json::json!({ "demande": demande_id, "appareils": numeros.len() }));
    journal::append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(Ok(numeros.len()))
}

// ---------------------------------------------------------------------------
// Inventory and loans

#[derive(Debug, Clone)]
pub struct Appareil {
    pub id: i64,
    pub type_: String,
    pub numero_serie: String,
    pub fournisseur: String,
    pub origine: String,
    pub livre_le: i64,
    pub etat: String,
    /// The current loan: borrower, due day, overdue.
    pub pret: Option<(i64, String, i64)>,
}

pub async fn inventory(db: &Db, structure_id: i64) -> Result<Vec<Appareil>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT e.*, p.id AS pret_id, p.personne, p.retour_prevu, a.full_name
             FROM equipements e
             LEFT JOIN equipement_prets p ON p.equipement_id = e.id AND p.rendu_le IS NULL
             LEFT JOIN accounts a ON a.id = p.account_id
             WHERE e.structure_id = $1 ORDER BY e.type, e.id LIMIT 5000",
            crate::args![structure_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let pret = match r.opt_int("pret_id")? {
                Some(pid) => Some((
                    pid,
                    r.opt_text("full_name")?
                        .or(r.opt_text("personne")?)
                        .unwrap_or_default(),
                    r.int("retour_prevu")?,
                )),
                None => None,
            };
            Ok(Appareil {
                id: r.int("id")?,
                type_: r.text("type")?,
                numero_serie: r.text("numero_serie")?,
                fournisseur: r.text("fournisseur")?,
                origine: r.text("origine")?,
                livre_le: r.int("livre_le")?,
                etat: r.text("etat")?,
                pret,
            })
        })
        .collect()
}

/// Changes a device's state (not to or from « prêté »: loans do that).
pub async fn set_state(
    db: &Db,
    structure_id: i64,
    id: i64,
    etat: &str,
) -> Result<Result<(), &'static str>, crate::db::Error> {
    if !matches!(etat, "en_service" | "en_panne" | "reforme") {
        return Ok(Err("Choisissez : en service, en panne ou réformé."));
    }
    let n = db
        .execute(
            "UPDATE equipements SET etat = $1 WHERE id = $2 AND structure_id = $3 AND etat <> 'prete'",
            crate::args![etat, id, structure_id],
        )
        .await?;
    if n == 0 {
        return Ok(Err(
            "Cet appareil est prêté : enregistrez d'abord son retour.",
        ));
    }
    Ok(Ok(()))
}

/// Lends a device in service to a mediator of the structure (`account`) or to a
/// person (first name), until `retour` (`YYYY-MM-DD`).
pub async fn lend(
    db: &Db,
    structure_id: i64,
    id: i64,
    account: Option<i64>,
    personne: &str,
    retour: &str,
    now: i64,
) -> Result<Result<(), Vec<(&'static str, String)>>, crate::db::Error> {
    let mut e: Vec<(&'static str, String)> = Vec::new();
    let personne = personne.trim();
    if account.is_none() && (personne.is_empty() || personne.chars().count() > 60) {
        e.push((
            "emprunteur",
            "Choisissez un médiateur, ou le prénom de la personne (60 caractères au plus).".into(),
        ));
    }
    let retour = crate::time_fr::parse_date(retour)
        .map(|d| crate::time_fr::paris_midnight(d + 43_200, 1) - 1);
    if retour.is_none_or(|r| r < now || r > now + 366 * 86_400) {
        e.push((
            "retour",
            "Indiquez la date de retour, dans l'année qui vient.".into(),
        ));
    }
    if !e.is_empty() {
        return Ok(Err(e));
    }
    let mut tx = db.begin().await?;
    if let Some(a) = account {
        let member = tx
            .fetch_optional(
                "SELECT 1 AS x FROM memberships WHERE account_id = $1 AND structure_id = $2
                   AND deactivated_at IS NULL",
                crate::args![a, structure_id],
            )
            .await?;
        if member.is_none() {
            return Ok(Err(vec![(
                "emprunteur",
                "Cette personne ne fait pas partie de la structure.".into(),
            )]));
        }
    }
    let n = tx
        .execute(
            "UPDATE equipements SET etat = 'prete' WHERE id = $1 AND structure_id = $2 AND etat = 'en_service'",
            crate::args![id, structure_id],
        )
        .await?;
    if n == 0 {
        return Ok(Err(vec![(
            "emprunteur",
            "Seul un appareil en service peut être prêté.".into(),
        )]));
    }
    tx.execute(
        "INSERT INTO equipement_prets (equipement_id, account_id, personne, debut, retour_prevu)
         VALUES ($1, $2, $3, $4, $5)",
        crate::args![
            id,
            account,
            account.is_none().then_some(personne),
            now,
            retour.unwrap_or(now)
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// The device comes back: in service again.
pub async fn give_back(
    db: &Db,
    structure_id: i64,
    id: i64,
    now: i64,
) -> Result<bool, crate::db::Error> {
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            "UPDATE equipement_prets SET rendu_le = $1 WHERE equipement_id = $2 AND rendu_le IS NULL
               AND equipement_id IN (SELECT id FROM equipements WHERE structure_id = $3)",
            crate::args![now, id, structure_id],
        )
        .await?;
    if n > 0 {
        tx.execute(
            "UPDATE equipements SET etat = 'en_service' WHERE id = $1 AND structure_id = $2",
            crate::args![id, structure_id],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(n > 0)
}

pub const REMINDER_JOB: &str = "rappels_prets_equipements";

/// Once a day: each structure's référents get one email listing its overdue
/// loans not yet reminded (no borrower's name in it); each loan is reminded once.
pub async fn remind_overdue(
    db: &Db,
    mailer: &crate::mail::Mailer,
    public_url: &str,
    now: i64,
) -> Result<u64, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT p.id, e.structure_id, s.name FROM equipement_prets p
             JOIN equipements e ON e.id = p.equipement_id JOIN structures s ON s.id = e.structure_id
             WHERE p.rendu_le IS NULL AND p.rappel_le IS NULL AND p.retour_prevu < $1
             ORDER BY e.structure_id LIMIT 10000",
            crate::args![now],
        )
        .await?;
    let mut by_structure: std::collections::BTreeMap<i64, (String, Vec<i64>)> =
        std::collections::BTreeMap::new();
    for r in rows {
        by_structure
            .entry(r.int("structure_id")?)
            .or_insert_with(|| (r.text("name").unwrap_or_default(), Vec::new()))
            .1
            .push(r.int("id")?);
    }
    let mut sent = 0;
    for (sid, (name, loans)) in by_structure {
        let to = db
            .fetch_all(
                "SELECT a.email FROM memberships m JOIN accounts a ON a.id = m.account_id
                 WHERE m.structure_id = $1 AND m.role = 'referent' AND m.deactivated_at IS NULL
                   AND a.disabled_at IS NULL",
                crate::args![sid],
            )
            .await?;
        let link = format!("{public_url}/structures/{sid}/equipements");
        for r in to {
            let mail =
                crate::mail::messages::loans_overdue(&r.text("email")?, &name, loans.len(), &link);
            if let Err(e) = mailer.send(mail).await {
                tracing::warn!(cause = %e, "rappel de prêts d'équipement non envoyé");
            }
        }
        for id in &loans {
            db.execute(
                "UPDATE equipement_prets SET rappel_le = $1 WHERE id = $2",
                crate::args![now, *id],
            )
            .await?;
        }
        sent += 1;
    }
    Ok(sent)
}

/// The daily reminder, once across servers, at 09:00 Paris time.
pub async fn run_if_due(
    db: &Db,
    mailer: &crate::mail::Mailer,
    public_url: &str,
    now: i64,
) -> Result<Option<u64>, crate::db::Error> {
    if !crate::jobs::claim(db, REMINDER_JOB, now).await? {
        return Ok(None);
    }
    let n = remind_overdue(db, mailer, public_url, now).await?;
    let purged = purge(db, now).await?;
    let next = crate::time_fr::paris_midnight(now, 1) + 9 * 3_600;
    let summary = format!(
        "{n} structure(s) prévenue(s) de prêts en retard, {purged} emprunteur(s) effacé(s)"
    );
    crate::jobs::finish(db, REMINDER_JOB, now, next, &summary).await?;
    Ok(Some(n))
}

/// A person's first name goes three months after the device came back.
pub async fn purge(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    db.execute(
        "UPDATE equipement_prets SET personne = NULL
         WHERE personne IS NOT NULL AND rendu_le IS NOT NULL AND rendu_le <= $1",
        crate::args![now - PRET_RETENTION_SECONDS],
    )
    .await
}

// ---------------------------------------------------------------------------
// Figures

/// One line per département and campaign.
#[derive(Debug, Clone)]
pub struct Chiffre {
    pub departement: String,
    pub campagne: String,
    pub demandes: i64,
    pub engage_centimes: i64,
    pub livres: i64,
    pub en_service: i64,
}

pub async fn figures(db: &Db) -> Result<Vec<Chiffre>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT s.commune_insee, c.nom, d.id, d.statut, d.montant_centimes,
                    (SELECT COUNT(*) FROM equipements e JOIN equipement_lignes l ON l.id = e.ligne_id
                     WHERE l.demande_id = d.id) AS livres,
                    (SELECT COUNT(*) FROM equipements e JOIN equipement_lignes l ON l.id = e.ligne_id
                     WHERE l.demande_id = d.id AND e.etat IN ('en_service', 'prete')) AS en_service
             FROM equipement_demandes d
             JOIN equipement_campagnes c ON c.id = d.campagne_id
             JOIN structures s ON s.id = d.structure_id
             ORDER BY c.nom",
            crate::args![],
        )
        .await?;
    let mut map: std::collections::BTreeMap<(String, String), Chiffre> =
        std::collections::BTreeMap::new();
    for r in rows {
        let dep = crate::pilotage::departement_of(&r.text("commune_insee")?).to_owned();
        let camp = r.text("nom")?;
        let e = map
            .entry((dep.clone(), camp.clone()))
            .or_insert_with(|| Chiffre {
                departement: dep,
                campagne: camp,
                demandes: 0,
                engage_centimes: 0,
                livres: 0,
                en_service: 0,
            });
        e.demandes += 1;
        if matches!(r.text("statut")?.as_str(), "allouee" | "livree") {
            e.engage_centimes += r.int("montant_centimes")?;
        }
        e.livres += r.int("livres")?;
        e.en_service += r.int("en_service")?;
    }
    Ok(map.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_euros() {
        assert_eq!(parse_euros("250 000"), Some(25_000_000));
        assert_eq!(parse_euros("1 234,5 €"), Some(123_450));
        assert_eq!(parse_euros("12.05"), Some(1_205));
        assert_eq!(parse_euros("-3"), None);
        assert_eq!(parse_euros("abc"), None);
        assert_eq!(parse_euros("1,234"), None);
        assert_eq!(
            euros(123_450),
            format!("{},50 €", crate::domain::thousands(1_234))
        );
        assert_eq!(euros(500), "5 €");
    }
}
