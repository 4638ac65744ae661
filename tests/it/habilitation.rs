//! Habilitation: a structure applies without an account, administrators instruct
//! the request with messages, accept or refuse it; future aidants are invited only
//! once their training is recorded (one by one or by CSV, all lines or none).

use axum::http::StatusCode;

use crate::common::{TestApp, unescape};

const SIRET: &str = "73282932000074";

fn form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("name", "Mairie de Vézelay"),
        ("siret", "732 829 320 00074"),
        ("kind", "mairie"),
        ("address", "1 place du Champ-de-Foire"),
        ("commune_insee", "89446"),
        ("referent_name", "Claire Martin"),
        ("referent_email", "claire.martin@vezelay.example.fr"),
        ("referent_profession", "Secrétaire de mairie"),
        ("dpo_name", "Paul Durand"),
        ("dpo_email", "dpo@vezelay.example.fr"),
        ("aidant-1-name", "Léa Petit"),
        ("aidant-1-email", "lea.petit@vezelay.example.fr"),
        ("aidant-1-profession", "Agent d'accueil"),
        ("aidant-2-name", "Omar Benali"),
        ("aidant-2-email", "omar.benali@vezelay.example.fr"),
        ("aidant-2-profession", "Travailleur social"),
    ];
    for (k, v) in extra {
        match f.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => f.push((k, v)),
        }
    }
    f
}

