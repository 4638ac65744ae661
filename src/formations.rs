//! Training of future aidants: to train → registered for a session (date) → trained
//! (certificate date). An account with a training row is invited, and can be
//! activated, only once trained. Administrators record results one by one or by
//! CSV import (all lines valid or nothing imported). Every result is journaled on
//! the administration chain.

use serde_json::json;

use crate::accounts::tokens::{self, Purpose};
use crate::db::exec::Exec;
use crate::db::{Db, Tx};
use crate::domain::{Email, Role};
use crate::journal::{self, Action, NewEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    ToTrain,
    Registered,
    Trained,
}

impl State {
    pub const ALL: [State; 3] = [State::ToTrain, State::Registered, State::Trained];
    pub fn key(self) -> &'static str {
        match self {
            State::ToTrain => "a_former",
            State::Registered => "inscrit",
            State::Trained => "forme",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            State::ToTrain => "À former",
            // Worded without agreement: the list does not know the person's gender.
            State::Registered => "Inscription à une session",
            State::Trained => "Formation validée",
        }
    }
    /// The key, or the French word as spreadsheets write it (« formé », « inscrit »).
    pub fn parse(raw: &str) -> Option<State> {
        let k = crate::mandats::search_key(raw).replace(' ', "_");
        match k.as_str() {
            "a_former" => Some(State::ToTrain),
            "inscrit" | "inscrite" => Some(State::Registered),
            "forme" | "formee" => Some(State::Trained),
            _ => None,
        }
    }
}

/// Adds a future aidant to a structure inside the acceptance transaction. Returns
/// true when the person must be trained (a training row "to train" exists); an
/// account already active elsewhere (trained) only joins the structure.
pub async fn add_future_aidant(
    tx: &mut Tx,
    structure_id: i64,
    email: &Email,
    full_name: &str,
    request_id: Option<i64>,
    admin: i64,
    now: i64,
) -> Result<bool, crate::db::Error> {
    let existing = tx
        .fetch_optional(
            "SELECT id, password_hash, totp_secret FROM accounts WHERE email = $1",
            crate::args![email.as_str()],
        )
        .await?;
    let (account_id, active) = match existing {
        Some(r) => (
            r.int("id")?,
            r.opt_text("password_hash")?.is_some() && r.opt_text("totp_secret")?.is_some(),
        ),
        None => {
            let id = tx
                .fetch_optional(
                    "INSERT INTO accounts (email, full_name, created_at) VALUES ($1, $2, $3) RETURNING id",
                    crate::args![email.as_str(), full_name.trim(), now],
                )
                .await?
                .ok_or(crate::db::Error::NotFound)?
                .int("id")?;
            (id, false)
        }
    };
    if tx
        .fetch_optional(
            "SELECT role FROM memberships WHERE account_id = $1 AND structure_id = $2",
            crate::args![account_id, structure_id],
        )
        .await?
        .is_none()
    {
        tx.execute(
            "INSERT INTO memberships (account_id, structure_id, role, created_at) VALUES ($1, $2, $3, $4)",
            crate::args![account_id, structure_id, Role::Aidant.key(), now],
        )
        .await?;
    }
    if active {
        return Ok(false);
    }
    let has_row = tx
        .fetch_optional(
            "SELECT state FROM formations WHERE account_id = $1",
            crate::args![account_id],
        )
        .await?;
    match has_row {
        Some(r) => Ok(r.text("state")? != State::Trained.key()),
        None => {
            tx.execute(
                "INSERT INTO formations (account_id, state, request_id, updated_at, updated_by)
                 VALUES ($1, 'a_former', $2, $3, $4)",
                crate::args![account_id, request_id, now, admin],
            )
            .await?;
            Ok(true)
        }
    }
}

/// Whether an account still waits for its training (activation is refused).
pub async fn is_pending(db: &Db, account_id: i64) -> Result<bool, crate::db::Error> {
    Ok(db
        .conn()
        .await?
        .fetch_optional(
            "SELECT state FROM formations WHERE account_id = $1",
            crate::args![account_id],
        )
        .await?
        .map(|r| r.text("state"))
        .transpose()?
        .is_some_and(|s| s != State::Trained.key()))
}

/// A person in training, as administrators see them.
#[derive(Debug, Clone)]
pub struct Trainee {
    pub account_id: i64,
    pub full_name: String,
    pub email: String,
    pub structures: String,
    pub state: State,
    pub session_on: String,
    pub certified_on: String,
}

