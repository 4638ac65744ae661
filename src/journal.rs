//! The journal: the tamper-evident, append-only record of everything done under
//! mandates.
//!
//! - One hash chain per structure (`chain` = structure id; 0 for platform-level
//!   entries), so structures never wait for one another. Each entry stores the
//!   SHA-256 of its canonical content, which includes the previous entry's hash.
//! - Personal fields (a usager's name…) live in `journal_personal` and are only
//!   *committed* in the entry by `personal_hash` = SHA-256(salt, data). Deleting
//!   them when a usager is deleted (pseudonymisation) leaves the chain verifiable.
//! - Database triggers refuse UPDATE and DELETE on `journal` (both backends).
//! - Entries are appended inside the transaction of the change they record.
//! - Every append also rewrites the chain's **signed head** (`journal_heads`): the
//!   server's Ed25519 seal of (chain, last seq, last hash), with a key derived from
//!   the server secret ([`crate::crypto::ServerKeys`]). Someone who has the database
//!   but not the secret can drop the triggers and recompute hashes, but cannot sign
//!   a head: [`verify`] reports a rewritten entry, a truncated chain, a deleted
//!   chain, a chain without head and a head whose seal fails. What remains possible
//!   without the key: deleting a chain *and* its head together, or putting back an
//!   older copy of the whole database; [`heads`] exports the signed heads so that a
//!   copy kept elsewhere (`relais journal tetes`) catches those too
//!   (`relais journal verify --tetes FICHIER`).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::crypto;
use crate::db::exec::Exec;
use crate::db::{Db, Tx};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Declares [`Action`] with its stored key and its label, and `Action::ALL`, from
/// one line per action.
macro_rules! actions {
    ($($variant:ident => $key:literal, $label:literal;)*) => {
        /// What was done. The keys are stored; the labels are shown.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            pub const ALL: &[Action] = &[$(Action::$variant,)*];
            pub fn key(self) -> &'static str {
                match self {
                    $(Action::$variant => $key,)*
                }
            }
            pub fn label(self) -> &'static str {
                match self {
                    $(Action::$variant => $label,)*
                }
            }
        }
    };
}

