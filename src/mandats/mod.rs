//! Mandates (Aidants Connect): a usager gives a **structure** a mandate for a set of
//! démarches and a duration; each démarche is an autorisation, revocable on its own.
//!
//! - [`create`] writes, in one transaction: the usager (upsert by hashed FranceConnect
//!   `sub`), the mandat, one autorisation per démarche, the revocation of overlapping
//!   autorisations (one active autorisation per structure, usager and démarche), the
//!   signed attestation and the journal entries.
//! - [`revoke_autorisation`] and [`revoke_mandat`] likewise, each with its attestation.
//! - [`usagers`] lists a structure's usagers by state, searched without accents.
//! - [`retention`] deletes usagers whose mandates all ended long ago.

pub mod attestation;
pub mod distance;
pub mod drafts;
pub mod espace;
pub mod retention;

use serde::{Deserialize, Serialize};

use crate::db::exec::Exec;
use crate::db::{Db, Tx};
use crate::journal::{self, Action, NewEntry};

/// Version of the mandate text printed on attestations.
pub const TEMPLATE_VERSION: &str = "2026-11";

/// A category of administrative procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Demarche {
    Papiers,
    Famille,
    Social,
    Travail,
    Logement,
    Transports,
    Argent,
    Justice,
    Etranger,
    Loisirs,
}

impl Demarche {
    pub const ALL: [Demarche; 10] = [
        Demarche::Papiers,
        Demarche::Famille,
        Demarche::Social,
        Demarche::Travail,
        Demarche::Logement,
        Demarche::Transports,
        Demarche::Argent,
        Demarche::Justice,
        Demarche::Etranger,
        Demarche::Loisirs,
    ];
    pub fn key(self) -> &'static str {
        match self {
            Demarche::Papiers => "papiers",
            Demarche::Famille => "famille",
            Demarche::Social => "social",
            Demarche::Travail => "travail",
            Demarche::Logement => "logement",
            Demarche::Transports => "transports",
            Demarche::Argent => "argent",
            Demarche::Justice => "justice",
            Demarche::Etranger => "etranger",
            Demarche::Loisirs => "loisirs",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Demarche::Papiers => "Papiers - Citoyenneté - Élections",
            Demarche::Famille => "Famille - Scolarité",
            Demarche::Social => "Social - Santé",
            Demarche::Travail => "Travail - Formation",
            Demarche::Logement => "Logement",
            Demarche::Transports => "Transports - Mobilité",
            Demarche::Argent => "Argent - Impôts - Consommation",
            Demarche::Justice => "Justice",
            Demarche::Etranger => "Étranger - Europe",
            Demarche::Loisirs => "Loisirs - Sport - Culture",
        }
    }
    pub fn examples(self) -> &'static str {
        match self {
            Demarche::Papiers => "état civil, passeport, élections, carte d'identité",
            Demarche::Famille => "allocations familiales, naissance, mariage, Pacs, scolarité",
            Demarche::Social => "carte Vitale, chômage, handicap, RSA, personnes âgées",
            Demarche::Travail => "CDD, concours, retraite, démission",
            Demarche::Logement => {
                "allocations logement, permis de construire, logement social, fin de bail"
            }
            Demarche::Transports => "carte grise, permis de conduire, infractions",
            Demarche::Argent => "impôts, crédit, Livret A, assurance, surendettement",
            Demarche::Justice => "casier judiciaire, plainte, aide juridictionnelle",
            Demarche::Etranger => "titres de séjour, attestation d'accueil, regroupement familial",
            Demarche::Loisirs => "animaux, permis bateau, permis de chasser",
        }
    }
    pub fn parse(raw: &str) -> Result<Demarche, &'static str> {
        Self::ALL
            .into_iter()
            .find(|d| d.key() == raw)
            .ok_or("Cette démarche n'existe pas : choisissez dans la liste.")
    }
    /// Parses a comma-separated list (as stored), ignoring unknown keys.
    pub fn parse_list(raw: &str) -> Vec<Demarche> {
        let mut v: Vec<Demarche> = raw
            .split(',')
            .filter_map(|k| Demarche::parse(k.trim()).ok())
            .collect();
        v.sort();
        v.dedup();
        v
    }
    pub fn join(list: &[Demarche]) -> String {
        list.iter().map(|d| d.key()).collect::<Vec<_>>().join(",")
    }
}

/// The durations a mandate may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duree {
    Court,
    Mois,
    SixMois,
    Long,
}

impl Duree {
    pub const ALL: [Duree; 4] = [Duree::Court, Duree::Mois, Duree::SixMois, Duree::Long];
    pub fn days(self) -> i64 {
        match self {
            Duree::Court => 1,
            Duree::Mois => 31,
            Duree::SixMois => 182,
            Duree::Long => 365,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Duree::Court => "1 jour (mandat court : il prend fin demain soir)",
            Duree::Mois => "1 mois (31 jours)",
            Duree::SixMois => "6 mois (182 jours)",
            Duree::Long => "1 an (365 jours, mandat long)",
        }
    }
    pub fn from_days(days: i64) -> Result<Duree, &'static str> {
        Self::ALL
            .into_iter()
            .find(|d| d.days() == days)
            .ok_or("Choisissez la durée du mandat dans la liste.")
    }
    pub fn parse(raw: &str) -> Result<Duree, &'static str> {
        raw.trim()
            .parse::<i64>()
            .map_err(|_| "Choisissez la durée du mandat dans la liste.")
            .and_then(Duree::from_days)
    }
    /// End of a mandate created at `now`: midnight (Paris) ending the day `days`
    /// days later, so a 1-day mandate lasts until tomorrow evening. This is how
    /// French law counts a period given in days (code de procédure civile,
    /// art. 641 and 642): the day of the act does not count, and the period ends
    /// at midnight of its last day. « 1 an » (365 days) signed on 3 December
    /// 2026 therefore covers up to 3 December 2027 included. Shown everywhere
    /// with [`last_day`].
    pub fn expiry(self, now: i64) -> i64 {
        crate::time_fr::paris_midnight(now, self.days() + 1)
    }
}

