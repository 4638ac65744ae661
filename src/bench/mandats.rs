//! `relais bench --mandats`: the mandate hot paths, in process on a real database.
//!
//! Prepares a structure with `--usagers` usagers (20,000 by default) holding
//! `--mandats` mandates (50,000) — written in bulk, not through the journal — then
//! measures: the usagers page (active tab, first and middle pages) and the name search
//! through the HTTP router (session read, query, template), the mandate creation
//! transaction (`mandats::create`: usager upsert, mandat, autorisations, overlap
//! revocation, signed attestation, journal), `journal::verify` over `--journal`
//! entries, the attestation PDF, and the usager's own space (a person with 10
//! mandates and 1,000 uses). Bounded in work; no network.

use crate::db::Exec as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::journal::{self, Action, NewEntry};
use crate::mandats::{self, Demarche, Duree};

#[derive(Debug, Clone, clap::Args)]
pub struct MandatsBenchArgs {
    /// Usagers of the benchmarked structure.
    #[arg(long, default_value_t = 20_000)]
    pub usagers: usize,
    /// Mandates spread over those usagers.
    #[arg(long, default_value_t = 50_000)]
    pub mandats: usize,
    /// Journal entries to verify.
    #[arg(long, default_value_t = 500_000)]
    pub journal: usize,
    /// Measured requests per page kind.
    #[arg(long, default_value_t = 300)]
    pub requests: usize,
}

const GIVEN: [&str; 12] = [
    "Jeanne",
    "Pierre",
    "Marie-Hélène",
    "Mohamed",
    "Fatou",
    "Lucas",
    "Éloïse",
    "Van An",
    "Chantal",
    "Gérard",
    "Inès",
    "Yannick",
];
const FAMILY: [&str; 16] = [
    "DUBOIS",
    "MARTIN",
    "BERNARD",
    "LEFÈVRE",
    "NGUYEN",
    "DIALLO",
    "PETIT",
    "ROUX",
    "GARNIER",
    "FAURE",
    "MERCIER",
    "BLANC",
    "GUÉRIN",
    "BOYER",
    "CHEVALIER",
    "FRANÇOIS",
];

fn pick<'a>(list: &[&'a str], i: usize) -> &'a str {
    list.get(i % list.len()).copied().unwrap_or("X")
}

fn line(name: &str, mut d: Vec<Duration>) -> String {
    d.sort();
    format!(
        "{name:<44} n={:>5}  p50 {:>8.3} ms  p99 {:>8.3} ms",
        d.len(),
        crate::bench::percentile(&d, 0.5).as_secs_f64() * 1e3,
        crate::bench::percentile(&d, 0.99).as_secs_f64() * 1e3
    )
}