actions! {
    ConnexionAidant => "connexion_aidant", "Connexion d'un aidant";
    ConnexionUsagerFranceConnect => "connexion_usager_franceconnect", "Connexion de l'usager avec FranceConnect";
    CreationMandat => "creation_mandat", "Création d'un mandat";
    CreationAutorisation => "creation_autorisation", "Création d'une autorisation";
    CreationAttestation => "creation_attestation", "Création d'une attestation";
    RenouvellementMandat => "renouvellement_mandat", "Renouvellement d'un mandat";
    RevocationAutorisation => "revocation_autorisation", "Révocation d'une autorisation";
    RevocationMandat => "revocation_mandat", "Révocation d'un mandat";
    UtilisationAutorisation => "utilisation_autorisation", "Utilisation d'une autorisation";
    SuppressionUsager => "suppression_usager", "Suppression des données d'un usager (conservation)";
    HabilitationSoumise => "habilitation_soumise", "Demande d'habilitation envoyée";
    HabilitationModifications => "habilitation_modifications_demandees", "Modifications demandées sur une habilitation";
    HabilitationAcceptee => "habilitation_acceptee", "Habilitation acceptée";
    HabilitationRefusee => "habilitation_refusee", "Habilitation refusée";
    HabilitationCloturee => "habilitation_cloturee", "Demande d'habilitation close";
    HabilitationSupprimee => "habilitation_supprimee", "Demande d'habilitation supprimée (conservation)";
    FormationEnregistree => "formation_enregistree", "Résultat de formation enregistré";
    CartesImportees => "cartes_importees", "Import de cartes TOTP";
    CarteLiee => "carte_liee", "Carte TOTP liée à un aidant";
    CarteDeliee => "carte_deliee", "Carte TOTP déliée";
    CarteResynchronisee => "carte_resynchronisee", "Carte TOTP resynchronisée";
    DesactivationInactivite => "desactivation_inactivite", "Désactivation après 6 mois sans connexion";
    CreationStructure => "creation_structure", "Création d'une structure par un administrateur";
    MembreInvite => "membre_invite", "Personne invitée dans l'équipe";
    MembreAFormer => "membre_a_former", "Aidant inscrit pour la formation";
    RattachementPropose => "rattachement_propose", "Rattachement proposé à une personne d'une autre structure";
    RattachementAccepte => "rattachement_accepte", "Rattachement accepté : la personne rejoint l'équipe";
    MembreAjouteDepuisStructure => "membre_ajoute_depuis_structure", "Membre d'une autre structure du référent ajouté à l'équipe";
    // Entries written before these five were told apart keep their code.
    MembreAjoute => "membre_ajoute", "Membre ajouté à l'équipe";
    MembreDesactive => "membre_desactive", "Accès d'un membre désactivé";
    MembreReactive => "membre_reactive", "Accès d'un membre réactivé";
    DoubleAuthReinitialisee => "double_authentification_reinitialisee", "Double authentification d'un membre réinitialisée";
    MessageHabilitation => "message_habilitation", "Message d'un administrateur sur une demande d'habilitation";
    LieuxImportes => "lieux_importes", "Import de lieux de médiation numérique";
    LieuAccueilModifie => "lieu_accueil_modifie", "Structure rattachée à un lieu, ou détachée";
    CreationAdministrateur => "creation_administrateur", "Création d'un compte administrateur (ligne de commande)";
    PassFinanceur => "pass_financeur", "Pass numérique : financeur créé ou agent ajouté";
    PassPrescripteur => "pass_prescripteur", "Pass numérique : structure désignée prescriptrice";
    PassCommande => "pass_commande", "Pass numérique : commande de carnets";
    PassPaiementCommande => "pass_paiement_commande", "Pass numérique : paiement du financeur enregistré, pass activés";
    PassAllocation => "pass_allocation", "Pass numérique : carnets confiés à un prescripteur";
    PassRemise => "pass_remise", "Pass numérique : carnet remis à une personne";
    PassQualificationDemandee => "pass_qualification_demandee", "Pass numérique : qualification d'un lieu demandée";
    PassQualification => "pass_qualification", "Pass numérique : lieu qualifié ou refusé";
    PassUtilisation => "pass_utilisation", "Pass numérique : pass utilisé";
    PassAnnulation => "pass_annulation", "Pass numérique : utilisation annulée";
    PassReleve => "pass_releve", "Pass numérique : relevé mensuel d'un lieu";
    PassPaiementReleve => "pass_paiement_releve", "Pass numérique : relevé payé au lieu";
    PassEcheance => "pass_echeance", "Pass numérique : étape de fin de validité";
    PassBilan => "pass_bilan", "Pass numérique : bilan de fin de commande accepté";
    PassAvoir => "pass_avoir", "Pass numérique : avoir pour les pass non utilisés";
    MandatDistancePrepare => "mandat_distance_prepare", "Mandat à distance : lien préparé pour la personne";
    MandatDistanceEnvoi => "mandat_distance_envoi", "Mandat à distance : lien envoyé par SMS ou e-mail";
    MandatDistanceAnnule => "mandat_distance_annule", "Mandat à distance : lien annulé";
    SmsAccuse => "sms_accuse", "Accusé de réception d'un SMS par le fournisseur";
    DemandeSuppressionUsager => "demande_suppression_usager", "La personne a demandé la suppression de ses données";
    RappelDemande => "rappel_demande", "Solidarité Numérique : demande de rappel reçue";
    RappelPris => "rappel_pris", "Solidarité Numérique : demande prise en charge";
    RappelNote => "rappel_note", "Solidarité Numérique : note ajoutée";
    RappelAppel => "rappel_appel", "Solidarité Numérique : appel passé";
    RappelCloture => "rappel_cloture", "Solidarité Numérique : demande clôturée";
    RappelOriente => "rappel_oriente", "Solidarité Numérique : demande orientée vers une autre file";
    RappelParticipation => "rappel_participation", "Solidarité Numérique : la structure répond ou cesse de répondre aux demandes";
    EquipementCampagne => "equipement_campagne", "Kits d'inclusion : campagne ouverte";
    EquipementDemande => "equipement_demande", "Kits d'inclusion : demande d'équipement déposée";
    EquipementDecision => "equipement_decision", "Kits d'inclusion : demande accordée ou refusée";
    EquipementLivraison => "equipement_livraison", "Kits d'inclusion : équipements livrés";
}

/// The chain of the national administration (habilitation decisions, training
/// results): structures' chains are numbered by their id, from 1.
pub const ADMIN_CHAIN: i64 = 0;

