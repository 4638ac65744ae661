//! Failed sign-in attempts, counted in the database (shared by every app server),
//! per account and per client IP. Keys are keyed hashes: no email or IP is stored.

use sqlx::Row;

use crate::db::Db;

pub const WINDOW_SECONDS: i64 = 15 * 60;
pub const MAX_PER_ACCOUNT: i64 = 5;
pub const MAX_PER_IP: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Account,
    Ip,
}

impl Scope {
    fn key(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Ip => "ip",
        }
    }
    fn max(self) -> i64 {
        match self {
            Scope::Account => MAX_PER_ACCOUNT,
            Scope::Ip => MAX_PER_IP,
        }
    }
}

/// Seconds to wait before a new attempt is allowed, if the key is locked.
pub async fn locked_for(
    db: &Db,
    scope: Scope,
    key_hash: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM (
             SELECT at FROM auth_failures WHERE scope = $1 AND key_hash = $2 AND at > $3
             ORDER BY at DESC LIMIT $4
         ) recent",
    )
    .bind(scope.key())
    .bind(key_hash)
    .bind(now - WINDOW_SECONDS)
    .bind(scope.max())
    .fetch_one(db.pool())
    .await?;
    let n: i64 = row.try_get("n")?;
    if n < scope.max() {
        return Ok(None);
    }
    let oldest: Option<i64> = row.try_get("oldest")?;
    Ok(Some((oldest.unwrap_or(now) + WINDOW_SECONDS - now).max(1)))
}

pub async fn record_failure(
    db: &Db,
    scope: Scope,
    key_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO auth_failures (scope, key_hash, at) VALUES ($1, $2, $3)")
        .bind(scope.key())
        .bind(key_hash)
        .bind(now)
        .execute(&mut *db.write().await?)
        .await?;
    Ok(())
}

pub async fn clear(db: &Db, scope: Scope, key_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM auth_failures WHERE scope = $1 AND key_hash = $2")
        .bind(scope.key())
        .bind(key_hash)
        .execute(&mut *db.write().await?)
        .await?;
    Ok(())
}

/// Deletes failures older than the window (personal-data minimisation).
pub async fn purge(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM auth_failures WHERE at <= $1")
        .bind(now - WINDOW_SECONDS)
        .execute(&mut *db.write().await?)
        .await?;
    Ok(done.rows_affected())
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
