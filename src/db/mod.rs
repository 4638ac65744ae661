//! Database access: one pool over SQLite or PostgreSQL, chosen by the URL scheme.
//!
//! Queries are written once, with `$1…$n` placeholders (valid on both backends, always
//! numbered in order of first appearance), through sqlx's `Any` driver. Integer columns
//! are 64-bit on both sides and timestamps are Unix seconds, so every value decodes the
//! same way. Where SQL truly differs, code branches on [`Backend`].

pub mod exec;
mod pg;
pub mod scan;

pub use exec::{Arg, Conn, Exec, FromVal, Rec, Tx};
pub use scan::{Cells, Step};

use std::str::FromStr;
use std::sync::Arc;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

/// The file of a `sqlite://path?…` URL (`None` for in-memory databases).
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or("");
    (!path.is_empty() && !path.starts_with(':')).then(|| std::path::PathBuf::from(path))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl FromStr for Backend {
    type Err = Error;
    fn from_str(url: &str) -> Result<Self, Error> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::UnsupportedUrl)
        }
    }
}

/// Every failure of the database layer. Domain code sees only this type: the
/// drivers' own error types stay inside `src/db/`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("adresse de base de données non prise en charge (sqlite: ou postgres://)")]
    UnsupportedUrl,
    #[error("dossier de la base de données impossible à créer : {0}")]
    Folder(std::io::Error),
    /// A row that must exist does not (`fetch_one` found nothing).
    #[error("enregistrement introuvable")]
    NotFound,
    /// A value read does not have the expected type, or stored data cannot be
    /// read back (a JSON column, a stored URL).
    #[error("donnée illisible : {0}")]
    Data(String),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl Error {
    /// A [`Error::Data`] from any displayable cause.
    pub fn data(cause: impl std::fmt::Display) -> Error {
        Error::Data(cause.to_string())
    }
}

