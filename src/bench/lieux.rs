//! `relais bench lieux`: the places directory at national scale. Generates places
//! (by default 50,000: 60 % around 30 cities, the rest spread over mainland France,
//! random vocabularies), imports them, then measures:
//!
//! - the search within 10 km with two filters (`lieux::search`), centred near a city;
//! - the public result page through the HTTP router (search + 20 records + HTML), and
//!   its weight;
//! - a place's page;
//! - hostile files, first: 30 MB of empty JSON objects, a million bad CSV lines,
//!   80,000 card lines half duplicated — time and the process's peak memory;
//! - the wait of a sign-in's first write while 50,000 places are imported again.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use rand::{Rng, SeedableRng};
use tower::ServiceExt;

use crate::bench::percentile;
use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::lieux::schema::Schema;
use crate::lieux::{Read, Record, search};

#[derive(Debug, Clone, clap::Args)]
pub struct LieuxBenchArgs {
    /// Places generated and imported.
    #[arg(long, default_value_t = 50_000)]
    pub lieux: usize,
    /// Measured searches (and pages).
    #[arg(long, default_value_t = 2_000)]
    pub requests: usize,
}

/// (commune, postcode, latitude, longitude) of 30 cities.
const CITIES: [(&str, &str, f64, f64); 30] = [
    ("Paris", "75001", 48.8566, 2.3522),
    ("Marseille", "13001", 43.2965, 5.3698),
    ("Lyon", "69001", 45.7640, 4.8357),
    ("Toulouse", "31000", 43.6047, 1.4442),
    ("Nice", "06000", 43.7102, 7.2620),
    ("Nantes", "44000", 47.2184, -1.5536),
    ("Montpellier", "34000", 43.6108, 3.8767),
    ("Strasbourg", "67000", 48.5734, 7.7521),
    ("Bordeaux", "33000", 44.8378, -0.5792),
    ("Lille", "59000", 50.6292, 3.0573),
    ("Rennes", "35000", 48.1173, -1.6778),
    ("Reims", "51100", 49.2583, 4.0317),
    ("Toulon", "83000", 43.1242, 5.9280),
    ("Saint-Étienne", "42000", 45.4397, 4.3872),
    ("Le Havre", "76600", 49.4944, 0.1079),
    ("Grenoble", "38000", 45.1885, 5.7245),
    ("Dijon", "21000", 47.3220, 5.0415),
    ("Angers", "49000", 47.4784, -0.5632),
    ("Nîmes", "30000", 43.8367, 4.3601),
    ("Clermont-Ferrand", "63000", 45.7772, 3.0870),
    ("Le Mans", "72000", 48.0061, 0.1996),
    ("Aix-en-Provence", "13100", 43.5297, 5.4474),
    ("Brest", "29200", 48.3904, -4.4861),
    ("Tours", "37000", 47.3941, 0.6848),
    ("Amiens", "80000", 49.8941, 2.2958),
    ("Limoges", "87000", 45.8336, 1.2611),
    ("Perpignan", "66000", 42.6887, 2.8948),
    ("Metz", "57000", 49.1193, 6.1757),
    ("Besançon", "25000", 47.2378, 6.0241),
    ("Auxerre", "89000", 47.7982, 3.5674),
];

fn city(rng: &mut impl Rng) -> (&'static str, &'static str, f64, f64) {
    CITIES
        .get(rng.gen_range(0..CITIES.len()))
        .copied()
        .unwrap_or(CITIES[0])
}

fn pick<'a>(rng: &mut impl Rng, list: &'a [String], max: usize) -> String {
    let n = rng.gen_range(1..=max.min(list.len()).max(1));
    let mut chosen: Vec<&'a str> = Vec::new();
    for _ in 0..n {
        if let Some(v) = list.get(rng.gen_range(0..list.len().max(1)))
            && !chosen.contains(&v.as_str())
        {
            chosen.push(v);
        }
    }
    chosen.join("|")
}

