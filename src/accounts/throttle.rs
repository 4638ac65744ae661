//! Rate limits, counted in the database (shared by every app server): failed
//! sign-ins and second-factor codes per account, sign-ins per client IP, emails
//! sent per address and per sender, habilitation requests per IP.
//!
//! One mechanism: [`begin`] counts an attempt and decides in **one atomic upsert**
//! (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), so parallel attempts can never
//! pass a limit together (20 parallel wrong passwords: 5 are checked, 15 refused).
//! The attempt is counted *before* the check it guards; a success then
//! [`Attempt::succeeded`] clears the account's counter, or gives back the attempt
//! where only failures should count (an IP shared by a whole France Services).
//! Keys are keyed hashes of what they count (no email or IP is stored).

use crate::db::Db;
use crate::db::exec::Exec;

/// A limit: at most `max` attempts per `window` seconds, from the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Stored with the counter; also the prefix of the hashed key.
    pub scope: &'static str,
    pub max: i64,
    pub window: i64,
    /// Whether a success gives the attempt back ([`Attempt::succeeded`]) rather
    /// than clearing the counter.
    pub refund_on_success: bool,
}

pub const WINDOW_SECONDS: i64 = 15 * 60;

/// Sign-ins and second-factor codes of one account: 5 failures in 15 minutes.
pub const ACCOUNT: Limit = Limit {
    scope: "account",
    max: 5,
    window: WINDOW_SECONDS,
    refund_on_success: false,
};
/// Failed sign-ins from one IP: 30 in 15 minutes.
pub const SIGN_IN_IP: Limit = Limit {
    scope: "ip",
    max: 30,
    window: WINDOW_SECONDS,
    refund_on_success: true,
};
/// Habilitation requests started from one IP: 30 in 15 minutes.
pub const HABILITATION_IP: Limit = Limit {
    scope: "habilitation-ip",
    max: 30,
    window: WINDOW_SECONDS,
    refund_on_success: false,
};
/// Pass numérique codes checked or redeemed that do not exist or are mistyped,
/// from one IP: 30 in 15 minutes (guessing a 75-bit code stays hopeless, and
/// visible in the logs). Counted once they failed ([`over`], [`count_failure`]).
pub const PASS_CODE_IP: Limit = Limit {
    scope: "pass-ip",
    max: 30,
    window: WINDOW_SECONDS,
    refund_on_success: false,
};
/// The same, per signed-in account.
pub const PASS_CODE_ACCOUNT: Limit = Limit {
    scope: "pass-compte",
    max: 30,
    window: WINDOW_SECONDS,
    refund_on_success: false,
};
/// FranceConnect sign-ins a usager starts (their space, a consent) from one IP:
/// each leaves a row for 30 minutes, so they are bounded.
pub const USAGER_FC_IP: Limit = Limit {
    scope: "usager-fc-ip",
    max: 60,
    window: WINDOW_SECONDS,
    refund_on_success: false,
};
/// Solidarité Numérique callback requests from one IP: 20 an hour (a France
/// Services or a library shares one address among many people).
pub const RAPPEL_IP: Limit = Limit {
    scope: "rappel-ip",
    max: 20,
    window: 3600,
    refund_on_success: false,
};
/// Callback requests for one phone number: 2 a day.
pub const RAPPEL_TELEPHONE: Limit = Limit {
    scope: "rappel-telephone",
    max: 2,
    window: 86_400,
    refund_on_success: false,
};
/// Emails sent to one address by the forms: 3 an hour.
pub const MAIL_ADDRESS: Limit = Limit {
    scope: "mail-address",
    max: 3,
    window: 3600,
    refund_on_success: false,
};
/// Emails sent by the forms for one sender (an IP for public forms, an account for
/// signed-in ones): 60 an hour.
pub const MAIL_SENDER: Limit = Limit {
    scope: "mail-sender",
    max: 60,
    window: 3600,
    refund_on_success: false,
};

/// The hashed key of `value` under `limit` (`value` is an email, an IP…).
pub fn key(db: &Db, limit: &Limit, value: &str) -> String {
    db.keys().keyed_hash(&format!("{}:{value}", limit.scope))
}

