//! The FranceConnect simulator's protocol checks, the client's session binding, and
//! the surroundings of mandates: journal page and CSV, forged attestations, démarches
//! restricted by the structure.

use axum::http::StatusCode;
use relais::domain::Role;
use relais::mandats::{self, Demarche};

use crate::common::{Client, ORIGIN, TestApp};

const SIM: &str = "/franceconnect-simulateur/api/v2";

fn authorize_query(app: &TestApp, overrides: &[(&str, Option<&str>)]) -> String {
    let redirect = app.state.config.franceconnect_redirect_uri();
    let client_id = app.state.config.fc_client_id.clone();
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), client_id),
        ("redirect_uri".into(), redirect),
        (
            "scope".into(),
            "openid given_name family_name birthdate".into(),
        ),
        ("state".into(), "etat-de-test".into()),
        ("nonce".into(), "un-nonce-suffisamment-long-pour-fc".into()),
        ("acr_values".into(), "eidas1".into()),
    ];
    for (k, v) in overrides {
        params.retain(|(n, _)| n != k);
        if let Some(v) = v {
            params.push(((*k).into(), (*v).into()));
        }
    }
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

crate::both_backends!(simulator_authorize_is_strict, |app: TestApp| async move {
    let mut c = app.client();
    let ok = c
        .get(&format!("{SIM}/authorize?{}", authorize_query(&app, &[])))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.contains("Choisir une identité de test"));
    // Refused without redirecting: unknown or duplicated parameter, unregistered redirect_uri.
    for (query, reason) in [
        (
            format!("{}&inconnu=1", authorize_query(&app, &[])),
            "paramètre inconnu",
        ),
        (
            format!("{}&state=deux", authorize_query(&app, &[])),
            "paramètre en double",
        ),
        (
            authorize_query(
                &app,
                &[("redirect_uri", Some("https://pirate.example/retour"))],
            ),
            "redirect_uri",
        ),
        (
            authorize_query(&app, &[("client_id", Some("autre"))]),
            "client_id",
        ),
    ] {
        let r = c.get(&format!("{SIM}/authorize?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{reason}");
        assert!(r.contains(reason), "{reason}: {}", r.body);
        assert!(!r.headers.contains_key("location"));
    }
    // Once the redirect_uri is trusted, errors go back to it with the state.
    for (overrides, error) in [
        (vec![("nonce", None)], "invalid_request"),
        (vec![("nonce", Some("court"))], "invalid_request"),
        (vec![("acr_values", None)], "invalid_request"),
        (vec![("scope", Some("profile"))], "invalid_scope"),
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
    ] {
        let r = c
            .get(&format!(
                "{SIM}/authorize?{}",
                authorize_query(&app, &overrides)
            ))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{overrides:?}");
        let loc = r.location();
        assert!(
            loc.starts_with(&app.state.config.franceconnect_redirect_uri()),
            "{loc}"
        );
        assert!(loc.contains(&format!("error={error}")), "{loc}");
        assert!(loc.contains("state=etat-de-test"), "{loc}");
    }
});

