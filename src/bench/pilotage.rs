//! `relais bench pilotage`: the steering dashboards on a national-sized database
//! (1,000,000 activities, 200,000 mandates, 1,000,000 pass, 50,000 places by
//! default): the national dashboard and a département's (the gathering, then the
//! page through the router), the public page, and the daily open-data job.

use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::db::Exec as _;
use crate::pilotage::Territoire;

#[derive(Debug, Clone, clap::Args)]
pub struct PilotageBenchArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub activites: usize,
    #[arg(long, default_value_t = 200_000)]
    pub mandats: usize,
    #[arg(long, default_value_t = 1_000_000)]
    pub pass: i64,
    #[arg(long, default_value_t = 50_000)]
    pub lieux: usize,
    /// Measured requests per measure.
    #[arg(long, default_value_t = 30)]
    pub requests: usize,
}

fn line(name: &str, mut d: Vec<Duration>) -> String {
    d.sort();
    format!(
        "{name:<56} n={:>4}  p50 {:>8.1} ms  p99 {:>8.1} ms",
        d.len(),
        crate::bench::percentile(&d, 0.5).as_secs_f64() * 1e3,
        crate::bench::percentile(&d, 0.99).as_secs_f64() * 1e3
    )
}

/// `n` active mandates over structures spread on 100 départements (bulk).
async fn mandates(db: &Db, aidant: i64, n: usize, now: i64) -> anyhow::Result<()> {
    let t = crate::territoires::get();
    let mut communes: Vec<String> = Vec::new();
    for c in t.communes() {
        if !communes
            .iter()
            .any(|x| crate::pilotage::departement_of(x) == c.departement)
        {
            communes.push(c.code.clone());
        }
        if communes.len() == 100 {
            break;
        }
    }
    let mut tx = db.begin().await?;
    let mut structures = Vec::new();
    for (i, code) in communes.iter().enumerate() {
        let id: i64 = tx
            .fetch_one(
                "INSERT INTO structures (name, siret, address, commune_insee, kind, created_at)
                 VALUES ($1, $2, '', $3, 'mairie', $4) RETURNING id",
                crate::args![
                    format!("Structure de pilotage {i}"),
                    format!("9{:08}{:05}", now % 100_000_000, i),
                    code,
                    now
                ],
            )
            .await?
            .get("id")?;
        tx.execute(
            "INSERT INTO memberships (account_id, structure_id, role, created_at)
             VALUES ($1, $2, 'aidant', $3)",
            crate::args![aidant, id, now],
        )
        .await?;
        structures.push(id);
    }
    tx.commit().await?;
    // Usagers, mandates and autorisations in bulk, by batches, with explicit ids.
    let max = |sql: &'static str| {
        let db = db.clone();
        async move { db.fetch_one(sql, &[]).await?.int("m") }
    };
    let first_usager = max("SELECT COALESCE(MAX(id), 0) AS m FROM usagers").await? + 1;
    let first_mandat = max("SELECT COALESCE(MAX(id), 0) AS m FROM mandats").await? + 1;
    let expires = now + 300 * 86_400;
    let mut m = 0;
    while m < n {
        let batch = (n - m).min(20_000);
        let mut usagers = Vec::with_capacity(batch);
        let mut rows = Vec::with_capacity(batch);
        for k in m..m + batch {
            let i = i64::try_from(k).unwrap_or(0);
            let sid = structures.get(k % structures.len()).copied().unwrap_or(0);
            usagers.push(serde_json::json!([
                first_usager + i,
                crate::crypto::sha256_hex(&format!("pilotage-{now}-{k}"))
            ]));
            rows.push(serde_json::json!([
                first_mandat + i,
                sid,
                first_usager + i,
                aidant,
                now,
                expires
            ]));
        }
        let usagers = serde_json::Value::Array(usagers).to_string();
        let rows = serde_json::Value::Array(rows).to_string();
        crate::bench::activites::bulk(
            db,
            "INSERT INTO usagers (id, sub_hash, given_name, family_name, birthdate, gender,
                 birthcountry, search_key, created_at, updated_at)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), 'Jeanne',
                    'PILOTAGE', '1950-01-01', 'female', '99100', 'jeanne pilotage', 0, 0
             FROM json_each($1)",
            "INSERT INTO usagers (id, sub_hash, given_name, family_name, birthdate, gender,
                 birthcountry, search_key, created_at, updated_at)
             SELECT (v->>0)::bigint, v->>1, 'Jeanne', 'PILOTAGE', '1950-01-01', 'female',
                    '99100', 'jeanne pilotage', 0, 0
             FROM jsonb_array_elements($1::text::jsonb) v",
            usagers,
        )
        .await?;
        crate::bench::activites::bulk(
            db,
            "INSERT INTO mandats (id, structure_id, usager_id, aidant_id, duration_days, is_remote,
                 template_version, created_at, expires_at)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
                    json_extract(value, '$[2]'), json_extract(value, '$[3]'), 365, 0, '2026-11',
                    json_extract(value, '$[4]'), json_extract(value, '$[5]')
             FROM json_each($1)",
            "INSERT INTO mandats (id, structure_id, usager_id, aidant_id, duration_days, is_remote,
                 template_version, created_at, expires_at)
             SELECT (v->>0)::bigint, (v->>1)::bigint, (v->>2)::bigint, (v->>3)::bigint, 365, 0,
                    '2026-11', (v->>4)::bigint, (v->>5)::bigint
             FROM jsonb_array_elements($1::text::jsonb) v",
            rows.clone(),
        )
        .await?;
        crate::bench::activites::bulk(
            db,
            "INSERT INTO autorisations (mandat_id, structure_id, usager_id, demarche, created_at,
                 expires_at)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
                    json_extract(value, '$[2]'), 'social', json_extract(value, '$[4]'),
                    json_extract(value, '$[5]')
             FROM json_each($1)",
            "INSERT INTO autorisations (mandat_id, structure_id, usager_id, demarche, created_at,
                 expires_at)
             SELECT (v->>0)::bigint, (v->>1)::bigint, (v->>2)::bigint, 'social',
                    (v->>4)::bigint, (v->>5)::bigint
             FROM jsonb_array_elements($1::text::jsonb) v",
            rows,
        )
        .await?;
        m += batch;
    }
    Ok(())
}

