//! A real browser (headless Chromium through WebDriver): a référent signs in with
//! TOTP and invites an aidant, who opens the emailed link and activates the account.
//! axe-core checks every page visited: zero WCAG 2.1 A/AA violation.
//!
//! Needs `chromedriver`, `chromium` and `node_modules/axe-core` (installed by
//! `.ci/run`). Elsewhere the test says it is skipped; with `RELAIS_REQUIRE_BROWSER=1`
//! (set in CI) a missing tool fails it.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use relais::domain::Role;

use crate::common::{TestApp, backends, extract_between, test_config};

const AXE: &str = "node_modules/axe-core/axe.min.js";

fn tools_present() -> bool {
    let which = |b: &str| {
        std::process::Command::new("which")
            .arg(b)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let ok = which("chromedriver")
        && (which("chromium") || which("chromium-browser"))
        && std::path::Path::new(AXE).exists();
    if !ok {
        if std::env::var("RELAIS_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!(
                "test navigateur obligatoire : chromium, chromedriver ou {AXE} manquant (lancez .ci/run)"
            );
        }
        eprintln!(
            "NOTE : test navigateur ignoré (chromium, chromedriver ou axe-core absent ; .ci/run les installe)"
        );
    }
    ok
}

/// Browser tests run one at a time: two Chromium instances on two cores slow each
/// other down, and cookies of 127.0.0.1 do not depend on the port.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use crate::common::free_port;

