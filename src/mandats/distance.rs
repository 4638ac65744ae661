//! Mandates given at a distance: the aidant prepares the mandate (démarches,
//! duration, the person's mobile or email), Relais sends a single-use link valid
//! 24 hours, the person reads the recap on their own phone, signs in with
//! FranceConnect and consents; the mandate is then written, flagged « à distance »,
//! with the consent's time and channel in the journal.
//!
//! What binds the link: only the hash of its token is stored; the démarches and
//! duration are the link's own (the consent form carries their fingerprint, which
//! must match); whoever signs in with FranceConnect becomes the usager — and a
//! link prepared for a known usager (renewal) accepts only that person; the link
//! is consumed in the mandate's transaction ([`super::RemoteConsent`]).

use super::{Actor, Demarche, Duree, Identity, MandatError};
use crate::crypto;
use crate::db::Db;
use crate::db::Exec as _;
use crate::journal::{self, Action, NewEntry};
use sha2::{Digest, Sha256};

/// How long a link may be used.
pub const TTL: i64 = 24 * 3_600;

/// What a person reads when a link cannot be used any more.
pub const LINK_GONE: &str = "Ce lien ne peut plus servir : il a déjà été utilisé, il a été annulé, ou il a expiré (il est valable 24 heures). Aucun mandat n'a été créé. Demandez un nouveau lien à la personne qui vous aide.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub fn key(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Channel::Sms => "SMS",
            Channel::Email => "e-mail",
        }
    }
    pub fn parse(raw: &str) -> Option<Channel> {
        match raw {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Waiting,
    Used,
    Cancelled,
    Expired,
}

impl LinkState {
    pub fn label(self) -> &'static str {
        match self {
            LinkState::Waiting => "En attente de l'accord de la personne",
            LinkState::Used => "Accepté : mandat créé",
            LinkState::Cancelled => "Annulé",
            LinkState::Expired => "Expiré sans réponse",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Link {
    pub id: i64,
    pub structure_id: i64,
    pub structure_name: String,
    pub account_id: i64,
    pub aidant_name: String,
    pub demarches: Vec<Demarche>,
    pub duree: Duree,
    pub usager_id: Option<i64>,
    pub channel: Channel,
    pub destination_masked: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub mandat_id: Option<i64>,
    pub cancelled_at: Option<i64>,
}

impl Link {
    pub fn state(&self, now: i64) -> LinkState {
        if self.used_at.is_some() {
            LinkState::Used
        } else if self.cancelled_at.is_some() {
            LinkState::Cancelled
        } else if self.expires_at <= now {
            LinkState::Expired
        } else {
            LinkState::Waiting
        }
    }

    /// What the person agrees to, as a short digest: the consent form carries
    /// it, and it must still match when the mandate is written.
    pub fn fingerprint(&self) -> String {
        let text = format!(
            "v1|{}|{}|{}|{}|{}|{}",
            self.id,
            self.structure_id,
            Demarche::join(&self.demarches),
            self.duree.days(),
            self.usager_id.unwrap_or(0),
            super::TEMPLATE_VERSION
        );
        hex::encode(Sha256::digest(text.as_bytes()))
            .get(..32)
            .unwrap_or_default()
            .to_owned()
    }

    pub fn created_on(&self) -> String {
        crate::time_fr::date_time(self.created_at)
    }
    pub fn expires_on(&self) -> String {
        crate::time_fr::date_time(self.expires_at)
    }
}

macro_rules! link_select {
    ($where:literal) => {
        concat!(
            "SELECT l.id, l.structure_id, s.name AS structure_name, l.account_id,
                    a.full_name, l.demarches, l.duration_days, l.usager_id, l.channel,
                    l.destination_masked, l.created_at, l.expires_at, l.used_at, l.mandat_id,
                    l.cancelled_at
             FROM mandat_liens l
             JOIN structures s ON s.id = l.structure_id
             JOIN accounts a ON a.id = l.account_id
             WHERE ",
            $where
        )
    };
}

fn link_from(r: &crate::db::Rec) -> Result<Link, crate::db::Error> {
    Ok(Link {
        id: r.get("id")?,
        structure_id: r.get("structure_id")?,
        structure_name: r.get("structure_name")?,
        account_id: r.get("account_id")?,
        aidant_name: r.get("full_name")?,
        demarches: Demarche::parse_list(&r.get::<String>("demarches")?),
        duree: Duree::from_days(r.get("duration_days")?).unwrap_or(Duree::Court),
        usager_id: r.get("usager_id")?,
        channel: Channel::parse(&r.get::<String>("channel")?).unwrap_or(Channel::Email),
        destination_masked: r.get("destination_masked")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        used_at: r.get("used_at")?,
        mandat_id: r.get("mandat_id")?,
        cancelled_at: r.get("cancelled_at")?,
    })
}

/// What the aidant prepared.
pub struct Prepared<'a> {
    pub demarches: &'a [Demarche],
    pub duree: Duree,
    /// A renewal at a distance: only this usager may consent.
    pub usager_id: Option<i64>,
    pub channel: Channel,
    /// A mobile in E.164 or an email address, already checked.
    pub destination: &'a str,
    pub destination_masked: &'a str,
}

/// Writes a link and its journal entry; returns (link id, raw token).
pub async fn prepare(
    db: &Db,
    actor: Actor,
    p: &Prepared<'_>,
    now: i64,
) -> Result<(i64, String), MandatError> {
    if p.demarches.is_empty() {
        return Err(MandatError::Refused(
            "Choisissez au moins une démarche pour ce mandat.",
        ));
    }
    let allowed = super::allowed_demarches(db, actor.structure_id).await?;
    if p.demarches.iter().any(|d| !allowed.contains(d)) {
        return Err(MandatError::Refused(
            "Votre structure n'autorise pas l'une des démarches choisies : recommencez en choisissant dans la liste.",
        ));
    }
    let sid = actor.structure_id;
    let mut tx = db.begin().await?;
    db.lock_structure(&mut tx, sid).await?;
    if let Some(uid) = p.usager_id {
        let known = tx
            .fetch_optional(
                "SELECT 1 AS ok FROM usager_structures WHERE structure_id = $1 AND usager_id = $2",
                crate::args![sid, uid],
            )
            .await?;
        if known.is_none() {
            return Err(MandatError::Refused(
                "Cette personne n'a pas de mandat avec votre structure : préparez un nouveau mandat.",
            ));
        }
    }
    let token = crypto::random_token();
    let id: i64 = tx
        .fetch_one(
            "INSERT INTO mandat_liens (token_hash, structure_id, account_id, demarches,
                 duration_days, usager_id, channel, destination, destination_masked,
                 created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            crate::args![
                crypto::sha256_hex(&token),
                sid,
                actor.account_id,
                Demarche::join(p.demarches),
                p.duree.days(),
                p.usager_id,
                p.channel.key(),
                p.destination,
                p.destination_masked,
                now,
                now + TTL
            ],
        )
        .await?
        .get("id")?;
    let mut entry = NewEntry::new(sid, Action::MandatDistancePrepare)
        .account(actor.account_id)
        .details(serde_json::json!({
            "lien": id,
            "canal": p.channel.key(),
            "destinataire": p.destination_masked,
            "demarches": Demarche::join(p.demarches),
            "duree_jours": p.duree.days(),
            "expire_le": now + TTL,
        }));
    if let Some(uid) = p.usager_id {
        entry = entry.usager(uid);
    }
    journal::append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok((id, token))
}

/// The destination of a link still waiting (to send it).
pub async fn destination(db: &Db, id: i64) -> Result<Option<String>, crate::db::Error> {
    db.fetch_optional(
        "SELECT destination FROM mandat_liens WHERE id = $1 AND used_at IS NULL AND cancelled_at IS NULL",
        crate::args![id],
    )
    .await?
    .map(|r| r.get("destination"))
    .transpose()
}

/// Journals a message sent for a link (the provider's id for an SMS).
pub async fn record_sent(
    db: &Db,
    link: &Link,
    provider_id: Option<&str>,
    now: i64,
) -> Result<(), crate::db::Error> {
    let mut tx = db.begin().await?;
    db.lock_structure(&mut tx, link.structure_id).await?;
    if let Some(pid) = provider_id {
        tx.execute(
            "INSERT INTO sms_messages (structure_id, lien_id, provider_id, status, created_at, updated_at)
             VALUES ($1, $2, $3, 'envoye', $4, $4)",
            crate::args![link.structure_id, link.id, pid, now],
        )
        .await?;
    }
    journal::append(
        &mut tx,
        &NewEntry::new(link.structure_id, Action::MandatDistanceEnvoi)
            .account(link.account_id)
            .details(serde_json::json!({
                "lien": link.id,
                "canal": link.channel.key(),
                "destinataire": link.destination_masked,
                "message_fournisseur": provider_id,
            })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A delivery report from the SMS provider (already authenticated): recorded and
/// journaled. False when the message is unknown.
pub async fn record_delivery(
    db: &Db,
    provider_id: &str,
    status: &str,
    now: i64,
) -> Result<bool, crate::db::Error> {
    let Some(r) = db
        .fetch_optional(
            "SELECT id, structure_id, lien_id FROM sms_messages WHERE provider_id = $1",
            crate::args![provider_id],
        )
        .await?
    else {
        return Ok(false);
    };
    let sid: i64 = r.get("structure_id")?;
    let lien: Option<i64> = r.get("lien_id")?;
    let id: i64 = r.get("id")?;
    let status: String = status
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(32)
        .collect();
    let mut tx = db.begin().await?;
    db.lock_structure(&mut tx, sid).await?;
    tx.execute(
        "UPDATE sms_messages SET status = $1, updated_at = $2 WHERE id = $3",
        crate::args![&status, now, id],
    )
    .await?;
    journal::append(
        &mut tx,
        &NewEntry::new(sid, Action::SmsAccuse).details(serde_json::json!({
            "lien": lien,
            "message_fournisseur": provider_id,
            "statut": status,
        })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A link by its raw token (any state).
pub async fn by_token(db: &Db, token: &str) -> Result<Option<Link>, crate::db::Error> {
    if token.len() > 128 {
        return Ok(None);
    }
    db.fetch_optional(
        link_select!("l.token_hash = $1"),
        crate::args![crypto::sha256_hex(token)],
    )
    .await?
    .map(|r| link_from(&r))
    .transpose()
}

/// A link by id, of one structure (or any when `structure_id` is 0).
pub async fn find(db: &Db, structure_id: i64, id: i64) -> Result<Option<Link>, crate::db::Error> {
    db.fetch_optional(
        link_select!("l.id = $1 AND ($2 = 0 OR l.structure_id = $2)"),
        crate::args![id, structure_id],
    )
    .await?
    .map(|r| link_from(&r))
    .transpose()
}

/// The structure's links of the last 30 days, newest first (at most 100).
pub async fn recent(db: &Db, structure_id: i64, now: i64) -> Result<Vec<Link>, crate::db::Error> {
    db.fetch_all(
        link_select!(
            "l.structure_id = $1 AND l.created_at > $2 ORDER BY l.created_at DESC, l.id DESC LIMIT 100"
        ),
        crate::args![structure_id, now - 30 * 86_400],
    )
    .await?
    .iter()
    .map(link_from)
    .collect()
}

/// Cancels a waiting link (its destination is wiped).
pub async fn cancel(db: &Db, actor: Actor, id: i64, now: i64) -> Result<bool, crate::db::Error> {
    let mut tx = db.begin().await?;
    db.lock_structure(&mut tx, actor.structure_id).await?;
    let done = tx
        .execute(
            "UPDATE mandat_liens SET cancelled_at = $1, destination = ''
             WHERE id = $2 AND structure_id = $3 AND used_at IS NULL AND cancelled_at IS NULL
               AND expires_at > $1",
            crate::args![now, id, actor.structure_id],
        )
        .await?;
    if done == 1 {
        journal::append(
            &mut tx,
            &NewEntry::new(actor.structure_id, Action::MandatDistanceAnnule)
                .account(actor.account_id)
                .details(serde_json::json!({ "lien": id })),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done == 1)
}

/// The person consented and signed in with FranceConnect: the mandate is written
/// (the link consumed in the same transaction).
pub async fn consent(
    db: &Db,
    signer: &super::attestation::Signer,
    link: &Link,
    fingerprint: &str,
    identity: &Identity,
    now: i64,
) -> Result<super::Created, MandatError> {
    if link.state(now) != LinkState::Waiting {
        return Err(MandatError::Refused(LINK_GONE));
    }
    if !crypto::ct_eq(fingerprint, &link.fingerprint()) {
        return Err(MandatError::Refused(
            "Ce que vous avez accepté ne correspond plus au mandat préparé. Aucun mandat n'a été créé : ouvrez de nouveau le lien reçu et relisez-le.",
        ));
    }
    if let Some(uid) = link.usager_id {
        let same = db
            .fetch_optional(
                "SELECT 1 AS ok FROM usagers WHERE id = $1 AND sub_hash = $2",
                crate::args![uid, &identity.sub_hash],
            )
            .await?;
        if same.is_none() {
            return Err(MandatError::Refused(
                "Ce lien a été préparé pour une autre personne : la personne qui s'est connectée avec FranceConnect n'est pas celle qui doit donner son accord. Aucun mandat n'a été créé.",
            ));
        }
    }
    let active = db
        .fetch_optional(
            "SELECT 1 AS ok FROM memberships m JOIN accounts a ON a.id = m.account_id
             WHERE m.account_id = $1 AND m.structure_id = $2 AND m.deactivated_at IS NULL
               AND m.role IN ('aidant', 'referent') AND a.disabled_at IS NULL",
            crate::args![link.account_id, link.structure_id],
        )
        .await?;
    if active.is_none() {
        return Err(MandatError::Refused(
            "La personne qui a préparé ce mandat ne fait plus partie de la structure. Aucun mandat n'a été créé : contactez la structure.",
        ));
    }
    let usager = match link.usager_id {
        Some(uid) => super::UsagerRef::Known(uid),
        None => super::UsagerRef::Identified(identity),
    };
    super::create(
        db,
        signer,
        Actor {
            account_id: link.account_id,
            structure_id: link.structure_id,
        },
        &super::NewMandat {
            demarches: &link.demarches,
            duree: link.duree,
            is_remote: true,
            usager,
            renewed_from: None,
            draft_id: None,
            consent: Some(super::RemoteConsent {
                lien_id: link.id,
                channel: link.channel.key(),
            }),
        },
        now,
    )
    .await
}

/// The text message: who, what for, the link, how long; no personal data.
pub fn sms_text(link: &Link, url: &str) -> String {
    let text = format!(
        "{} ({}) vous propose un mandat pour faire des démarches en ligne pour vous. \
         Lisez-le et donnez votre accord avec FranceConnect, ici (valable 24 h) : {url} \
         Si vous ne connaissez pas cette structure, ignorez ce message.",
        link.aidant_name, link.structure_name
    );
    if text.chars().count() <= crate::sms::MAX_TEXT {
        text
    } else {
        format!(
            "Relais : un mandat vous est proposé. Lisez-le et donnez votre accord (valable 24 h) : {url}"
        )
    }
}

/// Deletes what links keep of people once they cannot be used: the destination
/// of expired links; links and SMS records 90 days after their end.
pub async fn purge(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    db.execute(
        "UPDATE mandat_liens SET destination = '' WHERE destination <> '' AND expires_at <= $1",
        crate::args![now],
    )
    .await?;
    let old = now - 90 * 86_400;
    db.execute(
        "DELETE FROM sms_messages WHERE lien_id IN (SELECT id FROM mandat_liens WHERE expires_at < $1)",
        crate::args![old],
    )
    .await?;
    db.execute(
        "DELETE FROM usager_fc_logins WHERE lien_id IN (SELECT id FROM mandat_liens WHERE expires_at < $1)",
        crate::args![old],
    )
    .await?;
    db.execute(
        "DELETE FROM mandat_liens WHERE expires_at < $1",
        crate::args![old],
    )
    .await
}
