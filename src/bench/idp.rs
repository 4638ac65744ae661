//! `relais bench idp`: the identity provider's hot paths, in process through the
//! HTTP router (the whole middleware stack, no socket), on a real SQLite file (or
//! `--database-url`), with a fixed clock.
//!
//! - discovery and JWKS: requests per second with `--concurrency` tasks;
//! - the complete flow with an open session: authorize → usager → démarche (code and
//!   journal entry) → token (ID token signed ES256) → userinfo (signed JWT), with and
//!   without the two pages the aidant reads on the way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SERVICE_PATH};
use crate::db::Db;
use crate::mandats::{self, Demarche, Duree};

#[derive(Debug, Clone, clap::Args)]
pub struct IdpBenchArgs {
    /// Complete flows measured per variant.
    #[arg(long, default_value_t = 3_000)]
    pub flows: usize,
    /// Discovery and JWKS requests measured.
    #[arg(long, default_value_t = 100_000)]
    pub requests: usize,
    /// Concurrent tasks.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Structures the flows are spread over, each with its aidant (signed in),
    /// usager and mandate. By default as many as tasks: the national situation,
    /// where simultaneous sign-ins come from different structures. 1 puts every
    /// flow on one journal chain, the worst case: a structure's appends are
    /// serial, each waiting for the previous one's commit.
    #[arg(long)]
    pub structures: Option<usize>,
    /// Drive running servers over HTTP at this public URL (a load balancer in
    /// front of several servers) instead of the router in process; they must use
    /// the `--database-url` given here.
    #[arg(long)]
    pub via: Option<String>,
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<axum::body::Bytes>,
>;

/// Where requests go: the router in process, or servers over HTTP.
#[derive(Clone)]
enum Target {
    Router(Router),
    Http { client: HttpClient, base: String },
}

struct Ctx {
    router: Target,
    cookie: String,
    csrf: String,
    usager: i64,
    autorisation: i64,
    base: String,
}

async fn call(target: &Target, req: Request<Body>) -> anyhow::Result<(u16, String, String)> {
    let res = match target {
        Target::Router(router) => router.clone().oneshot(req).await?,
        Target::Http { client, base } => {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20).await?;
            let mut out = Request::builder()
                .method(parts.method)
                .uri(format!("{base}{}", parts.uri))
                .header("origin", base.as_str());
            for (k, v) in &parts.headers {
                out = out.header(k, v);
            }
            let res = client
                .request(out.body(http_body_util::Full::new(bytes))?)
                .await?;
            res.map(Body::new)
        }
    };
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await?;
    Ok((
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

fn get(path: &str, cookie: &str) -> anyhow::Result<Request<Body>> {
    Ok(Request::get(path)
        .header("cookie", cookie)
        .body(Body::empty())?)
}

fn post(path: &str, cookie: &str, form: &[(&str, &str)]) -> anyhow::Result<Request<Body>> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    Ok(Request::post(path)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))?)
}

/// Per-step durations of one flow (authorize, usager, démarche, token, userinfo).
type Steps = [Duration; 5];

/// One complete flow; `pages`: also read the two pages the aidant sees.
async fn flow(c: &Ctx, pages: bool, n: usize) -> anyhow::Result<()> {
    flow_steps(c, pages, n).await.map(|_| ())
}

