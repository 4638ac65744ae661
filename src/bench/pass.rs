//! `relais bench pass`: the pass numérique's hot paths, in process on a real
//! database.
//!
//! 1. An order of `--pass` pass (carnets of 10) generated with their codes, then
//!    every carnet's PDF: the time of both.
//! 2. Redemptions through the HTTP router (form post → checks → transaction →
//!    counters → journal), `--concurrence` at a time over `--lieux` places:
//!    throughput and latency.
//! 3. A funder with `--tableau` pass over several orders, two in five used: the
//!    dashboard's figures and the funder's page.
//!
//! Bounded in work; no network.

use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::clock::{Clock, SystemClock};
use crate::db::{Db, Exec as _};

#[derive(Debug, Clone, clap::Args)]
pub struct PassBenchArgs {
    /// Pass generated with their carnets' PDF.
    #[arg(long, default_value_t = 100_000)]
    pub pass: i64,
    /// Measured redemptions.
    #[arg(long, default_value_t = 20_000)]
    pub utilisations: usize,
    /// Redemptions in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrence: usize,
    /// Qualified places the redemptions are spread over, each with its mediator
    /// signed in. By default one per redemption in flight: the national
    /// situation, where simultaneous redemptions happen at different places. 1
    /// puts them all at one place, the worst case: a place's redemptions are
    /// serial on its journal chain, each waiting for the previous one's commit.
    #[arg(long)]
    pub lieux: Option<usize>,
    /// Pass of the funder whose dashboard is measured.
    #[arg(long, default_value_t = 1_000_000)]
    pub tableau: i64,
    /// Measured dashboard readings.
    #[arg(long, default_value_t = 100)]
    pub lectures: usize,
}

fn line(name: &str, mut d: Vec<Duration>) -> String {
    d.sort();
    format!(
        "{name:<52} n={:>6}  p50 {:>8.3} ms  p99 {:>8.3} ms",
        d.len(),
        crate::bench::percentile(&d, 0.5).as_secs_f64() * 1e3,
        crate::bench::percentile(&d, 0.99).as_secs_f64() * 1e3
    )
}