/// The usager's identity as FranceConnect gave it (the `sub` is kept hashed only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub sub_hash: String,
    pub given_name: String,
    pub family_name: String,
    pub preferred_username: String,
    pub birthdate: String,
    pub gender: String,
    pub birthplace: String,
    pub birthcountry: String,
    pub email: String,
}

impl Identity {
    /// "Angela Claire Louise DUBOIS", or "Pierre DUBOIS (né MERCIER)" with a usage name.
    pub fn display_name(&self) -> String {
        display_name(
            &self.given_name,
            &self.family_name,
            &self.preferred_username,
            &self.gender,
        )
    }
    pub fn birthdate_fr(&self) -> String {
        birthdate_fr(&self.birthdate)
    }
}

pub use crate::domain::display_name;

pub use crate::time_fr::from_iso as birthdate_fr;

/// Lower-case, without accents or punctuation, single spaces: what name search compares.
pub fn search_key(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for c in text.chars().flat_map(char::to_lowercase) {
        let base = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            'æ' => {
                out.push('a');
                'e'
            }
            'œ' => {
                out.push('o');
                'e'
            }
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        if base == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(base);
            space = false;
        }
    }
    out.trim_end().to_owned()
}

#[derive(Debug, thiserror::Error)]
pub enum MandatError {
    #[error(transparent)]
    Db(#[from] crate::db::Error),
    /// A message for the person, in plain French.
    #[error("{0}")]
    Refused(&'static str),
}

/// Who acts: an active member of the structure.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub account_id: i64,
    pub structure_id: i64,
}

/// What the aidant confirmed on the recap page.
pub struct NewMandat<'a> {
    pub demarches: &'a [Demarche],
    pub duree: Duree,
    pub is_remote: bool,
    pub usager: UsagerRef<'a>,
    pub renewed_from: Option<i64>,
    /// The draft this mandate comes from: consumed in the same transaction, so a
    /// recap confirmed twice writes one mandate.
    pub draft_id: Option<i64>,
    /// Given at a distance: the link consumed in the same transaction, so a
    /// link writes one mandate at most.
    pub consent: Option<RemoteConsent>,
}

/// The usager's consent through a link sent by SMS or email ([`distance`]).
#[derive(Debug, Clone, Copy)]
pub struct RemoteConsent {
    pub lien_id: i64,
    pub channel: &'static str,
}

pub enum UsagerRef<'a> {
    /// Just identified through FranceConnect.
    Identified(&'a Identity),
    /// Already known (renewal).
    Known(i64),
}

#[derive(Debug, Clone)]
pub struct Created {
    pub mandat_id: i64,
    pub usager_id: i64,
    pub attestation_token: String,
    pub replaced: Vec<i64>,
}

/// Upserts the usager by hashed `sub`; returns its id.
async fn upsert_usager(tx: &mut Tx, id: &Identity, now: i64) -> Result<i64, crate::db::Error> {
    let key = search_key(&format!(
        "{} {} {}",
        id.given_name, id.family_name, id.preferred_username
    ));
    let existing = tx
        .fetch_optional(
            "SELECT id FROM usagers WHERE sub_hash = $1",
            crate::args![&id.sub_hash],
        )
        .await?;
    if let Some(r) = existing {
        let uid: i64 = r.get("id")?;
        tx.execute(
            "UPDATE usagers SET given_name = $1, family_name = $2, preferred_username = $3,
                 birthdate = $4, gender = $5, birthplace = $6, birthcountry = $7, email = $8,
                 search_key = $9, updated_at = $10, deletion_requested_at = NULL WHERE id = $11",
            crate::args![
                &id.given_name,
                &id.family_name,
                &id.preferred_username,
                &id.birthdate,
                &id.gender,
                &id.birthplace,
                &id.birthcountry,
                &id.email,
                &key,
                now,
                uid
            ],
        )
        .await?;
        return Ok(uid);
    }
    tx.fetch_one(
        "INSERT INTO usagers (sub_hash, given_name, family_name, preferred_username, birthdate,
             gender, birthplace, birthcountry, email, search_key, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
        crate::args![
            &id.sub_hash,
            &id.given_name,
            &id.family_name,
            &id.preferred_username,
            &id.birthdate,
            &id.gender,
            &id.birthplace,
            &id.birthcountry,
            &id.email,
            &key,
            now
        ],
    )
    .await?
    .get("id")
}