/// ChromeDriver and the browser profile of one test: the driver is stopped and
/// the profile removed when the test ends, passed or not.
struct Driver {
    _child: tokio::process::Child,
    profile: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

async fn start_driver() -> (Driver, Client) {
    let port = free_port();
    let child = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let profile =
        std::env::temp_dir().join(format!("relais-chromium-{}-{port}", std::process::id()));
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": if std::path::Path::new("/usr/bin/chromium").exists() { "/usr/bin/chromium" } else { "chromium-browser" },
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1024,900",
                format!("--user-data-dir={}", profile.display())
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let mut last_error = String::new();
    for _ in 0..100 {
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps.clone());
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(c) => {
                let driver = Driver {
                    _child: child,
                    profile,
                };
                return (driver, c);
            }
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver injoignable : {last_error}");
}

/// Runs axe-core on the current page; fails on any WCAG 2.1 A/AA violation.
async fn axe(c: &Client, page: &str) {
    let source = std::fs::read_to_string(AXE).unwrap();
    c.execute(&source, vec![]).await.unwrap();
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                .then(r => done(r.violations.map(v => v.id + ' — ' + v.help + ' — ' + v.nodes.map(n => n.target.join(' ')).join(' | '))))
                .catch(e => done(['axe a échoué : ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    let violations: Vec<String> = serde_json::from_value(result).unwrap();
    assert!(
        violations.is_empty(),
        "axe sur {page} :\n{}",
        violations.join("\n")
    );
    // Every page checked here also fits a 320 px screen.
    fits(c, page, 320).await;
}

/// What does not fit the window: a horizontal scroll, a button or link-button of
/// the page's content outside the screen, two buttons touching, a checkbox or
/// radio smaller than 24 px.
const LAYOUT_PROBLEMS: &str = "
    const vw = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > vw + 1) {
        out.push('défilement horizontal : ' + document.documentElement.scrollWidth + ' px pour ' + vw);
        for (const e of document.querySelectorAll('body *')) {
            const r = e.getBoundingClientRect();
            if (r.right > vw + 1 && !e.closest('.table-wrap')) out.push('  dépasse : ' + e.tagName + '.' + e.className + '#' + e.id + ' → ' + Math.round(r.right));
        }
    }
    const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'
        && !e.closest('details:not([open]) > :not(summary)');
    const buttons = [...document.querySelectorAll('main button, main a.button')].filter(shown);
    const name = e => e.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60);
    for (const e of buttons) {
        const r = e.getBoundingClientRect();
        if (r.left < -1 || r.right > vw + 1) out.push('hors de l\\'écran : « ' + name(e) + ' »');
    }
    for (let i = 0; i < buttons.length; i++) for (let j = i + 1; j < buttons.length; j++) {
        const a = buttons[i].getBoundingClientRect(), b = buttons[j].getBoundingClientRect();
        const apartX = a.right + 4 <= b.left || b.right + 4 <= a.left;
        const apartY = a.bottom + 4 <= b.top || b.bottom + 4 <= a.top;
        if (!apartX && !apartY) out.push('boutons collés : « ' + name(buttons[i]) + ' » et « ' + name(buttons[j]) + ' »');
    }
    for (const e of [...document.querySelectorAll('input[type=checkbox], input[type=radio]')].filter(shown)) {
        const r = e.getBoundingClientRect();
        if (r.width < 24 || r.height < 24) out.push('case de ' + r.width + ' px : ' + e.id);
    }
    return out;";

/// The current page at `width` px: fails on any [`LAYOUT_PROBLEMS`]; the window
/// goes back to its size after.
async fn fits(c: &Client, page: &str, width: u32) {
    let (w, h) = c.get_window_size().await.unwrap();
    c.set_window_size(width, 900).await.unwrap();
    let inner = c
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap();
    assert_eq!(
        inner.as_u64(),
        Some(u64::from(width)),
        "fenêtre de {width} px"
    );
    let problems = c.execute(LAYOUT_PROBLEMS, vec![]).await.unwrap();
    let problems: Vec<String> = serde_json::from_value(problems).unwrap();
    c.set_window_size(u32::try_from(w).unwrap(), u32::try_from(h).unwrap())
        .await
        .unwrap();
    assert!(
        problems.is_empty(),
        "{page} à {width} px :\n{}",
        problems.join("\n")
    );
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// Clicks and waits until the next document has loaded (links and form submissions).
async fn click(c: &Client, css: &str) {
    c.execute("window.__relaisPrevious = true;", vec![])
        .await
        .unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    next_document(c, css).await;
}

/// Waits until the document that replaced the marked one has loaded.
async fn next_document(c: &Client, after: &str) {
    for _ in 0..200 {
        let loaded = c
            .execute("return typeof window.__relaisPrevious === 'undefined' && document.readyState === 'complete';", vec![])
            .await
            .unwrap();
        if loaded == serde_json::Value::Bool(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("la page suivante ne s'est pas chargée après {after}");
}

/// The application on a loopback port, as the browser sees it, served by the
/// production server (connection limit, timeouts).
async fn serve(backend: relais::db::Backend) -> (TestApp, String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = test_config();
    config.public_url = Some(base.clone());
    config.trust_forwarded_for = false;
    let app = TestApp::with_config(backend, config).await;
    let server = spawn_server(listener, &app);
    (app, base, server)
}

fn spawn_server(listener: tokio::net::TcpListener, app: &TestApp) -> tokio::task::JoinHandle<()> {
    let router = app.router.clone();
    let limits = relais::web::server::Limits::from_config(&app.state.config);
    tokio::spawn(relais::web::server::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ))
}

/// The application, and FranceConnect on **another origin**, as in production:
/// a second Relais whose simulator answers at `http://localhost:PORT` while the
/// application is at `http://127.0.0.1:PORT` (another host name, so another origin
/// for the browser: the CSP's `form-action` and the cookies are tested for real).
/// The application's back-channel calls (discovery, token, keys, userinfo) go to
/// the second one; both share one clock.
async fn serve_with_franceconnect(
    backend: relais::db::Backend,
) -> (TestApp, String, TestApp, Vec<tokio::task::JoinHandle<()>>) {
    let app_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", app_listener.local_addr().unwrap());
    let fc_base = format!(
        "http://localhost:{}",
        fc_listener.local_addr().unwrap().port()
    );
    let clock = relais::clock::ManualClock::new(crate::common::START);
    let mut fc_config = test_config();
    fc_config.public_url = Some(fc_base.clone());
    fc_config.trust_forwarded_for = false;
    fc_config.fc_redirect_uri = Some(format!("{base}/mandats/franceconnect/retour"));
    fc_config.fc_post_logout_uri = Some(format!("{base}/mandats/franceconnect/deconnecte"));
    fc_config.fc_usager_redirect_uri = Some(format!("{base}/mon-espace/franceconnect/retour"));
    fc_config.fc_usager_post_logout_uri =
        Some(format!("{base}/mon-espace/franceconnect/deconnecte"));
    let fc = TestApp::with_clock(backend, fc_config, clock.clone()).await;
    let mut config = test_config();
    config.public_url = Some(base.clone());
    config.trust_forwarded_for = false;
    config.fc_issuer = Some(format!(
        "{fc_base}{}/api/v2",
        relais::config::SIMULATOR_PREFIX
    ));
    let app = TestApp::with_clock(backend, config, clock).await;
    *app.slot.lock().unwrap() = Some(fc.router.clone());
    let servers = vec![
        spawn_server(app_listener, &app),
        spawn_server(fc_listener, &fc),
    ];
    (app, base, fc, servers)
}

/// Fills the sign-in form (already open) and submits it.
async fn sign_in(c: &Client, app: &TestApp, user: &crate::common::User) {
    fill(c, "#email", &user.email).await;
    fill(c, "#password", &user.password).await;
    fill(c, "#code", &app.next_code(&user.secret)).await;
    click(c, "form.form button[type=submit]").await;
}

async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referent_signs_in_and_invites_an_aidant_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, server) = serve(backend).await;
        let s = app.structure("Médiathèque d'Auxerre").await;
        let referent = app.member(s, Role::Referent, "referente").await;
        let (_driver, c) = start_driver().await;

        c.goto(&base).await.unwrap();
        axe(&c, "accueil").await;
        c.goto(&format!("{base}/connexion")).await.unwrap();
        axe(&c, "connexion").await;
        // A failed attempt first: the error is announced and the page stays accessible.
        fill(&c, "#email", &referent.email).await;
        fill(&c, "#password", "pas le bon mot de passe").await;
        fill(&c, "#code", "000000").await;
        click(&c, "form.form button[type=submit]").await;
        let src = c.source().await.unwrap();
        assert!(src.contains("incorrect"), "{src}");
        assert!(c.title().await.unwrap().starts_with("Erreur : "));
        axe(&c, "connexion en erreur").await;
        sign_in(&c, &app, &referent).await;
        assert_eq!(path(&c).await, "/espace");
        axe(&c, "mon espace").await;

        click(&c, "nav a[href$='/equipe']").await;
        assert_eq!(path(&c).await, format!("/structures/{s}/equipe"));
        axe(&c, "équipe").await;
        click(&c, "main a.button").await;
        assert_eq!(path(&c).await, format!("/structures/{s}/equipe/inviter"));
        axe(&c, "inviter").await;
        // Submitting empty shows the error summary, tied to the fields.
        click(&c, "form.form button[type=submit]").await;
        assert!(c.source().await.unwrap().contains("error-summary"));
        // The title says « Erreur » first and the summary has the focus, without
        // any script.
        let focus = c
            .execute(
                "return document.activeElement.className + '|' + document.title",
                vec![],
            )
            .await
            .unwrap();
        let focus = focus.as_str().unwrap_or_default();
        assert!(focus.starts_with("error-summary|Erreur : "), "{focus}");
        axe(&c, "inviter en erreur").await;
        fill(&c, "#full_name", "Ana Aidante").await;
        fill(&c, "#email", "ana@mediatheque-auxerre.fr").await;
        click(&c, "form.form button[type=submit]").await;
        assert_eq!(path(&c).await, format!("/structures/{s}/equipe"));
        let team = c.source().await.unwrap();
        assert!(team.contains("Ana Aidante") && team.contains("En attente de formation"));
        axe(&c, "équipe après ajout").await;
        fits(&c, "équipe", 320).await;
        c.goto(&format!("{base}/compte")).await.unwrap();
        axe(&c, "mon compte").await;
        for (page, name) in [
            ("/accessibilite", "déclaration d'accessibilité"),
            ("/mentions-legales", "mentions légales"),
            ("/donnees-personnelles", "données personnelles"),
            ("/contact", "contact"),
        ] {
            c.goto(&format!("{base}{page}")).await.unwrap();
            axe(&c, name).await;
        }
        click(&c, "nav form button").await;
        assert_eq!(path(&c).await, "/connexion");

        // Her training is recorded (administrators' page, tested elsewhere): she is
        // invited, opens the link in the same browser and activates.
        assert!(
            app.sent()
                .iter()
                .all(|m| m.to != "ana@mediatheque-auxerre.fr")
        );
        let ana = relais::formations::list(app.db(), None, "ana@", 10)
            .await
            .unwrap()
            .first()
            .unwrap()
            .account_id;
        let admin = app.admin().await;
        let invitation = relais::formations::record(
            app.db(),
            ana,
            &relais::formations::check("formé", "2020-01-01", "2030-01-01").unwrap(),
            admin.id,
            app.clock_now(),
        )
        .await
        .unwrap()
        .unwrap();
        let link = format!("/activation/{}", invitation.token);
        c.goto(&format!("{base}{link}")).await.unwrap();
        axe(&c, "activation").await;
        let page = c.source().await.unwrap();
        let secret = extract_between(&page, "<code class=\"secret\">", "</code>")
            .unwrap()
            .replace(' ', "");
        fill(&c, "#password", "ana lit beaucoup de romans").await;
        fill(&c, "#password_confirmation", "ana lit beaucoup de romans").await;
        fill(&c, "#code", &app.next_code(&secret)).await;
        click(&c, "form.form button[type=submit]").await;
        assert_eq!(path(&c).await, "/espace");
        assert!(c.source().await.unwrap().contains("Médiathèque d"));
        axe(&c, "espace de l'aidante").await;
        c.goto(&format!("{base}/nulle-part")).await.unwrap();
        axe(&c, "page introuvable").await;

        c.close().await.unwrap();
        server.abort();
    }
}

/// An aidant creates a mandate end to end in a real browser (FranceConnect simulator
/// included), prints the attestation, checks it on the public page; the référent
/// reads the journal. axe-core on every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aidant_creates_a_mandate_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, _franceconnect, servers) = serve_with_franceconnect(backend).await;
        let s = app.structure("France Services de Joigny").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let referent = app.member(s, Role::Referent, "referent").await;
        let (_driver, c) = start_driver().await;

        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &aidant).await;
        click(&c, "nav a[href='/mandats/nouveau']").await;
        axe(&c, "nouveau mandat").await;
        // Nothing chosen: the errors are announced.
        click(&c, "form.form button[type=submit]").await;
        assert!(c.source().await.unwrap().contains("error-summary"));
        axe(&c, "nouveau mandat en erreur").await;
        c.find(Locator::Css("#demarche-social"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::Css("#demarche-logement"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::Css("#duree-182"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The 303 to FranceConnect, on another origin, is followed (CSP form-action).
        click(&c, "form.form button[type=submit]").await;
        let at_fc = c.current_url().await.unwrap();
        assert_eq!(at_fc.host_str(), Some("localhost"), "{at_fc}");
        assert!(at_fc.path().ends_with("/api/v2/authorize"), "{at_fc}");
        axe(&c, "simulateur FranceConnect").await;
        c.find(Locator::Css("#id-nguyen-van-an"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        click(&c, "form.form button[type=submit]").await;
        assert!(
            path(&c).await.starts_with("/mandats/brouillons/"),
            "{}",
            path(&c).await
        );
        let recap = c.source().await.unwrap();
        assert!(recap.contains("Van An NGUYEN"), "{recap}");
        axe(&c, "récapitulatif").await;
        c.find(Locator::Css("#consentement-case"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        fill(&c, "#code", &app.next_code(&aidant.secret)).await;
        click(&c, "form.form button[type=submit]").await;
        assert!(path(&c).await.starts_with("/mandats/"));
        assert!(c.source().await.unwrap().contains("Mandat créé"));
        axe(&c, "mandat").await;
        fits(&c, "mandat", 320).await;
        click(&c, "main a[href^='/attestations/']").await;
        let print = c.source().await.unwrap();
        assert!(print.contains("Attestation de mandat"));
        axe(&c, "attestation imprimable").await;
        fits(&c, "attestation", 320).await;
        // Room to sign: two boxes of at least 3 cm (113 px at 96 dpi).
        let heights = c
            .execute(
                "return [...document.querySelectorAll('.signature-space')].map(e => e.getBoundingClientRect().height);",
                vec![],
            )
            .await
            .unwrap();
        let heights: Vec<f64> = serde_json::from_value(heights).unwrap();
        assert_eq!(heights.len(), 2);
        assert!(heights.iter().all(|h| *h >= 113.0), "{heights:?}");
        // The print stylesheet, as the browser prints: page numbers, the issuer,
        // the signatures, and none of the site's navigation.
        let printed = c
            .print(
                fantoccini::wd::PrintConfiguration::builder()
                    .size(fantoccini::wd::PrintSize::A4)
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        if let Some(text) = crate::common::pdf_text(&printed) {
            for expected in [
                "Page 1 sur 1",
                "Mandat n° 1",
                "établi avec Relais",
                "Signature de la personne aidée",
                "Fait à",
                "Vérifier ce document",
            ] {
                assert!(text.contains(expected), "« {expected} » absent :\n{text}");
            }
            assert!(
                !text.contains("Se déconnecter"),
                "navigation imprimée :\n{text}"
            );
        }
        let token = path(&c)
            .await
            .trim_start_matches("/attestations/")
            .to_owned();
        c.goto(&format!("{base}/usagers")).await.unwrap();
        let list = c.source().await.unwrap();
        assert!(list.contains("Van An NGUYEN"), "{list}");
        axe(&c, "usagers").await;
        fits(&c, "usagers", 320).await;
        click(&c, "main table a").await;
        axe(&c, "fiche usager").await;
        c.goto(&format!("{base}/verifier/{token}")).await.unwrap();
        let verdict = c.source().await.unwrap();
        assert!(
            verdict.contains("Attestation authentique"),
            "{backend:?} /verifier/{token} : {verdict}"
        );
        axe(&c, "vérification").await;
        click(&c, "nav form button").await;

        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &referent).await;
        click(&c, "nav a[href$='/journal']").await;
        let journal = c.source().await.unwrap();
        assert!(journal.contains("Création d") && journal.contains("Van An NGUYEN"));
        axe(&c, "journal").await;

        c.close().await.unwrap();
        for server in servers {
            server.abort();
        }
    }
}

/// The demo online service asks Relais to log an aidant in for a usager: the aidant
/// signs in, chooses the usager and the démarche, and lands back on the service.
/// axe-core on every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aidant_logs_into_a_service_for_a_usager_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, server) = serve(backend).await;
        let s = app.structure("Mairie de Sens").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let who = relais::mandats::Identity {
            sub_hash: relais::crypto::sha256_hex("navigateur-fi"),
            given_name: "Marie-Hélène".into(),
            family_name: "LEFÈVRE".into(),
            preferred_username: "GARNIER".into(),
            birthdate: "1948-11-02".into(),
            gender: "female".into(),
            birthplace: "2A004".into(),
            birthcountry: "99100".into(),
            email: "mh.lefevre@exemple.fr".into(),
        };
        crate::common::mandate(
            &app,
            s,
            aidant.id,
            relais::mandats::UsagerRef::Identified(&who),
            &[relais::mandats::Demarche::Famille],
            relais::mandats::Duree::Mois,
        )
        .await
        .unwrap();
        let (_driver, c) = start_driver().await;
        c.goto(&format!("{base}/demo/service-en-ligne"))
            .await
            .unwrap();
        axe(&c, "service en ligne de démonstration").await;
        click(&c, "main a.button").await;
        // Not signed in yet: the sign-in page, then back to the request.
        assert_eq!(path(&c).await, "/connexion");
        sign_in(&c, &app, &aidant).await;
        assert!(
            path(&c).await.starts_with("/oidc/autorisation/"),
            "{}",
            path(&c).await
        );
        let page = c.source().await.unwrap();
        assert!(page.contains("Pour quelle personne"), "{page}");
        axe(&c, "choix de la personne").await;
        c.find(Locator::Css("fieldset input[type=radio]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        click(&c, "form.form button[type=submit]").await;
        assert!(c.source().await.unwrap().contains("Pour quelle démarche"));
        axe(&c, "choix de la démarche").await;
        click(&c, "form.form button[type=submit]").await;
        assert_eq!(path(&c).await, "/demo/service-en-ligne/retour");
        let done = c.source().await.unwrap();
        assert!(done.contains("Connexion réussie"), "{done}");
        assert!(done.contains("Marie-Hélène GARNIER"));
        axe(&c, "retour au service").await;
        click(&c, "main a.button").await;
        assert_eq!(path(&c).await, "/demo/service-en-ligne");
        c.close().await.unwrap();
        server.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_are_imported_searched_and_shown_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, server) = serve(backend).await;
        let admin = app.admin().await;
        let file = std::env::temp_dir().join(format!(
            "relais-lieux-{}-{}.csv",
            std::process::id(),
            crate::common::unique()
        ));
        std::fs::write(
            &file,
            "id,pivot,nom,commune,code_postal,adresse,latitude,longitude,telephone,horaires,date_maj,services,frais_a_charge\n\
             l-1,21890024000015,Médiathèque d'Auxerre,Auxerre,89000,2 rue de l'Essai,47.79,3.57,+33386000000,Mo-Fr 09:00-12:00,2024-05-01,Aide aux démarches administratives,Gratuit\n\
             l-2,21890024000015,Mairie d'Appoigny,Appoigny,89380,3 rue,47.875,3.527,,Sa 09:00-12:00,2024-05-01,Loisirs et créations numériques,Payant\n",
        )
        .unwrap();
        let (_driver, c) = start_driver().await;
        // An administrator imports the file through the upload page.
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &admin).await;
        c.goto(&format!("{base}/admin/lieux")).await.unwrap();
        axe(&c, "import des lieux").await;
        c.find(Locator::Css("#fichier"))
            .await
            .unwrap()
            .send_keys(&file.display().to_string())
            .await
            .unwrap();
        fill(&c, "#source", "essai-navigateur").await;
        click(&c, "form.form button[type=submit]").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("2 ajoutés"), "{page}");
        axe(&c, "rapport d'import").await;
        // Anyone searches, with a filter, and opens a place.
        c.goto(&format!("{base}/lieux")).await.unwrap();
        axe(&c, "recherche de lieux").await;
        fill(&c, "#q", "Auxerre").await;
        click(&c, "form[role=search] button[type=submit]").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("2 lieux trouvés"), "{page}");
        axe(&c, "résultats").await;
        c.find(Locator::Css("details:nth-of-type(5) summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::Css("input[value=Gratuit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        click(&c, "form[role=search] button[type=submit]").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("1 lieu trouvé"), "{page}");
        click(&c, "ol.results a").await;
        assert!(path(&c).await.starts_with("/lieux/"));
        let page = c.source().await.unwrap();
        assert!(page.contains("Horaires de cette semaine"), "{page}");
        axe(&c, "page d'un lieu").await;
        c.close().await.unwrap();
        server.abort();
        let _ = std::fs::remove_file(&file);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_structure_applies_and_is_instructed_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, server) = serve(backend).await;
        let (_driver, c) = start_driver().await;
        // The requester, without an account.
        c.goto(&format!("{base}/habilitation")).await.unwrap();
        axe(&c, "demande d'habilitation").await;
        fill(&c, "#email", "mairie@vezelay.example.fr").await;
        click(&c, "form.form button[type=submit]").await;
        axe(&c, "lien envoyé").await;
        let mail = app
            .sent()
            .into_iter()
            .find(|m| m.to == "mairie@vezelay.example.fr")
            .unwrap();
        let link = extract_between(&mail.body, "/habilitation/demande/", "\n").unwrap();
        c.goto(&format!("{base}/habilitation/demande/{link}"))
            .await
            .unwrap();
        axe(&c, "formulaire de demande").await;
        for (id, value) in [
            ("#name", "Mairie de Vézelay"),
            ("#siret", "73282932000074"),
            ("#address", "1 place du Champ-de-Foire"),
            ("#commune_insee", "89446"),
            ("#referent_name", "Claire Martin"),
            ("#referent_email", "claire.martin@vezelay.example.fr"),
            ("#referent_profession", "Secrétaire de mairie"),
            ("#dpo_name", "Paul Durand"),
            ("#dpo_email", "dpo@vezelay.example.fr"),
            ("#aidant-1-name", "Léa Petit"),
            ("#aidant-1-email", "lea.petit@vezelay.example.fr"),
            ("#aidant-1-profession", "Agent d'accueil"),
        ] {
            fill(&c, id, value).await;
        }
        c.find(Locator::Css("#kind option[value=mairie]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // Sent without the commitments: the error is shown and linked.
        click(&c, "button[value=envoyer]").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("quatre engagements"), "{page}");
        axe(&c, "demande avec erreur").await;
        c.find(Locator::Css("#commitments"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        click(&c, "button[value=envoyer]").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("Envoyée, en cours d'instruction"), "{page}");
        axe(&c, "demande envoyée").await;
        // An administrator instructs it.
        let admin = app.admin().await;
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &admin).await;
        c.goto(&format!("{base}/admin/habilitations"))
            .await
            .unwrap();
        axe(&c, "liste des demandes").await;
        click(&c, "main table a").await;
        axe(&c, "instruction d'une demande").await;
        c.find(Locator::Css("#d-accept"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        click(&c, "form[action$=decision] button[type=submit]").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("Acceptée"), "{page}");
        c.goto(&format!("{base}/admin/formations")).await.unwrap();
        assert!(c.source().await.unwrap().contains("Léa Petit"));
        axe(&c, "formation des aidants").await;
        fits(&c, "formation des aidants", 1280).await;
        fits(&c, "formation des aidants", 320).await;
        c.close().await.unwrap();
        server.abort();
    }
}

/// Sends keys to a field and waits for the next document (Enter submits the form).
async fn press(c: &Client, css: &str, keys: &str) {
    c.execute("window.__relaisPrevious = true;", vec![])
        .await
        .unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
    next_document(c, css).await;
}

/// Ticks a radio button or a checkbox with the space bar.
async fn tick(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(" ")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediator_records_activities_with_the_keyboard_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, server) = serve(backend).await;
        let s = app.structure("Espace numérique d'Auxerre").await;
        let mediator = app.member(s, Role::Mediateur, "mediatrice").await;
        let read = relais::lieux::read_csv(
            "id,pivot,nom,commune,code_postal,code_insee,adresse,latitude,longitude,date_maj,source\n\
             l-cra,21890024000015,Médiathèque d'Auxerre,Auxerre,89000,89024,2 rue de l'Essai,47.79,3.57,2024-05-01,Essai\n"
                .as_bytes(),
            relais::lieux::Encoding::Utf8,
        )
        .unwrap();
        relais::lieux::import(app.db(), read, "essai", false, app.clock_now())
            .await
            .unwrap();
        let lieu = app
            .db()
            .fetch_one("SELECT id FROM lieux", relais::args![])
            .await
            .unwrap()
            .int("id")
            .unwrap();
        relais::activites::add_place(app.db(), mediator.id, lieu, app.clock_now())
            .await
            .unwrap();
        let (_driver, c) = start_driver().await;
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &mediator).await;
        assert_eq!(path(&c).await, "/activites");
        axe(&c, "mes activités").await;

        // An individual accompaniment with the keyboard only: the date and the
        // place are already there; duration, material and thématique by the
        // space bar, Enter sends.
        c.goto(&format!("{base}/activites/individuel/nouveau"))
            .await
            .unwrap();
        axe(&c, "nouvel accompagnement individuel").await;
        tick(&c, "#duree-30").await;
        tick(&c, "#materiel-telephone").await;
        tick(&c, "#thematique-email").await;
        press(&c, "#tags", "\u{E007}").await;
        assert_eq!(path(&c).await, "/activites");
        let page = c.source().await.unwrap();
        assert!(page.contains("Activité enregistrée."), "{page}");

        // A workshop with a mistake first: the error is beside its field.
        c.goto(&format!("{base}/activites/collectif/nouveau"))
            .await
            .unwrap();
        axe(&c, "nouvel atelier").await;
        fill(&c, "#titre", "Découvrir sa messagerie").await;
        tick(&c, "#duree-120").await;
        tick(&c, "#lieu_type-a_distance").await;
        tick(&c, "#thematique-email").await;
        fill(&c, "#anon_total", "4").await;
        fill(&c, "#genre_feminin", "5").await;
        press(&c, "#anon_total", "\u{E007}").await;
        assert!(c.title().await.unwrap().starts_with("Erreur : "));
        axe(&c, "atelier en erreur").await;
        fill(&c, "#genre_feminin", "3").await;
        press(&c, "#anon_total", "\u{E007}").await;
        assert_eq!(path(&c).await, "/activites");

        c.goto(&format!("{base}/activites/statistiques"))
            .await
            .unwrap();
        let page = c.source().await.unwrap();
        assert!(
            page.contains("<strong>5</strong> accompagnements"),
            "{page}"
        );
        axe(&c, "statistiques").await;
        c.goto(&format!("{base}/beneficiaires/nouveau"))
            .await
            .unwrap();
        axe(&c, "nouveau bénéficiaire").await;
        c.goto(&format!("{base}/mediateur/lieux?commune=89000"))
            .await
            .unwrap();
        axe(&c, "lieux d'activité").await;
        c.goto(&format!("{base}/beneficiaires/doublons"))
            .await
            .unwrap();
        axe(&c, "doublons").await;
        c.goto(&format!("{base}/mediateur/profil")).await.unwrap();
        axe(&c, "profil de médiateur").await;
        c.goto(&format!("{base}/statistiques")).await.unwrap();
        let page = c.source().await.unwrap();
        assert!(page.contains("Yonne (89)"), "{page}");
        axe(&c, "chiffres nationaux").await;
        c.close().await.unwrap();
        server.abort();
    }
}

/// Signs out (cookies dropped) and signs in as `user`.
async fn switch_to(c: &Client, app: &TestApp, base: &str, user: &crate::common::User) {
    c.delete_all_cookies().await.unwrap();
    c.goto(&format!("{base}/connexion")).await.unwrap();
    sign_in(c, app, user).await;
}

/// The pass numérique from the order to the place's payment, each role in the
/// browser: funder (order), operator (payment, allocation), prescripteur
/// (hand-out), mediator (check then redeem), référent (statement), operator
/// (payment run), anyone (the pass, used). axe-core on every page; the pass's
/// page at 320 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_goes_from_order_to_payment_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, server) = serve(backend).await;
        let admin = app.admin().await;
        let (fid, agent) = app.funder("Conseil départemental de l'Yonne").await;
        let prescripteur = app.structure("France Services de Sens").await;
        relais::pass::set_prescripteur(app.db(), prescripteur, admin.id, app.clock_now())
            .await
            .unwrap();
        let conseillere = app.member(prescripteur, Role::Aidant, "conseillere").await;
        let place = app.structure("Espace numérique d'Auxerre").await;
        let referent = app.member(place, Role::Referent, "referent-pass").await;
        let mediator = app.member(place, Role::Mediateur, "mediateur-pass").await;
        let mut fields = relais::pass::RawQualification {
            siret: String::new(),
            commune: "Auxerre (89)".into(),
            lieu: String::new(),
            services: vec!["Maîtrise des outils numériques du quotidien".into()],
            reponses: relais::pass::QUESTIONS
                .iter()
                .map(|(k, _)| (*k).to_owned())
                .collect(),
            iban: "FR7630006000011234567890189".into(),
            bic: "BNPAFRPP".into(),
            titulaire: "Espace numérique".into(),
        };
        fields.siret = (0..10)
            .map(|d| format!("4100000000{place:03}{d}"))
            .find(|s| relais::pass::check_siret(s).is_some())
            .unwrap();
        let qid = relais::pass::apply(app.db(), place, &fields, referent.id, app.clock_now())
            .await
            .unwrap();
        relais::pass::decide(app.db(), qid, true, "", admin.id, app.clock_now())
            .await
            .unwrap();
        let (_driver, c) = start_driver().await;

        // The funder orders two carnets of ten pass for the Yonne.
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &agent).await;
        assert_eq!(path(&c).await, "/financeur");
        axe(&c, "tableau du financeur").await;
        c.goto(&format!("{base}/financeur/commandes/nouvelle"))
            .await
            .unwrap();
        axe(&c, "nouvelle commande").await;
        click(&c, "form.form button[type=submit]").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("Saisissez un nombre de carnets"), "{page}");
        axe(&c, "nouvelle commande en erreur").await;
        fill(&c, "#carnets", "2").await;
        fill(&c, "#territoire", "89").await;
        let today = relais::activites::today(app.clock_now());
        c.execute(
            "document.getElementById('debut').value = arguments[0];
             document.getElementById('fin').value = arguments[1];",
            vec![
                relais::activites::date_iso(today).into(),
                relais::activites::date_iso(relais::pass::add_days(today, 180)).into(),
            ],
        )
        .await
        .unwrap();
        tick(&c, "#public-seniors").await;
        click(&c, "form.form button[type=submit]").await;
        let cid = relais::pass::commandes(app.db(), fid).await.unwrap()[0].id;
        assert_eq!(path(&c).await, format!("/financeur/commandes/{cid}"));
        axe(&c, "commande du financeur").await;
        let carnets = c
            .find(Locator::Css("a[href$='carnets.pdf']"))
            .await
            .unwrap();
        assert!(carnets.text().await.unwrap().contains("carnets à imprimer"));

