//! Single-use account tokens sent by email: invitations (72 h), password resets (1 h)
//! and TOTP re-enrolment after a référent reset the second factor (72 h).
//! Only a SHA-256 of the token is stored.

use sqlx::Row;

use crate::crypto;
use crate::db::{Db, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Invitation,
    PasswordReset,
    TotpEnrolment,
}

impl Purpose {
    pub fn key(self) -> &'static str {
        match self {
            Purpose::Invitation => "invitation",
            Purpose::PasswordReset => "password_reset",
            Purpose::TotpEnrolment => "totp_enrolment",
        }
    }
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "invitation" => Some(Purpose::Invitation),
            "password_reset" => Some(Purpose::PasswordReset),
            "totp_enrolment" => Some(Purpose::TotpEnrolment),
            _ => None,
        }
    }
    /// Validity in seconds.
    pub fn validity(self) -> i64 {
        match self {
            Purpose::Invitation | Purpose::TotpEnrolment => 72 * 3600,
            Purpose::PasswordReset => 3600,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccountToken {
    pub id: i64,
    pub purpose: Purpose,
    pub account_id: i64,
    pub pending_totp_secret: Option<String>,
    pub expires_at: i64,
}

/// Why a token cannot be used; each gets its own plain message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Unknown,
    Used,
    Expired,
    /// An invitation of a future aidant whose training is not recorded yet.
    TrainingPending,
}

/// Issues a new token; older unused tokens of the same account and purpose stop working.
pub async fn issue(
    tx: &mut Tx,
    account_id: i64,
    purpose: Purpose,
    created_by: Option<i64>,
    now: i64,
) -> Result<String, sqlx::Error> {
    sqlx::query(
        "UPDATE account_tokens SET expires_at = $1
         WHERE account_id = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(account_id)
    .bind(purpose.key())
    .execute(&mut **tx)
    .await?;
    let raw = crypto::random_token();
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, purpose, account_id, created_by, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(crypto::sha256_hex(&raw))
    .bind(purpose.key())
    .bind(account_id)
    .bind(created_by)
    .bind(now + purpose.validity())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(raw)
}

/// Finds a usable token.
pub async fn find(
    db: &Db,
    raw: &str,
    now: i64,
) -> Result<Result<AccountToken, TokenState>, sqlx::Error> {
    if raw.len() != 64 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Err(TokenState::Unknown));
    }
    let row = sqlx::query(
        "SELECT id, purpose, account_id, pending_totp_secret, expires_at, used_at
         FROM account_tokens WHERE token_hash = $1",
    )
    .bind(crypto::sha256_hex(raw))
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(Err(TokenState::Unknown));
    };
    let used_at: Option<i64> = row.try_get("used_at")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    if used_at.is_some() {
        return Ok(Err(TokenState::Used));
    }
    if expires_at <= now {
        return Ok(Err(TokenState::Expired));
    }
    let purpose: String = row.try_get("purpose")?;
    let Some(purpose) = Purpose::parse(&purpose) else {
        return Ok(Err(TokenState::Unknown));
    };
    Ok(Ok(AccountToken {
        id: row.try_get("id")?,
        purpose,
        account_id: row.try_get("account_id")?,
        pending_totp_secret: row.try_get("pending_totp_secret")?,
        expires_at,
    }))
}

/// Stores the TOTP secret shown to the person, so the form cannot choose its own.
pub async fn set_pending_secret(db: &Db, token_id: i64, secret: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE account_tokens SET pending_totp_secret = $1 WHERE id = $2 AND pending_totp_secret IS NULL")
        .bind(secret)
        .bind(token_id)
        .execute(&mut *db.write().await?)
        .await?;
    Ok(())
}

/// Marks the token used and forgets the TOTP secret it proposed (now the
/// account's); false when it was used or expired meanwhile (race).
pub async fn consume(tx: &mut Tx, token_id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE account_tokens SET used_at = $1, pending_totp_secret = NULL
         WHERE id = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(token_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How long a used or expired token is kept, so its link still says « déjà
/// utilisé » or « expiré » rather than « inconnu ».
pub const KEEP_AFTER_END: i64 = 30 * 86_400;

/// Deletes tokens used or expired more than [`KEEP_AFTER_END`] ago (with any TOTP
/// secret an unused one proposed).
pub async fn purge(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM account_tokens WHERE expires_at < $1 OR used_at < $1")
        .bind(now - KEEP_AFTER_END)
        .execute(&mut *db.write().await?)
        .await?;
    Ok(done.rows_affected())
}