impl Action {
    /// The actions of a structure's chain (what a référent filters on).
    pub const STRUCTURE: [Action; 38] = [
        Action::MembreInvite,
        Action::MembreAFormer,
        Action::RattachementPropose,
        Action::RattachementAccepte,
        Action::MembreAjouteDepuisStructure,
        Action::MembreAjoute,
        Action::MembreDesactive,
        Action::MembreReactive,
        Action::DoubleAuthReinitialisee,
        Action::DesactivationInactivite,
        Action::CarteLiee,
        Action::CarteDeliee,
        Action::CarteResynchronisee,
        Action::ConnexionAidant,
        Action::ConnexionUsagerFranceConnect,
        Action::CreationMandat,
        Action::CreationAutorisation,
        Action::CreationAttestation,
        Action::RenouvellementMandat,
        Action::RevocationAutorisation,
        Action::RevocationMandat,
        Action::UtilisationAutorisation,
        Action::SuppressionUsager,
        Action::MandatDistancePrepare,
        Action::MandatDistanceEnvoi,
        Action::MandatDistanceAnnule,
        Action::SmsAccuse,
        Action::DemandeSuppressionUsager,
        Action::RappelDemande,
        Action::RappelPris,
        Action::RappelNote,
        Action::RappelAppel,
        Action::RappelCloture,
        Action::RappelOriente,
        Action::RappelParticipation,
        Action::EquipementDemande,
        Action::EquipementDecision,
        Action::EquipementLivraison,
    ];
    pub fn parse(raw: &str) -> Option<Action> {
        Self::ALL.iter().copied().find(|a| a.key() == raw)
    }
}

/// An entry to append.
#[derive(Debug, Default, Clone)]
pub struct NewEntry {
    pub chain: i64,
    pub action: Option<Action>,
    pub account_id: Option<i64>,
    pub usager_id: Option<i64>,
    pub mandat_id: Option<i64>,
    pub autorisation_id: Option<i64>,
    pub demarche: Option<String>,
    /// Non-personal details (JSON object text or empty).
    pub details: String,
    /// Personal details (JSON object text), committed separately.
    pub personal: Option<String>,
}

impl NewEntry {
    pub fn new(chain: i64, action: Action) -> Self {
        NewEntry {
            chain,
            action: Some(action),
            ..NewEntry::default()
        }
    }
    pub fn account(mut self, id: i64) -> Self {
        self.account_id = Some(id);
        self
    }
    pub fn usager(mut self, id: i64) -> Self {
        self.usager_id = Some(id);
        self
    }
    pub fn mandat(mut self, id: i64) -> Self {
        self.mandat_id = Some(id);
        self
    }
    pub fn autorisation(mut self, id: i64, demarche: &str) -> Self {
        self.autorisation_id = Some(id);
        self.demarche = Some(demarche.to_owned());
        self
    }
    pub fn details(mut self, json: serde_json::Value) -> Self {
        self.details = json.to_string();
        self
    }
    pub fn personal(mut self, json: serde_json::Value) -> Self {
        self.personal = Some(json.to_string());
        self
    }
}

/// The stored fields that the hash covers.
struct Hashed<'a> {
    chain: i64,
    seq: i64,
    at: i64,
    action: &'a str,
    account_id: Option<i64>,
    usager_id: Option<i64>,
    mandat_id: Option<i64>,
    autorisation_id: Option<i64>,
    demarche: Option<&'a str>,
    details: &'a str,
    personal_hash: &'a str,
    prev_hash: &'a str,
}

fn opt(buf: &mut String, v: Option<i64>) {
    if let Some(v) = v {
        let _ = write!(buf, "{v}");
    }
    buf.push('\u{1f}');
}

impl Hashed<'_> {
    /// SHA-256 over a canonical text: version, then every field separated by the
    /// unit separator (which no stored text contains: details are JSON, which
    /// escapes control characters).
    fn hash(&self, buf: &mut String) -> String {
        buf.clear();
        let _ = write!(
            buf,
            "relais-journal-v1\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}",
            self.chain, self.seq, self.at, self.action
        );
        opt(buf, self.account_id);
        opt(buf, self.usager_id);
        opt(buf, self.mandat_id);
        opt(buf, self.autorisation_id);
        buf.push_str(self.demarche.unwrap_or(""));
        buf.push('\u{1f}');
        buf.push_str(self.details);
        buf.push('\u{1f}');
        buf.push_str(self.personal_hash);
        buf.push('\u{1f}');
        buf.push_str(self.prev_hash);
        hex::encode(Sha256::digest(buf.as_bytes()))
    }
}

/// Commitment to personal data: SHA-256(salt, data). The random salt makes the
/// commitment useless to guess names from once the data is deleted.
pub fn personal_hash(salt: &str, data: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0x1f]);
    h.update(data.as_bytes());
    hex::encode(h.finalize())
}