        // The operator records the payment and confides the carnets.
        switch_to(&c, &app, &base, &admin).await;
        c.goto(&format!("{base}/admin/pass")).await.unwrap();
        axe(&c, "console du pass numérique").await;
        c.goto(&format!("{base}/admin/pass/commandes/{cid}"))
            .await
            .unwrap();
        axe(&c, "commande pour l'opérateur").await;
        fill(&c, "#reference", "OP-2027-0042").await;
        click(&c, "form[action$='/paiement'] button").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("pass actifs"), "{page}");
        axe(&c, "commande payée").await;
        click(&c, "form[action$='/allocation'] button").await;
        assert!(c.source().await.unwrap().contains("Carnets confiés"));

        // The prescripteur's agent hands out carnet 1.
        let codes = relais::pass::carnets::codes(app.db(), cid, 1, 1)
            .await
            .unwrap()
            .remove(0)
            .codes;
        switch_to(&c, &app, &base, &conseillere).await;
        c.goto(&format!("{base}/pass/remise")).await.unwrap();
        axe(&c, "remise d'un carnet").await;
        fill(&c, "#code", &relais::pass::code::display(&codes[4])).await;
        click(&c, "form.form button[type=submit]").await;
        assert!(c.source().await.unwrap().contains("Carnet n° 1 remis"));
        axe(&c, "carnet remis").await;

        // At the place, the mediator types the code, checks, redeems.
        switch_to(&c, &app, &base, &mediator).await;
        c.goto(&format!("{base}/pass/lieu")).await.unwrap();
        axe(&c, "pass du lieu").await;
        fill(&c, "#code", &codes[0].to_lowercase()).await;
        click(&c, "form.form button[type=submit]").await;
        assert_eq!(path(&c).await, format!("/pass/{}", codes[0]));
        assert!(c.source().await.unwrap().contains("Ce pass est valable"));
        axe(&c, "pass valable").await;
        fits(&c, "pass valable", 320).await;
        click(&c, "form[action$='/utiliser'] button").await;
        assert_eq!(path(&c).await, "/pass/lieu");
        assert!(c.source().await.unwrap().contains("Pass utilisé"));
        axe(&c, "pass utilisé").await;

        // The next month's statement, read by the place's référent.
        app.clock.advance(40 * 86_400);
        relais::pass::expiry::run(app.db(), app.clock_now())
            .await
            .unwrap();
        switch_to(&c, &app, &base, &referent).await;
        c.goto(&format!("{base}/structures/{place}/pass"))
            .await
            .unwrap();
        let page = c.source().await.unwrap();
        assert!(
            page.contains("10,00 €") && page.contains("à payer"),
            "{page}"
        );
        axe(&c, "relevés du lieu").await;

        // The operator's payment run.
        switch_to(&c, &app, &base, &admin).await;
        c.goto(&format!("{base}/admin/pass")).await.unwrap();
        tick(&c, "input[name=releve]").await;
        fill(&c, "#reference", "VIR-2027-01").await;
        click(&c, "form[action$='/releves/paiement'] button").await;
        assert!(c.source().await.unwrap().contains("Relevés marqués payés"));
        axe(&c, "relevés payés").await;

        // Anyone with the pass: used, and never who held it.
        c.delete_all_cookies().await.unwrap();
        c.goto(&format!("{base}/pass/{}?cp=89000", codes[0]))
            .await
            .unwrap();
        let page = c.source().await.unwrap();
        assert!(page.contains("déjà été utilisé"), "{page}");
        assert!(page.contains("Espace numérique") || page.contains("Aucun lieu qualifié"));
        axe(&c, "pass utilisé, vu par le public").await;
        c.close().await.unwrap();
        server.abort();
    }
}

