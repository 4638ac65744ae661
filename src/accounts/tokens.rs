//! Single-use account tokens sent by email: invitations (72 h), password resets (1 h)
//! and TOTP re-enrolment after a référent reset the second factor (72 h).
//! Only a SHA-256 of the token is stored.

use crate::crypto;
use crate::db::Exec as _;
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
) -> Result<String, crate::db::Error> {
    tx.execute(
        "UPDATE account_tokens SET expires_at = $1
         WHERE account_id = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1",
        crate::args![now, account_id, purpose.key()],
    )
    .await?;
    let raw = crypto::random_token();
    tx.execute("INSERT INTO account_tokens (token_hash, purpose, account_id, created_by, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)", crate::args![crypto::sha256_hex(&raw), purpose.key(), account_id, created_by, now + purpose.validity(), now])
    .await?;
    Ok(raw)
}

/// Finds a usable token.
pub async fn find(
    db: &Db,
    raw: &str,
    now: i64,
) -> Result<Result<AccountToken, TokenState>, crate::db::Error> {
    if raw.len() != 64 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Err(TokenState::Unknown));
    }
    let row = db
        .fetch_optional(
            "SELECT id, purpose, account_id, pending_totp_secret, expires_at, used_at
         FROM account_tokens WHERE token_hash = $1",
            crate::args![crypto::sha256_hex(raw)],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Err(TokenState::Unknown));
    };
    let used_at: Option<i64> = row.get("used_at")?;
    let expires_at: i64 = row.get("expires_at")?;
    if used_at.is_some() {
        return Ok(Err(TokenState::Used));
    }
    if expires_at <= now {
        return Ok(Err(TokenState::Expired));
    }
    let purpose: String = row.get("purpose")?;
    let Some(purpose) = Purpose::parse(&purpose) else {
        return Ok(Err(TokenState::Unknown));
    };
    Ok(Ok(AccountToken {
        id: row.get("id")?,
        purpose,
        account_id: row.get("account_id")?,
        pending_totp_secret: row.get("pending_totp_secret")?,
        expires_at,
    }))
}

/// Stores the TOTP secret shown to the person, so the form cannot choose its own.
pub async fn set_pending_secret(
    db: &Db,
    token_id: i64,
    secret: &str,
) -> Result<(), crate::db::Error> {
    db.execute("UPDATE account_tokens SET pending_totp_secret = $1 WHERE id = $2 AND pending_totp_secret IS NULL", crate::args![secret, token_id])
        .await?;
    Ok(())
}

/// Marks the token used and forgets the TOTP secret it proposed (now the
/// account's); false when it was used or expired meanwhile (race).
pub async fn consume(tx: &mut Tx, token_id: i64, now: i64) -> Result<bool, crate::db::Error> {
    let done = tx
        .execute(
            "UPDATE account_tokens SET used_at = $1, pending_totp_secret = NULL
         WHERE id = $2 AND used_at IS NULL AND expires_at > $1",
            crate::args![now, token_id],
        )
        .await?;
    Ok(done == 1)
}

/// How long a used or expired token is kept, so its link still says « déjà
/// utilisé » or « expiré » rather than « inconnu ».
pub const KEEP_AFTER_END: i64 = 30 * 86_400;

/// Deletes tokens used or expired more than [`KEEP_AFTER_END`] ago (with any TOTP
/// secret an unused one proposed).
pub async fn purge(db: &Db, now: i64) -> Result<u64, crate::db::Error> {
    let done = db
        .execute(
            "DELETE FROM account_tokens WHERE expires_at < $1 OR used_at < $1",
            crate::args![now - KEEP_AFTER_END],
        )
        .await?;
    Ok(done)
}
