//! `relais bench` and its sub-benches (one module each: `mandats`, `idp`, `lieux`,
//! `connexions`). The default bench starts the real server as a child process on loopback, signs an
//! aidant in, then loads the hot path with keep-alive HTTP/1.1 connections and
//! reports throughput, latency percentiles, start-to-ready time, resident memory and
//! binary size. Bounded in requests and time; only talks to 127.0.0.1.

pub mod activites;
pub mod connexions;
pub mod idp;
pub mod lieux;
pub mod mandats;
pub mod pass;
pub mod pilotage;
pub mod rappels;
pub mod ressources;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::clock::{Clock, SystemClock};
use crate::db::Db;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Number of measured requests.
    #[arg(long, default_value_t = 50_000)]
    pub requests: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Database to bench on (default: a fresh SQLite file in a temporary folder).
    #[arg(long)]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub what: Option<BenchWhat>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchWhat {
    /// Les chemins critiques des mandats : liste et recherche d'usagers, création,
    /// vérification du journal, attestation PDF.
    Mandats(crate::bench::mandats::MandatsBenchArgs),
    /// Le fournisseur d'identité : découverte, JWKS, flux complet authorize → token →
    /// userinfo avec une session ouverte.
    Idp(crate::bench::idp::IdpBenchArgs),
    /// L'annuaire des lieux : import, recherche à 10 km avec deux filtres sur 50 000
    /// lieux, page de résultats et son poids, page d'un lieu.
    Lieux(crate::bench::lieux::LieuxBenchArgs),
    /// Les comptes rendus d'activité : enregistrement d'un accompagnement (formulaire →
    /// transaction → agrégats) et statistiques d'un département sur un an, de 100 000 à
    /// 1 000 000 d'activités en base.
    Activites(crate::bench::activites::ActivitesBenchArgs),
    /// Le pass numérique : génération de 100 000 pass et de leurs carnets en PDF,
    /// utilisation d'un pass par le routeur HTTP, tableau d'un financeur sur 1 000 000
    /// de pass.
    Pass(crate::bench::pass::PassBenchArgs),
    /// Le pilotage : tableau national et d'un département, page publique et
    /// données ouvertes, sur 1 000 000 d'activités, 200 000 mandats, 1 000 000 de
    /// pass et 50 000 lieux.
    Pilotage(crate::bench::pilotage::PilotageBenchArgs),
    /// Solidarité Numérique : files des écoutants, page d'une demande, chiffres du
    /// service et enregistrement d'une demande, sur 100 000 demandes.
    Rappels(crate::bench::rappels::RappelsBenchArgs),
    /// Le centre de ressources : recherche publique sur 20 000 ressources publiées.
    Ressources(crate::bench::ressources::RessourcesBenchArgs),
    /// Une rafale de connexions refusées en parallèle : mémoire résidente au premier
    /// démarrage, pendant la rafale et après.
    Connexions(crate::bench::connexions::ConnexionsBenchArgs),
}

struct Http {
    reader: BufReader<TcpStream>,
    host: String,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Http {
    async fn connect(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http {
            reader: BufReader::new(stream),
            host: addr.to_owned(),
        })
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        cookie: &str,
        body: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if !cookie.is_empty() {
            req.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        if let Some(b) = body {
            req.push_str(b);
        }
        self.reader.get_mut().write_all(req.as_bytes()).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("réponse HTTP illisible")?;
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    length = v.trim().parse().unwrap_or(0);
                }
                headers.push((k, v.trim().to_owned()));
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).await?;
        Ok(Reply { status, headers })
    }
}

fn cookie_from(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next())
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

