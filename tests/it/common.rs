//! Test harness: an app per test on a fresh database, a manual clock, an in-memory
//! outbox, and a cookie-keeping client that behaves like a browser.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use relais::clock::ManualClock;
use relais::config::Config;
use relais::db::{Backend, Db};
use relais::domain::{Email, Role};
use relais::mail::Mailer;
use relais::web::{self, AppState, Inner, RouteInfo};

pub const ORIGIN: &str = "http://relais.test";
pub const START: i64 = 1_800_000_000;
/// The server secret of every test app (and of the keys its database derives).
pub const TEST_SECRET: &str = "clé de test suffisamment longue pour les essais";

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn unique() -> u32 {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// The backends every test runs on.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    match std::env::var("RELAIS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => v.push(Backend::Postgres),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "RELAIS_TEST_DATABASE_URL doit être défini en CI : la suite tourne aussi sur PostgreSQL"
                );
            }
            static NOTICE: std::sync::Once = std::sync::Once::new();
            NOTICE.call_once(|| {
                eprintln!("NOTE : RELAIS_TEST_DATABASE_URL absent, tests PostgreSQL ignorés (SQLite seulement)");
            });
        }
    }
    v
}

/// A fresh, migrated database for one test.
pub async fn fresh_db(backend: Backend) -> Db {
    fresh_db_with_url(backend).await.0
}

/// A fresh, migrated database and its URL (to remove its file afterwards).
async fn fresh_db_with_url(backend: Backend) -> (Db, String) {
    let url = empty_db_url(backend).await;
    let db = Db::connect(&url, TEST_SECRET).await.unwrap();
    relais::migrate(&db, START).await.unwrap();
    (db, url)
}

/// Where the SQLite databases of the tests live.
fn sqlite_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("relais-it")
}

/// Removes a test's SQLite database and its companions. Connections still open
/// keep their (unlinked) file until they close, so this is safe at any time.
pub fn remove_sqlite_files(url: &str) {
    let Some(path) = url.strip_prefix("sqlite://") else {
        return;
    };
    if !std::path::Path::new(path).starts_with(sqlite_dir()) {
        return;
    }
    for suffix in ["", "-wal", "-shm", ".demarrage"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}

/// SQLite files left by earlier runs of the suite (a test that panicked, a run
/// interrupted) are removed once per run, like the PostgreSQL databases: CI
/// machines are reused and their disk is not endless.
fn remove_stale_sqlite_files(dir: &std::path::Path, pid: u32) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner = name
                .strip_prefix("t-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            let alive = owner
                .is_some_and(|p| p == pid || std::path::Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    });
}