/// Training rows by state (or all), searched by name or email.
pub async fn list(
    db: &Db,
    state: Option<State>,
    search: &str,
    limit: i64,
) -> Result<Vec<Trainee>, crate::db::Error> {
    let pattern = format!(
        "%{}%",
        search.trim().to_lowercase().replace(['\\', '%', '_'], "")
    );
    let mut conn = db.conn().await?;
    let rows = conn
        .fetch_all(
            "SELECT f.account_id, f.state, f.session_on, f.certified_on, a.full_name, a.email
             FROM formations f JOIN accounts a ON a.id = f.account_id
             WHERE ($1 = '' OR f.state = $1) AND (LOWER(a.full_name) LIKE $2 OR a.email LIKE $2)
             ORDER BY f.state, a.full_name, a.id
             LIMIT $3",
            crate::args![state.map_or("", State::key), pattern.as_str(), limit],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let account_id = r.int("account_id")?;
        let structures = conn
            .fetch_all(
                "SELECT s.name FROM memberships m JOIN structures s ON s.id = m.structure_id
                 WHERE m.account_id = $1 ORDER BY s.name",
                crate::args![account_id],
            )
            .await?
            .iter()
            .map(|s| s.text("name"))
            .collect::<Result<Vec<_>, _>>()?
            .join(", ");
        out.push(Trainee {
            account_id,
            full_name: r.text("full_name")?,
            email: r.text("email")?,
            structures,
            state: State::parse(&r.text("state")?).unwrap_or(State::ToTrain),
            session_on: r.text("session_on")?,
            certified_on: r.text("certified_on")?,
        });
    }
    Ok(out)
}

/// A result to record: the state and its date (session date when registered,
/// certificate date when trained; none for "to train").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Result_ {
    pub state: State,
    /// `YYYY-MM-DD`.
    pub date: String,
}

/// Checks a result; `today` is the Paris date, `YYYY-MM-DD`.
pub fn check(state: &str, date: &str, today: &str) -> Result<Result_, &'static str> {
    let state =
        State::parse(state).ok_or("État inconnu : « à former », « inscrit » ou « formé ».")?;
    let date = date.trim();
    match state {
        State::ToTrain => Ok(Result_ {
            state,
            date: String::new(),
        }),
        State::Registered => {
            crate::time_fr::parse_date(date)
                .ok_or("Indiquez la date de la session de formation (AAAA-MM-JJ).")?;
            Ok(Result_ {
                state,
                date: date.to_owned(),
            })
        }
        State::Trained => {
            crate::time_fr::parse_date(date)
                .ok_or("Indiquez la date du certificat de formation (AAAA-MM-JJ).")?;
            if date > today {
                return Err("La date du certificat ne peut pas être dans le futur.");
            }
            Ok(Result_ {
                state,
                date: date.to_owned(),
            })
        }
    }
}

/// An invitation to send once someone is trained.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub email: String,
    pub structure_name: String,
    pub token: String,
}

/// Records one result inside `tx`. Returns the invitation to email when the person
/// became trained and has no active account yet.
async fn record_in(
    tx: &mut Tx,
    account_id: i64,
    r: &Result_,
    admin: i64,
    now: i64,
) -> Result<Option<Invitation>, crate::db::Error> {
    let (session_on, certified_on) = match r.state {
        State::ToTrain => ("", ""),
        State::Registered => (r.date.as_str(), ""),
        State::Trained => ("", r.date.as_str()),
    };
    let done = tx
        .execute(
            "UPDATE formations SET state = $1, session_on = $2, certified_on = $3, updated_at = $4,
                 updated_by = $5
             WHERE account_id = $6",
            crate::args![
                r.state.key(),
                session_on,
                certified_on,
                now,
                admin,
                account_id
            ],
        )
        .await?;
    if done != 1 {
        return Err(crate::db::Error::NotFound);
    }
    journal::append(
        tx,
        &NewEntry::new(journal::ADMIN_CHAIN, Action::FormationEnregistree)
            .account(admin)
            .details(json!({ "compte": account_id, "etat": r.state.key(), "date": r.date })),
        now,
    )
    .await?;
    if r.state != State::Trained {
        return Ok(None);
    }
    let Some(a) = tx
        .fetch_optional(
            "SELECT a.email, a.password_hash,
                    (SELECT s.name FROM memberships m JOIN structures s ON s.id = m.structure_id
                      WHERE m.account_id = a.id ORDER BY m.created_at LIMIT 1) AS structure_name
             FROM accounts a WHERE a.id = $1",
            crate::args![account_id],
        )
        .await?
    else {
        return Ok(None);
    };
    if a.opt_text("password_hash")?.is_some() {
        return Ok(None);
    }
    let token = tokens::issue(tx, account_id, Purpose::Invitation, Some(admin), now).await?;
    Ok(Some(Invitation {
        email: a.text("email")?,
        structure_name: a.opt_text("structure_name")?.unwrap_or_default(),
        token,
    }))
}

