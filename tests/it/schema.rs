//! Both backends carry the same migrations and end with the same tables and columns.

use relais::db::{Backend, MIGRATIONS};

#[test]
fn migration_folders_have_the_same_versions() {
    let list = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let sqlite = list("migrations/sqlite");
    let postgres = list("migrations/postgres");
    assert_eq!(
        sqlite, postgres,
        "same files, same numbers, on both backends"
    );
    assert_eq!(
        sqlite.len(),
        MIGRATIONS.len(),
        "every migration file is embedded"
    );
    for (file, m) in sqlite.iter().zip(MIGRATIONS) {
        assert!(
            file.starts_with(&format!("{:04}_", m.version)),
            "{file} ↔ version {}",
            m.version
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_schemas_have_the_same_tables_and_columns() {
    let backends = crate::common::backends();
    let mut sqlite = crate::common::fresh_db(Backend::Sqlite)
        .await
        .schema()
        .await
        .unwrap();
    assert!(sqlite.iter().any(|(t, _)| t == "accounts"));
    // The name-search index is a table on SQLite (FTS5 and its shadow tables), an
    // index on PostgreSQL (pg_trgm): migration 0012.
    assert!(sqlite.iter().any(|(t, _)| t == "usager_search"));
    sqlite.retain(|(t, _)| !t.starts_with("usager_search"));
    // The resources' search: an FTS5 table on SQLite, a tsvector column with a GIN
    // index on PostgreSQL (migration 0030).
    assert!(sqlite.iter().any(|(t, _)| t == "ressources_recherche"));
    sqlite.retain(|(t, _)| !t.starts_with("ressources_recherche"));
    if backends.contains(&Backend::Postgres) {
        let db = crate::common::fresh_db(Backend::Postgres).await;
        // The database's owner may add pg_trgm (a « trusted » extension): the index
        // is there.
        let index = db
            .fetch_optional(
                "SELECT indexname FROM pg_indexes WHERE indexname = 'usager_structures_trigrams'",
                &[],
            )
            .await
            .unwrap();
        assert!(index.is_some(), "trigram index of the name search");
        let mut pg = db.schema().await.unwrap();
        for (t, columns) in &mut pg {
            if t == "ressources" {
                assert!(columns.iter().any(|c| c == "recherche"));
                columns.retain(|c| c != "recherche" && c != "recherche_titre");
            }
        }
        assert_eq!(sqlite, pg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent() {
    for backend in crate::common::backends() {
        let db = crate::common::fresh_db(backend).await;
        assert!(
            db.migrate(0).await.unwrap().is_empty(),
            "nothing applied twice"
        );
    }
}

/// The hot-path executor (native on SQLite, sqlx on PostgreSQL) binds `$n` by its
/// number wherever it first appears, types NULLs, commits, and rolls back what is
/// dropped uncommitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_path_executor_behaves_the_same_on_both_backends() {
    use relais::args;
    use relais::db::exec::Exec;
    for backend in crate::common::backends() {
        let db = crate::common::fresh_db(backend).await;
        let mut tx = db.begin().await.unwrap();
        let n = tx
            .execute(
                "INSERT INTO jobs (name, run_after, locked_until) VALUES ($1, $2, $3)",
                args!["essai-exec", 42_i64, None::<i64>],
            )
            .await
            .unwrap();
        assert_eq!(n, 1, "{backend:?}");
        tx.commit().await.unwrap();
        // `$2` before `$1` in the text.
        let row = db
            .conn()
            .await
            .unwrap()
            .fetch_optional(
                "SELECT name, run_after, locked_until, $2 AS echo FROM jobs WHERE name = $1",
                args!["essai-exec", "écho"],
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.text("name").unwrap(), "essai-exec");
        assert_eq!(row.int("run_after").unwrap(), 42);
        assert_eq!(row.opt_int("locked_until").unwrap(), None);
        assert_eq!(row.text("echo").unwrap(), "écho");
        assert!(row.int("name").is_err(), "a text column is not an integer");
        assert!(row.text("absente").is_err());
        // Dropped without commit: nothing written.
        {
            let mut tx = db.begin().await.unwrap();
            tx.execute(
                "UPDATE jobs SET run_after = $1 WHERE name = $2",
                args![7_i64, "essai-exec"],
            )
            .await
            .unwrap();
        }
        let again = db
            .execute(
                "UPDATE jobs SET locked_until = $1 WHERE name = $2 AND run_after = $3",
                args![Some(9_i64), "essai-exec", 42_i64],
            )
            .await
            .unwrap();
        assert_eq!(again, 1, "{backend:?}: the dropped update was rolled back");
        let all = db
            .conn()
            .await
            .unwrap()
            .fetch_all(
                "SELECT name, locked_until FROM jobs WHERE name = $1",
                args!["essai-exec"],
            )
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].opt_int("locked_until").unwrap(), Some(9));
    }
}

/// PostgreSQL: connections the server cut (restart, failover, an administrator's
/// `pg_terminate_backend`) are dropped and replaced; a statement that met one fails
/// once, the next ones run on new connections. An uncommitted transaction holds no
/// lock once dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_postgresql_connections_are_replaced() {
    use relais::args;
    use relais::db::exec::Exec;
    for backend in crate::common::backends() {
        if backend != relais::db::Backend::Postgres {
            continue;
        }
        let db = crate::common::fresh_db(backend).await;
        // Several connections in the pool, all idle.
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(db.conn().await.unwrap());
        }
        drop(held);
        let name = db
            .fetch_one("SELECT current_database() AS name", &[])
            .await
            .unwrap()
            .text("name")
            .unwrap();
        // From the administration pool of the same database: every connection of
        // the statement pool is cut.
        let cut = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        );
        let mut last = None;
        for _ in 0..3 {
            db.run_script(&cut).await.unwrap();
            let mut failures = 0;
            for _ in 0..10 {
                match db.fetch_one("SELECT 1 AS ok", &[]).await {
                    Ok(r) => last = Some(r.int("ok").unwrap()),
                    Err(_) => failures += 1,
                }
            }
            assert!(failures <= 4, "{failures} statements failed after the cut");
        }
        assert_eq!(last, Some(1));
        // A transaction dropped uncommitted releases its locks: the same row is
        // written right after by another connection.
        {
            let mut tx = db.begin().await.unwrap();
            tx.execute(
                "INSERT INTO jobs (name, run_after, locked_until) VALUES ($1, 1, NULL)",
                args!["verrou"],
            )
            .await
            .unwrap();
        }
        let written = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            db.execute(
                "INSERT INTO jobs (name, run_after, locked_until) VALUES ($1, 2, NULL)",
                args!["verrou"],
            ),
        )
        .await
        .expect("no lock left behind")
        .unwrap();
        assert_eq!(written, 1);
    }
}