/// The key of an account's counter, from its email (as typed at sign-in).
pub fn account_key(db: &Db, email: &str) -> String {
    key(db, &ACCOUNT, &email.trim().to_lowercase())
}

/// An attempt counted and allowed; see [`Attempt::succeeded`].
#[derive(Debug)]
#[must_use = "an allowed attempt is counted until it succeeds"]
pub struct Attempt {
    limit: Limit,
    key: String,
}

/// Counts one attempt and decides, atomically. `Ok(Err(wait))`: refused, seconds
/// to wait (the attempt was not made).
pub async fn begin(
    db: &Db,
    limit: &Limit,
    key: &str,
    now: i64,
) -> Result<Result<Attempt, i64>, crate::db::Error> {
    let mut tx = db.begin().await?;
    let row = tx
        .fetch_optional(
            "INSERT INTO auth_counters (scope, key_hash, window_start, expires_at, attempts)
             VALUES ($1, $2, $3, $4, 1)
             ON CONFLICT (scope, key_hash) DO UPDATE SET
                 attempts = CASE WHEN auth_counters.expires_at <= $3 THEN 1
                                 ELSE auth_counters.attempts + 1 END,
                 window_start = CASE WHEN auth_counters.expires_at <= $3 THEN $3
                                     ELSE auth_counters.window_start END,
                 expires_at = CASE WHEN auth_counters.expires_at <= $3 THEN $4
                                   ELSE auth_counters.expires_at END
             RETURNING attempts, expires_at",
            crate::args![limit.scope, key, now, now + limit.window],
        )
        .await?
        .ok_or(crate::db::Error::NotFound)?;
    tx.commit().await?;
    let attempts = row.int("attempts")?;
    if attempts > limit.max {
        return Ok(Err((row.int("expires_at")? - now).max(1)));
    }
    Ok(Ok(Attempt {
        limit: *limit,
        key: key.to_owned(),
    }))
}

impl Attempt {
    /// The attempt succeeded: clears the counter (an account's failures), or gives
    /// the attempt back when only failures count.
    pub async fn succeeded(self, db: &Db) -> Result<(), crate::db::Error> {
        let sql = if self.limit.refund_on_success {
            "UPDATE auth_counters SET attempts = attempts - 1
             WHERE scope = $1 AND key_hash = $2 AND attempts > 0"
        } else {
            "DELETE FROM auth_counters WHERE scope = $1 AND key_hash = $2"
        };
        db.execute(sql, crate::args![self.limit.scope, self.key.as_str()])
            .await?;
        Ok(())
    }

    /// The attempt could not be made for a reason of ours (the server too busy to
    /// check a password): it does not count.
    pub async fn not_made(self, db: &Db) -> Result<(), crate::db::Error> {
        db.execute(
            "UPDATE auth_counters SET attempts = attempts - 1
             WHERE scope = $1 AND key_hash = $2 AND attempts > 0",
            crate::args![self.limit.scope, self.key.as_str()],
        )
        .await?;
        Ok(())
    }
}

/// The SQL value « until when is one of two keys over its limit »: the latest
/// end of window among the counters of (`$s1`, `$k1`) and (`$s2`, `$k2`) that
/// reached their limits (`$m1`, `$m2`) and have not ended at `$now`; NULL when
/// none has. The one definition of « over » for [`over`] and for a statement
/// that checks a limit on its way (a pass's redemption, [`Guard`]).
#[macro_export]
macro_rules! throttle_until {
    ($s1:literal, $k1:literal, $m1:literal, $s2:literal, $k2:literal, $m2:literal, $now:literal) => {
        concat!(
            "(SELECT MAX(expires_at) FROM auth_counters WHERE expires_at > ",
            $now,
            " AND ((scope = ",
            $s1,
            " AND key_hash = ",
            $k1,
            " AND attempts >= ",
            $m1,
            ") OR (scope = ",
            $s2,
            " AND key_hash = ",
            $k2,
            " AND attempts >= ",
            $m2,
            ")))"
        )
    };
}

