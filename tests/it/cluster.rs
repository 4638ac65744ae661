//! Several real `relais serve` processes on one PostgreSQL, behind a real reverse
//! proxy (nginx, installed by `.ci/run`), as an operator deploys them (issue 19):
//! they start together on an empty database; a session opened through one works
//! on the others; a mandate is created with its steps (FranceConnect's picker, the
//! return, the recap) answered by both, then the aidant logs into the demo online
//! service for the person (Relais as identity provider) across both; rate limits
//! count across servers; the
//! daily jobs run once; a key rotation made by the command line is seen by every
//! server within its cache time. Runs when PostgreSQL and nginx are present;
//! required in CI.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};

type Http = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

use crate::common::free_port;

/// A browser-like client over real TCP: cookies, `Origin`, the CSRF field.
struct Web {
    http: Http,
    base: String,
    origin: String,
    cookies: HashMap<String, String>,
    csrf: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: String,
}

impl Web {
    fn new(base: &str, origin: &str) -> Web {
        Web {
            http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
            base: base.to_owned(),
            origin: origin.to_owned(),
            cookies: HashMap::new(),
            csrf: None,
        }
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> Page {
        let res = tokio::time::timeout(Duration::from_secs(20), self.http.request(req))
            .await
            .expect("réponse en moins de 20 s")
            .expect("requête HTTP");
        let status = res.status();
        let headers = res.headers().clone();
        crate::common::keep_cookies(&mut self.cookies, &headers);
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(t) = crate::common::extract_between(&body, "name=\"_csrf\" value=\"", "\"") {
            self.csrf = Some(t);
        }
        Page {
            status,
            headers,
            body,
        }
    }

    fn cookie_header(&self) -> String {
        crate::common::cookie_header(&self.cookies)
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = Request::get(format!("{}{path}", self.base))
            .header(hyper::header::COOKIE, self.cookie_header())
            .body(Full::new(Bytes::new()))
            .unwrap();
        self.send(req).await
    }

    /// Signs `account` in (its current TOTP code), on whichever server answers.
    async fn sign_in(&mut self, account: &(String, String, String)) -> Page {
        let (email, password, secret) = account;
        self.get("/connexion").await;
        let code = relais::accounts::totp::code_at(secret, now()).unwrap();
        let r = self
            .post(
                "/connexion",
                &[("email", email), ("password", password), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        r
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        if let Some(t) = &self.csrf {
            form.append_pair("_csrf", t);
        }
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        let req = Request::post(format!("{}{path}", self.base))
            .header(hyper::header::COOKIE, self.cookie_header())
            .header(hyper::header::ORIGIN, &self.origin)
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Full::new(Bytes::from(form.finish())))
            .unwrap();
        self.send(req).await
    }
}

/// What a cluster test starts from: an empty PostgreSQL database, a folder for
/// the servers' data and logs, and the proxy's port and public URL.
struct Setup {
    url: String,
    dir: PathBuf,
    proxy_port: u16,
    public: String,
}

async fn setup(name: &str) -> Setup {
    let url = crate::common::empty_db_url(relais::db::Backend::Postgres).await;
    let dir = std::env::temp_dir().join(format!(
        "relais-{name}-{}-{}",
        std::process::id(),
        crate::common::unique()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let proxy_port = free_port();
    Setup {
        url,
        dir,
        proxy_port,
        public: format!("http://127.0.0.1:{proxy_port}"),
    }
}

/// A `relais serve` process, its output in files.
struct Server {
    child: tokio::process::Child,
    port: u16,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Server {
    fn output(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }
}

fn spawn_server(dir: &Path, n: usize, database_url: &str, public_url: &str) -> Server {
    spawn_binary(
        env!("CARGO_BIN_EXE_relais"),
        dir,
        n,
        database_url,
        public_url,
    )
}

fn spawn_binary(
    binary: &str,
    dir: &Path,
    n: usize,
    database_url: &str,
    public_url: &str,
) -> Server {
    let port = free_port();
    let data = dir.join(format!("serveur-{n}"));
    std::fs::create_dir_all(&data).unwrap();
    let stdout = data.join("sortie.log");
    let stderr = data.join("erreurs.log");
    let child = tokio::process::Command::new(binary)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RELAIS_BIND", format!("127.0.0.1:{port}"))
        .env("RELAIS_PUBLIC_URL", public_url)
        .env("RELAIS_DATABASE_URL", database_url)
        .env("RELAIS_DATA_DIR", &data)
        .env("RELAIS_SECRET_KEY", crate::common::TEST_SECRET)
        .env("RELAIS_TRUST_FORWARDED_FOR", "true")
        .env("RELAIS_LOG", "info")
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Server {
        child,
        port,
        stdout,
        stderr,
    }
}

/// nginx balancing round-robin over the servers; each response says which server
/// answered (`X-Relais-Serveur`).
fn spawn_proxy(dir: &Path, port: u16, servers: &[u16]) -> tokio::process::Child {
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let upstreams: String = servers
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p};\n"))
        .collect();
    let p = prefix.display();
    let conf = format!(
        "worker_processes 1;\n\
         daemon off;\n\
         error_log {p}/logs/error.log;\n\
         pid {p}/nginx.pid;\n\
         events {{ worker_connections 128; }}\n\
         http {{\n\
           access_log off;\n\
           client_body_temp_path {p}/body; proxy_temp_path {p}/proxy;\n\
           fastcgi_temp_path {p}/fastcgi; uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
           upstream relais {{\n{upstreams}  }}\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             client_max_body_size 40m;\n\
             location / {{\n\
               proxy_pass http://relais;\n\
               proxy_set_header Host $http_host;\n\
               proxy_set_header X-Forwarded-For $remote_addr;\n\
               add_header X-Relais-Serveur $upstream_addr always;\n\
             }}\n\
           }}\n\
         }}\n"
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    tokio::process::Command::new("nginx")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx")
}

async fn wait_ready(web: &mut Web, what: &str, servers: &[Server]) {
    for _ in 0..600 {
        let req = Request::get(format!("{}/healthz", web.base))
            .body(Full::new(Bytes::new()))
            .unwrap();
        if let Ok(Ok(res)) =
            tokio::time::timeout(Duration::from_secs(2), web.http.request(req)).await
            && res.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs: Vec<String> = servers.iter().map(Server::output).collect();
    panic!("{what} ne répond pas :\n{}", logs.join("\n---\n"));
}

/// The demonstration account `label` printed in a banner: (e-mail, password, TOTP key).
fn demo_account(banner: &str, label: &str) -> Option<(String, String, String)> {
    let start = banner.find(&format!("  {label} "))?;
    let rest = banner.get(start..)?;
    let field = |name: &str| {
        let at = rest.find(name)? + name.len();
        Some(rest.get(at..)?.lines().next()?.trim().to_owned())
    };
    Some((
        field("e-mail : ")?,
        field("mot de passe : ")?,
        field("clé TOTP : ")?,
    ))
}

fn nginx_present() -> bool {
    std::process::Command::new("nginx")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_behind_a_proxy_share_one_postgresql() {
    if !crate::common::backends().contains(&relais::db::Backend::Postgres) {
        return;
    }
    if !nginx_present() {
        assert!(
            std::env::var("CI").is_err(),
            "nginx est obligatoire en CI (installé par .ci/run)"
        );
        eprintln!("NOTE : nginx absent, test de plusieurs serveurs ignoré");
        return;
    }
    let Setup {
        url,
        dir,
        proxy_port,
        public,
    } = setup("grappe").await;
    // Two servers started at the same moment on an empty database.
    let mut servers: Vec<Server> = (0..2)
        .map(|n| spawn_server(&dir, n, &url, &public))
        .collect();
    for s in &servers {
        let mut direct = Web::new(&format!("http://127.0.0.1:{}", s.port), &public);
        wait_ready(&mut direct, "un serveur", &servers).await;
    }
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let _proxy = spawn_proxy(&dir, proxy_port, &ports);
    let mut web = Web::new(&public, &public);
    wait_ready(&mut web, "le proxy", &servers).await;

    // The demonstration was created once, by one of them.
    let outputs: Vec<String> = servers.iter().map(Server::output).collect();
    let banners: Vec<&String> = outputs
        .iter()
        .filter(|o| o.contains("DÉMONSTRATION (données fictives)"))
        .collect();
    assert_eq!(banners.len(), 1, "{outputs:#?}");
    let aidant = demo_account(banners[0], "Aidant").expect("compte aidant");
    let secret = aidant.2.clone();
    let (referent, _, _) = demo_account(banners[0], "Référent").expect("compte référent");

    // Signed in through the proxy: the session works on every server.
    web.sign_in(&aidant).await;
    let mut answered = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let page = web.get("/espace").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Nouveau mandat"));
        answered.insert(
            page.headers
                .get("x-relais-serveur")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
        );
    }
    assert_eq!(answered.len(), 2, "both servers answered: {answered:?}");

    // A mandate through the proxy: the FranceConnect simulator (served by the
    // cluster itself) and the return from it land on whichever server the proxy
    // picks, and the mandate is created.
    let mut steps = std::collections::BTreeSet::new();
    let mut note = |p: &Page| {
        steps.insert(server_of(p));
    };
    web.get("/mandats/nouveau").await;
    let r = web
        .post(
            "/mandats/nouveau",
            &[("demarche", "logement"), ("duree", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    note(&r);
    let picker = web.get(&local(&location(&r), &public)).await;
    assert_eq!(picker.status, StatusCode::OK, "{}", picker.body);
    note(&picker);
    let raw = crate::common::unescape(
        &crate::common::extract_between(&picker.body, "name=\"requete\" value=\"", "\"").unwrap(),
    );
    let identity =
        crate::common::extract_between(&picker.body, "name=\"identite\" value=\"", "\"").unwrap();
    let r = web
        .post(
            "/franceconnect-simulateur/api/v2/authorize",
            &[
                ("requete", &raw),
                ("identite", &identity),
                ("scenario", "normal"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    note(&r);
    // Back to Relais, then through FranceConnect's logout, to the recap.
    let mut next = local(&location(&r), &public);
    for _ in 0..5 {
        if next.starts_with("/mandats/brouillons/") {
            break;
        }
        let hop = web.get(&next).await;
        assert!(
            hop.status.is_redirection(),
            "{next} : {} {}",
            hop.status,
            hop.body
        );
        note(&hop);
        next = local(&location(&hop), &public);
    }
    let recap_path = next;
    assert!(
        recap_path.starts_with("/mandats/brouillons/"),
        "{recap_path}"
    );
    let recap = web.get(&recap_path).await;
    assert_eq!(recap.status, StatusCode::OK);
    note(&recap);
    // The recap asks a new code: the next 30-second step after the sign-in's.
    let step_after = (now() / 30 + 1) * 30 + 1;
    tokio::time::sleep(Duration::from_secs(
        u64::try_from(step_after - now()).unwrap_or(0),
    ))
    .await;
    let code = relais::accounts::totp::code_at(&secret, now()).unwrap();
    let r = web
        .post(&recap_path, &[("consentement", "1"), ("code", &code)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    note(&r);
    let mandate = web.get(&location(&r)).await;
    assert!(mandate.body.contains("Mandat créé"), "{}", mandate.body);
    assert_eq!(
        steps.len(),
        2,
        "the mandate's steps went through both servers: {steps:?}"
    );

    // The aidant logs into the demo online service for this person, through the
    // proxy: Relais as identity provider, every step on whichever server.
    let mut flow_steps = std::collections::BTreeSet::new();
    let r = web.get("/demo/service-en-ligne/connexion").await;
    flow_steps.insert(server_of(&r));
    let r = web.get(&local(&location(&r), &public)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    flow_steps.insert(server_of(&r));
    let flow = location(&r);
    let page = web.get(&flow).await;
    flow_steps.insert(server_of(&page));
    // prompt=login: a code of the next step again.
    let step_after = (now() / 30 + 1) * 30 + 1;
    tokio::time::sleep(Duration::from_secs(
        u64::try_from(step_after - now()).unwrap_or(0),
    ))
    .await;
    let code = relais::accounts::totp::code_at(&secret, now()).unwrap();
    let r = web
        .post(&format!("{flow}/confirmer"), &[("code", &code)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    flow_steps.insert(server_of(&r));
    let page = web.get(&flow).await;
    flow_steps.insert(server_of(&page));
    let usager = crate::common::extract_between(&page.body, "name=\"usager\" value=\"", "\"")
        .expect(&page.body);
    let r = web
        .post(&format!("{flow}/usager"), &[("usager", &usager)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    flow_steps.insert(server_of(&r));
    let page = web.get(&flow).await;
    flow_steps.insert(server_of(&page));
    let autorisation =
        crate::common::extract_between(&page.body, "name=\"autorisation\" value=\"", "\"")
            .expect(&page.body);
    let r = web
        .post(
            &format!("{flow}/demarche"),
            &[("autorisation", &autorisation)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    flow_steps.insert(server_of(&r));
    let done = web.get(&local(&location(&r), &public)).await;
    flow_steps.insert(server_of(&done));
    assert!(done.body.contains("Connexion réussie"), "{}", done.body);
    assert_eq!(flow_steps.len(), 2, "{flow_steps:?}");

    // Wrong passwords through the proxy, alternately on each server: the limit
    // (5 an account) counts them all.
    let mut other = Web::new(&public, &public);
    other.get("/connexion").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = other
            .post(
                "/connexion",
                &[
                    ("email", &referent),
                    ("password", "pas le bon"),
                    ("code", "000000"),
                ],
            )
            .await;
        statuses.push(r.status);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));

    // The daily jobs ran once across the servers.
    let logs: String = servers.iter().map(Server::output).collect();
    for job in ["conservation des données des mandats", "comptes inactifs"] {
        let runs = logs
            .lines()
            .filter(|l| l.contains(job) && l.contains("résultat"))
            .count();
        assert_eq!(runs, 1, "« {job} » lancé {runs} fois :\n{logs}");
    }
    let db = relais::db::Db::connect(&url, crate::common::TEST_SECRET)
        .await
        .unwrap();
    let jobs = db
        .fetch_all("SELECT name FROM jobs WHERE last_run_at IS NOT NULL", &[])
        .await
        .unwrap();
    assert!(!jobs.is_empty(), "the daily jobs ran");

    // A key rotation by the command line: every server signs with the new key
    // and publishes it within its cache time (10 s).
    let jwks = |port: u16| {
        let public = public.clone();
        async move {
            let mut w = Web::new(&format!("http://127.0.0.1:{port}"), &public);
            w.get("/oidc/jwks").await.body
        }
    };
    let before = jwks(ports[0]).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relais"))
        .args(["keys", "rotate"])
        .env("RELAIS_DATABASE_URL", &url)
        .env("RELAIS_SECRET_KEY", crate::common::TEST_SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let newest = db
        .fetch_one(
            "SELECT kid FROM idp_keys WHERE alg = 'ES256' AND status = 'next'",
            &[],
        )
        .await
        .unwrap()
        .text("kid")
        .unwrap();
    assert!(!before.contains(&newest));
    tokio::time::sleep(Duration::from_secs(11)).await;
    for port in &ports {
        assert!(jwks(*port).await.contains(&newest), "server {port}");
    }
    db.close().await;
    for s in &mut servers {
        let _ = s.child.kill().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Which server answered, as nginx says.
fn server_of(p: &Page) -> String {
    p.headers
        .get("x-relais-serveur")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn location(p: &Page) -> String {
    p.headers
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A redirect's target as a path of the proxy.
fn local(target: &str, public: &str) -> String {
    target.strip_prefix(public).unwrap_or(target).to_owned()
}

/// The servers' time: the real clock (they run on it).
fn now() -> i64 {
    use relais::clock::Clock as _;
    relais::clock::SystemClock.now()
}

/// A rolling upgrade: a server of the previous version (`RELAIS_PREVIOUS_BINARY`,
/// built by `.ci/run` from the commit named in `.ci/version-precedente`) serves
/// while a server of this version starts on the same database and applies the new
/// migrations; behind the proxy both serve the same sessions, and the previous
/// one still signs people in (it writes to the upgraded schema).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_of_the_previous_version_keeps_serving_during_an_upgrade() {
    if !crate::common::backends().contains(&relais::db::Backend::Postgres) {
        return;
    }
    let previous = match std::env::var("RELAIS_PREVIOUS_BINARY") {
        Ok(p) if !p.is_empty() && nginx_present() => p,
        _ => {
            assert!(
                std::env::var("RELAIS_REQUIRE_PREVIOUS").is_err(),
                "RELAIS_PREVIOUS_BINARY et nginx sont obligatoires quand .ci/run a construit la version précédente"
            );
            eprintln!(
                "NOTE : pas de binaire de la version précédente, mise à jour progressive non testée"
            );
            return;
        }
    };
    let Setup {
        url,
        dir,
        proxy_port,
        public,
    } = setup("maj").await;
    // The previous version alone: it migrates its own schema and serves.
    let old = spawn_binary(&previous, &dir, 0, &url, &public);
    let mut direct_old = Web::new(&format!("http://127.0.0.1:{}", old.port), &public);
    wait_ready(
        &mut direct_old,
        "le serveur de la version précédente",
        std::slice::from_ref(&old),
    )
    .await;
    let banner = old.output();
    let aidant = demo_account(&banner, "Aidant").expect(&banner);
    let referent = demo_account(&banner, "Référent").expect(&banner);
    let db = relais::db::Db::connect(&url, crate::common::TEST_SECRET)
        .await
        .unwrap();
    let versions = |db: relais::db::Db| async move {
        db.fetch_one("SELECT MAX(version) AS v FROM relais_migrations", &[])
            .await
            .unwrap()
            .get::<i64>("v")
            .unwrap()
    };
    let before = versions(db.clone()).await;
    let latest = relais::db::MIGRATIONS.last().map_or(0, |m| m.version);
    assert!(
        before < latest,
        "the previous version has fewer migrations ({before} < {latest})"
    );
    // A session opened on the previous version, before the upgrade.
    direct_old.sign_in(&aidant).await;
    // This version starts on the same database and migrates it, the previous one
    // still running.
    let new = spawn_server(&dir, 1, &url, &public);
    let mut direct_new = Web::new(&format!("http://127.0.0.1:{}", new.port), &public);
    let both = [old, new];
    wait_ready(&mut direct_new, "le serveur de cette version", &both).await;
    assert_eq!(versions(db.clone()).await, latest);
    let _proxy = spawn_proxy(&dir, proxy_port, &[both[0].port, both[1].port]);
    let mut web = Web::new(&public, &public);
    wait_ready(&mut web, "le proxy", &both).await;
    web.cookies = direct_old.cookies.clone();
    let mut answered = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let page = web.get("/espace").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        answered.insert(server_of(&page));
    }
    assert_eq!(answered.len(), 2, "{answered:?}");
    // The previous version still writes: it signs someone in on the new schema.
    let mut late = Web::new(&format!("http://127.0.0.1:{}", both[0].port), &public);
    late.sign_in(&referent).await;
    assert_eq!(late.get("/espace").await.status, StatusCode::OK);
    let logs: Vec<String> = both.iter().map(Server::output).collect();
    assert!(
        !logs
            .iter()
            .any(|l| l.contains(" ERROR ") || l.contains("\"level\":\"ERROR\"")),
        "{logs:#?}"
    );
    db.close().await;
    let [mut a, mut b] = both;
    let _ = a.child.kill().await;
    let _ = b.child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
