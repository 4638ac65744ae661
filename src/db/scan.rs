//! Long reads in order (the journal verification walks every entry): each row is
//! decoded in place by the backend's native library, without copying its text,
//! on a dedicated read-only connection. Decoding through sqlx's `Any` driver
//! would cost most of the time of such a walk.

use super::{Backend, Db, Error};

/// One row being read; its columns by position, borrowed.
pub enum Cells<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r sqlx::postgres::PgRow),
}

impl Cells<'_> {
    pub fn int(&self, i: usize) -> Result<i64, Error> {
        self.opt_int(i)?
            .ok_or_else(|| Error::Data(format!("colonne {i} : entier attendu")))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, Error> {
        match self {
            Cells::Sqlite(r) => Ok(r.get(i)?),
            Cells::Postgres(r) => Ok(sqlx::Row::try_get(*r, i)?),
        }
    }

    pub fn text(&self, i: usize) -> Result<&str, Error> {
        self.opt_text(i)?
            .ok_or_else(|| Error::Data(format!("colonne {i} : texte attendu")))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<&str>, Error> {
        match self {
            Cells::Sqlite(r) => Ok(r
                .get_ref(i)?
                .as_str_or_null()
                .map_err(rusqlite::Error::from)?),
            Cells::Postgres(r) => Ok(sqlx::Row::try_get(*r, i)?),
        }
    }
}

/// What a step of [`Db::scan`] decides.
pub enum Step {
    Next,
    Stop,
}

impl Db {
    /// Reads every row of `sql` in order and gives each to `step` with `state`,
    /// until it answers [`Step::Stop`]; returns the state. Runs on a connection of
    /// its own (on SQLite read-only, on a blocking thread), so a long walk never
    /// holds a connection of the pool nor a thread of the async runtime.
    pub async fn scan<S: Send + 'static>(
        &self,
        sql: &'static str,
        mut state: S,
        step: fn(&mut S, &Cells<'_>) -> Result<Step, Error>,
    ) -> Result<S, Error> {
        match self.backend() {
            Backend::Sqlite => {
                let path = super::sqlite_path(self.url())
                    .ok_or_else(|| Error::Data("base SQLite sans fichier".into()))?;
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open_with_flags(
                        path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    let mut stmt = conn.prepare(sql)?;
                    let mut rows = stmt.query([])?;
                    while let Some(r) = rows.next()? {
                        if let Step::Stop = step(&mut state, &Cells::Sqlite(r))? {
                            break;
                        }
                    }
                    Ok(state)
                })
                .await
                .map_err(Error::data)?
            }
            Backend::Postgres => {
                use futures_util::TryStreamExt;
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(self.url()).await?;
                {
                    let mut rows = sqlx::query(sql).fetch(&mut conn);
                    while let Some(r) = rows.try_next().await? {
                        if let Step::Stop = step(&mut state, &Cells::Postgres(&r))? {
                            break;
                        }
                    }
                }
                conn.close().await?;
                Ok(state)
            }
        }
    }
}