/// Records one person's result.
pub async fn record(
    db: &Db,
    account_id: i64,
    r: &Result_,
    admin: i64,
    now: i64,
) -> Result<Option<Invitation>, crate::db::Error> {
    let mut tx = db.begin().await?;
    let out = record_in(&mut tx, account_id, r, admin, now).await?;
    tx.commit().await?;
    Ok(out)
}

pub use crate::csv_import::LineError;

/// Imports results from CSV (`email,etat,date`; `,` or `;`; header required).
/// Every line is checked first; with any error nothing is written.
pub async fn import_csv(
    db: &Db,
    bytes: &[u8],
    admin: i64,
    now: i64,
) -> Result<Result<Vec<Invitation>, Vec<LineError>>, crate::db::Error> {
    let today = crate::time_fr::iso(now)
        .chars()
        .take(10)
        .collect::<String>();
    let (mut reader, cols) = match crate::csv_import::open(bytes, ["email", "etat", "date"]) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let [ce, cs, cd] = cols;
    let mut errors = crate::csv_import::Capped::default();
    let mut planned: Vec<(i64, Result_)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
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
        let email = match Email::parse(&get(ce)) {
            Ok(e) => e,
            Err(e) => {
                errors.push(LineError {
                    line,
                    reason: e.to_owned(),
                });
                continue;
            }
        };
        let result = match check(&get(cs), &get(cd), &today) {
            Ok(r) => r,
            Err(e) => {
                errors.push(LineError {
                    line,
                    reason: e.to_owned(),
                });
                continue;
            }
        };
        let found = conn
            .fetch_optional(
                "SELECT f.account_id FROM formations f JOIN accounts a ON a.id = f.account_id
                 WHERE a.email = $1",
                crate::args![email.as_str()],
            )
            .await?;
        let Some(found) = found else {
            errors.push(LineError {
                line,
                reason: format!(
                    "{} n'est pas un futur aidant en formation (vérifiez l'adresse)",
                    email.as_str()
                ),
            });
            continue;
        };
        let account_id = found.int("account_id")?;
        if !seen.insert(account_id) {
            errors.push(LineError {
                line,
                reason: format!("{} figure deux fois dans le fichier", email.as_str()),
            });
            continue;
        }
        planned.push((account_id, result));
    }
    drop(conn);
    if planned.is_empty() && errors.is_empty() {
        errors.push(LineError {
            line: 1,
            reason: "le fichier ne contient aucune ligne".into(),
        });
    }
    if !errors.is_empty() {
        return Ok(Err(errors.into_lines()));
    }
    let mut tx = db.begin().await?;
    let mut invitations = Vec::new();
    for (account_id, r) in &planned {
        if let Some(inv) = record_in(&mut tx, *account_id, r, admin, now).await? {
            invitations.push(inv);
        }
    }
    tx.commit().await?;
    Ok(Ok(invitations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_checked() {
        let today = "2026-11-24";
        assert_eq!(
            check("formé", "2026-11-20", today).unwrap().state,
            State::Trained
        );
        assert_eq!(
            check("forme", "2026-11-20", today).unwrap().date,
            "2026-11-20"
        );
        assert!(
            check("formé", "2026-12-20", today).is_err(),
            "future certificate"
        );
        assert!(check("formé", "", today).is_err());
        assert_eq!(
            check("Inscrit", "2026-12-01", today).unwrap().state,
            State::Registered
        );
        assert!(check("inscrit", "01/12/2026", today).is_err());
        assert_eq!(check("à former", "", today).unwrap().state, State::ToTrain);
        assert!(check("absent", "", today).is_err());
    }
}