/// The URL of a new, empty database (nothing migrated): what a server finds on
/// its first start.
pub async fn empty_db_url(backend: Backend) -> String {
    let n = unique();
    let pid = std::process::id();
    match backend {
        Backend::Sqlite => {
            let dir = sqlite_dir();
            std::fs::create_dir_all(&dir).unwrap();
            remove_stale_sqlite_files(&dir, pid);
            let path = dir.join(format!("t-{pid}-{n}.db"));
            for suffix in ["", "-wal", "-shm", ".demarrage"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            format!("sqlite://{}", path.display())
        }
        Backend::Postgres => {
            let admin_url = std::env::var("RELAIS_TEST_DATABASE_URL").unwrap();
            let admin = Db::connect(&admin_url, TEST_SECRET).await.unwrap();
            drop_stale_databases(&admin, pid).await;
            let name = format!("relais_it_{pid}_{n}");
            admin
                .run_script(&format!("DROP DATABASE IF EXISTS {name}"))
                .await
                .unwrap();
            admin
                .run_script(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            admin.close().await;
            let mut url = url::Url::parse(&admin_url).unwrap();
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
    }
}

/// Databases left by earlier runs of the suite are dropped once per run.
async fn drop_stale_databases(admin: &Db, pid: u32) {
    static ONCE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    ONCE.get_or_init(|| async {
                let rows = admin.fetch_all("SELECT CAST(datname AS TEXT) AS datname FROM pg_database WHERE datname LIKE 'relais_it_%'", &[])
            .await
            .unwrap();
        let mine = format!("relais_it_{pid}_");
        for row in rows {
            let name: String = row.get("datname").unwrap();
            // Databases of a test run still alive (another process) are left alone.
            let owner_alive = name
                .trim_start_matches("relais_it_")
                .split('_')
                .next()
                .is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
            if !name.starts_with(&mine) && !owner_alive {
                let _ = admin
                    .run_script(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
    })
    .await;
}

pub struct TestApp {
    /// The router the in-process HTTP client calls; emptied on drop to break the
    /// state → client → router → state cycle (so each test's pool is closed).
    pub slot: Arc<std::sync::Mutex<Option<Router>>>,
    pub backend: Backend,
    pub router: Router,
    pub routes: Vec<RouteInfo>,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub mailer: Mailer,
    /// The test database's URL: its SQLite file is removed on drop.
    db_url: String,
}

/// A person with an activated account.
#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub password: String,
    pub secret: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Ok(mut s) = self.slot.lock() {
            *s = None;
        }
        let dir = &self.state.config.data_dir;
        if dir.starts_with(std::env::temp_dir()) {
            let _ = std::fs::remove_dir_all(dir);
        }
        remove_sqlite_files(&self.db_url);
    }
}

impl TestApp {
    pub async fn new(backend: Backend) -> TestApp {
        capture::install();
        Self::with_config(backend, test_config()).await
    }

    pub async fn with_config(backend: Backend, config: Config) -> TestApp {
        Self::with_clock(backend, config, ManualClock::new(START)).await
    }

    /// An app sharing `clock` with another (FranceConnect on another origin).
    pub async fn with_clock(backend: Backend, config: Config, clock: Arc<ManualClock>) -> TestApp {
        let (db, db_url) = fresh_db_with_url(backend).await;
        let mailer = Mailer::memory();
        let dummy_hash = relais::accounts::password::hash("mot de passe factice".into())
            .await
            .unwrap();
        let (http, slot) = relais::franceconnect::http::HttpClient::in_process();
        let state = AppState::new(
            Inner::build(db, config, clock.clone(), mailer.clone(), dummy_hash, http).unwrap(),
        );
        let (router, routes) = web::app(state.clone());
        *slot.lock().unwrap() = Some(router.clone());
        TestApp {
            slot,
            backend,
            router,
            routes,
            state,
            clock,
            mailer,
            db_url,
        }
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// The text messages written to the development outbox, oldest first:
    /// (provider id, recipient, text).
    pub fn sms_sent(&self) -> Vec<(String, String, String)> {
        let dir = self.state.config.data_dir.join("sms");
        let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| (e.metadata().and_then(|m| m.modified()).unwrap(), e.path()))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| {
                let text = std::fs::read_to_string(&p).unwrap();
                let (head, body) = text.split_once("\n\n").unwrap();
                (
                    p.file_stem().unwrap().to_string_lossy().into_owned(),
                    head.trim_start_matches("À : ").to_owned(),
                    body.trim().to_owned(),
                )
            })
            .collect()
    }

    pub fn client(&self) -> Client {
        Client {
            router: self.router.clone(),
            cookies: HashMap::new(),
            csrf: None,
            ip: format!("10.1.{}.{}", unique() / 250, unique() % 250),
            origin: Some(ORIGIN.to_owned()),
        }
    }

    /// Moves the clock to the next TOTP step and returns the user's code there.
    pub fn next_code(&self, secret: &str) -> String {
        self.clock.advance(30);
        relais::accounts::totp::code_at(secret, self.clock_now()).unwrap()
    }

    pub fn clock_now(&self) -> i64 {
        use relais::clock::Clock;
        self.clock.now()
    }

    pub fn sent(&self) -> Vec<relais::mail::Email> {
        self.mailer.sent()
    }

    /// Opens an emailed activation link and completes it; returns the TOTP secret.
    pub async fn activate_from_email(&self, c: &mut Client, email: &str, password: &str) -> String {
        let link = link_path(&self.last_email_to(email).body);
        let page = c.get(&link).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.contains("<svg"), "QR code shown");
        let secret = extract_between(&page.body, "<code class=\"secret\">", "</code>")
            .unwrap()
            .replace(' ', "");
        let code = self.next_code(&secret);
        let r = c
            .post(
                &link,
                &[
                    ("password", password),
                    ("password_confirmation", password),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        secret
    }

    /// Fails unless every chain of the journal verifies (hashes, links, signed heads).
    pub async fn assert_journal_intact(&self) {
        let v = relais::journal::verify(self.db()).await.unwrap();
        assert_eq!(v.first_broken, None, "journal broken");
    }

    /// The details of the journal entries of `chain` with `action`, oldest first.
    pub async fn journal_details(&self, chain: i64, action: &str) -> Vec<String> {
        self.db()
            .fetch_all(
                "SELECT details FROM journal WHERE chain = $1 AND action = $2 ORDER BY id",
                relais::args![chain, action],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("details").unwrap())
            .collect()
    }

    /// The last email sent to `to`.
    pub fn last_email_to(&self, to: &str) -> relais::mail::Email {
        self.sent()
            .into_iter()
            .rev()
            .find(|m| m.to == to)
            .unwrap_or_else(|| panic!("aucun e-mail pour {to}"))
    }

    pub async fn structure(&self, name: &str) -> i64 {
        let n = unique();
        let s = relais::structures::NewStructure {
            name: name.to_owned(),
            siret: relais::domain::Siret::parse(&siret(n)).unwrap(),
            address: "2 rue de l'Essai, 89000 Auxerre".into(),
            commune_insee: relais::domain::InseeCode::parse("89024").unwrap(),
            kind: relais::domain::StructureKind::Mairie,
            is_demo: false,
        };
        relais::structures::create(self.db(), &s, self.clock_now())
            .await
            .unwrap()
    }

    /// Invites and activates a member through the domain API (the same code the
    /// pages call), returning the credentials.
    pub async fn member(&self, structure_id: i64, role: Role, label: &str) -> User {
        let email = format!("{label}-{}@exemple.fr", unique());
        let outcome = relais::accounts::invite(
            self.db(),
            structure_id,
            &Email::parse(&email).unwrap(),
            &format!("Personne {label}"),
            role,
            None,
            self.clock_now(),
        )
        .await
        .unwrap();
        let token = match outcome {
            relais::accounts::InviteOutcome::Invited { token, .. } => token,
            other => panic!("invitation inattendue : {other:?}"),
        };
        self.activate(&email, &token).await
    }

    pub async fn admin(&self) -> User {
        let email = format!("admin-{}@exemple.fr", unique());
        let token = relais::accounts::create_admin(
            self.db(),
            &Email::parse(&email).unwrap(),
            "Admin Test",
            self.clock_now(),
        )
        .await
        .unwrap();
        self.activate(&email, &token).await
    }

    /// A pass numérique funder (created by the operator) and one of its agents.
    pub async fn funder(&self, name: &str) -> (i64, User) {
        let fid =
            relais::pass::create_financeur(self.db(), name, "departement", "", 0, self.clock_now())
                .await
                .unwrap();
        let email = format!("financeur-{}@exemple.fr", unique());
        let token = relais::pass::add_financeur_member(
            self.db(),
            fid,
            &Email::parse(&email).unwrap(),
            "Agent du financeur",
            0,
            self.clock_now(),
        )
        .await
        .unwrap()
        .unwrap();
        (fid, self.activate(&email, &token).await)
    }

    /// Someone following `territoire`'s steering figures.
    pub async fn territorial(&self, territoire: &relais::pilotage::Territoire) -> User {
        let email = format!("pilotage-{}@exemple.fr", unique());
        let token = relais::pilotage::add_account(
            self.db(),
            &Email::parse(&email).unwrap(),
            "Chargée de pilotage",
            territoire,
            self.admin().await.id,
            self.clock_now(),
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
        self.activate(&email, &token).await
    }

    async fn activate(&self, email: &str, token: &str) -> User {
        let act = relais::accounts::open_activation(self.db(), token, self.clock_now())
            .await
            .unwrap()
            .unwrap();
        let secret = act.new_totp_secret.clone().unwrap();
        let password = format!("une phrase de passe {}", unique());
        let code = self.next_code(&secret);
        let input = relais::accounts::ActivationInput {
            password: &password,
            password_confirmation: &password,
            code: &code,
        };
        match relais::accounts::complete_activation(self.db(), &act, input, self.clock_now())
            .await
            .unwrap()
        {
            relais::accounts::ActivationResult::Done(a) => User {
                id: a.id,
                email: email.to_owned(),
                password,
                secret,
            },
            _ => panic!("activation refusée"),
        }
    }

    /// A client signed in as `user`.
    pub async fn login(&self, user: &User) -> Client {
        let mut c = self.client();
        let code = self.next_code(&user.secret);
        let r = c
            .post(
                "/connexion",
                &[
                    ("email", &user.email),
                    ("password", &user.password),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "connexion de {} : {}",
            user.email,
            r.body
        );
        c
    }
}

/// The secret the test SMS provider signs its delivery reports with.
pub const SMS_CALLBACK_SECRET: &str = "secret des accusés SMS de test";

pub fn test_config() -> Config {
    Config {
        public_url: Some(ORIGIN.to_owned()),
        trust_forwarded_for: true,
        secret_key: TEST_SECRET.to_owned(),
        fc_timeout_ms: 1_000,
        // SMS go to files there (the development outbox), one folder per app.
        data_dir: std::env::temp_dir().join(format!(
            "relais-test-{}-{}",
            std::process::id(),
            unique()
        )),
        sms_callback_secret: Some(SMS_CALLBACK_SECRET.to_owned()),
        ..Config::default()
    }
}

/// A valid SIRET (Luhn) built from `n`.
pub fn siret(n: u32) -> String {
    let base = format!("{:013}", 1_000_000 + n);
    for d in 0..10 {
        let candidate = format!("{base}{d}");
        if relais::domain::Siret::parse(&candidate).is_ok() {
            return candidate;
        }
    }
    unreachable!()
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// A redirect to the sign-in page made by the access guard.
    pub fn is_login_redirect(&self) -> bool {
        self.status.is_redirection()
            && (self.location() == "/connexion"
                || self.location().starts_with("/connexion?suivant="))
    }
    /// The body contains `text`, once HTML escapes are undone.
    pub fn contains(&self, text: &str) -> bool {
        self.body.contains(text) || unescape(&self.body).contains(text)
    }
}

/// A browser-like client: keeps cookies, sends `Origin`, fills `_csrf` in forms.
#[derive(Clone)]
pub struct Client {
    router: Router,
    pub cookies: HashMap<String, String>,
    csrf: Option<String>,
    pub ip: String,
    pub origin: Option<String>,
}

impl Client {
    pub async fn send(&mut self, req: Request<Body>) -> Resp {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        if keep_cookies(&mut self.cookies, &headers) {
            self.csrf = None;
        }
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(token) = extract_between(&body, "name=\"_csrf\" value=\"", "\"") {
            self.csrf = Some(token);
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    fn cookie_header(&self) -> String {
        cookie_header(&self.cookies)
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        let req = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .header("x-forwarded-for", self.ip.clone())
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    /// A GET with a bearer token (API endpoints).
    pub async fn get_bearer(&mut self, path: &str, token: &str) -> Resp {
        let req = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    /// A GET with extra headers; the body as it came (compressed or not).
    pub async fn get_raw(
        &mut self,
        path: &str,
        extra: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut req = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .header("x-forwarded-for", self.ip.clone());
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let res = self
            .router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, headers, bytes)
    }

    /// A GET whose body is returned as bytes (PDF).
    pub async fn get_bytes(&mut self, path: &str) -> Vec<u8> {
        let req = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .header("x-forwarded-for", self.ip.clone())
            .body(Body::empty())
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.into_body().collect().await.unwrap().to_bytes().to_vec()
    }

    /// The CSRF token a browser would have in its current page.
    pub async fn csrf(&mut self) -> String {
        if self.csrf.is_none() {
            let page = if self.cookies.contains_key("relais_session") {
                "/compte"
            } else {
                "/connexion"
            };
            self.get(page).await;
        }
        self.csrf.clone().unwrap_or_default()
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = vec![("_csrf", &token)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// A POST without CSRF token and with one extra header (API clients).
    pub async fn post_with_header(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        name: &str,
        value: &str,
    ) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(name, value)
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    /// A JSON POST with one extra header (a provider's callback).
    pub async fn post_json_with_header(
        &mut self,
        path: &str,
        body: &str,
        name: &str,
        value: &str,
    ) -> Resp {
        let req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(name, value)
            .body(Body::from(body.to_owned()))
            .unwrap();
        self.send(req).await
    }

    /// A POST exactly as given (no CSRF token added).
    /// A `multipart/form-data` form (file upload); `_csrf` is sent when `csrf`.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
        csrf: bool,
    ) -> Resp {
        let boundary = "----relais-essai-7MA4YWxkTrZu0gW";
        let mut body: Vec<u8> = Vec::new();
        let token = if csrf { Some(self.csrf().await) } else { None };
        let mut text_part = |name: &str, value: &str| {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        };
        if let Some(t) = &token {
            text_part("_csrf", t);
        }
        for (k, v) in fields {
            text_part(k, v);
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                file.0, file.1
            )
            .as_bytes(),
        );
        body.extend_from_slice(file.2);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut req = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("x-forwarded-for", self.ip.clone());
        if let Some(o) = &self.origin {
            req = req.header(header::ORIGIN, o.clone());
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("x-forwarded-for", self.ip.clone());
        if let Some(o) = &self.origin {
            req = req.header(header::ORIGIN, o.clone());
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }
}

pub fn extract_between(text: &str, start: &str, end: &str) -> Option<String> {
    let i = text.find(start)? + start.len();
    let rest = &text[i..];
    let j = rest.find(end)?;
    Some(rest[..j].to_owned())
}

/// The path of the first activation link in an email body.
pub fn link_path(body: &str) -> String {
    let start = body.find("/activation/").expect("lien absent de l'e-mail");
    body[start..].split_whitespace().next().unwrap().to_owned()
}

/// Runs `$body` (an async closure taking a `TestApp`) on every backend.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in $crate::common::backends() {
                let app = $crate::common::TestApp::new(backend).await;
                let f = $body;
                f(app).await;
            }
        }
    };
}

pub fn unescape(html: &str) -> String {
    html.replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Writes a mandate through the domain API (the code the recap page calls).
pub async fn mandate(
    app: &TestApp,
    structure_id: i64,
    account_id: i64,
    usager: relais::mandats::UsagerRef<'_>,
    demarches: &[relais::mandats::Demarche],
    duree: relais::mandats::Duree,
) -> Result<relais::mandats::Created, relais::mandats::MandatError> {
    relais::mandats::create(
        app.db(),
        &app.state.signer,
        relais::mandats::Actor {
            account_id,
            structure_id,
        },
        &relais::mandats::NewMandat {
            demarches,
            duree,
            is_remote: false,
            usager,
            renewed_from: None,
            draft_id: None,
            consent: None,
        },
        app.clock_now(),
    )
    .await
}

/// Log capture for one thread: a global subscriber (installed once) whose filter
/// lets events through only on a thread that captures. The filter is a
/// `DynFilterFn`, asked at every event: a plain `FilterFn` answers once per callsite
/// and that answer is cached, so a callsite first hit by another test (not
/// capturing) would stay disabled for the capturing one.
pub mod capture {
    use std::cell::RefCell;
    use std::sync::{Arc, Mutex};

    thread_local! {
        static BUF: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
    }

    pub struct Writer;
    impl std::io::Write for Writer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            BUF.with(|c| {
                if let Some(buf) = c.borrow().as_ref() {
                    buf.lock().unwrap().extend_from_slice(b);
                }
            });
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capturing() -> bool {
        BUF.with(|c| c.borrow().is_some())
    }

    /// Installs the capturing subscriber. Every test app calls it before running
    /// anything that logs, so no callsite is registered while it is being installed.
    pub fn install() {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(|| Writer)
                .with_filter(tracing_subscriber::filter::dynamic_filter_fn(|_, _| {
                    capturing()
                }));
            let _ =
                tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
        });
    }

    /// Captures what this thread logs while `f` runs.
    pub fn run<T>(f: impl FnOnce() -> T) -> (T, String) {
        install();
        let buf = Arc::new(Mutex::new(Vec::new()));
        BUF.with(|c| *c.borrow_mut() = Some(buf.clone()));
        let out = f();
        BUF.with(|c| *c.borrow_mut() = None);
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        (out, text)
    }
}

/// Reads an export as a French spreadsheet opens it: the byte-order mark (UTF-8),
/// `;` between fields, CRLF line ends, and `="01053"` shown as the text `01053`.
/// Panics when the file is not laid out so.
pub fn spreadsheet(body: &str) -> Vec<Vec<String>> {
    let text = body
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark first, or Excel misreads the accents");
    assert!(
        text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\n'),
        "CRLF line ends"
    );
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .flexible(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| {
            r.expect("one row")
                .iter()
                .map(
                    |cell| match cell.strip_prefix("=\"").and_then(|c| c.strip_suffix('"')) {
                        Some(code) => {
                            assert!(
                                code.bytes().all(|b| b.is_ascii_digit()),
                                "only codes as formulas"
                            );
                            code.to_owned()
                        }
                        None => {
                            assert!(
                                !cell.starts_with(['=', '+', '@']),
                                "formula neutralised: {cell}"
                            );
                            cell.to_owned()
                        }
                    },
                )
                .collect()
        })
        .collect()
}

/// The column named `name` of a spreadsheet read by [`spreadsheet`].
pub fn column<'a>(rows: &'a [Vec<String>], name: &str) -> Vec<&'a str> {
    let i = rows[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("colonne {name} absente : {:?}", rows[0]));
    rows[1..].iter().map(|r| r[i].as_str()).collect()
}

/// A PDF's text, extracted with pdftotext (poppler-utils); `None` outside CI when
/// pdftotext is missing (the check is then skipped with a notice).
pub fn pdf_text(bytes: &[u8]) -> Option<String> {
    assert!(bytes.starts_with(b"%PDF-"));
    let dir = std::env::temp_dir().join(format!("relais-pdf-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a.pdf");
    std::fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-enc")
        .arg("UTF-8")
        .arg(&file)
        .arg("-")
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let Ok(out) = out else {
        assert!(
            std::env::var("CI").is_err(),
            "pdftotext (poppler-utils) est obligatoire en CI"
        );
        eprintln!("NOTE : pdftotext absent, texte du PDF non vérifié");
        return None;
    };
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Checks that a PDF's text holds each of `expected`.
pub fn check_pdf_text(bytes: &[u8], expected: &[&str]) {
    let Some(text) = pdf_text(bytes) else {
        return;
    };
    for e in expected {
        assert!(text.contains(e), "« {e} » absent du PDF :\n{text}");
    }
}

/// Keeps the cookies a response sets (a browser's jar; an empty value or
/// `Max-Age=0` removes one). Returns whether the session cookie changed (the
/// CSRF token of the pages read so far is then stale).
pub fn keep_cookies(jar: &mut HashMap<String, String>, headers: &axum::http::HeaderMap) -> bool {
    let mut session = false;
    for v in headers.get_all(header::SET_COOKIE) {
        let v = v.to_str().unwrap();
        let pair = v.split(';').next().unwrap();
        let Some((k, val)) = pair.split_once('=') else {
            continue;
        };
        session |= k == "relais_session";
        if val.is_empty() || v.contains("Max-Age=0") {
            jar.remove(k);
        } else {
            jar.insert(k.to_owned(), val.to_owned());
        }
    }
    session
}

/// The `Cookie` header of a jar.
pub fn cookie_header(jar: &HashMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A free TCP port on the loopback (for a server, a driver or a proxy).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