/// The aidant sends a mandate at a distance, the person consents on their own
/// (FranceConnect on another origin), then signs in to their space, reads it,
/// revokes and signs out. axe-core on every page, 320 px where people read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mandate_at_a_distance_and_the_usager_space_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, _franceconnect, servers) = serve_with_franceconnect(backend).await;
        let s = app.structure("Mairie de Saint-Fargeau").await;
        let aidant = app.member(s, Role::Aidant, "aidant-distance").await;
        let (_driver, c) = start_driver().await;

        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &aidant).await;
        c.goto(&format!("{base}/mandats/nouveau")).await.unwrap();
        click(&c, "main a[href='/mandats/a-distance']").await;
        axe(&c, "mandat à distance").await;
        fits(&c, "mandat à distance", 320).await;
        tick(&c, "#demarche-social").await;
        tick(&c, "#duree-182").await;
        tick(&c, "#canal-email").await;
        fill(&c, "#email", "van-an@example.fr").await;
        click(&c, "form.form button[type=submit]").await;
        assert!(path(&c).await.starts_with("/mandats/a-distance/"));
        let sent = c.source().await.unwrap();
        assert!(sent.contains("En attente de l"), "{sent}");
        axe(&c, "lien envoyé").await;
        let status_page = c.current_url().await.unwrap();

        // On the person's phone: the link from the email.
        let mail = app.sent().last().unwrap().body.clone();
        let start = mail.find("http").unwrap();
        let link = mail[start..].split_whitespace().next().unwrap().to_owned();
        c.goto(&link).await.unwrap();
        axe(&c, "consentement").await;
        fits(&c, "consentement", 320).await;
        tick(&c, "#accord-case").await;
        click(&c, "form.form button[type=submit]").await;
        let at_fc = c.current_url().await.unwrap();
        assert_eq!(at_fc.host_str(), Some("localhost"), "{at_fc}");
        tick(&c, "#id-nguyen-van-an").await;
        click(&c, "form.form button[type=submit]").await;
        let done = c.source().await.unwrap();
        assert!(done.contains("le mandat est créé"), "{done}");
        assert_eq!(path(&c).await, "/mon-espace/franceconnect/deconnecte");
        axe(&c, "mandat accepté").await;

        // The aidant sees it appear.
        c.goto(status_page.as_str()).await.unwrap();
        assert!(c.source().await.unwrap().contains("Accepté : mandat créé"));

        // The person's own space (the aidant signs out first: a shared computer).
        click(&c, "nav form button").await;
        c.goto(&format!("{base}/")).await.unwrap();
        click(&c, "main a[href='/mon-espace']").await;
        axe(&c, "mon espace, accueil").await;
        fits(&c, "mon espace, accueil", 320).await;
        click(&c, "main a[href='/mon-espace/comprendre']").await;
        axe(&c, "comprendre le mandat").await;
        c.goto(&format!("{base}/mon-espace")).await.unwrap();
        click(&c, "main form button[type=submit]").await;
        tick(&c, "#id-nguyen-van-an").await;
        click(&c, "form.form button[type=submit]").await;
        assert_eq!(path(&c).await, "/mon-espace/mandats");
        let mine = c.source().await.unwrap();
        assert!(
            mine.contains("Mairie de Saint-Fargeau") && mine.contains("en cours"),
            "{mine}"
        );
        axe(&c, "mes mandats").await;
        fits(&c, "mes mandats", 320).await;
        click(&c, "main a.button[href^='/mon-espace/mandats/']").await;
        axe(&c, "mon mandat").await;
        fits(&c, "mon mandat", 320).await;
        click(&c, "main a[href$='/revoquer']").await;
        axe(&c, "arrêter le mandat").await;
        click(&c, "form.form button[type=submit]").await;
        let after = c.source().await.unwrap();
        assert!(after.contains("le mandat est arrêté"), "{after}");
        axe(&c, "mandat arrêté").await;
        click(&c, "main a[href='/mon-espace/suppression']").await;
        axe(&c, "supprimer mes données").await;
        c.goto(&format!("{base}/mon-espace/mandats")).await.unwrap();
        click(&c, "main form.inline-form button").await;
        let bye = c.source().await.unwrap();
        assert!(bye.contains("Vous êtes déconnecté(e)"), "{bye}");
        axe(&c, "déconnecté").await;

        c.close().await.unwrap();
        for server in servers {
            server.abort();
        }
    }
}

