//! Accreditation (habilitation) of a structure and its aidants.
//!
//! A structure applies without an account: the requester gives an email and gets a
//! private link (hashed at rest) that confirms the address and leads to the request.
//! The request is saved as a draft, then submitted; administrators read it, exchange
//! messages with the requester, ask for changes, accept or refuse it. Accepting
//! creates the structure, invites the future référent and creates the future aidants
//! as accounts "to be trained" ([`crate::formations`]): they are invited only once
//! trained. Every decision is journaled on the administration chain
//! ([`crate::journal::ADMIN_CHAIN`]).

use serde_json::json;

use crate::accounts::{self, AccountError, InviteOutcome};
use crate::crypto;
use crate::db::exec::{Exec, Rec};
use crate::db::{Db, Tx};
use crate::domain::{Email, InseeCode, Role, Siret, StructureKind};
use crate::journal::{self, Action, NewEntry};

/// How long a private link stays valid after the last change. A draft nobody can
/// reach any more is deleted by the daily retention job ([`purge`]); the requester
/// starts again from the public page.
pub const LINK_TTL: i64 = 90 * 86_400;

/// Future aidants one request may list.
pub const MAX_AIDANTS: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Brouillon,
    Soumise,
    Modifications,
    Acceptee,
    Refusee,
    Cloturee,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Brouillon,
        Status::Soumise,
        Status::Modifications,
        Status::Acceptee,
        Status::Refusee,
        Status::Cloturee,
    ];
    pub fn key(self) -> &'static str {
        match self {
            Status::Brouillon => "brouillon",
            Status::Soumise => "soumise",
            Status::Modifications => "modifications",
            Status::Acceptee => "acceptee",
            Status::Refusee => "refusee",
            Status::Cloturee => "cloturee",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Brouillon => "Brouillon",
            Status::Soumise => "Envoyée, en cours d'instruction",
            Status::Modifications => "Modifications demandées",
            Status::Acceptee => "Acceptée",
            Status::Refusee => "Refusée",
            Status::Cloturee => "Close",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.key() == s)
    }
    /// The requester may still change the request.
    pub fn editable(self) -> bool {
        matches!(self, Status::Brouillon | Status::Modifications)
    }
    /// Still open: messages may be exchanged, the requester may withdraw.
    pub fn open(self) -> bool {
        matches!(
            self,
            Status::Brouillon | Status::Soumise | Status::Modifications
        )
    }
    /// An administrator may still decide.
    pub fn open_for_decision(self) -> bool {
        matches!(self, Status::Soumise | Status::Modifications)
    }
}

/// A future aidant listed in a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FutureAidant {
    pub full_name: String,
    pub email: String,
    pub profession: String,
}

/// What the requester fills in (as typed; checked by [`check`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    pub siret: String,
    pub name: String,
    pub kind: String,
    pub address: String,
    pub commune_insee: String,
    pub france_services_number: String,
    pub referent_name: String,
    pub referent_email: String,
    pub referent_profession: String,
    pub dpo_name: String,
    pub dpo_email: String,
    pub aidants: Vec<FutureAidant>,
    /// The four legal commitments, accepted together.
    pub commitments: bool,
}

