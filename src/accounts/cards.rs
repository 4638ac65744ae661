//! Physical TOTP cards (60-second codes, ±1 step, never widened).
//!
//! Administrators import cards by CSV (`serial,seed,step`; every line valid or
//! nothing imported). A référent links a card to an aidant of a structure they
//! manage, by serial number, validating it with the code the card shows; unlinks it
//! with a reason; and, when the card's clock has drifted, resynchronises it with two
//! consecutive codes (the only way the accepted steps move). Link, unlink and
//! resynchronisation are journaled on the structure's chain.

use serde_json::json;

use super::totp;
use crate::db::Db;
use crate::db::exec::Exec;
use crate::journal::{self, Action, NewEntry};

/// The only step physical cards use here.
pub const CARD_STEP: i64 = 60;
/// How far a resynchronisation looks for the two codes (steps each way: 12 hours).
pub const RESYNC_RANGE: i64 = 720;

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// Shown to the person as is.
    #[error("{0}")]
    Refused(&'static str),
    /// Too many wrong codes typed by this référent: seconds to wait.
    #[error("trop de codes incorrects")]
    Throttled(i64),
    #[error(transparent)]
    Db(#[from] crate::db::Error),
}

/// A card's codes are a second factor: typing them counts on the typing person's
/// account ([`super::second_factor`]), before anything is compared.
async fn begin_code_check(
    db: &Db,
    by: i64,
    now: i64,
) -> Result<super::throttle::Attempt, CardError> {
    let email = db
        .conn()
        .await?
        .fetch_optional("SELECT email FROM accounts WHERE id = $1", crate::args![by])
        .await?
        .ok_or(CardError::Refused("Compte inconnu : reconnectez-vous."))?
        .text("email")?;
    super::second_factor::begin(db, &email, now)
        .await?
        .map_err(CardError::Throttled)
}

pub use crate::csv_import::LineError;

/// Imports cards from CSV (`serial,seed,step`, `,` or `;`, header required).
pub async fn import_csv(
    db: &Db,
    bytes: &[u8],
    admin: i64,
    now: i64,
) -> Result<Result<usize, Vec<LineError>>, crate::db::Error> {
    let err = |line: usize, reason: String| LineError { line, reason };
    let (mut reader, cols) = match crate::csv_import::open(bytes, ["serial", "seed", "step"]) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let [cs, cd, ct] = cols;
    let mut errors = crate::csv_import::Capped::default();
    let mut cards: Vec<(String, String)> = Vec::new();
    let mut serials = std::collections::HashSet::new();
    let mut conn = db.conn().await?;
    for item in crate::csv_import::lines(&mut reader) {
        let (line, rec) = match item {
            Ok(x) => x,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let get = |c: usize| crate::csv_import::field(&rec, c);
        let serial = get(cs);
        let seed: String = get(cd)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        if serial.is_empty() || serial.len() > 64 {
            errors.push(err(line, "numéro de série vide ou trop long".into()));
            continue;
        }
        if !totp::valid_secret(&seed) {
            errors.push(err(
                line,
                format!("graine de la carte {serial} illisible (base32, 80 bits au moins)"),
            ));
            continue;
        }
        if get(ct) != CARD_STEP.to_string() {
            errors.push(err(
                line,
                format!(
                    "cette carte change de code toutes les {} secondes (colonne step) : Relais n'accepte que les cartes dont le code change toutes les 60 secondes",
                    get(ct)
                ),
            ));
            continue;
        }
        if !serials.insert(serial.clone()) {
            errors.push(err(line, format!("la carte {serial} figure deux fois")));
            continue;
        }
        if conn
            .fetch_optional(
                "SELECT id FROM totp_cards WHERE serial = $1",
                crate::args![serial.as_str()],
            )
            .await?
            .is_some()
        {
            errors.push(err(line, format!("la carte {serial} est déjà importée")));
            continue;
        }
        cards.push((serial, seed));
    }
    drop(conn);
    if cards.is_empty() && errors.is_empty() {
        errors.push(err(1, "le fichier ne contient aucune carte".into()));
    }
    if !errors.is_empty() {
        return Ok(Err(errors.into_lines()));
    }
    let mut tx = db.begin().await?;
    for (serial, seed) in &cards {
        tx.execute(
            "INSERT INTO totp_cards (serial, seed, step_seconds, imported_at, imported_by)
             VALUES ($1, $2, $3, $4, $5)",
            crate::args![serial.as_str(), seed.as_str(), CARD_STEP, now, admin],
        )
        .await?;
    }
    journal::append(
        &mut tx,
        &NewEntry::new(journal::ADMIN_CHAIN, Action::CartesImportees)
            .account(admin)
            .details(json!({ "cartes": cards.len() })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(cards.len()))
}

/// The card linked to an aidant, as the team page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub serial: String,
    pub linked_at: i64,
}

/// Cards linked to the members of a structure, by account.
pub async fn linked_in(
    db: &Db,
    structure_id: i64,
) -> Result<std::collections::HashMap<i64, Linked>, crate::db::Error> {
    db.conn()
        .await?
        .fetch_all(
            "SELECT c.account_id, c.serial, c.linked_at FROM totp_cards c
             JOIN memberships m ON m.account_id = c.account_id AND m.structure_id = $1
             WHERE c.account_id IS NOT NULL",
            crate::args![structure_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.int("account_id")?,
                Linked {
                    serial: r.text("serial")?,
                    linked_at: r.opt_int("linked_at")?.unwrap_or(0),
                },
            ))
        })
        .collect()
}