pub async fn run(args: &PilotageBenchArgs, database_url: Option<String>) -> anyhow::Result<()> {
    let clock = std::sync::Arc::new(SystemClock);
    let now = clock.now();
    let dir = std::env::temp_dir().join(format!("relais-bench-pilotage-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url =
        database_url.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let db = Db::connect(&url, crate::config::DEFAULT_SECRET).await?;
    crate::migrate(&db, now).await?;
    let kind = if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    println!("Pilotage sur {kind}");
    let (sid, me) = crate::bench::structure_and_member(
        &db,
        now,
        6_000_000,
        "pilotage",
        crate::domain::Role::Mediateur,
    )
    .await?;

    let t = Instant::now();
    crate::bench::activites::populate(&db, sid, args.activites, now).await?;
    println!(
        "{} activités en {:.1} s",
        args.activites,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    mandates(&db, me, args.mandats, now).await?;
    println!(
        "{} mandats en {:.1} s",
        args.mandats,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let fid =
        crate::pass::create_financeur(&db, "Financeur de pilotage", "departement", "", me, now)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    for _ in 0..5 {
        crate::bench::pass::paid_order(&db, fid, me, args.pass / 5, now).await?;
    }
    println!("{} pass en {:.1} s", args.pass, t.elapsed().as_secs_f64());
    let t = Instant::now();
    crate::lieux::import(
        &db,
        crate::bench::lieux::places(args.lieux),
        "banc",
        false,
        now,
    )
    .await?;
    println!("{} lieux en {:.1} s", args.lieux, t.elapsed().as_secs_f64());
    db.run_script("ANALYZE").await?;

    let year = crate::activites::today(now) / 10_000;
    let mut report = Vec::new();
    for (name, territoire) in [
        ("tableau national (calcul)", Territoire::national()),
        (
            "tableau d'un département (calcul)",
            Territoire::departement("01").unwrap_or_else(Territoire::national),
        ),
    ] {
        crate::pilotage::tableau::compute(&db, &territoire, year, now).await?;
        let mut d = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            let t = Instant::now();
            crate::pilotage::tableau::compute(&db, &territoire, year, now).await?;
            d.push(t.elapsed());
        }
        report.push(line(name, d));
    }

    // Through the router: a national account's page, a département's, the public page.
    let (_state, router) = crate::bench::in_process_app(&db, &url, clock.clone()).await?;
    let email = format!("banc-pilotage-{now}@exemple.fr");
    let national = crate::pilotage::add_account(
        &db,
        &crate::domain::Email::parse(&email).map_err(|e| anyhow::anyhow!(e))?,
        "Banc de pilotage",
        &Territoire::national(),
        me,
        now,
    )
    .await?
    .map_err(|e| anyhow::anyhow!(e))?;
    drop(national);
    let account: i64 = db
        .fetch_one(
            "SELECT id FROM accounts WHERE email = $1",
            crate::args![&email],
        )
        .await?
        .get("id")?;
    let session = crate::sessions::create(&db, account, now).await?;
    let cookie = format!("{}={session}", crate::sessions::COOKIE);
    for (name, path) in [
        ("page /pilotage nationale", "/pilotage".to_owned()),
        (
            "page /pilotage d'un département",
            "/pilotage?departement=01".to_owned(),
        ),
        ("page publique /chiffres", "/chiffres".to_owned()),
    ] {
        let (d, size) =
            crate::bench::measure_get(&router, Some(&cookie), &path, args.requests).await?;
        report.push(format!("{}  ({size} octets)", line(name, d)));
    }

    let t = Instant::now();
    let r = crate::pilotage::donnees::publish(&db, now).await?;
    report.push(format!(
        "tâche des données ouvertes : {} en {:.1} s",
        r.summary(),
        t.elapsed().as_secs_f64()
    ));
    println!();
    for l in report {
        println!("{l}");
    }
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
