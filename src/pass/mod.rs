//! Pass numérique (domain.md §6): a funder orders carnets of pass with
//! restrictions; the operator records the payment, which activates them; carnets
//! go to prescripteurs, who hand them out; qualified places redeem each pass at
//! most once; places are paid monthly from statements of what they recorded; an
//! expiry workflow closes each order with a credit note for the unused pass.
//!
//! - Codes: [`code`] (unguessable, with a check symbol). Carnets' PDF: [`carnets`].
//! - Every step is a journal entry: the funder's chain ([`funder_chain`]) for the
//!   order, payment, allocation and expiry; the structure's chain for hand-outs,
//!   qualification, redemptions, cancellations, statements and payments.
//! - A pass is redeemed at most once: the insert of a redemption is the arbiter
//!   (`ON CONFLICT DO NOTHING` on a partial unique index over the redemptions not
//!   cancelled), so concurrent scans on several servers give exactly one success.
//! - Dashboards read counters kept in the redemption's transaction
//!   (`pass_carnets.utilises`, `pass_mois`), never the redemptions themselves.

pub mod carnets;
pub mod code;
pub mod dashboard;
pub mod expiry;
pub mod releves;

use crate::accounts::throttle::Guard;
use crate::db::exec::Exec;
use crate::db::{Db, Tx};
use crate::journal::{self, Action, NewEntry};

/// The journal chain of a funder (structures' chains are their positive ids).
pub fn funder_chain(financeur_id: i64) -> i64 {
    -financeur_id
}

/// Kinds of funders.
pub const FINANCEUR_TYPES: &[(&str, &str)] = &[
    ("departement", "Département"),
    ("region", "Région"),
    ("epci", "Intercommunalité (EPCI)"),
    ("commune", "Commune"),
    ("ccas", "CCAS ou CIAS"),
    ("caf", "Caisse d'allocations familiales"),
    ("mutuelle", "Mutuelle ou caisse de retraite"),
    ("etat", "Service de l'État"),
    ("entreprise", "Entreprise ou fondation"),
    ("autre", "Autre"),
];

/// The publics an order may target (and a hand-out's eligibility criterion).
pub const PUBLICS: &[(&str, &str)] = &[
    ("seniors", "Personnes de 60 ans et plus"),
    ("jeunes", "Jeunes de 16 à 25 ans"),
    ("demandeurs_emploi", "Demandeurs d'emploi"),
    ("minima_sociaux", "Allocataires des minima sociaux"),
    ("handicap", "Personnes en situation de handicap"),
    ("familles", "Familles et parents"),
    ("habitants", "Habitants du territoire"),
];

/// What a pass pays for.
pub const PRESTATIONS: &[(&str, &str)] = &[
    ("atelier", "Atelier collectif (jusqu'à 2 heures)"),
    ("accompagnement", "Accompagnement individuel"),
];

/// Face value of a pass, in cents.
pub const VALEUR_CENTIMES: i64 = 1_000;
/// The largest order at once (carnets).
pub const CARNETS_MAX: i64 = 50_000;
/// How long a place may cancel a redemption.
pub const CANCEL_WINDOW: i64 = 24 * 3_600;

/// The services of the places standard (its vocabulary).
pub fn services() -> Vec<String> {
    crate::lieux::schema::Schema::standard()
        .field("services")
        .map(|f| f.vocabulary.clone())
        .unwrap_or_default()
}