impl Details {
    /// The commune as people read it: « Auxerre (89) » once it is a known INSEE
    /// code, else as typed.
    pub fn commune_display(&self) -> String {
        match crate::territoires::get().commune(&self.commune_insee) {
            Some(c) => c.label(),
            None => self.commune_insee.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub id: i64,
    pub email: String,
    pub email_confirmed: bool,
    pub status: Status,
    pub details: Details,
    pub structure_id: Option<i64>,
    pub decision_reason: String,
    pub created_at: i64,
    pub submitted_at: Option<i64>,
    pub decided_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub from_admin: bool,
    pub author: String,
    pub body: String,
    pub created_at: i64,
}

impl Message {
    /// « 24/11/2026 à 14 h 05 ».
    pub fn when(&self) -> String {
        crate::time_fr::date_time(self.created_at)
    }
}

impl Request {
    /// The date it was (last) sent, in French; empty for a draft.
    pub fn submitted_on(&self) -> String {
        self.submitted_at
            .map(crate::time_fr::date)
            .unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HabilitationError {
    /// Shown to the person as is.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] crate::db::Error),
}

impl From<AccountError> for HabilitationError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Db(e) => HabilitationError::Db(e),
            other => HabilitationError::Refused(other.to_string()),
        }
    }
}

/// The columns of a request, for `concat!` (SQL stays `&'static str`).
macro_rules! columns {
    () => {
        "id, email, email_confirmed_at, status, siret, name, kind, address, commune_insee,
         france_services_number, referent_name, referent_email, referent_profession, dpo_name,
         dpo_email, commitments_at, structure_id, decision_reason, created_at, submitted_at,
         decided_at, updated_at"
    };
}

fn from_rec(r: &Rec, aidants: Vec<FutureAidant>) -> Result<Request, crate::db::Error> {
    Ok(Request {
        id: r.int("id")?,
        email: r.text("email")?,
        email_confirmed: r.opt_int("email_confirmed_at")?.is_some(),
        status: Status::parse(&r.text("status")?).unwrap_or(Status::Cloturee),
        details: Details {
            siret: r.text("siret")?,
            name: r.text("name")?,
            kind: r.text("kind")?,
            address: r.text("address")?,
            commune_insee: r.text("commune_insee")?,
            france_services_number: r.text("france_services_number")?,
            referent_name: r.text("referent_name")?,
            referent_email: r.text("referent_email")?,
            referent_profession: r.text("referent_profession")?,
            dpo_name: r.text("dpo_name")?,
            dpo_email: r.text("dpo_email")?,
            aidants,
            commitments: r.opt_int("commitments_at")?.is_some(),
        },
        structure_id: r.opt_int("structure_id")?,
        decision_reason: r.text("decision_reason")?,
        created_at: r.int("created_at")?,
        submitted_at: r.opt_int("submitted_at")?,
        decided_at: r.opt_int("decided_at")?,
    })
}

async fn aidants_of<E: Exec>(e: &mut E, id: i64) -> Result<Vec<FutureAidant>, crate::db::Error> {
    e.fetch_all(
        "SELECT full_name, email, profession FROM habilitation_aidants WHERE request_id = $1 ORDER BY id",
        crate::args![id],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(FutureAidant {
            full_name: r.text("full_name")?,
            email: r.text("email")?,
            profession: r.text("profession")?,
        })
    })
    .collect()
}

/// Starts a request for `email`; returns the raw private token (for the email).
pub async fn start(db: &Db, email: &Email, now: i64) -> Result<String, crate::db::Error> {
    let token = crypto::random_token();
    db.execute(
        "INSERT INTO habilitation_requests (token_hash, email, status, created_at, updated_at)
         VALUES ($1, $2, 'brouillon', $3, $3)",
        crate::args![&crypto::sha256_hex(&token), email.as_str(), now],
    )
    .await?;
    Ok(token)
}

/// Removes a draft nobody could reach (its link email failed).
pub async fn discard(db: &Db, token: &str) -> Result<(), crate::db::Error> {
    db.execute(
        "DELETE FROM habilitation_requests WHERE token_hash = $1 AND status = 'brouillon'",
        crate::args![&crypto::sha256_hex(token)],
    )
    .await?;
    Ok(())
}