/// One or two keys checked together (an address and an account), as the seven
/// values of [`throttle_until!`]: a single key stands twice.
pub struct Guard<'a> {
    first: (&'a Limit, &'a str),
    second: (&'a Limit, &'a str),
}

impl<'a> Guard<'a> {
    /// `None` when `keys` is empty.
    pub fn new(keys: &'a [(&'a Limit, String)]) -> Option<Guard<'a>> {
        let (first, rest) = keys.split_first()?;
        let second = rest.first().unwrap_or(first);
        Some(Guard {
            first: (first.0, first.1.as_str()),
            second: (second.0, second.1.as_str()),
        })
    }

    /// The values of [`throttle_until!`], in its order, for `now`.
    pub fn args(&self, now: i64) -> [crate::db::exec::Arg<'a>; 7] {
        use crate::db::exec::Arg;
        [
            Arg::Text(self.first.0.scope),
            Arg::Text(self.first.1),
            Arg::Int(self.first.0.max),
            Arg::Text(self.second.0.scope),
            Arg::Text(self.second.1),
            Arg::Int(self.second.0.max),
            Arg::Int(now),
        ]
    }

    /// The wait, from the value [`throttle_until!`] gave.
    pub fn wait(until: Option<i64>, now: i64) -> Option<i64> {
        until.map(|u| (u - now).max(1))
    }
}

/// Whether one of `keys` (each with its limit) is over its limit now, without
/// counting anything: `Some(wait)`, the longest, when one is. For checks whose
/// failures are counted only once they happen ([`count_failure`]): a pass code
/// looked up by many scans at once must not be refused because the scans were
/// many, only because codes were wrong. Two keys per statement (a check is an
/// address and an account: one round trip).
pub async fn over(
    db: &Db,
    keys: &[(&Limit, String)],
    now: i64,
) -> Result<Option<i64>, crate::db::Error> {
    let mut wait: Option<i64> = None;
    for pair in keys.chunks(2) {
        let Some(guard) = Guard::new(pair) else {
            continue;
        };
        let until = db
            .fetch_one(
                concat!(
                    "SELECT ",
                    throttle_until!("$1", "$2", "$3", "$4", "$5", "$6", "$7"),
                    " AS jusqu_a"
                ),
                &guard.args(now),
            )
            .await?
            .opt_int("jusqu_a")?;
        wait = wait.max(Guard::wait(until, now));
    }
    Ok(wait)
}

/// Counts one failure that happened (see [`over`]).
pub async fn count_failure(
    db: &Db,
    limit: &Limit,
    key: &str,
    now: i64,
) -> Result<(), crate::db::Error> {
    // Over the limit already: `begin` refuses and the counter stays as it is.
    let _ = begin(db, limit, key, now).await?;
    Ok(())
}

/// Deletes the counters whose window has ended (personal-data minimisation).
pub async fn purge(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    db.execute(
        "DELETE FROM auth_counters WHERE expires_at <= $1",
        crate::args![now],
    )
    .await
}

/// Checks the two limits of a form that sends an email to `address` for `sender`
/// (the client IP of a public form, `compte:<id>` for a signed-in person).
/// `Ok(Err(wait))`: refused, nothing may be sent.
pub async fn email_allowed(
    db: &Db,
    address: &str,
    sender: &str,
    now: i64,
) -> Result<Result<(), i64>, crate::db::Error> {
    let by_sender = key(db, &MAIL_SENDER, sender);
    if let Err(wait) = begin(db, &MAIL_SENDER, &by_sender, now).await? {
        return Ok(Err(wait));
    }
    let by_address = key(db, &MAIL_ADDRESS, &address.trim().to_lowercase());
    Ok(begin(db, &MAIL_ADDRESS, &by_address, now).await?.map(drop))
}

/// The message of a form refused by [`email_allowed`].
pub fn email_refused_text(wait: i64) -> String {
    format!(
        "Trop d'e-mails ont été demandés en peu de temps pour cette adresse ou depuis cette connexion. Pour éviter les abus, attendez {} puis recommencez.",
        wait_text(wait)
    )
}

/// "12 minutes", "1 minute".
pub fn wait_text(seconds: i64) -> String {
    let minutes = (seconds + 59) / 60;
    if minutes <= 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    }
}
