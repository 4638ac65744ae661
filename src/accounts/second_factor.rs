//! The one throttled check of a second factor. Every place that checks a TOTP code
//! — sign-in, step-up, password reset, activation, TOTP re-enrolment, card link and
//! resynchronisation, mandate confirmation, identity-provider confirmation — starts
//! with [`begin`] (or calls [`check_totp`], which does): the attempt is counted on
//! the account's counter (the sign-in counter: 5 failures in 15 minutes, whatever
//! the form) *before* the code is compared, in one atomic step, and a success
//! clears it. A reset link's code can therefore not be guessed at 748 tries a
//! second: the sixth wrong code within 15 minutes is refused unchecked.

use super::Account;
use super::throttle::{self, Attempt};
use crate::db::Db;

/// What a second-factor check gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<T> {
    Valid(T),
    Wrong,
    /// Too many wrong codes: seconds to wait; the code was not compared.
    Throttled(i64),
}

impl<T> Verdict<T> {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid(_))
    }
}

/// Counts a second-factor attempt of the account whose email is `email`.
/// `Ok(Err(wait))`: refused without comparing anything. Call
/// [`Attempt::succeeded`] when the code was right.
pub async fn begin(
    db: &Db,
    email: &str,
    now: i64,
) -> Result<Result<Attempt, i64>, crate::db::Error> {
    throttle::begin(
        db,
        &throttle::ACCOUNT,
        &throttle::account_key(db, email),
        now,
    )
    .await
}

/// Checks a code of the account's application or card (replay-protected).
pub async fn check_totp(
    db: &Db,
    account: &Account,
    code: &str,
    now: i64,
) -> Result<Verdict<()>, crate::db::Error> {
    let attempt = match begin(db, &account.email, now).await? {
        Ok(a) => a,
        Err(wait) => return Ok(Verdict::Throttled(wait)),
    };
    if super::consume_totp(db, account, code.trim(), now).await? {
        attempt.succeeded(db).await?;
        Ok(Verdict::Valid(()))
    } else {
        Ok(Verdict::Wrong)
    }
}

/// The message shown when [`Verdict::Wrong`], wherever a code is asked (an
/// application or a card gives it).
pub const WRONG_CODE_TEXT: &str = "Ce code n'est pas valable (faux, expiré ou déjà utilisé). Attendez le code suivant de votre application ou de votre carte, puis saisissez-le.";

/// The message shown when [`Verdict::Throttled`].
pub fn throttled_text(wait: i64) -> String {
    format!(
        "Trop de codes incorrects : pour protéger le compte, les codes sont refusés pendant {}. Attendez puis saisissez le code affiché à ce moment-là.",
        throttle::wait_text(wait)
    )
}