/// Appends an entry inside `tx`. The caller's transaction must hold the chain's
/// structure lock ([`Db::lock_structure`]) so appends to one chain are serial.
pub async fn append<E: Exec>(tx: &mut E, e: &NewEntry, now: i64) -> Result<i64, crate::db::Error> {
    crate::db::exec::lock_structure(tx, e.chain).await?;
    let head = tx
        .fetch_optional(crate::journal_head!("$1"), crate::args![e.chain])
        .await?
        .map(|r| Ok::<_, crate::db::Error>((r.int("seq")?, r.text("hash")?)))
        .transpose()?;
    append_after(tx, e, head, now).await
}

/// The statement that reads a chain's last entry (`seq`, `hash`), the chain's id
/// in `$chain`: the one definition of « the head » for [`append`] and
/// [`journal_head_lateral!`].
#[macro_export]
macro_rules! journal_head {
    ($chain:literal) => {
        concat!(
            "SELECT seq, hash FROM journal WHERE chain = ",
            $chain,
            " ORDER BY seq DESC LIMIT 1"
        )
    };
}

/// What a statement reads of a chain's last entry to append after it with
/// [`append_after`]: add `LEFT JOIN LATERAL (…) head ON true` with this text (the
/// chain's id in its `$n`) and select `head.seq, head.hash`. Used where a hot path
/// reads the head in a statement it sends anyway (the identity provider's code).
#[macro_export]
macro_rules! journal_head_lateral {
    ($chain:literal) => {
        concat!(
            "LEFT JOIN LATERAL (",
            $crate::journal_head!($chain),
            ") head ON true"
        )
    };
}

/// Appends an entry after `head` (the chain's last entry's `seq` and `hash`,
/// `None` for an empty chain), which the caller read inside `tx` **after** taking
/// the chain's lock — in a statement of its own, saving a round trip. Anything
/// else would fork the chain, which [`verify`] reports.
pub async fn append_after<E: Exec>(
    tx: &mut E,
    e: &NewEntry,
    head: Option<(i64, String)>,
    now: i64,
) -> Result<i64, crate::db::Error> {
    let action = e.action.map(Action::key).unwrap_or("inconnue");
    crate::db::exec::lock_structure(tx, e.chain).await?;
    // What the journal records survives a crash, whatever the server's default.
    crate::db::exec::durable_commit(tx).await?;
    let (seq, prev_hash) = match head {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_owned()),
    };
    let (personal, p_hash) = match &e.personal {
        Some(data) => {
            let salt = crypto::random_token();
            let h = personal_hash(&salt, data);
            (Some((salt, data)), h)
        }
        None => (None, String::new()),
    };
    let hashed = Hashed {
        chain: e.chain,
        seq,
        at: now,
        action,
        account_id: e.account_id,
        usager_id: e.usager_id,
        mandat_id: e.mandat_id,
        autorisation_id: e.autorisation_id,
        demarche: e.demarche.as_deref(),
        details: &e.details,
        personal_hash: &p_hash,
        prev_hash: &prev_hash,
    };
    let hash = hashed.hash(&mut String::new());
    let keys = tx.keys();
    let signature = keys.seal(&head_payload(e.chain, seq, &hash));
    let key_id = keys.seal_key_id.clone();
    let demarche = e.demarche.as_deref();
    let (key_id, signature) = (key_id.as_str(), signature.as_str());
    let args = crate::args![
        e.chain,
        seq,
        now,
        action,
        e.account_id,
        e.usager_id,
        e.mandat_id,
        e.autorisation_id,
        demarche,
        e.details,
        p_hash,
        prev_hash,
        hash,
        key_id,
        signature,
    ];
    // On PostgreSQL the entry and the chain's new head go in one statement (one
    // round trip fewer on the hottest write, see docs/PERFORMANCE.md); SQLite
    // cannot write from a `WITH`, and runs in-process: two statements.
    let id = match tx.backend() {
        crate::db::Backend::Postgres => tx
            .fetch_optional(
                "WITH entry AS (
                     INSERT INTO journal (chain, seq, at, action, account_id, usager_id, mandat_id,
                         autorisation_id, demarche, details, personal_hash, prev_hash, hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id),
                 head AS (
                     INSERT INTO journal_heads (chain, seq, hash, at, key_id, signature)
                     VALUES ($1, $2, $13, $3, $14, $15)
                     ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
                         at = excluded.at, key_id = excluded.key_id, signature = excluded.signature)
                 SELECT id FROM entry",
                args,
            )
            .await?
            .ok_or(crate::db::Error::NotFound)?
            .int("id")?,
        crate::db::Backend::Sqlite => {
            let id = tx
                .fetch_optional(
                    "INSERT INTO journal (chain, seq, at, action, account_id, usager_id, mandat_id,
                         autorisation_id, demarche, details, personal_hash, prev_hash, hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                    &args[..13],
                )
                .await?
                .ok_or(crate::db::Error::NotFound)?
                .int("id")?;
            tx.execute(
                HEAD_UPSERT,
                crate::args![e.chain, seq, hash, now, key_id, signature],
            )
            .await?;
            id
        }
    };
    if let Some((salt, data)) = personal {
        tx.execute(
            "INSERT INTO journal_personal (entry_id, usager_id, salt, data) VALUES ($1, $2, $3, $4)",
            crate::args![id, e.usager_id, &salt, data.as_str()],
        )
        .await?;
    }
    Ok(id)
}