/// The aidant must be a member of the structure the référent manages.
async fn ensure_member<E: Exec>(
    e: &mut E,
    structure_id: i64,
    account_id: i64,
) -> Result<(), CardError> {
    match e
        .fetch_optional(
            "SELECT role FROM memberships WHERE account_id = $1 AND structure_id = $2",
            crate::args![account_id, structure_id],
        )
        .await?
    {
        Some(_) => Ok(()),
        None => Err(CardError::Refused(
            "Cette personne ne fait pas partie de votre structure.",
        )),
    }
}

/// Links the card `serial` to an aidant of `structure_id`, validated by the code it
/// shows now. Nothing is written if any check fails.
pub async fn link(
    db: &Db,
    structure_id: i64,
    account_id: i64,
    serial: &str,
    code: &str,
    by: i64,
    now: i64,
) -> Result<(), CardError> {
    let attempt = begin_code_check(db, by, now).await?;
    let mut tx = db.begin().await?;
    ensure_member(&mut tx, structure_id, account_id).await?;
    let Some(card) = tx
        .fetch_optional(
            "SELECT id, seed, step_seconds, drift, last_step, account_id FROM totp_cards WHERE serial = $1",
            crate::args![serial.trim()],
        )
        .await?
    else {
        return Err(CardError::Refused(
            "Aucune carte n'a ce numéro de série : vérifiez le numéro au dos de la carte.",
        ));
    };
    if card.opt_int("account_id")?.is_some() {
        return Err(CardError::Refused(
            "Cette carte est déjà liée à un aidant : déliez-la d'abord.",
        ));
    }
    if tx
        .fetch_optional(
            "SELECT id FROM totp_cards WHERE account_id = $1",
            crate::args![account_id],
        )
        .await?
        .is_some()
    {
        return Err(CardError::Refused(
            "Cet aidant a déjà une carte : déliez-la avant d'en lier une autre.",
        ));
    }
    let current = totp::device_step(now, card.int("step_seconds")?, card.int("drift")?);
    let Some(step) = totp::verify_steps(&card.text("seed")?, code, current, card.int("last_step")?)
    else {
        return Err(CardError::Refused(
            "Ce code ne correspond pas à la carte : appuyez sur le bouton de la carte et saisissez le code affiché.",
        ));
    };
    tx.execute(
        "UPDATE totp_cards SET account_id = $1, structure_id = $2, linked_at = $3, last_step = $4
         WHERE id = $5",
        crate::args![account_id, structure_id, now, step, card.int("id")?],
    )
    .await?;
    journal::append(
        &mut tx,
        &NewEntry::new(structure_id, Action::CarteLiee)
            .account(by)
            .details(json!({ "aidant": account_id, "carte": serial.trim() })),
        now,
    )
    .await?;
    tx.commit().await?;
    attempt.succeeded(db).await?;
    Ok(())
}

