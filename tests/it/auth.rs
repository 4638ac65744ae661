//! Sign-in, TOTP, throttling, CSRF, sessions, password reset.

use axum::http::StatusCode;
use relais::domain::Role;

use crate::both_backends;
use crate::common::{Client, TestApp, link_path, unescape};

const BAD_LOGIN: &str = "Adresse e-mail, mot de passe ou code incorrect";

async fn try_login(
    app: &TestApp,
    c: &mut Client,
    email: &str,
    password: &str,
    code: &str,
) -> crate::common::Resp {
    let _ = app;
    c.post(
        "/connexion",
        &[("email", email), ("password", password), ("code", code)],
    )
    .await
}

both_backends!(
    aidant_signs_in_with_password_and_totp,
    |app: TestApp| async move {
        let s = app.structure("Mairie de Test").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let mut c = app.client();
        let r = c.get("/espace").await;
        assert!(r.is_login_redirect(), "anonymous is sent to sign-in");
        let code = app.next_code(&aidant.secret);
        let r = try_login(&app, &mut c, &aidant.email, &aidant.password, &code).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let cookie = r
            .headers
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(
            cookie.contains("Secure"),
            "Secure except plain http on loopback"
        );
        let r = c.get("/espace").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.contains("Mairie de Test"));
        assert!(r.contains("Bonjour Personne aidant"));
    }
);

both_backends!(
    every_login_failure_has_the_same_message,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let code = app.next_code(&aidant.secret);
        let mut c = app.client();
        for (email, password, code) in [
            (
                "inconnu@exemple.fr",
                aidant.password.as_str(),
                code.as_str(),
            ),
            (aidant.email.as_str(), "mauvais mot de passe", code.as_str()),
            (aidant.email.as_str(), aidant.password.as_str(), "000000"),
            ("", "", ""),
        ] {
            let r = try_login(&app, &mut c, email, password, code).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            assert!(r.contains(BAD_LOGIN), "{}", r.body);
            assert!(!c.cookies.contains_key("relais_session"));
        }
    }
);

both_backends!(totp_code_cannot_be_replayed, |app: TestApp| async move {
    let s = app.structure("Mairie").await;
    let aidant = app.member(s, Role::Aidant, "aidant").await;
    let code = app.next_code(&aidant.secret);
    let mut first = app.client();
    let r = try_login(&app, &mut first, &aidant.email, &aidant.password, &code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let mut second = app.client();
    let r = try_login(&app, &mut second, &aidant.email, &aidant.password, &code).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the same code a second time is refused"
    );
    // An older code (previous step) is refused too once a newer one was used.
    let old = relais::accounts::totp::code_at(&aidant.secret, app.clock_now() - 30).unwrap();
    let r = try_login(&app, &mut second, &aidant.email, &aidant.password, &old).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
});

both_backends!(
    login_is_locked_after_five_failures,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let mut c = app.client();
        for _ in 0..5 {
            let r = try_login(
                &app,
                &mut c,
                &aidant.email,
                "mauvais mot de passe",
                "123456",
            )
            .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        // Even the right credentials, from another IP, wait: the account is locked.
        let mut other = app.client();
        let code = app.next_code(&aidant.secret);
        let r = try_login(&app, &mut other, &aidant.email, &aidant.password, &code).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(r.contains("Trop de tentatives"), "{}", r.body);
        assert!(r.contains("minutes"), "the time to wait is given");
        app.clock.advance(15 * 60);
        let code = app.next_code(&aidant.secret);
        let r = try_login(&app, &mut other, &aidant.email, &aidant.password, &code).await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "unlocked after the window: {}",
            r.body
        );
    }
);