/// Writes (or replaces) a chain's signed head.
const HEAD_UPSERT: &str = "INSERT INTO journal_heads (chain, seq, hash, at, key_id, signature)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
         at = excluded.at, key_id = excluded.key_id, signature = excluded.signature";

/// The text a chain head's seal signs.
fn head_payload(chain: i64, seq: i64, hash: &str) -> String {
    format!("relais-journal-tete|{chain}|{seq}|{hash}")
}

/// Writes the signed head of `chain` (inside the appending transaction).
async fn seal_head<E: Exec>(
    tx: &mut E,
    chain: i64,
    seq: i64,
    hash: &str,
    now: i64,
) -> Result<(), crate::db::Error> {
    let keys = tx.keys();
    let signature = keys.seal(&head_payload(chain, seq, hash));
    let key_id = keys.seal_key_id.clone();
    tx.execute(
        HEAD_UPSERT,
        crate::args![chain, seq, hash, now, key_id.as_str(), signature.as_str()],
    )
    .await?;
    Ok(())
}

/// A chain's signed head, as stored and as exported by `relais journal tetes`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    pub chain: i64,
    pub seq: i64,
    pub hash: String,
    pub at: i64,
    pub key_id: String,
    pub signature: String,
}

/// Every chain's signed head.
pub async fn heads(db: &Db) -> Result<Vec<Head>, crate::db::Error> {
    db.conn()
        .await?
        .fetch_all(
            "SELECT chain, seq, hash, at, key_id, signature FROM journal_heads ORDER BY chain",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Head {
                chain: r.int("chain")?,
                seq: r.int("seq")?,
                hash: r.text("hash")?,
                at: r.int("at")?,
                key_id: r.text("key_id")?,
                signature: r.text("signature")?,
            })
        })
        .collect()
}

/// Seals the heads of chains that have none: chains written before signed heads
/// existed (run once, when migration 10 is applied), or every chain after the
/// server secret changed (`relais journal sceller`, only when the chains' hashes
/// all verify). Returns the chains sealed.
pub async fn seal_chains(db: &Db, only_unsealed: bool, now: i64) -> Result<u64, SealError> {
    let v = walk(db).await?;
    if let Some(b) = v.first_broken {
        return Err(SealError::Broken(b));
    }
    let existing: std::collections::HashSet<i64> = if only_unsealed {
        heads(db).await?.iter().map(|h| h.chain).collect()
    } else {
        Default::default()
    };
    let mut tx = db.begin().await?;
    let mut n = 0;
    for (chain, seq, hash) in v.lasts.iter().filter(|l| !existing.contains(&l.0)) {
        seal_head(&mut tx, *chain, *seq, hash, now).await?;
        n += 1;
    }
    tx.commit().await?;
    Ok(n)
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("journal altéré, rien n'a été scellé : entrée n° {} (structure {}, rang {}) : {}", .0.id, .0.chain, .0.seq, .0.reason)]
    Broken(Broken),
    #[error(transparent)]
    Db(#[from] crate::db::Error),
}

/// The outcome of `relais journal verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub entries: u64,
    pub chains: u64,
    /// The first entry whose stored hash, link or personal commitment is wrong, or
    /// the first chain whose signed head does not match.
    pub first_broken: Option<Broken>,
    /// Each chain's last entry: (chain, seq, hash).
    lasts: Vec<(i64, i64, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub id: i64,
    pub chain: i64,
    pub seq: i64,
    pub reason: &'static str,
}

/// One stored entry as read for verification (borrowed from the row).
struct Stored<'a> {
    id: i64,
    chain: i64,
    seq: i64,
    at: i64,
    action: &'a str,
    account_id: Option<i64>,
    usager_id: Option<i64>,
    mandat_id: Option<i64>,
    autorisation_id: Option<i64>,
    demarche: Option<&'a str>,
    details: &'a str,
    personal_hash: &'a str,
    prev_hash: &'a str,
    hash: &'a str,
    salt: Option<&'a str>,
    data: Option<&'a str>,
}