/// Retention of requests (part of the daily retention job): a draft unchanged for
/// [`LINK_TTL`] can no longer be reached by anyone and is deleted; a refused or
/// withdrawn request is deleted `keep_days` after its last change. Accepted
/// requests stay: they hold the structure's legal commitments. Messages and future
/// aidants go with their request; each deletion is journaled (ids only) on the
/// administration chain. One transaction. Returns the number of requests deleted.
pub async fn purge(db: &Db, now: i64, keep_days: i64) -> Result<u64, crate::db::Error> {
    let mut tx = db.begin().await?;
    let rows = tx
        .fetch_all(
            "SELECT id, status FROM habilitation_requests
             WHERE (status = 'brouillon' AND updated_at < $1)
                OR (status IN ('refusee', 'cloturee') AND updated_at < $2)
             ORDER BY id",
            crate::args![now - LINK_TTL, now - keep_days * 86_400],
        )
        .await?;
    for r in &rows {
        let id = r.int("id")?;
        for sql in [
            "DELETE FROM habilitation_messages WHERE request_id = $1",
            "DELETE FROM habilitation_aidants WHERE request_id = $1",
            "UPDATE formations SET request_id = NULL WHERE request_id = $1",
            "DELETE FROM habilitation_requests WHERE id = $1",
        ] {
            tx.execute(sql, crate::args![id]).await?;
        }
        journal::append(
            &mut tx,
            &NewEntry::new(journal::ADMIN_CHAIN, Action::HabilitationSupprimee)
                .details(json!({ "demande": id, "etat": r.text("status")? })),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// The request behind a private link; its first opening confirms the email. `None`
/// for an unknown token or a link unused for [`LINK_TTL`].
pub async fn open(db: &Db, token: &str, now: i64) -> Result<Option<Request>, crate::db::Error> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hash = crypto::sha256_hex(token);
    let mut conn = db.conn().await?;
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM habilitation_requests WHERE token_hash = $1"
    );
    let Some(r) = conn.fetch_optional(sql, crate::args![&hash]).await? else {
        return Ok(None);
    };
    if now - r.int("updated_at")? > LINK_TTL {
        return Ok(None);
    }
    let id = r.int("id")?;
    let aidants = aidants_of(&mut conn, id).await?;
    drop(conn);
    let mut req = from_rec(&r, aidants)?;
    if !req.email_confirmed {
        db.execute(
            "UPDATE habilitation_requests SET email_confirmed_at = $1 WHERE id = $2 AND email_confirmed_at IS NULL",
            crate::args![now, id],
        )
        .await?;
        req.email_confirmed = true;
    }
    Ok(Some(req))
}

/// One request by id (administrators).
pub async fn find(db: &Db, id: i64) -> Result<Option<Request>, crate::db::Error> {
    let mut conn = db.conn().await?;
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM habilitation_requests WHERE id = $1"
    );
    let Some(r) = conn.fetch_optional(sql, crate::args![id]).await? else {
        return Ok(None);
    };
    let aidants = aidants_of(&mut conn, id).await?;
    Ok(Some(from_rec(&r, aidants)?))
}

/// Errors by field name (`aidant-N-email` for the N-th future aidant, from 1).
pub type FieldErrors = Vec<(String, String)>;

/// What is stored of the commune typed: its INSEE code once it names one commune,
/// else the text as typed (a draft keeps it until it is corrected).
pub fn commune_code(typed: &str) -> String {
    match crate::territoires::get().resolve(typed) {
        Ok(c) => c.code.clone(),
        Err(_) => typed.trim().to_owned(),
    }
}

