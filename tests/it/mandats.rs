//! Mandates end to end over HTTP, against the built-in FranceConnect simulator:
//! creation, every failure scenario, renewal, revocation, attestations, journal,
//! isolation between structures, concurrency, tampering, retention.

use axum::http::StatusCode;
use relais::domain::Role;
use relais::mandats::{self, Demarche, Duree};

use crate::common::{Client, ORIGIN, Resp, TestApp, User};

/// Follows redirects (absolute URLs of our origin included), at most 10 hops.
pub(crate) async fn follow(c: &mut Client, mut r: Resp) -> Resp {
    for _ in 0..10 {
        if !r.status.is_redirection() {
            return r;
        }
        let loc = r.location().to_owned();
        let path = loc.strip_prefix(ORIGIN).unwrap_or(&loc).to_owned();
        assert!(path.starts_with('/'), "redirection hors du site : {loc}");
        r = c.get(&path).await;
    }
    panic!("trop de redirections")
}

struct Setup {
    structure: i64,
    aidant: User,
    client: Client,
}

async fn setup(app: &TestApp, name: &str) -> Setup {
    let structure = app.structure(name).await;
    let aidant = app.member(structure, Role::Aidant, "aidant").await;
    let client = app.login(&aidant).await;
    Setup {
        structure,
        aidant,
        client,
    }
}

/// Chooses démarches and duration, then goes through FranceConnect with an
/// identity and a scenario; returns the last response.
pub(crate) async fn through_franceconnect(
    c: &mut Client,
    demarches: &[&str],
    duree: &str,
    identity: &str,
    scenario: &str,
) -> Resp {
    let mut fields: Vec<(&str, &str)> = demarches.iter().map(|d| ("demarche", *d)).collect();
    fields.push(("duree", duree));
    let r = c.post("/mandats/nouveau", &fields).await;
    crate::espace::through_simulator(c, r, identity, scenario).await
}