const VERIFY_SQL: &str =
    "SELECT j.id, j.chain, j.seq, j.at, j.action, j.account_id, j.usager_id, j.mandat_id,
        j.autorisation_id, j.demarche, j.details, j.personal_hash, j.prev_hash, j.hash,
        p.salt, p.data
 FROM journal j LEFT JOIN journal_personal p ON p.entry_id = j.id
 ORDER BY j.chain, j.seq";

/// The chain walk: every entry's hash recomputed, links and sequence checked,
/// personal data still present matched against its commitment.
#[derive(Default)]
struct Walker {
    buf: String,
    entries: u64,
    chains: u64,
    current_chain: Option<i64>,
    expected_prev: String,
    expected_seq: i64,
    lasts: Vec<(i64, i64, String)>,
}

impl Walker {
    fn step(&mut self, e: &Stored<'_>) -> Option<Broken> {
        self.entries += 1;
        if self.current_chain != Some(e.chain) {
            self.close_chain();
            self.current_chain = Some(e.chain);
            self.chains += 1;
            GENESIS.clone_into(&mut self.expected_prev);
            self.expected_seq = 1;
        }
        let broken = |reason| {
            Some(Broken {
                id: e.id,
                chain: e.chain,
                seq: e.seq,
                reason,
            })
        };
        if e.seq != self.expected_seq {
            return broken("entrée manquante ou déplacée");
        }
        if e.prev_hash != self.expected_prev {
            return broken("lien avec l'entrée précédente rompu");
        }
        let computed = Hashed {
            chain: e.chain,
            seq: e.seq,
            at: e.at,
            action: e.action,
            account_id: e.account_id,
            usager_id: e.usager_id,
            mandat_id: e.mandat_id,
            autorisation_id: e.autorisation_id,
            demarche: e.demarche,
            details: e.details,
            personal_hash: e.personal_hash,
            prev_hash: e.prev_hash,
        }
        .hash(&mut self.buf);
        if computed != e.hash {
            return broken("contenu modifié");
        }
        if let (Some(salt), Some(data)) = (e.salt, e.data)
            && personal_hash(salt, data) != e.personal_hash
        {
            return broken("données personnelles modifiées");
        }
        self.expected_prev.clear();
        self.expected_prev.push_str(e.hash);
        self.expected_seq += 1;
        None
    }

    /// Records the last entry of the chain just walked.
    fn close_chain(&mut self) {
        if let Some(chain) = self.current_chain {
            self.lasts
                .push((chain, self.expected_seq - 1, self.expected_prev.clone()));
        }
    }

    fn finish(mut self, first_broken: Option<Broken>) -> Verification {
        if first_broken.is_none() {
            self.close_chain();
        }
        Verification {
            entries: self.entries,
            chains: self.chains,
            first_broken,
            lasts: self.lasts,
        }
    }
}

/// Walks every chain in order and recomputes every hash. Personal data still
/// present must match its commitment. Reads with [`Db::scan`]: in order, each
/// row decoded in place.
pub async fn verify(db: &Db) -> Result<Verification, crate::db::Error> {
    let mut v = walk(db).await?;
    if v.first_broken.is_none() {
        let heads = heads(db).await?;
        v.first_broken = check_heads(db.keys(), &v.lasts, &heads, false);
    }
    Ok(v)
}

/// [`verify`], then the heads of an export kept outside the database
/// (`relais journal tetes`): every chain they list must still hold the exported
/// entry, unchanged, at the exported rank (nothing deleted or rolled back since).
pub async fn verify_against(db: &Db, kept: &[Head]) -> Result<Verification, crate::db::Error> {
    let mut v = verify(db).await?;
    if v.first_broken.is_none() {
        v.first_broken = check_heads(db.keys(), &v.lasts, kept, true);
        if v.first_broken.is_none() {
            v.first_broken = check_kept_entries(db, kept).await?;
        }
    }
    Ok(v)
}

/// An exported head's entry must be in the database with the same hash.
async fn check_kept_entries(db: &Db, kept: &[Head]) -> Result<Option<Broken>, crate::db::Error> {
    let mut conn = db.conn().await?;
    for h in kept {
        let found = conn
            .fetch_optional(
                "SELECT id, hash FROM journal WHERE chain = $1 AND seq = $2",
                crate::args![h.chain, h.seq],
            )
            .await?;
        match found {
            Some(r) if r.text("hash")? == h.hash => {}
            Some(r) => {
                return Ok(Some(Broken {
                    id: r.int("id")?,
                    chain: h.chain,
                    seq: h.seq,
                    reason: "entrée différente de celle de l'export des têtes signées",
                }));
            }
            None => {
                return Ok(Some(Broken {
                    id: 0,
                    chain: h.chain,
                    seq: h.seq,
                    reason: "entrée présente dans l'export des têtes signées et absente de la base",
                }));
            }
        }
    }
    Ok(None)
}

