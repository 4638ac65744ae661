//! One query API over two executors, for the hot paths (sessions, identity
//! provider): sqlx on PostgreSQL, and on SQLite a native connection (rusqlite, same
//! bundled library) used on the calling thread.
//!
//! Why: sqlx runs each SQLite connection on its own thread and every statement is a
//! round trip to it (two thread switches). The complete identity-provider flow is
//! about twenty statements; under load a third of the time went into switching
//! threads, and the writer lock was held across those switches. A native statement
//! on a WAL database takes microseconds, so it runs where it is called.
//!
//! The SQL is the same text for both, with `$1…$n` placeholders; on SQLite each is
//! bound by the number in its name. SQL is `&'static str`: values are always bound,
//! never formatted into the text.

use std::future::Future;
use std::sync::{Arc, Mutex};

use sqlx::{Any, Row};

use super::{Backend, Db, Error, SqlxTx};

/// A value bound to a placeholder.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Int(i64),
    Real(f64),
    Text(&'a str),
    /// Bytes (`BLOB` on SQLite, `BYTEA` on PostgreSQL): attachments.
    Bytes(&'a [u8]),
    /// PostgreSQL wants the type of a NULL parameter.
    NullInt,
    NullReal,
    NullText,
}

/// A value that binds to a placeholder: integers, reals, booleans (0 or 1), text,
/// and `Option`s of them (NULL). [`args!`] takes each value by reference, so owned
/// and borrowed values bind alike.
pub trait ToArg {
    fn to_arg(&self) -> Arg<'_>;
}

impl ToArg for i64 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(*self)
    }
}

impl ToArg for i32 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for u32 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for f64 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Real(*self)
    }
}

impl ToArg for bool {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for [u8] {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}

impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}

impl ToArg for Option<i64> {
    fn to_arg(&self) -> Arg<'_> {
        self.map_or(Arg::NullInt, Arg::Int)
    }
}

impl ToArg for Option<f64> {
    fn to_arg(&self) -> Arg<'_> {
        self.map_or(Arg::NullReal, Arg::Real)
    }
}

impl ToArg for Option<&str> {
    fn to_arg(&self) -> Arg<'_> {
        self.map_or(Arg::NullText, Arg::Text)
    }
}

impl ToArg for Option<String> {
    fn to_arg(&self) -> Arg<'_> {
        self.as_deref().map_or(Arg::NullText, Arg::Text)
    }
}

impl ToArg for Option<&String> {
    fn to_arg(&self) -> Arg<'_> {
        self.map_or(Arg::NullText, |s| Arg::Text(s))
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg<'_> {
        (**self).to_arg()
    }
}

/// Builds a `&[Arg]` from values of mixed types: `args![id, &name, None::<i64>]`.
#[macro_export]
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        &[$($crate::db::exec::ToArg::to_arg(&$v)),*]
    };
}

/// One value read.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// One row read, owned; columns are found by name.
#[derive(Debug, Clone)]
pub struct Rec {
    names: Arc<[String]>,
    values: Vec<Val>,
}

fn decode_error(column: &str, wanted: &str) -> Error {
    Error::Data(format!("colonne {column} : {wanted} attendu"))
}

/// A Rust type a column decodes to, for [`Rec::get`].
pub trait FromVal: Sized {
    fn from_val(column: &str, v: &Val) -> Result<Self, Error>;
}

impl FromVal for i64 {
    fn from_val(column: &str, v: &Val) -> Result<Self, Error> {
        match v {
            Val::Int(i) => Ok(*i),
            _ => Err(decode_error(column, "entier")),
        }
    }
}

impl FromVal for bool {
    fn from_val(column: &str, v: &Val) -> Result<Self, Error> {
        i64::from_val(column, v).map(|i| i != 0)
    }
}

impl FromVal for f64 {
    fn from_val(column: &str, v: &Val) -> Result<Self, Error> {
        match v {
            Val::Real(x) => Ok(*x),
            Val::Int(i) => Ok(*i as f64),
            _ => Err(decode_error(column, "nombre")),
        }
    }
}

