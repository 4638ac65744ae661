//! The attacks of the independent test (issue 11), each performed against the
//! application: they must fail. One test per class; each names the mechanism that
//! stops it (docs/ARCHITECTURE.md, « Sécurité »).

use axum::http::StatusCode;
use relais::domain::Role;

use crate::common::{Resp, TestApp, User, unescape};

/// A 6-digit code that is not `right`.
fn wrong(right: &str) -> String {
    let n: u32 = right.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Five wrong codes are answered `wrong_status`; the sixth attempt is refused
/// unchecked, even with the right code; 15 minutes later the right code passes.
/// `send(code)` posts the form with `code`.
async fn five_then_locked<F, Fut>(app: &TestApp, secret: &str, wrong_status: StatusCode, send: F)
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Resp>,
{
    five_then_locked_then(app, secret, wrong_status, send, true).await;
}

/// [`five_then_locked`]; `after` false when the form does not outlive the window
/// (the identity provider's request lasts 10 minutes).
async fn five_then_locked_then<F, Fut>(
    app: &TestApp,
    secret: &str,
    wrong_status: StatusCode,
    mut send: F,
    after: bool,
) where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Resp>,
{
    for i in 0..5 {
        let right = app.next_code(secret);
        let r = send(wrong(&right)).await;
        assert_eq!(r.status, wrong_status, "essai {i} : {}", r.body);
    }
    let right = app.next_code(secret);
    let r = send(right).await;
    assert!(
        unescape(&r.body).contains("Trop de codes incorrects")
            || r.status == StatusCode::TOO_MANY_REQUESTS,
        "le sixième essai doit être refusé sans être vérifié : {} {}",
        r.status,
        r.body
    );
    if !after {
        return;
    }
    // The window (15 minutes from the first failure) ends; less than 15 minutes
    // without a request, so no step-up is asked meanwhile.
    app.clock.advance(15 * 60 - 6 * 30 + 1);
    let right = app.next_code(secret);
    let r = send(right).await;
    assert!(
        r.status.is_redirection() && !r.location().starts_with("/reconfirmer"),
        "après la fenêtre le bon code passe : {} {}",
        r.status,
        r.body
    );
}

crate::both_backends!(
    second_factor_is_throttled_everywhere,
    |app: TestApp| async move {
        let s = app.structure("Structure attaquée").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;

        // 1. The password reset: 748 tries a second were possible.
        let mut anon = app.client();
        let r = anon
            .post("/mot-de-passe-oublie", &[("email", &aidant.email)])
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let link = crate::common::link_path(&app.last_email_to(&aidant.email).body);
        let new_password = "un tout nouveau mot de passe";
        five_then_locked(
            &app,
            &aidant.secret,
            StatusCode::UNPROCESSABLE_ENTITY,
            |code| {
                let mut c = anon.clone();
                let link = link.clone();
                async move {
                    c.post(
                        &link,
                        &[
                            ("password", new_password),
                            ("password_confirmation", new_password),
                            ("code", &code),
                        ],
                    )
                    .await
                }
            },
        )
        .await;
        let aidant = User {
            password: new_password.to_owned(),
            ..aidant
        };

        // 2. The step-up.
        let c = app.login(&aidant).await;
        five_then_locked(
            &app,
            &aidant.secret,
            StatusCode::UNPROCESSABLE_ENTITY,
            |code| {
                let mut c = c.clone();
                async move {
                    c.post("/reconfirmer", &[("code", &code), ("suivant", "/")])
                        .await
                }
            },
        )
        .await;

        // 3. The mandate's confirmation (recap).
        let mut c = app.login(&aidant).await;
        let recap =
            crate::mandats::through_franceconnect(&mut c, &["social"], "1", "nguyen-van-an", "ok")
                .await;
        assert_eq!(recap.status, StatusCode::OK, "{}", recap.body);
        let action =
            crate::common::extract_between(&recap.body, "action=\"/mandats/brouillons/", "\"")
                .unwrap();
        five_then_locked(
            &app,
            &aidant.secret,
            StatusCode::UNPROCESSABLE_ENTITY,
            |code| {
                let mut c = c.clone();
                let path = format!("/mandats/brouillons/{action}");
                async move {
                    c.post(&path, &[("consentement", "1"), ("code", &code)])
                        .await
                }
            },
        )
        .await;

        // 4. The identity provider's confirmation.
        let mut w = crate::idp::world(&app, &[relais::mandats::Demarche::Famille]).await;
        app.clock.advance(60);
        let r = w
            .client
            .get(&format!("/oidc/authorize?{}", crate::idp::query(&[])))
            .await;
        let page = r.location().to_owned();
        let shown = w.client.get(&page).await;
        assert!(shown.contains("confirmez d'abord"), "{}", shown.body);
        let secret = w.aidant.secret.clone();
        five_then_locked_then(
            &app,
            &secret,
            StatusCode::UNPROCESSABLE_ENTITY,
            |code| {
                let mut c = w.client.clone();
                let path = format!("{page}/confirmer");
                async move { c.post(&path, &[("code", &code)]).await }
            },
            false,
        )
        .await;
        // The window ends: the code passes again (on a new request).
        app.clock.advance(15 * 60);
        let r = w
            .client
            .get(&format!("/oidc/authorize?{}", crate::idp::query(&[])))
            .await;
        let page = r.location().to_owned();
        w.client.get(&page).await;
        let code = app.next_code(&secret);
        let r = w
            .client
            .post(&format!("{page}/confirmer"), &[("code", &code)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

        // 5. The activation of an invitation (a new secret to prove).
        let email = format!("invitee-{}@exemple.fr", crate::common::unique());
        let outcome = relais::accounts::invite(
            app.db(),
            s,
            &relais::domain::Email::parse(&email).unwrap(),
            "Personne invitée",
            Role::Referent,
            None,
            app.clock_now(),
        )
        .await
        .unwrap();
        let relais::accounts::InviteOutcome::Invited { token, .. } = outcome else {
            panic!("{outcome:?}");
        };
        let mut anon = app.client();
        let page = anon.get(&format!("/activation/{token}")).await;
        let new_secret =
            crate::common::extract_between(&page.body, "<code class=\"secret\">", "</code>")
                .unwrap()
                .replace(' ', "");
        five_then_locked(
            &app,
            &new_secret,
            StatusCode::UNPROCESSABLE_ENTITY,
            |code| {
                let mut c = anon.clone();
                let path = format!("/activation/{token}");
                async move {
                    c.post(
                        &path,
                        &[
                            ("password", "une phrase de passe solide"),
                            ("password_confirmation", "une phrase de passe solide"),
                            ("code", &code),
                        ],
                    )
                    .await
                }
            },
        )
        .await;
    }
);

const CARD_SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn card_code(now: i64, offset: i64) -> String {
    relais::accounts::totp::code_at_step(CARD_SEED, now.div_euclid(60) + offset).unwrap()
}

crate::both_backends!(card_codes_are_throttled, |app: TestApp| async move {
    let admin = app.admin().await;
    let imported = relais::accounts::cards::import_csv(
        app.db(),
        format!("serial,seed,step\nK-1,{CARD_SEED},60\n").as_bytes(),
        admin.id,
        app.clock_now(),
    )
    .await
    .unwrap();
    assert_eq!(imported, Ok(1));
    let s = app.structure("Structure aux cartes").await;
    let referent = app.member(s, Role::Referent, "referent").await;
    let aidant = app.member(s, Role::Aidant, "aidant").await;
    let c = app.login(&referent).await;
    let link = format!("/structures/{s}/equipe/{}/carte/lier", aidant.id);
    // Link: five wrong codes, then even the card's right code is refused.
    for _ in 0..5 {
        let right = card_code(app.clock_now(), 0);
        let r = c
            .clone()
            .post(&link, &[("serial", "K-1"), ("code", &wrong(&right))])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    }
    let r = c
        .clone()
        .post(
            &link,
            &[("serial", "K-1"), ("code", &card_code(app.clock_now(), 0))],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(unescape(&r.body).contains("Trop de codes incorrects"));
    // The same counter: the référent's own sign-in is locked too.
    let mut other = app.client();
    let code = app.next_code(&referent.secret);
    let r = other
        .post(
            "/connexion",
            &[
                ("email", &referent.email),
                ("password", &referent.password),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(15 * 60);
    let c = app.login(&referent).await;
    app.clock.advance(60);
    let r = c
        .clone()
        .post(
            &link,
            &[("serial", "K-1"), ("code", &card_code(app.clock_now(), 0))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Resynchronisation: the same.
    let resync = format!("/structures/{s}/equipe/{}/carte/resynchroniser", aidant.id);
    for _ in 0..5 {
        let r = c
            .clone()
            .post(&resync, &[("code", "000000"), ("code2", "000001")])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    }
    app.clock.advance(60);
    let now = app.clock_now();
    let r = c
        .clone()
        .post(
            &resync,
            &[("code", &card_code(now, 0)), ("code2", &card_code(now, 1))],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
});

crate::both_backends!(
    parallel_wrong_passwords_stop_at_the_limit,
    |app: TestApp| async move {
        let s = app.structure("Structure").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let mut c = app.client();
            let email = aidant.email.clone();
            tasks.push(tokio::spawn(async move {
                c.post(
                    "/connexion",
                    &[
                        ("email", &email),
                        ("password", "pas le mot de passe"),
                        ("code", "123456"),
                    ],
                )
                .await
                .status
            }));
        }
        let mut checked = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                StatusCode::UNAUTHORIZED => checked += 1,
                StatusCode::TOO_MANY_REQUESTS => refused += 1,
                other => panic!("statut inattendu {other}"),
            }
        }
        assert_eq!((checked, refused), (5, 15), "5 vérifiés, 15 refusés");
    }
);

crate::both_backends!(next_never_leaves_the_site, |app: TestApp| async move {
    let s = app.structure("Structure").await;
    let aidant = app.member(s, Role::Aidant, "aidant").await;
    let mut c = app.login(&aidant).await;
    for raw in [
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%0d%0a/evil.example",
        "/%00",
        "//evil.example",
        "/%5cevil.example",
        "https://evil.example",
    ] {
        let r = c.get(&format!("/connexion?suivant={raw}")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{raw}: {}", r.body);
        assert_eq!(r.location(), "/", "{raw}");
    }
    let r = c.get("/connexion?suivant=/mandats").await;
    assert_eq!(r.location(), "/mandats");
});

crate::both_backends!(email_forms_are_rate_limited, |app: TestApp| async move {
    let s = app.structure("Structure").await;
    let aidant = app.member(s, Role::Aidant, "aidant").await;
    let before = app.sent().len();
    let mut c = app.client();
    let mut limited = 0;
    for _ in 0..40 {
        let r = c
            .post("/mot-de-passe-oublie", &[("email", &aidant.email)])
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
            assert!(unescape(&r.body).contains("Trop d'e-mails"));
        }
    }
    assert_eq!(
        app.sent().len() - before,
        3,
        "3 e-mails par adresse et par heure"
    );
    assert_eq!(limited, 37);
    // From one IP, other addresses: 60 an hour at most for the sender.
    let mut sent_ok = 0;
    for i in 0..70 {
        let r = c
            .post(
                "/mot-de-passe-oublie",
                &[("email", &format!("x{i}@exemple.fr"))],
            )
            .await;
        if r.status == StatusCode::OK {
            sent_ok += 1;
        }
    }
    // The sender was charged 40 times already (the address refusals count).
    assert_eq!(sent_ok, 20);
    // An hour later, the address may ask again.
    app.clock.advance(3601);
    let r = c
        .post("/mot-de-passe-oublie", &[("email", &aidant.email)])
        .await;
    assert_eq!(r.status, StatusCode::OK);
});

crate::both_backends!(
    malformed_path_parameters_answer_in_french,
    |app: TestApp| async move {
        let s = app.structure("Structure").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let mut c = app.login(&aidant).await;
        let r = c.get("/usagers/pas-un-nombre").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("Demande incorrecte"), "{}", r.body);
        assert!(!r.body.contains("Invalid URL"), "{}", r.body);
        assert!(
            r.headers
                .get("content-type")
                .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"))
        );
    }
);

/// A structure whose chain holds `mandates` mandates' entries.
async fn journaled_structure(app: &TestApp, name: &str, mandates: u32) -> i64 {
    let s = app.structure(name).await;
    let aidant = app.member(s, Role::Aidant, "aidant").await;
    for n in 0..mandates {
        let who = crate::idp::identity(50 + n, "u@exemple.fr");
        crate::common::mandate(
            app,
            s,
            aidant.id,
            relais::mandats::UsagerRef::Identified(&who),
            &[relais::mandats::Demarche::Loisirs],
            relais::mandats::Duree::Court,
        )
        .await
        .unwrap();
    }
    s
}

/// What someone with the database does first: the append-only triggers go.
async fn drop_journal_triggers(app: &TestApp) {
    let sql = match app.backend {
        relais::db::Backend::Sqlite => {
            "DROP TRIGGER journal_no_update; DROP TRIGGER journal_no_delete;"
        }
        relais::db::Backend::Postgres => "ALTER TABLE journal DISABLE TRIGGER USER;",
    };
    app.db().run_script(sql).await.unwrap();
}

/// The rank of a chain's last entry.
async fn last_seq(app: &TestApp, chain: i64) -> i64 {
    app.db()
        .fetch_one(
            "SELECT MAX(seq) AS m FROM journal WHERE chain = $1",
            relais::args![chain],
        )
        .await
        .unwrap()
        .get("m")
        .unwrap()
}

/// Deletes one entry (and its personal data), triggers already gone.
async fn delete_entry(app: &TestApp, chain: i64, seq: i64) {
    let pool = app.db();
    pool.execute(
        "DELETE FROM journal_personal WHERE entry_id IN
             (SELECT id FROM journal WHERE chain = $1 AND seq = $2)",
        relais::args![chain, seq],
    )
    .await
    .unwrap();
    pool.execute(
        "DELETE FROM journal WHERE chain = $1 AND seq = $2",
        relais::args![chain, seq],
    )
    .await
    .unwrap();
}

// Rewrites the journal as someone with the database but not the server secret
// would: `relais journal verify` must notice every time.
crate::both_backends!(journal_rewrites_are_detected, |app: TestApp| async move {
    let s = journaled_structure(&app, "Structure du journal", 3).await;
    let v = relais::journal::verify(app.db()).await.unwrap();
    assert_eq!(v.first_broken, None);
    let exported = relais::journal::heads(app.db()).await.unwrap();
    assert!(exported.iter().any(|h| h.chain == s));
    let pool = app.db();
    drop_journal_triggers(&app).await;
    let last_seq = last_seq(&app, s).await;
    let reason = |v: relais::journal::Verification| v.first_broken.map(|b| b.reason).unwrap_or("");

    // 1. Truncate the chain's end.
    let before_last: (i64, String) = {
        let r = pool
            .fetch_one(
                "SELECT id, hash FROM journal WHERE chain = $1 AND seq = $2",
                relais::args![s, last_seq - 1],
            )
            .await
            .unwrap();
        (r.get("id").unwrap(), r.get("hash").unwrap())
    };
    delete_entry(&app, s, last_seq).await;
    let v = relais::journal::verify(app.db()).await.unwrap();
    assert!(reason(v).contains("tronquée"));

    // 2. Move the head back to the new end, without the key: its seal fails.
    pool.execute(
        "UPDATE journal_heads SET seq = $1, hash = $2 WHERE chain = $3",
        relais::args![last_seq - 1, &before_last.1, s],
    )
    .await
    .unwrap();
    let v = relais::journal::verify(app.db()).await.unwrap();
    assert!(
        reason(v).contains("signature est fausse"),
        "head moved without the key"
    );

    // 3. Delete the head: a chain without signed head.
    pool.execute(
        "DELETE FROM journal_heads WHERE chain = $1",
        relais::args![s],
    )
    .await
    .unwrap();
    let v = relais::journal::verify(app.db()).await.unwrap();
    assert!(reason(v).contains("sans tête signée"));

    // 4. Delete the whole chain, head kept: « chaîne supprimée ».
    let kept = exported.iter().find(|h| h.chain == s).unwrap().clone();
    pool.execute("INSERT INTO journal_heads (chain, seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6)", relais::args![kept.chain, kept.seq, &kept.hash, kept.at, &kept.key_id, &kept.signature])
    .await
    .unwrap();
    pool.execute(
        "DELETE FROM journal_personal WHERE entry_id IN (SELECT id FROM journal WHERE chain = $1)",
        relais::args![s],
    )
    .await
    .unwrap();
    pool.execute("DELETE FROM journal WHERE chain = $1", relais::args![s])
        .await
        .unwrap();
    let v = relais::journal::verify(app.db()).await.unwrap();
    assert!(reason(v).contains("chaîne supprimée"));

    // 5. Delete the chain and its head together: the database alone cannot tell,
    // the export kept elsewhere does.
    pool.execute(
        "DELETE FROM journal_heads WHERE chain = $1",
        relais::args![s],
    )
    .await
    .unwrap();
    let v = relais::journal::verify(app.db()).await.unwrap();
    assert_eq!(v.first_broken, None, "undetectable from the database alone");
    let v = relais::journal::verify_against(app.db(), &exported)
        .await
        .unwrap();
    assert!(reason(v).contains("chaîne supprimée"));
});

crate::both_backends!(
    journal_entry_rewritten_with_recomputed_hashes_is_detected,
    |app: TestApp| async move {
        let s = journaled_structure(&app, "Structure réécrite", 2).await;
        // The attacker, with the database but another secret, drops the triggers,
        // deletes the last entry and appends one of their own through Relais' own
        // code: a correctly chained entry, every hash recomputed. Only the head's
        // seal can tell.
        drop_journal_triggers(&app).await;
        let last = last_seq(&app, s).await;
        delete_entry(&app, s, last).await;
        let attacker = relais::db::Db::connect(
            app.db().url(),
            "le secret de l'attaquant, qui n'est pas celui du serveur",
        )
        .await
        .unwrap();
        let mut tx = attacker.begin().await.unwrap();
        relais::journal::append(
            &mut tx,
            &relais::journal::NewEntry::new(s, relais::journal::Action::RevocationMandat)
                .details(serde_json::json!({ "note": "réécrit" })),
            app.clock_now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        // Every hash of the chain verifies; the head's seal does not.
        let v = relais::journal::verify(app.db()).await.unwrap();
        let b = v.first_broken.expect("rewritten chain detected");
        assert!(b.reason.contains("tête de chaîne"), "{}", b.reason);
        assert_eq!(b.chain, s);
        // The server that has the secret could re-seal only after checking the
        // hashes; an attacker's rewrite with a right hash chain needs the key.
        attacker.close().await;
    }
);

crate::both_backends!(
    imports_are_bounded_and_neutralise_formulas,
    |app: TestApp| async move {
        use relais::lieux::{self, Encoding};
        // 100,000 empty objects: 200 errors detailed, the rest counted.
        let mut json = String::from("[");
        for i in 0..100_000 {
            if i > 0 {
                json.push(',');
            }
            json.push_str("{}");
        }
        json.push(']');
        let read = lieux::read_json(json.as_bytes()).unwrap();
        assert_eq!(read.records.len(), 0);
        assert_eq!(read.refused, 100_000);
        assert_eq!(read.rejected.len(), relais::csv_import::MAX_ERRORS);
        assert!(read.rejected.total() > 100_000);
        assert!(
            read.rejected
                .more_text()
                .unwrap()
                .contains("autres erreurs")
        );
        // CSV: 50,000 lines lacking every required value likewise.
        let header = relais::lieux::schema::Schema::standard().names().join(",");
        let mut csv = format!("{header}\n");
        for i in 0..50_000 {
            csv.push_str(&format!("id-{i}\n"));
        }
        let read = lieux::read_csv(csv.as_bytes(), Encoding::Utf8).unwrap();
        assert_eq!(read.refused, 50_000);
        assert_eq!(read.rejected.len(), relais::csv_import::MAX_ERRORS);
        // Cards: 20,000 lines with duplicates, the list of errors bounded.
        let mut cards = String::from("serial,seed,step\n");
        for i in 0..20_000 {
            cards.push_str(&format!("D-{},{CARD_SEED},60\n", i % 10_000));
        }
        let admin = app.admin().await;
        let r = relais::accounts::cards::import_csv(
            app.db(),
            cards.as_bytes(),
            admin.id,
            app.clock_now(),
        )
        .await
        .unwrap()
        .unwrap_err();
        assert_eq!(r.len(), relais::csv_import::MAX_ERRORS + 1);
        assert!(
            r.last()
                .unwrap()
                .to_string()
                .contains("9800 autres erreurs"),
            "{}",
            r.last().unwrap()
        );

        // Formula-like values and NUL bytes are refused at import; the phone's
        // « + » and a negative longitude are the standard's own.
        let schema = relais::lieux::schema::Schema::standard();
        let line = |nom: &str| {
            let values: Vec<&str> = schema
                .fields
                .iter()
                .map(|f| match f.name.as_str() {
                    "id" => "f-1",
                    "pivot" => "00000000000000",
                    "nom" => nom,
                    "commune" => "Auxerre",
                    "code_postal" => "89000",
                    "code_insee" => "89024",
                    "adresse" => "1 rue A",
                    "latitude" => "47.79",
                    "longitude" => "-3.57",
                    "telephone" => "+33386000000",
                    "date_maj" => "2024-01-01",
                    "services" => "Aide aux démarches administratives",
                    _ => "",
                })
                .collect();
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(schema.names()).unwrap();
            w.write_record(&values).unwrap();
            String::from_utf8(w.into_inner().unwrap()).unwrap()
        };
        for (nom, reason) in [
            ("=HYPERLINK(\"http://evil.example\";\"clic\")", "formule"),
            ("@SUM(A1)", "formule"),
            ("-2+3", "formule"),
            ("Médiathèque\u{0}", "caractère de contrôle"),
        ] {
            let read = lieux::read_csv(line(nom).as_bytes(), Encoding::Utf8).unwrap();
            assert_eq!(read.records.len(), 0, "{nom}");
            assert!(
                read.rejected
                    .iter()
                    .any(|r| r.field == "nom" && r.reason.contains(reason)),
                "{nom}: {:?}",
                read.rejected
            );
        }
        let read = lieux::read_csv(line("Médiathèque").as_bytes(), Encoding::Utf8).unwrap();
        assert_eq!(read.rejected.len(), 0, "{:?}", read.rejected);
        let report = lieux::import(app.db(), read, "essai", false, app.clock_now())
            .await
            .unwrap();
        assert_eq!(report.inserted, 1);
        let export = lieux::export_csv(app.db()).await.unwrap();
        assert!(!export.contains("HYPERLINK") && export.contains("+33386000000"));
    }
);

crate::both_backends!(json_import_errors_are_french, |app: TestApp| async move {
    let admin = app.admin().await;
    let mut a = app.login(&admin).await;
    let r = a
        .post_multipart(
            "/admin/lieux",
            &[("source", "essai"), ("mode", "strict")],
            (
                "fichier",
                "lieux.json",
                b"[{\"id\": \"a\",\n  \"nom\": tru}]",
            ),
            true,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = unescape(&r.body);
    assert!(body.contains("syntaxe JSON incorrecte (ligne 2"), "{body}");
    assert!(!body.contains("expected"), "{body}");
});

/// Slow and idle clients against the real server (connection limit, header,
/// keep-alive and body timeouts): they are cut off, and `/healthz` still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = crate::common::test_config();
    config.body_timeout_seconds = 1;
    let app = TestApp::with_config(relais::db::Backend::Sqlite, config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = relais::web::server::Limits {
        max_connections: 4,
        header_timeout: Duration::from_secs(1),
    };
    let server = tokio::spawn(relais::web::server::serve(
        listener,
        app.router.clone(),
        limits,
        std::future::pending(),
    ));
    let health = "GET /healthz HTTP/1.1\r\nHost: relais.test\r\n\r\n";
    async fn closed_within(s: &mut tokio::net::TcpStream, limit: Duration) -> bool {
        let mut buf = [0u8; 4096];
        let started = Instant::now();
        loop {
            match tokio::time::timeout(limit, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed() <= limit,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }
    // Idle connections that never send a header are closed after the timeout.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // At the limit, a new client waits — and is served once the idle ones are cut.
    let started = Instant::now();
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(health.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .expect("/healthz answered once idle connections were cut")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(4));
    for mut s in idle {
        assert!(
            closed_within(&mut s, Duration::from_secs(2)).await,
            "idle connection closed"
        );
    }
    // A kept-alive connection idle after its response is closed too.
    assert!(
        closed_within(&mut c, Duration::from_secs(3)).await,
        "keep-alive closed"
    );
    // Headers sent byte by byte, too slowly: cut.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = slow.write_all(b"Host: relais.test\r\n\r\n").await;
    let mut buf = vec![0u8; 1024];
    let r = tokio::time::timeout(Duration::from_secs(2), slow.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_)))
            || matches!(r, Ok(Ok(n)) if String::from_utf8_lossy(&buf[..n]).contains("408")),
        "slow headers cut: {r:?}"
    );
    // A body announced and sent too slowly: 408 with the French page.
    let mut b = tokio::net::TcpStream::connect(addr).await.unwrap();
    b.write_all(
        b"POST /connexion HTTP/1.1\r\nHost: relais.test\r\nOrigin: http://relais.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(4), b.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("Envoi interrompu"), "{text}");
    server.abort();
}

#[test]
fn busy_sign_in_answers_503_with_retry_after() {
    let r = relais::web::pages::auth::busy_response();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers().get("retry-after").unwrap(), "5");
}

crate::both_backends!(
    csp_allows_franceconnect_and_clients_only,
    |app: TestApp| async move {
        let mut c = app.client();
        let r = c.get("/connexion").await;
        let csp = r
            .headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("form-action 'self'"), "{csp}");
        assert!(!csp.contains("script-src"), "{csp}");
        let mut config = crate::common::test_config();
        config.fc_issuer = Some("https://fcp.integ01.dev-franceconnect.fr/api/v2".into());
        config.idp_clients = vec![relais::config::IdpClientConfig {
            client_id: "fc".into(),
            name: "FranceConnect".into(),
            secret_sha256: "0".repeat(64),
            redirect_uris: vec![
                "https://fcp.integ01.dev-franceconnect.fr/api/v2/oidc-callback".into(),
            ],
            post_logout_redirect_uris: vec!["https://service.example.fr/deconnecte".into()],
            userinfo_format: "jwt".into(),
            signing_alg: "ES256".into(),
            legacy: false,
        }];
        let header = relais::web::context::content_security_policy(&config);
        let csp = header.to_str().unwrap();
        assert!(
            csp.contains("form-action 'self' https://fcp.integ01.dev-franceconnect.fr https://service.example.fr;"),
            "{csp}"
        );
    }
);

crate::both_backends!(
    import_page_counts_after_the_import,
    |app: TestApp| async move {
        let admin = app.admin().await;
        let mut a = app.login(&admin).await;
        let before = relais::lieux::count(app.db()).await.unwrap();
        let file = std::fs::read("../shared/data/lieux/exemple-valide.csv").unwrap_or_default();
        if file.is_empty() {
            assert!(
                std::env::var("CI").is_err(),
                "données de shared/ obligatoires en CI"
            );
            return;
        }
        let r = a
            .post_multipart(
                "/admin/lieux",
                &[("source", "essai"), ("mode", "strict")],
                ("fichier", "lieux.csv", &file),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let after = relais::lieux::count(app.db()).await.unwrap();
        assert!(after > before);
        assert!(
            unescape(&r.body).contains(&relais::domain::count(after, "lieu", "lieux")),
            "the page counts after the import: {}",
            r.body
        );
    }
);

/// A gzip body, decompressed.
fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read as _;
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .unwrap();
    out
}

crate::both_backends!(
    pages_are_compressed_without_opening_breach,
    |app: TestApp| async move {
        let gz = ("accept-encoding", "gzip, deflate, br");
        // A public page: compressed, and smaller.
        let mut c = app.client();
        let (status, headers, body) = c.get_raw("/lieux", &[gz]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-encoding"], "gzip");
        assert!(
            headers["vary"]
                .to_str()
                .unwrap()
                .contains("accept-encoding")
        );
        let page = gunzip(&body);
        assert!(
            page.starts_with("<!DOCTYPE html>") && page.len() > body.len() * 2,
            "{} → {}",
            page.len(),
            body.len()
        );
        // Without gzip accepted (or refused with q=0): as it is.
        let (_, headers, body) = c.get_raw("/lieux", &[]).await;
        assert!(!headers.contains_key("content-encoding"));
        assert!(
            String::from_utf8(body)
                .unwrap()
                .starts_with("<!DOCTYPE html>")
        );
        let (_, headers, _) = c
            .get_raw("/lieux", &[("accept-encoding", "gzip;q=0")])
            .await;
        assert!(!headers.contains_key("content-encoding"));
        // The CSRF token is written differently in every page, and each works.
        let first = c.get("/connexion").await;
        let second = c.get("/connexion").await;
        let token = |r: &crate::common::Resp| {
            crate::common::extract_between(&r.body, "name=\"_csrf\" value=\"", "\"").unwrap()
        };
        assert_ne!(token(&first), token(&second));
        assert_eq!(
            relais::crypto::unmask_token(&token(&first)),
            relais::crypto::unmask_token(&token(&second))
        );
        // A signed-in person's pages: compressed only for requests from Relais
        // itself or typed by the person, never for one another site triggered.
        let s = app.structure("Structure compressée").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let mut a = app.login(&aidant).await;
        for (site, compressed) in [
            (None, false),
            (Some("cross-site"), false),
            (Some("same-site"), false),
            (Some("same-origin"), true),
            (Some("none"), true),
        ] {
            let mut extra = vec![gz];
            if let Some(site) = site {
                extra.push(("sec-fetch-site", site));
            }
            let (status, headers, body) = a.get_raw("/espace", &extra).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                headers.contains_key("content-encoding"),
                compressed,
                "{site:?}"
            );
            let page = if compressed {
                gunzip(&body)
            } else {
                String::from_utf8(body).unwrap()
            };
            assert!(page.contains("Nouveau mandat"), "{site:?}");
        }
    }
);

crate::both_backends!(
    a_check_is_refused_when_its_address_or_its_account_is_over,
    |app: TestApp| async move {
        use relais::accounts::throttle::{self, PASS_CODE_ACCOUNT, PASS_CODE_IP};
        let now = app.clock_now();
        let ip = throttle::key(app.db(), &PASS_CODE_IP, "192.0.2.7");
        let account = throttle::key(app.db(), &PASS_CODE_ACCOUNT, "42");
        let keys = [(&PASS_CODE_IP, ip), (&PASS_CODE_ACCOUNT, account.clone())];
        assert_eq!(throttle::over(app.db(), &keys, now).await.unwrap(), None);
        for _ in 0..PASS_CODE_ACCOUNT.max {
            throttle::count_failure(app.db(), &PASS_CODE_ACCOUNT, &account, now)
                .await
                .unwrap();
        }
        // The account is over its limit, the address is not: refused, until the
        // account's window ends.
        let wait = throttle::over(app.db(), &keys, now).await.unwrap();
        assert!(
            wait.is_some_and(|w| w > 0 && w <= PASS_CODE_ACCOUNT.window),
            "{wait:?}"
        );
        let address_only = keys.iter().take(1).cloned().collect::<Vec<_>>();
        assert_eq!(
            throttle::over(app.db(), &address_only, now).await.unwrap(),
            None
        );
        assert_eq!(
            throttle::over(app.db(), &keys, now + PASS_CODE_ACCOUNT.window + 1)
                .await
                .unwrap(),
            None
        );
    }
);