/// Cross-checks the chains walked with signed heads. `exported`: the heads come
/// from an older export, so a chain may have grown since (but not shrunk), and
/// chains created since are not listed.
fn check_heads(
    keys: &crate::crypto::ServerKeys,
    lasts: &[(i64, i64, String)],
    heads: &[Head],
    exported: bool,
) -> Option<Broken> {
    let broken = |chain, seq, reason| {
        Some(Broken {
            id: 0,
            chain,
            seq,
            reason,
        })
    };
    let by_chain: std::collections::HashMap<i64, &Head> =
        heads.iter().map(|h| (h.chain, h)).collect();
    for h in heads {
        if !keys.seal_valid(&head_payload(h.chain, h.seq, &h.hash), &h.signature) {
            return broken(
                h.chain,
                h.seq,
                if h.key_id == keys.seal_key_id {
                    "tête de chaîne dont la signature est fausse"
                } else {
                    "tête de chaîne signée avec une autre clé (le secret du serveur a changé ? voir « relais journal sceller »)"
                },
            );
        }
        match lasts.binary_search_by_key(&h.chain, |l| l.0) {
            Err(_) => return broken(h.chain, h.seq, "chaîne supprimée : sa tête signée existe"),
            Ok(i) => {
                let (_, seq, hash) = lasts.get(i)?;
                if *seq < h.seq {
                    return broken(
                        h.chain,
                        *seq,
                        "chaîne tronquée : sa tête signée est plus loin",
                    );
                }
                if !exported && (*seq != h.seq || *hash != h.hash) {
                    return broken(
                        h.chain,
                        *seq,
                        "fin de chaîne différente de sa tête signée (entrées ajoutées ou réécrites hors de Relais)",
                    );
                }
            }
        }
    }
    if !exported && let Some((chain, seq, _)) = lasts.iter().find(|l| !by_chain.contains_key(&l.0))
    {
        return broken(*chain, *seq, "chaîne sans tête signée");
    }
    None
}

/// The walk of every chain, without the heads.
async fn walk(db: &Db) -> Result<Verification, crate::db::Error> {
    let walked = db
        .scan(VERIFY_SQL, (Walker::default(), None), |(w, broken), r| {
            let e = Stored {
                id: r.int(0)?,
                chain: r.int(1)?,
                seq: r.int(2)?,
                at: r.int(3)?,
                action: r.text(4)?,
                account_id: r.opt_int(5)?,
                usager_id: r.opt_int(6)?,
                mandat_id: r.opt_int(7)?,
                autorisation_id: r.opt_int(8)?,
                demarche: r.opt_text(9)?,
                details: r.text(10)?,
                personal_hash: r.text(11)?,
                prev_hash: r.text(12)?,
                hash: r.text(13)?,
                salt: r.opt_text(14)?,
                data: r.opt_text(15)?,
            };
            *broken = w.step(&e);
            Ok(if broken.is_some() {
                crate::db::Step::Stop
            } else {
                crate::db::Step::Next
            })
        })
        .await?;
    let (w, broken) = walked;
    Ok(w.finish(broken))
}

/// One entry as the référent reads it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub account_name: Option<String>,
    pub account_id: Option<i64>,
    pub usager_id: Option<i64>,
    pub usager_name: Option<String>,
    pub mandat_id: Option<i64>,
    pub demarche: Option<String>,
    pub details: String,
    pub hash: String,
}

impl Entry {
    pub fn action_label(&self) -> &'static str {
        Action::parse(&self.action)
            .map(Action::label)
            .unwrap_or("Action")
    }
    pub fn when(&self) -> String {
        crate::time_fr::date_time(self.at)
    }
    /// The entry's details as people read them: `client : demo, motif : …`
    /// (the stored JSON object, one `key : value` per member).
    pub fn details_text(&self) -> String {
        let Ok(serde_json::Value::Object(members)) =
            serde_json::from_str::<serde_json::Value>(&self.details)
        else {
            return String::new();
        };
        members
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k} : {s}"),
                other => format!("{k} : {other}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
    /// The usager's name if still kept, else a pseudonym.
    pub fn usager_label(&self) -> String {
        match (&self.usager_name, self.usager_id) {
            (Some(n), _) => n.clone(),
            (None, Some(id)) => format!("Usager n° {id} (données supprimées)"),
            (None, None) => String::new(),
        }
    }
}