/// Refreshes the usagers-list row of (structure, usager) after a change.
async fn refresh_listing(
    tx: &mut Tx,
    structure_id: i64,
    usager_id: i64,
    now: i64,
) -> Result<(), crate::db::Error> {
    tx.execute("INSERT INTO usager_structures (structure_id, usager_id, sort_name, search_key, unrevoked_until, last_mandat_at)
         SELECT $1, u.id, LOWER(CASE WHEN u.preferred_username <> '' THEN u.preferred_username ELSE u.family_name END) || ' ' || LOWER(u.given_name),
                u.search_key,
                (SELECT MAX(a.expires_at) FROM autorisations a
                  WHERE a.structure_id = $1 AND a.usager_id = u.id AND a.revoked_at IS NULL),
                $3
         FROM usagers u WHERE u.id = $2
         ON CONFLICT (structure_id, usager_id) DO UPDATE SET
             sort_name = excluded.sort_name, search_key = excluded.search_key,
             unrevoked_until = excluded.unrevoked_until", crate::args![structure_id, usager_id, now])
    .await?;
    Ok(())
}

/// Marks the mandate date of the listing row (creation or renewal).
async fn touch_listing(
    tx: &mut Tx,
    structure_id: i64,
    usager_id: i64,
    now: i64,
) -> Result<(), crate::db::Error> {
    tx.execute("UPDATE usager_structures SET last_mandat_at = $1 WHERE structure_id = $2 AND usager_id = $3", crate::args![now, structure_id, usager_id])
    .await?;
    Ok(())
}

/// The common end of every mandate change, inside its transaction: the journal
/// entry of the change, the usagers-list row refreshed, the signed attestation.
/// `account_id` is who acted (`None`: the usager themselves, from their space).
async fn record_and_attest(
    tx: &mut Tx,
    signer: &attestation::Signer,
    account_id: Option<i64>,
    entry: NewEntry,
    kind: attestation::Kind,
    autorisation_id: Option<i64>,
    now: i64,
) -> Result<String, crate::db::Error> {
    let (usager_id, mandat_id) = (entry.usager_id.unwrap_or(0), entry.mandat_id.unwrap_or(0));
    journal::append(tx, &entry, now).await?;
    // A structure's chain is numbered by the structure's id.
    refresh_listing(tx, entry.chain, usager_id, now).await?;
    attestation::issue(
        tx,
        signer,
        kind,
        mandat_id,
        autorisation_id,
        account_id,
        now,
    )
    .await
}

/// Writes a mandate and everything that goes with it, in one transaction.
pub async fn create(
    db: &Db,
    signer: &attestation::Signer,
    actor: Actor,
    m: &NewMandat<'_>,
    now: i64,
) -> Result<Created, MandatError> {
    if m.demarches.is_empty() {
        return Err(MandatError::Refused(
            "Choisissez au moins une démarche pour ce mandat.",
        ));
    }
    let sid = actor.structure_id;
    let mut tx = db.begin().await?;
    db.lock_structure(&mut tx, sid).await?;
    if let Some(draft) = m.draft_id
        && !drafts::consume(&mut tx, draft).await?
    {
        return Err(MandatError::Refused(
            "Ce mandat a déjà été enregistré (ou la demande a expiré) : consultez la liste des usagers.",
        ));
    }
    if let Some(c) = m.consent {
        let used = tx
            .execute(
                "UPDATE mandat_liens SET used_at = $1, destination = ''
                 WHERE id = $2 AND structure_id = $3 AND used_at IS NULL
                   AND cancelled_at IS NULL AND expires_at > $1",
                crate::args![now, c.lien_id, sid],
            )
            .await?;
        if used != 1 {
            return Err(MandatError::Refused(distance::LINK_GONE));
        }
    }
    let allowed = allowed_demarches_tx(&mut tx, sid).await?;
    if m.demarches.iter().any(|d| !allowed.contains(d)) {
        return Err(MandatError::Refused(
            "Votre structure n'autorise pas l'une des démarches choisies : recommencez en choisissant dans la liste.",
        ));
    }
    let usager_id = match &m.usager {
        UsagerRef::Identified(identity) => upsert_usager(&mut tx, identity, now).await?,
        UsagerRef::Known(id) => {
            // A known usager may only be used by a structure that already has a
            // mandate with them.
            let known = tx.fetch_optional("SELECT 1 AS ok FROM usager_structures WHERE structure_id = $1 AND usager_id = $2", crate::args![sid, *id])
            .await?;
            if known.is_none() {
                return Err(MandatError::Refused(
                    "Cette personne n'a pas de mandat avec votre structure : créez un nouveau mandat avec FranceConnect.",
                ));
            }
            *id
        }
    };
    let expires_at = m.duree.expiry(now);
    let mandat_id: i64 = tx
        .fetch_one(
            "INSERT INTO mandats (structure_id, usager_id, aidant_id, duration_days, is_remote,
             template_version, renewed_from, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            crate::args![
                sid,
                usager_id,
                actor.account_id,
                m.duree.days(),
                i64::from(m.is_remote),
                TEMPLATE_VERSION,
                m.renewed_from,
                now,
                expires_at
            ],
        )
        .await?
        .get("id")?;
    if let Some(c) = m.consent {
        tx.execute(
            "UPDATE mandat_liens SET mandat_id = $1 WHERE id = $2",
            crate::args![mandat_id, c.lien_id],
        )
        .await?;
    }

    let personal = usager_personal(&mut tx, usager_id).await?;
    let mut replaced = Vec::new();
    for d in m.demarches {
        let overlapping = tx
            .fetch_all(
                "SELECT id FROM autorisations
             WHERE structure_id = $1 AND usager_id = $2 AND demarche = $3
               AND revoked_at IS NULL AND expires_at > $4",
                crate::args![sid, usager_id, d.key(), now],
            )
            .await?;
        for row in overlapping {
            let old: i64 = row.get("id")?;
            tx.execute(
                "UPDATE autorisations SET revoked_at = $1, revoked_by = $2 WHERE id = $3",
                crate::args![now, actor.account_id, old],
            )
            .await?;
            journal::append(
                &mut tx,
                &NewEntry::new(sid, Action::RevocationAutorisation)
                    .account(actor.account_id)
                    .usager(usager_id)
                    .autorisation(old, d.key())
                    .details(serde_json::json!({ "remplacee_par_mandat": mandat_id }))
                    .personal(personal.clone()),
                now,
            )
            .await?;
            replaced.push(old);
        }
        let aid: i64 = tx.fetch_one("INSERT INTO autorisations (mandat_id, structure_id, usager_id, demarche, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", crate::args![mandat_id, sid, usager_id, d.key(), now, expires_at])
        .await?
        .get("id")?;
        journal::append(
            &mut tx,
            &NewEntry::new(sid, Action::CreationAutorisation)
                .account(actor.account_id)
                .usager(usager_id)
                .mandat(mandat_id)
                .autorisation(aid, d.key())
                .personal(personal.clone()),
            now,
        )
        .await?;
    }
    let action = if m.renewed_from.is_some() {
        Action::RenouvellementMandat
    } else {
        Action::CreationMandat
    };
    let mut details = serde_json::json!({
        "demarches": Demarche::join(m.demarches),
        "duree_jours": m.duree.days(),
        "a_distance": m.is_remote,
        "expire_le": expires_at,
        "renouvelle": m.renewed_from,
    });
    if let (Some(c), Some(o)) = (m.consent, details.as_object_mut()) {
        o.insert(
            "consentement".into(),
            serde_json::json!({
                "canal": c.channel, "le": now, "lien": c.lien_id, "par": "franceconnect",
            }),
        );
    }
    let entry = NewEntry::new(sid, action)
        .account(actor.account_id)
        .usager(usager_id)
        .mandat(mandat_id)
        .details(details)
        .personal(personal);
    let token = record_and_attest(
        &mut tx,
        signer,
        Some(actor.account_id),
        entry,
        attestation::Kind::Mandat,
        None,
        now,
    )
    .await?;
    touch_listing(&mut tx, sid, usager_id, now).await?;
    tx.commit().await?;
    Ok(Created {
        mandat_id,
        usager_id,
        attestation_token: token,
        replaced,
    })
}

/// The usager's name for the journal's personal part.
async fn usager_personal(
    tx: &mut Tx,
    usager_id: i64,
) -> Result<serde_json::Value, crate::db::Error> {
    let r = tx
        .fetch_one(
            "SELECT given_name, family_name, preferred_username, gender FROM usagers WHERE id = $1",
            crate::args![usager_id],
        )
        .await?;
    let name = display_name(
        &r.get::<String>("given_name")?,
        &r.get::<String>("family_name")?,
        &r.get::<String>("preferred_username")?,
        &r.get::<String>("gender")?,
    );
    Ok(serde_json::json!({ "usager": name }))
}

async fn allowed_demarches_tx(
    tx: &mut Tx,
    structure_id: i64,
) -> Result<Vec<Demarche>, crate::db::Error> {
    let row = tx
        .fetch_optional(
            "SELECT allowed_demarches FROM structures WHERE id = $1",
            crate::args![structure_id],
        )
        .await?;
    let raw: Option<String> = match row {
        Some(r) => r.get("allowed_demarches")?,
        None => return Ok(Vec::new()),
    };
    Ok(match raw {
        Some(list) => Demarche::parse_list(&list),
        None => Demarche::ALL.to_vec(),
    })
}

/// The démarches a structure allows its aidants to use.
pub async fn allowed_demarches(
    db: &Db,
    structure_id: i64,
) -> Result<Vec<Demarche>, crate::db::Error> {
    let row = db
        .fetch_optional(
            "SELECT allowed_demarches FROM structures WHERE id = $1",
            crate::args![structure_id],
        )
        .await?;
    let raw: Option<String> = match row {
        Some(r) => r.get("allowed_demarches")?,
        None => return Ok(Vec::new()),
    };
    Ok(match raw {
        Some(list) => Demarche::parse_list(&list),
        None => Demarche::ALL.to_vec(),
    })
}

/// Restricts the démarches of a structure (`None`: all).
pub async fn set_allowed_demarches(
    db: &Db,
    structure_id: i64,
    list: Option<&[Demarche]>,
) -> Result<(), crate::db::Error> {
    db.execute(
        "UPDATE structures SET allowed_demarches = $1 WHERE id = $2",
        crate::args![list.map(Demarche::join), structure_id],
    )
    .await?;
    Ok(())
}

/// Who revokes: an active member of the structure, or the usager themselves
/// (from their space).
#[derive(Debug, Clone, Copy)]
pub enum Revoker {
    Member(Actor),
    Usager(i64),
}

impl Revoker {
    fn account(self) -> Option<i64> {
        match self {
            Revoker::Member(a) => Some(a.account_id),
            Revoker::Usager(_) => None,
        }
    }

    /// The usager a revocation is limited to (0: any of the structure).
    fn usager_filter(self) -> i64 {
        match self {
            Revoker::Member(_) => 0,
            Revoker::Usager(id) => id,
        }
    }

    /// The journal entry's author and, for a usager, who did it.
    fn sign(self, entry: NewEntry, details: serde_json::Value) -> NewEntry {
        match self {
            Revoker::Member(a) if details.as_object().is_some_and(|o| o.is_empty()) => {
                entry.account(a.account_id)
            }
            Revoker::Member(a) => entry.account(a.account_id).details(details),
            Revoker::Usager(_) => {
                let mut d = details;
                if let Some(o) = d.as_object_mut() {
                    o.insert("par".into(), serde_json::json!("usager"));
                }
                entry.details(d)
            }
        }
    }
}

/// The structure of a mandate (for a usager: only one of theirs).
async fn structure_of(
    db: &Db,
    by: Revoker,
    mandat_id: i64,
) -> Result<Option<i64>, crate::db::Error> {
    match by {
        Revoker::Member(a) => Ok(Some(a.structure_id)),
        Revoker::Usager(uid) => db
            .fetch_optional(
                "SELECT structure_id FROM mandats WHERE id = $1 AND usager_id = $2",
                crate::args![mandat_id, uid],
            )
            .await?
            .map(|r| r.get("structure_id"))
            .transpose(),
    }
}

/// Revokes one active autorisation; returns its mandate and the revocation
/// attestation's token.
pub async fn revoke_autorisation(
    db: &Db,
    signer: &attestation::Signer,
    by: Revoker,
    autorisation_id: i64,
    now: i64,
) -> Result<(i64, String), MandatError> {
    let gone =
        "Cette autorisation n'est plus active (déjà révoquée ou expirée) : rien n'a été changé.";
    let sid = match by {
        Revoker::Member(a) => a.structure_id,
        Revoker::Usager(uid) => {
            let row = db
                .fetch_optional(
                    "SELECT structure_id FROM autorisations WHERE id = $1 AND usager_id = $2",
                    crate::args![autorisation_id, uid],
                )
                .await?;
            match row {
                Some(r) => r.get("structure_id")?,
                None => return Err(MandatError::Refused(gone)),
            }
        }
    };
    let mut tx = db.begin().await?;
    db.lock_structure(&mut tx, sid).await?;
    let row = tx
        .fetch_optional(
            "SELECT mandat_id, usager_id, demarche FROM autorisations
         WHERE id = $1 AND structure_id = $2 AND revoked_at IS NULL AND expires_at > $3
           AND ($4 = 0 OR usager_id = $4)",
            crate::args![autorisation_id, sid, now, by.usager_filter()],
        )
        .await?;
    let Some(row) = row else {
        return Err(MandatError::Refused(gone));
    };
    let mandat_id: i64 = row.get("mandat_id")?;
    let usager_id: i64 = row.get("usager_id")?;
    let demarche: String = row.get("demarche")?;
    tx.execute(
        "UPDATE autorisations SET revoked_at = $1, revoked_by = $2 WHERE id = $3",
        crate::args![now, by.account(), autorisation_id],
    )
    .await?;
    let personal = usager_personal(&mut tx, usager_id).await?;
    let entry = by.sign(
        NewEntry::new(sid, Action::RevocationAutorisation)
            .usager(usager_id)
            .mandat(mandat_id)
            .autorisation(autorisation_id, &demarche)
            .personal(personal),
        serde_json::json!({}),
    );
    let token = record_and_attest(
        &mut tx,
        signer,
        by.account(),
        entry,
        attestation::Kind::Revocation,
        Some(autorisation_id),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((mandat_id, token))
}

/// Revokes every active autorisation of a mandate.
pub async fn revoke_mandat(
    db: &Db,
    signer: &attestation::Signer,
    by: Revoker,
    mandat_id: i64,
    now: i64,
) -> Result<String, MandatError> {
    let Some(sid) = structure_of(db, by, mandat_id).await? else {
        return Err(MandatError::Refused(
            "Ce mandat n'existe pas dans votre structure.",
        ));
    };
    let mut tx = db.begin().await?;
    db.lock_structure(&mut tx, sid).await?;
    let m = tx
        .fetch_optional(
            "SELECT usager_id FROM mandats WHERE id = $1 AND structure_id = $2",
            crate::args![mandat_id, sid],
        )
        .await?;
    let Some(m) = m else {
        return Err(MandatError::Refused(
            "Ce mandat n'existe pas dans votre structure.",
        ));
    };
    let usager_id: i64 = m.get("usager_id")?;
    let done = tx
        .execute(
            "UPDATE autorisations SET revoked_at = $1, revoked_by = $2
         WHERE mandat_id = $3 AND revoked_at IS NULL AND expires_at > $1",
            crate::args![now, by.account(), mandat_id],
        )
        .await?;
    if done == 0 {
        return Err(MandatError::Refused(
            "Ce mandat n'est plus actif (déjà révoqué ou expiré) : rien n'a été changé.",
        ));
    }
    let personal = usager_personal(&mut tx, usager_id).await?;
    let entry = by.sign(
        NewEntry::new(sid, Action::RevocationMandat)
            .usager(usager_id)
            .mandat(mandat_id)
            .personal(personal),
        serde_json::json!({ "autorisations_revoquees": done }),
    );
    let token = record_and_attest(
        &mut tx,
        signer,
        by.account(),
        entry,
        attestation::Kind::Revocation,
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

// ---------------------------------------------------------------------------
// Reading

/// States of a usager, an autorisation or a mandate, at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    Expired,
    Revoked,
}

impl State {
    pub fn key(self) -> &'static str {
        match self {
            State::Active => "actifs",
            State::Expired => "expires",
            State::Revoked => "revoques",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            State::Active => "Actif",
            State::Expired => "Expiré",
            State::Revoked => "Révoqué",
        }
    }
    /// The state of a démarche (an autorisation), agreed with « la démarche ».
    pub fn label_demarche(self) -> &'static str {
        match self {
            State::Active => "Active",
            State::Expired => "Expirée",
            State::Revoked => "Révoquée",
        }
    }
    pub fn parse(raw: &str) -> State {
        match raw {
            "expires" => State::Expired,
            "revoques" => State::Revoked,
            _ => State::Active,
        }
    }
}

/// One line of the usagers list.
#[derive(Debug, Clone)]
pub struct UsagerRow {
    pub id: i64,
    pub name: String,
    pub birthdate: String,
    pub unrevoked_until: Option<i64>,
    pub last_mandat_at: i64,
}

impl UsagerRow {
    pub fn last_mandat_on(&self) -> String {
        crate::time_fr::date(self.last_mandat_at)
    }
    pub fn until(&self) -> String {
        self.unrevoked_until.map(last_day).unwrap_or_default()
    }
}

/// Where a page of usagers starts: the first page, or after / before the usager of
/// that id (a cursor in the alphabetical order; no name in the URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    First,
    After(i64),
    Before(i64),
}