async fn flow_steps(c: &Ctx, pages: bool, n: usize) -> anyhow::Result<Steps> {
    let mut steps = [Duration::ZERO; 5];
    let mut t = Instant::now();
    let redirect = format!("{}{DEMO_SERVICE_PATH}/retour", c.base);
    let state = format!("etat-{n}");
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT_ID),
            ("redirect_uri", redirect.as_str()),
            ("scope", "openid profile email birth"),
            ("state", state.as_str()),
            ("nonce", "nonce-de-banc"),
            ("acr_values", "eidas1"),
        ])
        .finish();
    let (s, page, _) = call(&c.router, get(&format!("/oidc/authorize?{q}"), &c.cookie)?).await?;
    anyhow::ensure!(s == 303, "authorize : {s}");
    steps[0] = t.elapsed();
    t = Instant::now();
    if pages {
        let (s, _, _) = call(&c.router, get(&page, &c.cookie)?).await?;
        anyhow::ensure!(s == 200, "page usager : {s}");
    }
    let usager = c.usager.to_string();
    let (s, _, _) = call(
        &c.router,
        post(
            &format!("{page}/usager"),
            &c.cookie,
            &[("_csrf", &c.csrf), ("usager", &usager)],
        )?,
    )
    .await?;
    anyhow::ensure!(s == 303, "usager : {s}");
    steps[1] = t.elapsed();
    t = Instant::now();
    if pages {
        let (s, _, _) = call(&c.router, get(&page, &c.cookie)?).await?;
        anyhow::ensure!(s == 200, "page démarche : {s}");
    }
    let aid = c.autorisation.to_string();
    let (s, back, _) = call(
        &c.router,
        post(
            &format!("{page}/demarche"),
            &c.cookie,
            &[("_csrf", &c.csrf), ("autorisation", &aid)],
        )?,
    )
    .await?;
    anyhow::ensure!(s == 303, "démarche : {s}");
    steps[2] = t.elapsed();
    t = Instant::now();
    let code = url::Url::parse(&back)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("code absent")?;
    let auth =
        data_encoding::BASE64.encode(format!("{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}").as_bytes());
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
        ])
        .finish();
    let req = Request::post("/oidc/token")
        .header("authorization", format!("Basic {auth}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))?;
    let (s, _, tokens) = call(&c.router, req).await?;
    anyhow::ensure!(s == 200, "token : {s} {tokens}");
    steps[3] = t.elapsed();
    t = Instant::now();
    let tokens: serde_json::Value = serde_json::from_str(&tokens)?;
    let access = tokens
        .get("access_token")
        .and_then(|v| v.as_str())
        .context("access_token")?;
    let req = Request::get("/oidc/userinfo")
        .header("authorization", format!("Bearer {access}"))
        .body(Body::empty())?;
    let (s, _, _) = call(&c.router, req).await?;
    anyhow::ensure!(s == 200, "userinfo : {s}");
    steps[4] = t.elapsed();
    Ok(steps)
}

/// Runs `total` operations over `concurrency` tasks; returns (per second, p50, p99).
async fn load<F, Fut>(
    total: usize,
    concurrency: usize,
    op: F,
) -> anyhow::Result<(f64, Duration, Duration)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let op = op.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let t = Instant::now();
                op(n).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    Ok((
        all.len() as f64 / secs.max(1e-9),
        crate::bench::percentile(&all, 0.5),
        crate::bench::percentile(&all, 0.99),
    ))
}

