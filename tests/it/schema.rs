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
    let sqlite = crate::common::fresh_db(Backend::Sqlite)
        .await
        .schema()
        .await
        .unwrap();
    assert!(sqlite.iter().any(|(t, _)| t == "accounts"));
    if backends.contains(&Backend::Postgres) {
        let pg = crate::common::fresh_db(Backend::Postgres)
            .await
            .schema()
            .await
            .unwrap();
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