/// PostgreSQL: an operator may set `synchronous_commit = off` for speed; a
/// transaction that writes the journal still commits durably, the others follow
/// the server's setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journaled_transactions_commit_durably_whatever_the_server_default() {
    use relais::db::exec::Exec;
    for backend in crate::common::backends() {
        if backend != relais::db::Backend::Postgres {
            continue;
        }
        let db = crate::common::fresh_db(backend).await;
        let name = db
            .fetch_one("SELECT current_database() AS name", &[])
            .await
            .unwrap()
            .text("name")
            .unwrap();
        db.run_script(&format!(
            "ALTER DATABASE {name} SET synchronous_commit = off"
        ))
        .await
        .unwrap();
        // New connections take the database's default.
        let db = relais::db::Db::connect(db.url(), crate::common::TEST_SECRET)
            .await
            .unwrap();
        let setting = |r: relais::db::Rec| r.text("synchronous_commit").unwrap();
        let mut plain = db.begin().await.unwrap();
        let s = plain
            .fetch_one("SHOW synchronous_commit", &[])
            .await
            .unwrap();
        assert_eq!(setting(s), "off", "the server's default elsewhere");
        drop(plain);
        let mut tx = db.begin().await.unwrap();
        relais::journal::append(
            &mut tx,
            &relais::journal::NewEntry::new(0, relais::journal::Action::ConnexionAidant),
            crate::common::START,
        )
        .await
        .unwrap();
        // The setting travels with `COMMIT` (one round trip): `SET LOCAL
        // synchronous_commit = on; COMMIT`.
        assert!(tx.commits_durably(), "a journaled transaction is durable");
        tx.commit().await.unwrap();
        // The setting was local to that transaction: the connection, given back
        // to the pool, follows the server's default again.
        let mut next = db.begin().await.unwrap();
        let s = next
            .fetch_one("SHOW synchronous_commit", &[])
            .await
            .unwrap();
        assert_eq!(setting(s), "off", "nothing leaks to the next transaction");
        drop(next);
        assert!(
            relais::journal::verify(&db)
                .await
                .unwrap()
                .first_broken
                .is_none()
        );
    }
}