/// Generated places, valid against the standard.
pub(crate) fn places(n: usize) -> Read {
    let schema = Schema::standard();
    let vocab = |f: &str| {
        schema
            .field(f)
            .map(|f| f.vocabulary.clone())
            .unwrap_or_default()
    };
    let vocabularies: Vec<(&str, Vec<String>, usize)> = vec![
        ("services", vocab("services"), 4),
        (
            "publics_specifiquement_adresses",
            vocab("publics_specifiquement_adresses"),
            2,
        ),
        (
            "prise_en_charge_specifique",
            vocab("prise_en_charge_specifique"),
            2,
        ),
        ("frais_a_charge", vocab("frais_a_charge"), 1),
        ("modalites_acces", vocab("modalites_acces"), 3),
        (
            "modalites_accompagnement",
            vocab("modalites_accompagnement"),
            2,
        ),
        (
            "dispositif_programmes_nationaux",
            vocab("dispositif_programmes_nationaux"),
            1,
        ),
    ];
    let names = schema.names();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        let (commune, cp, lat, lon) = if rng.gen_bool(0.6) {
            let (c, cp, la, lo) = city(&mut rng);
            let r = rng.gen_range(0.0..15.0_f64) / 111.0;
            let a = rng.gen_range(0.0..std::f64::consts::TAU);
            (
                c.to_owned(),
                cp.to_owned(),
                la + r * a.sin(),
                lo + r * a.cos() * 1.4,
            )
        } else {
            (
                format!("Commune {}", i % 5000),
                format!("{:05}", 1000 + (i % 9) * 10_000 + i % 1000),
                rng.gen_range(42.6..51.0),
                rng.gen_range(-4.5..7.9),
            )
        };
        let mut values = vec![String::new(); names.len()];
        let mut set = |field: &str, v: String| {
            if let Some(k) = names.iter().position(|n| *n == field)
                && let Some(slot) = values.get_mut(k)
            {
                *slot = v;
            }
        };
        set("id", format!("banc-{i}"));
        set(
            "pivot",
            format!("{:014}", 13_000_000_000_000_u64 + i as u64),
        );
        set("nom", format!("Espace numérique {i}"));
        set("commune", commune);
        set("code_postal", cp);
        set("adresse", format!("{} rue de la République", 1 + i % 200));
        set("latitude", format!("{lat:.5}"));
        set("longitude", format!("{lon:.5}"));
        set(
            "horaires",
            "Mo-Fr 09:00-12:00,14:00-17:30; Sa 09:00-12:00".to_owned(),
        );
        set("date_maj", "2026-11-01".to_owned());
        set("telephone", format!("+3338{:07}", i % 10_000_000));
        for (field, list, max) in &vocabularies {
            let v = pick(&mut rng, list, *max);
            set(field, v);
        }
        records.push(Record {
            line: i + 2,
            values,
        });
    }
    let mut read = Read::default();
    for r in records {
        read.push(r);
    }
    read
}

fn report(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let total: Duration = d.iter().sum();
    println!(
        "  {name:<52} p50 {:.3} ms  p99 {:.3} ms  ({:.0}/s en séquence)",
        percentile(&d, 0.5).as_secs_f64() * 1e3,
        percentile(&d, 0.99).as_secs_f64() * 1e3,
        d.len() as f64 / total.as_secs_f64().max(1e-9)
    );
}