pub fn label<'a>(list: &'a [(&str, &'a str)], key: &str) -> &'a str {
    list.iter().find(|(k, _)| *k == key).map_or("", |(_, l)| *l)
}

/// `,a,b,` → `[a, b]`.
pub fn split_set(set: &str) -> Vec<String> {
    set.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `a|b` (services: names contain commas) → `[a, b]`.
fn split_services(list: &str) -> Vec<String> {
    list.split('|')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn join_set(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(",{},", items.join(","))
    }
}

/// `YYYYMMDD` + `days`.
pub fn add_days(date: i64, days: i64) -> i64 {
    let d = crate::time_fr::days_from_civil(
        date / 10_000,
        u32::try_from((date / 100) % 100).unwrap_or(1),
        u32::try_from(date % 100).unwrap_or(1),
    ) + days;
    let (y, m, dd) = crate::time_fr::civil_from_days(d);
    y * 10_000 + i64::from(m) * 100 + i64::from(dd)
}

/// Days from `a` to `b` (`YYYYMMDD`).
pub fn days_between(a: i64, b: i64) -> i64 {
    let day = |x: i64| {
        crate::time_fr::days_from_civil(
            x / 10_000,
            u32::try_from((x / 100) % 100).unwrap_or(1),
            u32::try_from(x % 100).unwrap_or(1),
        )
    };
    day(b) - day(a)
}

/// The last day a pass is still accepted: one month after the end of validity
/// (31/12 → 31/01; 30/06 → 30/07; 31/01 → 28 or 29/02).
pub fn last_accepted_day(fin: i64) -> i64 {
    let (y, m, d) = (fin / 10_000, (fin / 100) % 100, fin % 100);
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let month_days = days_between(y * 10_000 + m * 100 + 1, add_months_first(y, m));
    y * 10_000 + m * 100 + d.min(month_days)
}

fn add_months_first(y: i64, m: i64) -> i64 {
    if m == 12 {
        (y + 1) * 10_000 + 101
    } else {
        y * 10_000 + (m + 1) * 100 + 1
    }
}

/// A day typed as `2027-12-31` (a date field) or `31/12/2027`: `YYYYMMDD`.
pub fn parse_day(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let iso = match raw.split('/').collect::<Vec<_>>().as_slice() {
        [d, m, y] => format!("{y}-{m}-{d}"),
        _ => raw.to_owned(),
    };
    let mut it = iso.splitn(3, '-');
    let y: i64 = it.next()?.trim().parse().ok()?;
    let m: u32 = it.next()?.trim().parse().ok()?;
    let d: u32 = it.next()?.trim().parse().ok()?;
    if !(2000..=2100).contains(&y) {
        return None;
    }
    let days = crate::time_fr::days_from_civil(y, m, d);
    (crate::time_fr::civil_from_days(days) == (y, m, d))
        .then_some(y * 10_000 + i64::from(m) * 100 + i64::from(d))
}

/// Errors of the pass lifecycle: a field and its French message, a refusal
/// (shown as is), or the database.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("{1}")]
    Field(&'static str, String),
    #[error("{0}")]
    Refused(String),
    #[error("introuvable")]
    NotFound,
    /// Too many wrong codes from this address or account lately: the seconds
    /// to wait. Nothing about the code was told.
    #[error("trop de codes faux")]
    Blocked(i64),
    #[error(transparent)]
    Db(#[from] crate::db::Error),
}

fn refused<T>(text: impl Into<String>) -> Result<T, PassError> {
    Err(PassError::Refused(text.into()))
}

async fn append(
    tx: &mut Tx,
    chain: i64,
    action: Action,
    account: Option<i64>,
    details: serde_json::Value,
    now: i64,
) -> Result<(), crate::db::Error> {
    let mut e = NewEntry::new(chain, action).details(details);
    if let Some(a) = account {
        e = e.account(a);
    }
    journal::append(tx, &e, now).await?;
    Ok(())
}

/// Inserts a redemption of the pass `$1` (place `$2`, structure `$3`, account
/// `$4`, at `$5`, date `$6`, month `$7`, prestation `$8`, service `$9`, value `$10`)
/// unless the pass has one not cancelled: the partial unique index decides
/// between concurrent scans. Returns the redemption's and the carnet's ids.
macro_rules! redemption_insert {
    () => {
        "INSERT INTO pass_utilisations (pass_id, commande_id, carnet_id, pass_lieu_id,
             structure_id, account_id, at, date, mois, prestation, service, valeur_centimes)
         SELECT p.id, p.commande_id, p.carnet_id, $2, $3, $4, $5, $6, $7, $8, $9, $10
         FROM pass p WHERE p.id = $1
         ON CONFLICT (pass_id) WHERE annulee_le IS NULL DO NOTHING RETURNING id, carnet_id"
    };
}

/// Counts one hand-out (`remis`) or redemption (`utilises`) in `pass_mois`, in
/// the row of `$values` (order, month, département, structure), once per row
/// that `$from` gives (once when empty). The `WHERE` lets SQLite tell the
/// `SELECT` from the upsert.
macro_rules! pass_mois_count {
    (remis, $values:literal, $from:literal) => {
        pass_mois_count!(@ "remis", "1, 0", $values, $from)
    };
    (utilises, $values:literal, $from:literal) => {
        pass_mois_count!(@ "utilises", "0, 1", $values, $from)
    };
    (@ $column:literal, $counts:literal, $values:literal, $from:literal) => {
        concat!(
            "INSERT INTO pass_mois (commande_id, mois, departement, structure_id, remis, utilises)
             SELECT ",
            $values,
            ", ",
            $counts,
            $from,
            " WHERE true
             ON CONFLICT (commande_id, mois, departement, structure_id)
             DO UPDATE SET ",
            $column,
            " = pass_mois.",
            $column,
            " + 1"
        )
    };
}

// ───────────────────────── funders and prescripteurs ─────────────────────────

#[derive(Debug, Clone)]
pub struct Financeur {
    pub id: i64,
    pub nom: String,
    pub kind: String,
    pub siret: String,
}

/// Creates a funder (by the operator).
pub async fn create_financeur(
    db: &Db,
    nom: &str,
    kind: &str,
    siret: &str,
    by: i64,
    now: i64,
) -> Result<i64, PassError> {
    let nom = nom.trim();
    if nom.is_empty() || nom.chars().count() > 200 {
        return Err(PassError::Field(
            "nom",
            "Saisissez le nom du financeur (200 caractères au plus).".into(),
        ));
    }
    if !FINANCEUR_TYPES.iter().any(|(k, _)| *k == kind) {
        return Err(PassError::Field(
            "type",
            "Choisissez le type de financeur dans la liste.".into(),
        ));
    }
    let siret: String = siret.chars().filter(|c| !c.is_whitespace()).collect();
    if !siret.is_empty() && check_siret(&siret).is_none() {
        return Err(PassError::Field(
            "siret",
            "Ce SIRET n'est pas valide (14 chiffres et une clé de contrôle) : vérifiez-le, ou laissez le champ vide.".into(),
        ));
    }
    let mut tx = db.begin().await?;
    let id = tx
        .fetch_one(
            "INSERT INTO pass_financeurs (nom, type, siret, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
            crate::args![nom, kind, &siret, now],
        )
        .await?
        .int("id")?;
    append(
        &mut tx,
        funder_chain(id),
        Action::PassFinanceur,
        Some(by),
        serde_json::json!({ "financeur": id, "nom": nom, "type": kind }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn financeurs(db: &Db) -> Result<Vec<Financeur>, crate::db::Error> {
    db.fetch_all(
        "SELECT id, nom, type, siret FROM pass_financeurs ORDER BY nom, id",
        crate::args![],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Financeur {
            id: r.int("id")?,
            nom: r.text("nom")?,
            kind: r.text("type")?,
            siret: r.text("siret")?,
        })
    })
    .collect()
}

pub async fn financeur(db: &Db, id: i64) -> Result<Option<Financeur>, crate::db::Error> {
    Ok(financeurs(db).await?.into_iter().find(|f| f.id == id))
}

/// The funder an account works for, if any.
pub async fn financeur_of(db: &Db, account_id: i64) -> Result<Option<i64>, crate::db::Error> {
    db.fetch_optional(
        "SELECT financeur_id FROM pass_financeur_membres WHERE account_id = $1
         ORDER BY financeur_id LIMIT 1",
        crate::args![account_id],
    )
    .await?
    .map(|r| r.int("financeur_id"))
    .transpose()
}

/// Adds someone to a funder's people: an existing account, or a new one invited
/// (the invitation token is returned to send by email).
pub async fn add_financeur_member(
    db: &Db,
    financeur_id: i64,
    email: &crate::domain::Email,
    full_name: &str,
    by: i64,
    now: i64,
) -> Result<Option<String>, PassError> {
    let mut tx = db.begin().await?;
    let (account_id, token) =
        crate::accounts::invite_person(&mut tx, email, full_name, Some(by).filter(|b| *b > 0), now)
            .await
            .map_err(|e| match e {
                crate::accounts::AccountError::Refused(m) => PassError::Refused(m.to_owned()),
                crate::accounts::AccountError::Db(e) => PassError::Db(e),
                other => PassError::Refused(other.to_string()),
            })?;
    let added = tx
        .execute(
            "INSERT INTO pass_financeur_membres (financeur_id, account_id, created_at)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            crate::args![financeur_id, account_id, now],
        )
        .await?;
    if added == 0 {
        return refused("Cette personne fait déjà partie des agents de ce financeur.");
    }
    append(
        &mut tx,
        funder_chain(financeur_id),
        Action::PassFinanceur,
        Some(by),
        serde_json::json!({ "financeur": financeur_id, "agent_ajoute": account_id }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The funder's people: (name, email).
pub async fn financeur_members(
    db: &Db,
    financeur_id: i64,
) -> Result<Vec<(String, String)>, crate::db::Error> {
    db.fetch_all(
        "SELECT a.full_name, a.email FROM pass_financeur_membres m
         JOIN accounts a ON a.id = m.account_id WHERE m.financeur_id = $1 ORDER BY a.full_name",
        crate::args![financeur_id],
    )
    .await?
    .iter()
    .map(|r| Ok((r.text("full_name")?, r.text("email")?)))
    .collect()
}

/// Makes a structure a prescripteur (hands out carnets).
pub async fn set_prescripteur(
    db: &Db,
    structure_id: i64,
    by: i64,
    now: i64,
) -> Result<(), crate::db::Error> {
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            "INSERT INTO pass_prescripteurs (structure_id, created_at) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            crate::args![structure_id, now],
        )
        .await?;
    if n > 0 {
        append(
            &mut tx,
            structure_id,
            Action::PassPrescripteur,
            Some(by),
            serde_json::json!({ "structure": structure_id }),
            now,
        )
        .await?;
    }
    tx.commit().await
}

pub async fn is_prescripteur(db: &Db, structure_id: i64) -> Result<bool, crate::db::Error> {
    Ok(db
        .fetch_optional(
            "SELECT 1 AS x FROM pass_prescripteurs WHERE structure_id = $1",
            crate::args![structure_id],
        )
        .await?
        .is_some())
}

/// The prescripteurs: (structure id, name).
pub async fn prescripteurs(db: &Db) -> Result<Vec<(i64, String)>, crate::db::Error> {
    db.fetch_all(
        "SELECT s.id, s.name FROM pass_prescripteurs p JOIN structures s ON s.id = p.structure_id
         ORDER BY s.name, s.id",
        crate::args![],
    )
    .await?
    .iter()
    .map(|r| Ok((r.int("id")?, r.text("name")?)))
    .collect()
}

// ───────────────────────── orders ─────────────────────────

/// An order as typed in its form.
#[derive(Debug, Clone, Default)]
pub struct RawOrder {
    pub carnets: String,
    pub pass_par_carnet: String,
    pub territoire_type: String,
    pub territoire: String,
    pub debut: String,
    pub fin: String,
    pub publics: Vec<String>,
    pub services: Vec<String>,
}

impl RawOrder {
    /// Reads the form (repeated `public` and `service` boxes; at most 50 each).
    pub fn parse(body: &[u8]) -> RawOrder {
        let mut f = RawOrder::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            let v: String = v.chars().take(20_000).collect();
            match k.as_ref() {
                "carnets" => f.carnets = v,
                "pass_par_carnet" => f.pass_par_carnet = v,
                "territoire_type" => f.territoire_type = v,
                "territoire" => f.territoire = v,
                "debut" => f.debut = v,
                "fin" => f.fin = v,
                "public" if f.publics.len() < 50 => f.publics.push(v),
                "service" if f.services.len() < 50 => f.services.push(v),
                _ => {}
            }
        }
        f
    }
}

/// A checked order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub carnets: i64,
    pub pass_par_carnet: i64,
    /// `communes`, `epci` or `departements`.
    pub territoire_type: String,
    pub territoire: Vec<String>,
    pub debut: i64,
    pub fin: i64,
    pub publics: Vec<String>,
    pub services: Vec<String>,
}

pub const TERRITOIRE_TYPES: &[(&str, &str)] = &[
    ("departements", "Départements"),
    ("epci", "Intercommunalités (EPCI)"),
    ("communes", "Communes"),
];

/// Checks an order's form; every error beside its field.
pub fn check_order(raw: &RawOrder) -> Result<Order, Vec<(&'static str, String)>> {
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    let carnets = match raw.carnets.trim().parse::<i64>() {
        Ok(n) if (1..=CARNETS_MAX).contains(&n) => n,
        _ => {
            errors.push((
                "carnets",
                format!("Saisissez un nombre de carnets entre 1 et {CARNETS_MAX}."),
            ));
            0
        }
    };
    let ppc = match raw.pass_par_carnet.trim() {
        "5" => 5,
        "10" => 10,
        _ => {
            errors.push((
                "pass_par_carnet",
                "Choisissez des carnets de 5 ou de 10 pass.".into(),
            ));
            0
        }
    };
    let t = crate::territoires::get();
    let kind = raw.territoire_type.trim().to_owned();
    let mut territoire = Vec::new();
    let items: Vec<&str> = raw
        .territoire
        .split([',', ';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(500)
        .collect();
    match kind.as_str() {
        "departements" | "epci" | "communes" if items.is_empty() => errors.push((
            "territoire",
            "Saisissez au moins un territoire, séparés par des virgules.".into(),
        )),
        "departements" => {
            for i in items {
                let code = i
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_uppercase();
                if t.departement_name(&code).is_some() {
                    territoire.push(code);
                } else {
                    errors.push((
                        "territoire",
                        format!("« {i} » n'est pas un code de département (par exemple 89 ou 2A)."),
                    ));
                }
            }
        }
        "epci" => {
            for i in items {
                let code: String = i.chars().filter(char::is_ascii_digit).collect();
                if code.len() == 9 && !t.members_of(&code).is_empty() {
                    territoire.push(code);
                } else {
                    errors.push((
                        "territoire",
                        format!("« {i} » n'est pas le SIREN d'une intercommunalité (9 chiffres)."),
                    ));
                }
            }
        }
        "communes" => {
            for i in items {
                match t.resolve(i) {
                    Ok(c) => territoire.push(c.code.clone()),
                    Err(m) => errors.push(("territoire", format!("« {i} » : {m}"))),
                }
            }
        }
        _ => errors.push((
            "territoire_type",
            "Choisissez le type de territoire dans la liste.".into(),
        )),
    }
    territoire.sort();
    territoire.dedup();
    let debut = parse_day(&raw.debut);
    let fin = parse_day(&raw.fin);
    if debut.is_none() {
        errors.push((
            "debut",
            "Saisissez la date de début de validité, par exemple 01/01/2027.".into(),
        ));
    }
    if fin.is_none() {
        errors.push((
            "fin",
            "Saisissez la date de fin de validité, par exemple 31/12/2027.".into(),
        ));
    }
    if let (Some(d), Some(f)) = (debut, fin)
        && f < d
    {
        errors.push(("fin", "La fin de validité est avant son début.".into()));
    }
    if let (Some(d), Some(f)) = (debut, fin)
        && days_between(d, f) > 3 * 366
    {
        errors.push(("fin", "Une commande vaut trois ans au plus.".into()));
    }
    let mut publics = Vec::new();
    for p in &raw.publics {
        if PUBLICS.iter().any(|(k, _)| k == p) {
            publics.push(p.clone());
        } else {
            errors.push(("public", "Choisissez les publics dans la liste.".into()));
        }
    }
    let all = services();
    let mut chosen = Vec::new();
    for s in &raw.services {
        if all.contains(s) {
            chosen.push(s.clone());
        } else {
            errors.push(("service", "Choisissez les services dans la liste.".into()));
        }
    }
    publics.dedup();
    chosen.dedup();
    if !errors.is_empty() {
        errors.dedup();
        return Err(errors);
    }
    Ok(Order {
        carnets,
        pass_par_carnet: ppc,
        territoire_type: kind,
        territoire,
        debut: debut.unwrap_or_default(),
        fin: fin.unwrap_or_default(),
        publics,
        services: chosen,
    })
}

/// An order as stored.
#[derive(Debug, Clone)]
pub struct Commande {
    pub id: i64,
    pub financeur_id: i64,
    pub financeur: String,
    pub carnets: i64,
    pub pass_par_carnet: i64,
    pub valeur_centimes: i64,
    pub territoire_type: String,
    pub territoire: Vec<String>,
    pub debut: i64,
    pub fin: i64,
    pub publics: Vec<String>,
    pub services: Vec<String>,
    pub created_at: i64,
    pub paiement_le: Option<i64>,
    pub paiement_reference: String,
    pub alerte_le: Option<i64>,
    pub blocage_le: Option<i64>,
    pub rappel_le: Option<i64>,
    pub accuse_le: Option<i64>,
    pub bilan_le: Option<i64>,
    pub bilan_financeur_le: Option<i64>,
    pub bilan_operateur_le: Option<i64>,
    pub avoir_centimes: Option<i64>,
    pub avoir_le: Option<i64>,
}

impl Commande {
    pub fn number(&self) -> String {
        format!("PN-{:06}", self.id)
    }
    pub fn total_centimes(&self) -> i64 {
        self.carnets * self.pass_par_carnet * self.valeur_centimes
    }
    /// « Yonne (89), Nièvre (58) », « 3 communes : Auxerre (89), … ».
    pub fn territoire_label(&self) -> String {
        let t = crate::territoires::get();
        let names: Vec<String> = self
            .territoire
            .iter()
            .map(|c| match self.territoire_type.as_str() {
                "departements" => format!("{} ({c})", t.departement_name(c).unwrap_or(c)),
                "epci" => {
                    let n = t.members_of(c).len();
                    format!(
                        "intercommunalité {c} ({})",
                        crate::domain::count(n, "commune", "communes")
                    )
                }
                _ => t.label(c),
            })
            .collect();
        names.join(", ")
    }
    pub fn publics_label(&self) -> String {
        if self.publics.is_empty() {
            "Tous publics".to_owned()
        } else {
            self.publics
                .iter()
                .map(|p| label(PUBLICS, p))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
    pub fn services_label(&self) -> String {
        if self.services.is_empty() {
            "Tous les services de médiation numérique".to_owned()
        } else {
            self.services.join(", ")
        }
    }
    pub fn active(&self) -> bool {
        self.paiement_le.is_some()
    }
    /// The day hand-outs stop (J-15).
    pub fn blocking_day(&self) -> i64 {
        add_days(self.fin, -15)
    }
    /// Whether a place in `commune` (INSEE code) is within the territory.
    pub fn covers(&self, commune: &str) -> bool {
        let t = crate::territoires::get();
        let Some(c) = t.commune(commune) else {
            return false;
        };
        let has = |x: &str| self.territoire.iter().any(|y| y == x);
        match self.territoire_type.as_str() {
            "departements" => has(&c.departement),
            "epci" => c.epci.as_deref().is_some_and(has),
            _ => has(&c.code),
        }
    }
}

macro_rules! commande_columns {
    () => {
        "c.id, c.financeur_id, f.nom AS financeur, c.carnets, c.pass_par_carnet, c.valeur_centimes,
         c.territoire_type, c.territoire, c.debut, c.fin, c.publics, c.services, c.created_at,
         c.paiement_le, c.paiement_reference, c.alerte_le, c.blocage_le, c.rappel_le, c.accuse_le,
         c.bilan_le, c.bilan_financeur_le, c.bilan_operateur_le, c.avoir_centimes, c.avoir_le"
    };
}

fn commande_of(r: &crate::db::exec::Rec) -> Result<Commande, crate::db::Error> {
    Ok(Commande {
        id: r.int("id")?,
        financeur_id: r.int("financeur_id")?,
        financeur: r.text("financeur")?,
        carnets: r.int("carnets")?,
        pass_par_carnet: r.int("pass_par_carnet")?,
        valeur_centimes: r.int("valeur_centimes")?,
        territoire_type: r.text("territoire_type")?,
        territoire: split_set(&r.text("territoire")?),
        debut: r.int("debut")?,
        fin: r.int("fin")?,
        publics: split_set(&r.text("publics")?),
        services: split_services(&r.text("services")?),
        created_at: r.int("created_at")?,
        paiement_le: r.opt_int("paiement_le")?,
        paiement_reference: r.text("paiement_reference")?,
        alerte_le: r.opt_int("alerte_le")?,
        blocage_le: r.opt_int("blocage_le")?,
        rappel_le: r.opt_int("rappel_le")?,
        accuse_le: r.opt_int("accuse_le")?,
        bilan_le: r.opt_int("bilan_le")?,
        bilan_financeur_le: r.opt_int("bilan_financeur_le")?,
        bilan_operateur_le: r.opt_int("bilan_operateur_le")?,
        avoir_centimes: r.opt_int("avoir_centimes")?,
        avoir_le: r.opt_int("avoir_le")?,
    })
}

pub async fn commande(db: &Db, id: i64) -> Result<Option<Commande>, crate::db::Error> {
    db.fetch_optional(
        concat!(
            "SELECT ",
            commande_columns!(),
            " FROM pass_commandes c JOIN pass_financeurs f ON f.id = c.financeur_id WHERE c.id = $1"
        ),
        crate::args![id],
    )
    .await?
    .map(|r| commande_of(&r))
    .transpose()
}

/// A funder's orders (all of them with `financeur_id` 0), newest first.
pub async fn commandes(db: &Db, financeur_id: i64) -> Result<Vec<Commande>, crate::db::Error> {
    db.fetch_all(
        concat!(
            "SELECT ",
            commande_columns!(),
            " FROM pass_commandes c JOIN pass_financeurs f ON f.id = c.financeur_id
             WHERE ($1 = 0 OR c.financeur_id = $1) ORDER BY c.id DESC LIMIT 1000"
        ),
        crate::args![financeur_id],
    )
    .await?
    .iter()
    .map(commande_of)
    .collect()
}

/// Records a funder's order: its carnets and their pass, with their codes, in one
/// transaction (inactive until the payment is recorded).
pub async fn order(
    db: &Db,
    financeur_id: i64,
    o: &Order,
    by: i64,
    now: i64,
) -> Result<i64, PassError> {
    let mut tx = db.begin().await?;
    let id = tx
        .fetch_one(
            "INSERT INTO pass_commandes (financeur_id, carnets, pass_par_carnet, valeur_centimes,
                 territoire_type, territoire, debut, fin, publics, services, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            crate::args![
                financeur_id,
                o.carnets,
                o.pass_par_carnet,
                VALEUR_CENTIMES,
                &o.territoire_type,
                join_set(&o.territoire),
                o.debut,
                o.fin,
                join_set(&o.publics),
                o.services.join("|"),
                now,
                by
            ],
        )
        .await?
        .int("id")?;
    generate(&mut tx, id, o.carnets, o.pass_par_carnet).await?;
    append(
        &mut tx,
        funder_chain(financeur_id),
        Action::PassCommande,
        Some(by),
        serde_json::json!({
            "commande": id, "carnets": o.carnets, "pass_par_carnet": o.pass_par_carnet,
            "territoire": o.territoire, "debut": o.debut, "fin": o.fin,
        }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Writes the carnets and pass of an order: one statement per 500 pass
/// (numbers from a recursive sequence, codes passed as one text of 16-symbol
/// codes cut by `substr`).
async fn generate(
    tx: &mut Tx,
    commande_id: i64,
    carnets: i64,
    ppc: i64,
) -> Result<(), crate::db::Error> {
    tx.execute(
        "WITH RECURSIVE seq(n) AS (
             SELECT CAST(1 AS BIGINT) UNION ALL SELECT n + 1 FROM seq WHERE n < $2)
         INSERT INTO pass_carnets (commande_id, numero) SELECT $1, n FROM seq",
        crate::args![commande_id, carnets],
    )
    .await?;
    // Carnets per statement: 50 (500 pass, 8 kB of codes: `substr` walks the
    // text from its start on both databases, so the text stays short).
    const BATCH: i64 = 50;
    let mut first = 1;
    while first <= carnets {
        let last = (first + BATCH - 1).min(carnets);
        let count = (last - first + 1) * ppc;
        let mut codes = String::with_capacity(usize::try_from(count).unwrap_or(0) * code::LEN);
        for _ in 0..count {
            codes.push_str(&code::generate());
        }
        tx.execute(
            "WITH RECURSIVE seq(k) AS (
                 SELECT CAST(0 AS BIGINT) UNION ALL SELECT k + 1 FROM seq WHERE k + 1 < $4)
             INSERT INTO pass (code, carnet_id, commande_id, rang)
             SELECT substr($1, CAST(k * 16 + 1 AS INTEGER), 16), c.id, $2, (k % $5) + 1
             FROM seq JOIN pass_carnets c ON c.commande_id = $2 AND c.numero = $3 + k / $5",
            crate::args![&codes, commande_id, first, count, ppc],
        )
        .await?;
        first = last + 1;
    }
    Ok(())
}

/// The operator records the funder's payment order: the pass become active.
pub async fn record_payment(
    db: &Db,
    commande_id: i64,
    reference: &str,
    by: i64,
    now: i64,
) -> Result<(), PassError> {
    let reference = reference.trim();
    if reference.is_empty() || reference.chars().count() > 100 {
        return Err(PassError::Field(
            "reference",
            "Saisissez la référence de l'ordre de paiement (100 caractères au plus).".into(),
        ));
    }
    let c = commande(db, commande_id)
        .await?
        .ok_or(PassError::NotFound)?;
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            "UPDATE pass_commandes SET paiement_le = $1, paiement_reference = $2
             WHERE id = $3 AND paiement_le IS NULL",
            crate::args![now, reference, commande_id],
        )
        .await?;
    if n == 0 {
        return refused("Le paiement de cette commande est déjà enregistré.");
    }
    append(
        &mut tx,
        funder_chain(c.financeur_id),
        Action::PassPaiementCommande,
        Some(by),
        serde_json::json!({ "commande": commande_id, "reference": reference,
            "montant_centimes": c.total_centimes() }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Allocates carnets `from..=to` (numbers in the order) to a prescripteur.
pub async fn allocate(
    db: &Db,
    commande_id: i64,
    structure_id: i64,
    from: i64,
    to: i64,
    by: i64,
    now: i64,
) -> Result<u64, PassError> {
    let c = commande(db, commande_id)
        .await?
        .ok_or(PassError::NotFound)?;
    if !c.active() {
        return refused(
            "Ces carnets ne sont pas encore actifs : l'opérateur doit d'abord enregistrer le paiement.",
        );
    }
    if crate::activites::today(now) >= c.blocking_day() {
        return refused(
            "La distribution de ces carnets est close (15 jours avant la fin de validité).",
        );
    }
    if !is_prescripteur(db, structure_id).await? {
        return Err(PassError::Field(
            "prescripteur",
            "Choisissez un prescripteur dans la liste.".into(),
        ));
    }
    if from < 1 || to < from || to > c.carnets {
        return Err(PassError::Field(
            "de",
            format!(
                "Choisissez des numéros de carnets entre 1 et {}, le premier avant le dernier.",
                c.carnets
            ),
        ));
    }
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            "UPDATE pass_carnets SET prescripteur_id = $1, alloue_le = $2
             WHERE commande_id = $3 AND numero BETWEEN $4 AND $5 AND remis_le IS NULL",
            crate::args![structure_id, now, commande_id, from, to],
        )
        .await?;
    append(
        &mut tx,
        funder_chain(c.financeur_id),
        Action::PassAllocation,
        Some(by),
        serde_json::json!({ "commande": commande_id, "prescripteur": structure_id,
            "de": from, "a": to, "carnets": n }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// A carnet, with its order.
#[derive(Debug, Clone)]
pub struct Carnet {
    pub id: i64,
    pub commande_id: i64,
    pub numero: i64,
    pub prescripteur_id: Option<i64>,
    pub remis_date: Option<i64>,
    pub utilises: i64,
}

/// The carnet a pass code (any of its pass) belongs to.
pub async fn carnet_of_code(db: &Db, code: &str) -> Result<Option<Carnet>, crate::db::Error> {
    db.fetch_optional(
        "SELECT k.id, k.commande_id, k.numero, k.prescripteur_id, k.remis_date, k.utilises
         FROM pass p JOIN pass_carnets k ON k.id = p.carnet_id WHERE p.code = $1",
        crate::args![code],
    )
    .await?
    .map(|r| {
        Ok(Carnet {
            id: r.int("id")?,
            commande_id: r.int("commande_id")?,
            numero: r.int("numero")?,
            prescripteur_id: r.opt_int("prescripteur_id")?,
            remis_date: r.opt_int("remis_date")?,
            utilises: r.int("utilises")?,
        })
    })
    .transpose()
}

/// An agent of a prescripteur records a hand-out: the carnet (any of its codes),
/// the optional age band and eligibility criterion. Nothing else about the person.
#[allow(clippy::too_many_arguments, reason = "the fields of one hand-out")]
pub async fn hand_out(
    db: &Db,
    structure_id: i64,
    raw_code: &str,
    tranche_age: &str,
    critere: &str,
    by: i64,
    now: i64,
) -> Result<Carnet, PassError> {
    let code = code::parse(raw_code).map_err(|e| PassError::Field("code", e.message()))?;
    let carnet = carnet_of_code(db, &code).await?.ok_or_else(|| {
        PassError::Field(
            "code",
            "Aucun pass ne porte ce code : vérifiez-le sur le carnet.".into(),
        )
    })?;
    let c = commande(db, carnet.commande_id)
        .await?
        .ok_or(PassError::NotFound)?;
    if !tranche_age.is_empty()
        && !crate::activites::vocab::AGES
            .iter()
            .any(|(k, _)| *k == tranche_age)
    {
        return Err(PassError::Field(
            "tranche_age",
            "Choisissez la tranche d'âge dans la liste, ou « non renseignée ».".into(),
        ));
    }
    if !critere.is_empty() && !c.publics.iter().any(|p| p == critere) && !c.publics.is_empty() {
        return Err(PassError::Field(
            "critere",
            "Ce critère ne fait pas partie des publics de ce carnet.".into(),
        ));
    }
    if !critere.is_empty() && !PUBLICS.iter().any(|(k, _)| *k == critere) {
        return Err(PassError::Field(
            "critere",
            "Choisissez le critère dans la liste.".into(),
        ));
    }
    if carnet.prescripteur_id != Some(structure_id) {
        return refused(
            "Ce carnet n'a pas été confié à votre structure : rendez-le au financeur ou à l'opérateur.",
        );
    }
    if !c.active() {
        return refused(
            "Ce carnet n'est pas encore actif : le financeur n'a pas encore payé sa commande.",
        );
    }
    let today = crate::activites::today(now);
    if today >= c.blocking_day() {
        return refused(format!(
            "La distribution de ce carnet est close depuis le {} (15 jours avant la fin de validité) : ne le remettez pas.",
            crate::activites::date_fr(c.blocking_day())
        ));
    }
    let departement = crate::structures::find(db, structure_id)
        .await?
        .and_then(|s| {
            crate::territoires::get()
                .commune(&s.commune_insee)
                .map(|c| c.departement.clone())
        })
        .unwrap_or_default();
    let mut tx = db.begin().await?;
    // The structure's journal lock first (see `redeem`).
    crate::db::exec::lock_structure(&mut tx, structure_id).await?;
    let n = tx
        .execute(
            "UPDATE pass_carnets SET remis_le = $1, remis_date = $2, remis_par = $3,
                 tranche_age = $4, critere = $5
             WHERE id = $6 AND remis_le IS NULL",
            crate::args![now, today, by, tranche_age, critere, carnet.id],
        )
        .await?;
    if n == 0 {
        return refused("Ce carnet a déjà été remis à quelqu'un.");
    }
    tx.execute(
        pass_mois_count!(remis, "$1, $2, $3, $4", ""),
        crate::args![c.id, today / 100, &departement, structure_id],
    )
    .await?;
    append(
        &mut tx,
        structure_id,
        Action::PassRemise,
        Some(by),
        serde_json::json!({ "commande": c.id, "carnet": carnet.numero,
            "tranche_age": tranche_age, "critere": critere }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Carnet {
        remis_date: Some(today),
        ..carnet
    })
}

/// The carnets confided to a prescripteur, not handed out yet: (order, first and
/// last carnet numbers, count).
pub async fn stock(
    db: &Db,
    structure_id: i64,
) -> Result<Vec<(Commande, i64, i64, i64)>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT commande_id, MIN(numero) AS de, MAX(numero) AS a, COUNT(*) AS n
             FROM pass_carnets WHERE prescripteur_id = $1 AND remis_le IS NULL
             GROUP BY commande_id ORDER BY commande_id",
            crate::args![structure_id],
        )
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        if let Some(c) = commande(db, r.int("commande_id")?).await? {
            out.push((c, r.int("de")?, r.int("a")?, r.int("n")?));
        }
    }
    Ok(out)
}

// ───────────────────────── qualified places ─────────────────────────

/// The eligibility questions a place answers once.
pub const QUESTIONS: &[(&str, &str)] = &[
    (
        "mediation",
        "Le lieu propose des ateliers ou des accompagnements de médiation numérique.",
    ),
    (
        "gratuit",
        "La personne ne paie rien de plus que son pass pour la prestation.",
    ),
    (
        "professionnel",
        "Les prestations sont assurées par un médiateur numérique formé (conseiller numérique, titulaire d'une certification ou équivalent).",
    ),
    (
        "accessible",
        "Le lieu accueille le public au moins une demi-journée par semaine.",
    ),
];

#[derive(Debug, Clone, Default)]
pub struct RawQualification {
    pub siret: String,
    pub commune: String,
    pub lieu: String,
    pub services: Vec<String>,
    pub reponses: Vec<String>,
    pub iban: String,
    pub bic: String,
    pub titulaire: String,
}

impl RawQualification {
    pub fn parse(body: &[u8]) -> RawQualification {
        let mut f = RawQualification::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            let v: String = v.chars().take(1_000).collect();
            match k.as_ref() {
                "siret" => f.siret = v,
                "commune" => f.commune = v,
                "lieu" => f.lieu = v,
                "iban" => f.iban = v,
                "bic" => f.bic = v,
                "titulaire" => f.titulaire = v,
                "service" if f.services.len() < 50 => f.services.push(v),
                "reponse" if f.reponses.len() < 50 => f.reponses.push(v),
                _ => {}
            }
        }
        f
    }
}

/// Checks an IBAN: 15 to 34 characters, the country code, mod-97 check.
pub fn check_iban(raw: &str) -> Option<String> {
    let iban: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    if !(15..=34).contains(&iban.len()) || !iban.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = c.to_digit(36)?;
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    (rem == 1 && iban.get(..2)?.bytes().all(|b| b.is_ascii_uppercase())).then_some(iban)
}

/// A SIRET checked by the one SIRET rule of the product ([`crate::domain::Siret`]:
/// 14 digits, Luhn key, La Poste's rule), normalised.
pub fn check_siret(raw: &str) -> Option<String> {
    crate::domain::Siret::parse(raw)
        .ok()
        .map(|s| s.as_str().to_owned())
}

/// A qualification request or decision.
#[derive(Debug, Clone)]
pub struct Qualification {
    pub id: i64,
    pub structure_id: i64,
    pub structure: String,
    pub siret: String,
    pub commune_insee: String,
    pub lieu_id: Option<i64>,
    pub services: Vec<String>,
    pub statut: String,
    pub motif: String,
    pub created_at: i64,
    pub iban_end: String,
}

fn qualification_of(r: &crate::db::exec::Rec) -> Result<Qualification, crate::db::Error> {
    let iban = r.text("iban")?;
    Ok(Qualification {
        id: r.int("id")?,
        structure_id: r.int("structure_id")?,
        structure: r.text("name")?,
        siret: r.text("siret")?,
        commune_insee: r.text("commune_insee")?,
        lieu_id: r.opt_int("lieu_id")?,
        services: split_services(&r.text("services")?),
        statut: r.text("statut")?,
        motif: r.text("motif")?,
        created_at: r.int("created_at")?,
        // Bank details are shown masked.
        iban_end: iban
            .get(iban.len().saturating_sub(4)..)
            .unwrap_or_default()
            .to_owned(),
    })
}

macro_rules! qualification_sql {
    ($($rest:tt)*) => {
        concat!(
            "SELECT q.id, q.structure_id, s.name, q.siret, q.commune_insee, q.lieu_id, q.services,
                    q.statut, q.motif, q.created_at, q.iban
             FROM pass_lieux q JOIN structures s ON s.id = q.structure_id ",
            $($rest)*
        )
    };
}

pub async fn qualifications(
    db: &Db,
    structure_id: i64,
) -> Result<Vec<Qualification>, crate::db::Error> {
    db.fetch_all(
        qualification_sql!(
            "WHERE ($1 = 0 OR q.structure_id = $1)
             ORDER BY CASE q.statut WHEN 'demande' THEN 0 ELSE 1 END, q.id DESC LIMIT 2000"
        ),
        crate::args![structure_id],
    )
    .await?
    .iter()
    .map(qualification_of)
    .collect()
}

pub async fn qualification(db: &Db, id: i64) -> Result<Option<Qualification>, crate::db::Error> {
    db.fetch_optional(qualification_sql!("WHERE q.id = $1"), crate::args![id])
        .await?
        .map(|r| qualification_of(&r))
        .transpose()
}

/// A structure applies to accept pass (once per SIRET).
pub async fn apply(
    db: &Db,
    structure_id: i64,
    raw: &RawQualification,
    by: i64,
    now: i64,
) -> Result<i64, Vec<(&'static str, String)>> {
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    let siret = check_siret(&raw.siret);
    if siret.is_none() {
        errors.push((
            "siret",
            "Ce SIRET n'est pas valide : 14 chiffres, vérifiez-le sur l'avis de situation INSEE."
                .into(),
        ));
    }
    let commune = match crate::territoires::get().resolve(&raw.commune) {
        Ok(c) => Some(c.code.clone()),
        Err(m) => {
            errors.push(("commune", m));
            None
        }
    };
    let all = services();
    let chosen: Vec<String> = raw
        .services
        .iter()
        .filter(|s| all.contains(s))
        .cloned()
        .collect();
    if chosen.is_empty() || chosen.len() != raw.services.len() {
        errors.push((
            "service",
            "Cochez au moins un service que le lieu propose, dans la liste.".into(),
        ));
    }
    for (k, _) in QUESTIONS {
        if !raw.reponses.iter().any(|r| r == k) {
            errors.push((
                "reponse",
                "Le lieu doit remplir chacune des conditions pour être qualifié : cochez-les si elles sont vraies."
                    .into(),
            ));
            break;
        }
    }
    let iban = check_iban(&raw.iban);
    if iban.is_none() {
        errors.push((
            "iban",
            "Cet IBAN n'est pas valide : recopiez-le depuis le relevé d'identité bancaire.".into(),
        ));
    }
    let bic: String = raw.bic.trim().to_uppercase();
    if !(bic.len() == 8 || bic.len() == 11) || !bic.bytes().all(|b| b.is_ascii_alphanumeric()) {
        errors.push((
            "bic",
            "Le BIC compte 8 ou 11 lettres et chiffres : recopiez-le depuis le RIB.".into(),
        ));
    }
    let titulaire = raw.titulaire.trim();
    if titulaire.is_empty() || titulaire.chars().count() > 200 {
        errors.push((
            "titulaire",
            "Saisissez le titulaire du compte, comme sur le RIB.".into(),
        ));
    }
    let lieu: Option<i64> = raw.lieu.trim().parse().ok();
    let (Some(siret), Some(commune), Some(iban)) = (siret, commune, iban) else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let db_err = |e: crate::db::Error| vec![("siret", format!("Erreur d'enregistrement : {e}"))];
    let mut tx = db.begin().await.map_err(db_err)?;
    let id = tx
        .fetch_optional(
            "INSERT INTO pass_lieux (structure_id, siret, lieu_id, commune_insee, services, reponses,
                 iban, bic, titulaire, statut, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'demande', $10, $11)
             ON CONFLICT (siret) DO NOTHING RETURNING id",
            crate::args![
                structure_id,
                &siret,
                lieu,
                &commune,
                chosen.join("|"),
                raw.reponses.join(","),
                &iban,
                &bic,
                titulaire,
                now,
                by
            ],
        )
        .await
        .map_err(db_err)?;
    let Some(id) = id else {
        return Err(vec![(
            "siret",
            "Ce SIRET a déjà demandé sa qualification : un lieu se qualifie une fois.".into(),
        )]);
    };
    let id = id.int("id").map_err(db_err)?;
    append(
        &mut tx,
        structure_id,
        Action::PassQualificationDemandee,
        Some(by),
        serde_json::json!({ "demande": id, "siret": siret, "commune": commune }),
        now,
    )
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(id)
}

/// The operator qualifies or refuses a place.
pub async fn decide(
    db: &Db,
    id: i64,
    qualify: bool,
    motif: &str,
    by: i64,
    now: i64,
) -> Result<(), PassError> {
    let q = qualification(db, id).await?.ok_or(PassError::NotFound)?;
    let motif = motif.trim();
    if !qualify && motif.is_empty() {
        return Err(PassError::Field(
            "motif",
            "Expliquez au lieu pourquoi il n'est pas qualifié, et ce qu'il peut faire.".into(),
        ));
    }
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            "UPDATE pass_lieux SET statut = $1, motif = $2, decide_le = $3, decide_par = $4
             WHERE id = $5 AND statut = 'demande'",
            crate::args![
                if qualify { "qualifie" } else { "refuse" },
                motif,
                now,
                by,
                id
            ],
        )
        .await?;
    if n == 0 {
        return refused("Cette demande a déjà été instruite.");
    }
    if qualify && let Some(lieu) = q.lieu_id {
        tx.execute(
            "UPDATE lieux SET facets = facets | 4611686018427387904 WHERE id = $1",
            crate::args![lieu],
        )
        .await?;
    }
    append(
        &mut tx,
        q.structure_id,
        Action::PassQualification,
        Some(by),
        serde_json::json!({ "demande": id, "qualifie": qualify, "motif": motif }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The id of the qualified place of the structure `$structure` (its latest
/// qualification granted), as an SQL value: the one definition for
/// [`qualified_place`] and for the redemption's reading.
macro_rules! qualified_place_id {
    ($structure:literal) => {
        concat!(
            "(SELECT MAX(id) FROM pass_lieux WHERE structure_id = ",
            $structure,
            " AND statut = 'qualifie')"
        )
    };
}

/// The qualified place of a structure, if it has one.
pub async fn qualified_place(
    db: &Db,
    structure_id: i64,
) -> Result<Option<Qualification>, crate::db::Error> {
    db.fetch_optional(
        qualification_sql!(concat!("WHERE q.id = ", qualified_place_id!("$1"))),
        crate::args![structure_id],
    )
    .await?
    .map(|r| qualification_of(&r))
    .transpose()
}

// ───────────────────────── redemption ─────────────────────────

/// What anyone may know of a pass: never who holds it.
#[derive(Debug, Clone)]
pub struct PassView {
    pub id: i64,
    pub code: String,
    pub commande: Commande,
    pub carnet_numero: i64,
    pub rang: i64,
    /// The redemption not cancelled: (date `YYYYMMDD`, place's structure id, id).
    pub used: Option<(i64, i64, i64)>,
}

impl PassView {
    /// Whether it can be redeemed on `today`, or why not, in plain French.
    pub fn validity(&self, today: i64) -> Result<(), String> {
        let c = &self.commande;
        if let Some((date, _, _)) = self.used {
            return Err(format!(
                "Ce pass a déjà été utilisé le {}. Un pass ne sert qu'une fois.",
                crate::activites::date_fr(date)
            ));
        }
        if !c.active() {
            return Err(
                "Ce pass n'est pas encore actif : son financeur n'a pas encore payé la commande. Revenez plus tard."
                    .into(),
            );
        }
        if today < c.debut {
            return Err(format!(
                "Ce pass ne sera valable qu'à partir du {}.",
                crate::activites::date_fr(c.debut)
            ));
        }
        let last = last_accepted_day(c.fin);
        if today > last {
            return Err(format!(
                "Ce pass a expiré : il était valable jusqu'au {} (accepté jusqu'au {}).",
                crate::activites::date_fr(c.fin),
                crate::activites::date_fr(last)
            ));
        }
        Ok(())
    }
}

/// What is read of a pass — its order and its redemption not cancelled — as
/// [`pass_view_of`] reads it: the select list and joins, for `WHERE p.code = …`.
macro_rules! pass_view_sql {
    ($where:literal) => {
        concat!(
            "SELECT p.id AS pass_id, p.code, p.rang, k.numero,
                    u.date AS u_date, u.structure_id AS u_structure, u.id AS u_id, ",
            commande_columns!(),
            " FROM pass p JOIN pass_carnets k ON k.id = p.carnet_id
             JOIN pass_commandes c ON c.id = p.commande_id
             JOIN pass_financeurs f ON f.id = c.financeur_id
             LEFT JOIN pass_utilisations u ON u.pass_id = p.id AND u.annulee_le IS NULL ",
            $where
        )
    };
}

/// The pass of a row of [`pass_view_sql!`]; `None` when the row has none (an
/// outer join found no pass).
fn pass_view_of(r: &crate::db::exec::Rec) -> Result<Option<PassView>, crate::db::Error> {
    let Some(id) = r.opt_int("pass_id")? else {
        return Ok(None);
    };
    let used = match (
        r.opt_int("u_date")?,
        r.opt_int("u_structure")?,
        r.opt_int("u_id")?,
    ) {
        (Some(d), Some(s), Some(i)) => Some((d, s, i)),
        _ => None,
    };
    Ok(Some(PassView {
        id,
        code: r.text("code")?,
        commande: commande_of(r)?,
        carnet_numero: r.int("numero")?,
        rang: r.int("rang")?,
        used,
    }))
}

/// The pass with this code, its order and its redemption not cancelled: one
/// statement (it is read on every scan).
pub async fn find_pass(db: &Db, code: &str) -> Result<Option<PassView>, crate::db::Error> {
    match db
        .fetch_optional(pass_view_sql!("WHERE p.code = $1"), crate::args![code])
        .await?
    {
        Some(r) => pass_view_of(&r),
        None => Ok(None),
    }
}

/// What a redemption checks before its transaction, read in one statement.
struct RedemptionContext {
    /// `guard`'s wrong-code counters block the check: the wait.
    blocked: Option<i64>,
    /// The structure's qualified place (as [`qualified_place`] would find it):
    /// its id, services and commune.
    place: Option<(i64, Vec<String>, String)>,
    /// The pass with this code.
    pass: Option<PassView>,
}

async fn redemption_context(
    db: &Db,
    structure_id: i64,
    code: &str,
    guard: &Guard<'_>,
    now: i64,
) -> Result<RedemptionContext, crate::db::Error> {
    use crate::db::exec::Arg;
    let args: Vec<Arg<'_>> = [Arg::Text(code), Arg::Int(structure_id)]
        .into_iter()
        .chain(guard.args(now))
        .collect();
    let r = db
        .fetch_one(
            concat!(
                "SELECT ",
                crate::throttle_until!("$3", "$4", "$5", "$6", "$7", "$8", "$9"),
                " AS codes_bloques_jusqu_a,
                        q.id AS lieu_qualifie, q.services AS lieu_services,
                        q.commune_insee AS lieu_commune, pv.*
                 FROM (SELECT 1 AS un) un
                 LEFT JOIN pass_lieux q ON q.id = ",
                qualified_place_id!("$2"),
                "
                 LEFT JOIN (",
                pass_view_sql!("WHERE p.code = $1"),
                ") pv ON 1 = 1"
            ),
            &args,
        )
        .await?;
    let place = match r.opt_int("lieu_qualifie")? {
        Some(id) => Some((
            id,
            split_services(&r.text("lieu_services")?),
            r.text("lieu_commune")?,
        )),
        None => None,
    };
    Ok(RedemptionContext {
        blocked: Guard::wait(r.opt_int("codes_bloques_jusqu_a")?, now),
        place,
        pass: pass_view_of(&r)?,
    })
}

/// A redemption's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub id: i64,
    pub valeur_centimes: i64,
}

/// A mediator of a qualified place redeems a pass for a prestation and a service.
/// Every rule is checked in the transaction; the insert decides between
/// concurrent scans.
#[allow(clippy::too_many_arguments)]
pub async fn redeem(
    db: &Db,
    structure_id: i64,
    code: &str,
    prestation: &str,
    service: &str,
    by: i64,
    guard: &Guard<'_>,
    now: i64,
) -> Result<Redeemed, PassError> {
    let RedemptionContext {
        blocked,
        place,
        pass,
    } = redemption_context(db, structure_id, code, guard, now).await?;
    // Too many wrong codes: refused before anything is said of this one.
    if let Some(wait) = blocked {
        return Err(PassError::Blocked(wait));
    }
    if !PRESTATIONS.iter().any(|(k, _)| *k == prestation) {
        return Err(PassError::Field(
            "prestation",
            "Choisissez la prestation : atelier ou accompagnement.".into(),
        ));
    }
    let Some((place_id, services, commune_insee)) = place else {
        return refused(
            "Votre structure n'est pas un lieu qualifié pour le pass numérique : demandez sa qualification depuis la page « Pass numérique » de la structure.",
        );
    };
    if !services.iter().any(|s| s == service) {
        return Err(PassError::Field(
            "service",
            "Choisissez un des services de votre lieu.".into(),
        ));
    }
    let pass = pass.ok_or_else(|| {
        PassError::Field(
            "code",
            "Aucun pass ne porte ce code : vérifiez-le sur le pass.".into(),
        )
    })?;
    let today = crate::activites::today(now);
    pass.validity(today).map_err(PassError::Refused)?;
    let c = &pass.commande;
    if !c.covers(&commune_insee) {
        return refused(format!(
            "Ce pass n'est valable que sur son territoire ({}) : votre lieu n'en fait pas partie. Orientez la personne vers un lieu qualifié de ce territoire.",
            c.territoire_label()
        ));
    }
    if !c.services.is_empty() && !c.services.iter().any(|s| s == service) {
        return refused(format!(
            "Ce pass ne paie que ces services : {}. « {service} » n'en fait pas partie.",
            c.services_label()
        ));
    }
    let departement = crate::territoires::get()
        .commune(&commune_insee)
        .map(|c| c.departement.clone())
        .unwrap_or_default();
    let mut tx = db.begin().await?;
    // The place's journal lock first, as in every transaction here that journals:
    // none waits for it while holding a row another one needs.
    crate::db::exec::lock_structure(&mut tx, structure_id).await?;
    let mois = today / 100;
    let args = crate::args![
        pass.id,
        place_id,
        structure_id,
        by,
        now,
        today,
        mois,
        prestation,
        service,
        c.valeur_centimes,
        c.id,
        departement,
    ];
    let details = |id: i64| {
        serde_json::json!({ "utilisation": id, "commande": c.id, "carnet": pass.carnet_numero,
            "rang": pass.rang, "prestation": prestation, "service": service,
            "valeur_centimes": c.valeur_centimes })
    };
    let entry = |id: i64| {
        NewEntry::new(structure_id, Action::PassUtilisation)
            .account(by)
            .details(details(id))
    };
    let id = match tx.backend() {
        // One statement after the lock: the redemption inserted (the unique index
        // decides between concurrent scans), its carnet's and the month's counters,
        // and the journal's head for the entry that follows. Nothing is written
        // when the pass was already used.
        crate::db::Backend::Postgres => {
            let Some(row) = tx
                .fetch_optional(
                    concat!(
                        "WITH used AS (",
                        redemption_insert!(),
                        "),
                         carnet AS (
                             UPDATE pass_carnets SET utilises = utilises + 1
                             WHERE id = (SELECT carnet_id FROM used)),
                         counted AS (",
                        pass_mois_count!(utilises, "$11, $7, $12, $3", " FROM used"),
                        ")
                         SELECT used.id, head.seq, head.hash FROM used ",
                        crate::journal_head_lateral!("$3")
                    ),
                    args,
                )
                .await?
            else {
                drop(tx);
                return refused("Ce pass vient d'être utilisé. Un pass ne sert qu'une fois.");
            };
            let id = row.int("id")?;
            let head = row
                .opt_int("seq")?
                .map(|seq| Ok::<_, crate::db::Error>((seq, row.text("hash")?)))
                .transpose()?;
            journal::append_after(&mut tx, &entry(id), head, now).await?;
            id
        }
        // In process, statements cost microseconds: one at a time.
        crate::db::Backend::Sqlite => {
            let Some(row) = tx.fetch_optional(redemption_insert!(), &args[..10]).await? else {
                drop(tx);
                return refused("Ce pass vient d'être utilisé. Un pass ne sert qu'une fois.");
            };
            let id = row.int("id")?;
            tx.execute(
                "UPDATE pass_carnets SET utilises = utilises + 1 WHERE id = $1",
                crate::args![row.int("carnet_id")?],
            )
            .await?;
            tx.execute(
                pass_mois_count!(utilises, "$1, $2, $3, $4", ""),
                crate::args![c.id, mois, departement, structure_id],
            )
            .await?;
            journal::append(&mut tx, &entry(id), now).await?;
            id
        }
    };
    tx.commit().await?;
    Ok(Redeemed {
        id,
        valeur_centimes: c.valeur_centimes,
    })
}

/// A place cancels one of its redemptions within 24 hours, with a reason: the
/// pass is valid again.
pub async fn cancel(
    db: &Db,
    structure_id: i64,
    id: i64,
    motif: &str,
    by: i64,
    now: i64,
) -> Result<(), PassError> {
    let motif = motif.trim();
    if motif.is_empty() || motif.chars().count() > 500 {
        return Err(PassError::Field(
            "motif",
            "Expliquez pourquoi vous annulez (500 caractères au plus).".into(),
        ));
    }
    let r = db
        .fetch_optional(
            "SELECT commande_id, carnet_id, at, mois, structure_id, annulee_le, releve_id
             FROM pass_utilisations WHERE id = $1",
            crate::args![id],
        )
        .await?
        .ok_or(PassError::NotFound)?;
    if r.int("structure_id")? != structure_id {
        return Err(PassError::NotFound);
    }
    if r.opt_int("annulee_le")?.is_some() {
        return refused("Cette utilisation est déjà annulée.");
    }
    if now - r.int("at")? > CANCEL_WINDOW || r.opt_int("releve_id")?.is_some() {
        return refused(
            "Une utilisation s'annule dans les 24 heures : passé ce délai, écrivez à l'opérateur du pass numérique.",
        );
    }
    let mois = r.int("mois")?;
    let commande_id = r.int("commande_id")?;
    let departement = match qualified_place(db, structure_id).await? {
        Some(q) => crate::territoires::get()
            .commune(&q.commune_insee)
            .map(|c| c.departement.clone())
            .unwrap_or_default(),
        None => String::new(),
    };
    let mut tx = db.begin().await?;
    // The place's journal lock first (see `redeem`).
    crate::db::exec::lock_structure(&mut tx, structure_id).await?;
    let n = tx
        .execute(
            "UPDATE pass_utilisations SET annulee_le = $1, annulation_motif = $2
             WHERE id = $3 AND annulee_le IS NULL",
            crate::args![now, motif, id],
        )
        .await?;
    if n == 0 {
        return refused("Cette utilisation est déjà annulée.");
    }
    tx.execute(
        "UPDATE pass_carnets SET utilises = utilises - 1 WHERE id = $1",
        crate::args![r.int("carnet_id")?],
    )
    .await?;
    // The place's own row; a redemption counted before the counters had one row
    // per structure (migration 0032) is in the row of structure 0. Dashboards
    // read sums: either row gives the right figure.
    tx.execute(
        "UPDATE pass_mois SET utilises = utilises - 1
         WHERE commande_id = $1 AND mois = $2 AND departement = $3 AND structure_id = (
             SELECT MAX(structure_id) FROM pass_mois
             WHERE commande_id = $1 AND mois = $2 AND departement = $3
               AND structure_id IN (0, $4) AND utilises > 0)",
        crate::args![commande_id, mois, &departement, structure_id],
    )
    .await?;
    append(
        &mut tx,
        structure_id,
        Action::PassAnnulation,
        Some(by),
        serde_json::json!({ "utilisation": id, "motif": motif }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A place's recent redemptions: (id, when, prestation, service, value,
/// cancelled at, cancellable).
#[derive(Debug, Clone)]
pub struct Utilisation {
    pub id: i64,
    pub at: i64,
    pub prestation: String,
    pub service: String,
    pub valeur_centimes: i64,
    pub annulee_le: Option<i64>,
    pub motif: String,
    pub cancellable: bool,
}

pub async fn utilisations(
    db: &Db,
    structure_id: i64,
    now: i64,
) -> Result<Vec<Utilisation>, crate::db::Error> {
    db.fetch_all(
        "SELECT id, at, prestation, service, valeur_centimes, annulee_le, annulation_motif,
                releve_id
         FROM pass_utilisations WHERE structure_id = $1 ORDER BY id DESC LIMIT 200",
        crate::args![structure_id],
    )
    .await?
    .iter()
    .map(|r| {
        let at = r.int("at")?;
        let annulee_le = r.opt_int("annulee_le")?;
        Ok(Utilisation {
            id: r.int("id")?,
            at,
            prestation: r.text("prestation")?,
            service: r.text("service")?,
            valeur_centimes: r.int("valeur_centimes")?,
            annulee_le,
            motif: r.text("annulation_motif")?,
            cancellable: annulee_le.is_none()
                && now - at <= CANCEL_WINDOW
                && r.opt_int("releve_id")?.is_none(),
        })
    })
    .collect()
}

/// `1234` → `12,34 €`.
pub fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.abs();
    format!(
        "{sign}{},{:02} €",
        crate::domain::thousands(c / 100),
        c % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_amounts() {
        assert_eq!(last_accepted_day(20_271_231), 20_280_131);
        assert_eq!(last_accepted_day(20_270_630), 20_270_730);
        assert_eq!(last_accepted_day(20_270_131), 20_270_228);
        assert_eq!(last_accepted_day(20_280_131), 20_280_229);
        assert_eq!(add_days(20_271_231, -30), 20_271_201);
        assert_eq!(add_days(20_271_231, 37), 20_280_206);
        assert_eq!(days_between(20_271_201, 20_271_231), 30);
        assert_eq!(euros(1_000), "10,00 €");
        assert_eq!(euros(123_456_789), "1\u{202f}234\u{202f}567,89 €");
    }

    #[test]
    fn bank_and_company_numbers() {
        assert_eq!(
            check_iban("FR76 3000 6000 0112 3456 7890 189").as_deref(),
            Some("FR7630006000011234567890189")
        );
        assert!(check_iban("FR76 3000 6000 0112 3456 7890 188").is_none());
        assert!(check_siret("732 829 320 00074").is_some());
        assert!(check_siret("73282932000075").is_none());
        assert!(check_siret("1234").is_none());
    }

    #[test]
    fn orders_are_checked_field_by_field() {
        let ok = check_order(&RawOrder {
            carnets: "20".into(),
            pass_par_carnet: "10".into(),
            territoire_type: "departements".into(),
            territoire: "89, 58".into(),
            debut: "01/01/2027".into(),
            fin: "31/12/2027".into(),
            publics: vec!["seniors".into()],
            services: Vec::new(),
        })
        .unwrap();
        assert_eq!(ok.territoire, vec!["58".to_owned(), "89".to_owned()]);
        assert_eq!((ok.debut, ok.fin), (20_270_101, 20_271_231));
        let bad = check_order(&RawOrder {
            carnets: "0".into(),
            pass_par_carnet: "7".into(),
            territoire_type: "communes".into(),
            territoire: "Auxere".into(),
            debut: "32/13/2027".into(),
            fin: "".into(),
            publics: vec!["martiens".into()],
            services: vec!["Jardinage".into()],
        })
        .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|(f, _)| *f).collect();
        for f in [
            "carnets",
            "pass_par_carnet",
            "territoire",
            "debut",
            "fin",
            "public",
            "service",
        ] {
            assert!(fields.contains(&f), "{f}: {bad:?}");
        }
        assert!(bad.iter().any(|(_, m)| m.contains("Auxerre")), "{bad:?}");
    }
}