/// PostgreSQL: a statement selecting `pg_commit_without_waiting!()` (a sign-in
/// request, the usager chosen for it) commits without waiting for the disk, and
/// only that statement: the connection's next statement is durable again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_without_waiting_is_that_statements_only() {
    use relais::db::exec::Exec;
    for backend in crate::common::backends() {
        if backend != relais::db::Backend::Postgres {
            continue;
        }
        let db = crate::common::fresh_db(backend).await;
        let mut conn = db.conn().await.unwrap();
        let during = conn
            .fetch_one(
                concat!(
                    "SELECT ",
                    relais::pg_commit_without_waiting!(),
                    ", current_setting('synchronous_commit') AS pendant"
                ),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(during.text("pendant").unwrap(), "off");
        let after = conn
            .fetch_one("SHOW synchronous_commit", &[])
            .await
            .unwrap();
        assert_eq!(after.text("synchronous_commit").unwrap(), "on");
    }
}

/// Servers starting together on an empty database, then on the filled one: none
/// fails, the migrations, the first keys and the demonstration are made once
/// (issue 19: the second server used to exit with « une structure avec ce SIRET
/// existe déjà »).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_starting_together_never_fail() {
    for backend in crate::common::backends() {
        let url = crate::common::empty_db_url(backend).await;
        let config = relais::config::Config {
            database_url: url.clone(),
            ..crate::common::test_config()
        };
        for round in ["vide", "remplie"] {
            let mut servers = Vec::new();
            for _ in 0..4 {
                let (url, config) = (url.clone(), config.clone());
                servers.push(tokio::spawn(async move {
                    let db = relais::db::Db::connect(&url, crate::common::TEST_SECRET)
                        .await
                        .unwrap();
                    let started = relais::start(&db, &config, crate::common::START).await;
                    db.close().await;
                    started
                        .map(|s| s.demo.is_some())
                        .map_err(|e| format!("{e:#}"))
                }));
            }
            let mut demos = 0;
            for s in servers {
                match s.await.unwrap() {
                    Ok(demo) => demos += usize::from(demo),
                    Err(e) => {
                        panic!("{backend:?}, base {round} : un serveur n'a pas démarré : {e}")
                    }
                }
            }
            assert_eq!(
                demos,
                usize::from(round == "vide"),
                "{backend:?}, base {round} : la démonstration créée une fois, par le premier"
            );
        }
        let db = relais::db::Db::connect(&url, crate::common::TEST_SECRET)
            .await
            .unwrap();
        let n = |sql: &'static str| {
            let db = db.clone();
            async move {
                db.fetch_one(sql, &[])
                    .await
                    .unwrap()
                    .get::<i64>("n")
                    .unwrap()
            }
        };
        assert_eq!(n("SELECT COUNT(*) AS n FROM structures").await, 1);
        assert_eq!(
            n("SELECT COUNT(*) AS n FROM relais_migrations").await,
            i64::try_from(MIGRATIONS.len()).unwrap()
        );
        assert_eq!(
            n("SELECT COUNT(*) AS n FROM idp_keys WHERE status = 'current'").await,
            1,
            "one signing key, not one per server"
        );
        db.close().await;
    }
}
