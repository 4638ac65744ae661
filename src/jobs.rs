//! Background jobs in the database (`jobs` table), so that with several app servers
//! each due job runs once: a server claims a job with one atomic `UPDATE` (a lease of
//! 10 minutes), runs it, then schedules the next run. Jobs are idempotent: a job
//! whose server died mid-run is simply run again when its lease ends.

use crate::db::Db;

/// How long a claimed job is leased to the server running it.
const LEASE: i64 = 600;

/// Claims `name` if it is due; returns true when this server must run it now.
pub async fn claim(db: &Db, name: &str, now: i64) -> Result<bool, crate::db::Error> {
    db.execute(
        "INSERT INTO jobs (name, run_after) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        crate::args![name, now],
    )
    .await?;
    let done = db
        .execute(
            "UPDATE jobs SET locked_until = $2
         WHERE name = $1 AND run_after <= $3 AND (locked_until IS NULL OR locked_until < $3)",
            crate::args![name, now + LEASE, now],
        )
        .await?;
    Ok(done == 1)
}

/// Records the run and schedules the next one.
pub async fn finish(
    db: &Db,
    name: &str,
    now: i64,
    next: i64,
    result: &str,
) -> Result<(), crate::db::Error> {
    db.execute("UPDATE jobs SET locked_until = NULL, last_run_at = $2, run_after = $3, last_result = $4 WHERE name = $1", crate::args![name, now, next, result])
    .await?;
    Ok(())
}

/// The last result of a job, for the administrators and the tests.
pub async fn last_result(db: &Db, name: &str) -> Result<Option<String>, crate::db::Error> {
    Ok(
        match db
            .fetch_optional(
                "SELECT last_result FROM jobs WHERE name = $1",
                crate::args![name],
            )
            .await?
        {
            Some(r) => r.get("last_result")?,
            None => None,
        },
    )
}