/// Confirms the recap with consent and a fresh TOTP code.
pub(crate) async fn confirm(app: &TestApp, c: &mut Client, recap: &Resp, user: &User) -> Resp {
    let action = crate::common::extract_between(&recap.body, "action=\"/mandats/brouillons/", "\"")
        .expect("formulaire du récapitulatif");
    let code = app.next_code(&user.secret);
    let r = c
        .post(
            &format!("/mandats/brouillons/{action}"),
            &[("consentement", "1"), ("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    r
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = match table {
        "autorisations" => "SELECT COUNT(*) AS n FROM autorisations",
        "mandat_drafts" => "SELECT COUNT(*) AS n FROM mandat_drafts",
        "mandats" => "SELECT COUNT(*) AS n FROM mandats",
        "usagers" => "SELECT COUNT(*) AS n FROM usagers",
        other => panic!("table {other} non prévue"),
    };
    app.db()
        .fetch_one(sql, &[])
        .await
        .unwrap()
        .get("n")
        .unwrap()
}

/// The raw bytes of a response (the harness keeps text; PDFs need bytes).
async fn pdf_bytes(c: &mut Client, path: &str) -> Vec<u8> {
    c.get_bytes(path).await
}

use crate::common::check_pdf_text;

fn mandat_id(location: &str) -> i64 {
    location
        .trim_start_matches("/mandats/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

crate::both_backends!(mandate_created_end_to_end, |app: TestApp| async move {
    let mut s = setup(&app, "Mairie d'Essai").await;
    let c = &mut s.client;
    let form = c.get("/mandats/nouveau").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.contains("Banque de France"));
    // Nothing chosen: clear errors, nothing saved.
    let r = c.post("/mandats/nouveau", &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("Choisissez au moins une démarche"));
    assert_eq!(count(&app, "mandat_drafts").await, 0);

    let recap =
        through_franceconnect(c, &["social", "argent"], "365", "angela-dubois", "normal").await;
    assert_eq!(recap.status, StatusCode::OK, "{}", recap.body);
    assert!(recap.contains("Récapitulatif du mandat"));
    assert!(recap.contains("Angela Claire Louise DUBOIS"));
    assert!(recap.contains("Social - Santé"));
    assert!(recap.contains("Banque de France"));
    assert_eq!(
        count(&app, "usagers").await,
        0,
        "nothing written before the recap"
    );

    // Missing consent and a wrong code: refused, nothing saved.
    let action =
        crate::common::extract_between(&recap.body, "action=\"/mandats/brouillons/", "\"").unwrap();
    let r = c
        .post(
            &format!("/mandats/brouillons/{action}"),
            &[("code", "000000")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("Cochez la case"));
    assert!(r.contains("Ce code n'est pas valable"));
    assert_eq!(count(&app, "mandats").await, 0);

    let done = confirm(&app, c, &recap, &s.aidant).await;
    let mid = mandat_id(done.location());
    let page = c.get(done.location()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.contains("Mandat créé"));
    assert!(page.contains("Argent - Impôts - Consommation"));
    assert!(
        page.contains("<td data-label=\"État\">Active</td>"),
        "{}",
        page.body
    );
    assert_eq!(count(&app, "usagers").await, 1);
    assert_eq!(count(&app, "autorisations").await, 2);
    assert_eq!(count(&app, "mandat_drafts").await, 0, "draft consumed");

    // Replaying the confirmation writes nothing more.
    let code = app.next_code(&s.aidant.secret);
    let again = c
        .post(
            &format!("/mandats/brouillons/{action}"),
            &[("consentement", "1"), ("code", &code)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(count(&app, "mandats").await, 1);

    // The usager appears in the active tab, found without accents or case.
    let list = c.get("/usagers?etat=actifs&q=angela%20dubois").await;
    assert!(list.contains("Angela Claire Louise DUBOIS"));
    let none = c.get("/usagers?etat=revoques").await;
    assert!(!none.contains("DUBOIS"));

    // Attestation: print view, PDF, public verification page.
    let token = crate::common::extract_between(&page.body, "href=\"/attestations/", "\"").unwrap();
    let print = c.get(&format!("/attestations/{token}")).await;
    assert_eq!(print.status, StatusCode::OK);
    assert!(print.contains("Attestation de mandat"));
    // The issuer, the number, and room to sign, in the print view and the PDF.
    let number = format!("Mandat n° {mid}");
    for expected in [
        "établi avec Relais",
        number.as_str(),
        "Signature de la personne aidée",
        "Signature de l'aidant ou de l'aidante",
        "class=\"signature-space\"",
        "Fait à",
    ] {
        assert!(print.contains(expected), "« {expected} » : {}", print.body);
    }
    let pdf = c.get(&format!("/attestations/{token}/pdf")).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    check_pdf_text(
        &pdf_bytes(c, &format!("/attestations/{token}/pdf")).await,
        &[
            "établi avec Relais",
            &number,
            "page 1 sur 1",
            "Fait à",
            "Signature de la personne aidée",
            "Signature de l'aidant ou de l'aidante",
            "Attestation de mandat",
            "Angela Claire Louise DUBOIS",
            "Social - Santé",
            "Argent - Impôts - Consommation",
            "Banque de France",
            "/verifier/",
        ],
    );
    let verify = app.client().get(&format!("/verifier/{token}")).await;
    assert_eq!(verify.status, StatusCode::OK);
    assert!(verify.contains("Attestation authentique"));
    assert!(verify.contains("A. D."));
    assert!(!verify.contains("DUBOIS"), "only initials are public");
    assert!(verify.contains("actif"));

    // The journal holds the whole story and verifies.
    let v = relais::journal::verify(app.db()).await.unwrap();
    assert_eq!(v.first_broken, None);
    let actions: Vec<String> = app
        .db()
        .fetch_all(
            "SELECT action FROM journal WHERE chain = $1 ORDER BY seq",
            relais::args![s.structure],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("action").unwrap())
        .collect();
    for expected in [
        "connexion_aidant",
        "connexion_usager_franceconnect",
        "creation_autorisation",
        "creation_mandat",
        "creation_attestation",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} absent : {actions:?}"
        );
    }
    assert!(mid > 0);
});

crate::both_backends!(
    franceconnect_failures_save_nothing,
    |app: TestApp| async move {
        let mut s = setup(&app, "Structure des échecs").await;
        for (scenario, expected) in [
            ("refus", "a été annulée"),
            ("nonce-faux", "n'a pas pu être vérifiée"),
            ("signature-fausse", "n'a pas pu être vérifiée"),
            ("jeton-expire", "n'a pas pu être vérifiée"),
            ("cle-inconnue", "n'a pas pu être vérifiée"),
            ("erreur-500", "ne répond pas"),
            ("lent-5s", "ne répond pas"),
            ("donnee-absente", "la date de naissance"),
        ] {
            let r =
                through_franceconnect(&mut s.client, &["papiers"], "1", "jeanne-dupont", scenario)
                    .await;
            assert!(
                r.status.is_client_error() || r.status.is_server_error(),
                "{scenario}: {}",
                r.status
            );
            assert!(r.contains(expected), "{scenario}: {}", r.body);
            assert!(r.contains("ucun mandat n'a été créé"), "{scenario}");
            assert_eq!(count(&app, "usagers").await, 0, "{scenario}");
            assert_eq!(count(&app, "mandats").await, 0, "{scenario}");
            assert_eq!(
                count(&app, "mandat_drafts").await,
                0,
                "{scenario}: draft discarded"
            );
        }
    }
);

crate::both_backends!(
    franceconnect_key_rotation_and_rs256,
    |app: TestApp| async move {
        let mut s = setup(&app, "Structure des clés").await;
        let before = app
            .state
            .franceconnect
            .jwks_fetches
            .load(std::sync::atomic::Ordering::Relaxed);
        let recap = through_franceconnect(
            &mut s.client,
            &["famille"],
            "31",
            "mohamed-benali",
            "normal",
        )
        .await;
        assert_eq!(recap.status, StatusCode::OK, "{}", recap.body);
        // The person's rights are read before the aidant attests having explained
        // them: the attestation's own text, above the consent box.
        let rights = recap
            .body
            .find("Je peux mettre fin à ce mandat à tout moment")
            .expect("rights on the recap");
        let consent = recap.body.find("consentement-case").unwrap();
        assert!(rights < consent, "rights before the consent box");
        let recap = through_franceconnect(
            &mut s.client,
            &["famille"],
            "31",
            "mohamed-benali",
            "rotation-cle",
        )
        .await;
        assert_eq!(recap.status, StatusCode::OK, "rotation: {}", recap.body);
        let after = app
            .state
            .franceconnect
            .jwks_fetches
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            after - before,
            2,
            "JWKS fetched once, then again for the new kid"
        );
        let recap =
            through_franceconnect(&mut s.client, &["famille"], "31", "mohamed-benali", "rs256")
                .await;
        assert_eq!(recap.status, StatusCode::OK, "rs256: {}", recap.body);
        // Born abroad: empty birthplace accepted, presumed birthdate shown.
        assert!(recap.contains("01/01/1981"));
    }
);

crate::both_backends!(
    renewal_revocation_and_one_active_autorisation,
    |app: TestApp| async move {
        let mut s = setup(&app, "Structure du renouvellement").await;
        let recap = through_franceconnect(
            &mut s.client,
            &["social", "logement"],
            "182",
            "pierre-mercier",
            "normal",
        )
        .await;
        let done = confirm(&app, &mut s.client, &recap, &s.aidant).await;
        let first = mandat_id(done.location());
        let uid: i64 = app
            .db()
            .fetch_one("SELECT id FROM usagers", &[])
            .await
            .unwrap()
            .get("id")
            .unwrap();
        let page = s.client.get(&format!("/usagers/{uid}")).await;
        assert!(page.contains("Pierre DUBOIS (né MERCIER)"));

        // Renewal for social only, no FranceConnect step.
        let r = s
            .client
            .post(
                &format!("/usagers/{uid}/renouveler"),
                &[("demarche", "social"), ("duree", "365")],
            )
            .await;
        let recap = follow(&mut s.client, r).await;
        assert_eq!(recap.status, StatusCode::OK, "{}", recap.body);
        let done = confirm(&app, &mut s.client, &recap, &s.aidant).await;
        let second = mandat_id(done.location());
        assert_ne!(first, second);
        let now = app.clock_now();
        let active = mandats::active_autorisations(app.db(), s.structure, uid, now)
            .await
            .unwrap();
        let kinds: Vec<Demarche> = active.iter().map(|(_, d)| *d).collect();
        assert_eq!(
            kinds,
            vec![Demarche::Logement, Demarche::Social],
            "one active per démarche"
        );

        // Revoke the remaining logement autorisation of the first mandate.
        let m = mandats::mandats(app.db(), s.structure, None, Some(first), now)
            .await
            .unwrap();
        let logement = m[0]
            .autorisations
            .iter()
            .find(|a| a.demarche == Demarche::Logement)
            .unwrap()
            .id;
        // Never in one click: a post without « Oui » leads to the confirmation page,
        // which says what will happen; nothing is revoked until « Oui, révoquer ».
        let ask = format!("/mandats/{first}/autorisations/{logement}/revoquer");
        let r = s.client.post(&ask, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), ask);
        let confirm = s.client.get(&ask).await;
        assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
        assert!(
            confirm.contains("Vous allez révoquer la démarche « Logement »"),
            "{}",
            confirm.body
        );
        assert!(confirm.contains("C'est la dernière démarche active"));
        assert!(confirm.contains("Oui, révoquer la démarche"));
        assert!(confirm.contains(&format!("href=\"/mandats/{first}\">Annuler")));
        let still = mandats::active_autorisations(app.db(), s.structure, m[0].usager_id, now)
            .await
            .unwrap();
        assert!(
            still.iter().any(|(id, _)| *id == logement),
            "not revoked yet"
        );
        let r = s.client.post(&ask, &[("confirmer", "oui")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = follow(&mut s.client, r).await;
        assert!(page.contains("Démarche révoquée"));
        assert!(page.contains("Dernière attestation de révocation"));
        // The démarche's state agrees with « la démarche ».
        assert!(
            page.contains("<td data-label=\"État\">Révoquée le "),
            "{}",
            page.body
        );
        // Revoking it again is refused plainly.
        let again = s
            .client
            .post(
                &format!("/mandats/{first}/autorisations/{logement}/revoquer"),
                &[("confirmer", "oui")],
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        // Revoke the whole second mandate, after its confirmation page.
        let confirm = s.client.get(&format!("/mandats/{second}/revoquer")).await;
        assert!(
            confirm.contains(&format!("Vous allez révoquer le mandat n° {second}")),
            "{}",
            confirm.body
        );
        assert!(confirm.contains("Oui, révoquer le mandat"));
        let r = s
            .client
            .post(
                &format!("/mandats/{second}/revoquer"),
                &[("confirmer", "oui")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let list = s.client.get("/usagers?etat=revoques").await;
        assert!(list.contains("Pierre DUBOIS"), "{}", list.body);
        let token = crate::common::extract_between(
            &s.client.get(&format!("/mandats/{second}")).await.body,
            "Dernière attestation de révocation : <a href=\"/attestations/",
            "\"",
        )
        .unwrap();
        let verify = app.client().get(&format!("/verifier/{token}")).await;
        assert!(verify.contains("Attestation de révocation"));
        assert!(verify.contains("révoqué le"));
        assert_eq!(
            relais::journal::verify(app.db())
                .await
                .unwrap()
                .first_broken,
            None
        );
    }
);

crate::both_backends!(structures_never_see_each_other, |app: TestApp| async move {
    let mut a = setup(&app, "Structure A").await;
    let recap =
        through_franceconnect(&mut a.client, &["justice"], "31", "fatou-diallo", "normal").await;
    let done = confirm(&app, &mut a.client, &recap, &a.aidant).await;
    let mid = mandat_id(done.location());
    let page = a.client.get(done.location()).await;
    let token = crate::common::extract_between(&page.body, "href=\"/attestations/", "\"").unwrap();
    let uid: i64 = app
        .db()
        .fetch_one("SELECT id FROM usagers", &[])
        .await
        .unwrap()
        .get("id")
        .unwrap();
    let aid: i64 = app
        .db()
        .fetch_one("SELECT id FROM autorisations", &[])
        .await
        .unwrap()
        .get("id")
        .unwrap();
    let b = app.structure("Structure B").await;
    let referent_b = app.member(b, Role::Referent, "referent-b").await;
    let mut cb = app.login(&referent_b).await;
    for path in [
        format!("/mandats/{mid}"),
        format!("/usagers/{uid}"),
        format!("/usagers/{uid}/renouveler"),
        format!("/attestations/{token}"),
        format!("/attestations/{token}/pdf"),
        format!("/mandats/{mid}/revoquer"),
        format!("/mandats/{mid}/autorisations/{aid}/revoquer"),
    ] {
        let r = cb.get(&path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "GET {path}");
        assert!(!r.contains("DIALLO"), "GET {path}");
    }
    for path in [
        format!("/mandats/{mid}/revoquer"),
        format!("/mandats/{mid}/autorisations/{aid}/revoquer"),
        format!("/usagers/{uid}/renouveler"),
    ] {
        let r = cb
            .post(
                &path,
                &[
                    ("demarche", "justice"),
                    ("duree", "1"),
                    ("confirmer", "oui"),
                ],
            )
            .await;
        assert!(
            r.status == StatusCode::NOT_FOUND || r.status == StatusCode::CONFLICT,
            "POST {path}: {}",
            r.status
        );
    }
    let list = cb.get("/usagers?etat=actifs&q=diallo").await;
    assert!(!list.contains("DIALLO"));
    let journal = cb.get(&format!("/structures/{b}/journal")).await;
    assert!(!journal.contains("DIALLO"));
    let foreign = cb
        .get(&format!("/structures/{}/journal", a.structure))
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    // The renewal through the domain refuses a usager unknown to the structure too.
    let r = crate::common::mandate(
        &app,
        b,
        referent_b.id,
        mandats::UsagerRef::Known(uid),
        &[Demarche::Justice],
        Duree::Court,
    )
    .await;
    assert!(matches!(r, Err(mandats::MandatError::Refused(_))));
    // Nothing was revoked.
    assert_eq!(
        mandats::active_autorisations(app.db(), a.structure, uid, app.clock_now())
            .await
            .unwrap()
            .len(),
        1
    );
});

fn identity(n: u32) -> mandats::Identity {
    mandats::Identity {
        sub_hash: relais::crypto::sha256_hex(&format!("sub-{n}")),
        given_name: "Jeanne".into(),
        family_name: format!("ESSAI{n}"),
        preferred_username: String::new(),
        birthdate: "1950-02-03".into(),
        gender: "female".into(),
        birthplace: "89024".into(),
        birthcountry: "99100".into(),
        email: String::new(),
    }
}

crate::both_backends!(
    concurrent_creations_leave_one_active_autorisation,
    |app: TestApp| async move {
        let sid = app.structure("Structure concurrente").await;
        let aidant = app.member(sid, Role::Aidant, "aidant").await;
        let who = identity(1);
        let run = || async {
            crate::common::mandate(
                &app,
                sid,
                aidant.id,
                mandats::UsagerRef::Identified(&who),
                &[Demarche::Social],
                Duree::Mois,
            )
            .await
            .unwrap()
        };
        let (x, y) = tokio::join!(run(), run());
        assert_ne!(x.mandat_id, y.mandat_id);
        assert_eq!(x.usager_id, y.usager_id, "one usager (upsert by sub)");
        let active = mandats::active_autorisations(app.db(), sid, x.usager_id, app.clock_now())
            .await
            .unwrap();
        assert_eq!(active.len(), 1, "exactly one active autorisation");
        assert_eq!(
            relais::journal::verify(app.db())
                .await
                .unwrap()
                .first_broken,
            None
        );
    }
);

crate::both_backends!(
    journal_is_append_only_and_tampering_is_named,
    |app: TestApp| async move {
        let sid = app.structure("Structure du journal").await;
        let aidant = app.member(sid, Role::Aidant, "aidant").await;
        for n in 0..3 {
            crate::common::mandate(
                &app,
                sid,
                aidant.id,
                mandats::UsagerRef::Identified(&identity(n)),
                &[Demarche::Papiers, Demarche::Transports],
                Duree::Court,
            )
            .await
            .unwrap();
        }
        let v = relais::journal::verify(app.db()).await.unwrap();
        assert!(v.entries >= 12);
        assert_eq!(v.first_broken, None);
        // The triggers refuse changes.
        let pool = app.db();
        assert!(
            pool.execute("UPDATE journal SET details = 'x'", &[])
                .await
                .is_err()
        );
        assert!(pool.execute("DELETE FROM journal", &[]).await.is_err());
        // Behind the triggers' back: the verification names the altered entry.
        let target: i64 = pool
            .fetch_one(
                "SELECT id FROM journal WHERE chain = $1 AND seq = 5",
                relais::args![sid],
            )
            .await
            .unwrap()
            .get("id")
            .unwrap();
        let script = match app.backend {
            relais::db::Backend::Sqlite => "DROP TRIGGER journal_no_update",
            relais::db::Backend::Postgres => {
                "ALTER TABLE journal DISABLE TRIGGER journal_no_update"
            }
        };
        pool.run_script(script).await.unwrap();
        pool.execute(
            "UPDATE journal SET demarche = 'argent' WHERE id = $1",
            relais::args![target],
        )
        .await
        .unwrap();
        let v = relais::journal::verify(app.db()).await.unwrap();
        let broken = v.first_broken.expect("tampering detected");
        assert_eq!(broken.id, target);
        assert_eq!(broken.reason, "contenu modifié");
    }
);

crate::both_backends!(
    retention_deletes_usagers_and_keeps_the_chain,
    |app: TestApp| async move {
        let sid = app.structure("Structure de la conservation").await;
        let referent = app.member(sid, Role::Referent, "referent").await;
        let new = |n: u32, duree: Duree| {
            let who = identity(n);
            let app = &app;
            async move {
                crate::common::mandate(
                    app,
                    sid,
                    referent.id,
                    mandats::UsagerRef::Identified(&who),
                    &[Demarche::Logement],
                    duree,
                )
                .await
                .unwrap()
            }
        };
        let short = new(10, Duree::Court).await;
        app.clock.advance(200 * 86_400);
        let long = new(11, Duree::Long).await;
        let settings = relais::mandats::retention::Settings {
            retention_days: 365,
            public_url: ORIGIN.into(),
        };
        // 340 days after the long mandate: it ends within 30 days → the référent is told.
        app.clock.advance(340 * 86_400);
        let report =
            relais::mandats::retention::run(app.db(), &app.mailer, &settings, app.clock_now())
                .await
                .unwrap();
        assert_eq!(report.notified_structures, 1);
        let mail = app.last_email_to(&referent.email);
        assert!(mail.subject.contains("1 mandat long arrive à échéance"));
        assert!(!mail.body.contains("ESSAI"), "no names in emails");
        // The short mandate ended 540 days ago: its usager is deleted.
        assert_eq!(report.deleted_usagers, 1);
        assert!(report.pseudonymised_entries > 0);
        let left: Vec<i64> = app
            .db()
            .fetch_all("SELECT id FROM usagers", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("id").unwrap())
            .collect();
        assert_eq!(left, vec![long.usager_id]);
        let personal: i64 = app
            .db()
            .fetch_one(
                "SELECT COUNT(*) AS n FROM journal_personal WHERE usager_id = $1",
                relais::args![short.usager_id],
            )
            .await
            .unwrap()
            .get("n")
            .unwrap();
        assert_eq!(personal, 0, "personal data of the journal deleted");
        // The journal names the usager whose data is kept in every entry
        // (attestations and uses included), and says « données supprimées » only
        // of the deleted one.
        let mut tx = app.db().begin().await.unwrap();
        relais::journal::append(
            &mut tx,
            &relais::journal::NewEntry::new(sid, relais::journal::Action::UtilisationAutorisation)
                .usager(long.usager_id),
            app.clock_now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let (entries, _) =
            relais::journal::list(app.db(), sid, &relais::journal::Filter::default(), 500, 0)
                .await
                .unwrap();
        let of = |id: i64| {
            entries
                .iter()
                .filter(|e| e.usager_id == Some(id))
                .map(|e| e.usager_label())
                .collect::<Vec<_>>()
        };
        let kept = of(long.usager_id);
        assert!(kept.len() >= 3, "{kept:?}");
        assert!(kept.iter().all(|l| l == "Jeanne ESSAI11"), "{kept:?}");
        let gone = of(short.usager_id);
        assert!(!gone.is_empty());
        assert!(
            gone.iter().all(|l| l.ends_with("(données supprimées)")),
            "{gone:?}"
        );
        assert_eq!(
            relais::journal::verify(app.db())
                .await
                .unwrap()
                .first_broken,
            None
        );
        // A second run notifies nobody again; the job runs once a day.
        let again =
            relais::mandats::retention::run(app.db(), &app.mailer, &settings, app.clock_now())
                .await
                .unwrap();
        assert_eq!(again.notified_structures, 0);
        assert!(
            relais::mandats::retention::run_if_due(
                app.db(),
                &app.mailer,
                &settings,
                app.clock_now()
            )
            .await
            .unwrap()
            .is_some()
        );
        assert!(
            relais::mandats::retention::run_if_due(
                app.db(),
                &app.mailer,
                &settings,
                app.clock_now()
            )
            .await
            .unwrap()
            .is_none()
        );
    }
);

/// `relais journal verify`, the command itself: exit 0 on an intact journal, exit 1
/// naming the first altered entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_verify_command_names_the_broken_entry() {
    let app = TestApp::new(relais::db::Backend::Sqlite).await;
    let sid = app.structure("Structure du terminal").await;
    let aidant = app.member(sid, Role::Aidant, "aidant").await;
    crate::common::mandate(
        &app,
        sid,
        aidant.id,
        mandats::UsagerRef::Identified(&identity(99)),
        &[Demarche::Loisirs],
        Duree::Court,
    )
    .await
    .unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_relais"))
            .args(["journal", "verify"])
            .env("RELAIS_DATABASE_URL", app.db().url())
            .env("RELAIS_SECRET_KEY", crate::common::TEST_SECRET)
            .env("RELAIS_LOG", "error")
            .output()
            .unwrap()
    };
    let ok = run();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Journal intègre"));
    let target: i64 = app
        .db()
        .fetch_one(
            "SELECT id FROM journal WHERE chain = $1 AND seq = 2",
            relais::args![sid],
        )
        .await
        .unwrap()
        .get("id")
        .unwrap();
    app.db()
        .run_script("DROP TRIGGER journal_no_update")
        .await
        .unwrap();
    app.db()
        .execute(
            "UPDATE journal SET at = at + 1 WHERE id = $1",
            relais::args![target],
        )
        .await
        .unwrap();
    let broken = run();
    assert_eq!(broken.status.code(), Some(1));
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(err.contains(&format!("n° {target}")), "{err}");
    assert!(err.contains("contenu modifié"), "{err}");
}

crate::both_backends!(
    custom_identity_and_drafts_of_other_sessions,
    |app: TestApp| async move {
        let mut s = setup(&app, "Structure personnalisée").await;
        let c = &mut s.client;
        let r = c
            .post(
                "/mandats/nouveau",
                &[("demarche", "etranger"), ("duree", "31")],
            )
            .await;
        let picker = follow(c, r).await;
        let requete =
            crate::common::extract_between(&picker.body, "name=\"requete\" value=\"", "\"")
                .map(|v| crate::common::unescape(&v))
                .unwrap();
        let mut fields = vec![
            ("requete", requete.as_str()),
            ("identite", "personnalisee"),
            ("scenario", "normal"),
            ("given_name", "Ana Sofia"),
            ("family_name", "da Silva"),
            ("preferred_username", ""),
            ("birthdate", "1988-13-01"),
            ("gender", "female"),
            ("birthplace", ""),
            ("birthcountry", "PT"),
        ];
        let bad = c
            .post("/franceconnect-simulateur/api/v2/authorize", &fields)
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.contains("date de naissance valide"));
        assert!(bad.contains("code INSEE de 5 chiffres"));
        fields[6] = ("birthdate", "1988-12-01");
        fields[9] = ("birthcountry", "99139");
        let r = c
            .post("/franceconnect-simulateur/api/v2/authorize", &fields)
            .await;
        let recap = follow(c, r).await;
        assert_eq!(recap.status, StatusCode::OK, "{}", recap.body);
        assert!(recap.contains("Ana Sofia DA SILVA"));
        assert!(recap.contains("01/12/1988"));
        // Another aidant's session cannot open or confirm this draft.
        let draft =
            crate::common::extract_between(&recap.body, "action=\"/mandats/brouillons/", "\"")
                .unwrap();
        let other = app.member(s.structure, Role::Aidant, "autre").await;
        let mut co = app.login(&other).await;
        assert_eq!(
            co.get(&format!("/mandats/brouillons/{draft}")).await.status,
            StatusCode::NOT_FOUND
        );
        let code = app.next_code(&other.secret);
        let r = co
            .post(
                &format!("/mandats/brouillons/{draft}"),
                &[("consentement", "1"), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(count(&app, "mandats").await, 0);
        // The owner still can.
        confirm(&app, c, &recap, &s.aidant).await;
        assert_eq!(count(&app, "mandats").await, 1);
    }
);

// The usagers list pages by key: 20 a page in alphabetical order, « Page suivante »
// and « Page précédente » links carrying a usager's id, no count of the whole list.
crate::both_backends!(usagers_list_pages_by_key, |app: TestApp| async move {
    let s = setup(&app, "Structure aux nombreux usagers").await;
    for n in 0..45 {
        crate::common::mandate(
            &app,
            s.structure,
            s.aidant.id,
            mandats::UsagerRef::Identified(&identity(1000 + n)),
            &[Demarche::Loisirs],
            Duree::Court,
        )
        .await
        .unwrap();
    }
    let mut c = s.client;
    let names = |body: &str| -> Vec<String> {
        body.split("<th scope=\"row\"><a href=\"/usagers/")
            .skip(1)
            .filter_map(|p| p.split_once("\">").and_then(|(_, r)| r.split_once('<')))
            .map(|(name, _)| name.to_owned())
            .collect()
    };
    let link = |body: &str, label: &str| -> Option<String> {
        let end = body.find(&format!("\">{label}</a>"))?;
        let start = body[..end].rfind("href=\"")? + 6;
        Some(crate::common::unescape(&body[start..end]))
    };
    let first = c.get("/usagers?etat=actifs").await;
    let page1 = names(&first.body);
    assert_eq!(page1.len(), 20, "{}", first.body);
    assert!(link(&first.body, "Page précédente").is_none());
    let next = link(&first.body, "Page suivante").expect("a next page");
    assert!(next.contains("apres="), "{next}");
    let second = c.get(&next).await;
    let page2 = names(&second.body);
    assert_eq!(page2.len(), 20);
    assert!(page1.last() < page2.first(), "alphabetical across pages");
    let third = c.get(&link(&second.body, "Page suivante").unwrap()).await;
    let page3 = names(&third.body);
    assert_eq!(page3.len(), 5);
    assert!(link(&third.body, "Page suivante").is_none());
    // Back: the second page again, then the first.
    let back = c.get(&link(&third.body, "Page précédente").unwrap()).await;
    assert_eq!(names(&back.body), page2);
    let back = c.get(&link(&back.body, "Page précédente").unwrap()).await;
    assert_eq!(names(&back.body), page1);
    assert!(link(&back.body, "Page précédente").is_none());
    // Every usager seen once.
    let mut all: Vec<String> = [page1, page2, page3].concat();
    all.dedup();
    assert_eq!(all.len(), 45);
    // A cursor of another structure or unknown: the first page.
    let r = c.get("/usagers?etat=actifs&apres=999999").await;
    assert_eq!(r.status, StatusCode::OK);
});

// One end date everywhere, across daylight-saving changes: a 1-day mandate signed
// the day before the spring change and a 1-year mandate signed the day before the
// autumn change end at midnight (Paris) of their last day, and the mandate page,
// the usagers list, the attestation and the verification page show that same day.
crate::both_backends!(
    one_end_date_everywhere_across_daylight_saving,
    |app: TestApp| async move {
        // Saturday 24 October 2026, 10:00 in Paris (summer time ends the next night).
        app.clock.set(1_792_828_800);
        let mut s = setup(&app, "Structure des dates").await;
        let long = crate::common::mandate(
            &app,
            s.structure,
            s.aidant.id,
            mandats::UsagerRef::Identified(&crate::idp::identity(41, "a@exemple.fr")),
            &[Demarche::Social, Demarche::Logement],
            Duree::Long,
        )
        .await
        .unwrap();
        // The next day (after the change), the aidant revokes one démarche.
        app.clock.set(1_792_828_800 + 86_400);
        let social =
            mandats::active_autorisations(app.db(), s.structure, long.usager_id, app.clock_now())
                .await
                .unwrap()
                .into_iter()
                .find(|(_, d)| *d == Demarche::Social)
                .unwrap()
                .0;
        mandats::revoke_autorisation(
            app.db(),
            &app.state.signer,
            mandats::Revoker::Member(mandats::Actor {
                account_id: s.aidant.id,
                structure_id: s.structure,
            }),
            social,
            app.clock_now(),
        )
        .await
        .unwrap();
        // Saturday 27 March 2027, 10:00 in Paris (summer time starts the next night).
        app.clock.set(1_806_138_000);
        let mut s2 = setup(&app, "Structure des dates, printemps").await;
        let short = crate::common::mandate(
            &app,
            s2.structure,
            s2.aidant.id,
            mandats::UsagerRef::Identified(&crate::idp::identity(42, "b@exemple.fr")),
            &[Demarche::Social],
            Duree::Court,
        )
        .await
        .unwrap();
        // Five months later: the first aidant signs in again.
        s.client = app.login(&s.aidant).await;
        let expires = |id: i64| {
            let db = app.db().clone();
            async move {
                db.fetch_one(
                    "SELECT expires_at FROM mandats WHERE id = $1",
                    relais::args![id],
                )
                .await
                .unwrap()
                .int("expires_at")
                .unwrap()
            }
        };
        // Midnight in Paris: 22:00 UTC in summer time, the day after the last day.
        assert_eq!(
            expires(short.mandat_id).await,
            1_806_271_200,
            "28/03/2027 24:00 Paris"
        );
        assert_eq!(
            expires(long.mandat_id).await,
            1_824_415_200,
            "24/10/2027 24:00 Paris"
        );
        for (c, m, day, long_day) in [
            (&mut s2.client, &short, "28/03/2027", "28 mars 2027"),
            (&mut s.client, &long, "24/10/2027", "24 octobre 2027"),
        ] {
            let page = c.get(&format!("/mandats/{}", m.mandat_id)).await;
            assert!(
                page.contains(&format!("jusqu'au {day} inclus")),
                "{}",
                page.body
            );
            let list = c.get("/usagers").await;
            assert!(list.contains(&format!("{day} inclus")), "{}", list.body);
            let att = c
                .get(&format!("/attestations/{}", m.attestation_token))
                .await;
            assert!(
                att.contains(&format!("au {long_day} inclus")),
                "{}",
                att.body
            );
            let public = crate::common::TestApp::client(&app)
                .get(&format!("/verifier/{}", m.attestation_token))
                .await;
            assert!(
                public.contains(&format!("au {day} inclus")),
                "{}",
                public.body
            );
        }
        // The verification page says which démarches remain and which were revoked.
        let public = crate::common::TestApp::client(&app)
            .get(&format!("/verifier/{}", long.attestation_token))
            .await;
        assert!(
            public.contains("actif pour Logement ; révoqué pour Social - Santé le 25/10/2026"),
            "{}",
            public.body
        );
    }
);

crate::both_backends!(
    name_search_finds_every_match_of_the_structure_only,
    |app: TestApp| async move {
        let sid = app.structure("Structure de la recherche").await;
        let other = app.structure("Autre structure").await;
        let aidant = app.member(sid, Role::Aidant, "aidant").await;
        let aidant_b = app.member(other, Role::Aidant, "aidant-b").await;
        let named = |n: u32, given: &str, family: &str| mandats::Identity {
            given_name: given.into(),
            family_name: family.into(),
            ..identity(n)
        };
        let give = |structure: i64, by: i64, who: mandats::Identity| {
            let app = &app;
            async move {
                crate::common::mandate(
                    app,
                    structure,
                    by,
                    mandats::UsagerRef::Identified(&who),
                    &[Demarche::Social],
                    Duree::Mois,
                )
                .await
                .unwrap()
                .usager_id
            }
        };
        for n in 0..40 {
            give(sid, aidant.id, identity(n)).await;
        }
        let mut dubois = Vec::new();
        for (n, given) in [(100, "Angèle"), (101, "Éloïse"), (102, "Bernard")] {
            dubois.push(give(sid, aidant.id, named(n, given, "DUBOIS")).await);
        }
        // The same name in another structure is not shown.
        give(other, aidant_b.id, named(103, "Claire", "Dubois")).await;
        let now = app.clock_now();
        let search = |q: &'static str, limit: i64, cursor: mandats::Cursor| {
            let app = &app;
            async move {
                mandats::usagers(app.db(), sid, mandats::State::Active, q, now, limit, cursor)
                    .await
                    .unwrap()
            }
        };
        let page = search("dubois", 20, mandats::Cursor::First).await;
        let mut found: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
        found.sort_unstable();
        assert_eq!(found, dubois, "the three Dubois of the structure");
        assert!(!page.has_next);
        // Accents and case do not matter; two words in any part of the name.
        let page = search("ELOISE dub", 20, mandats::Cursor::First).await;
        assert_eq!(page.rows.len(), 1);
        assert!(page.rows[0].name.contains("Éloïse"));
        // Page by page, in alphabetical order, every match once: « essai1 » is
        // ESSAI1 and ESSAI10…19.
        let mut seen = Vec::new();
        let mut cursor = mandats::Cursor::First;
        loop {
            let page = search("essai1", 4, cursor).await;
            seen.extend(page.rows.iter().map(|r| r.name.clone()));
            match page.rows.last() {
                Some(last) if page.has_next => cursor = mandats::Cursor::After(last.id),
                _ => break,
            }
        }
        assert_eq!(seen.len(), 11, "{seen:?}");
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        // Backwards from the last page gives the previous one.
        let back = search("essai1", 4, mandats::Cursor::Before(dubois[0])).await;
        assert!(back.rows.is_empty() || back.rows.len() <= 4);
        // Searches too short for trigrams still find names.
        let page = search("es", 100, mandats::Cursor::First).await;
        assert_eq!(page.rows.len(), 40);
        // A renamed usager (same FranceConnect identity, new mandate) is found by
        // the new name only.
        let renamed = give(sid, aidant.id, named(7, "Jeanne", "MARTIN")).await;
        let page = search("martin", 20, mandats::Cursor::First).await;
        assert_eq!(
            page.rows.iter().map(|r| r.id).collect::<Vec<_>>(),
            [renamed]
        );
        let page = search("essai7", 20, mandats::Cursor::First).await;
        assert!(page.rows.iter().all(|r| r.id != renamed));
        // Deleted from the structure's list: gone from the search too.
        app.db()
            .execute(
                "DELETE FROM usager_structures WHERE structure_id = $1 AND usager_id = $2",
                relais::args![sid, dubois[2]],
            )
            .await
            .unwrap();
        let page = search("dubois", 20, mandats::Cursor::First).await;
        assert_eq!(page.rows.len(), 2);
    }
);

crate::both_backends!(the_aidant_home_is_a_task_page, |app: TestApp| async move {
    let sid = app.structure("Structure de l'accueil").await;
    let aidant = app.member(sid, Role::Aidant, "aidant").await;
    let mut c = app.login(&aidant).await;
    // No mandate yet: the way to the first one, and no structure codes.
    let home = c.get("/espace").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.contains("href=\"/mandats/nouveau\""), "{}", home.body);
    assert!(home.contains("action=\"/usagers\""));
    assert!(home.contains("Aucun mandat pour l'instant"));
    assert!(
        !home.contains("SIRET") && !home.contains("INSEE"),
        "{}",
        home.body
    );
    let mut who = identity(40);
    who.family_name = "LONGUEVILLE".into();
    crate::common::mandate(
        &app,
        sid,
        aidant.id,
        mandats::UsagerRef::Identified(&who),
        &[Demarche::Logement],
        Duree::Mois,
    )
    .await
    .unwrap();
    let mut who = identity(41);
    who.family_name = "COURTOIS".into();
    crate::common::mandate(
        &app,
        sid,
        aidant.id,
        mandats::UsagerRef::Identified(&who),
        &[Demarche::Social],
        Duree::Long,
    )
    .await
    .unwrap();
    // Both among the last mandates, newest first; the one-month mandate ends
    // within 30 days once 10 days have passed, the long one does not.
    app.clock.advance(10 * 86_400);
    let mut c = app.login(&aidant).await;
    let home = c.get("/espace").await;
    let body = crate::common::unescape(&home.body);
    let (ending, recent) = body.split_once("Derniers mandats de la structure").unwrap();
    let ending = ending.split_once("se terminent bientôt").unwrap().1;
    assert!(
        ending.contains("LONGUEVILLE") && !ending.contains("COURTOIS"),
        "{ending}"
    );
    let (first, second) = (
        recent.find("COURTOIS").unwrap(),
        recent.find("LONGUEVILLE").unwrap(),
    );
    assert!(first < second, "newest first: {recent}");
    // The search goes to the usagers page.
    let found = c.get("/usagers?q=longue").await;
    assert!(found.contains("LONGUEVILLE"));
});