pub async fn run(args: &LieuxBenchArgs, database_url: Option<String>) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let dir = std::env::temp_dir().join(format!("relais-bench-lieux-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url =
        database_url.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let db = Db::connect(&url, crate::config::DEFAULT_SECRET).await?;
    crate::migrate(&db, now).await?;
    hostile_files(&db, now).await?;
    let read = places(args.lieux);
    let t = Instant::now();
    let imported = crate::lieux::import(&db, read, "banc", false, now).await?;
    println!(
        "Relais bench lieux — {} lieux générés, {} ({:.2} s), {}",
        args.lieux,
        imported.summary(),
        t.elapsed().as_secs_f64(),
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    anyhow::ensure!(
        imported.written,
        "import refusé : {:?}",
        imported.rejected.first()
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let filters = vec![
        (
            "services".to_owned(),
            "Aide aux démarches administratives".to_owned(),
        ),
        ("frais_a_charge".to_owned(), "Gratuit".to_owned()),
    ];
    let mut durations = Vec::with_capacity(args.requests);
    let mut found = 0_usize;
    let centres: Vec<(f64, f64)> = (0..args.requests)
        .map(|_| {
            let (_, _, la, lo) = city(&mut rng);
            (
                la + rng.gen_range(-0.05..0.05),
                lo + rng.gen_range(-0.05..0.05),
            )
        })
        .collect();
    for centre in &centres {
        let q = search::Query {
            near: Some(*centre),
            radius_km: 10.0,
            filters: filters.clone(),
            ..search::Query::default()
        };
        let t = Instant::now();
        let hits = search::search(&db, &q, now).await?;
        durations.push(t.elapsed());
        found += hits.len();
    }
    report("recherche 10 km, 2 filtres (services, gratuit)", durations);
    println!(
        "    {:.0} lieux trouvés en moyenne par recherche",
        found as f64 / args.requests.max(1) as f64
    );
    // The same through the public page (HTTP router in process, no socket).
    let config = crate::config::Config {
        database_url: url.clone(),
        ..crate::config::Config::default()
    };
    let (http, _slot) = crate::franceconnect::http::HttpClient::in_process();
    let state = crate::web::AppState::new(crate::web::Inner::build(
        db.clone(),
        config,
        crate::clock::ManualClock::new(now),
        crate::mail::Mailer::memory(),
        String::new(),
        http,
    )?);
    let (router, _) = crate::web::app(state);
    let mut durations = Vec::with_capacity(args.requests);
    let mut weight = 0_usize;
    for (lat, lon) in &centres {
        let path = format!(
            "/lieux?lat={lat:.4}&lon={lon:.4}&rayon=10&services=Aide+aux+d%C3%A9marches+administratives&frais_a_charge=Gratuit"
        );
        let t = Instant::now();
        let res = router
            .clone()
            .oneshot(Request::get(path.as_str()).body(Body::empty())?)
            .await?;
        anyhow::ensure!(res.status() == 200, "{path} : {}", res.status());
        let body = axum::body::to_bytes(res.into_body(), 1 << 22).await?;
        durations.push(t.elapsed());
        weight = weight.max(body.len());
    }
    report("page de résultats /lieux (20 lieux, HTML)", durations);
    println!(
        "    page la plus lourde : {:.1} Ko (HTML, sans compression ; feuille de style en cache)",
        weight as f64 / 1024.0
    );
    let mut durations = Vec::with_capacity(args.requests);
    for i in 0..args.requests {
        let id = 1 + (i * 7919) % args.lieux.max(1);
        let t = Instant::now();
        let res = router
            .clone()
            .oneshot(Request::get(format!("/lieux/{id}")).body(Body::empty())?)
            .await?;
        let status = res.status();
        let _ = axum::body::to_bytes(res.into_body(), 1 << 22).await?;
        anyhow::ensure!(status == 200, "/lieux/{id} : {status}");
        durations.push(t.elapsed());
    }
    report("page d'un lieu /lieux/{id}", durations);
    sign_in_during_import(&db, args.lieux, now).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The process's peak resident memory (VmHWM), in MiB; reset first by `reset`.
fn peak_mib(reset: bool) -> f64 {
    if reset {
        // Linux: writing 5 resets the peak to the current size.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Files an attacker (or a broken export) sends: the import's time and memory stay
/// bounded, and its error list too.
async fn hostile_files(db: &Db, now: i64) -> anyhow::Result<()> {
    println!("Relais bench lieux — fichiers hostiles (temps, pic de mémoire du processus)");
    let mut json = Vec::with_capacity(30 << 20);
    json.push(b'[');
    while json.len() < 30 << 20 {
        json.extend_from_slice(b"{},");
    }
    json.extend_from_slice(b"{}]");
    let base = peak_mib(true);
    let t = Instant::now();
    let read = crate::lieux::read_json(&json)?;
    println!(
        "  JSON de 30 Mo d'objets vides : {} lignes refusées, {} erreurs détaillées sur {} ; {:.2} s ; pic {:.0} Mo (fichier compris, {:.0} Mo avant)",
        read.refused,
        read.rejected.len(),
        read.rejected.total(),
        t.elapsed().as_secs_f64(),
        peak_mib(false),
        base
    );
    drop(read);
    drop(json);
    let header = Schema::standard().names().join(",");
    let mut csv = format!("{header}\n");
    for i in 0..1_000_000 {
        csv.push_str(&format!("mauvais-{i}\n"));
    }
    let base = peak_mib(true);
    let t = Instant::now();
    let read = crate::lieux::read_csv(csv.as_bytes(), crate::lieux::Encoding::Utf8)?;
    println!(
        "  CSV d'un million de lignes fausses ({:.0} Mo) : {} refusées, {} erreurs détaillées ; {:.2} s ; pic {:.0} Mo ({:.0} Mo avant)",
        csv.len() as f64 / 1_048_576.0,
        read.refused,
        read.rejected.len(),
        t.elapsed().as_secs_f64(),
        peak_mib(false),
        base
    );
    drop(read);
    drop(csv);
    let mut cards = String::from("serial,seed,step\n");
    for i in 0..80_000 {
        cards.push_str(&format!(
            "B-{},JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP,60\n",
            i % 40_000
        ));
    }
    let t = Instant::now();
    let r = crate::accounts::cards::import_csv(db, cards.as_bytes(), 0, now).await?;
    println!(
        "  cartes : 80 000 lignes dont 40 000 en double : {} erreur(s) listée(s) ; {:.2} s",
        r.as_ref().err().map_or(0, Vec::len),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// While `n` places are imported again (every one changed), a sign-in's first
/// write (its rate-limit counter) is made every 5 ms: how long does it wait?
async fn sign_in_during_import(db: &Db, n: usize, now: i64) -> anyhow::Result<()> {
    let mut read = places(n);
    let date = Schema::standard()
        .fields
        .iter()
        .position(|f| f.name == "date_maj");
    for r in &mut read.records {
        if let Some(v) = date.and_then(|i| r.values.get_mut(i)) {
            "2025-06-30".clone_into(v);
        }
    }
    let importing = {
        let db = db.clone();
        tokio::spawn(async move { crate::lieux::import(&db, read, "banc", false, now).await })
    };
    let t = Instant::now();
    let mut waits = Vec::new();
    let mut i = 0;
    while !importing.is_finished() {
        let key = format!("banc-{i}");
        let s = Instant::now();
        let attempt =
            crate::accounts::throttle::begin(db, &crate::accounts::throttle::SIGN_IN_IP, &key, now)
                .await?;
        waits.push(s.elapsed());
        drop(attempt);
        i += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report_ = importing.await??;
    let import_time = t.elapsed();
    waits.sort();
    println!(
        "  pendant un nouvel import de {} lieux ({}, {:.2} s) : {} écritures d'une connexion, attente p50 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
        n,
        report_.summary(),
        import_time.as_secs_f64(),
        waits.len(),
        percentile(&waits, 0.5).as_secs_f64() * 1e3,
        percentile(&waits, 0.99).as_secs_f64() * 1e3,
        percentile(&waits, 1.0).as_secs_f64() * 1e3
    );
    Ok(())
}