/// A sqlx transaction (PostgreSQL; SQLite migrations and in-memory databases). On
/// SQLite it also holds this process's writer lock (see [`Db::begin`]).
pub struct SqlxTx {
    inner: Transaction<'static, Any>,
    backend: Backend,
    keys: Arc<crate::crypto::ServerKeys>,
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl SqlxTx {
    async fn commit(self) -> Result<(), Error> {
        Ok(self.inner.commit().await?)
    }
}

/// A pooled PostgreSQL connection idle this long is pinged before use.
const PG_CHECK_AFTER_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Advisory-lock keys of structures are this plus the structure id (the migration lock is 7271).
const STRUCTURE_LOCK_BASE: i64 = 1 << 40;
/// Advisory-lock key serialising key rotations of the identity provider.
pub const KEYS_LOCK: i64 = 7273;
/// Held while a server does what it does once at start (migrations, keys,
/// demonstration data, recomputations): other servers starting on the same
/// database wait for it. On PostgreSQL a session advisory lock (key 7270; 7271
/// is the migrations', 7273 the key rotations') on a connection
/// of its own; on an SQLite file an exclusive lock on `<file>.demarrage`; nothing
/// for an in-memory database (one process). Released by [`StartupLock::release`],
/// or when dropped (the connection is closed, the file lock goes with the file).
pub struct StartupLock {
    pg: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    _file: Option<std::fs::File>,
}

impl StartupLock {
    pub async fn release(mut self) -> Result<(), Error> {
        if let Some(mut conn) = self.pg.take() {
            sqlx::query("SELECT pg_advisory_unlock(7270) AS unlocked")
                .fetch_optional(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

impl Drop for StartupLock {
    fn drop(&mut self) {
        // Not released (an error on the way): the connection is closed rather than
        // given back to the pool with the lock still held; the server then frees it.
        if let Some(conn) = self.pg.take() {
            drop(conn.detach());
        }
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    /// SQLite has one writer at a time; writers of this process queue here instead
    /// of in SQLite's busy handler, which sleeps in steps of milliseconds.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The URL the pool was opened with (with `mode=rwc` for SQLite), to open a
    /// native connection where the `Any` driver is too slow (journal verification).
    url: std::sync::Arc<str>,
    backend: Backend,
    /// Native connections on an SQLite file (see [`exec`]).
    native: Option<Arc<exec::NativePool>>,
    /// PostgreSQL connections for every statement but migrations (see [`pg`]).
    pg: Option<Arc<pg::PgPool>>,
    /// Keys derived from the server secret (throttling keys, journal seals).
    keys: Arc<crate::crypto::ServerKeys>,
}

/// One migration, written for each backend under the same version number.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// One entry of [`MIGRATIONS`]: the same file name under both backends' folders.
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../../migrations/sqlite/", $file)),
            postgres: include_str!(concat!("../../migrations/postgres/", $file)),
        }
    };
}

pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "foundation", "0001_foundation.sql"),
    migration!(2, "mandats", "0002_mandats.sql"),
    migration!(3, "idp", "0003_idp.sql"),
    migration!(4, "lieux", "0004_lieux.sql"),
    migration!(5, "lieux_recherche", "0005_lieux_recherche.sql"),
    migration!(6, "habilitation", "0006_habilitation.sql"),
    migration!(7, "cartes", "0007_cartes.sql"),
    migration!(8, "inactivite", "0008_inactivite.sql"),
    migration!(9, "rattachements", "0009_rattachements.sql"),
    migration!(10, "securite", "0010_securite.sql"),
    migration!(11, "idp_conformite", "0011_idp_conformite.sql"),
    migration!(12, "recherche_usagers", "0012_recherche_usagers.sql"),
    migration!(13, "idp_jetons", "0013_idp_jetons.sql"),
    migration!(14, "accueil_aidant", "0014_accueil_aidant.sql"),
    migration!(15, "simulateur_partage", "0015_simulateur_partage.sql"),
    migration!(16, "activites", "0016_activites.sql"),
    migration!(
        17,
        "activites_territoires",
        "0017_activites_territoires.sql"
    ),
    migration!(18, "coordination", "0018_coordination.sql"),
    migration!(19, "partages", "0019_partages.sql"),
    migration!(20, "api_clients", "0020_api_clients.sql"),
    migration!(21, "activites_source", "0021_activites_source.sql"),
    migration!(
        22,
        "coordination_activites",
        "0022_coordination_activites.sql"
    ),
    migration!(23, "activites_communes", "0023_activites_communes.sql"),
    migration!(24, "pass", "0024_pass.sql"),
    migration!(25, "espace_usager", "0025_espace_usager.sql"),
    migration!(26, "pilotage", "0026_pilotage.sql"),
    migration!(27, "donnees_ouvertes", "0027_donnees_ouvertes.sql"),
    migration!(28, "pilotage_index", "0028_pilotage_index.sql"),
    migration!(29, "rappels", "0029_rappels.sql"),
    migration!(30, "ressources", "0030_ressources.sql"),
    migration!(31, "equipements", "0031_equipements.sql"),
    migration!(
        32,
        "compteurs_par_structure",
        "0032_compteurs_par_structure.sql"
    ),
];

impl Db {
    /// Opens a pool. For SQLite the file (and its folder) is created when missing,
    /// WAL is enabled and foreign keys enforced.
    /// `secret` is the server secret: the handle derives from it the keys that
    /// domain code needs ([`crate::crypto::ServerKeys`]).
    pub async fn connect(url: &str, secret: &str) -> Result<Db, Error> {
        let keys = Arc::new(crate::crypto::ServerKeys::derive(secret));
        install_default_drivers();
        let backend: Backend = url.parse()?;
        let mut url = url.to_owned();
        if backend == Backend::Sqlite {
            if let Some(path) = sqlite_path(&url)
                && let Some(parent) = path.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(Error::Folder)?;
            }
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
        }
        // On PostgreSQL the sqlx pool serves only migrations and administration
        // scripts; statements go through [`pg::PgPool`].
        let (max, pg_max) = match backend {
            Backend::Sqlite => (8, 0),
            Backend::Postgres => (2, 16),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .idle_timeout(std::time::Duration::from_secs(60))
            // By default every acquire first pings the connection: one more round trip
            // per statement. A file cannot drop a connection; a PostgreSQL server can
            // (restart, network cut), but a connection used a moment ago is alive: it is
            // checked only after a pause, and a dead one is replaced, not handed out.
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if backend == Backend::Postgres && meta.idle_for >= PG_CHECK_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Db {
            pool,
            writer: std::sync::Arc::new(tokio::sync::Mutex::new(())),
            backend,
            native: match backend {
                Backend::Sqlite => {
                    sqlite_path(&url).map(|p| Arc::new(exec::NativePool::new(p, keys.clone())))
                }
                Backend::Postgres => None,
            },
            pg: match backend {
                Backend::Postgres => Some(pg::PgPool::new(&url, pg_max, keys.clone())?),
                Backend::Sqlite => None,
            },
            keys,
            url: std::sync::Arc::from(url.as_str()),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The keys derived from the server secret.
    pub fn keys(&self) -> &crate::crypto::ServerKeys {
        &self.keys
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes every connection of the pool (the benches end their servers' databases).
    pub async fn close(&self) {
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
        self.pool.close().await;
    }

    /// Begins a sqlx transaction. On SQLite it first takes this process's writer
    /// lock, then SQLite's (`BEGIN IMMEDIATE`), so read-then-write transactions never
    /// fail to upgrade and concurrent writers wait without sleeping.
    async fn begin_sqlx(&self) -> Result<SqlxTx, Error> {
        let (inner, writer) = match self.backend {
            Backend::Sqlite => {
                let guard = self.writer.clone().lock_owned().await;
                (self.pool.begin_with("BEGIN IMMEDIATE").await?, Some(guard))
            }
            Backend::Postgres => (self.pool.begin().await?, None),
        };
        Ok(SqlxTx {
            inner,
            backend: self.backend,
            keys: self.keys.clone(),
            _writer: writer,
        })
    }

    /// Runs statements that take no values, several at once: administration
    /// (creating a test database, removing a trigger to simulate tampering). Never
    /// given text that comes from a request.
    pub async fn run_script(&self, sql: &str) -> Result<(), Error> {
        let _writer = match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Serialises writers of one structure's data until the transaction ends: on
    /// PostgreSQL an advisory transaction lock per structure; on SQLite the write
    /// transaction (`BEGIN IMMEDIATE`) already holds the database's single write lock.
    pub async fn lock_structure(&self, tx: &mut Tx, structure_id: i64) -> Result<(), Error> {
        exec::lock_structure(tx, structure_id).await
    }

    /// The first row of a read, on a connection of its own.
    pub async fn fetch_optional(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<Rec>, Error> {
        self.conn().await?.fetch_optional(sql, args).await
    }

    /// The one row of a read that must find it ([`Error::NotFound`] otherwise).
    pub async fn fetch_one(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Rec, Error> {
        self.conn().await?.fetch_one(sql, args).await
    }

    /// Every row of a read, on a connection of its own.
    pub async fn fetch_all(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Rec>, Error> {
        self.conn().await?.fetch_all(sql, args).await
    }

    /// One write on its own (atomic by itself); returns the rows changed. Never
    /// called while holding a [`Tx`] of the same database: on SQLite it takes the
    /// writer lock, which is not reentrant. On PostgreSQL it runs as one autocommit
    /// statement: no `BEGIN` and `COMMIT` round trips.
    pub async fn execute(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, Error> {
        if self.backend == Backend::Postgres {
            return self.conn().await?.execute(sql, args).await;
        }
        let mut tx = self.begin().await?;
        let n = tx.execute(sql, args).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Waits until no other server is starting on this database, then holds the
    /// start-up lock ([`StartupLock`]).
    pub async fn startup_lock(&self) -> Result<StartupLock, Error> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = self.pool.acquire().await?;
                sqlx::query("SELECT pg_advisory_lock(7270) AS locked")
                    .fetch_optional(&mut *conn)
                    .await?;
                Ok(StartupLock {
                    pg: Some(conn),
                    _file: None,
                })
            }
            Backend::Sqlite => {
                let Some(path) = sqlite_path(&self.url) else {
                    return Ok(StartupLock {
                        pg: None,
                        _file: None,
                    });
                };
                let mut name = path.into_os_string();
                name.push(".demarrage");
                let file =
                    tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
                        let f = std::fs::OpenOptions::new()
                            .create(true)
                            .truncate(false)
                            .write(true)
                            .open(&name)?;
                        f.lock()?;
                        Ok(f)
                    })
                    .await
                    .map_err(|e| Error::Data(format!("verrou de démarrage : {e}")))?
                    .map_err(Error::Folder)?;
                Ok(StartupLock {
                    pg: None,
                    _file: Some(file),
                })
            }
        }
    }

    /// Applies the migrations not yet applied, all in one transaction. Several
    /// servers starting together on PostgreSQL serialise on an advisory lock.
    pub async fn migrate(&self, now: i64) -> Result<Vec<i64>, Error> {
        let mut tx = self.begin_sqlx().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7271) AS locked")
                .fetch_optional(&mut *tx.inner)
                .await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS relais_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )",
        )
        .execute(&mut *tx.inner)
        .await?;
        let rows = sqlx::query("SELECT version FROM relais_migrations")
            .fetch_all(&mut *tx.inner)
            .await?;
        let applied: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get::<i64, _>("version"))
            .collect::<Result<_, _>>()?;
        let mut done = Vec::new();
        for m in MIGRATIONS {
            if applied.contains(&m.version) {
                continue;
            }
            let sql = match self.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            sqlx::raw_sql(sql).execute(&mut *tx.inner).await?;
            sqlx::query(
                "INSERT INTO relais_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(now)
            .execute(&mut *tx.inner)
            .await?;
            done.push(m.version);
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Tables and their columns, sorted: used to prove both schemas are the same.
    pub async fn schema(&self) -> Result<Vec<(String, Vec<String>)>, Error> {
        let rows = match self.backend {
            Backend::Sqlite => {
                sqlx::query(
                    "SELECT m.name AS table_name, p.name AS column_name
                     FROM sqlite_master m JOIN pragma_table_info(m.name) p
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
                     ORDER BY m.name, p.name",
                )
                .fetch_all(&self.pool)
                .await?
            }
            Backend::Postgres => {
                sqlx::query(
                    "SELECT CAST(table_name AS TEXT) AS table_name, CAST(column_name AS TEXT) AS column_name
                     FROM information_schema.columns
                     WHERE table_schema = current_schema()
                     ORDER BY table_name, column_name",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for row in rows {
            let table: String = row.try_get("table_name")?;
            let column: String = row.try_get("column_name")?;
            match out.last_mut() {
                Some((t, cols)) if *t == table => cols.push(column),
                _ => out.push((table, vec![column])),
            }
        }
        Ok(out)
    }
}