/// The release server (this very binary) as a child process on `addr`, killed when
/// dropped; `env` adds variables.
pub(crate) fn spawn_server(
    addr: &str,
    db_url: &str,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> anyhow::Result<tokio::process::Child> {
    let exe: PathBuf = std::env::current_exe()?;
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.arg("serve")
        .env("RELAIS_BIND", addr)
        .env("RELAIS_DATABASE_URL", db_url)
        .env("RELAIS_DATA_DIR", dir)
        .env("RELAIS_LOG", "warn")
        .env_remove("RELAIS_CONFIG")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().context("lancement du serveur")
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The application in process on `db` (no socket), as the in-process benches
/// drive it: real configuration defaults, an in-memory mailer, the router wired as
/// its own outgoing HTTP client (the FranceConnect simulator).
pub(crate) async fn in_process_app(
    db: &Db,
    url: &str,
    clock: crate::clock::SharedClock,
) -> anyhow::Result<(crate::web::AppState, axum::Router)> {
    let config = crate::config::Config {
        database_url: url.to_owned(),
        ..crate::config::Config::default()
    };
    let dummy = crate::accounts::password::hash(crate::crypto::random_token())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let (http, slot) = crate::franceconnect::http::HttpClient::in_process();
    let state = crate::web::AppState::new(crate::web::Inner::build(
        db.clone(),
        config,
        clock,
        crate::mail::Mailer::memory(),
        dummy,
        http,
    )?);
    let (router, _) = crate::web::app(state.clone());
    if let Ok(mut s) = slot.lock() {
        *s = Some(router.clone());
    }
    Ok((state, router))
}

/// A bench's database: the one given (`--database-url`), or a fresh SQLite file
/// in a temporary folder removed by [`BenchDb::close`]; migrated.
pub(crate) struct BenchDb {
    pub db: Db,
    pub url: String,
    /// « SQLite » or « PostgreSQL », for the report.
    pub kind: &'static str,
    dir: std::path::PathBuf,
}

impl BenchDb {
    pub(crate) async fn open(
        name: &str,
        database_url: Option<String>,
        now: i64,
    ) -> anyhow::Result<BenchDb> {
        let dir = std::env::temp_dir().join(format!("relais-bench-{name}-{}", std::process::id()));
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
        Ok(BenchDb { db, url, kind, dir })
    }

    pub(crate) async fn close(self) {
        self.db.close().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One line of a report: `name n=… p50 … p99 …` (milliseconds).
pub(crate) fn report_line(name: &str, mut d: Vec<Duration>) -> String {
    d.sort();
    format!(
        "{name:<52} n={:>4}  p50 {:>7.2} ms  p99 {:>7.2} ms",
        d.len(),
        percentile(&d, 0.5).as_secs_f64() * 1e3,
        percentile(&d, 0.99).as_secs_f64() * 1e3
    )
}

/// `GET path` through the router `n` times (after one warm-up), with the session
/// cookie if any: the times, and the size of the last page. A page that is not
/// a success stops the bench.
pub(crate) async fn measure_get(
    router: &axum::Router,
    cookie: Option<&str>,
    path: &str,
    n: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    use tower::ServiceExt;
    let mut times = Vec::with_capacity(n);
    let mut size = 0;
    for i in 0..=n {
        let mut req = axum::http::Request::get(path);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let req = req.body(axum::body::Body::empty())?;
        let t = std::time::Instant::now();
        let res = router.clone().oneshot(req).await?;
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 8 << 20).await?;
        anyhow::ensure!(status.is_success(), "{path} : {status}");
        if i > 0 {
            times.push(t.elapsed());
        }
        size = body.len();
    }
    Ok((times, size))
}

/// The `p` quantile (0–1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted
        .get(idx.min(sorted.len() - 1))
        .copied()
        .unwrap_or_default()
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match &args.what {
        Some(BenchWhat::Mandats(m)) => {
            return crate::bench::mandats::run(m, args.database_url.clone()).await;
        }
        Some(BenchWhat::Idp(i)) => {
            return crate::bench::idp::run(i, args.database_url.clone()).await;
        }
        Some(BenchWhat::Lieux(l)) => {
            return crate::bench::lieux::run(l, args.database_url.clone()).await;
        }
        Some(BenchWhat::Activites(a)) => {
            return crate::bench::activites::run(a, args.database_url.clone()).await;
        }
        Some(BenchWhat::Pass(p)) => {
            return crate::bench::pass::run(p, args.database_url.clone()).await;
        }
        Some(BenchWhat::Pilotage(p)) => {
            return crate::bench::pilotage::run(p, args.database_url.clone()).await;
        }
        Some(BenchWhat::Rappels(r)) => {
            return crate::bench::rappels::run(r, args.database_url.clone()).await;
        }
        Some(BenchWhat::Ressources(r)) => {
            return crate::bench::ressources::run(r, args.database_url.clone()).await;
        }
        Some(BenchWhat::Connexions(c)) => {
            return crate::bench::connexions::run(c).await;
        }
        None => {}
    }
    let clock = SystemClock;
    let dir = std::env::temp_dir().join(format!("relais-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));

    // An existing database with one aidant, prepared before the server starts.
    let db = Db::connect(&db_url, crate::config::DEFAULT_SECRET).await?;
    crate::migrate(&db, clock.now()).await?;
    let secret = crate::accounts::totp::generate_secret();
    let password = "banc d'essai tres long".to_owned();
    let email = format!("bench-{}@relais.localhost", std::process::id());
    seed(&db, &email, &password, &secret, clock.now()).await?;
    db.close().await;

    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let exe: PathBuf = std::env::current_exe()?;
    let binary_bytes = std::fs::metadata(&exe).map(|m| m.len()).unwrap_or(0);
    let t0 = Instant::now();
    let mut child = spawn_server(&addr, &db_url, &dir, &[])?;
    let pid = child.id().unwrap_or(0);
    let ready = loop {
        if t0.elapsed() > Duration::from_secs(20) {
            bail!("le serveur n'a pas démarré en 20 s");
        }
        if let Ok(mut c) = Http::connect(&addr).await
            && let Ok(r) = c.request("GET", "/healthz", "", None).await
            && r.status == 200
        {
            break t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };

    // Sign in like a browser: CSRF cookie, then the form.
    let mut c = Http::connect(&addr).await?;
    let page = c.request("GET", "/connexion", "", None).await?;
    let csrf = cookie_from(&page, "relais_csrf").context("cookie CSRF absent")?;
    let code = crate::accounts::totp::code_at(&secret, clock.now()).context("code TOTP")?;
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("_csrf", &csrf)
        .append_pair("email", &email)
        .append_pair("password", &password)
        .append_pair("code", &code)
        .append_pair("suivant", "/espace")
        .finish();
    let login = c
        .request(
            "POST",
            "/connexion",
            &format!("relais_csrf={csrf}"),
            Some(&form),
        )
        .await?;
    let session = cookie_from(&login, "relais_session")
        .context("connexion refusée pendant le banc d'essai")?;
    let cookie = format!("relais_session={session}");
    let check = c.request("GET", "/espace", &cookie, None).await?;
    if check.status != 200 {
        bail!("GET /espace a répondu {}", check.status);
    }

    // Warm-up, then measure.
    load(&addr, &cookie, 2_000.min(args.requests), args.concurrency).await?;
    let started = Instant::now();
    let mut latencies = load(&addr, &cookie, args.requests, args.concurrency).await?;
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let rss = rss_kib(pid);
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);

    let throughput = latencies.len() as f64 / elapsed.as_secs_f64();
    println!("Relais bench — page d'accueil d'un aidant connecté (GET /espace, session en base)");
    println!(
        "  base de données     : {}",
        if db_url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    println!(
        "  requêtes mesurées   : {} ({} connexions keep-alive)",
        latencies.len(),
        args.concurrency
    );
    println!("  débit               : {throughput:.0} requêtes/s");
    println!(
        "  latence             : p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0))
    );
    match rss {
        Some(kib) => println!(
            "  mémoire résidente   : {:.1} Mo après {} requêtes",
            kib as f64 / 1024.0,
            latencies.len() + 2_000
        ),
        None => println!("  mémoire résidente   : non mesurée (/proc indisponible)"),
    }
    println!(
        "  démarrage → prêt    : {:.0} ms (base existante)",
        ms(ready)
    );
    println!(
        "  taille du binaire   : {:.1} Mo ({})",
        binary_bytes as f64 / 1_048_576.0,
        exe.display()
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn load(
    addr: &str,
    cookie: &str,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Duration>> {
    let per_conn = total.div_ceil(concurrency.max(1));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let addr = addr.to_owned();
        let cookie = cookie.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut c = Http::connect(&addr).await?;
            let mut lat = Vec::with_capacity(per_conn);
            for _ in 0..per_conn {
                let t = Instant::now();
                let r = c.request("GET", "/espace", &cookie, None).await?;
                if r.status != 200 {
                    bail!("GET /espace a répondu {}", r.status);
                }
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

async fn seed(db: &Db, email: &str, password: &str, secret: &str, now: i64) -> anyhow::Result<()> {
    use crate::domain::{InseeCode, Siret, StructureKind};
    let siret = Siret::parse(crate::demo::DEMO_SIRET).map_err(|m| anyhow::anyhow!(m))?;
    let sid = match crate::structures::create(
        db,
        &crate::structures::NewStructure {
            name: "Structure du banc d'essai".into(),
            siret,
            address: "banc d'essai".into(),
            commune_insee: InseeCode::parse("89024").map_err(|m| anyhow::anyhow!(m))?,
            kind: StructureKind::Autre,
            is_demo: true,
        },
        now,
    )
    .await
    {
        Ok(id) => id,
        Err(crate::structures::StructureError::DuplicateSiret(id)) => id,
        Err(e) => return Err(e.into()),
    };
    let hash = crate::accounts::password::hash(password.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let row = db
        .fetch_one(
            "INSERT INTO accounts (email, full_name, password_hash, totp_secret, created_at)
         VALUES ($1, 'Aidant du banc d''essai', $2, $3, $4) RETURNING id",
            crate::args![email, hash, secret, now],
        )
        .await?;
    let id: i64 = row.get("id")?;
    db.execute("INSERT INTO memberships (account_id, structure_id, role, created_at) VALUES ($1, $2, 'aidant', $3)", crate::args![id, sid, now])
        .await?;
    Ok(())
}

/// A structure and an aidant for the in-process benchmarks (mandates, provider):
/// returns (structure id, aidant account id). `offset` keeps SIRETs apart.
pub(crate) async fn structure_and_aidant(
    db: &Db,
    now: i64,
    offset: i64,
    label: &str,
) -> anyhow::Result<(i64, i64)> {
    structure_and_member(db, now, offset, label, crate::domain::Role::Aidant).await
}

/// Signs `account` in as a browser would be after its sign-in: the session's raw
/// id (the cookie's value) and its CSRF token.
pub(crate) async fn signed_in(db: &Db, account: i64, now: i64) -> anyhow::Result<(String, String)> {
    let raw = crate::sessions::create(db, account, now).await?;
    let csrf: String = db
        .fetch_one(
            "SELECT csrf_token FROM sessions WHERE id_hash = $1",
            crate::args![crate::crypto::sha256_hex(&raw)],
        )
        .await?
        .get("csrf_token")?;
    Ok((raw, csrf))
}

/// [`structure_and_aidant`] with any role.
pub(crate) async fn structure_and_member(
    db: &Db,
    now: i64,
    offset: i64,
    label: &str,
    role: crate::domain::Role,
) -> anyhow::Result<(i64, i64)> {
    let n = now % 1_000_000;
    let siret = (0..10)
        .map(|d| format!("{:013}{d}", offset + n))
        .find(|s| crate::domain::Siret::parse(s).is_ok())
        .context("SIRET de banc")?;
    let sid = crate::structures::create(
        db,
        &crate::structures::NewStructure {
            name: format!("Structure de banc ({label})"),
            siret: crate::domain::Siret::parse(&siret).map_err(|e| anyhow::anyhow!(e))?,
            address: "1 place du Banc, 89000 Auxerre".into(),
            commune_insee: crate::domain::InseeCode::parse("89024")
                .map_err(|e| anyhow::anyhow!(e))?,
            kind: crate::domain::StructureKind::FranceServices,
            is_demo: false,
        },
        now,
    )
    .await?;
    let email = crate::domain::Email::parse(&format!("banc-{label}-{n}@exemple.fr"))
        .map_err(|e| anyhow::anyhow!(e))?;
    match crate::accounts::invite(db, sid, &email, "Membre de banc", role, None, now).await? {
        crate::accounts::InviteOutcome::Invited { account_id, .. } => Ok((sid, account_id)),
        _ => anyhow::bail!("compte de banc inattendu"),
    }
}