/// The private link's path from the last email sent to `to`.
fn link_to(app: &TestApp, to: &str, marker: &str) -> String {
    let mail = app
        .sent()
        .into_iter()
        .rev()
        .find(|m| m.to == to && m.body.contains(marker))
        .unwrap_or_else(|| panic!("aucun e-mail pour {to} avec {marker}"));
    let start = mail.body.find(marker).unwrap();
    mail.body[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

crate::both_backends!(
    a_structure_applies_and_is_accredited,
    |app: TestApp| async move {
        let mut public = app.client();
        // Start: an email with a private link.
        let r = public.get("/habilitation").await;
        assert_eq!(r.status, StatusCode::OK);
        let r = public
            .post("/habilitation", &[("email", "pas-une-adresse")])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = public
            .post(
                "/habilitation",
                &[("email", "Demandeur@Vezelay.example.fr")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(unescape(&r.body).contains("Consultez votre messagerie"));
        let link = link_to(
            &app,
            "demandeur@vezelay.example.fr",
            "/habilitation/demande/",
        );
        let r = public.get(&link).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("Brouillon"));
        assert_eq!(
            public.get("/habilitation/demande/0123").await.status,
            StatusCode::NOT_FOUND
        );

        // A draft may be incomplete, but what is typed must be valid; nothing is lost.
        let r = public
            .post(
                &link,
                &[
                    ("action", "enregistrer"),
                    ("name", "Mairie de Vézelay"),
                    ("siret", "73282932000075"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = unescape(&r.body);
        assert!(body.contains("la clé de contrôle est fausse"), "{body}");
        assert!(body.contains(r#"value="Mairie de Vézelay""#));
        let r = public
            .post(
                &link,
                &[("action", "enregistrer"), ("name", "Mairie de Vézelay")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        // The commune by its postcode, shared by several communes: the choices are
        // named; by its name, it is found and shown by name.
        let r = public
            .post(
                &link,
                &form(&[
                    ("action", "envoyer"),
                    ("commitments", "1"),
                    ("commune_insee", "89450"),
                ]),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = unescape(&r.body);
        assert!(body.contains("Plusieurs communes correspondent"), "{body}");
        assert!(body.contains("Vézelay (89) (code 89446)"), "{body}");
        let r = public
            .post(
                &link,
                &form(&[("action", "enregistrer"), ("commune_insee", "vezelay")]),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(unescape(&public.get(&link).await.body).contains(r#"value="Vézelay (89)""#));
        // Sending needs everything, commitments included.
        let r = public.post(&link, &form(&[("action", "envoyer")])).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(unescape(&r.body).contains("quatre engagements"));
        let r = public
            .post(&link, &form(&[("action", "envoyer"), ("commitments", "1")]))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = unescape(&public.get(&link).await.body);
        assert!(page.contains("Envoyée, en cours d'instruction"), "{page}");
        assert!(page.contains("Omar Benali (Travailleur social)"));
        // No more changes once sent.
        let r = public
            .post(
                &link,
                &form(&[("action", "enregistrer"), ("commitments", "1")]),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);

        // An administrator finds it, writes, and asks for a change.
        let admin = app.admin().await;
        let mut a = app.login(&admin).await;
        let r = a.get(&format!("/admin/habilitations?q={SIRET}")).await;
        assert_eq!(r.status, StatusCode::OK);
        let body = unescape(&r.body);
        assert!(body.contains("Mairie de Vézelay"), "{body}");
        let id = crate::common::extract_between(&body, "/admin/habilitations/", "\"")
            .unwrap()
            .parse::<i64>()
            .unwrap();
        let csv = a.get(&format!("/admin/habilitations.csv?q={SIRET}")).await;
        let rows = crate::common::spreadsheet(&csv.body);
        assert_eq!(crate::common::column(&rows, "SIRET"), [SIRET]);
        assert_eq!(crate::common::column(&rows, "Numéro"), [id.to_string()]);
        assert_eq!(crate::common::column(&rows, "Code de l'état"), ["soumise"]);
        let page = format!("/admin/habilitations/{id}");
        let r = a
            .post(
                &format!("{page}/message"),
                &[(
                    "message",
                    "Bonjour, la structure a-t-elle un local accessible ?",
                )],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(unescape(&public.get(&link).await.body).contains("un local accessible"));
        // The requester is told by email, with the text.
        let mail = app.last_email_to("demandeur@vezelay.example.fr");
        assert!(mail.subject.contains("nouveau message"), "{}", mail.subject);
        assert!(mail.body.contains("un local accessible"));
        let r = public
            .post(
                &format!("{link}/message"),
                &[("message", "Oui, de plain-pied.")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(a.get(&page).await.body.contains("de plain-pied"));
        // The administrator who wrote is told, with the page to answer on; a
        // second message within the hour, still unanswered, sends nothing more.
        let told = app.sent().iter().filter(|m| m.to == admin.email).count();
        let mail = app.last_email_to(&admin.email);
        assert!(
            mail.subject.contains("réponse d'un demandeur"),
            "{}",
            mail.subject
        );
        assert!(mail.body.contains(&format!("/admin/habilitations/{id}")));
        public
            .post(
                &format!("{link}/message"),
                &[("message", "Et un ascenseur.")],
            )
            .await;
        assert_eq!(
            app.sent().iter().filter(|m| m.to == admin.email).count(),
            told
        );
        let r = a
            .post(
                &format!("{page}/decision"),
                &[("decision", "modifications")],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a message is required"
        );
        assert!(r.body.contains("<title>Erreur : "), "the title says it");
        assert!(
            r.body.contains(r#"value="modifications" checked"#),
            "choice kept"
        );
        // No choice at all: the form again with an inline error and the typed
        // message kept, never the generic 400 page.
        let r = a
            .post(
                &format!("{page}/decision"),
                &[("message", "Mon message tapé avec soin")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("Choisissez une décision"));
        assert!(
            r.body.contains(r##"href="#d-modif""##),
            "summary links to the choice"
        );
        assert!(r.body.contains(">Mon message tapé avec soin</textarea>"));
        assert!(r.body.contains("autofocus"), "the summary takes the focus");
        let r = a
            .post(
                &format!("{page}/decision"),
                &[("decision", "n'importe quoi"), ("message", "gardé")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains(">gardé</textarea>"));
        let r = a
            .post(
                &format!("{page}/decision"),
                &[
                    ("decision", "modifications"),
                    ("message", "Ajoutez la profession exacte de Léa Petit."),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(
            app.sent().iter().any(
                |m| m.to == "demandeur@vezelay.example.fr" && m.subject.contains("à compléter")
            )
        );
        let page_public = unescape(&public.get(&link).await.body);
        assert!(page_public.contains("Des modifications sont demandées"));
        assert!(page_public.contains("Ajoutez la profession exacte"));
        let r = public
            .post(
                &link,
                &form(&[
                    ("action", "envoyer"),
                    ("commitments", "1"),
                    ("aidant-1-profession", "Agent d'accueil France Services"),
                ]),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);

        // Accepted: the structure, the référent's invitation, two aidants to train.
        let r = a
            .post(&format!("{page}/decision"), &[("decision", "accepter")])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let r = a
            .post(
                &format!("{page}/decision"),
                &[("decision", "refuser"), ("message", "trop tard")],
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "decided once");
        let referent_link = link_to(&app, "claire.martin@vezelay.example.fr", "/activation/");
        assert_eq!(public.get(&referent_link).await.status, StatusCode::OK);
        assert!(
            !app.sent()
                .iter()
                .any(|m| m.to == "lea.petit@vezelay.example.fr"),
            "not trained yet"
        );
        assert!(unescape(&public.get(&link).await.body).contains("Demande acceptée"));
        let structure = relais::structures::search(app.db(), SIRET, 10)
            .await
            .unwrap();
        assert_eq!(structure.len(), 1);

        // Training: one result at a time, then a CSV (all or nothing).
        let r = a.get("/admin/formations?etat=a_former").await;
        let body = unescape(&r.body);
        assert!(
            body.contains("Léa Petit") && body.contains("Omar Benali"),
            "{body}"
        );
        let lea = crate::common::extract_between(&body, "<select id=\"etat-", "\"").unwrap();
        let r = a
            .post(
                &format!("/admin/formations/{lea}"),
                &[("etat", "forme"), ("date", "2099-01-01")],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a certificate cannot be in the future"
        );
        let bad_csv = b"email,etat,date\nomar.benali@vezelay.example.fr,inscrit,2026-12-01\ninconnu@example.fr,forme,2026-01-01\nlea.petit@vezelay.example.fr,absent,\n";
        let r = a
            .post_multipart(
                "/admin/formations/import",
                &[],
                ("fichier", "resultats.csv", bad_csv),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = unescape(&r.body);
        assert!(
            body.contains("ligne 3 : inconnu@example.fr n'est pas un futur aidant"),
            "{body}"
        );
        assert!(body.contains("ligne 4 : État inconnu"), "{body}");
        assert!(
            unescape(&a.get("/admin/formations?etat=inscrit").await.body).contains("Personne."),
            "nothing imported"
        );
        let good_csv = "email;etat;date\nomar.benali@vezelay.example.fr;formé;2025-11-15\nlea.petit@vezelay.example.fr;inscrit;2026-12-01\n";
        let r = a
            .post_multipart(
                "/admin/formations/import",
                &[],
                ("fichier", "resultats.csv", good_csv.as_bytes()),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let omar_link = link_to(&app, "omar.benali@vezelay.example.fr", "/activation/");
        assert_eq!(public.get(&omar_link).await.status, StatusCode::OK);
        assert!(
            !app.sent()
                .iter()
                .any(|m| m.to == "lea.petit@vezelay.example.fr")
        );
        let r = a
            .post(
                &format!("/admin/formations/{lea}"),
                &[("etat", "forme"), ("date", "2025-11-20")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let lea_link = link_to(&app, "lea.petit@vezelay.example.fr", "/activation/");
        assert_eq!(public.get(&lea_link).await.status, StatusCode::OK);
        // Dates as people read them, never `aaaa-mm-jj`.
        let page = unescape(&a.get("/admin/formations?etat=forme").await.body);
        assert!(page.contains("(certificat du 20/11/2025)"), "{page}");
        assert!(!page.contains("2025-11-20"));

        // Every decision and result is on the administration chain (with the
        // administrator's sign-in), which verifies.
        let entries = relais::journal::verify(app.db()).await.unwrap();
        assert_eq!(entries.first_broken, None);
        use relais::db::exec::Exec;
        let actions: Vec<String> = app
            .db()
            .conn()
            .await
            .unwrap()
            .fetch_all(
                "SELECT action FROM journal WHERE chain = $1 ORDER BY seq",
                relais::args![0_i64],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.text("action").unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "habilitation_soumise",
                "creation_administrateur",
                "connexion_aidant",
                "message_habilitation",
                "habilitation_modifications_demandees",
                "habilitation_soumise",
                "habilitation_acceptee",
                "formation_enregistree",
                "formation_enregistree",
                "formation_enregistree",
            ]
        );

        // Another request refused, with its reason; a withdrawn one is closed.
        let r = public
            .post("/habilitation", &[("email", "autre@example.fr")])
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let other = link_to(&app, "autre@example.fr", "/habilitation/demande/");
        let r = public
            .post(
                &other,
                &form(&[
                    ("action", "envoyer"),
                    ("commitments", "1"),
                    ("siret", "35600000000015"),
                    ("name", "Bureau de poste"),
                ]),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let body = unescape(&a.get("/admin/habilitations?q=35600000000015").await.body);
        let other_id =
            crate::common::extract_between(&body, "/admin/habilitations/", "\"").unwrap();
        let r = a
            .post(
                &format!("/admin/habilitations/{other_id}/decision"),
                &[
                    ("decision", "refuser"),
                    (
                        "message",
                        "Les bureaux de poste passent par la convention nationale.",
                    ),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let page = unescape(&public.get(&other).await.body);
        assert!(
            page.contains("Demande refusée") && page.contains("convention nationale"),
            "{page}"
        );
        let r = public
            .post(&format!("{other}/message"), &[("message", "Merci")])
            .await;
        assert_eq!(
            r.status,
            StatusCode::CONFLICT,
            "closed requests take no message"
        );
    }
);

crate::both_backends!(
    back_office_exports_and_admin_journal,
    |app: TestApp| async move {
        let s = app.structure("Maison France Services d'Auxerre").await;
        app.member(s, relais::domain::Role::Aidant, "aidant").await;
        let admin = app.admin().await;
        let mut a = app.login(&admin).await;
        let csv = a.get("/admin/structures.csv?q=Auxerre").await;
        assert_eq!(csv.status, StatusCode::OK);
        let rows = crate::common::spreadsheet(&csv.body);
        assert_eq!(rows[0][..3], ["Numéro", "Nom", "SIRET"]);
        let names = crate::common::column(&rows, "Nom");
        let i = names
            .iter()
            .position(|n| *n == "Maison France Services d'Auxerre")
            .expect("the structure");
        // The SIRET and the INSEE code stay text: 14 digits, not 1,23E+13.
        let siret = crate::common::column(&rows, "SIRET")[i];
        assert!(
            siret.len() == 14 && siret.bytes().all(|b| b.is_ascii_digit()),
            "{siret}"
        );
        assert!(
            csv.body.contains(&format!("\"=\"\"{siret}\"\"\"")),
            "{}",
            csv.body
        );
        assert_eq!(
            crate::common::column(&rows, "Code INSEE de la commune")[i].len(),
            5
        );
        let csv = a.get("/admin/comptes.csv").await;
        let rows = crate::common::spreadsheet(&csv.body);
        assert!(rows.len() >= 3, "{}", csv.body);
        assert!(crate::common::column(&rows, "Administrateur").contains(&"oui"));
        // The administration chain, read-only, with its CSV.
        let r = a.get("/admin/journal").await;
        assert_eq!(r.status, StatusCode::OK);
        let body = unescape(&r.body);
        assert!(
            body.contains("Journal de l'administration nationale"),
            "{body}"
        );
        assert!(
            body.contains("Connexion d'un aidant"),
            "the administrator's sign-in: {body}"
        );
        let csv = a.get("/admin/journal.csv").await;
        let rows = crate::common::spreadsheet(&csv.body);
        assert!(crate::common::column(&rows, "Code de l'action").contains(&"connexion_aidant"));
        assert!(crate::common::column(&rows, "Action").contains(&"Connexion d'un aidant"));
        assert!(
            csv.headers
                .get("content-disposition")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("journal-administration.csv")
        );
    }
);

crate::both_backends!(
    starting_requests_is_limited_per_ip,
    |app: TestApp| async move {
        let mut c = app.client();
        for i in 0..30 {
            let r = c
                .post(
                    "/habilitation",
                    &[("email", &format!("demandeur{i}@example.fr"))],
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{i}");
        }
        let r = c
            .post("/habilitation", &[("email", "encore@example.fr")])
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(unescape(&r.body).contains("réessayez dans un quart d'heure"));
        assert!(app.sent().iter().all(|m| m.to != "encore@example.fr"));
        // Signing in from the same address is not affected.
        let s = app.structure("Mairie").await;
        let aidant = app.member(s, relais::domain::Role::Aidant, "aidant").await;
        app.login(&aidant).await;
        // A quarter of an hour later, it works again.
        app.clock.advance(15 * 60 + 1);
        let r = c
            .post("/habilitation", &[("email", "encore@example.fr")])
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
);

crate::both_backends!(
    an_unreachable_draft_is_discarded,
    |app: TestApp| async move {
        // What the start page does when the link email cannot be sent.
        let email = relais::domain::Email::parse("perdu@example.fr").unwrap();
        let token = relais::habilitation::start(app.db(), &email, app.clock_now())
            .await
            .unwrap();
        relais::habilitation::discard(app.db(), &token)
            .await
            .unwrap();
        assert!(
            relais::habilitation::open(app.db(), &token, app.clock_now())
                .await
                .unwrap()
                .is_none()
        );
        let (_, total) = relais::habilitation::list(
            app.db(),
            Some(relais::habilitation::Status::Brouillon),
            "",
            10,
            0,
        )
        .await
        .unwrap();
        assert_eq!(total, 0);
    }
);

crate::both_backends!(
    retention_deletes_unreachable_drafts_and_refused_requests,
    |app: TestApp| async move {
        use relais::habilitation::{self, Decision};
        let admin = app.admin().await;
        let mut public = app.client();
        // A request through the public pages; returns its id and private link.
        let mut apply = async |email: &str, send: bool| {
            let r = public.post("/habilitation", &[("email", email)]).await;
            assert_eq!(r.status, StatusCode::OK);
            let link = link_to(&app, email, "/habilitation/demande/");
            let action = if send { "envoyer" } else { "enregistrer" };
            let r = public
                .post(&link, &form(&[("action", action), ("commitments", "1")]))
                .await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
            let token = link.trim_start_matches("/habilitation/demande/");
            let req = habilitation::open(app.db(), token, app.clock_now())
                .await
                .unwrap()
                .unwrap();
            (req.id, link)
        };
        let (draft, draft_link) = apply("brouillon@example.fr", false).await;
        let (refused, _) = apply("refusee@example.fr", true).await;
        let (accepted, accepted_link) = apply("acceptee@example.fr", true).await;
        let now = app.clock_now();
        habilitation::decide(
            app.db(),
            refused,
            admin.id,
            &Decision::Refuse("Structure hors champ".into()),
            now,
        )
        .await
        .unwrap();
        habilitation::decide(app.db(), accepted, admin.id, &Decision::Accept, now)
            .await
            .unwrap();
        let settings = relais::mandats::retention::Settings {
            retention_days: 365,
            public_url: crate::common::ORIGIN.into(),
        };
        let run = async |app: &TestApp| {
            relais::mandats::retention::run(app.db(), &app.mailer, &settings, app.clock_now())
                .await
                .unwrap()
                .deleted_requests
        };
        let exists = async |app: &TestApp, id: i64| {
            habilitation::find(app.db(), id).await.unwrap().is_some()
        };
        // 89 days on: nothing yet.
        app.clock.advance(89 * 86_400);
        assert_eq!(run(&app).await, 0);
        // 91 days: nobody can reach the draft any more; it goes, with its aidants.
        app.clock.advance(2 * 86_400);
        let (fresh, _) = apply("recente@example.fr", false).await;
        assert_eq!(run(&app).await, 1);
        assert!(!exists(&app, draft).await);
        assert_eq!(public.get(&draft_link).await.status, StatusCode::NOT_FOUND);
        assert!(exists(&app, refused).await && exists(&app, accepted).await);
        assert!(exists(&app, fresh).await);
        // A year and a day after the decision: the refused request goes (and the
        // draft started since, untouched for 275 days); the accepted one stays, it
        // holds the structure's commitments, and its future aidants' training.
        app.clock.advance(275 * 86_400);
        assert_eq!(run(&app).await, 2);
        assert!(!exists(&app, refused).await && !exists(&app, fresh).await);
        assert!(exists(&app, accepted).await);
        let left: i64 = app
            .db()
            .fetch_one("SELECT COUNT(*) AS n FROM habilitation_aidants", &[])
            .await
            .unwrap()
            .get("n")
            .unwrap();
        assert_eq!(left, 2, "only the accepted request's future aidants remain");
        let r = public.get(&accepted_link).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "its link has expired");
        // Each deletion is journaled on the administration chain, ids only; the
        // journal still verifies.
        let entries = app.journal_details(0, "habilitation_supprimee").await;
        assert_eq!(entries.len(), 3);
        assert!(entries.iter().all(|d| !d.contains('@')), "{entries:?}");
        let v = relais::journal::verify(app.db()).await.unwrap();
        assert!(v.first_broken.is_none());
        // The administrators' list no longer shows them.
        let (_, total) = habilitation::list(app.db(), None, "", 10, 0).await.unwrap();
        assert_eq!(total, 1);
    }
);

// Abandoning a request is never one click: the link leads to a page that says what
// will happen, and only « Oui, abandonner la demande » closes it.
crate::both_backends!(
    abandoning_a_request_is_confirmed_first,
    |app: TestApp| async move {
        let mut public = app.client();
        let r = public
            .post("/habilitation", &[("email", "abandon@example.fr")])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let link = link_to(&app, "abandon@example.fr", "/habilitation/demande/");
        let page = public.get(&link).await;
        assert!(page.contains("Abandonner cette demande"), "{}", page.body);
        let path = link.split("/habilitation/").nth(1).unwrap();
        let ask = format!("/habilitation/{path}/abandonner");
        let r = public.post(&ask, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), ask);
        let confirm = public.get(&ask).await;
        assert!(
            confirm.contains("Vous allez abandonner la demande d'habilitation"),
            "{}",
            confirm.body
        );
        assert!(confirm.contains("Oui, abandonner la demande"));
        assert!(!public.get(&link).await.contains("Close"), "still open");
        let r = public.post(&ask, &[("confirmer", "oui")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let closed = public.get(&link).await;
        assert!(
            !closed.contains("Abandonner cette demande"),
            "{}",
            closed.body
        );
    }
);