pub async fn run(args: &MandatsBenchArgs, database_url: Option<String>) -> anyhow::Result<()> {
    let clock = std::sync::Arc::new(SystemClock);
    let now = clock.now();
    let dir = std::env::temp_dir().join(format!("relais-bench-mandats-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url =
        database_url.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let db = Db::connect(&url, crate::config::DEFAULT_SECRET).await?;
    crate::migrate(&db, now).await?;

    // The structure, an aidant with a session.
    let n = now % 1_000_000;
    let (sid, aidant) = crate::bench::structure_and_aidant(&db, now, 3_000_000, "mandats").await?;
    let session = crate::sessions::create(&db, aidant, now).await?;

    // Bulk population.
    let started = Instant::now();
    let mut tx = db.begin().await?;
    let mut usager_ids = Vec::with_capacity(args.usagers);
    for i in 0..args.usagers {
        let given = pick(&GIVEN, i);
        let family = format!("{} {}", pick(&FAMILY, i / GIVEN.len()), i);
        let key = mandats::search_key(&format!("{given} {family}"));
        let id: i64 = tx.fetch_one("INSERT INTO usagers (sub_hash, given_name, family_name, preferred_username, birthdate, gender,
                     birthplace, birthcountry, email, search_key, created_at, updated_at)
                 VALUES ($1, $2, $3, '', '1960-01-01', 'female', '89024', '99100', '', $4, $5, $5) RETURNING id", crate::args![crate::crypto::sha256_hex(&format!("banc-{n}-{i}")), given, &family, &key, now])
            .await?.get("id")?;
        usager_ids.push((id, family, given, key));
    }
    for m in 0..args.mandats {
        let Some((uid, ..)) = usager_ids.get(m % usager_ids.len().max(1)) else {
            break;
        };
        // A third expired, a tenth revoked, the rest active.
        let expires = if m % 3 == 0 {
            now - 86_400
        } else {
            now + 180 * 86_400
        };
        let mid: i64 = tx.fetch_one("INSERT INTO mandats (structure_id, usager_id, aidant_id, duration_days, is_remote, template_version, created_at, expires_at)
                 VALUES ($1, $2, $3, 182, 0, $4, $5, $6) RETURNING id", crate::args![sid, uid, aidant, mandats::TEMPLATE_VERSION, now - 200 * 86_400, expires])
            .await?.get("id")?;
        let demarche = Demarche::ALL
            .get(m % Demarche::ALL.len())
            .copied()
            .unwrap_or(Demarche::Papiers);
        tx.execute("INSERT INTO autorisations (mandat_id, structure_id, usager_id, demarche, created_at, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)", crate::args![mid, sid, uid, demarche.key(), now - 200 * 86_400, expires, if m % 10 == 1 { Some(now - 86_400) } else { None }])
        .await?;
    }
    tx.execute("INSERT INTO usager_structures (structure_id, usager_id, sort_name, search_key, unrevoked_until, last_mandat_at)
         SELECT $1, u.id, LOWER(u.family_name) || ' ' || LOWER(u.given_name), u.search_key,
                (SELECT MAX(a.expires_at) FROM autorisations a WHERE a.usager_id = u.id AND a.structure_id = $1 AND a.revoked_at IS NULL),
                $2
         FROM usagers u WHERE EXISTS (SELECT 1 FROM autorisations a WHERE a.usager_id = u.id AND a.structure_id = $1)", crate::args![sid, now])
    .await?;
    tx.commit().await?;
    // After a bulk load, statistics as a database in service has them (autovacuum
    // would compute them later, in the middle of the measures).
    db.run_script("ANALYZE").await?;
    println!(
        "Population : {} usagers, {} mandats en {:.1} s ({url_kind})",
        args.usagers,
        args.mandats,
        started.elapsed().as_secs_f64(),
        url_kind = if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );

    // The application, in process.
    let (state, router) = crate::bench::in_process_app(&db, &url, clock.clone()).await?;
    let cookie = format!("{}={session}", crate::sessions::COOKIE);
    let get_as = |path: String, cookie: String| {
        let router = router.clone();
        async move {
            let req = Request::get(path.as_str())
                .header("cookie", cookie)
                .body(Body::empty())?;
            let t = Instant::now();
            let res = router.oneshot(req).await?;
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 4 << 20).await?;
            let d = t.elapsed();
            anyhow::ensure!(status.is_success(), "{path} : {status}");
            Ok::<(Duration, usize), anyhow::Error>((d, body.len()))
        }
    };
    let get = |path: String| get_as(path, cookie.clone());
    // A cursor in the middle of the list: the usager at half the structure's rows.
    let middle: i64 = {
        use crate::db::exec::Exec as _;
        db.conn()
            .await?
            .fetch_optional(
                "SELECT usager_id FROM usager_structures WHERE structure_id = $1
                 ORDER BY sort_name, usager_id LIMIT 1 OFFSET $2",
                crate::args![sid, i64::try_from(args.usagers / 2).unwrap_or(0)],
            )
            .await?
            .map(|r| r.int("usager_id"))
            .transpose()?
            .unwrap_or(0)
    };
    let mut report = Vec::new();
    for (name, path) in [
        (
            "accueil de l'aidant (derniers mandats, fin proche)",
            "/espace".to_owned(),
        ),
        (
            "page usagers, onglet actifs, page 1",
            "/usagers?etat=actifs".to_owned(),
        ),
        (
            "page usagers, onglet actifs, au milieu (curseur)",
            format!("/usagers?etat=actifs&apres={middle}"),
        ),
        (
            "page usagers, onglet expirés",
            "/usagers?etat=expires".to_owned(),
        ),
        (
            "recherche par nom « dubois »",
            "/usagers?etat=actifs&q=dubois".to_owned(),
        ),
        (
            "recherche par nom « Éloïse guérin »",
            "/usagers?etat=actifs&q=%C3%89lo%C3%AFse%20gu%C3%A9rin".to_owned(),
        ),
        (
            // Sixteen family names share the bench's usagers (one in sixteen is a
            // Dubois): the two searches above match thousands of rows. Looking for
            // one person matches a handful, as a rare name does.
            "recherche d'une personne « Guérin 144 »",
            "/usagers?etat=actifs&q=Gu%C3%A9rin%20144".to_owned(),
        ),
    ] {
        for _ in 0..20 {
            get(path.clone()).await?;
        }
        let mut d = Vec::with_capacity(args.requests);
        let mut size = 0;
        for _ in 0..args.requests {
            let (t, s) = get(path.clone()).await?;
            d.push(t);
            size = s;
        }
        report.push(format!("{}  ({size} octets)", line(name, d)));
    }

    // Mandate creation transactions (new usagers, two démarches, one overlapping).
    let mut d = Vec::new();
    for i in 0..500 {
        let who = mandats::Identity {
            sub_hash: crate::crypto::sha256_hex(&format!("banc-creation-{n}-{}", i / 2)),
            given_name: "Jeanne".into(),
            family_name: format!("CRÉATION {i}"),
            preferred_username: String::new(),
            birthdate: "1950-01-01".into(),
            gender: "female".into(),
            birthplace: "89024".into(),
            birthcountry: "99100".into(),
            email: String::new(),
        };
        let t = Instant::now();
        mandats::create(
            &db,
            &state.signer,
            mandats::Actor {
                account_id: aidant,
                structure_id: sid,
            },
            &mandats::NewMandat {
                demarches: &[Demarche::Social, Demarche::Logement],
                duree: Duree::Long,
                is_remote: false,
                usager: mandats::UsagerRef::Identified(&who),
                renewed_from: None,
                draft_id: None,
                consent: None,
            },
            clock.now(),
        )
        .await?;
        d.push(t.elapsed());
    }
    report.push(line("création d'un mandat (transaction complète)", d));

    // The usager's own space: one person with 10 mandates (five structures'
    // worth of démarches) and 1,000 uses in their name.
    let person = mandats::Identity {
        sub_hash: crate::crypto::sha256_hex(&format!("banc-espace-{n}")),
        given_name: "Chantal".into(),
        family_name: "ESPACE".into(),
        preferred_username: String::new(),
        birthdate: "1948-03-01".into(),
        gender: "female".into(),
        birthplace: "89024".into(),
        birthcountry: "99100".into(),
        email: String::new(),
    };
    let mut mandat_ids = Vec::new();
    for i in 0..10 {
        let d = Demarche::ALL
            .get(i % Demarche::ALL.len())
            .copied()
            .unwrap_or(Demarche::Papiers);
        let c = mandats::create(
            &db,
            &state.signer,
            mandats::Actor {
                account_id: aidant,
                structure_id: sid,
            },
            &mandats::NewMandat {
                demarches: &[d],
                duree: Duree::Long,
                is_remote: false,
                usager: mandats::UsagerRef::Identified(&person),
                renewed_from: None,
                draft_id: None,
                consent: None,
            },
            clock.now(),
        )
        .await?;
        mandat_ids.push((c.mandat_id, c.usager_id, d));
    }
    let mut tx = db.begin().await?;
    for i in 0..1_000 {
        let Some((mid, uid, d)) = mandat_ids.get(i % mandat_ids.len()).copied() else {
            break;
        };
        let aid: i64 = tx
            .fetch_one(
                "SELECT id FROM autorisations WHERE mandat_id = $1",
                crate::args![mid],
            )
            .await?
            .get("id")?;
        journal::append(
            &mut tx,
            &NewEntry::new(sid, Action::UtilisationAutorisation)
                .account(aidant)
                .usager(uid)
                .autorisation(aid, d.key())
                .details(serde_json::json!({ "client": "banc" })),
            now - 1_000 + i64::try_from(i).unwrap_or(0),
        )
        .await?;
    }
    tx.commit().await?;
    let usager_id = mandat_ids.first().map(|m| m.1).unwrap_or(0);
    let first_mandat = mandat_ids.first().map(|m| m.0).unwrap_or(0);
    let usager_token =
        crate::mandats::espace::open_session(&db, usager_id, "jeton-banc", clock.now()).await?;
    let usager_cookie = format!("{}={usager_token}", crate::web::access::USAGER_COOKIE);
    for (name, path) in [
        (
            "espace de l'usager : 10 mandats, 1 000 utilisations",
            "/mon-espace/mandats".to_owned(),
        ),
        (
            "espace de l'usager : un mandat et ses 100 utilisations",
            format!("/mon-espace/mandats/{first_mandat}"),
        ),
    ] {
        let one = |path: String| get_as(path, usager_cookie.clone());
        for _ in 0..20 {
            one(path.clone()).await?;
        }
        let mut d = Vec::with_capacity(args.requests);
        let mut size = 0;
        for _ in 0..args.requests {
            let (t, s) = one(path.clone()).await?;
            d.push(t);
            size = s;
        }
        report.push(format!("{}  ({size} octets)", line(name, d)));
    }

    // Journal entries for the verification.
    let existing = journal::verify(&db).await?.entries as usize;
    let to_add = args.journal.saturating_sub(existing);
    let t = Instant::now();
    let mut left = to_add;
    while left > 0 {
        let batch = left.min(10_000);
        let mut tx = db.begin().await?;
        for i in 0..batch {
            journal::append(
                &mut tx,
                &NewEntry::new(sid, Action::UtilisationAutorisation)
                    .account(aidant)
                    .usager(
                        usager_ids
                            .get(i % usager_ids.len().max(1))
                            .map(|u| u.0)
                            .unwrap_or(0),
                    )
                    .details(serde_json::json!({ "client": "banc" })),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        left -= batch;
    }
    println!(
        "Journal : {to_add} entrées ajoutées en {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let v = journal::verify(&db).await?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        v.first_broken.is_none(),
        "journal altéré : {:?}",
        v.first_broken
    );
    report.push(format!(
        "relais journal verify : {} entrées en {:.3} s = {:.0} entrées/s",
        v.entries,
        secs,
        v.entries as f64 / secs.max(1e-9)
    ));

    // Attestation PDFs.
    let stored = crate::mandats::attestation::latest_for_mandat(
        &db,
        mandats::mandats(&db, sid, None, None, clock.now())
            .await?
            .first()
            .map(|m| m.id)
            .context("aucun mandat")?,
        crate::mandats::attestation::Kind::Mandat,
    )
    .await?
    .context("aucune attestation")?;
    let doc = crate::mandats::attestation::document(
        &db,
        &stored,
        "https://relais.example.fr/verifier/x".into(),
    )
    .await?
    .context("document")?;
    let mut d = Vec::new();
    let mut size = 0;
    for _ in 0..100 {
        let t = Instant::now();
        size = crate::mandats::attestation::pdf(&doc)?.len();
        d.push(t.elapsed());
    }
    report.push(format!("{}  ({size} octets)", line("attestation PDF", d)));

    println!();
    for l in report {
        println!("{l}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