pub async fn run(args: &IdpBenchArgs, database_url: Option<String>) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let dir = std::env::temp_dir().join(format!("relais-bench-idp-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url =
        database_url.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let db = Db::connect(&url, crate::config::DEFAULT_SECRET).await?;
    crate::migrate(&db, now).await?;
    let clock = ManualClock::new(now);
    let config = crate::config::Config {
        database_url: url.clone(),
        ..crate::config::Config::default()
    };
    let base = args.via.clone().map_or_else(
        || config.public_url(),
        |u| u.trim_end_matches('/').to_owned(),
    );
    let dummy = crate::accounts::password::hash(crate::crypto::random_token())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let (http, slot) = crate::franceconnect::http::HttpClient::in_process();
    let state = crate::web::AppState::new(crate::web::Inner::build(
        db.clone(),
        config,
        clock.clone(),
        crate::mail::Mailer::memory(),
        dummy,
        http,
    )?);
    let (router, _) = crate::web::app(state.clone());
    if let Ok(mut s) = slot.lock() {
        *s = Some(router.clone());
    }
    let mut aidants = Vec::new();
    let structures = args.structures.unwrap_or(args.concurrency).max(1);
    for i in 0..structures {
        aidants.push(aidant_with_usager(&db, &state, now, i, args.via.is_some()).await?);
    }
    let target = match &args.via {
        None => Target::Router(router.clone()),
        Some(_) => Target::Http {
            client: hyper_util::client::legacy::Client::builder(
                hyper_util::rt::TokioExecutor::new(),
            )
            .pool_max_idle_per_host(args.concurrency.max(1))
            .build_http(),
            base: base.clone(),
        },
    };
    let ctxs: Arc<Vec<Ctx>> = Arc::new(
        aidants
            .into_iter()
            .map(|a| Ctx {
                router: target.clone(),
                cookie: format!("{}={}", crate::sessions::COOKIE, a.session),
                csrf: a.csrf,
                usager: a.usager,
                autorisation: a.autorisation,
                base: base.clone(),
            })
            .collect(),
    );
    // Warm-up (keys created, caches filled).
    for (i, ctx) in ctxs.iter().enumerate() {
        for j in 0..50 {
            flow(ctx, true, i * 50 + j).await?;
        }
    }
    println!(
        "Relais bench idp — {}, {} , {} tâches, {} structure(s)",
        match &args.via {
            None => "en processus (routeur HTTP complet, sans socket)".to_owned(),
            Some(u) => format!("par HTTP vers {u}"),
        },
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        args.concurrency,
        ctxs.len()
    );
    for (name, path) in [
        (
            "découverte /.well-known/openid-configuration",
            "/.well-known/openid-configuration",
        ),
        ("JWKS /oidc/jwks", "/oidc/jwks"),
    ] {
        let r = target.clone();
        let (rate, p50, p99) = load(args.requests, args.concurrency, move |_| {
            let r = r.clone();
            async move {
                let (s, _, _) = call(&r, Request::get(path).body(Body::empty())?).await?;
                anyhow::ensure!(s == 200, "{path} : {s}");
                Ok(())
            }
        })
        .await?;
        println!(
            "  {name:<48} {rate:>9.0} req/s  p50 {:.3} ms  p99 {:.3} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    for (name, pages) in [
        ("flux complet authorize → token → userinfo", false),
        ("même flux avec les 2 pages lues par l'aidant", true),
    ] {
        let c = ctxs.clone();
        let (rate, p50, p99) = load(args.flows, args.concurrency, move |i| {
            let c = c.clone();
            async move {
                let ctx = c.get(i % c.len()).context("structure de banc")?;
                flow(ctx, pages, i).await
            }
        })
        .await?;
        println!(
            "  {name:<48} {rate:>9.0} flux/s  p50 {:.3} ms  p99 {:.3} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    // The signatures alone.
    for alg in [
        crate::idp::keys::KeyAlg::Es256,
        crate::idp::keys::KeyAlg::Rs256,
    ] {
        let key = state.idp_keys.signing(&db, now, alg).await?;
        let claims = serde_json::json!({ "iss": "x", "sub": "y", "aud": "z", "exp": 1, "iat": 1 });
        let t = Instant::now();
        for _ in 0..200 {
            key.sign(&claims)?;
        }
        println!(
            "    signature {} d'un jeton            {:.3} ms",
            alg.key(),
            t.elapsed().as_secs_f64() * 1e3 / 200.0
        );
    }
    // Where a sequential flow spends its time.
    let mut per: Vec<Vec<Duration>> = vec![Vec::new(); 5];
    let first = ctxs.first().context("structure de banc")?;
    for i in 0..300 {
        let steps = flow_steps(first, false, 1_000_000 + i).await?;
        for (k, d) in steps.iter().enumerate() {
            if let Some(v) = per.get_mut(k) {
                v.push(*d);
            }
        }
    }
    for (name, mut d) in [
        "authorize",
        "choix de l'usager",
        "choix de la démarche (code)",
        "token",
        "userinfo",
    ]
    .into_iter()
    .zip(per)
    {
        d.sort();
        println!(
            "    étape {name:<30} p50 {:.3} ms",
            crate::bench::percentile(&d, 0.5).as_secs_f64() * 1e3
        );
    }
    if let Ok(mut s) = slot.lock() {
        *s = None;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// What one structure's aidant brings to the flows.
struct Aidant {
    session: String,
    csrf: String,
    usager: i64,
    autorisation: i64,
}

/// The `i`-th structure of the bench: its aidant signed in, a usager and a mandate.
async fn aidant_with_usager(
    db: &Db,
    state: &crate::web::AppState,
    now: i64,
    i: usize,
    via: bool,
) -> anyhow::Result<Aidant> {
    let n = now % 1_000_000;
    let offset = 4_000_000 + 1_000_000 * i64::try_from(i)?;
    let (sid, aidant) =
        crate::bench::structure_and_aidant(db, now, offset, &format!("idp-{i}")).await?;
    let who = mandats::Identity {
        sub_hash: crate::crypto::sha256_hex(&format!("banc-idp-{n}-{i}")),
        given_name: "Jeanne".into(),
        family_name: "BANC".into(),
        preferred_username: String::new(),
        birthdate: "1950-01-01".into(),
        gender: "female".into(),
        birthplace: "89024".into(),
        birthcountry: "99100".into(),
        email: "jeanne.banc@exemple.fr".into(),
    };
    let created = mandats::create(
        db,
        &state.signer,
        mandats::Actor {
            account_id: aidant,
            structure_id: sid,
        },
        &mandats::NewMandat {
            demarches: &[Demarche::Social],
            duree: Duree::Long,
            is_remote: false,
            usager: mandats::UsagerRef::Identified(&who),
            renewed_from: None,
            draft_id: None,
            consent: None,
        },
        now,
    )
    .await?;
    let autorisation = mandats::active_autorisations(db, sid, created.usager_id, now)
        .await?
        .first()
        .map(|a| a.0)
        .context("autorisation")?;
    let (raw, csrf) = crate::bench::signed_in(db, aidant, now).await?;
    if via {
        // In process the clock stands still: every request arrives in the second of
        // the sign-in, so no TOTP confirmation is asked. Running servers use the
        // real clock: the session's second factor is dated an hour ahead, so that
        // over HTTP too the flow is measured without the confirmation step.
        db.execute(
            "UPDATE sessions SET mfa_at = $1 WHERE id_hash = $2",
            crate::args![now + 3_600, crate::crypto::sha256_hex(&raw)],
        )
        .await?;
    }
    Ok(Aidant {
        session: raw,
        csrf,
        usager: created.usager_id,
        autorisation,
    })
}