/// Filters of the journal page.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub account_id: Option<i64>,
    pub usager_id: Option<i64>,
    pub action: Option<Action>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// A structure's journal, newest first.
pub async fn list(
    db: &Db,
    structure_id: i64,
    f: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Entry>, i64), crate::db::Error> {
    /// The entries the filter keeps.
    macro_rules! where_ {
        () => {
            "j.chain = $1
              AND ($2 = 0 OR j.account_id = $3)
              AND ($4 = 0 OR j.usager_id = $5)
              AND ($6 = '' OR j.action = $6)
              AND j.at >= $7 AND j.at < $8"
        };
    }
    let action = f.action.map(Action::key).unwrap_or("");
    let count_sql = concat!("SELECT COUNT(*) AS n FROM journal j WHERE ", where_!());
    let total: i64 = db
        .fetch_one(
            count_sql,
            crate::args![
                structure_id,
                i64::from(f.account_id.is_some()),
                f.account_id.unwrap_or(0),
                i64::from(f.usager_id.is_some()),
                f.usager_id.unwrap_or(0),
                action,
                f.from.unwrap_or(0),
                f.to.unwrap_or(i64::MAX)
            ],
        )
        .await?
        .get("n")?;
    let sql = concat!(
        "SELECT j.id, j.at, j.action, j.account_id, a.full_name, j.usager_id, p.data,
                j.mandat_id, j.demarche, j.details, j.hash,
                u.given_name, u.family_name, u.preferred_username, u.gender
         FROM journal j
         LEFT JOIN accounts a ON a.id = j.account_id
         LEFT JOIN journal_personal p ON p.entry_id = j.id
         LEFT JOIN usagers u ON u.id = j.usager_id
         WHERE ",
        where_!(),
        " ORDER BY j.seq DESC LIMIT $9 OFFSET $10"
    );
    let rows = db
        .fetch_all(
            sql,
            crate::args![
                structure_id,
                i64::from(f.account_id.is_some()),
                f.account_id.unwrap_or(0),
                i64::from(f.usager_id.is_some()),
                f.usager_id.unwrap_or(0),
                action,
                f.from.unwrap_or(0),
                f.to.unwrap_or(i64::MAX),
                limit,
                offset
            ],
        )
        .await?;
    let entries = rows
        .iter()
        .map(|r| {
            let personal: Option<String> = r.get("data")?;
            let usager_name = personal
                .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
                .and_then(|v| v.get("usager").and_then(|n| n.as_str()).map(str::to_owned));
            // Entries without personal fields (attestations, uses) name the usager
            // while the usager's data is kept; only deletion makes them a number.
            let usager_name = match (usager_name, r.get::<Option<String>>("given_name")?) {
                (Some(name), _) => Some(name),
                (None, Some(given)) => Some(crate::domain::display_name(
                    &given,
                    &r.text("family_name")?,
                    &r.text("preferred_username")?,
                    &r.text("gender")?,
                )),
                (None, None) => None,
            };
            Ok(Entry {
                id: r.get("id")?,
                at: r.get("at")?,
                action: r.get("action")?,
                account_id: r.get("account_id")?,
                account_name: r.get("full_name")?,
                usager_id: r.get("usager_id")?,
                usager_name,
                mandat_id: r.get("mandat_id")?,
                demarche: r.get("demarche")?,
                details: r.get("details")?,
                hash: r.get("hash")?,
            })
        })
        .collect::<Result<Vec<_>, crate::db::Error>>()?;
    Ok((entries, total))
}

/// Deletes the personal fields of a usager's entries (pseudonymisation): the
/// entries and their hashes stay, the chain still verifies.
pub async fn pseudonymise_usager(tx: &mut Tx, usager_id: i64) -> Result<u64, crate::db::Error> {
    let done = tx
        .execute(
            "DELETE FROM journal_personal WHERE usager_id = $1",
            crate::args![usager_id],
        )
        .await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn every_action_has_its_own_plain_label() {
        let mut labels: Vec<&str> = Action::ALL.iter().map(|a| a.label()).collect();
        assert!(
            labels.iter().all(|l| !l.contains("(ou")),
            "one label per action"
        );
        labels.sort_unstable();
        let n = labels.len();
        labels.dedup();
        assert_eq!(labels.len(), n, "two actions share a label");
    }
}