/// A page of usagers, and whether there is one before and one after it.
#[derive(Debug, Clone)]
pub struct UsagersPage {
    pub rows: Vec<UsagerRow>,
    pub has_previous: bool,
    pub has_next: bool,
}

/// The usagers page's query for one tab and one direction: static SQL, so each
/// backend plans it with the state known and the row comparison
/// `(sort_name, usager_id) > (…)` read straight from the keyset index.
macro_rules! usagers_sql {
    ($state:literal, $cmp:literal, $order:literal) => {
        concat!(
            "SELECT u.id, u.given_name, u.family_name, u.preferred_username, u.gender,
                    u.birthdate, us.unrevoked_until, us.last_mandat_at
             FROM usager_structures us JOIN usagers u ON u.id = us.usager_id
             WHERE us.structure_id = $1 AND ",
            $state,
            " AND us.search_key LIKE $3 AND (us.sort_name, us.usager_id) ",
            $cmp,
            " ($4, $5) ORDER BY us.sort_name ",
            $order,
            ", us.usager_id ",
            $order,
            " LIMIT $6"
        )
    };
}

/// The same on SQLite when the search has a run of three letters or more: the
/// matching rows come first from the trigram index (`usager_search`, migration
/// 0012), then are sorted — instead of walking the structure's whole list in order
/// and testing each name, which reads every row when few match. The key is tested
/// again on `usager_structures`, so the index only narrows the candidates. (On
/// PostgreSQL the `LIKE` above uses the trigram index when the planner finds it
/// worth it.)
macro_rules! usagers_trigram_sql {
    ($state:literal, $cmp:literal, $order:literal) => {
        concat!(
            "SELECT u.id, u.given_name, u.family_name, u.preferred_username, u.gender,
                    u.birthdate, p.unrevoked_until, p.last_mandat_at
             FROM (SELECT us.usager_id, us.sort_name, us.unrevoked_until, us.last_mandat_at
                   FROM (SELECT rowid / 16777216 AS usager_id FROM usager_search
                         WHERE search_key LIKE $3 AND rowid % 16777216 = $1) m
                   CROSS JOIN usager_structures us
                   WHERE us.structure_id = $1 AND us.usager_id = m.usager_id AND ",
            $state,
            " AND us.search_key LIKE $3 AND (us.sort_name, us.usager_id) ",
            $cmp,
            " ($4, $5) ORDER BY us.sort_name ",
            $order,
            ", us.usager_id ",
            $order,
            " LIMIT $6) p CROSS JOIN usagers u WHERE u.id = p.usager_id ORDER BY p.sort_name ",
            $order,
            ", p.usager_id ",
            $order
        )
    };
}

/// One query macro's statements, [after, before] for each tab (active, expired,
/// revoked).
macro_rules! usagers_tabs {
    ($sql:ident) => {
        [
            [
                $sql!("us.unrevoked_until > $2", ">", "ASC"),
                $sql!("us.unrevoked_until > $2", "<", "DESC"),
            ],
            [
                $sql!("us.unrevoked_until <= $2", ">", "ASC"),
                $sql!("us.unrevoked_until <= $2", "<", "DESC"),
            ],
            [
                $sql!("us.unrevoked_until IS NULL AND $2 = $2", ">", "ASC"),
                $sql!("us.unrevoked_until IS NULL AND $2 = $2", "<", "DESC"),
            ],
        ]
    };
}

const USAGERS_TRIGRAM_SQL: [[&str; 2]; 3] = usagers_tabs!(usagers_trigram_sql);
const USAGERS_SQL: [[&str; 2]; 3] = usagers_tabs!(usagers_sql);

/// A page of a structure's usagers in one state, optionally searched by name, in
/// alphabetical order. Paginated by key (`Cursor`) and never counted: the page
/// reads the index from the cursor on and stops after `limit + 1` rows, so it costs
/// the same with 200 or 200,000 usagers (a `COUNT(*)` and an `OFFSET` read them
/// all).
pub async fn usagers(
    db: &Db,
    structure_id: i64,
    state: State,
    search: &str,
    now: i64,
    limit: i64,
    cursor: Cursor,
) -> Result<UsagersPage, crate::db::Error> {
    let key = search_key(search);
    // Trigrams need three letters in a row; shorter searches match many names,
    // found soon in the list's own order.
    let trigrams = db.backend() == crate::db::Backend::Sqlite
        && key.split(' ').any(|w| w.chars().count() >= 3);
    let table = if trigrams {
        &USAGERS_TRIGRAM_SQL
    } else {
        &USAGERS_SQL
    };
    let [after_sql, before_sql] = match state {
        State::Active => table[0],
        State::Expired => table[1],
        State::Revoked => table[2],
    };
    let pattern = if key.is_empty() {
        "%".to_owned()
    } else {
        format!("%{}%", key.replace(' ', "%"))
    };
    let mut conn = db.conn().await?;
    let at = match cursor {
        Cursor::First => None,
        Cursor::After(id) | Cursor::Before(id) => conn
            .fetch_optional(
                "SELECT sort_name FROM usager_structures WHERE structure_id = $1 AND usager_id = $2",
                crate::args![structure_id, id],
            )
            .await?
            .map(|r| r.text("sort_name").map(|n| (n, id)))
            .transpose()?,
    };
    let backwards = matches!(cursor, Cursor::Before(_)) && at.is_some();
    let (name, id) = at.unwrap_or_else(|| (String::new(), -1));
    let mut rows = conn
        .fetch_all(
            if backwards { before_sql } else { after_sql },
            crate::args![
                structure_id,
                now,
                pattern.as_str(),
                name.as_str(),
                id,
                limit + 1
            ],
        )
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    if backwards {
        rows.reverse();
    }
    let list = rows
        .iter()
        .map(|r| {
            Ok(UsagerRow {
                id: r.int("id")?,
                name: display_name(
                    &r.text("given_name")?,
                    &r.text("family_name")?,
                    &r.text("preferred_username")?,
                    &r.text("gender")?,
                ),
                birthdate: birthdate_fr(&r.text("birthdate")?),
                unrevoked_until: r.opt_int("unrevoked_until")?,
                last_mandat_at: r.int("last_mandat_at")?,
            })
        })
        .collect::<Result<Vec<_>, crate::db::Error>>()?;
    let (has_previous, has_next) = if backwards {
        (more, true)
    } else {
        (matches!(cursor, Cursor::After(_)) && id >= 0, more)
    };
    Ok(UsagersPage {
        rows: list,
        has_previous,
        has_next,
    })
}

/// A usager as one structure sees them.
#[derive(Debug, Clone)]
pub struct Usager {
    pub id: i64,
    pub identity: Identity,
}

impl Usager {
    fn from_row(r: &crate::db::Rec) -> Result<Self, crate::db::Error> {
        Ok(Usager {
            id: r.get("id")?,
            identity: Identity {
                sub_hash: r.get("sub_hash")?,
                given_name: r.get("given_name")?,
                family_name: r.get("family_name")?,
                preferred_username: r.get("preferred_username")?,
                birthdate: r.get("birthdate")?,
                gender: r.get("gender")?,
                birthplace: r.get("birthplace")?,
                birthcountry: r.get("birthcountry")?,
                email: r.get("email")?,
            },
        })
    }
}

/// The usager, only if the structure has (had) a mandate with them.
pub async fn usager_for_structure(
    db: &Db,
    structure_id: i64,
    usager_id: i64,
) -> Result<Option<Usager>, crate::db::Error> {
    db.fetch_optional(
        "SELECT u.id, u.sub_hash, u.given_name, u.family_name, u.preferred_username, u.birthdate,
                u.gender, u.birthplace, u.birthcountry, u.email
         FROM usagers u JOIN usager_structures us ON us.usager_id = u.id
         WHERE us.structure_id = $1 AND u.id = $2",
        crate::args![structure_id, usager_id],
    )
    .await?
    .map(|r| Usager::from_row(&r))
    .transpose()
}

/// One autorisation of a mandate.
#[derive(Debug, Clone)]
pub struct Autorisation {
    pub id: i64,
    pub demarche: Demarche,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub state: State,
}

impl Autorisation {
    pub fn revoked_on(&self) -> String {
        self.revoked_at
            .map(crate::time_fr::date)
            .unwrap_or_default()
    }
}

/// A mandate with its autorisations.
#[derive(Debug, Clone)]
pub struct Mandat {
    pub id: i64,
    pub structure_id: i64,
    pub usager_id: i64,
    pub aidant_id: i64,
    pub aidant_name: String,
    pub duration_days: i64,
    pub is_remote: bool,
    pub template_version: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub autorisations: Vec<Autorisation>,
    pub state: State,
}

/// A mandate as the aidant's home lists it.
#[derive(Debug, Clone)]
pub struct MandatBrief {
    pub id: i64,
    pub usager_name: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl MandatBrief {
    pub fn created_on(&self) -> String {
        crate::time_fr::date(self.created_at)
    }
    pub fn expires_on(&self) -> String {
        last_day(self.expires_at)
    }
}

/// The aidant's home: the structure's last mandates, newest first, and its
/// active mandates ending within `within_days`, soonest first (`limit` each). Two
/// indexed reads, whatever the number of mandates.
pub async fn home_lists(
    db: &Db,
    structure_id: i64,
    now: i64,
    within_days: i64,
    limit: i64,
) -> Result<(Vec<MandatBrief>, Vec<MandatBrief>), crate::db::Error> {
    let mut conn = db.conn().await?;
    let recent = conn
        .fetch_all(
            "SELECT m.id, m.created_at, m.expires_at,
                    u.given_name, u.family_name, u.preferred_username, u.gender
             FROM mandats m JOIN usagers u ON u.id = m.usager_id
             WHERE m.structure_id = $1
             ORDER BY m.id DESC LIMIT $2",
            crate::args![structure_id, limit],
        )
        .await?;
    let ending = conn
        .fetch_all(
            "SELECT m.id, m.created_at, m.expires_at,
                    u.given_name, u.family_name, u.preferred_username, u.gender
             FROM mandats m JOIN usagers u ON u.id = m.usager_id
             WHERE m.structure_id = $1 AND m.expires_at > $2 AND m.expires_at <= $3
               AND EXISTS (SELECT 1 FROM autorisations a
                           WHERE a.mandat_id = m.id AND a.revoked_at IS NULL)
             ORDER BY m.expires_at, m.id LIMIT $4",
            crate::args![structure_id, now, now + within_days * 86_400, limit],
        )
        .await?;
    let brief = |rows: Vec<crate::db::exec::Rec>| -> Result<Vec<MandatBrief>, crate::db::Error> {
        rows.iter()
            .map(|r| {
                Ok(MandatBrief {
                    id: r.int("id")?,
                    usager_name: display_name(
                        &r.text("given_name")?,
                        &r.text("family_name")?,
                        &r.text("preferred_username")?,
                        &r.text("gender")?,
                    ),
                    created_at: r.int("created_at")?,
                    expires_at: r.int("expires_at")?,
                })
            })
            .collect()
    };
    Ok((brief(recent)?, brief(ending)?))
}

/// The last day a mandate (or an autorisation) ending at `expires_at` covers,
/// « 03/12/2027 »: the one way the end is shown — mandate page, usagers list,
/// recap, attestation and verification page all say « jusqu'au … inclus » with it.
pub fn last_day(expires_at: i64) -> String {
    crate::time_fr::date(expires_at - 1)
}

/// [`last_day`] in words, « 3 décembre 2027 », for the attestation.
pub fn last_day_long(expires_at: i64) -> String {
    crate::time_fr::date_long(expires_at - 1)
}

impl Mandat {
    pub fn created_on(&self) -> String {
        crate::time_fr::date(self.created_at)
    }
    pub fn expires_on(&self) -> String {
        last_day(self.expires_at)
    }
    pub fn demarches(&self) -> Vec<Demarche> {
        self.autorisations.iter().map(|a| a.demarche).collect()
    }
    pub fn active_demarches(&self) -> Vec<Demarche> {
        self.autorisations
            .iter()
            .filter(|a| a.state == State::Active)
            .map(|a| a.demarche)
            .collect()
    }
    /// When the last autorisation was revoked (a revoked mandate).
    pub fn revoked_at(&self) -> Option<i64> {
        self.autorisations.iter().filter_map(|a| a.revoked_at).max()
    }
}

fn state_of(expires_at: i64, revoked_at: Option<i64>, now: i64) -> State {
    match revoked_at {
        Some(_) => State::Revoked,
        None if expires_at > now => State::Active,
        None => State::Expired,
    }
}

/// A mandate is active while unexpired with at least one unrevoked autorisation;
/// revoked when every autorisation was revoked; expired otherwise.
fn mandat_state(expires_at: i64, autorisations: &[Autorisation], now: i64) -> State {
    if autorisations.iter().all(|a| a.revoked_at.is_some()) {
        State::Revoked
    } else if expires_at > now {
        State::Active
    } else {
        State::Expired
    }
}

/// Mandates of a usager with one structure (or one mandate), newest first.
pub async fn mandats(
    db: &Db,
    structure_id: i64,
    usager_id: Option<i64>,
    mandat_id: Option<i64>,
    now: i64,
) -> Result<Vec<Mandat>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT m.id, m.structure_id, m.usager_id, m.aidant_id, ac.full_name, m.duration_days,
                m.is_remote, m.template_version, m.created_at, m.expires_at,
                a.id AS aid, a.demarche, a.expires_at AS a_expires, a.revoked_at
         FROM mandats m
         JOIN accounts ac ON ac.id = m.aidant_id
         JOIN autorisations a ON a.mandat_id = m.id
         WHERE m.structure_id = $1 AND ($2 = 0 OR m.usager_id = $3) AND ($4 = 0 OR m.id = $5)
         ORDER BY m.created_at DESC, m.id DESC, a.demarche",
            crate::args![
                structure_id,
                i64::from(usager_id.is_some()),
                usager_id.unwrap_or(0),
                i64::from(mandat_id.is_some()),
                mandat_id.unwrap_or(0)
            ],
        )
        .await?;
    collect_mandats(&rows, now)
}