/// Checks the details. A draft may be incomplete (only what is filled must be
/// valid); a submission must be complete.
pub fn check(d: &Details, complete: bool) -> FieldErrors {
    let mut errors: FieldErrors = Vec::new();
    let mut add = |f: &str, m: &str| errors.push((f.to_owned(), m.to_owned()));
    let required = |v: &str| complete || !v.trim().is_empty();
    if required(&d.siret)
        && let Err(e) = Siret::parse(&d.siret)
    {
        add("siret", e);
    }
    if complete && d.name.trim().is_empty() {
        add("name", "Saisissez le nom de la structure.");
    }
    if required(&d.kind) && StructureKind::parse(&d.kind).is_err() {
        add("kind", "Choisissez le type de structure.");
    }
    if complete && d.address.trim().is_empty() {
        add("address", "Saisissez l'adresse de la structure.");
    }
    if required(&d.commune_insee)
        && let Err(e) = crate::territoires::get().resolve(&d.commune_insee)
    {
        add("commune_insee", &e);
    }
    let fs = d.france_services_number.trim();
    if !fs.is_empty() && (fs.len() > 10 || !fs.chars().all(|c| c.is_ascii_digit())) {
        add(
            "france_services_number",
            "Le numéro de labellisation France Services ne contient que des chiffres (10 au plus).",
        );
    }
    if complete && d.referent_name.trim().is_empty() {
        add(
            "referent_name",
            "Saisissez le nom de la personne référente.",
        );
    }
    if required(&d.referent_email)
        && let Err(e) = Email::parse(&d.referent_email)
    {
        add("referent_email", e);
    }
    if complete && d.referent_profession.trim().is_empty() {
        add(
            "referent_profession",
            "Saisissez la profession de la personne référente.",
        );
    }
    if complete && d.dpo_name.trim().is_empty() {
        add(
            "dpo_name",
            "Saisissez le nom de la personne à contacter pour la protection des données.",
        );
    }
    if required(&d.dpo_email)
        && let Err(e) = Email::parse(&d.dpo_email)
    {
        add("dpo_email", e);
    }
    let mut seen = Vec::new();
    for (i, a) in d.aidants.iter().enumerate() {
        let n = i + 1;
        if a.full_name.trim().is_empty() {
            add(
                &format!("aidant-{n}-name"),
                "Saisissez le nom de cet aidant.",
            );
        }
        match Email::parse(&a.email) {
            Err(e) => add(&format!("aidant-{n}-email"), e),
            Ok(e) if seen.contains(&e.as_str().to_owned()) => add(
                &format!("aidant-{n}-email"),
                "Cette adresse est déjà dans la liste : une adresse par aidant.",
            ),
            Ok(e) => seen.push(e.as_str().to_owned()),
        }
        if a.profession.trim().is_empty() {
            add(
                &format!("aidant-{n}-profession"),
                "Saisissez la profession de cet aidant (par exemple « travailleur social »).",
            );
        }
    }
    if d.aidants.len() > MAX_AIDANTS {
        add(
            "aidants",
            "Une demande compte au plus 30 aidants : envoyez les suivants après l'habilitation.",
        );
    }
    if complete && d.aidants.is_empty() {
        add(
            "aidants",
            "Indiquez au moins un futur aidant : ce sont eux qui suivront la formation.",
        );
    }
    if complete && !d.commitments {
        add(
            "commitments",
            "Pour envoyer la demande, la structure doit accepter les quatre engagements.",
        );
    }
    errors
}