/// An order of `pass` pass (carnets of 10) in the Yonne, valid a year, paid.
pub(crate) async fn paid_order(
    db: &Db,
    fid: i64,
    by: i64,
    pass: i64,
    now: i64,
) -> anyhow::Result<i64> {
    let today = crate::activites::today(now);
    let o = crate::pass::Order {
        carnets: (pass / 10).max(1),
        pass_par_carnet: 10,
        territoire_type: "departements".into(),
        territoire: vec!["89".into()],
        debut: today,
        fin: crate::pass::add_days(today, 365),
        publics: Vec::new(),
        services: Vec::new(),
    };
    let id = crate::pass::order(db, fid, &o, by, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::pass::record_payment(db, id, "BANC", by, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(id)
}

pub async fn run(args: &PassBenchArgs, database_url: Option<String>) -> anyhow::Result<()> {
    let clock = std::sync::Arc::new(SystemClock);
    let now = clock.now();
    let dir = std::env::temp_dir().join(format!("relais-bench-pass-{}", std::process::id()));
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
    println!("Pass numérique sur {kind}");
    let (sid, me) = crate::bench::structure_and_member(
        &db,
        now,
        5_000_000,
        "pass",
        crate::domain::Role::Mediateur,
    )
    .await?;
    let fid = crate::pass::create_financeur(&db, "Financeur de banc", "departement", "", me, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    // 1. Generation and carnets.
    let t = Instant::now();
    let cid = paid_order(&db, fid, me, args.pass, now).await?;
    let generated = t.elapsed();
    let c = crate::pass::commande(&db, cid)
        .await?
        .context("commande de banc")?;
    let t = Instant::now();
    let codes = crate::pass::carnets::codes(&db, cid, 1, c.carnets).await?;
    let bytes = tokio::task::spawn_blocking({
        let c = c.clone();
        move || crate::pass::carnets::pdf(&c, &codes, "https://relais.example.fr")
    })
    .await??;
    let printed = t.elapsed();
    let t = Instant::now();
    let mut modules = 0;
    for code in &crate::pass::carnets::codes(&db, cid, 1, c.carnets.min(1_000)).await? {
        for p in &code.codes {
            modules += crate::pdf::qr_width(&format!("https://relais.example.fr/pass/{p}"));
        }
    }
    let qr_one = t.elapsed();
    println!(
        "{} pass générés avec leurs codes : {:.2} s ; PDF des {} carnets ({:.1} Mo) : {:.2} s ; total {:.2} s",
        args.pass,
        generated.as_secs_f64(),
        c.carnets,
        bytes.len() as f64 / 1e6,
        printed.as_secs_f64(),
        (generated + printed).as_secs_f64()
    );
    println!(
        "dont codes QR : {:.1} µs par code sur un cœur ({} modules de côté)",
        qr_one.as_secs_f64() * 1e6 / (c.carnets.min(1_000) * 10) as f64,
        modules / usize::try_from(c.carnets.min(1_000) * 10).unwrap_or(1)
    );

    // 2. Redemptions through the router, spread over places as in the country
    // (`--lieux 1` puts them all on one place's journal chain: the worst case).
    let service = crate::pass::services().first().cloned().unwrap_or_default();
    let mut places = Vec::new();
    for i in 0..args.lieux.unwrap_or(args.concurrence).max(1) {
        let (structure, member) = if i == 0 {
            (sid, me)
        } else {
            crate::bench::structure_and_member(
                &db,
                now,
                5_000_000 + i64::try_from(i)? * 1_000_000,
                &format!("pass-{i}"),
                crate::domain::Role::Mediateur,
            )
            .await?
        };
        places.push(qualified_place(&db, structure, member, i, now).await?);
    }
    let (_, router) = crate::bench::in_process_app(&db, &url, clock.clone()).await?;
    // A carnet is one person's, who uses its pass one at a time: redemptions in
    // flight at once are of different carnets (the first pass of every carnet,
    // then the second…), as they are in the country.
    let all: Vec<String> = db
        .fetch_all(
            "SELECT code FROM pass WHERE commande_id = $1 ORDER BY rang, carnet_id
             LIMIT $2",
            crate::args![cid, i64::try_from(args.utilisations).unwrap_or(0)],
        )
        .await?
        .iter()
        .map(|r| r.text("code"))
        .collect::<Result<_, _>>()?;
    let queue = std::sync::Arc::new(std::sync::Mutex::new(all));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (cookie, csrf) in places.iter().cycle().take(args.concurrence.max(1)) {
        let queue = queue.clone();
        let router = router.clone();
        let (cookie, csrf, service) = (cookie.clone(), csrf.clone(), service.clone());
        tasks.push(tokio::spawn(async move {
            let mut d = Vec::new();
            loop {
                let code = match queue.lock() {
                    Ok(mut q) => q.pop(),
                    Err(_) => None,
                };
                let Some(code) = code else { break };
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs([
                        ("_csrf", csrf.as_str()),
                        ("prestation", "atelier"),
                        ("service", service.as_str()),
                    ])
                    .finish();
                let req = Request::post(format!("/pass/{code}/utiliser"))
                    .header("cookie", &cookie)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(body))?;
                let t = Instant::now();
                let res = router.clone().oneshot(req).await?;
                let status = res.status();
                let _ = axum::body::to_bytes(res.into_body(), 1 << 20).await?;
                d.push(t.elapsed());
                anyhow::ensure!(status.as_u16() == 303, "utilisation : {status}");
            }
            Ok::<_, anyhow::Error>(d)
        }));
    }
    let mut d = Vec::new();
    for t in tasks {
        d.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let n = d.len();
    println!(
        "{}  {:.0} utilisations/s ({} à la fois, {} lieu(x))",
        line("utiliser un pass (formulaire → transaction → journal)", d),
        n as f64 / elapsed.as_secs_f64(),
        args.concurrence,
        places.len()
    );
    let used = crate::pass::dashboard::figures(&db, fid).await?;
    anyhow::ensure!(
        used.first().map(|f| f.pass_utilises) == Some(i64::try_from(n).unwrap_or(0)),
        "compteurs : {used:?}"
    );

    // 3. A funder with a million pass, two in five used.
    let big = crate::pass::create_financeur(&db, "Grand financeur", "region", "", me, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = Instant::now();
    let mut left = args.tableau;
    let mut orders = 0;
    while left > 0 {
        let size = left.min(200_000);
        let id = paid_order(&db, big, me, size, now).await?;
        // Two carnets in five started (4 pass used each, one in five fully used);
        // written as the redemptions' transactions write their counters.
        let mut tx = db.begin().await?;
        tx.execute(
            "UPDATE pass_carnets SET remis_le = $2, remis_date = 20260101,
                 utilises = CASE WHEN numero % 5 = 0 THEN 10 WHEN numero % 5 = 1 THEN 4 ELSE 0 END
             WHERE commande_id = $1",
            crate::args![id, now],
        )
        .await?;
        tx.execute(
            "INSERT INTO pass_mois (commande_id, mois, departement, structure_id, remis, utilises)
             SELECT commande_id, 202600 + (numero % 12) + 1, '89', $2, COUNT(*), SUM(utilises)
             FROM pass_carnets WHERE commande_id = $1 GROUP BY commande_id, numero % 12",
            crate::args![id, sid],
        )
        .await?;
        tx.commit().await?;
        left -= size;
        orders += 1;
    }
    db.run_script("ANALYZE").await?;
    println!(
        "{} pass en {orders} commandes écrits en {:.1} s",
        args.tableau,
        t.elapsed().as_secs_f64()
    );
    let mut d = Vec::new();
    for _ in 0..args.lectures {
        let t = Instant::now();
        let f = crate::pass::dashboard::figures(&db, big).await?;
        let _ = crate::pass::dashboard::series(&db, big, 0).await?;
        d.push(t.elapsed());
        anyhow::ensure!(
            crate::pass::dashboard::total(&f).pass == args.tableau - args.tableau % 10,
            "tableau : {f:?}"
        );
    }
    println!("{}", line("tableau d'un financeur (chiffres + séries)", d));
    // The funder's page through the router.
    let agent_email = crate::domain::Email::parse(&format!("agent-{}@exemple.fr", now % 1_000_000))
        .map_err(|e| anyhow::anyhow!(e))?;
    let _ = crate::pass::add_financeur_member(&db, big, &agent_email, "Agent", me, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let agent_id: i64 = db
        .fetch_one(
            "SELECT id FROM accounts WHERE email = $1",
            crate::args![agent_email.as_str()],
        )
        .await?
        .int("id")?;
    let session = crate::sessions::create(&db, agent_id, now).await?;
    let cookie = format!("{}={session}", crate::sessions::COOKIE);
    let mut d = Vec::new();
    for _ in 0..args.lectures {
        let req = Request::get("/financeur")
            .header("cookie", &cookie)
            .body(Body::empty())?;
        let t = Instant::now();
        let res = router.clone().oneshot(req).await?;
        let status = res.status();
        let _ = axum::body::to_bytes(res.into_body(), 4 << 20).await?;
        d.push(t.elapsed());
        anyhow::ensure!(status.is_success(), "page du financeur : {status}");
    }
    println!("{}", line("page « Pass numérique » du financeur", d));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Qualifies `structure` as a pass numérique place at Auxerre (the `i`-th, for
/// its SIRET) and signs `member` in: the cookie and CSRF token of the session.
async fn qualified_place(
    db: &Db,
    structure: i64,
    member: i64,
    i: usize,
    now: i64,
) -> anyhow::Result<(String, String)> {
    let siret = (0..10)
        .map(|d| {
            format!(
                "{:013}{d}",
                7_320_000_000_000_i64 + i64::try_from(i).unwrap_or(0) * 1_000_000 + now % 1_000_000
            )
        })
        .find(|s| crate::pass::check_siret(s).is_some())
        .context("SIRET")?;
    let qid = crate::pass::apply(
        db,
        structure,
        &crate::pass::RawQualification {
            siret,
            commune: "89024".into(),
            lieu: String::new(),
            services: vec![crate::pass::services().first().cloned().unwrap_or_default()],
            reponses: crate::pass::QUESTIONS
                .iter()
                .map(|(k, _)| (*k).to_owned())
                .collect(),
            iban: "FR7630006000011234567890189".into(),
            bic: "BNPAFRPP".into(),
            titulaire: "Banc".into(),
        },
        member,
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    crate::pass::decide(db, qid, true, "", member, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (session, csrf) = crate::bench::signed_in(db, member, now).await?;
    Ok((format!("{}={session}", crate::sessions::COOKIE), csrf))
}