/// Every mandate of a usager, in every structure, newest first (their space).
pub async fn mandats_of_usager(
    db: &Db,
    usager_id: i64,
    now: i64,
) -> Result<Vec<Mandat>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT m.id, m.structure_id, m.usager_id, m.aidant_id, ac.full_name, m.duration_days,
                m.is_remote, m.template_version, m.created_at, m.expires_at,
                a.id AS aid, a.demarche, a.expires_at AS a_expires, a.revoked_at
         FROM mandats m
         JOIN accounts ac ON ac.id = m.aidant_id
         JOIN autorisations a ON a.mandat_id = m.id
         WHERE m.usager_id = $1
         ORDER BY m.created_at DESC, m.id DESC, a.demarche",
            crate::args![usager_id],
        )
        .await?;
    collect_mandats(&rows, now)
}

/// Mandates from rows of (mandate × autorisation), in their order.
fn collect_mandats(rows: &[crate::db::Rec], now: i64) -> Result<Vec<Mandat>, crate::db::Error> {
    let mut out: Vec<Mandat> = Vec::new();
    for r in rows {
        let id: i64 = r.get("id")?;
        let demarche: String = r.get("demarche")?;
        let Ok(demarche) = Demarche::parse(&demarche) else {
            continue;
        };
        let a_expires: i64 = r.get("a_expires")?;
        let revoked_at: Option<i64> = r.get("revoked_at")?;
        let a = Autorisation {
            id: r.get("aid")?,
            demarche,
            expires_at: a_expires,
            revoked_at,
            state: state_of(a_expires, revoked_at, now),
        };
        match out.last_mut() {
            Some(m) if m.id == id => m.autorisations.push(a),
            _ => out.push(Mandat {
                id,
                structure_id: r.get("structure_id")?,
                usager_id: r.get("usager_id")?,
                aidant_id: r.get("aidant_id")?,
                aidant_name: r.get("full_name")?,
                duration_days: r.get("duration_days")?,
                is_remote: r.get::<i64>("is_remote")? != 0,
                template_version: r.get("template_version")?,
                created_at: r.get("created_at")?,
                expires_at: r.get("expires_at")?,
                autorisations: vec![a],
                state: State::Active,
            }),
        }
    }
    for m in &mut out {
        m.state = mandat_state(m.expires_at, &m.autorisations, now);
    }
    Ok(out)
}