/// Unlinks an aidant's card, with the reason (lost, broken, left the structure…).
pub async fn unlink(
    db: &Db,
    structure_id: i64,
    account_id: i64,
    reason: &str,
    by: i64,
    now: i64,
) -> Result<(), CardError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(CardError::Refused(
            "Indiquez pourquoi la carte est déliée (perdue, abîmée, départ de l'aidant…).",
        ));
    }
    let mut tx = db.begin().await?;
    ensure_member(&mut tx, structure_id, account_id).await?;
    let Some(card) = tx
        .fetch_optional(
            "SELECT id, serial FROM totp_cards WHERE account_id = $1",
            crate::args![account_id],
        )
        .await?
    else {
        return Err(CardError::Refused("Cet aidant n'a pas de carte liée."));
    };
    tx.execute(
        "UPDATE totp_cards SET account_id = NULL, structure_id = NULL, linked_at = NULL, drift = 0
         WHERE id = $1",
        crate::args![card.int("id")?],
    )
    .await?;
    journal::append(
        &mut tx,
        &NewEntry::new(structure_id, Action::CarteDeliee)
            .account(by)
            .details(
                json!({ "aidant": account_id, "carte": card.text("serial")?, "raison": reason }),
            ),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Resynchronises an aidant's card with two consecutive codes: finds the step
/// where the first code is followed by the second, within [`RESYNC_RANGE`], and
/// records the drift. The daily window is never widened.
pub async fn resync(
    db: &Db,
    structure_id: i64,
    account_id: i64,
    first: &str,
    second: &str,
    by: i64,
    now: i64,
) -> Result<(), CardError> {
    let attempt = begin_code_check(db, by, now).await?;
    let mut tx = db.begin().await?;
    ensure_member(&mut tx, structure_id, account_id).await?;
    let Some(card) = tx
        .fetch_optional(
            "SELECT id, seed, step_seconds, last_step FROM totp_cards WHERE account_id = $1",
            crate::args![account_id],
        )
        .await?
    else {
        return Err(CardError::Refused("Cet aidant n'a pas de carte liée."));
    };
    let seed = card.text("seed")?;
    let ours = totp::device_step(now, card.int("step_seconds")?, 0);
    let clean = |c: &str| c.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let (first, second) = (clean(first), clean(second));
    let last = card.int("last_step")?;
    let found = (-RESYNC_RANGE..=RESYNC_RANGE).find(|d| {
        let s = ours + d;
        s > last
            && totp::code_at_step(&seed, s).is_some_and(|c| c == first)
            && totp::code_at_step(&seed, s + 1).is_some_and(|c| c == second)
    });
    let Some(d) = found else {
        return Err(CardError::Refused(
            "Ces deux codes ne se suivent pas sur cette carte : appuyez deux fois de suite sur le bouton et saisissez les deux codes dans l'ordre.",
        ));
    };
    // The second code's step is the card's "now": drift = d + 1 from our step.
    tx.execute(
        "UPDATE totp_cards SET drift = $1, last_step = $2 WHERE id = $3",
        crate::args![d + 1, ours + d + 1, card.int("id")?],
    )
    .await?;
    journal::append(
        &mut tx,
        &NewEntry::new(structure_id, Action::CarteResynchronisee)
            .account(by)
            .details(json!({ "aidant": account_id, "decalage_pas": d + 1 })),
        now,
    )
    .await?;
    tx.commit().await?;
    attempt.succeeded(db).await?;
    Ok(())
}

/// Checks a code of the account's card (sign-in and step-up), recording its step
/// atomically: a code is never accepted twice.
pub async fn check(
    db: &Db,
    account_id: i64,
    code: &str,
    now: i64,
) -> Result<bool, crate::db::Error> {
    let Some(card) = db
        .conn()
        .await?
        .fetch_optional(
            "SELECT id, seed, step_seconds, drift, last_step FROM totp_cards WHERE account_id = $1",
            crate::args![account_id],
        )
        .await?
    else {
        return Ok(false);
    };
    let current = totp::device_step(now, card.int("step_seconds")?, card.int("drift")?);
    let Some(step) = totp::verify_steps(&card.text("seed")?, code, current, card.int("last_step")?)
    else {
        return Ok(false);
    };
    Ok(db
        .execute(
            "UPDATE totp_cards SET last_step = $1 WHERE id = $2 AND last_step < $1",
            crate::args![step, card.int("id")?],
        )
        .await?
        == 1)
}

/// One card, as administrators list it.
#[derive(Debug, Clone)]
pub struct CardRow {
    pub serial: String,
    pub aidant: String,
    pub structure: String,
    pub imported_at: i64,
}

/// Cards by serial, aidant or structure.
pub async fn list(db: &Db, search: &str, limit: i64) -> Result<Vec<CardRow>, crate::db::Error> {
    let pattern = format!(
        "%{}%",
        search.trim().to_lowercase().replace(['\\', '%', '_'], "")
    );
    db.conn()
        .await?
        .fetch_all(
            "SELECT c.serial, c.imported_at, a.full_name, s.name AS structure_name
             FROM totp_cards c
             LEFT JOIN accounts a ON a.id = c.account_id
             LEFT JOIN structures s ON s.id = c.structure_id
             WHERE LOWER(c.serial) LIKE $1 OR LOWER(COALESCE(a.full_name, '')) LIKE $1
                OR LOWER(COALESCE(s.name, '')) LIKE $1
             ORDER BY c.serial LIMIT $2",
            crate::args![pattern.as_str(), limit],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(CardRow {
                serial: r.text("serial")?,
                aidant: r.opt_text("full_name")?.unwrap_or_default(),
                structure: r.opt_text("structure_name")?.unwrap_or_default(),
                imported_at: r.int("imported_at")?,
            })
        })
        .collect()
}
