//! PostgreSQL connections for [`Exec`]: sqlx's native PostgreSQL driver, in a small
//! pool of our own.
//!
//! Why not sqlx's `Any` pool: measured on the project machine (2 cores, PostgreSQL 15
//! on loopback), a one-row read by primary key took 115 µs through the `Any` pool,
//! 90 µs on one `Any` connection kept across statements and 67 µs on a native
//! `PgConnection`. The pool's acquire and release (a semaphore, an idle queue, a task
//! spawned to give each connection back) cost more than the statement, and the `Any`
//! layer converts every argument and row once more. Here a connection is taken from a
//! mutex-guarded stack and given back when dropped; the statement cache stays with
//! the connection (statements are prepared once per connection).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{Column, Connection, Row, TypeInfo, ValueRef};

use super::Backend;
use super::Error;
use super::exec::{Arg, Exec, Rec, Val};

/// A connection idle this long is pinged before use (the server may have restarted,
/// the network cut it).
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(10);
/// How long a statement waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

struct Idle {
    conn: PgConnection,
    since: Instant,
}

/// At most `max` connections to one PostgreSQL database.
pub struct PgPool {
    options: PgConnectOptions,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<tokio::sync::Semaphore>,
    keys: Arc<crate::crypto::ServerKeys>,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPool")
            .field("free", &self.permits.available_permits())
            .finish()
    }
}

impl PgPool {
    pub fn new(
        url: &str,
        max: usize,
        keys: Arc<crate::crypto::ServerKeys>,
    ) -> Result<Arc<PgPool>, Error> {
        let options: PgConnectOptions = url.parse()?;
        Ok(Arc::new(PgPool {
            options,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(max)),
            keys,
        }))
    }

    /// A connection: an idle one (checked first if it rested long), or a new one.
    pub async fn acquire(self: &Arc<Self>) -> Result<PgConn, Error> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Error::Sqlx(sqlx::Error::PoolTimedOut))?
            .map_err(|_| Error::Sqlx(sqlx::Error::PoolClosed))?;
        loop {
            let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
            let Some(Idle { mut conn, since }) = idle else {
                break;
            };
            if since.elapsed() < CHECK_AFTER_IDLE || conn.ping().await.is_ok() {
                return Ok(PgConn {
                    conn: Some(conn),
                    pool: self.clone(),
                    _permit: permit,
                    broken: false,
                });
            }
            // A dead connection is dropped and the next one tried.
        }
        let conn = PgConnection::connect_with(&self.options).await?;
        Ok(PgConn {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
            broken: false,
        })
    }

    /// Closes the idle connections and refuses new statements.
    pub async fn close(&self) {
        self.permits.close();
        let idle = self
            .idle
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        for i in idle {
            let _ = i.conn.close().await;
        }
    }
}

/// A PostgreSQL connection, given back to its pool when dropped (unless it failed).
pub struct PgConn {
    conn: Option<PgConnection>,
    pool: Arc<PgPool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
    /// Set when a statement failed for another reason than the SQL itself: the
    /// connection may be unusable, so it is not given back.
    broken: bool,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !self.broken
            && !self.pool.permits.is_closed()
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

fn query<'q>(
    sql: &'static str,
    args: &[Arg<'q>],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match *a {
            Arg::Int(i) => q.bind(i),
            Arg::Real(x) => q.bind(x),
            Arg::Text(s) => q.bind(s),
            Arg::Bytes(b) => q.bind(b),
            Arg::NullInt => q.bind(None::<i64>),
            Arg::NullReal => q.bind(None::<f64>),
            Arg::NullText => q.bind(None::<&str>),
        };
    }
    q
}

fn names_of(row: &PgRow) -> Arc<[String]> {
    row.columns().iter().map(|c| c.name().to_owned()).collect()
}

/// One PostgreSQL row as a [`Rec`], each value decoded by its own type.
fn to_rec(row: &PgRow, names: &Arc<[String]>) -> Result<Rec, Error> {
    let mut values = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        let raw = row.try_get_raw(i)?;
        // `void` is what functions called for their effect return (advisory locks).
        if raw.is_null() || raw.type_info().name() == "VOID" {
            values.push(Val::Null);
            continue;
        }
        let ty = raw.type_info().name().to_owned();
        let v = match ty.as_str() {
            "INT8" => Val::Int(row.try_get::<i64, _>(i)?),
            "INT4" => Val::Int(i64::from(row.try_get::<i32, _>(i)?)),
            "INT2" => Val::Int(i64::from(row.try_get::<i16, _>(i)?)),
            "BOOL" => Val::Int(i64::from(row.try_get::<bool, _>(i)?)),
            "FLOAT8" => Val::Real(row.try_get::<f64, _>(i)?),
            "FLOAT4" => Val::Real(f64::from(row.try_get::<f32, _>(i)?)),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Val::Text(row.try_get::<String, _>(i)?),
            "BYTEA" => Val::Bytes(row.try_get::<Vec<u8>, _>(i)?),
            other => {
                let column = names.get(i).map_or("?", String::as_str);
                return Err(Error::Data(format!(
                    "colonne {column} : type PostgreSQL {other} non pris en charge"
                )));
            }
        };
        values.push(v);
    }
    Ok(Rec::new(names.clone(), values))
}

impl PgConn {
    /// Closes the connection instead of giving it back.
    fn discard(mut self) {
        self.broken = true;
    }

    fn conn(&mut self) -> Result<&mut PgConnection, Error> {
        self.conn
            .as_mut()
            .ok_or(Error::Sqlx(sqlx::Error::PoolClosed))
    }

