//! The usager's own space and mandates given at a distance, over HTTP with the
//! FranceConnect simulator: who sees what, revocation and deletion by the usager,
//! the remote consent and every way its link must fail, the SMS provider.

use axum::http::StatusCode;
use relais::domain::Role;
use relais::journal::{self, Action, NewEntry};
use relais::mandats;

use crate::common::{Client, Resp, SMS_CALLBACK_SECRET, TestApp, User};
use crate::mandats::{confirm, follow, through_franceconnect};

/// From a response that leads to FranceConnect: picks `identity` in the
/// simulator and follows the way back.
pub(crate) async fn through_simulator(
    c: &mut Client,
    to_fc: Resp,
    identity: &str,
    scenario: &str,
) -> Resp {
    assert_eq!(to_fc.status, StatusCode::SEE_OTHER, "{}", to_fc.body);
    let picker = follow(c, to_fc).await;
    assert!(
        picker.contains("Ceci n'est pas FranceConnect"),
        "{}",
        picker.body
    );
    let requete = crate::common::extract_between(&picker.body, "name=\"requete\" value=\"", "\"")
        .map(|s| crate::common::unescape(&s))
        .unwrap();
    let r = c
        .post(
            "/franceconnect-simulateur/api/v2/authorize",
            &[
                ("requete", &requete),
                ("identite", identity),
                ("scenario", scenario),
            ],
        )
        .await;
    follow(c, r).await
}

/// A person signs in to their space; returns the page they land on.
pub(crate) async fn sign_in(c: &mut Client, identity: &str) -> Resp {
    let r = c.post("/mon-espace/connexion", &[]).await;
    through_simulator(c, r, identity, "normal").await
}

