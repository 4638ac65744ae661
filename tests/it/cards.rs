//! Physical TOTP cards: import (all lines or nothing), link with a current code,
//! sign-in with 60-second codes (±1 step, never widened, no replay), drift fixed
//! only by a référent's resynchronisation with two consecutive codes, unlink with a
//! reason. And no référent ever acts on an aidant of a structure they do not manage.

use axum::http::StatusCode;
use relais::accounts::totp;
use relais::domain::Role;

use crate::common::{TestApp, unescape};

const SEED_A: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const SEED_B: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn card_code(seed: &str, now: i64, offset: i64) -> String {
    totp::code_at_step(seed, now.div_euclid(60) + offset).unwrap()
}

crate::both_backends!(
    cards_import_link_sign_in_and_resync,
    |app: TestApp| async move {
        let admin = app.admin().await;
        let mut a = app.login(&admin).await;
        // A bad file: every line named, nothing imported.
        let bad = "serial,seed,step\nC-1,JBSWY3DPEHPK3PXP,60\nC-2,pas-du-base32!,60\nC-3,GEZDGNBVGY3TQOJQ,30\nC-1,GEZDGNBVGY3TQOJQGEZDGNBV,60\n";
        let r = a
            .post_multipart(
                "/admin/cartes/import",
                &[],
                ("fichier", "cartes.csv", bad.as_bytes()),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = unescape(&r.body);
        for expected in [
            "ligne 3 : graine de la carte C-2 illisible",
            "ligne 4 : cette carte change de code toutes les 30 secondes",
            "ligne 5 : la carte C-1 figure deux fois",
        ] {
            assert!(body.contains(expected), "{expected} : {body}");
        }
        assert!(body.contains("Aucune carte."), "nothing imported");
        let good = format!("serial;seed;step\nC-100;{SEED_A};60\nC-200;{SEED_B};60\n");
        let r = a
            .post_multipart(
                "/admin/cartes/import",
                &[],
                ("fichier", "cartes.csv", good.as_bytes()),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(unescape(&r.body).contains("2 cartes importées"));
        let csv = a.get("/admin/cartes.csv").await;
        assert!(!csv.body.contains(SEED_A), "seeds never exported");
        let rows = crate::common::spreadsheet(&csv.body);
        assert!(crate::common::column(&rows, "Numéro de série").contains(&"C-100"));

        // A référent links card C-100 to an aidant, with the code it shows.
        let s = app.structure("Mairie de Joigny").await;
        let referent = app.member(s, Role::Referent, "referent").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let mut r_client = app.login(&referent).await;
        let page = format!("/structures/{s}/equipe/{}/carte", aidant.id);
        assert_eq!(r_client.get(&page).await.status, StatusCode::OK);
        let now = app.clock_now();
        let r = r_client
            .post(
                &format!("{page}/lier"),
                &[("serial", "C-100"), ("code", &card_code(SEED_A, now, 3))],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a code 3 minutes ahead is refused"
        );
        let r = r_client
            .post(
                &format!("{page}/lier"),
                &[("serial", "C-999"), ("code", "123456")],
            )
            .await;
        assert!(unescape(&r.body).contains("Aucune carte n'a ce numéro"));
        let r = r_client
            .post(
                &format!("{page}/lier"),
                &[("serial", "C-100"), ("code", &card_code(SEED_A, now, 0))],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let team = unescape(&r_client.get(&format!("/structures/{s}/equipe")).await.body);
        assert!(team.contains("n° C-100"), "{team}");

        // The aidant signs in with the card: ±1 step, each code once.
        let sign_in = |code: String| {
            let mut c = app.client();
            let email = aidant.email.clone();
            let password = aidant.password.clone();
            async move {
                c.post(
                    "/connexion",
                    &[("email", &email), ("password", &password), ("code", &code)],
                )
                .await
                .status
            }
        };
        app.clock.advance(60);
        let now = app.clock_now();
        assert_eq!(
            sign_in(card_code(SEED_A, now, 0)).await,
            StatusCode::SEE_OTHER
        );
        assert_ne!(
            sign_in(card_code(SEED_A, now, 0)).await,
            StatusCode::SEE_OTHER,
            "replay"
        );
        assert_ne!(
            sign_in(card_code(SEED_A, now, -3)).await,
            StatusCode::SEE_OTHER
        );
        for _ in 0..3 {
            // Failures never widen the window.
            assert_ne!(
                sign_in(card_code(SEED_A, now, 2)).await,
                StatusCode::SEE_OTHER
            );
        }
        app.clock.advance(900); // past the sign-in lock of the failures above
        // The card's clock drifts 5 minutes ahead: refused until resynchronised.
        let now = app.clock_now();
        assert_ne!(
            sign_in(card_code(SEED_A, now, 5)).await,
            StatusCode::SEE_OTHER
        );
        app.clock.advance(900);
        // (A fresh sign-in: after 15 idle minutes the référent would confirm a code.)
        let mut r_client = app.login(&referent).await;
        let now = app.clock_now();
        let r = r_client
            .post(
                &format!("{page}/resynchroniser"),
                &[
                    ("code", &card_code(SEED_A, now, 5)),
                    ("code2", &card_code(SEED_A, now, 7)),
                ],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "codes that do not follow each other"
        );
        let r = r_client
            .post(
                &format!("{page}/resynchroniser"),
                &[
                    ("code", &card_code(SEED_A, now, 5)),
                    ("code2", &card_code(SEED_A, now, 6)),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        app.clock.advance(60);
        let now = app.clock_now();
        assert_eq!(
            sign_in(card_code(SEED_A, now, 6)).await,
            StatusCode::SEE_OTHER,
            "drift known"
        );

        // Unlinked (with a reason): its codes stop working.
        let r = r_client
            .post(&format!("{page}/delier"), &[("reason", " ")])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = r_client
            .post(&format!("{page}/delier"), &[("reason", "carte perdue")])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        app.clock.advance(60);
        let now = app.clock_now();
        assert_ne!(
            sign_in(card_code(SEED_A, now, 6)).await,
            StatusCode::SEE_OTHER
        );
        // Journaled on the structure's chain.
        use relais::db::exec::Exec;
        let actions: Vec<String> = app
            .db()
            .conn()
            .await
            .unwrap()
            .fetch_all(
                "SELECT action FROM journal WHERE chain = $1 AND action LIKE 'carte%' ORDER BY seq",
                relais::args![s],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.text("action").unwrap())
            .collect();
        assert_eq!(
            actions,
            ["carte_liee", "carte_resynchronisee", "carte_deliee"]
        );
    }
);

crate::both_backends!(
    a_referent_never_manages_an_aidant_of_another_structure,
    |app: TestApp| async move {
        let a = app.structure("Structure A").await;
        let b = app.structure("Structure B").await;
        let aidant_a = app.member(a, Role::Aidant, "aidant-a").await;
        let referent_b = app.member(b, Role::Referent, "referent-b").await;
        let admin = app.admin().await;
        let mut adm = app.login(&admin).await;
        let good = format!("serial,seed,step\nC-7,{SEED_A},60\n");
        let r = adm
            .post_multipart(
                "/admin/cartes/import",
                &[],
                ("fichier", "c.csv", good.as_bytes()),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let mut rb = app.login(&referent_b).await;
        let code = card_code(SEED_A, app.clock_now(), 0);
        let id = aidant_a.id;
        let b_str = b.to_string();
        // Through their own structure's pages (where they are référent) and through
        // structure A's (where they are not): every action refused.
        for sid in [b, a] {
            let base = format!("/structures/{sid}/equipe/{id}");
            let get = rb.get(&format!("{base}/carte")).await;
            assert!(
                matches!(get.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
                "GET carte via {sid}: {}",
                get.status
            );
            for (action, fields) in [
                ("desactiver", vec![("confirmer", "oui")]),
                ("reactiver", vec![]),
                ("reinitialiser-2fa", vec![]),
                (
                    "carte/lier",
                    vec![("serial", "C-7"), ("code", code.as_str())],
                ),
                ("carte/delier", vec![("reason", "essai")]),
                ("structures", vec![("structure_id", b_str.as_str())]),
                (
                    "carte/resynchroniser",
                    vec![("code", "000000"), ("code2", "000000")],
                ),
            ] {
                let r = rb.post(&format!("{base}/{action}"), &fields).await;
                assert!(
                    !r.status.is_success() && !r.status.is_redirection(),
                    "{action} via {sid}: {} {}",
                    r.status,
                    r.location()
                );
            }
        }
        // Nothing changed for the aidant of A.
        let members = relais::accounts::members(app.db(), a).await.unwrap();
        let m = members.iter().find(|m| m.account_id == id).unwrap();
        assert!(m.active && m.card.is_none() && m.totp_enrolled);
        assert!(
            relais::accounts::members(app.db(), b)
                .await
                .unwrap()
                .iter()
                .all(|m| m.account_id != id),
            "not moved into B"
        );
    }
);