/// Runs the picker and returns the code from the redirect.
async fn code_for(app: &TestApp, c: &mut Client, scenario: &str) -> String {
    let query = authorize_query(app, &[]);
    c.get(&format!("{SIM}/authorize?{query}")).await;
    let r = c
        .post(
            &format!("{SIM}/authorize"),
            &[
                ("requete", &query),
                ("identite", "jeanne-dupont"),
                ("scenario", scenario),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let loc = url::Url::parse(r.location()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert!(
        loc.query_pairs()
            .any(|(k, v)| k == "iss" && v.ends_with("/api/v2"))
    );
    code
}

fn token_form<'a>(app: &'a TestApp, code: &'a str, secret: &'a str) -> Vec<(&'a str, String)> {
    vec![
        ("grant_type", "authorization_code".into()),
        ("code", code.into()),
        (
            "redirect_uri",
            app.state.config.franceconnect_redirect_uri(),
        ),
        ("client_id", app.state.config.fc_client_id.clone()),
        ("client_secret", secret.into()),
    ]
}

async fn post_token(c: &mut Client, form: &[(&str, String)]) -> crate::common::Resp {
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    c.post_raw(&format!("{SIM}/token"), &fields).await
}

crate::both_backends!(
    simulator_codes_are_single_use_and_short_lived,
    |app: TestApp| async move {
        let mut c = app.client();
        let secret = app.state.config.fc_client_secret.clone();
        let code = code_for(&app, &mut c, "normal").await;
        // Wrong secret: refused, and the code stays usable.
        let r = post_token(&mut c, &token_form(&app, &code, "mauvais secret")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("invalid_client"));
        let r = post_token(&mut c, &token_form(&app, &code, &secret)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let tokens: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let info = c.get_bearer(&format!("{SIM}/userinfo"), &access).await;
        assert_eq!(info.status, StatusCode::OK);
        assert_eq!(info.headers["content-type"], "application/jwt");
        // Second use of the code: refused, and what it issued is revoked.
        let r = post_token(&mut c, &token_form(&app, &code, &secret)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("invalid_grant"));
        let info = c.get_bearer(&format!("{SIM}/userinfo"), &access).await;
        assert_eq!(info.status, StatusCode::UNAUTHORIZED);
        // A code used after 30 seconds is refused; an access token dies after 60 seconds.
        let late = code_for(&app, &mut c, "normal").await;
        app.clock.advance(31);
        let r = post_token(&mut c, &token_form(&app, &late, &secret)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let fresh = code_for(&app, &mut c, "normal").await;
        let r = post_token(&mut c, &token_form(&app, &fresh, &secret)).await;
        let tokens: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        app.clock.advance(61);
        let info = c
            .get_bearer(
                &format!("{SIM}/userinfo"),
                tokens["access_token"].as_str().unwrap(),
            )
            .await;
        assert_eq!(info.status, StatusCode::UNAUTHORIZED);
        // session/end requires a valid hint, a registered URI and a state.
        let hint = tokens["id_token"].as_str().unwrap();
        let logout = app.state.config.franceconnect_post_logout_uri();
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        for (query, expected) in [
            (
                format!("state=x&post_logout_redirect_uri={}", enc(&logout)),
                "id_token_hint est requis",
            ),
            (
                format!(
                    "id_token_hint=abc.def.ghi&state=x&post_logout_redirect_uri={}",
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
            (
                format!(
                    "id_token_hint={hint}&post_logout_redirect_uri={}",
                    enc(&logout)
                ),
                "state est requis",
            ),
        ] {
            let r = c.get(&format!("{SIM}/session/end?{query}")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{expected}");
            assert!(r.contains(expected), "{expected}: {}", r.body);
        }
        let r = c
            .get(&format!(
                "{SIM}/session/end?id_token_hint={hint}&state=x&post_logout_redirect_uri={}",
                enc(&logout)
            ))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), format!("{logout}?state=x"));
    }
);

crate::both_backends!(
    franceconnect_state_is_bound_to_the_session,
    |app: TestApp| async move {
        let sid = app.structure("Structure liée").await;
        let a = app.member(sid, Role::Aidant, "a").await;
        let b = app.member(sid, Role::Aidant, "b").await;
        let mut ca = app.login(&a).await;
        let r = ca
            .post(
                "/mandats/nouveau",
                &[("demarche", "papiers"), ("duree", "1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let url = url::Url::parse(r.location()).unwrap();
        let state = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        // Another aidant's session presenting A's state: refused, nothing written.
        let mut cb = app.login(&b).await;
        let r = cb
            .get(&format!(
                "/mandats/franceconnect/retour?code=abc&state={state}"
            ))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.contains("ne correspond pas à votre session"));
        // After 30 minutes the draft is gone for A too.
        app.clock.advance(31 * 60);
        let r = ca
            .get(&format!(
                "/mandats/franceconnect/retour?code=abc&state={state}"
            ))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.contains("a expiré"));
        let n: i64 = app
            .db()
            .fetch_one("SELECT COUNT(*) AS n FROM usagers", &[])
            .await
            .unwrap()
            .get("n")
            .unwrap();
        assert_eq!(n, 0);
    }
);

fn identity(n: u32, family: &str) -> mandats::Identity {
    mandats::Identity {
        sub_hash: relais::crypto::sha256_hex(&format!("sub-{n}")),
        given_name: "Léa".into(),
        family_name: family.into(),
        preferred_username: String::new(),
        birthdate: "1970-05-06".into(),
        gender: "female".into(),
        birthplace: String::new(),
        birthcountry: "99134".into(),
        email: String::new(),
    }
}

async fn create(
    app: &TestApp,
    sid: i64,
    account: i64,
    who: &mandats::Identity,
    d: &[Demarche],
) -> mandats::Created {
    crate::common::mandate(
        app,
        sid,
        account,
        mandats::UsagerRef::Identified(who),
        d,
        mandats::Duree::Mois,
    )
    .await
    .unwrap()
}

crate::both_backends!(journal_page_filters_and_csv, |app: TestApp| async move {
    let sid = app.structure("Structure journalisée").await;
    let referent = app.member(sid, Role::Referent, "ref").await;
    let aidant = app.member(sid, Role::Aidant, "aidant").await;
    let mut formula = identity(1, "DURAND");
    formula.given_name = "=HYPERLINK(\"x\")".into();
    create(&app, sid, aidant.id, &formula, &[Demarche::Papiers]).await;
    create(
        &app,
        sid,
        referent.id,
        &identity(2, "MARTIN"),
        &[Demarche::Social, Demarche::Justice],
    )
    .await;
    let mut c = app.login(&referent).await;
    let all = c.get(&format!("/structures/{sid}/journal")).await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.contains("Léa MARTIN"));
    let only = c
        .get(&format!(
            "/structures/{sid}/journal?action=creation_autorisation&aidant={}",
            referent.id
        ))
        .await;
    assert!(only.contains("2 entrées"), "{}", only.body);
    let csv = c
        .get(&format!(
            "/structures/{sid}/journal.csv?action=creation_mandat"
        ))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let rows = crate::common::spreadsheet(&csv.body);
    assert_eq!(rows.len(), 3, "header + 2 mandates: {}", csv.body);
    assert_eq!(
        rows[0][..4],
        ["Numéro", "Date", "Action", "Code de l'action"]
    );
    // The action as people read it, its code in its own column, the date in French.
    assert_eq!(
        crate::common::column(&rows, "Action"),
        ["Création d'un mandat"; 2]
    );
    assert_eq!(
        crate::common::column(&rows, "Code de l'action"),
        ["creation_mandat"; 2]
    );
    let date = crate::common::column(&rows, "Date")[0];
    assert!(
        date.len() == 16 && date.as_bytes()[2] == b'/' && date.as_bytes()[13] == b':',
        "03/12/2026 14:05: {date}"
    );
    assert!(csv.body.contains("'=HYPERLINK"), "formulas neutralised");
    // Dates: a range in the future holds nothing.
    let none = c
        .get(&format!("/structures/{sid}/journal?du=01/01/2099"))
        .await;
    assert!(none.contains("0 entrée"));
});

crate::both_backends!(
    forged_attestation_is_not_authentic,
    |app: TestApp| async move {
        let sid = app.structure("Structure signée").await;
        let aidant = app.member(sid, Role::Aidant, "aidant").await;
        let created = create(
            &app,
            sid,
            aidant.id,
            &identity(3, "PETIT"),
            &[Demarche::Logement],
        )
        .await;
        let token = created.attestation_token;
        let mut c = app.client();
        let r = c.get(&format!("/verifier/{token}")).await;
        assert!(r.contains("Attestation authentique"));
        assert!(r.contains("L. P."));
        let keys = c.get("/verifier/cles").await;
        assert!(keys.body.contains(&app.state.signer.public_key));
        // Someone with database access widens the démarches: the signature no longer matches.
        app.db().execute("UPDATE attestations SET payload = REPLACE(payload, '\"logement\"', '\"logement\",\"argent\"') WHERE token = $1", relais::args![&token])
        .await
        .unwrap();
        let r = c.get(&format!("/verifier/{token}")).await;
        assert!(r.contains("Attestation non authentique"), "{}", r.body);
        let unknown = c.get(&format!("/verifier/{}", "0".repeat(32))).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert!(unknown.contains("Attestation inconnue"));
        let _ = ORIGIN;
    }
);

crate::both_backends!(structure_restricts_demarches, |app: TestApp| async move {
    let sid = app.structure("Structure restreinte").await;
    let aidant = app.member(sid, Role::Aidant, "aidant").await;
    mandats::set_allowed_demarches(app.db(), sid, Some(&[Demarche::Papiers, Demarche::Famille]))
        .await
        .unwrap();
    let mut c = app.login(&aidant).await;
    let form = c.get("/mandats/nouveau").await;
    assert!(form.contains("demarche-papiers"));
    assert!(!form.contains("demarche-argent"));
    let r = c
        .post(
            "/mandats/nouveau",
            &[("demarche", "argent"), ("duree", "31")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("n'est pas autorisée par votre structure"));
    let refused = crate::common::mandate(
        &app,
        sid,
        aidant.id,
        mandats::UsagerRef::Identified(&identity(4, "ROUX")),
        &[Demarche::Argent],
        mandats::Duree::Court,
    )
    .await;
    assert!(matches!(refused, Err(mandats::MandatError::Refused(_))));
});