/// An aidant creates a mandate with `identity` through FranceConnect; returns its id.
pub(crate) async fn mandate_for(
    app: &TestApp,
    aidant: &User,
    identity: &str,
    demarches: &[&str],
) -> i64 {
    let mut c = app.login(aidant).await;
    let recap = through_franceconnect(&mut c, demarches, "365", identity, "normal").await;
    assert_eq!(recap.status, StatusCode::OK, "{}", recap.body);
    let r = confirm(app, &mut c, &recap, aidant).await;
    r.location()
        .trim_start_matches("/mandats/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    app.db()
        .fetch_one(sql, &[])
        .await
        .unwrap()
        .get("n")
        .unwrap()
}

/// Records a use of an autorisation as the identity provider does.
async fn record_use(app: &TestApp, structure: i64, aidant: i64, mandat_id: i64, client: &str) {
    let row = app
        .db()
        .fetch_one(
            "SELECT id, usager_id, demarche FROM autorisations WHERE mandat_id = $1 ORDER BY id LIMIT 1",
            relais::args![mandat_id],
        )
        .await
        .unwrap();
    let aid: i64 = row.get("id").unwrap();
    let uid: i64 = row.get("usager_id").unwrap();
    let demarche: String = row.get("demarche").unwrap();
    let mut tx = app.db().begin().await.unwrap();
    journal::append(
        &mut tx,
        &NewEntry::new(structure, Action::UtilisationAutorisation)
            .account(aidant)
            .usager(uid)
            .autorisation(aid, &demarche)
            .details(serde_json::json!({ "client": client })),
        app.clock_now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

crate::both_backends!(
    usagers_see_their_own_mandates_and_uses_only,
    |app: TestApp| async move {
        let a = app.structure("Mairie de Joigny").await;
        let b = app.structure("France Services de Sens").await;
        let aidant_a = app.member(a, Role::Aidant, "camille").await;
        let aidant_b = app.member(b, Role::Aidant, "lea").await;
        let angela_a = mandate_for(&app, &aidant_a, "angela-dubois", &["social", "argent"]).await;
        let angela_b = mandate_for(&app, &aidant_b, "angela-dubois", &["papiers"]).await;
        let jeanne_a = mandate_for(&app, &aidant_a, "jeanne-dupont", &["logement"]).await;
        record_use(&app, a, aidant_a.id, angela_a, "service-caf").await;
        record_use(&app, b, aidant_b.id, angela_b, "service-ants").await;
        record_use(&app, a, aidant_a.id, jeanne_a, "service-logement").await;
        let usagers = count(&app, "SELECT COUNT(*) AS n FROM usagers").await;

        // The home page leads to the space; without a session, the landing.
        let home = app.client().get("/").await;
        assert!(home.contains("href=\"/mon-espace\""));
        let mut angela = app.client();
        let landing = angela.get("/mon-espace").await;
        assert_eq!(landing.status, StatusCode::OK);
        assert!(landing.contains("Me connecter avec FranceConnect"));
        assert!(angela.get("/mon-espace/mandats").await.location() == "/mon-espace");

        let page = sign_in(&mut angela, "angela-dubois").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.contains("Bonjour Angela Claire Louise DUBOIS"));
        for seen in [
            "Mairie de Joigny",
            "France Services de Sens",
            "Social",
            "Argent",
            "Papiers",
            "service-caf",
            "service-ants",
        ] {
            assert!(page.contains(seen), "{seen} absent : {}", page.body);
        }
        for unseen in ["service-logement", "DUPONT", "Logement"] {
            assert!(!page.contains(unseen), "{unseen} visible par Angela");
        }
        // One mandate's page: its uses with the aidant's name, its attestation.
        let detail = angela.get(&format!("/mon-espace/mandats/{angela_a}")).await;
        assert_eq!(detail.status, StatusCode::OK);
        assert!(detail.contains("service-caf") && !detail.contains("service-ants"));
        let aidant_name = app
            .db()
            .fetch_one(
                "SELECT full_name FROM accounts WHERE id = $1",
                relais::args![aidant_a.id],
            )
            .await
            .unwrap()
            .get::<String>("full_name")
            .unwrap();
        assert!(detail.contains(&aidant_name));
        let token = crate::common::extract_between(&detail.body, "/mon-espace/attestations/", "\"")
            .unwrap();
        let att = angela
            .get(&format!("/mon-espace/attestations/{token}"))
            .await;
        assert_eq!(att.status, StatusCode::OK);
        assert!(att.contains("Attestation de mandat"));
        let pdf = angela
            .get_bytes(&format!("/mon-espace/attestations/{token}/pdf"))
            .await;
        crate::common::check_pdf_text(&pdf, &["Attestation de mandat", "Mairie de Joigny"]);
        // Someone else's mandate or attestation: not found.
        assert_eq!(
            angela
                .get(&format!("/mon-espace/mandats/{jeanne_a}"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let jeanne_token = app
            .db()
            .fetch_one(
                "SELECT token FROM attestations WHERE mandat_id = $1",
                relais::args![jeanne_a],
            )
            .await
            .unwrap()
            .get::<String>("token")
            .unwrap();
        assert_eq!(
            angela
                .get(&format!("/mon-espace/attestations/{jeanne_token}"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            angela
                .get(&format!("/mon-espace/mandats/{jeanne_a}/revoquer"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );

        // Jeanne sees hers, not Angela's.
        let mut jeanne = app.client();
        let page = sign_in(&mut jeanne, "jeanne-dupont").await;
        assert!(page.contains("Logement") && page.contains("service-logement"));
        assert!(!page.contains("service-caf") && !page.contains("France Services de Sens"));

        // Someone without any mandate: a plain message, nothing created.
        let mut lucas = app.client();
        let r = sign_in(&mut lucas, "lucas-martin").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.contains("Aucun mandat à votre nom"), "{}", r.body);
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM usagers").await,
            usagers
        );
        assert_eq!(
            lucas.get("/mon-espace/mandats").await.location(),
            "/mon-espace"
        );

        // 15 minutes idle: the session is over.
        app.clock.advance(14 * 60);
        assert_eq!(
            jeanne.get("/mon-espace/mandats").await.status,
            StatusCode::OK
        );
        app.clock.advance(15 * 60 + 1);
        let r = jeanne.get("/mon-espace/mandats").await;
        assert_eq!(r.location(), "/mon-espace?session=terminee");
        assert!(
            jeanne
                .get("/mon-espace?session=terminee")
                .await
                .contains("15 minutes")
        );

        // Sign-out ends FranceConnect's session too.
        let mut angela = app.client();
        sign_in(&mut angela, "angela-dubois").await;
        let r = angela.post("/mon-espace/deconnexion", &[]).await;
        assert!(
            r.location()
                .contains("/franceconnect-simulateur/api/v2/session/end"),
            "{}",
            r.location()
        );
        let end = follow(&mut angela, r).await;
        assert!(end.contains("Vous êtes déconnecté(e)"), "{}", end.body);
        assert_eq!(
            angela.get("/mon-espace/mandats").await.location(),
            "/mon-espace"
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM usager_sessions").await,
            0,
            "no session left: idle ones deleted on the next sign-in, the others at sign-out"
        );
    }
);

crate::both_backends!(
    a_usager_revokes_then_asks_for_deletion,
    |app: TestApp| async move {
        let a = app.structure("CCAS d'Auxerre").await;
        let aidant = app.member(a, Role::Aidant, "camille").await;
        let referent = app.member(a, Role::Referent, "sacha").await;
        let mid = mandate_for(&app, &aidant, "angela-dubois", &["social", "argent"]).await;
        let other = mandate_for(&app, &aidant, "jeanne-dupont", &["social"]).await;
        let mut c = app.client();
        sign_in(&mut c, "angela-dubois").await;
        let argent: i64 = app
            .db()
            .fetch_one(
                "SELECT id FROM autorisations WHERE mandat_id = $1 AND demarche = 'argent'",
                relais::args![mid],
            )
            .await
            .unwrap()
            .get("id")
            .unwrap();
        // One démarche: a confirmation page, then the same revocation as a référent's.
        let confirm_page = c
            .get(&format!(
                "/mon-espace/mandats/{mid}/autorisations/{argent}/revoquer"
            ))
            .await;
        assert!(confirm_page.contains("Retirer la démarche « Argent - Impôts - Consommation » ?"));
        let r = c
            .post(
                &format!("/mon-espace/mandats/{mid}/autorisations/{argent}/revoquer"),
                &[],
            )
            .await;
        assert!(r.location().ends_with("/revoquer"), "never in one click");
        let r = c
            .post(
                &format!("/mon-espace/mandats/{mid}/autorisations/{argent}/revoquer"),
                &[("confirmer", "oui")],
            )
            .await;
        assert_eq!(
            r.location(),
            "/mon-espace/mandats?info=autorisation-revoquee"
        );
        let entries = app.journal_details(a, "revocation_autorisation").await;
        assert_eq!(entries.len(), 1);
        assert!(entries[0].contains("\"par\":\"usager\""), "{entries:?}");
        let by: Option<i64> = app
            .db()
            .fetch_one(
                "SELECT revoked_by FROM autorisations WHERE id = $1",
                relais::args![argent],
            )
            .await
            .unwrap()
            .get("revoked_by")
            .unwrap();
        assert_eq!(by, None, "revoked by the usager, no account");
        // The structure is told, without the person's name.
        for who in [&referent.email, &aidant.email] {
            let mail = app.last_email_to(who);
            assert!(
                mail.subject.contains("une personne a révoqué"),
                "{}",
                mail.subject
            );
            assert!(!mail.body.contains("DUBOIS"));
        }
        // The revocation attestation says who revoked.
        let page = c.get(&format!("/mon-espace/mandats/{mid}")).await;
        assert!(page.contains("Attestation de révocation"));
        let token = app
            .db()
            .fetch_one(
                "SELECT token FROM attestations WHERE mandat_id = $1 AND kind = 'revocation'",
                relais::args![mid],
            )
            .await
            .unwrap()
            .get::<String>("token")
            .unwrap();
        let att = c.get(&format!("/mon-espace/attestations/{token}")).await;
        assert!(att.contains("par la personne elle-même"), "{}", att.body);
        let verify = app.client().get(&format!("/verifier/{token}")).await;
        assert!(
            verify.contains("authentique") || verify.contains("Authentique"),
            "{}",
            verify.body
        );

        // Deletion is refused while a mandate is active.
        let form = c.get("/mon-espace/suppression").await;
        assert!(form.contains("Arrêtez d'abord vos mandats en cours"));
        let r = c
            .post("/mon-espace/suppression", &[("confirmer", "oui")])
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        // The whole mandate, then the deletion.
        let r = c
            .post(
                &format!("/mon-espace/mandats/{mid}/revoquer"),
                &[("confirmer", "oui")],
            )
            .await;
        assert_eq!(r.location(), "/mon-espace/mandats?info=mandat-revoque");
        assert_eq!(app.journal_details(a, "revocation_mandat").await.len(), 1);
        let r = c
            .post("/mon-espace/suppression", &[("confirmer", "oui")])
            .await;
        assert_eq!(
            r.location(),
            "/mon-espace/mandats?info=suppression-demandee"
        );
        assert_eq!(
            app.journal_details(a, "demande_suppression_usager")
                .await
                .len(),
            1
        );
        let settings = relais::mandats::retention::Settings {
            retention_days: 365,
            public_url: crate::common::ORIGIN.to_owned(),
        };
        let report =
            relais::mandats::retention::run(app.db(), &app.mailer, &settings, app.clock_now())
                .await
                .unwrap();
        assert_eq!(report.deleted_on_request, 1);
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM usagers").await,
            1,
            "Jeanne stays"
        );
        assert_eq!(
            mandats::mandats(app.db(), a, None, Some(other), app.clock_now())
                .await
                .unwrap()
                .len(),
            1
        );
        app.assert_journal_intact().await;
        // Her session went with her data.
        assert_eq!(
            c.get("/mon-espace/mandats").await.status,
            StatusCode::SEE_OTHER
        );
    }
);

/// The aidant prepares a mandate at a distance; returns the consent link's path.
async fn send_link(app: &TestApp, c: &mut Client, fields: &[(&str, &str)]) -> (i64, String) {
    let r = c.post("/mandats/a-distance", fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id: i64 = r
        .location()
        .trim_start_matches("/mandats/a-distance/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (via_sms, text) = match app.sms_sent().last() {
        Some((_, _, text)) if fields.contains(&("canal", "sms")) => (true, text.clone()),
        _ => (false, String::new()),
    };
    let text = if via_sms {
        text
    } else {
        app.sent().last().unwrap().body.clone()
    };
    let start = text.find("/consentement/").expect("lien absent du message");
    let path = text[start..].split_whitespace().next().unwrap().to_owned();
    (id, path)
}

/// Reads the consent page and accepts it; returns the response leading to
/// FranceConnect.
async fn accept(c: &mut Client, path: &str) -> Resp {
    let page = c.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let empreinte =
        crate::common::extract_between(&page.body, "name=\"empreinte\" value=\"", "\"").unwrap();
    c.post(path, &[("accord", "1"), ("empreinte", &empreinte)])
        .await
}

crate::both_backends!(a_mandate_given_at_a_distance, |app: TestApp| async move {
    let a = app.structure("Mairie de Tonnerre").await;
    let aidant = app.member(a, Role::Aidant, "camille").await;
    let mut c = app.login(&aidant).await;
    let form = c.get("/mandats/a-distance").await;
    assert!(form.contains("Envoyer le lien à la personne") && form.contains("SMS"));
    // Bad input: clear errors, nothing written, nothing sent.
    let r = c
        .post(
            "/mandats/a-distance",
            &[
                ("demarche", "social"),
                ("duree", "182"),
                ("canal", "sms"),
                ("telephone", "01 23 45 67 89"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("portable français"));
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM mandat_liens").await,
        0
    );
    assert!(app.sms_sent().is_empty());

    let (lid, path) = send_link(
        &app,
        &mut c,
        &[
            ("demarche", "social"),
            ("demarche", "logement"),
            ("duree", "182"),
            ("canal", "sms"),
            ("telephone", "06 12 34 56 78"),
        ],
    )
    .await;
    let (provider_id, to, text) = app.sms_sent().last().unwrap().clone();
    assert_eq!(to, "+33612345678");
    assert!(text.contains("Mairie de Tonnerre") && text.chars().count() <= 459);
    let status = c.get(&format!("/mandats/a-distance/{lid}")).await;
    assert!(status.contains("En attente de l'accord") && status.contains("06 •• •• •• 78"));
    assert!(
        !status.contains("12 34 56"),
        "the number is never shown in full"
    );
    assert_eq!(
        app.journal_details(a, "mandat_distance_envoi").await.len(),
        1
    );

    // A tampered link, an unticked box, changed terms: refused, nothing written.
    let mut phone = app.client();
    let mut tampered = path.clone();
    tampered.pop();
    tampered.push(if path.ends_with('a') { 'b' } else { 'a' });
    assert_eq!(phone.get(&tampered).await.status, StatusCode::GONE);
    let page = phone.get(&path).await;
    assert!(page.contains("Mairie de Tonnerre vous propose un mandat"));
    assert!(page.contains("Social") && page.contains("Logement") && page.contains("6 mois"));
    let empreinte =
        crate::common::extract_between(&page.body, "name=\"empreinte\" value=\"", "\"").unwrap();
    let r = phone.post(&path, &[("empreinte", &empreinte)]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = phone
        .post(&path, &[("accord", "1"), ("empreinte", "0123456789abcdef")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Started in one browser, finished in another: refused.
    let to_fc = accept(&mut phone, &path).await;
    let picker = follow(&mut phone, to_fc).await;
    let requete = crate::common::extract_between(&picker.body, "name=\"requete\" value=\"", "\"")
        .map(|s| crate::common::unescape(&s))
        .unwrap();
    let back = phone
        .post(
            "/franceconnect-simulateur/api/v2/authorize",
            &[
                ("requete", &requete),
                ("identite", "jeanne-dupont"),
                ("scenario", "normal"),
            ],
        )
        .await;
    let callback = back
        .location()
        .trim_start_matches(crate::common::ORIGIN)
        .to_owned();
    let mut elsewhere = app.client();
    let r = elsewhere.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.contains("autre appareil"));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM mandats").await, 0);

    // The real thing: read, tick, FranceConnect, mandate created.
    let to_fc = accept(&mut phone, &path).await;
    let done = through_simulator(&mut phone, to_fc, "jeanne-dupont", "normal").await;
    assert!(
        done.contains("C'est fait : le mandat est créé"),
        "{}",
        done.body
    );
    let row = app
        .db()
        .fetch_one(
            "SELECT m.id, m.is_remote, m.aidant_id, u.family_name FROM mandats m
             JOIN usagers u ON u.id = m.usager_id",
            &[],
        )
        .await
        .unwrap();
    let mid: i64 = row.get("id").unwrap();
    assert_eq!(row.get::<i64>("is_remote").unwrap(), 1);
    assert_eq!(row.get::<i64>("aidant_id").unwrap(), aidant.id);
    assert_eq!(row.get::<String>("family_name").unwrap(), "DUPONT");
    let created = app.journal_details(a, "creation_mandat").await;
    assert!(
        created[0].contains("\"canal\":\"sms\"")
            && created[0].contains("\"par\":\"franceconnect\""),
        "{created:?}"
    );
    // The aidant sees it appear.
    let status = c.get(&format!("/mandats/a-distance/{lid}")).await;
    assert!(status.contains("Accepté : mandat créé"));
    assert!(status.contains(&format!("href=\"/mandats/{mid}\"")));
    let destination: String = app
        .db()
        .fetch_one(
            "SELECT destination FROM mandat_liens WHERE id = $1",
            relais::args![lid],
        )
        .await
        .unwrap()
        .get("destination")
        .unwrap();
    assert_eq!(destination, "", "the number is wiped once used");
    // Used once.
    assert_eq!(phone.get(&path).await.status, StatusCode::GONE);
    let r = phone
        .post(&path, &[("accord", "1"), ("empreinte", &empreinte)])
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM mandats").await, 1);

    // The provider's delivery report: forged ones refused, the real one journaled.
    let body = format!("{{\"id\":\"{provider_id}\",\"status\":\"delivered\"}}");
    let mut provider = app.client();
    for sig in [
        "",
        "0000",
        &relais::sms::signature("mauvais secret", body.as_bytes()),
    ] {
        let r = provider
            .post_json_with_header("/sms/statut", &body, "x-relais-signature", sig)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert!(app.journal_details(a, "sms_accuse").await.is_empty());
    let good = relais::sms::signature(SMS_CALLBACK_SECRET, body.as_bytes());
    let r = provider
        .post_json_with_header("/sms/statut", &body, "x-relais-signature", &good)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let acks = app.journal_details(a, "sms_accuse").await;
    assert!(acks[0].contains("delivered"), "{acks:?}");

    // Expired after 24 hours.
    let (_, late) = send_link(
        &app,
        &mut c,
        &[
            ("demarche", "social"),
            ("duree", "1"),
            ("canal", "email"),
            ("email", "jeanne@example.fr"),
        ],
    )
    .await;
    app.clock.advance(24 * 3_600 + 1);
    let mut phone = app.client();
    assert_eq!(phone.get(&late).await.status, StatusCode::GONE);
    let r = phone
        .post(&late, &[("accord", "1"), ("empreinte", &empreinte)])
        .await;
    assert_eq!(r.status, StatusCode::GONE);

    // Prepared for Jeanne (renewal at a distance), opened by Angela: refused.
    let mut c = app.login(&aidant).await;
    let jeanne: i64 = app
        .db()
        .fetch_one("SELECT id FROM usagers", &[])
        .await
        .unwrap()
        .get("id")
        .unwrap();
    let form = c.get(&format!("/mandats/a-distance?usager={jeanne}")).await;
    assert!(form.contains("Renouveler à distance le mandat de Jeanne DUPONT"));
    let (_, renewal) = send_link(
        &app,
        &mut c,
        &[
            ("usager", &jeanne.to_string()),
            ("demarche", "papiers"),
            ("duree", "365"),
            ("canal", "email"),
            ("email", "jeanne@example.fr"),
        ],
    )
    .await;
    let mut someone = app.client();
    let to_fc = accept(&mut someone, &renewal).await;
    let r = through_simulator(&mut someone, to_fc, "angela-dubois", "normal").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.contains("Ce lien est pour une autre personne"));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM mandats").await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM usagers").await, 1);
    // Jeanne herself may use it.
    let to_fc = accept(&mut someone, &renewal).await;
    let r = through_simulator(&mut someone, to_fc, "jeanne-dupont", "normal").await;
    assert!(r.contains("C'est fait"), "{}", r.body);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM mandats").await, 2);
    app.assert_journal_intact().await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_sms_provider_speaks_its_protocol() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let kept = seen.clone();
    let router = axum::Router::new().route(
        "/envoi",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                kept.lock().unwrap().push((auth, body.clone()));
                if body.contains("+33700000000") {
                    (StatusCode::BAD_GATEWAY, String::new())
                } else {
                    (StatusCode::OK, "{\"id\":\"fournisseur-1\"}".to_owned())
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let config = relais::config::Config {
        sms_url: Some(format!("http://127.0.0.1:{port}/envoi")),
        sms_token: Some("jeton-du-fournisseur".into()),
        ..crate::common::test_config()
    };
    let sender = relais::sms::SmsSender::from_config(
        &config,
        relais::franceconnect::http::HttpClient::real().unwrap(),
    );
    let id = sender
        .send(
            &relais::sms::Sms {
                to: "+33612345678".into(),
                text: "Bonjour".into(),
            },
            7,
        )
        .await
        .unwrap();
    assert_eq!(id, "fournisseur-1");
    let (auth, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(auth, "Bearer jeton-du-fournisseur");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["to"], "+33612345678");
    assert_eq!(v["reference"], "7");
    assert_eq!(v["sender"], "RELAIS");
    let failed = sender
        .send(
            &relais::sms::Sms {
                to: "+33700000000".into(),
                text: "Bonjour".into(),
            },
            8,
        )
        .await;
    assert!(failed.is_err());
    // Without a provider in production: no SMS at all (email only).
    let prod = relais::config::Config {
        sms_url: None,
        env: relais::config::RunMode::Production,
        ..crate::common::test_config()
    };
    let http = relais::franceconnect::http::HttpClient::real().unwrap();
    assert!(!relais::sms::SmsSender::from_config(&prod, http.clone()).enabled());
    assert!(relais::sms::SmsSender::from_config(&crate::common::test_config(), http).enabled());
}