/// A territorial account's dashboard, the actors page, the conseillers import,
/// the administrators' territories, and the public figures with their
/// département picker and open data: axe-core on every page, 320 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steering_dashboards_and_public_figures_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, server) = serve(backend).await;
        let s = app.structure("Mairie de Joigny").await;
        app.db()
            .execute(
                "UPDATE structures SET commune_insee = '89206' WHERE id = $1",
                relais::args![s],
            )
            .await
            .unwrap();
        app.member(s, Role::Aidant, "aidant-joigny").await;
        relais::pilotage::donnees::publish(app.db(), app.clock_now())
            .await
            .unwrap();
        let national = app
            .territorial(&relais::pilotage::Territoire::national())
            .await;
        let admin = app.admin().await;
        let (_driver, c) = start_driver().await;

        c.goto(&format!("{base}/chiffres")).await.unwrap();
        assert!(c.source().await.unwrap().contains("Relais en chiffres"));
        axe(&c, "Relais en chiffres").await;
        fits(&c, "Relais en chiffres", 320).await;
        c.find(Locator::Css("#departement"))
            .await
            .unwrap()
            .select_by_value("89")
            .await
            .unwrap();
        click(&c, "form.filters button[type=submit]").await;
        assert!(c.source().await.unwrap().contains("Yonne (89)"));
        axe(&c, "chiffres de l'Yonne").await;
        c.goto(&format!("{base}/donnees-ouvertes")).await.unwrap();
        assert!(c.source().await.unwrap().contains("statistiques.csv"));
        axe(&c, "données ouvertes").await;

        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &national).await;
        assert_eq!(path(&c).await, "/pilotage");
        let page = c.source().await.unwrap();
        assert!(
            page.contains("France entière") && page.contains("carte-titre"),
            "{page}"
        );
        axe(&c, "pilotage national").await;
        fits(&c, "pilotage national", 320).await;
        c.find(Locator::Css("#departement"))
            .await
            .unwrap()
            .select_by_value("89")
            .await
            .unwrap();
        click(&c, "form.filters button[type=submit]").await;
        assert!(c.source().await.unwrap().contains("Pilotage — Yonne (89)"));
        axe(&c, "pilotage de l'Yonne").await;
        click(&c, "main a[href^='/pilotage/acteurs']").await;
        assert!(c.source().await.unwrap().contains("Mairie de Joigny"));
        axe(&c, "acteurs du territoire").await;
        fits(&c, "acteurs du territoire", 320).await;
        c.goto(&format!("{base}/pilotage/conseillers"))
            .await
            .unwrap();
        axe(&c, "conseillers numériques").await;
        click(&c, "form.form button[type=submit]").await;
        assert_eq!(path(&c).await, "/pilotage");
        assert!(c.source().await.unwrap().contains("sont à jour"));
        click(&c, "nav form button").await;

        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &admin).await;
        c.goto(&format!("{base}/admin/territoires")).await.unwrap();
        axe(&c, "territoires (administration)").await;
        fill(&c, "#hub-nom", "Hub de Bourgogne-Franche-Comté").await;
        fill(&c, "#hub-departements", "21, 25, 39, 58, 70, 71, 89, 90").await;
        click(&c, "form[action='/admin/territoires/hubs'] button").await;
        assert!(c.source().await.unwrap().contains("Le hub est créé"));
        axe(&c, "hub créé").await;

        c.close().await.unwrap();
        server.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_is_requested_and_handled_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, server) = serve(backend).await;
        let s = app.structure("Ligne nationale").await;
        let agent = app
            .member(s, relais::domain::Role::Aidant, "ecoutante")
            .await;
        relais::rappels::set_participation(
            app.db(),
            s,
            Some("national"),
            agent.id,
            app.clock_now(),
        )
        .await
        .unwrap();
        let (_driver, c) = start_driver().await;
        // A person asks to be called back from the home page, with the keyboard's
        // usual fields; a mistake first.
        c.goto(&format!("{base}/")).await.unwrap();
        click(&c, "a[href='/rappel']").await;
        axe(&c, "demande de rappel").await;
        fits(&c, "demande de rappel", 320).await;
        fill(&c, "#rappel-prenom", "Odile").await;
        fill(&c, "#rappel-telephone", "06 12 34").await;
        fill(&c, "#rappel-cp", "89000").await;
        c.find(Locator::Css("#rappel-besoin option[value=email]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        tick(&c, "#creneau-matin").await;
        tick(&c, "#rappel-consentement").await;
        click(&c, "form.form button[type=submit]").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("vérifiez-le"), "{page}");
        axe(&c, "demande de rappel avec une erreur").await;
        fits(&c, "demande de rappel avec une erreur", 320).await;
        fill(&c, "#rappel-telephone", "06 12 34 56 78").await;
        click(&c, "form.form button[type=submit]").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("Votre demande est enregistrée"), "{page}");
        axe(&c, "demande enregistrée").await;
        // The helpline's agent calls back and closes the request.
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &agent).await;
        c.goto(&format!("{base}/rappels")).await.unwrap();
        axe(&c, "file des demandes").await;
        fits(&c, "file des demandes", 320).await;
        click(&c, "table tbody th a").await;
        axe(&c, "une demande").await;
        fits(&c, "une demande", 320).await;
        let page = c.source().await.unwrap();
        assert!(page.contains("06 12 34 56 78"), "{page}");
        click(&c, "input[value=prendre] ~ p button").await;
        tick(&c, "#appel-joint").await;
        fill(&c, "#appel-texte", "Boîte e-mail rouverte ensemble.").await;
        click(&c, "input[value=appel] ~ p button").await;
        assert!(c.source().await.unwrap().contains("Appel noté."));
        tick(&c, "#issue-resolu").await;
        click(&c, "input[value=cloture] ~ p button").await;
        assert!(c.source().await.unwrap().contains("Demande clôturée."));
        c.goto(&format!("{base}/rappels/chiffres")).await.unwrap();
        axe(&c, "chiffres du service").await;
        fits(&c, "chiffres du service", 320).await;
        let page = c.source().await.unwrap();
        assert!(page.contains("<strong>1</strong> clôturées"), "{page}");
        c.close().await.unwrap();
        server.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_is_written_published_and_found_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, server) = serve(backend).await;
        let s = app.structure("Médiathèque").await;
        let author = app.member(s, relais::domain::Role::Aidant, "autrice").await;
        let admin = app.admin().await;
        relais::ressources::fiches::seed(app.db(), admin.id, app.clock_now())
            .await
            .unwrap();
        let (_driver, c) = start_driver().await;
        // The author writes a resource in Markdown and proposes it.
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &author).await;
        c.goto(&format!("{base}/ressources/nouvelle"))
            .await
            .unwrap();
        axe(&c, "nouvelle ressource").await;
        fits(&c, "nouvelle ressource", 320).await;
        fill(
            &c,
            "#r-titre",
            "Utiliser le mode « numériser » du téléphone",
        )
        .await;
        fill(
            &c,
            "#r-resume",
            "Transformer une photo de document en PDF lisible.",
        )
        .await;
        fill(
            &c,
            "#r-corps",
            "## Pas à pas\n\n1. Ouvrir l'appareil photo\n2. Choisir **Numériser**",
        )
        .await;
        tick(&c, "#public-aidants").await;
        tick(&c, "#thematique-prendre_en_main_du_materiel").await;
        click(&c, "form.form button[type=submit]").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("Version enregistrée"), "{page}");
        axe(&c, "ressource enregistrée").await;
        click(&c, "form[action$='/proposer'] button").await;
        assert!(
            c.source()
                .await
                .unwrap()
                .contains("proposée à la relecture")
        );
        c.goto(&format!("{base}/ressources/mes-ressources"))
            .await
            .unwrap();
        axe(&c, "mes ressources").await;
        // An administrator publishes it.
        click(&c, "form[action='/deconnexion'] button").await;
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &admin).await;
        c.goto(&format!("{base}/ressources/relecture"))
            .await
            .unwrap();
        axe(&c, "ressources à relire").await;
        fits(&c, "ressources à relire", 320).await;
        click(&c, "table tbody th a").await;
        axe(&c, "relecture").await;
        fits(&c, "relecture", 320).await;
        tick(&c, "#d-publier").await;
        click(&c, "form[action$='/decision'] button[type=submit]").await;
        assert!(c.source().await.unwrap().contains("Ressource publiée"));
        click(&c, "form[action='/deconnexion'] button").await;
        // Anyone finds it, opens it, browses a collection and the initiatives.
        c.goto(&format!("{base}/ressources")).await.unwrap();
        axe(&c, "centre de ressources").await;
        fits(&c, "centre de ressources", 320).await;
        fill(&c, "#r-q", "numeriser").await;
        click(&c, "form[role=search] button[type=submit]").await;
        click(&c, "ol.results a").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("<h2>Pas à pas</h2>"), "{page}");
        axe(&c, "une ressource").await;
        fits(&c, "une ressource", 320).await;
        c.goto(&format!("{base}/ressources")).await.unwrap();
        click(&c, "ul.cards a").await;
        axe(&c, "une collection").await;
        fits(&c, "une collection", 320).await;
        c.goto(&format!("{base}/initiatives")).await.unwrap();
        axe(&c, "initiatives").await;
        fits(&c, "initiatives", 320).await;
        c.close().await.unwrap();
        server.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equipment_kit_is_asked_allocated_and_lent_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    for backend in backends() {
        let (app, base, server) = serve(backend).await;
        let s = app.structure("Mairie d'Auxerre").await;
        let referent = app
            .member(s, relais::domain::Role::Referent, "referente")
            .await;
        let admin = app.admin().await;
        let (_driver, c) = start_driver().await;
        // An administrator opens a campaign.
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &admin).await;
        c.goto(&format!("{base}/admin/equipements")).await.unwrap();
        axe(&c, "kits d'inclusion").await;
        fits(&c, "kits d'inclusion", 320).await;
        fill(&c, "#c-nom", "Kits 2027").await;
        fill(&c, "#c-budget", "50 000").await;
        let day = relais::time_fr::iso(app.clock_now() + 30 * 86_400);
        c.execute(
            "document.getElementById('c-cloture').value = arguments[0];",
            vec![serde_json::json!(&day[..10])],
        )
        .await
        .unwrap();
        click(&c, "form.form button[type=submit]").await;
        assert!(c.source().await.unwrap().contains("Campagne ouverte"));
        click(&c, "form[action='/deconnexion'] button").await;
        // The structure applies.
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &referent).await;
        c.goto(&format!("{base}/structures/{s}/equipements"))
            .await
            .unwrap();
        axe(&c, "équipements de la structure").await;
        fits(&c, "équipements de la structure", 320).await;
        fill(&c, "#q-tablette", "2").await;
        fill(&c, "#d-usages", "Permanences hors les murs.").await;
        click(&c, "form[action$='/demandes'] button").await;
        assert!(c.source().await.unwrap().contains("Demande déposée"));
        click(&c, "form[action='/deconnexion'] button").await;
        // The administrator allocates and delivers.
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &admin).await;
        c.goto(&format!("{base}/admin/equipements")).await.unwrap();
        click(&c, "table tbody th a").await;
        axe(&c, "une campagne").await;
        fits(&c, "une campagne", 320).await;
        tick(&c, "input[value=allouer]").await;
        fill(&c, "input[name^=prix-]", "300").await;
        click(&c, "form[action$='/decision'] button").await;
        assert!(c.source().await.unwrap().contains("Décision enregistrée"));
        fill(&c, "input[name=fournisseur]", "Atelier du Réemploi").await;
        c.execute(
            "document.querySelector('input[name=date]').value = arguments[0];",
            vec![serde_json::json!(
                &relais::time_fr::iso(app.clock_now())[..10]
            )],
        )
        .await
        .unwrap();
        tick(&c, "input[value=reconditionne]").await;
        fill(&c, "textarea[name=numeros]", "TB-001\nTB-002").await;
        click(&c, "form[action$='/livraison'] button").await;
        let page = c.source().await.unwrap();
        assert!(page.contains("Livraison enregistrée"), "{page}");
        axe(&c, "campagne livrée").await;
        click(&c, "form[action='/deconnexion'] button").await;
        // The inventory shows the devices.
        c.goto(&format!("{base}/connexion")).await.unwrap();
        sign_in(&c, &app, &referent).await;
        c.goto(&format!("{base}/structures/{s}/equipements"))
            .await
            .unwrap();
        let page = c.source().await.unwrap();
        assert!(page.contains("TB-002"), "{page}");
        axe(&c, "inventaire").await;
        fits(&c, "inventaire", 320).await;
        c.close().await.unwrap();
        server.abort();
    }
}