impl FromVal for String {
    fn from_val(column: &str, v: &Val) -> Result<Self, Error> {
        match v {
            Val::Text(s) => Ok(s.clone()),
            _ => Err(decode_error(column, "texte")),
        }
    }
}

impl FromVal for Vec<u8> {
    fn from_val(column: &str, v: &Val) -> Result<Self, Error> {
        match v {
            Val::Bytes(b) => Ok(b.clone()),
            _ => Err(decode_error(column, "octets")),
        }
    }
}

impl<T: FromVal> FromVal for Option<T> {
    fn from_val(column: &str, v: &Val) -> Result<Self, Error> {
        match v {
            Val::Null => Ok(None),
            v => T::from_val(column, v).map(Some),
        }
    }
}

impl Rec {
    pub(super) fn new(names: Arc<[String]>, values: Vec<Val>) -> Rec {
        Rec { names, values }
    }

    /// The value of a column, decoded to the type asked for (`Option` for a
    /// column that may be NULL).
    pub fn get<T: FromVal>(&self, column: &str) -> Result<T, Error> {
        T::from_val(column, self.val(column)?)
    }

    fn val(&self, column: &str) -> Result<&Val, Error> {
        self.names
            .iter()
            .position(|n| n == column)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| Error::Data(format!("colonne {column} absente")))
    }

    pub fn int(&self, column: &str) -> Result<i64, Error> {
        self.get(column)
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, Error> {
        self.get(column)
    }

    /// A real number (integers widen; NULL is `None`).
    pub fn opt_real(&self, column: &str) -> Result<Option<f64>, Error> {
        self.get(column)
    }

    pub fn text(&self, column: &str) -> Result<String, Error> {
        self.get(column)
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>, Error> {
        self.get(column)
    }
}

/// Runs statements. Implemented by every connection and transaction of [`Db`].
pub trait Exec: Send {
    fn backend(&self) -> Backend;

    /// The keys derived from the server secret (the journal seals its heads).
    fn keys(&self) -> &crate::crypto::ServerKeys;

    /// Runs a statement; returns the number of rows changed.
    fn execute(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// The first row, if any.
    fn fetch_optional(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Option<Rec>, Error>> + Send;

    fn fetch_all(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Rec>, Error>> + Send;

    /// Takes the advisory lock `key` until the end of this transaction, once
    /// per transaction (see [`lock_structure`]). Only PostgreSQL transactions
    /// need it: SQLite serialises writers itself.
    fn lock(&mut self, _key: i64) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// Makes this transaction's commit durable whatever the server's default
    /// (see [`durable_commit`]). Only PostgreSQL transactions need it.
    fn durable_commit(&mut self) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// The one row a statement must find ([`Error::NotFound`] otherwise).
    fn fetch_one(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Rec, Error>> + Send {
        async move { self.fetch_optional(sql, args).await?.ok_or(Error::NotFound) }
    }
}

// ---------------------------------------------------------------------------
// sqlx executors (PostgreSQL; and SQLite outside the hot paths).

fn sqlx_query<'q>(
    sql: &'static str,
    args: &[Arg<'q>],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match *a {
            Arg::Int(i) => q.bind(i),
            Arg::Real(x) => q.bind(x),
            Arg::Text(s) => q.bind(s),
            Arg::Bytes(b) => q.bind(b),
            Arg::NullInt => q.bind(None::<i64>),
            Arg::NullReal => q.bind(None::<f64>),
            Arg::NullText => q.bind(None::<String>),
        };
    }
    q
}

fn from_any(row: &sqlx::any::AnyRow, names: &Arc<[String]>) -> Result<Rec, Error> {
    use sqlx::ValueRef;
    use sqlx::any::AnyTypeInfoKind as K;
    let mut values = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        // Decode by the value's own type: no failed attempt per column.
        let kind = row.try_get_raw(i)?.type_info().kind();
        let v = match kind {
            K::Null => Val::Null,
            K::Text => row.try_get::<String, _>(i).map(Val::Text)?,
            K::Real | K::Double => row.try_get::<f64, _>(i).map(Val::Real)?,
            K::Blob => row.try_get::<Vec<u8>, _>(i).map(Val::Bytes)?,
            K::Bool => row.try_get::<bool, _>(i).map(|b| Val::Int(i64::from(b)))?,
            K::SmallInt | K::Integer | K::BigInt => row.try_get::<i64, _>(i).map(Val::Int)?,
        };
        values.push(v);
    }
    Ok(Rec {
        names: names.clone(),
        values,
    })
}

fn names_of(row: &sqlx::any::AnyRow) -> Arc<[String]> {
    use sqlx::Column;
    row.columns().iter().map(|c| c.name().to_owned()).collect()
}

async fn sqlx_execute(
    conn: &mut sqlx::AnyConnection,
    sql: &'static str,
    args: &[Arg<'_>],
) -> Result<u64, Error> {
    Ok(sqlx_query(sql, args).execute(conn).await?.rows_affected())
}

async fn sqlx_fetch_all(
    conn: &mut sqlx::AnyConnection,
    sql: &'static str,
    args: &[Arg<'_>],
) -> Result<Vec<Rec>, Error> {
    let rows = sqlx_query(sql, args).fetch_all(conn).await?;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let names = names_of(first);
    rows.iter().map(|r| from_any(r, &names)).collect()
}

async fn sqlx_fetch_optional(
    conn: &mut sqlx::AnyConnection,
    sql: &'static str,
    args: &[Arg<'_>],
) -> Result<Option<Rec>, Error> {
    match sqlx_query(sql, args).fetch_optional(conn).await? {
        Some(r) => Ok(Some(from_any(&r, &names_of(&r))?)),
        None => Ok(None),
    }
}

/// Implements [`Exec`] by delegating to an `AnyConnection` reached through `$conn`.
macro_rules! sqlx_exec {
    ($t:ty, |$s:ident| $conn:expr, $backend:expr, $keys:expr) => {
        impl Exec for $t {
            fn backend(&self) -> Backend {
                let $s = self;
                $backend
            }
            fn keys(&self) -> &crate::crypto::ServerKeys {
                let $s = self;
                $keys
            }
            async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, Error> {
                let $s = self;
                sqlx_execute($conn, sql, args).await
            }
            async fn fetch_optional(
                &mut self,
                sql: &'static str,
                args: &[Arg<'_>],
            ) -> Result<Option<Rec>, Error> {
                let $s = self;
                sqlx_fetch_optional($conn, sql, args).await
            }
            async fn fetch_all(
                &mut self,
                sql: &'static str,
                args: &[Arg<'_>],
            ) -> Result<Vec<Rec>, Error> {
                let $s = self;
                sqlx_fetch_all($conn, sql, args).await
            }
        }
    };
}

sqlx_exec!(SqlxTx, |s| &mut s.inner, s.backend, &s.keys);

// ---------------------------------------------------------------------------
// Native SQLite.

/// Idle native connections of one SQLite database.
#[derive(Debug)]
pub struct NativePool {
    path: std::path::PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    keys: Arc<crate::crypto::ServerKeys>,
}

/// Idle connections kept; more are opened under load and closed when returned.
const NATIVE_IDLE: usize = 8;

impl NativePool {
    pub fn new(path: std::path::PathBuf, keys: Arc<crate::crypto::ServerKeys>) -> NativePool {
        NativePool {
            path,
            idle: Mutex::new(Vec::new()),
            keys,
        }
    }

    fn take(self: &Arc<Self>) -> Result<NativeConn, Error> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = rusqlite::Connection::open_with_flags(
                    &self.path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(native_error)?;
                // The pool's connections already set WAL (a property of the file).
                // Checkpoints are left to them: a checkpoint writes and syncs the
                // database file, which must not happen on the async runtime's threads.
                c.execute_batch(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;",
                )
                .map_err(native_error)?;
                c.set_prepared_statement_cache_capacity(64);
                c
            }
        };
        Ok(NativeConn {
            conn: Some(conn),
            pool: self.clone(),
        })
    }
}

fn native_error(e: rusqlite::Error) -> Error {
    Error::Sqlite(e)
}

/// A native SQLite connection, given back to its pool when dropped.
pub struct NativeConn {
    conn: Option<rusqlite::Connection>,
    pool: Arc<NativePool>,
}

impl Drop for NativeConn {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take()
            && c.is_autocommit()
            && let Ok(mut idle) = self.pool.idle.lock()
            && idle.len() < NATIVE_IDLE
        {
            idle.push(c);
        }
    }
}

impl NativeConn {
    fn conn(&self) -> Result<&rusqlite::Connection, Error> {
        self.conn
            .as_ref()
            .ok_or(Error::Sqlx(sqlx::Error::PoolClosed))
    }

    fn prepare<'c>(
        conn: &'c rusqlite::Connection,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<rusqlite::CachedStatement<'c>, Error> {
        let mut stmt = conn.prepare_cached(sql).map_err(native_error)?;
        // SQLite numbers `$n` placeholders in order of first appearance; bind each
        // by the number in its name, as sqlx does.
        for i in 1..=stmt.parameter_count() {
            let arg = stmt
                .parameter_name(i)
                .and_then(|n| n.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1))
                .and_then(|n| args.get(n).copied())
                .ok_or_else(|| Error::Data(format!("paramètre {i} sans valeur : {sql}")))?;
            match arg {
                Arg::Int(v) => stmt.raw_bind_parameter(i, v),
                Arg::Real(v) => stmt.raw_bind_parameter(i, v),
                Arg::Text(v) => stmt.raw_bind_parameter(i, v),
                Arg::Bytes(v) => stmt.raw_bind_parameter(i, v),
                Arg::NullInt | Arg::NullReal | Arg::NullText => {
                    stmt.raw_bind_parameter(i, rusqlite::types::Null)
                }
            }
            .map_err(native_error)?;
        }
        Ok(stmt)
    }

    fn execute_now(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, Error> {
        let mut stmt = Self::prepare(self.conn()?, sql, args)?;
        let n = stmt.raw_execute().map_err(native_error)?;
        Ok(n as u64)
    }

    fn fetch_now(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
        limit: usize,
    ) -> Result<Vec<Rec>, Error> {
        let mut stmt = Self::prepare(self.conn()?, sql, args)?;
        let names: Arc<[String]> = stmt.column_names().iter().map(|n| n.to_string()).collect();
        let width = names.len();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(row) = rows.next().map_err(native_error)? else {
                break;
            };
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                use rusqlite::types::ValueRef;
                values.push(match row.get_ref(i).map_err(native_error)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Real(v) => Val::Real(v),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
                });
            }
            out.push(Rec {
                names: names.clone(),
                values,
            });
        }
        Ok(out)
    }
}

impl Exec for NativeConn {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
    fn keys(&self) -> &crate::crypto::ServerKeys {
        &self.pool.keys
    }
    async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, Error> {
        self.execute_now(sql, args)
    }
    async fn fetch_optional(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<Rec>, Error> {
        Ok(self.fetch_now(sql, args, 1)?.pop())
    }
    async fn fetch_all(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Rec>, Error> {
        self.fetch_now(sql, args, usize::MAX)
    }
}

/// A native write transaction (`BEGIN IMMEDIATE`) holding this process's writer
/// lock; rolled back when dropped uncommitted.
pub struct NativeTx {
    conn: NativeConn,
    done: bool,
    _writer: tokio::sync::OwnedMutexGuard<()>,
}

impl NativeTx {
    fn commit(mut self) -> Result<(), Error> {
        self.conn.execute_now("COMMIT", &[])?;
        self.done = true;
        Ok(())
    }
}

impl Drop for NativeTx {
    fn drop(&mut self) {
        if !self.done
            && let Ok(c) = self.conn.conn()
        {
            // A failed rollback leaves the connection outside autocommit mode, and
            // `NativeConn::drop` then closes it instead of pooling it.
            let _ = c.execute_batch("ROLLBACK");
        }
    }
}

impl Exec for NativeTx {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
    fn keys(&self) -> &crate::crypto::ServerKeys {
        &self.conn.pool.keys
    }
    async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, Error> {
        self.conn.execute_now(sql, args)
    }
    async fn fetch_optional(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<Rec>, Error> {
        Ok(self.conn.fetch_now(sql, args, 1)?.pop())
    }
    async fn fetch_all(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Rec>, Error> {
        self.conn.fetch_now(sql, args, usize::MAX)
    }
}

/// A pooled sqlx connection with its backend.
pub struct PoolConn(
    sqlx::pool::PoolConnection<Any>,
    Backend,
    Arc<crate::crypto::ServerKeys>,
);

sqlx_exec!(PoolConn, |s| &mut s.0, s.1, &s.2);

/// Implements [`Exec`] for a two-variant enum by dispatching to the variant.
macro_rules! enum_exec {
    ($t:ident) => {
        impl Exec for $t {
            fn backend(&self) -> Backend {
                match self {
                    $t::Native(c) => c.backend(),
                    $t::Sqlx(c) => c.backend(),
                    $t::Pg(c) => c.backend(),
                }
            }
            async fn lock(&mut self, key: i64) -> Result<(), Error> {
                match self {
                    $t::Native(c) => c.lock(key).await,
                    $t::Pg(c) => c.lock(key).await,
                    $t::Sqlx(c) => c.lock(key).await,
                }
            }
            async fn durable_commit(&mut self) -> Result<(), Error> {
                match self {
                    $t::Native(c) => c.durable_commit().await,
                    $t::Pg(c) => c.durable_commit().await,
                    $t::Sqlx(c) => c.durable_commit().await,
                }
            }
            fn keys(&self) -> &crate::crypto::ServerKeys {
                match self {
                    $t::Native(c) => c.keys(),
                    $t::Sqlx(c) => c.keys(),
                    $t::Pg(c) => c.keys(),
                }
            }
            async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, Error> {
                match self {
                    $t::Native(c) => c.execute(sql, args).await,
                    $t::Sqlx(c) => c.execute(sql, args).await,
                    $t::Pg(c) => c.execute(sql, args).await,
                }
            }
            async fn fetch_optional(
                &mut self,
                sql: &'static str,
                args: &[Arg<'_>],
            ) -> Result<Option<Rec>, Error> {
                match self {
                    $t::Native(c) => c.fetch_optional(sql, args).await,
                    $t::Sqlx(c) => c.fetch_optional(sql, args).await,
                    $t::Pg(c) => c.fetch_optional(sql, args).await,
                }
            }
            async fn fetch_all(
                &mut self,
                sql: &'static str,
                args: &[Arg<'_>],
            ) -> Result<Vec<Rec>, Error> {
                match self {
                    $t::Native(c) => c.fetch_all(sql, args).await,
                    $t::Sqlx(c) => c.fetch_all(sql, args).await,
                    $t::Pg(c) => c.fetch_all(sql, args).await,
                }
            }
        }
    };
}

/// A connection for reads, from [`Db::conn`].
pub enum Conn {
    Native(NativeConn),
    Pg(super::pg::PgConn),
    Sqlx(PoolConn),
}

enum_exec!(Conn);

/// A write transaction, from [`Db::begin`]: native on an SQLite file, sqlx on
/// PostgreSQL. Rolled back when dropped uncommitted.
pub enum Tx {
    Native(NativeTx),
    Pg(super::pg::PgTx),
    Sqlx(SqlxTx),
}

enum_exec!(Tx);

impl Tx {
    /// Whether the commit will be flushed to disk whatever the server's default
    /// (after [`durable_commit`]; SQLite has one setting for the file).
    pub fn commits_durably(&self) -> bool {
        match self {
            Tx::Pg(t) => t.durable(),
            _ => false,
        }
    }

    pub async fn commit(self) -> Result<(), Error> {
        match self {
            Tx::Native(t) => t.commit(),
            Tx::Pg(t) => t.commit().await,
            Tx::Sqlx(t) => t.commit().await,
        }
    }
}

impl Db {
    /// A connection for reads on the hot paths (native on SQLite).
    pub async fn conn(&self) -> Result<Conn, Error> {
        if let Some(pg) = &self.pg {
            return Ok(Conn::Pg(pg.acquire().await?));
        }
        match &self.native {
            Some(pool) => Ok(Conn::Native(pool.take()?)),
            None => Ok(Conn::Sqlx(PoolConn(
                self.pool.acquire().await?,
                self.backend,
                self.keys.clone(),
            ))),
        }
    }

    /// Begins a write transaction (native on an SQLite file, see the module's
    /// note). Never nested in another transaction of this process: on SQLite it
    /// takes this process's writer lock, then SQLite's (`BEGIN IMMEDIATE`), so
    /// read-then-write transactions never fail to upgrade and concurrent writers
    /// wait without sleeping.
    pub async fn begin(&self) -> Result<Tx, Error> {
        if let Some(pg) = &self.pg {
            return Ok(Tx::Pg(super::pg::PgTx::begin(pg.acquire().await?)));
        }
        match &self.native {
            Some(pool) => {
                let writer = self.writer.clone().lock_owned().await;
                let conn = pool.take()?;
                conn.execute_now("BEGIN IMMEDIATE", &[])?;
                Ok(Tx::Native(NativeTx {
                    conn,
                    done: false,
                    _writer: writer,
                }))
            }
            None => Ok(Tx::Sqlx(self.begin_sqlx().await?)),
        }
    }

    /// On SQLite, checkpoints the WAL every 30 seconds through sqlx (on its
    /// connection's own thread): native connections never checkpoint, so a server
    /// busy only with hot paths would otherwise let the WAL grow.
    pub fn spawn_checkpoints(&self) {
        if self.native.is_none() {
            return;
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
            loop {
                tick.tick().await;
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_optional(&pool)
                    .await
                {
                    tracing::warn!(cause = %e, "point de contrôle du journal SQLite impossible");
                }
            }
        });
    }
}

/// Serialises writers of one structure's data until the transaction ends (see
/// [`Db::lock_structure`]).
pub async fn lock_structure<E: Exec>(tx: &mut E, structure_id: i64) -> Result<(), Error> {
    tx.lock(super::STRUCTURE_LOCK_BASE + structure_id).await
}

/// Selected by a statement that runs on its own (in its `RETURNING` or `SELECT`
/// list), lets PostgreSQL answer that statement's commit without waiting for the
/// disk (`synchronous_commit = off` for its transaction only). For short-lived
/// protocol state a person recreates by starting again — a sign-in request and
/// the usager chosen for it — whose loss in a crash of the database server costs
/// one more click: never for what the journal records ([`durable_commit`]) nor
/// for what guards a security rule (a code's single use, a token's). SQLite has
/// no such setting (`synchronous = NORMAL` for the whole file): the statement's
/// SQLite text goes without it.
#[macro_export]
macro_rules! pg_commit_without_waiting {
    () => {
        "set_config('synchronous_commit', 'off', true) AS commit_sans_attente"
    };
}

/// Makes this transaction's commit durable (flushed to disk before `COMMIT`
/// returns) whatever the server's default: on PostgreSQL an operator may set
/// `synchronous_commit = off` for speed, and what must survive a crash — the
/// journal and what it records — still does. On SQLite a no-op (one setting for
/// the file, `synchronous = NORMAL`).
pub async fn durable_commit<E: Exec>(tx: &mut E) -> Result<(), Error> {
    tx.durable_commit().await
}