both_backends!(login_is_limited_per_ip, |app: TestApp| async move {
    let mut c = app.client();
    for i in 0..relais::accounts::throttle::SIGN_IN_IP.max {
        let r = try_login(&app, &mut c, &format!("personne{i}@exemple.fr"), "x", "1").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = try_login(&app, &mut c, "encore@exemple.fr", "x", "1").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
});

both_backends!(
    forms_need_csrf_token_and_same_origin,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let referent = app.member(s, Role::Referent, "ref").await;
        let mut c = app.login(&referent).await;
        let invite = format!("/structures/{s}/equipe/inviter");
        let fields = [
            ("full_name", "Nina Nouvelle"),
            ("email", "nina@exemple.fr"),
            ("role", "aidant"),
        ];
        let r = c.post_raw(&invite, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.contains("Page expirée"));
        let r = c
            .post_raw(
                &invite,
                &[
                    ("_csrf", "faux"),
                    ("full_name", "Nina"),
                    ("email", "nina@exemple.fr"),
                    ("role", "aidant"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        c.origin = Some("https://malveillant.example".into());
        let r = c.post(&invite, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            app.sent().iter().all(|m| m.to != "nina@exemple.fr"),
            "nothing was sent"
        );
        c.origin = Some(crate::common::ORIGIN.into());
        let r = c.post(&invite, &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        // Anonymous forms are protected too (double-submit cookie).
        let mut anon = app.client();
        let r = anon.post_raw("/connexion", &[("email", "a@b.fr")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
);

both_backends!(
    session_id_changes_at_login_and_logout_ends_it,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let mut c = app.login(&aidant).await;
        let first = c.cookies["relais_session"].clone();
        // Signing in again from the same browser replaces the session.
        let code = app.next_code(&aidant.secret);
        c.post(
            "/connexion",
            &[
                ("email", &aidant.email),
                ("password", &aidant.password),
                ("code", &code),
            ],
        )
        .await;
        let second = c.cookies["relais_session"].clone();
        assert_ne!(first, second);
        let mut stale = app.client();
        stale.cookies.insert("relais_session".into(), first);
        assert!(
            stale.get("/espace").await.is_login_redirect(),
            "the old id no longer works"
        );
        let r = c.post("/deconnexion", &[]).await;
        assert_eq!(r.location(), "/connexion?info=deconnecte");
        let mut replay = app.client();
        replay.cookies.insert("relais_session".into(), second);
        assert!(replay.get("/espace").await.is_login_redirect());
    }
);

both_backends!(sign_out_of_all_sessions, |app: TestApp| async move {
    let s = app.structure("Mairie").await;
    let aidant = app.member(s, Role::Aidant, "aidant").await;
    let mut office = app.login(&aidant).await;
    let mut home = app.login(&aidant).await;
    let r = office.get("/compte").await;
    assert!(r.contains("2 sessions ouvertes"), "{}", r.body);
    let r = home.post("/deconnexion/partout", &[]).await;
    assert_eq!(r.location(), "/connexion?info=deconnecte-partout");
    assert!(office.get("/espace").await.is_login_redirect());
});

both_backends!(idle_sessions_expire, |app: TestApp| async move {
    let s = app.structure("Mairie").await;
    let aidant = app.member(s, Role::Aidant, "aidant").await;
    let mut c = app.login(&aidant).await;
    app.clock.advance(relais::sessions::IDLE_TIMEOUT + 1);
    assert!(c.get("/espace").await.is_login_redirect());
});

both_backends!(
    sensitive_action_after_idle_asks_totp_again,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let referent = app.member(s, Role::Referent, "ref").await;
        let mut c = app.login(&referent).await;
        let invite = format!("/structures/{s}/equipe/inviter");
        assert_eq!(c.get(&invite).await.status, StatusCode::OK);
        app.clock.advance(16 * 60);
        let r = c.get(&invite).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(
            r.location().starts_with("/reconfirmer?suivant="),
            "{}",
            r.location()
        );
        // The POST is refused the same way: nothing is sent.
        let r = c
            .post(
                &invite,
                &[
                    ("full_name", "Léa"),
                    ("email", "lea@exemple.fr"),
                    ("role", "aidant"),
                ],
            )
            .await;
        assert!(r.location().starts_with("/reconfirmer"));
        assert!(app.sent().iter().all(|m| m.to != "lea@exemple.fr"));
        // Wrong code: refused.
        let r = c
            .post("/reconfirmer", &[("code", "000000"), ("suivant", &invite)])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        // The field and its error say where the code comes from: an application
        // or a card (the same words wherever a code is asked).
        let page = unescape(&r.body);
        assert!(page.contains("application d'authentification ou votre carte"));
        assert!(page.contains(relais::accounts::second_factor::WRONG_CODE_TEXT));
        assert!(page.contains("<title>Erreur : "));
        let before = c.cookies["relais_session"].clone();
        let code = app.next_code(&referent.secret);
        let r = c
            .post("/reconfirmer", &[("code", &code), ("suivant", &invite)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), invite);
        assert_ne!(
            before, c.cookies["relais_session"],
            "session id renewed at step-up"
        );
        assert_eq!(c.get(&invite).await.status, StatusCode::OK);
    }
);

both_backends!(
    password_reset_never_bypasses_totp,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let mut c = app.client();
        let r = c
            .post("/mot-de-passe-oublie", &[("email", "personne@exemple.fr")])
            .await;
        assert_eq!(r.status, StatusCode::OK, "unknown email: same answer");
        assert!(r.contains("Si un compte Relais existe"));
        let r = c
            .post("/mot-de-passe-oublie", &[("email", &aidant.email)])
            .await;
        assert!(r.contains("Si un compte Relais existe"));
        assert_eq!(
            app.sent()
                .iter()
                .filter(|m| m.subject.contains("réinitialisation"))
                .count(),
            1
        );
        let link = link_path(&app.last_email_to(&aidant.email).body);
        let page = c.get(&link).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.contains("Choisir un nouveau mot de passe"));
        assert!(!page.contains("QR code"), "a reset does not re-enrol TOTP");
        let new_password = "un tout nouveau mot de passe";
        let r = c
            .post(
                &link,
                &[
                    ("password", new_password),
                    ("password_confirmation", new_password),
                    ("code", "000000"),
                ],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong TOTP code refused"
        );
        let code = app.next_code(&aidant.secret);
        let r = c
            .post(
                &link,
                &[
                    ("password", new_password),
                    ("password_confirmation", new_password),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(c.get("/espace").await.status == StatusCode::OK);
        // Single use.
        let r = app.client().get(&link).await;
        assert_eq!(r.status, StatusCode::GONE);
        // The old password no longer works, the new one does.
        let mut other = app.client();
        let code = app.next_code(&aidant.secret);
        let r = try_login(&app, &mut other, &aidant.email, &aidant.password, &code).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let code = app.next_code(&aidant.secret);
        let r = try_login(&app, &mut other, &aidant.email, new_password, &code).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
);

both_backends!(
    password_reset_link_expires_after_an_hour,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let mut c = app.client();
        c.post("/mot-de-passe-oublie", &[("email", &aidant.email)])
            .await;
        let link = link_path(&app.last_email_to(&aidant.email).body);
        app.clock.advance(3601);
        let r = c.get(&link).await;
        assert_eq!(r.status, StatusCode::GONE);
        assert!(r.contains("Ce lien a expiré"));
    }
);

both_backends!(
    errors_pages_security_headers_and_health,
    |app: TestApp| async move {
        let mut c = app.client();
        let r = c.get("/healthz").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.contains("ok"));
        let r = c.get("/page-qui-n-existe-pas").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let id = r.headers["x-request-id"].to_str().unwrap().to_owned();
        assert!(r.contains(&id), "request id shown on the error page");
        // « contactez le support » says how: the address is at the foot of every page.
        assert!(r.contains("mailto:support@relais.localhost"), "{}", r.body);
        assert!(r.contains("<html lang=\"fr\">"));
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert!(r.headers.contains_key("referrer-policy"));
        assert!(r.headers.contains_key("permissions-policy"));
        let home = c.get("/").await;
        assert!(home.contains("href=\"#contenu\""), "skip link");
        assert!(home.contains("Accessibilité : non conforme"));
        let css = extract_css(&home.body);
        let r = c.get(&css).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert_eq!(c.get("/accessibilite").await.status, StatusCode::OK);
        // Every page's footer leads to the contact, legal notice and personal-data
        // pages, whose content comes from the configuration and the code.
        for link in ["/contact", "/mentions-legales", "/donnees-personnelles"] {
            assert!(home.contains(&format!("href=\"{link}\"")), "{link}");
        }
        assert!(
            home.contains("href=\"/habilitation\""),
            "the way to habilitation"
        );
        let support = &app.state.config.support_email;
        let legal = c.get("/mentions-legales").await;
        assert_eq!(legal.status, StatusCode::OK);
        assert!(legal.contains(&app.state.config.operator_name));
        assert!(legal.contains("AGPL") && legal.contains(support.as_str()));
        let privacy = c.get("/donnees-personnelles").await;
        assert!(privacy.contains(&format!(
            "{} jours après la fin de votre dernier mandat",
            app.state.config.retention_days
        )));
        assert!(privacy.contains("CNIL") && privacy.contains("6.1.e"));
        let contact = c.get("/contact").await;
        assert!(contact.contains("01 70 772 372") && contact.contains(support.as_str()));
        // An error page says how to reach the support.
        let missing = c.get("/page-qui-n-existe-pas").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.contains(&format!("mailto:{support}")));
        assert_eq!(
            c.get("/static/autre.css").await.status,
            StatusCode::NOT_FOUND
        );
        // An icon, linked from every page and cached like the stylesheet; the
        // `/favicon.ico` that some clients ask for leads to it (no 404).
        let icon =
            crate::common::extract_between(&home.body, "<link rel=\"icon\" href=\"", "\"").unwrap();
        let r = c.get(&icon).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["content-type"], "image/svg+xml");
        assert!(r.body.starts_with("<svg"));
        let legacy = c.get("/favicon.ico").await;
        assert_eq!(legacy.status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(legacy.location(), icon);
    }
);

fn extract_css(body: &str) -> String {
    crate::common::extract_between(body, "<link rel=\"stylesheet\" href=\"", "\"").unwrap()
}

/// Logs are captured for a whole flow: no password, TOTP code, secret or token.
#[test]
fn logs_never_contain_secrets() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (secrets, logs) = crate::common::capture::run(|| {
        rt.block_on(async {
            let app = TestApp::new(relais::db::Backend::Sqlite).await;
            let s = app.structure("Mairie").await;
            let referent = app.member(s, Role::Referent, "ref").await;
            let mut c = app.login(&referent).await;
            c.post(
                &format!("/structures/{s}/equipe/inviter"),
                &[
                    ("full_name", "Zoé"),
                    ("email", "zoe@exemple.fr"),
                    ("role", "referent"),
                ],
            )
            .await;
            let link = link_path(&app.last_email_to("zoe@exemple.fr").body);
            let mut z = app.client();
            let page = z.get(&link).await;
            let secret =
                crate::common::extract_between(&page.body, "<code class=\"secret\">", "</code>")
                    .unwrap()
                    .replace(' ', "");
            let code = app.next_code(&secret);
            let pw = "zoé choisit une phrase";
            let r = z
                .post(
                    &link,
                    &[
                        ("password", pw),
                        ("password_confirmation", pw),
                        ("code", &code),
                    ],
                )
                .await;
            assert_eq!(r.status, StatusCode::SEE_OTHER);
            // A failed login with a password, too.
            let mut bad = app.client();
            bad.post(
                "/connexion",
                &[
                    ("email", "zoe@exemple.fr"),
                    ("password", "mauvais secret 123"),
                    ("code", "654321"),
                ],
            )
            .await;
            let token = link.trim_start_matches("/activation/").to_owned();
            // A mandate through FranceConnect: state, nonce, code, ID token, client secret.
            let r = c
                .post(
                    "/mandats/nouveau",
                    &[("demarche", "papiers"), ("duree", "1")],
                )
                .await;
            let authorize = url::Url::parse(r.location()).unwrap();
            let param = |u: &url::Url, k: &str| {
                u.query_pairs()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.into_owned())
                    .unwrap()
            };
            let (state, nonce) = (param(&authorize, "state"), param(&authorize, "nonce"));
            let query = authorize.query().unwrap().to_owned();
            let r = c
                .post(
                    "/franceconnect-simulateur/api/v2/authorize",
                    &[
                        ("requete", &query),
                        ("identite", "jeanne-dupont"),
                        ("scenario", "normal"),
                    ],
                )
                .await;
            let callback = url::Url::parse(r.location()).unwrap();
            let fc_code = param(&callback, "code");
            let r = c
                .get(&format!(
                    "/mandats/franceconnect/retour?{}",
                    callback.query().unwrap()
                ))
                .await;
            let logout = url::Url::parse(r.location()).unwrap();
            let id_token = param(&logout, "id_token_hint");
            vec![
                state,
                nonce,
                fc_code,
                id_token,
                app.state.config.fc_client_secret.clone(),
                referent.password,
                referent.secret,
                pw.to_owned(),
                code,
                secret,
                token,
                "mauvais secret 123".to_owned(),
                "654321".to_owned(),
            ]
        })
    });
    assert!(
        logs.contains("connexion réussie"),
        "logs were captured: {logs}"
    );
    for s in secrets {
        assert!(!logs.contains(&s), "a secret leaked into the logs: {s}");
    }
}

both_backends!(
    used_and_expired_links_are_purged,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let referent = app.member(s, Role::Referent, "ref").await;
        let mut c = app.login(&referent).await;
        for (name, email) in [("Zoé", "zoe@exemple.fr"), ("Yves", "yves@exemple.fr")] {
            c.post(
                &format!("/structures/{s}/equipe/inviter"),
                &[("full_name", name), ("email", email), ("role", "referent")],
            )
            .await;
        }
        let used = link_path(&app.last_email_to("zoe@exemple.fr").body);
        let unused = link_path(&app.last_email_to("yves@exemple.fr").body);
        // Both pages propose a TOTP secret; Zoé activates her account.
        assert_eq!(app.client().get(&unused).await.status, StatusCode::OK);
        app.activate_from_email(
            &mut app.client(),
            "zoe@exemple.fr",
            "zoé choisit une phrase",
        )
        .await;
        let secrets = async || -> Vec<Option<String>> {
            app.db().fetch_all("SELECT t.pending_totp_secret FROM account_tokens t JOIN accounts a ON a.id = t.account_id
                 WHERE a.email IN ('zoe@exemple.fr', 'yves@exemple.fr') ORDER BY t.id", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get("pending_totp_secret").unwrap())
                .collect()
        };
        // The used token no longer holds the secret (now the account's).
        let held = secrets().await;
        assert_eq!(held.len(), 2);
        assert!(held[0].is_none() && held[1].is_some(), "{held:?}");
        // For a month after their end, the links still tell what happened.
        let purge = async || {
            relais::accounts::tokens::purge(app.db(), app.clock_now())
                .await
                .unwrap()
        };
        app.clock.advance(29 * 86_400);
        assert_eq!(purge().await, 0);
        let r = app.client().get(&used).await;
        assert_eq!(r.status, StatusCode::GONE);
        assert!(crate::common::unescape(&r.body).contains("Ce lien a déjà servi"));
        let r = app.client().get(&unused).await;
        assert!(crate::common::unescape(&r.body).contains("Ce lien a expiré"));
        // A month after use: Zoé's token goes (with the one the harness used to set
        // up the référent); Yves's expired 72 h after it was sent, it stays 3 days more.
        app.clock.advance(2 * 86_400);
        assert_eq!(purge().await, 2);
        assert_eq!(secrets().await.len(), 1);
        app.clock.advance(3 * 86_400);
        assert_eq!(purge().await, 1);
        assert!(secrets().await.is_empty(), "no TOTP secret left behind");
        assert_eq!(app.client().get(&used).await.status, StatusCode::NOT_FOUND);
    }
);