/// Active autorisations of a structure for (usager, démarche): at most one (tests
/// and the identity provider read this).
pub async fn active_autorisations(
    db: &Db,
    structure_id: i64,
    usager_id: i64,
    now: i64,
) -> Result<Vec<(i64, Demarche)>, crate::db::Error> {
    let rows = db
        .conn()
        .await?
        .fetch_all(
            "SELECT id, demarche FROM autorisations
             WHERE structure_id = $1 AND usager_id = $2 AND revoked_at IS NULL AND expires_at > $3
             ORDER BY demarche, id",
            crate::args![structure_id, usager_id, now],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if let Ok(d) = Demarche::parse(&r.text("demarche")?) {
            out.push((r.int("id")?, d));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_key_ignores_case_accents_and_punctuation() {
        assert_eq!(search_key("Marie-Hélène LEFÈVRE"), "marie helene lefevre");
        assert_eq!(search_key("  Éloïse O'CONNOR "), "eloise o connor");
        assert_eq!(search_key("Cœur"), "coeur");
    }

    #[test]
    fn durations_end_at_midnight_paris() {
        // 2026-11-24 09:00 Paris.
        let now = crate::time_fr::days_from_civil(2026, 11, 24) * 86_400 + 8 * 3_600;
        let end = Duree::Court.expiry(now);
        assert_eq!(crate::time_fr::date_time(end), "26/11/2026 à 0 h 00");
        assert_eq!(crate::time_fr::date(end - 1), "25/11/2026");
        assert_eq!(
            crate::time_fr::date(Duree::Long.expiry(now) - 1),
            "24/11/2027"
        );
        assert!(Duree::parse("7").is_err());
        assert_eq!(Duree::parse("182"), Ok(Duree::SixMois));
    }

    #[test]
    fn names_with_usage_name() {
        assert_eq!(
            display_name("Pierre", "MERCIER", "DUBOIS", "male"),
            "Pierre DUBOIS (né MERCIER)"
        );
        assert_eq!(
            display_name("Angela", "DUBOIS", "", "female"),
            "Angela DUBOIS"
        );
    }
}