    /// Keeps the error; marks the connection unusable unless the SQL itself failed
    /// (a constraint, a syntax error: the connection is fine).
    fn failed(&mut self, e: sqlx::Error) -> Error {
        let sql_only = match &e {
            // Classes 08 (connection exception) and 57 (operator intervention: the
            // server shutting down, an administrator's `pg_terminate_backend`) end
            // the connection; the others (constraints, syntax…) leave it usable.
            sqlx::Error::Database(d) => !d
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57")),
            sqlx::Error::RowNotFound => true,
            _ => false,
        };
        if !sql_only {
            self.broken = true;
        }
        Error::Sqlx(e)
    }

    pub(super) async fn execute_now(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<u64, Error> {
        let result = query(sql, args).execute(&mut *self.conn()?).await;
        result
            .map(|r| r.rows_affected())
            .map_err(|e| self.failed(e))
    }

    async fn fetch(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        one: bool,
    ) -> Result<Vec<Rec>, Error> {
        let q = query(sql, args);
        let conn = self.conn()?;
        let rows = if one {
            q.fetch_optional(&mut *conn)
                .await
                .map(|r| r.into_iter().collect())
        } else {
            q.fetch_all(&mut *conn).await
        };
        let rows: Vec<PgRow> = rows.map_err(|e| self.failed(e))?;
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let names = names_of(first);
        rows.iter().map(|r| to_rec(r, &names)).collect()
    }
}

impl Exec for PgConn {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }
    fn keys(&self) -> &crate::crypto::ServerKeys {
        &self.pool.keys
    }
    async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, Error> {
        self.execute_now(sql, args).await
    }
    async fn fetch_optional(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<Rec>, Error> {
        Ok(self.fetch(sql, args, true).await?.pop())
    }
    async fn fetch_all(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Rec>, Error> {
        self.fetch(sql, args, false).await
    }
}

/// A PostgreSQL transaction on a [`PgConn`]. Dropped uncommitted, it is rolled
/// back before the connection is given back (on a task of its own), so no lock
/// outlives it.
///
/// Round trips are what PostgreSQL costs (see docs/PERFORMANCE.md), so the
/// transaction saves those it can without changing what runs: `BEGIN` is sent
/// with the first statement — in the same simple-protocol message as the
/// advisory lock when the transaction starts with one ([`Exec::lock`]) — and the
/// durability setting of [`Exec::durable_commit`] travels with `COMMIT`. A
/// transaction that ran nothing sends nothing.
pub struct PgTx {
    conn: Option<PgConn>,
    keys: Arc<crate::crypto::ServerKeys>,
    /// `BEGIN` sent.
    begun: bool,
    /// Commit flushed to disk whatever the server's default.
    durable: bool,
    /// Advisory locks held until the end of the transaction.
    locks: Vec<i64>,
}

impl PgTx {
    pub fn begin(conn: PgConn) -> PgTx {
        let keys = conn.pool.keys.clone();
        PgTx {
            conn: Some(conn),
            keys,
            begun: false,
            durable: false,
            locks: Vec::new(),
        }
    }

    /// [`Exec::durable_commit`] was asked for.
    pub fn durable(&self) -> bool {
        self.durable
    }

    fn conn(&mut self) -> Result<&mut PgConn, Error> {
        self.conn
            .as_mut()
            .ok_or(Error::Sqlx(sqlx::Error::PoolClosed))
    }

    /// The connection, `BEGIN` sent.
    async fn started(&mut self) -> Result<&mut PgConn, Error> {
        if !self.begun {
            self.conn()?.execute_now("BEGIN", &[]).await?;
            self.begun = true;
        }
        self.conn()
    }

    /// Statements without values, in one simple-protocol message.
    async fn simple(&mut self, sql: String) -> Result<(), Error> {
        let conn = self.conn()?;
        let result = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn.conn()?)
            .await;
        result.map(|_| ()).map_err(|e| conn.failed(e))
    }

    pub async fn commit(mut self) -> Result<(), Error> {
        if !self.begun {
            return Ok(());
        }
        if self.durable {
            self.simple("SET LOCAL synchronous_commit = on; COMMIT".to_owned())
                .await?;
        } else {
            self.conn()?.execute_now("COMMIT", &[]).await?;
        }
        // Committed: the connection goes back to the pool with nothing to undo.
        self.begun = false;
        Ok(())
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.begun {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if conn.execute_now("ROLLBACK", &[]).await.is_err() {
                        conn.discard();
                    }
                });
            }
            // Outside a runtime: the connection is closed, the server rolls back.
            Err(_) => conn.discard(),
        }
    }
}

impl Exec for PgTx {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }
    async fn lock(&mut self, key: i64) -> Result<(), Error> {
        if self.locks.contains(&key) {
            return Ok(());
        }
        // The key is an integer: written into the statement, it needs no binding,
        // so `BEGIN` and the lock go in one message.
        let begin = if self.begun { "" } else { "BEGIN; " };
        self.simple(format!("{begin}SELECT pg_advisory_xact_lock({key})"))
            .await?;
        self.begun = true;
        self.locks.push(key);
        Ok(())
    }
    async fn durable_commit(&mut self) -> Result<(), Error> {
        self.durable = true;
        Ok(())
    }
    fn keys(&self) -> &crate::crypto::ServerKeys {
        &self.keys
    }
    async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, Error> {
        self.started().await?.execute_now(sql, args).await
    }
    async fn fetch_optional(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<Rec>, Error> {
        Ok(self.started().await?.fetch(sql, args, true).await?.pop())
    }
    async fn fetch_all(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Rec>, Error> {
        self.started().await?.fetch(sql, args, false).await
    }
}
