//! Relais as an OpenID Connect provider: an aidant logs into an online service for
//! a usager. Conformance-style checks written against the HTTP endpoints.

use axum::http::StatusCode;
use data_encoding::BASE64URL_NOPAD;
use relais::config::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SERVICE_PATH};
use relais::domain::Role;
use relais::mandats::{self, Demarche, Duree};
use sha2::Digest;

use crate::common::{Client, ORIGIN, Resp, TestApp, User};

const VERIFIER: &str = "un-verificateur-pkce-assez-long-pour-la-norme-rfc7636";

fn redirect_uri() -> String {
    format!("{ORIGIN}{DEMO_SERVICE_PATH}/retour")
}

fn challenge() -> String {
    BASE64URL_NOPAD.encode(&sha2::Sha256::digest(VERIFIER.as_bytes()))
}

/// An authorization query; `overrides` replace (Some) or remove (None) parameters.
pub(crate) fn query(overrides: &[(&str, Option<&str>)]) -> String {
    let ch = challenge();
    let redirect = redirect_uri();
    let mut params: Vec<(&str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", DEMO_CLIENT_ID.into()),
        ("redirect_uri", redirect),
        ("scope", "openid profile email birth".into()),
        ("state", "etat-123".into()),
        ("nonce", "nonce-456".into()),
        ("acr_values", "eidas1".into()),
        ("prompt", "login".into()),
        ("code_challenge", ch),
        ("code_challenge_method", "S256".into()),
    ];
    for (k, v) in overrides {
        params.retain(|(n, _)| n != k);
        if let Some(v) = v {
            params.push((k, (*v).to_owned()));
        }
    }
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

pub(crate) fn identity(n: u32, email: &str) -> mandats::Identity {
    mandats::Identity {
        sub_hash: relais::crypto::sha256_hex(&format!("idp-sub-{n}")),
        given_name: "Jeanne".into(),
        family_name: format!("USAGÈRE{n}"),
        preferred_username: String::new(),
        birthdate: "1948-03-04".into(),
        gender: "female".into(),
        birthplace: "89024".into(),
        birthcountry: "99100".into(),
        email: email.into(),
    }
}

pub(crate) struct World {
    pub(crate) structure: i64,
    pub(crate) aidant: User,
    pub(crate) client: Client,
    pub(crate) usager: i64,
}

pub(crate) async fn world(app: &TestApp, demarches: &[Demarche]) -> World {
    let structure = app.structure("Structure du fournisseur").await;
    let aidant = app.member(structure, Role::Aidant, "aidant").await;
    let created = crate::common::mandate(
        app,
        structure,
        aidant.id,
        mandats::UsagerRef::Identified(&identity(1, "jeanne@exemple.fr")),
        demarches,
        Duree::Long,
    )
    .await
    .unwrap();
    let client = app.login(&aidant).await;
    World {
        structure,
        aidant,
        client,
        usager: created.usager_id,
    }
}

/// Authorize, then the aidant's steps (TOTP when asked, usager, first or given
/// démarche); returns the redirect to the client.
async fn flow(app: &TestApp, w: &mut World, q: &str, demarche: Option<Demarche>) -> Resp {
    let c = &mut w.client;
    let r = c.get(&format!("/oidc/authorize?{q}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page_path = r.location().to_owned();
    assert!(page_path.starts_with("/oidc/autorisation/"), "{page_path}");
    let mut page = c.get(&page_path).await;
    if page.contains("confirmez d'abord") {
        let code = app.next_code(&w.aidant.secret);
        let r = c
            .post(&format!("{page_path}/confirmer"), &[("code", &code)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        page = c.get(&page_path).await;
    }
    assert!(page.contains("Pour quelle personne"), "{}", page.body);
    let r = c
        .post(
            &format!("{page_path}/usager"),
            &[("usager", &w.usager.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = c.get(&page_path).await;
    assert!(page.contains("Pour quelle démarche"), "{}", page.body);
    let now = app.clock_now();
    let list = mandats::active_autorisations(app.db(), w.structure, w.usager, now)
        .await
        .unwrap();
    let aid = match demarche {
        Some(d) => list.iter().find(|(_, x)| *x == d).unwrap().0,
        None => list[0].0,
    };
    c.post(
        &format!("{page_path}/demarche"),
        &[("autorisation", &aid.to_string())],
    )
    .await
}

/// Opens a pending request's page, confirming a TOTP code when it asks one (the
/// aidant signed in before the request, which says `prompt=login`).
pub(crate) async fn open(app: &TestApp, c: &mut Client, user: &User, page: &str) {
    if c.get(page).await.contains("confirmez d'abord") {
        let code = app.next_code(&user.secret);
        let r = c
            .post(&format!("{page}/confirmer"), &[("code", &code)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
}

fn code_of(r: &Resp) -> String {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let u = url::Url::parse(r.location()).unwrap();
    assert!(
        r.location().starts_with(&redirect_uri()),
        "{}",
        r.location()
    );
    assert!(
        u.query_pairs()
            .any(|(k, v)| k == "state" && v == "etat-123")
    );
    assert!(u.query_pairs().any(|(k, v)| k == "iss" && v == ORIGIN));
    u.query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

async fn token(c: &mut Client, code: &str, basic: bool, secret: &str) -> Resp {
    let redirect = redirect_uri();
    let mut fields: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &redirect),
        ("code_verifier", VERIFIER),
    ];
    if basic {
        let auth = data_encoding::BASE64.encode(format!("{DEMO_CLIENT_ID}:{secret}").as_bytes());
        c.post_with_header(
            "/oidc/token",
            &fields,
            "authorization",
            &format!("Basic {auth}"),
        )
        .await
    } else {
        fields.push(("client_id", DEMO_CLIENT_ID));
        fields.push(("client_secret", secret));
        c.post_raw("/oidc/token", &fields).await
    }
}

async fn jwks(c: &mut Client) -> jsonwebtoken::jwk::JwkSet {
    serde_json::from_str(&c.get("/oidc/jwks").await.body).unwrap()
}

fn verify(token: &str, set: &jsonwebtoken::jwk::JwkSet) -> serde_json::Value {
    relais::franceconnect::jose::verify(token, set, &[jsonwebtoken::Algorithm::ES256]).unwrap()
}

crate::both_backends!(
    aidant_logs_into_a_service_for_a_usager,
    |app: TestApp| async move {
        let mut w = world(&app, &[Demarche::Social, Demarche::Logement]).await;
        let discovery = w.client.get("/.well-known/openid-configuration").await;
        let d: serde_json::Value = serde_json::from_str(&discovery.body).unwrap();
        assert_eq!(d["issuer"], ORIGIN);
        assert_eq!(
            d["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        let r = flow(&app, &mut w, &query(&[]), Some(Demarche::Logement)).await;
        let code = code_of(&r);
        assert!(code.len() >= 64, "≥ 256-bit code");
        let stored: i64 = app
            .db()
            .fetch_one(
                "SELECT COUNT(*) AS n FROM idp_codes WHERE code_hash = $1",
                relais::args![relais::crypto::sha256_hex(&code)],
            )
            .await
            .unwrap()
            .get("n")
            .unwrap();
        assert_eq!(stored, 1, "code stored hashed");

        // Wrong secret, then client_secret_basic.
        let bad = token(&mut w.client, &code, true, "mauvais").await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        let ok = token(&mut w.client, &code, true, DEMO_CLIENT_SECRET).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        let t: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
        let set = jwks(&mut w.client).await;
        let claims = verify(t["id_token"].as_str().unwrap(), &set);
        assert_eq!(claims["iss"], ORIGIN);
        assert_eq!(claims["aud"], DEMO_CLIENT_ID);
        assert_eq!(claims["nonce"], "nonce-456");
        assert_eq!(claims["acr"], "eidas1");
        assert_eq!(claims["rep_scope"], "logement");
        assert_eq!(claims["structure"]["nom"], "Structure du fournisseur");
        assert!(
            claims["aidant"]["nom"]
                .as_str()
                .unwrap()
                .starts_with("Personne aidant")
        );
        let sub = claims["sub"].as_str().unwrap();
        assert_eq!(sub.len(), 66);
        assert!(sub.ends_with("v1"));
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
        assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());

        // Userinfo: a signed JWT of the usager's identity, once.
        let access = t["access_token"].as_str().unwrap();
        let info = w.client.get_bearer("/oidc/userinfo", access).await;
        assert_eq!(info.status, StatusCode::OK);
        assert_eq!(info.headers["content-type"], "application/jwt");
        let info = verify(&info.body, &set);
        assert_eq!(info["sub"], sub);
        assert_eq!(info["family_name"], "USAGÈRE1");
        assert_eq!(info["email"], "jeanne@exemple.fr");
        assert_eq!(info["birthcountry"], "99100");
        let again = w.client.get_bearer("/oidc/userinfo", access).await;
        assert_eq!(
            again.status,
            StatusCode::UNAUTHORIZED,
            "access token single use"
        );

        // The same usager seen by the same client later: the same sub.
        let r = flow(&app, &mut w, &query(&[]), Some(Demarche::Social)).await;
        let code2 = code_of(&r);
        let t2: serde_json::Value = serde_json::from_str(
            &token(&mut w.client, &code2, false, DEMO_CLIENT_SECRET)
                .await
                .body,
        )
        .unwrap();
        assert_eq!(verify(t2["id_token"].as_str().unwrap(), &set)["sub"], sub);
        // Code reuse: refused, and the access token it issued is revoked.
        let reuse = token(&mut w.client, &code2, false, DEMO_CLIENT_SECRET).await;
        assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
        assert!(reuse.body.contains("invalid_grant"));
        let revoked = w
            .client
            .get_bearer("/oidc/userinfo", t2["access_token"].as_str().unwrap())
            .await;
        assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);

        // One code sent by eight clients at once: one token, seven refusals, and the
        // token it gave is revoked by the replays (on PostgreSQL, truly in parallel).
        let r = flow(&app, &mut w, &query(&[]), Some(Demarche::Social)).await;
        let code3 = code_of(&r);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let mut c = app.client();
            let code = code3.clone();
            tasks.push(tokio::spawn(async move {
                token(&mut c, &code, false, DEMO_CLIENT_SECRET).await
            }));
        }
        let mut tokens = Vec::new();
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                StatusCode::OK => tokens.push(r.body),
                StatusCode::BAD_REQUEST => assert!(r.body.contains("invalid_grant"), "{}", r.body),
                other => panic!("statut inattendu {other} : {}", r.body),
            }
        }
        assert_eq!(tokens.len(), 1, "un seul jeton pour un code");
        let t3: serde_json::Value = serde_json::from_str(&tokens[0]).unwrap();
        let replayed = w
            .client
            .get_bearer("/oidc/userinfo", t3["access_token"].as_str().unwrap())
            .await;
        assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);

        // Every use is in the journal with the client.
        let uses = app
            .journal_details(w.structure, "utilisation_autorisation")
            .await;
        assert_eq!(uses.len(), 3);
        assert!(uses[0].contains(DEMO_CLIENT_ID));
        assert_eq!(
            relais::journal::verify(app.db())
                .await
                .unwrap()
                .first_broken,
            None
        );

        // Retention: what the provider kept of these sign-ins (3 codes, 3 tokens, and
        // a request left unfinished) goes an hour after it expired, not before.
        let unfinished = w
            .client
            .get(&format!("/oidc/authorize?{}", query(&[])))
            .await;
        assert_eq!(unfinished.status, StatusCode::SEE_OTHER);
        let kept = || async {
            let n = |r: relais::db::exec::Rec| r.get::<i64>("n").unwrap();
            let db = app.db();
            (
                n(db.fetch_one("SELECT COUNT(*) AS n FROM idp_codes", &[])
                    .await
                    .unwrap()),
                n(db.fetch_one("SELECT COUNT(*) AS n FROM idp_tokens", &[])
                    .await
                    .unwrap()),
                n(db.fetch_one("SELECT COUNT(*) AS n FROM idp_requests", &[])
                    .await
                    .unwrap()),
            )
        };
        let settings = relais::mandats::retention::Settings {
            retention_days: 365,
            public_url: ORIGIN.into(),
        };
        let early =
            relais::mandats::retention::run(app.db(), &app.mailer, &settings, app.clock_now())
                .await
                .unwrap();
        assert_eq!(early.purged_sign_ins, 0);
        assert_eq!(kept().await, (3, 3, 1));
        app.clock.advance(2 * 3_600);
        let later =
            relais::mandats::retention::run(app.db(), &app.mailer, &settings, app.clock_now())
                .await
                .unwrap();
        assert_eq!(later.purged_sign_ins, 7);
        assert_eq!(kept().await, (0, 0, 0));
    }
);

crate::both_backends!(
    codes_expire_and_pkce_is_checked,
    |app: TestApp| async move {
        let mut w = world(&app, &[Demarche::Papiers]).await;
        let code = code_of(&flow(&app, &mut w, &query(&[]), None).await);
        app.clock.advance(61);
        let late = token(&mut w.client, &code, false, DEMO_CLIENT_SECRET).await;
        assert_eq!(late.status, StatusCode::BAD_REQUEST, "code after 60 s");
        let code = code_of(&flow(&app, &mut w, &query(&[]), None).await);
        let redirect = redirect_uri();
        let wrong_verifier = w
            .client
            .post_raw(
                "/oidc/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect),
                    (
                        "code_verifier",
                        "un-autre-verificateur-pkce-assez-long-pour-la-norme",
                    ),
                    ("client_id", DEMO_CLIENT_ID),
                    ("client_secret", DEMO_CLIENT_SECRET),
                ],
            )
            .await;
        assert_eq!(wrong_verifier.status, StatusCode::BAD_REQUEST);
        let mismatch = w
            .client
            .post_raw(
                "/oidc/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "http://relais.test/ailleurs"),
                    ("code_verifier", VERIFIER),
                    ("client_id", DEMO_CLIENT_ID),
                    ("client_secret", DEMO_CLIENT_SECRET),
                ],
            )
            .await;
        assert_eq!(
            mismatch.status,
            StatusCode::BAD_REQUEST,
            "redirect_uri mismatch"
        );
        let dup = w
            .client
            .post_raw(
                "/oidc/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("code", &code),
                    ("client_id", DEMO_CLIENT_ID),
                    ("client_secret", DEMO_CLIENT_SECRET),
                ],
            )
            .await;
        assert_eq!(dup.status, StatusCode::BAD_REQUEST, "duplicated parameter");
        // An expired access token at userinfo.
        let code = code_of(&flow(&app, &mut w, &query(&[]), None).await);
        let t: serde_json::Value = serde_json::from_str(
            &token(&mut w.client, &code, false, DEMO_CLIENT_SECRET)
                .await
                .body,
        )
        .unwrap();
        app.clock.advance(61);
        let r = w
            .client
            .get_bearer("/oidc/userinfo", t["access_token"].as_str().unwrap())
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
);

crate::both_backends!(authorize_is_strict, |app: TestApp| async move {
    let mut c = app.client();
    for (q, reason) in [
        (query(&[("client_id", Some("inconnu"))]), "client_id"),
        (query(&[("client_id", None)]), "client_id"),
        (
            query(&[("redirect_uri", Some("https://pirate.example/retour"))]),
            "redirect_uri",
        ),
        (
            query(&[("redirect_uri", Some(&format!("{}/", redirect_uri())))]),
            "redirect_uri",
        ),
    ] {
        let r = c.get(&format!("/oidc/authorize?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{reason}");
        assert!(r.contains(reason));
    }
    for (q, error) in [
        (format!("{}&nonce=deux", query(&[])), "invalid_request"),
        (
            format!("{}&request=eyJ", query(&[])),
            "request_not_supported",
        ),
        (
            format!("{}&request_uri=https%3A%2F%2Fx.example%2Fr", query(&[])),
            "request_uri_not_supported",
        ),
        (query(&[("max_age", Some("-1"))]), "invalid_request"),
        (
            query(&[("response_mode", Some("fragment"))]),
            "invalid_request",
        ),
        (query(&[("nonce", None)]), "invalid_request"),
        (
            query(&[("scope", Some("openid profile email"))]),
            "invalid_scope",
        ),
        (
            query(&[("code_challenge_method", Some("plain"))]),
            "invalid_request",
        ),
        (query(&[("prompt", Some("none"))]), "interaction_required"),
        (
            query(&[("response_type", Some("token"))]),
            "unsupported_response_type",
        ),
        (
            query(&[(
                "claims",
                Some("{\"id_token\":{\"rep_scope\":{\"values\":[\"inconnue\"]}}}"),
            )]),
            "invalid_request",
        ),
    ] {
        let r = c.get(&format!("/oidc/authorize?{q}")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{q}");
        assert!(r.location().starts_with(&redirect_uri()), "{q}");
        assert!(
            r.location().contains(&format!("error={error}")),
            "{q}: {}",
            r.location()
        );
        assert!(r.location().contains("state=etat-123"), "{q}");
        // RFC 9207: the issuer with every answer; descriptions in ASCII.
        let u = url::Url::parse(r.location()).unwrap();
        let get = |k: &str| {
            u.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(get("iss").as_deref(), Some(ORIGIN), "{q}");
        assert!(get("error_description").unwrap().is_ascii(), "{q}");
    }
    // Without a session: the aidant signs in first, then comes back.
    let r = c.get(&format!("/oidc/authorize?{}", query(&[]))).await;
    let page = c.get(r.location()).await;
    assert!(page.is_login_redirect());
});

crate::both_backends!(rep_scope_prompt_and_revocation, |app: TestApp| async move {
    let mut w = world(&app, &[Demarche::Social, Demarche::Logement]).await;
    // A second usager with only "argent", and one without email.
    crate::common::mandate(
        &app,
        w.structure,
        w.aidant.id,
        mandats::UsagerRef::Identified(&identity(2, "autre@exemple.fr")),
        &[Demarche::Argent],
        Duree::Mois,
    )
    .await
    .unwrap();
    crate::common::mandate(
        &app,
        w.structure,
        w.aidant.id,
        mandats::UsagerRef::Identified(&identity(3, "")),
        &[Demarche::Logement],
        Duree::Mois,
    )
    .await
    .unwrap();
    // Time passes: the aidant must confirm a fresh TOTP code.
    app.clock.advance(120);
    let claims = r#"{"id_token":{"rep_scope":{"essential":true,"values":["logement"]}}}"#;
    let q = query(&[("claims", Some(claims))]);
    let r = w.client.get(&format!("/oidc/authorize?{q}")).await;
    let page_path = r.location().to_owned();
    let page = w.client.get(&page_path).await;
    assert!(page.contains("confirmez d'abord"), "{}", page.body);
    let bad = w
        .client
        .post(&format!("{page_path}/confirmer"), &[("code", "000000")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let code = app.next_code(&w.aidant.secret);
    w.client
        .post(&format!("{page_path}/confirmer"), &[("code", &code)])
        .await;
    let page = w.client.get(&page_path).await;
    assert!(page.contains("USAGÈRE1"), "{}", page.body);
    assert!(page.contains("USAGÈRE1, née le"), "agreed: {}", page.body);
    assert!(!page.contains("né(e)"));
    assert!(!page.contains("USAGÈRE2"), "outside rep_scope");
    assert!(page.contains("USAGÈRE3") && page.contains("exige une adresse e-mail"));
    // Choosing the usager without email is refused.
    let id_of = |family: &'static str| {
        let db = app.db().clone();
        async move {
            db.fetch_one(
                "SELECT id FROM usagers WHERE family_name = $1",
                relais::args![family],
            )
            .await
            .unwrap()
            .int("id")
            .unwrap()
        }
    };
    let uid3 = id_of("USAGÈRE3").await;
    let r = w
        .client
        .post(
            &format!("{page_path}/usager"),
            &[("usager", &uid3.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A usager whose only autorisation is outside the request's scope is refused.
    let uid2 = id_of("USAGÈRE2").await;
    let r = w
        .client
        .post(
            &format!("{page_path}/usager"),
            &[("usager", &uid2.to_string())],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside rep_scope"
    );
    // An address FranceConnect would not accept, though not empty: the choice is
    // made by one statement and taken back at once, with the same message.
    let chosen = |app: &TestApp| {
        let db = app.db().clone();
        async move {
            db.fetch_one("SELECT usager_id FROM idp_requests", &[])
                .await
                .unwrap()
                .opt_int("usager_id")
                .unwrap()
        }
    };
    app.db()
        .execute(
            "UPDATE usagers SET email = 'jeanne chez exemple.fr' WHERE id = $1",
            relais::args![uid3],
        )
        .await
        .unwrap();
    let r = w
        .client
        .post(
            &format!("{page_path}/usager"),
            &[("usager", &uid3.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("une adresse e-mail"), "{}", r.body);
    assert_eq!(chosen(&app).await, None);
    w.client
        .post(
            &format!("{page_path}/usager"),
            &[("usager", &w.usager.to_string())],
        )
        .await;
    assert_eq!(chosen(&app).await, Some(w.usager));
    let page = w.client.get(&page_path).await;
    assert!(
        page.contains("Logement") && !page.contains("Social - Santé"),
        "{}",
        page.body
    );
    let now = app.clock_now();
    let list = mandats::active_autorisations(app.db(), w.structure, w.usager, now)
        .await
        .unwrap();
    let social = list.iter().find(|(_, d)| *d == Demarche::Social).unwrap().0;
    let logement = list
        .iter()
        .find(|(_, d)| *d == Demarche::Logement)
        .unwrap()
        .0;
    let r = w
        .client
        .post(
            &format!("{page_path}/demarche"),
            &[("autorisation", &social.to_string())],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "démarche outside rep_scope refused"
    );
    // Refused: no code, no journal entry, no use counted (the step is one
    // statement on PostgreSQL: nothing of it may remain).
    let written = |sql: &'static str| {
        let db = app.db().clone();
        async move { db.fetch_one(sql, &[]).await.unwrap().int("n").unwrap() }
    };
    let uses_journaled =
        "SELECT COUNT(*) AS n FROM journal WHERE action = 'utilisation_autorisation'";
    assert_eq!(written("SELECT COUNT(*) AS n FROM idp_codes").await, 0);
    assert_eq!(written(uses_journaled).await, 0);
    assert_eq!(
        written("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM utilisations_mois").await,
        0
    );
    // The usager's address became unacceptable after the choice: the code step
    // checks it again and writes nothing.
    let email = |v: &'static str| {
        let db = app.db().clone();
        let uid = w.usager;
        async move {
            db.execute(
                "UPDATE usagers SET email = $1 WHERE id = $2",
                relais::args![v, uid],
            )
            .await
            .unwrap();
        }
    };
    email("").await;
    let r = w
        .client
        .post(
            &format!("{page_path}/demarche"),
            &[("autorisation", &logement.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(written("SELECT COUNT(*) AS n FROM idp_codes").await, 0);
    assert_eq!(written(uses_journaled).await, 0);
    assert_eq!(written("SELECT COUNT(*) AS n FROM idp_requests").await, 1);
    email("jeanne@exemple.fr").await;
    let r = w
        .client
        .post(
            &format!("{page_path}/demarche"),
            &[("autorisation", &logement.to_string())],
        )
        .await;
    let code = code_of(&r);
    assert_eq!(written("SELECT COUNT(*) AS n FROM idp_codes").await, 1);
    assert_eq!(written(uses_journaled).await, 1);
    assert_eq!(
        written("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM utilisations_mois").await,
        1
    );
    // Counted in the acting structure's own row: no other structure's code step
    // waits for it.
    let counted = app
        .db()
        .fetch_one(
            "SELECT structure_id, n FROM utilisations_mois",
            relais::args![],
        )
        .await
        .unwrap();
    assert_eq!(counted.int("structure_id").unwrap(), w.structure);
    app.assert_journal_intact().await;
    // Revoked between authorize and token: refused.
    mandats::revoke_autorisation(
        app.db(),
        &app.state.signer,
        mandats::Revoker::Member(mandats::Actor {
            account_id: w.aidant.id,
            structure_id: w.structure,
        }),
        logement,
        app.clock_now(),
    )
    .await
    .unwrap();
    let t = token(&mut w.client, &code, false, DEMO_CLIENT_SECRET).await;
    assert_eq!(t.status, StatusCode::BAD_REQUEST);
    // Revoked between token and userinfo: refused.
    let code = code_of(&flow(&app, &mut w, &query(&[]), Some(Demarche::Social)).await);
    let t: serde_json::Value = serde_json::from_str(
        &token(&mut w.client, &code, false, DEMO_CLIENT_SECRET)
            .await
            .body,
    )
    .unwrap();
    mandats::revoke_autorisation(
        app.db(),
        &app.state.signer,
        mandats::Revoker::Member(mandats::Actor {
            account_id: w.aidant.id,
            structure_id: w.structure,
        }),
        social,
        app.clock_now(),
    )
    .await
    .unwrap();
    let r = w
        .client
        .get_bearer("/oidc/userinfo", t["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
});

// A request not yet bound to a session (it arrived before the aidant signed in)
// is bound by the first step that acts on it, even a choice posted straight away.
crate::both_backends!(
    a_choice_binds_a_request_opened_by_nobody,
    |app: TestApp| async move {
        let mut w = world(&app, &[Demarche::Travail]).await;
        let r = w
            .client
            .get(&format!("/oidc/authorize?{}", query(&[])))
            .await;
        let page_path = r.location().to_owned();
        open(&app, &mut w.client, &w.aidant, &page_path).await;
        app.db()
            .execute("UPDATE idp_requests SET session_hash = NULL", &[])
            .await
            .unwrap();
        let r = w
            .client
            .post(
                &format!("{page_path}/usager"),
                &[("usager", &w.usager.to_string())],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), page_path);
        let row = app
            .db()
            .fetch_one("SELECT session_hash, usager_id FROM idp_requests", &[])
            .await
            .unwrap();
        assert!(row.opt_text("session_hash").unwrap().is_some());
        assert_eq!(row.opt_int("usager_id").unwrap(), Some(w.usager));
        assert!(
            w.client
                .get(&page_path)
                .await
                .contains("Pour quelle démarche")
        );
    }
);

crate::both_backends!(
    structures_are_isolated_in_the_provider,
    |app: TestApp| async move {
        let mut w = world(&app, &[Demarche::Justice]).await;
        let r = w
            .client
            .get(&format!("/oidc/authorize?{}", query(&[])))
            .await;
        let page_path = r.location().to_owned();
        open(&app, &mut w.client, &w.aidant, &page_path).await;
        let b = app.structure("Structure B").await;
        let aidant_b = app.member(b, Role::Aidant, "aidant-b").await;
        let mut cb = app.login(&aidant_b).await;
        // A's request is bound to A's session.
        assert_eq!(cb.get(&page_path).await.status, StatusCode::NOT_FOUND);
        let r = cb
            .post(
                &format!("{page_path}/usager"),
                &[("usager", &w.usager.to_string())],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // B's own request does not offer A's usager, nor accept it.
        let r = cb.get(&format!("/oidc/authorize?{}", query(&[]))).await;
        let own = r.location().to_owned();
        open(&app, &mut cb, &aidant_b, &own).await;
        let page = cb.get(&own).await;
        assert!(!page.contains("USAGÈRE1"));
        let r = cb
            .post(
                &format!("{own}/usager"),
                &[("usager", &w.usager.to_string())],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let aid = mandats::active_autorisations(app.db(), w.structure, w.usager, app.clock_now())
            .await
            .unwrap()[0]
            .0;
        let r = cb
            .post(
                &format!("{own}/demarche"),
                &[("autorisation", &aid.to_string())],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "no usager chosen: back to the page"
        );
        assert!(r.location().starts_with("/oidc/autorisation/"));
    }
);

crate::both_backends!(end_session_and_key_rotation, |app: TestApp| async move {
    let mut w = world(&app, &[Demarche::Loisirs]).await;
    let code = code_of(&flow(&app, &mut w, &query(&[]), None).await);
    let t: serde_json::Value = serde_json::from_str(
        &token(&mut w.client, &code, false, DEMO_CLIENT_SECRET)
            .await
            .body,
    )
    .unwrap();
    let hint = t["id_token"].as_str().unwrap().to_owned();
    let logout = format!("{ORIGIN}{DEMO_SERVICE_PATH}");
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut c = app.client();
    for (q, expected) in [
        (
            format!("state=x&post_logout_redirect_uri={}", enc(&logout)),
            "demande id_token_hint ou client_id",
        ),
        (
            format!(
                "id_token_hint={hint}&client_id=autre-client&post_logout_redirect_uri={}",
                enc(&logout)
            ),
            "client_id différent",
        ),
        (
            format!(
                "id_token_hint=a.b.c&state=x&post_logout_redirect_uri={}",
                enc(&logout)
            ),
            "id_token_hint invalide",
        ),
        (
            format!(
                "id_token_hint={hint}&state=x&post_logout_redirect_uri={}",
                enc("https://pirate.example/")
            ),
            "non enregistrée",
        ),
    ] {
        let r = c.get(&format!("/oidc/session/end?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{expected}");
        assert!(r.contains(expected), "{expected}");
    }
    let r = c
        .get(&format!(
            "/oidc/session/end?id_token_hint={hint}&state=x&post_logout_redirect_uri={}",
            enc(&logout)
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("{logout}?state=x"));
    // state and the URI are optional (RP-Initiated Logout 1.0 §2).
    let r = c
        .get(&format!(
            "/oidc/session/end?id_token_hint={hint}&post_logout_redirect_uri={}",
            enc(&logout)
        ))
        .await;
    assert_eq!(r.location(), logout);
    let r = c
        .get(&format!("/oidc/session/end?id_token_hint={hint}"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.contains("Vous êtes déconnecté du service en ligne"));
    let r = c.get("/oidc/session/end").await;
    assert_eq!(r.status, StatusCode::OK, "nothing asked: the page");
    // By POST from the client's site (no CSRF token, another origin).
    let r = c
        .post_raw(
            "/oidc/session/end",
            &[
                ("id_token_hint", hint.as_str()),
                ("client_id", DEMO_CLIENT_ID),
                ("post_logout_redirect_uri", logout.as_str()),
                ("state", "y"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), format!("{logout}?state=y"));

    // Rotation: the next key was published before it signs; the previous one stays
    // published while its tokens live.
    let before = jwks(&mut c).await;
    assert_eq!(before.keys.len(), 2, "current + next");
    let (old_kid, _) = relais::franceconnect::jose::header(&hint).unwrap();
    let rotation = relais::idp::keys::rotate(
        app.db(),
        &app.state.config.secret_key,
        app.clock_now(),
        relais::idp::ID_TOKEN_TTL,
    )
    .await
    .unwrap()
    .remove(0)
    .1;
    app.state.idp_keys.invalidate();
    assert_eq!(Some(rotation.previous.clone().unwrap()), old_kid);
    assert!(
        before
            .keys
            .iter()
            .any(|k| k.common.key_id.as_deref() == Some(rotation.now_signing.as_str()))
    );
    let after = jwks(&mut c).await;
    assert_eq!(after.keys.len(), 3, "previous + current + next");
    verify(&hint, &after);
    let code = code_of(&flow(&app, &mut w, &query(&[]), None).await);
    let t: serde_json::Value = serde_json::from_str(
        &token(&mut w.client, &code, false, DEMO_CLIENT_SECRET)
            .await
            .body,
    )
    .unwrap();
    let (kid, _) = relais::franceconnect::jose::header(t["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(kid.as_deref(), Some(rotation.now_signing.as_str()));
    // Once its tokens have expired, the previous key leaves the JWKS.
    app.clock.advance(relais::idp::ID_TOKEN_TTL + 11);
    app.state.idp_keys.invalidate();
    let later = jwks(&mut c).await;
    assert_eq!(later.keys.len(), 2);
    assert!(!later.keys.iter().any(|k| k.common.key_id == old_kid));
    // The first hint was signed by the key rotated out: no longer published, it is
    // still trusted for logouts for hours, expired hint included.
    app.clock.advance(3 * 3600);
    let r = c
        .get(&format!("/oidc/session/end?id_token_hint={hint}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Beyond the trust period it no longer is.
    app.clock.advance(relais::idp::LOGOUT_HINT_TRUST);
    let r = c
        .get(&format!("/oidc/session/end?id_token_hint={hint}"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.contains("id_token_hint"), "{}", r.body);
});

crate::both_backends!(demo_online_service_end_to_end, |app: TestApp| async move {
    let mut w = world(&app, &[Demarche::Transports]).await;
    let c = &mut w.client;
    let home = c.get(DEMO_SERVICE_PATH).await;
    assert!(home.contains("Simulateur de service en ligne"));
    let r = c.get(&format!("{DEMO_SERVICE_PATH}/connexion")).await;
    let authorize = r.location().strip_prefix(ORIGIN).unwrap().to_owned();
    let r = c.get(&authorize).await;
    let page_path = r.location().to_owned();
    open(&app, c, &w.aidant, &page_path).await;
    c.post(
        &format!("{page_path}/usager"),
        &[("usager", &w.usager.to_string())],
    )
    .await;
    let aid = mandats::active_autorisations(app.db(), w.structure, w.usager, app.clock_now())
        .await
        .unwrap()[0]
        .0;
    let r = c
        .post(
            &format!("{page_path}/demarche"),
            &[("autorisation", &aid.to_string())],
        )
        .await;
    let back = r.location().strip_prefix(ORIGIN).unwrap().to_owned();
    let done = c.get(&back).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.contains("Connexion réussie"));
    assert!(done.contains("Jeanne USAGÈRE1"));
    assert!(done.contains("Transports - Mobilité"));
    assert!(done.contains("Structure du fournisseur"));
    // The return serves once, and only in the browser that started the login
    // (nothing is kept on the server: any server of a cluster can finish it).
    let again = c.get(&back).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again.contains("recommencez depuis le service"),
        "{}",
        again.body
    );
    let elsewhere = app.client().get(&back).await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);
});

fn client(id: &str, alg: &str, legacy: bool, userinfo: &str) -> relais::config::IdpClientConfig {
    relais::config::IdpClientConfig {
        client_id: id.into(),
        name: format!("Service {id}"),
        secret_sha256: relais::crypto::sha256_hex(&format!("secret de {id}")),
        redirect_uris: vec![format!("https://{id}.exemple.fr/retour")],
        post_logout_redirect_uris: vec![],
        userinfo_format: userinfo.into(),
        signing_alg: alg.into(),
        legacy,
    }
}

/// RS256 and legacy HS256 clients, JSON userinfo; HS256 refused without `legacy`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_algorithms_per_client() {
    let mut refused = crate::common::test_config();
    refused.idp_clients = vec![client("sans-legacy", "HS256", false, "jwt")];
    assert!(refused.validate().is_err(), "HS256 needs legacy = true");
    for backend in crate::common::backends() {
        let mut config = crate::common::test_config();
        config.idp_clients = vec![
            client("rsa", "RS256", false, "jwt"),
            client("ancien", "HS256", true, "json"),
        ];
        config.validate().unwrap();
        let app = TestApp::with_config(backend, config).await;
        let mut w = world(&app, &[Demarche::Papiers]).await;
        for (id, alg) in [("rsa", "RS256"), ("ancien", "HS256")] {
            let redirect = format!("https://{id}.exemple.fr/retour");
            let q = query(&[("client_id", Some(id)), ("redirect_uri", Some(&redirect))]);
            let r = w.client.get(&format!("/oidc/authorize?{q}")).await;
            let page = r.location().to_owned();
            open(&app, &mut w.client, &w.aidant, &page).await;
            w.client
                .post(
                    &format!("{page}/usager"),
                    &[("usager", &w.usager.to_string())],
                )
                .await;
            let aid =
                mandats::active_autorisations(app.db(), w.structure, w.usager, app.clock_now())
                    .await
                    .unwrap()[0]
                    .0;
            let r = w
                .client
                .post(
                    &format!("{page}/demarche"),
                    &[("autorisation", &aid.to_string())],
                )
                .await;
            assert!(r.location().starts_with(&redirect), "{}", r.location());
            let code = url::Url::parse(r.location())
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "code")
                .unwrap()
                .1
                .into_owned();
            let secret = format!("secret de {id}");
            let t = w
                .client
                .post_raw(
                    "/oidc/token",
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", &redirect),
                        ("code_verifier", VERIFIER),
                        ("client_id", id),
                        ("client_secret", &secret),
                    ],
                )
                .await;
            assert_eq!(t.status, StatusCode::OK, "{id}: {}", t.body);
            let t: serde_json::Value = serde_json::from_str(&t.body).unwrap();
            let id_token = t["id_token"].as_str().unwrap();
            let (_, header_alg) = relais::franceconnect::jose::header(id_token).unwrap();
            assert_eq!(format!("{header_alg:?}"), alg);
            let claims = if alg == "RS256" {
                let set = jwks(&mut w.client).await;
                assert!(set.keys.len() >= 4, "ES256 and RS256 keys published");
                relais::franceconnect::jose::verify(
                    id_token,
                    &set,
                    &[jsonwebtoken::Algorithm::RS256],
                )
                .unwrap()
            } else {
                let key = relais::idp::keys::hs256_key(&app.state.config.secret_key, id);
                let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
                v.validate_exp = false;
                v.set_audience(&[id]);
                jsonwebtoken::decode::<serde_json::Value>(
                    id_token,
                    &jsonwebtoken::DecodingKey::from_secret(key.as_bytes()),
                    &v,
                )
                .unwrap()
                .claims
            };
            assert_eq!(claims["aud"], id);
            let info = w
                .client
                .get_bearer("/oidc/userinfo", t["access_token"].as_str().unwrap())
                .await;
            assert_eq!(info.status, StatusCode::OK);
            if id == "ancien" {
                assert!(
                    info.headers["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("application/json")
                );
                let v: serde_json::Value = serde_json::from_str(&info.body).unwrap();
                assert_eq!(v["family_name"], "USAGÈRE1");
                // The legacy client's HS256 ID token is a valid logout hint.
                let r = w
                    .client
                    .get(&format!("/oidc/session/end?id_token_hint={id_token}"))
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                assert!(r.contains("Vous êtes déconnecté du service en ligne"));
            } else {
                assert_eq!(info.headers["content-type"], "application/jwt");
            }
        }
    }
}

/// The `openidconnect` crate as an independent client of the provider: discovery,
/// authorization URL with PKCE and nonce, code exchange (client_secret_basic),
/// ID token signature checked through the JWKS, userinfo JWT; then tampering, code
/// reuse and key rotation seen from that client.
mod independent_client {
    use super::*;
    use openidconnect::core::{
        CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
    };
    use openidconnect::{
        AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
        IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope,
        TokenResponse,
    };
    use tower::ServiceExt;

    /// The crate's HTTP calls go to the app's router, in process.
    fn http(
        router: axum::Router,
    ) -> impl Fn(
        openidconnect::HttpRequest,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, std::io::Error>>
                + Send,
        >,
    > {
        move |req: openidconnect::HttpRequest| {
            let router = router.clone();
            Box::pin(async move {
                let (parts, body) = req.into_parts();
                let path = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default();
                let mut builder = axum::http::Request::builder()
                    .method(parts.method)
                    .uri(path);
                for (k, v) in &parts.headers {
                    builder = builder.header(k, v);
                }
                let res = router
                    .oneshot(
                        builder
                            .body(axum::body::Body::from(body))
                            .map_err(std::io::Error::other)?,
                    )
                    .await
                    .map_err(std::io::Error::other)?;
                let (parts, body) = res.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .map_err(std::io::Error::other)?;
                let mut out = openidconnect::http::Response::builder().status(parts.status);
                for (k, v) in &parts.headers {
                    out = out.header(k, v);
                }
                out.body(bytes.to_vec()).map_err(std::io::Error::other)
            })
        }
    }

    /// The aidant's part, from the authorization URL to the redirect's query.
    async fn aidant_chooses(app: &TestApp, w: &mut World, url: &url::Url) -> url::Url {
        let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
        let r = w.client.get(&path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = r.location().to_owned();
        let p = w.client.get(&page).await;
        if p.contains("confirmez d'abord") {
            let code = app.next_code(&w.aidant.secret);
            w.client
                .post(&format!("{page}/confirmer"), &[("code", &code)])
                .await;
        }
        w.client
            .post(
                &format!("{page}/usager"),
                &[("usager", &w.usager.to_string())],
            )
            .await;
        let aid = mandats::active_autorisations(app.db(), w.structure, w.usager, app.clock_now())
            .await
            .unwrap()[0]
            .0;
        let r = w
            .client
            .post(
                &format!("{page}/demarche"),
                &[("autorisation", &aid.to_string())],
            )
            .await;
        url::Url::parse(r.location()).unwrap()
    }

    fn oidc_client(
        metadata: CoreProviderMetadata,
        id: &str,
        secret: &str,
        redirect: &str,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(id.into()),
            Some(ClientSecret::new(secret.into())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap())
    }

    /// One login through the crate: returns (code, nonce, verifier, state ok).
    async fn login(
        app: &TestApp,
        w: &mut World,
        client: &openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
    ) -> (String, Nonce, openidconnect::PkceCodeVerifier) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("birth".into()))
            .add_auth_context_value(AuthenticationContextClass::new("eidas1".into()))
            .set_pkce_challenge(challenge)
            .url();
        let back = aidant_chooses(app, w, &url).await;
        let param = |k: &str| {
            back.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(param("state").as_deref(), Some(csrf.secret().as_str()));
        (param("code").unwrap(), nonce, verifier)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn openidconnect_crate_as_client() {
        for backend in crate::common::backends() {
            let mut config = crate::common::test_config();
            config.idp_clients = config.idp_clients();
            let mut rsa = super::client("rsa", "RS256", false, "jwt");
            rsa.redirect_uris = vec![redirect_uri()];
            config.idp_clients.push(rsa);
            let app = TestApp::with_config(backend, config).await;
            let mut w = world(&app, &[Demarche::Famille]).await;
            let http = http(app.router.clone());
            let discover = || async {
                CoreProviderMetadata::discover_async(IssuerUrl::new(ORIGIN.into()).unwrap(), &http)
                    .await
                    .unwrap()
            };
            let now = app.clock_now();
            let clock = move || chrono::DateTime::from_timestamp(now, 0).unwrap();

            // ES256 (the default): ID token checked by the crate through the JWKS.
            let es = oidc_client(
                discover().await,
                DEMO_CLIENT_ID,
                DEMO_CLIENT_SECRET,
                &redirect_uri(),
            );
            let (code, nonce, verifier) = login(&app, &mut w, &es).await;
            let token = es
                .exchange_code(AuthorizationCode::new(code.clone()))
                .unwrap()
                .set_pkce_verifier(verifier)
                .request_async(&http)
                .await
                .unwrap();
            let id_verifier = es.id_token_verifier().set_time_fn(clock);
            let id_token = token.id_token().unwrap();
            let claims = id_token.claims(&id_verifier, &nonce).unwrap();
            assert_eq!(
                claims.auth_context_ref().map(|a| a.as_str()),
                Some("eidas1")
            );
            assert_eq!(claims.issuer().as_str(), ORIGIN);
            assert!(
                id_token
                    .claims(&id_verifier, &Nonce::new("autre".into()))
                    .is_err()
            );
            let text = id_token.to_string();
            // Change one character in the middle of the signature (its bits all count).
            let mut chars: Vec<char> = text.chars().collect();
            let i = chars.len() - 20;
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let tampered: openidconnect::core::CoreIdToken =
                chars.into_iter().collect::<String>().parse().unwrap();
            assert!(
                tampered.claims(&id_verifier, &nonce).is_err(),
                "signature checked"
            );
            // `amr` read by the crate.
            assert_eq!(claims.auth_method_refs().map(|a| a.len()), Some(2), "amr");
            // PKCE downgrade through the crate: a request without challenge, then a
            // verifier at the token endpoint → refused.
            let (url, _, _) = es
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    CsrfToken::new_random,
                    Nonce::new_random,
                )
                .add_scope(Scope::new("profile".into()))
                .add_scope(Scope::new("email".into()))
                .add_scope(Scope::new("birth".into()))
                .url();
            let back = aidant_chooses(&app, &mut w, &url).await;
            // The answer carries `iss` (RFC 9207), as discovery announces.
            assert!(back.query_pairs().any(|(k, v)| k == "iss" && v == ORIGIN));
            let downgraded = back
                .query_pairs()
                .find(|(k, _)| k == "code")
                .unwrap()
                .1
                .into_owned();
            let (_, stray) = PkceCodeChallenge::new_random_sha256();
            assert!(
                es.exchange_code(AuthorizationCode::new(downgraded))
                    .unwrap()
                    .set_pkce_verifier(stray)
                    .request_async(&http)
                    .await
                    .is_err(),
                "a verifier without a challenge is refused"
            );
            // The same code again: refused.
            let (_, verifier2) = PkceCodeChallenge::new_random_sha256();
            assert!(
                es.exchange_code(AuthorizationCode::new(code))
                    .unwrap()
                    .set_pkce_verifier(verifier2)
                    .request_async(&http)
                    .await
                    .is_err()
            );

            // RS256 client: ID token and signed userinfo both checked by the crate.
            let rs = oidc_client(discover().await, "rsa", "secret de rsa", &redirect_uri());
            let (code, nonce, verifier) = login(&app, &mut w, &rs).await;
            let token = rs
                .exchange_code(AuthorizationCode::new(code))
                .unwrap()
                .set_pkce_verifier(verifier)
                .request_async(&http)
                .await
                .unwrap();
            let claims = token
                .id_token()
                .unwrap()
                .claims(&rs.id_token_verifier().set_time_fn(clock), &nonce)
                .unwrap()
                .clone();
            let info: CoreUserInfoClaims = rs
                .user_info(token.access_token().clone(), Some(claims.subject().clone()))
                .unwrap()
                .require_signed_response(true)
                .request_async(&http)
                .await
                .unwrap();
            assert_eq!(info.email().map(|e| e.as_str()), Some("jeanne@exemple.fr"));
            assert_eq!(
                info.family_name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str()),
                Some("USAGÈRE1")
            );

            // After a rotation, a client that reads the provider again verifies new tokens.
            relais::idp::keys::rotate(
                app.db(),
                &app.state.config.secret_key,
                app.clock_now(),
                relais::idp::ID_TOKEN_TTL,
            )
            .await
            .unwrap();
            app.state.idp_keys.invalidate();
            let es = oidc_client(
                discover().await,
                DEMO_CLIENT_ID,
                DEMO_CLIENT_SECRET,
                &redirect_uri(),
            );
            let (code, nonce, verifier) = login(&app, &mut w, &es).await;
            let token = es
                .exchange_code(AuthorizationCode::new(code))
                .unwrap()
                .set_pkce_verifier(verifier)
                .request_async(&http)
                .await
                .unwrap();
            let now = app.clock_now();
            let id_verifier = es
                .id_token_verifier()
                .set_time_fn(move || chrono::DateTime::from_timestamp(now, 0).unwrap());
            token
                .id_token()
                .unwrap()
                .claims(&id_verifier, &nonce)
                .unwrap();
        }
    }
}

// OpenID Connect Core, Discovery, RP-Initiated Logout, RFC 6749, 6750, 7636, 9207
// and RFC 9700, point by point (issue 12, part A).
crate::both_backends!(conformance_to_the_letter, |app: TestApp| async move {
    let mut w = world(&app, &[Demarche::Loisirs]).await;
    let redirect = redirect_uri();
    // Discovery says what is and is not supported.
    let d: serde_json::Value =
        serde_json::from_str(&w.client.get("/.well-known/openid-configuration").await.body)
            .unwrap();
    assert_eq!(d["request_parameter_supported"], false);
    assert_eq!(d["request_uri_parameter_supported"], false);
    assert_eq!(d["response_modes_supported"], serde_json::json!(["query"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    for claim in [
        "acr",
        "auth_time",
        "amr",
        "rep_scope",
        "aidant",
        "structure",
    ] {
        assert!(
            d["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!(claim)),
            "{claim}"
        );
    }
    assert_eq!(
        d["prompt_values_supported"],
        serde_json::json!(["none", "login", "consent"])
    );

    // Same second as the sign-in, prompt=login: the TOTP code is asked.
    let r = w
        .client
        .get(&format!("/oidc/authorize?{}", query(&[])))
        .await;
    let page = w.client.get(r.location()).await;
    assert!(page.contains("confirmez d'abord"), "{}", page.body);

    // Unknown and optional parameters are accepted; acr_values is a preference list.
    for extra in [
        "extra=1&display=page&ui_locales=fr&claims_locales=fr&login_hint=x&id_token_hint=y",
        "acr_values=eidas2+eidas1",
    ] {
        let q = format!("{}&{extra}", query(&[("acr_values", None)]));
        let r = w.client.get(&format!("/oidc/authorize?{q}")).await;
        assert!(
            r.location().starts_with("/oidc/autorisation/"),
            "{extra}: {}",
            r.location()
        );
    }
    // State: not UTF-8 once decoded → refused, never altered; too long → refused.
    for (state, echoed) in [("%FF%FE", false), (&"s".repeat(600) as &str, false)] {
        let q = format!("{}&state={state}", query(&[("state", None)]));
        let r = w.client.get(&format!("/oidc/authorize?{q}")).await;
        assert!(r.location().starts_with(&redirect), "{}", r.location());
        assert!(r.location().contains("error=invalid_request"));
        assert_eq!(r.location().contains("state="), echoed);
    }
    // max_age: a sign-in older than it asks the code again; a younger one does not.
    app.clock.advance(300);
    for (max_age, step) in [
        ("60", "confirmez d'abord"),
        ("3600", "Pour quelle personne"),
    ] {
        let q = query(&[("prompt", None), ("max_age", Some(max_age))]);
        let r = w.client.get(&format!("/oidc/authorize?{q}")).await;
        let page = w.client.get(r.location()).await;
        assert!(page.contains(step), "max_age={max_age}: {}", page.body);
    }

    // Authorization by POST, from the client's site: no CSRF token, another Origin.
    let mut other = app.client();
    other.origin = Some("https://service.example".into());
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query(&[]).as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let fields: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = other.post_raw("/oidc/authorize", &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with("/oidc/autorisation/"));
    // Elsewhere, a post from another site is still refused.
    let r = other
        .post_raw("/connexion", &[("email", "x@exemple.fr")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // PKCE downgrade: no challenge in the request, a verifier at the token endpoint.
    let q = query(&[("code_challenge", None), ("code_challenge_method", None)]);
    let code = code_of(&flow(&app, &mut w, &q, None).await);
    let r = token(&mut w.client, &code, false, DEMO_CLIENT_SECRET).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("invalid_grant"));
    // A verifier longer than 128 characters is refused too.
    let code = code_of(&flow(&app, &mut w, &query(&[]), None).await);
    let long = "a".repeat(129);
    let r = w
        .client
        .post_raw(
            "/oidc/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                ("code_verifier", &long),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
            ],
        )
        .await;
    assert!(r.body.contains("invalid_grant"), "{}", r.body);
    // No grant_type: invalid_request; GET: a JSON error.
    let r = w
        .client
        .post_raw(
            "/oidc/token",
            &[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("\"invalid_request\""), "{}", r.body);
    let r = w.client.get("/oidc/token").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.body.contains("\"error\""), "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/json");

    // A full flow, the client authenticated with a lower-case scheme.
    let code = code_of(&flow(&app, &mut w, &query(&[]), None).await);
    let auth =
        data_encoding::BASE64.encode(format!("{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}").as_bytes());
    let r = w
        .client
        .post_with_header(
            "/oidc/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                ("code_verifier", VERIFIER),
            ],
            "authorization",
            &format!("basic {auth}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.headers["pragma"], "no-cache");
    let t: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let claims = verify(t["id_token"].as_str().unwrap(), &jwks(&mut w.client).await);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    let aidant_id = claims["aidant"]["id"]
        .as_str()
        .expect("a text identifier")
        .to_owned();
    assert!(aidant_id.len() >= 32 && aidant_id != w.aidant.id.to_string());
    // Userinfo by POST with a lower-case scheme; claims without value left out.
    let access = t["access_token"].as_str().unwrap();
    let r = w
        .client
        .post_with_header(
            "/oidc/userinfo",
            &[],
            "authorization",
            &format!("bearer {access}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let info = relais::franceconnect::jose::verify(
        &r.body,
        &jwks(&mut w.client).await,
        &[jsonwebtoken::Algorithm::ES256],
    )
    .unwrap();
    assert!(info.get("preferred_username").is_none(), "{info}");
    assert!(info.get("given_name").is_some());
    // The same aidant keeps the same identifier.
    let code = code_of(&flow(&app, &mut w, &query(&[]), None).await);
    let t: serde_json::Value = serde_json::from_str(
        &token(&mut w.client, &code, false, DEMO_CLIENT_SECRET)
            .await
            .body,
    )
    .unwrap();
    let claims = verify(t["id_token"].as_str().unwrap(), &jwks(&mut w.client).await);
    assert_eq!(claims["aidant"]["id"].as_str(), Some(aidant_id.as_str()));
    // Userinfo failures (RFC 6750 §3).
    let r = w.client.get("/oidc/userinfo").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"relais\"");
    let r = w.client.get_bearer("/oidc/userinfo", "faux").await;
    assert_eq!(
        r.headers["www-authenticate"],
        "Bearer realm=\"relais\", error=\"invalid_token\""
    );
});

// A structure with more usagers than the list shows (50): the one found by a
// search, beyond the first page, can still be chosen (the choice is checked on
// its own, not against the first page of the list).
crate::both_backends!(
    a_usager_beyond_the_first_page_can_be_chosen,
    |app: TestApp| async move {
        let mut w = world(&app, &[Demarche::Social]).await;
        for n in 2..=56 {
            let mut id = identity(100 + n, &format!("personne{n}@exemple.fr"));
            id.family_name = format!("AAAA{n:03}");
            crate::common::mandate(
                &app,
                w.structure,
                w.aidant.id,
                mandats::UsagerRef::Identified(&id),
                &[Demarche::Social],
                Duree::Long,
            )
            .await
            .unwrap();
        }
        let r = flow(&app, &mut w, &query(&[]), Some(Demarche::Social)).await;
        assert!(!code_of(&r).is_empty());
    }
);