/// Saves the details of an editable request (valid values only: call [`check`]).
pub async fn save(db: &Db, id: i64, d: &Details, now: i64) -> Result<(), HabilitationError> {
    let mut tx = db.begin().await?;
    let Some(r) = tx
        .fetch_optional(
            "SELECT status FROM habilitation_requests WHERE id = $1",
            crate::args![id],
        )
        .await?
    else {
        return Err(HabilitationError::Refused(
            "Cette demande n'existe plus.".into(),
        ));
    };
    if !Status::parse(&r.text("status")?).is_some_and(Status::editable) {
        return Err(HabilitationError::Refused(
            "Cette demande ne peut plus être modifiée : elle est en cours d'instruction ou close."
                .into(),
        ));
    }
    let siret: String = d.siret.chars().filter(|c| !c.is_whitespace()).collect();
    tx.execute(
        "UPDATE habilitation_requests SET siret = $1, name = $2, kind = $3, address = $4,
             commune_insee = $5, france_services_number = $6, referent_name = $7,
             referent_email = $8, referent_profession = $9, dpo_name = $10, dpo_email = $11,
             commitments_at = $12, updated_at = $13
         WHERE id = $14",
        crate::args![
            siret.as_str(),
            d.name.trim(),
            d.kind.trim(),
            d.address.trim(),
            commune_code(&d.commune_insee).as_str(),
            d.france_services_number.trim(),
            d.referent_name.trim(),
            d.referent_email.trim().to_lowercase().as_str(),
            d.referent_profession.trim(),
            d.dpo_name.trim(),
            d.dpo_email.trim().to_lowercase().as_str(),
            d.commitments.then_some(now),
            now,
            id,
        ],
    )
    .await?;
    tx.execute(
        "DELETE FROM habilitation_aidants WHERE request_id = $1",
        crate::args![id],
    )
    .await?;
    for a in &d.aidants {
        tx.execute(
            "INSERT INTO habilitation_aidants (request_id, full_name, email, profession) VALUES ($1, $2, $3, $4)",
            crate::args![
                id,
                a.full_name.trim(),
                a.email.trim().to_lowercase().as_str(),
                a.profession.trim()
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Sends an editable request to the administrators: every detail must be complete.
pub async fn submit(db: &Db, id: i64, now: i64) -> Result<(), HabilitationError> {
    let Some(req) = find(db, id).await? else {
        return Err(HabilitationError::Refused(
            "Cette demande n'existe plus.".into(),
        ));
    };
    if !req.status.editable() {
        return Err(HabilitationError::Refused(
            "Cette demande a déjà été envoyée.".into(),
        ));
    }
    if !check(&req.details, true).is_empty() {
        return Err(HabilitationError::Refused(
            "La demande est incomplète : complétez les champs signalés puis envoyez-la.".into(),
        ));
    }
    let mut tx = db.begin().await?;
    let done = tx
        .execute(
            "UPDATE habilitation_requests SET status = 'soumise', submitted_at = $1, updated_at = $1
             WHERE id = $2 AND status IN ('brouillon', 'modifications')",
            crate::args![now, id],
        )
        .await?;
    if done != 1 {
        return Err(HabilitationError::Refused(
            "Cette demande a déjà été envoyée.".into(),
        ));
    }
    journal::append(
        &mut tx,
        &NewEntry::new(journal::ADMIN_CHAIN, Action::HabilitationSoumise)
            .details(json!({ "demande": id, "siret": req.details.siret })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The requester withdraws the request (any state before a decision).
pub async fn withdraw(db: &Db, id: i64, now: i64) -> Result<bool, crate::db::Error> {
    let mut tx = db.begin().await?;
    let done = tx
        .execute(
            "UPDATE habilitation_requests SET status = 'cloturee', decided_at = $1, updated_at = $1
             WHERE id = $2 AND status IN ('brouillon', 'soumise', 'modifications')",
            crate::args![now, id],
        )
        .await?;
    if done == 1 {
        journal::append(
            &mut tx,
            &NewEntry::new(journal::ADMIN_CHAIN, Action::HabilitationCloturee)
                .details(json!({ "demande": id, "par": "demandeur" })),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done == 1)
}

/// The thread of messages of a request, oldest first.
pub async fn messages(db: &Db, id: i64) -> Result<Vec<Message>, crate::db::Error> {
    db.conn()
        .await?
        .fetch_all(
            "SELECT m.from_admin, m.body, m.created_at, a.full_name
             FROM habilitation_messages m LEFT JOIN accounts a ON a.id = m.account_id
             WHERE m.request_id = $1 ORDER BY m.id",
            crate::args![id],
        )
        .await?
        .iter()
        .map(|r| {
            let from_admin = r.int("from_admin")? != 0;
            Ok(Message {
                from_admin,
                author: if from_admin {
                    format!(
                        "{} (équipe Relais)",
                        r.opt_text("full_name")?.unwrap_or_default()
                    )
                } else {
                    "Demandeur".to_owned()
                },
                body: r.text("body")?,
                created_at: r.int("created_at")?,
            })
        })
        .collect()
}

/// Who to tell that a requester wrote on request `id`, if anyone: the
/// administrators who wrote on it, or every active administrator when none has
/// yet. Nobody when the requester's previous message, less than an hour ago, is
/// still unanswered (they were told then: one email per exchange, not per
/// message).
pub async fn admins_to_notify(db: &Db, id: i64, now: i64) -> Result<Vec<String>, crate::db::Error> {
    let recent = db
        .fetch_all(
            "SELECT from_admin, created_at FROM habilitation_messages
             WHERE request_id = $1 ORDER BY id DESC LIMIT 2",
            crate::args![id],
        )
        .await?;
    // recent[0] is the message just written; recent[1] the one before it.
    if let Some(previous) = recent.get(1)
        && previous.int("from_admin")? == 0
        && now - previous.int("created_at")? < 3_600
    {
        return Ok(Vec::new());
    }
    let involved = db
        .fetch_all(
            "SELECT DISTINCT a.email FROM habilitation_messages m JOIN accounts a ON a.id = m.account_id
             WHERE m.request_id = $1 AND m.from_admin = 1 AND a.is_admin = 1 AND a.disabled_at IS NULL
             ORDER BY a.email",
            crate::args![id],
        )
        .await?;
    let rows = if involved.is_empty() {
        db.fetch_all(
            "SELECT email FROM accounts WHERE is_admin = 1 AND disabled_at IS NULL ORDER BY email",
            &[],
        )
        .await?
    } else {
        involved
    };
    rows.iter().map(|r| r.text("email")).collect()
}

/// Checks a message's text.
pub fn message_text(raw: &str) -> Result<String, &'static str> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("Écrivez votre message.");
    }
    if t.chars().count() > 4000 {
        return Err("Un message compte au plus 4 000 caractères.");
    }
    Ok(t.to_owned())
}

async fn insert_message(
    tx: &mut Tx,
    id: i64,
    admin: Option<i64>,
    body: &str,
    now: i64,
) -> Result<(), crate::db::Error> {
    tx.execute(
        "INSERT INTO habilitation_messages (request_id, from_admin, account_id, body, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        crate::args![id, admin.is_some(), admin, body, now],
    )
    .await?;
    Ok(())
}

/// A message in the thread; `admin` is the administrator's account, `None` for
/// the requester. Refused on closed requests.
pub async fn post_message(
    db: &Db,
    id: i64,
    admin: Option<i64>,
    body: &str,
    now: i64,
) -> Result<(), HabilitationError> {
    let mut tx = db.begin().await?;
    let status = tx
        .fetch_optional(
            "SELECT status FROM habilitation_requests WHERE id = $1",
            crate::args![id],
        )
        .await?
        .map(|r| r.text("status"))
        .transpose()?
        .and_then(|s| Status::parse(&s));
    match status {
        Some(Status::Brouillon | Status::Soumise | Status::Modifications) => {}
        _ => {
            return Err(HabilitationError::Refused(
                "Cette demande est close : les messages ne sont plus possibles.".into(),
            ));
        }
    }
    insert_message(&mut tx, id, admin, body, now).await?;
    tx.execute(
        "UPDATE habilitation_requests SET updated_at = $1 WHERE id = $2",
        crate::args![now, id],
    )
    .await?;
    if let Some(admin) = admin {
        journal::append(
            &mut tx,
            &NewEntry::new(journal::ADMIN_CHAIN, Action::MessageHabilitation)
                .account(admin)
                .details(json!({ "demande": id })),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One decision of an administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Changes asked, with the message telling which.
    RequestChanges(String),
    Accept,
    /// Refused, with the reason given to the requester.
    Refuse(String),
}

/// What accepting created, for the emails.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub structure_id: i64,
    pub structure_name: String,
    pub referent_email: String,
    /// The référent's invitation token (`None` when the référent already had an
    /// active account and was added to the structure).
    pub referent_token: Option<String>,
    /// Future aidants created "to be trained".
    pub to_train: usize,
}

/// Applies an administrator's decision in one transaction, journaled.
pub async fn decide(
    db: &Db,
    id: i64,
    admin: i64,
    decision: &Decision,
    now: i64,
) -> Result<Option<Accepted>, HabilitationError> {
    let Some(req) = find(db, id).await? else {
        return Err(HabilitationError::Refused(
            "Cette demande n'existe plus.".into(),
        ));
    };
    if !req.status.open_for_decision() {
        return Err(HabilitationError::Refused(format!(
            "Cette demande n'attend pas de décision (état : {}).",
            req.status.label().to_lowercase()
        )));
    }
    let mut tx = db.begin().await?;
    // The status moves first and only from an open state: two administrators
    // deciding at once → one wins, the other is told.
    let (status, action, reason) = match decision {
        Decision::RequestChanges(m) => ("modifications", Action::HabilitationModifications, m),
        Decision::Accept => ("acceptee", Action::HabilitationAcceptee, &String::new()),
        Decision::Refuse(r) => ("refusee", Action::HabilitationRefusee, r),
    };
    let done = tx
        .execute(
            "UPDATE habilitation_requests SET status = $1, decision_reason = $2, decided_by = $3,
                 decided_at = $4, updated_at = $4
             WHERE id = $5 AND status IN ('soumise', 'modifications')",
            crate::args![status, reason.as_str(), admin, now, id],
        )
        .await?;
    if done != 1 {
        return Err(HabilitationError::Refused(
            "Un autre administrateur vient de traiter cette demande : rechargez la page.".into(),
        ));
    }
    if !reason.is_empty() {
        insert_message(&mut tx, id, Some(admin), reason, now).await?;
    }
    let accepted = match decision {
        Decision::Accept => Some(accept_in(&mut tx, &req, admin, now).await?),
        _ => None,
    };
    journal::append(
        &mut tx,
        &NewEntry::new(journal::ADMIN_CHAIN, action)
            .account(admin)
            .details(json!({
                "demande": id,
                "siret": req.details.siret,
                "structure": accepted.as_ref().map(|a| a.structure_id),
            })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(accepted)
}

async fn accept_in(
    tx: &mut Tx,
    req: &Request,
    admin: i64,
    now: i64,
) -> Result<Accepted, HabilitationError> {
    let d = &req.details;
    let siret = Siret::parse(&d.siret).map_err(|e| HabilitationError::Refused(e.into()))?;
    let insee =
        InseeCode::parse(&d.commune_insee).map_err(|e| HabilitationError::Refused(e.into()))?;
    let kind = StructureKind::parse(&d.kind)
        .map_err(|_| HabilitationError::Refused("Type de structure inconnu.".into()))?;
    if tx
        .fetch_optional(
            "SELECT id FROM structures WHERE siret = $1",
            crate::args![siret.as_str()],
        )
        .await?
        .is_some()
    {
        return Err(HabilitationError::Refused(
            "Une structure avec ce SIRET est déjà habilitée : refusez cette demande en l'indiquant, ou demandez au référent existant d'ajouter ces aidants."
                .into(),
        ));
    }
    let structure_id = tx
        .fetch_optional(
            "INSERT INTO structures (name, siret, address, commune_insee, kind, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            crate::args![
                d.name.as_str(),
                siret.as_str(),
                d.address.as_str(),
                insee.as_str(),
                kind.key(),
                now
            ],
        )
        .await?
        .ok_or(crate::db::Error::NotFound)?
        .int("id")?;
    tx.execute(
        "UPDATE habilitation_requests SET structure_id = $1 WHERE id = $2",
        crate::args![structure_id, req.id],
    )
    .await?;
    let referent =
        Email::parse(&d.referent_email).map_err(|e| HabilitationError::Refused(e.into()))?;
    let referent_token = match accounts::invite_in(
        tx,
        structure_id,
        &referent,
        &d.referent_name,
        Role::Referent,
        Some(admin),
        now,
    )
    .await?
    {
        InviteOutcome::Invited { token, .. } | InviteOutcome::Reinvited { token, .. } => {
            Some(token)
        }
        InviteOutcome::Added { .. } => None,
    };
    let mut to_train = 0;
    for a in &d.aidants {
        let email = Email::parse(&a.email).map_err(|e| HabilitationError::Refused(e.into()))?;
        if email == referent {
            continue;
        }
        if crate::formations::add_future_aidant(
            tx,
            structure_id,
            &email,
            &a.full_name,
            Some(req.id),
            admin,
            now,
        )
        .await?
        {
            to_train += 1;
        }
    }
    Ok(Accepted {
        structure_id,
        structure_name: d.name.clone(),
        referent_email: referent.as_str().to_owned(),
        referent_token,
        to_train,
    })
}

/// One line of the administrators' list.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub name: String,
    pub siret: String,
    pub email: String,
    pub status: Status,
    pub submitted_at: Option<i64>,
    pub created_at: i64,
}

/// Requests by state (or all but drafts), searched by name, SIRET or email.
pub async fn list(
    db: &Db,
    status: Option<Status>,
    search: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Row>, i64), crate::db::Error> {
    let pattern = format!(
        "%{}%",
        search.trim().to_lowercase().replace(['\\', '%', '_'], "")
    );
    let status_key = status.map_or("", Status::key);
    let mut conn = db.conn().await?;
    let total = conn
        .fetch_optional(
            "SELECT COUNT(*) AS n FROM habilitation_requests
             WHERE ($1 = '' AND status <> 'brouillon' OR status = $1)
               AND (LOWER(name) LIKE $2 OR siret LIKE $2 OR email LIKE $2)",
            crate::args![status_key, pattern.as_str()],
        )
        .await?
        .map(|r| r.int("n"))
        .transpose()?
        .unwrap_or(0);
    let rows = conn
        .fetch_all(
            "SELECT id, name, siret, email, status, submitted_at, created_at FROM habilitation_requests
             WHERE ($1 = '' AND status <> 'brouillon' OR status = $1)
               AND (LOWER(name) LIKE $2 OR siret LIKE $2 OR email LIKE $2)
             ORDER BY COALESCE(submitted_at, created_at) DESC, id DESC
             LIMIT $3 OFFSET $4",
            crate::args![status_key, pattern.as_str(), limit, offset],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Row {
                id: r.int("id")?,
                name: r.text("name")?,
                siret: r.text("siret")?,
                email: r.text("email")?,
                status: Status::parse(&r.text("status")?).unwrap_or(Status::Cloturee),
                submitted_at: r.opt_int("submitted_at")?,
                created_at: r.int("created_at")?,
            })
        })
        .collect::<Result<Vec<_>, crate::db::Error>>()?;
    Ok((rows, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> Details {
        Details {
            siret: "732 829 320 00074".into(),
            name: "Mairie d'Essai".into(),
            kind: "mairie".into(),
            address: "1 place de la Mairie".into(),
            commune_insee: "89024".into(),
            france_services_number: String::new(),
            referent_name: "Claire Martin".into(),
            referent_email: "claire.martin@mairie.example.fr".into(),
            referent_profession: "Secrétaire de mairie".into(),
            dpo_name: "Paul Durand".into(),
            dpo_email: "dpo@mairie.example.fr".into(),
            aidants: vec![FutureAidant {
                full_name: "Léa Petit".into(),
                email: "lea.petit@mairie.example.fr".into(),
                profession: "Agent d'accueil".into(),
            }],
            commitments: true,
        }
    }

    #[test]
    fn a_draft_may_be_incomplete_but_not_wrong() {
        assert!(check(&Details::default(), false).is_empty());
        let wrong = Details {
            siret: "73282932000075".into(),
            ..Details::default()
        };
        assert_eq!(check(&wrong, false)[0].0, "siret");
        assert!(check(&complete(), true).is_empty());
        let missing = check(&Details::default(), true);
        for field in [
            "siret",
            "name",
            "kind",
            "commitments",
            "aidants",
            "dpo_email",
        ] {
            assert!(missing.iter().any(|(f, _)| f == field), "{field}");
        }
    }

    #[test]
    fn future_aidants_are_checked_one_by_one() {
        let mut d = complete();
        d.aidants.push(FutureAidant {
            full_name: String::new(),
            email: "LEA.PETIT@mairie.example.fr".into(),
            profession: String::new(),
        });
        let errors: Vec<String> = check(&d, true).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            errors,
            vec!["aidant-2-name", "aidant-2-email", "aidant-2-profession"]
        );
    }
}
