//! Solidarité Numérique: the public callback form (validation, honeypot, rate
//! limits, routing to the nearest structure that answers), the agents' work
//! (queues by structure, take, calls, notes, orientation, closure, journal), the
//! service figures and their CSV, and the deletion of the person's data three
//! months after closure.

use relais::db::Exec as _;
use relais::domain::Role;

use crate::common::{Client, TestApp, User, spreadsheet};

/// Sends the public form as a person would; returns the response.
pub(crate) async fn request(
    app: &TestApp,
    prenom: &str,
    phone: &str,
    cp: &str,
) -> crate::common::Resp {
    request_from(
        app,
        &format!("198.51.100.{}", crate::common::unique() % 250),
        prenom,
        phone,
        cp,
    )
    .await
}

/// The same from the connection `ip`.
async fn request_from(
    app: &TestApp,
    ip: &str,
    prenom: &str,
    phone: &str,
    cp: &str,
) -> crate::common::Resp {
    let mut c = app.client();
    c.ip = ip.to_owned();
    c.get("/rappel").await;
    c.post(
        "/rappel",
        &[
            ("prenom", prenom),
            ("telephone", phone),
            ("code_postal", cp),
            ("besoin", "email"),
            ("creneaux", "matin"),
            ("creneaux", "soir"),
            ("precisions", "Je n'arrive plus à ouvrir mes e-mails."),
            ("consentement", "oui"),
        ],
    )
    .await
}

async fn structure_in(app: &TestApp, name: &str, insee: &str) -> i64 {
    let s = relais::structures::NewStructure {
        name: name.to_owned(),
        siret: relais::domain::Siret::parse(&crate::common::siret(crate::common::unique()))
            .unwrap(),
        address: "1 place de la Mairie".into(),
        commune_insee: relais::domain::InseeCode::parse(insee).unwrap(),
        kind: relais::domain::StructureKind::Mairie,
        is_demo: false,
    };
    relais::structures::create(app.db(), &s, app.clock_now())
        .await
        .unwrap()
}

/// A structure that answers (`national` or `local`) and one agent of it.
async fn answering(app: &TestApp, name: &str, insee: &str, niveau: &str) -> (i64, User) {
    let s = structure_in(app, name, insee).await;
    let agent = app.member(s, Role::Aidant, "agent").await;
    relais::rappels::set_participation(app.db(), s, Some(niveau), agent.id, app.clock_now())
        .await
        .unwrap();
    (s, agent)
}

async fn holder_of_last(app: &TestApp) -> (i64, Option<i64>) {
    let r = app
        .db()
        .fetch_one(
            "SELECT id, structure_id FROM rappel_demandes ORDER BY id DESC LIMIT 1",
            relais::args![],
        )
        .await
        .unwrap();
    (r.int("id").unwrap(), r.opt_int("structure_id").unwrap())
}

async fn count(app: &TestApp) -> i64 {
    app.db()
        .fetch_one("SELECT COUNT(*) AS n FROM rappel_demandes", relais::args![])
        .await
        .unwrap()
        .int("n")
        .unwrap()
}

crate::both_backends!(
    the_public_form_checks_routes_and_limits,
    |app: TestApp| async move {
        let (auxerre, _) = answering(&app, "Mairie d'Auxerre", "89024", "local").await;
        let (sens, _) = answering(&app, "Médiathèque de Sens", "89387", "local").await;
        let (_national, _) = answering(&app, "Ligne nationale", "75056", "national").await;

        // The form is public, in French, with the helpline's number.
        let mut c = app.client();
        let page = c.get("/rappel").await;
        assert!(page.status.is_success());
        assert!(page.contains("01 70 772 372"));
        assert!(page.contains("Quand peut-on vous appeler ?"));

        // Empty: every field says what to do; nothing stored.
        let r = c.post("/rappel", &[]).await;
        assert_eq!(r.status, 422);
        for msg in [
            "Indiquez votre prénom",
            "Saisissez un numéro de téléphone français",
            "Saisissez le code postal",
            "Choisissez le sujet",
            "Cochez au moins un moment",
            "Cochez la case pour accepter",
        ] {
            assert!(r.contains(msg), "{msg}");
        }
        // Wrong values keep what was typed and say why.
        let r = c
            .post(
                "/rappel",
                &[
                    ("prenom", "Odile"),
                    ("telephone", "08 99 00 00 00"),
                    ("code_postal", "00000"),
                    ("besoin", "<script>"),
                    ("creneaux", "nuit"),
                    ("precisions", &"x".repeat(501)),
                    ("consentement", "oui"),
                ],
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.contains("n'est pas un numéro français"));
        assert!(r.contains("Ce code postal n'existe pas"));
        assert!(r.contains("500 caractères au plus"));
        assert!(r.contains("value=\"Odile\""));
        assert!(!r.body.contains("<script>"));
        assert_eq!(count(&app).await, 0);

        // A robot filling the hidden field is thanked, and nothing is stored.
        let r = c
            .post(
                "/rappel",
                &[
                    ("prenom", "Robot"),
                    ("telephone", "06 00 00 00 01"),
                    ("code_postal", "89000"),
                    ("besoin", "email"),
                    ("creneaux", "matin"),
                    ("consentement", "oui"),
                    ("site_web", "http://spam.example"),
                ],
            )
            .await;
        assert!(r.status.is_success());
        assert!(r.contains("Votre demande est enregistrée"));
        assert_eq!(count(&app).await, 0);

        // Routing: same commune, then same intercommunality, then same département,
        // else the national queue.
        let r = request(&app, "Odile", "06 12 34 56 78", "89000").await;
        assert!(r.contains("Votre demande est enregistrée"), "{}", r.body);
        assert_eq!(holder_of_last(&app).await.1, Some(auxerre));
        request(&app, "Marcel", "06 12 34 56 79", "89470").await; // Monéteau: Auxerre's EPCI
        assert_eq!(holder_of_last(&app).await.1, Some(auxerre));
        request(&app, "Jeanne", "06 12 34 56 80", "89100").await; // Sens
        assert_eq!(holder_of_last(&app).await.1, Some(sens));
        // Tonnerre: only the département matches; Sens has fewer open requests.
        request(&app, "Paul", "06 12 34 56 81", "89700").await;
        assert_eq!(holder_of_last(&app).await.1, Some(sens));
        request(&app, "Louise", "03 80 00 00 00", "21000").await; // Dijon: nobody near
        assert_eq!(holder_of_last(&app).await.1, None);

        // What is stored: the E.164 number, the commune, the département, the slots.
        let row = app
        .db()
        .fetch_one(
            "SELECT telephone, commune_insee, departement, creneaux, besoin FROM rappel_demandes WHERE prenom = 'Odile'",
            relais::args![],
        )
        .await
        .unwrap();
        assert_eq!(row.text("telephone").unwrap(), "+33612345678");
        assert_eq!(row.text("commune_insee").unwrap(), "89024");
        assert_eq!(row.text("departement").unwrap(), "89");
        assert_eq!(row.text("creneaux").unwrap(), ",matin,soir,");
        // Journaled in the structure's chain, without the person's data.
        let details = app.journal_details(auxerre, "rappel_demande").await;
        assert_eq!(details.len(), 2);
        assert!(
            !details
                .iter()
                .any(|d| d.contains("Odile") || d.contains("+336"))
        );

        // Two requests a day for one number; the third is refused, said plainly.
        request(&app, "Odile", "06 12 34 56 78", "89000").await;
        let r = request(&app, "Odile", "0612345678", "89000").await;
        assert_eq!(r.status, 429);
        assert!(r.contains("Une demande pour ce numéro est déjà enregistrée aujourd'hui"));
        assert_eq!(count(&app).await, 6);
        // From one connection: 20 an hour.
        for i in 0..20 {
            let r = request_from(
                &app,
                "192.0.2.7",
                "Test",
                &format!("06 22 00 00 {i:02}"),
                "21000",
            )
            .await;
            assert!(r.status.is_success());
        }
        let r = request_from(&app, "192.0.2.7", "Test", "06 33 00 00 00", "21000").await;
        assert_eq!(r.status, 429);
        assert!(r.contains("Trop de demandes sont parties de cette connexion"));
    }
);

async fn act(c: &mut Client, id: i64, fields: &[(&str, &str)]) -> crate::common::Resp {
    c.post(&format!("/rappels/{id}"), fields).await
}

crate::both_backends!(
    agents_take_call_orient_and_close,
    |app: TestApp| async move {
        let (auxerre, local) = answering(&app, "Mairie d'Auxerre", "89024", "local").await;
        let (sens, other_local) = answering(&app, "Médiathèque de Sens", "89387", "local").await;
        let (national_s, national) = answering(&app, "Ligne nationale", "75056", "national").await;
        request(&app, "Odile", "06 12 34 56 78", "89000").await;
        let (near, holder) = holder_of_last(&app).await;
        assert_eq!(holder, Some(auxerre));
        request(&app, "Louise", "03 80 00 00 00", "21000").await;
        let (far, holder) = holder_of_last(&app).await;
        assert_eq!(holder, None);

        // Each sees their own queue; the national agent may look at every request.
        let mut l = app.login(&local).await;
        let q = l.get("/rappels").await;
        assert!(q.contains("Odile") && !q.contains("Louise"), "{}", q.body);
        assert!(q.contains("À traiter (1)"));
        assert_eq!(l.get(&format!("/rappels/{far}")).await.status, 404);
        let mut o = app.login(&other_local).await;
        assert!(!o.get("/rappels").await.contains("Odile"));
        assert_eq!(o.get(&format!("/rappels/{near}")).await.status, 404);
        assert_eq!(act(&mut o, near, &[("acte", "prendre")]).await.status, 404);
        let mut n = app.login(&national).await;
        let q = n.get("/rappels").await;
        assert!(q.contains("Louise") && !q.contains("Odile"));
        assert!(n.get("/rappels?file=toutes").await.contains("Odile"));
        // The page shows the number to dial.
        let page = l.get(&format!("/rappels/{near}")).await;
        assert!(page.contains("06 12 34 56 78") && page.contains("tel:+33612345678"));
        assert!(page.contains("Je n'arrive plus à ouvrir mes e-mails."));

        // A request is closed only after a call.
        let r = act(&mut l, near, &[("acte", "cloture"), ("issue", "resolu")]).await;
        assert_eq!(r.status, 422);
        assert!(r.contains("Notez d'abord votre appel"));
        let r = act(
            &mut l,
            near,
            &[("acte", "appel"), ("resultat", "peut-etre")],
        )
        .await;
        assert_eq!(r.status, 422);
        assert!(r.contains("Choisissez ce qu'a donné l'appel"));
        let r = act(&mut l, near, &[("acte", "note"), ("texte", "  ")]).await;
        assert_eq!(r.status, 422);
        let r = act(
            &mut l,
            near,
            &[("acte", "note"), ("texte", &"x".repeat(1_001))],
        )
        .await;
        assert!(r.contains("1000 caractères au plus"));

        assert!(
            act(&mut l, near, &[("acte", "prendre")])
                .await
                .status
                .is_redirection()
        );
        assert!(
            l.get("/rappels?etat=en-cours&moi=1")
                .await
                .contains("Odile")
        );
        app.clock.advance(3 * 3600);
        let mut l = app.login(&local).await;
        act(
            &mut l,
            near,
            &[("acte", "appel"), ("resultat", "sans_reponse")],
        )
        .await;
        app.clock.advance(3600);
        act(
            &mut l,
            near,
            &[
                ("acte", "appel"),
                ("resultat", "joint"),
                ("texte", "Rappeler demain pour la boîte e-mail."),
            ],
        )
        .await;
        let r = act(
            &mut l,
            near,
            &[
                ("acte", "cloture"),
                ("issue", "oriente_lieu"),
                ("texte", "Atelier e-mail à la médiathèque."),
            ],
        )
        .await;
        assert_eq!(r.location(), "/rappels?info=cloture");
        let page = l.get(&format!("/rappels/{near}")).await;
        assert!(page.contains("Orienté vers un lieu de médiation"));
        assert!(page.contains("Appel : Pas de réponse"));
        assert!(page.contains("Rappeler demain pour la boîte e-mail."));
        assert!(
            !page.contains("Clôturer la demande"),
            "closed: no more acts"
        );
        let r = act(&mut l, near, &[("acte", "note"), ("texte", "encore")]).await;
        assert!(r.contains("Cette demande est clôturée"));
        assert!(l.get("/rappels?etat=cloturees").await.contains("Odile"));
        let row = app
        .db()
        .fetch_one(
            "SELECT tentatives, premier_appel_le, created_at, agent_id, issue FROM rappel_demandes WHERE id = $1",
            relais::args![near],
        )
        .await
        .unwrap();
        assert_eq!(row.int("tentatives").unwrap(), 2);
        // Three hours (and the seconds signing in again took on the test clock).
        let delay = row.int("premier_appel_le").unwrap() - row.int("created_at").unwrap();
        assert!((3 * 3600..3 * 3600 + 600).contains(&delay), "{delay}");
        assert_eq!(row.int("agent_id").unwrap(), local.id);
        for action in ["rappel_pris", "rappel_appel", "rappel_cloture"] {
            assert!(
                !app.journal_details(auxerre, action).await.is_empty(),
                "{action}"
            );
        }
        assert!(
            !app.journal_details(auxerre, "rappel_cloture").await[0].contains("Atelier"),
            "notes stay out of the journal"
        );

        // Orientation: the national line sends a request to a local structure; a
        // local structure can only give it back to the national line.
        let mut n = app.login(&national).await;
        let mut o = app.login(&other_local).await;
        let r = act(
            &mut n,
            far,
            &[("acte", "orienter"), ("structure", &national_s.to_string())],
        )
        .await;
        assert_eq!(r.status, 422, "only structures that answer");
        let r = act(
            &mut n,
            far,
            &[("acte", "orienter"), ("structure", &sens.to_string())],
        )
        .await;
        assert_eq!(r.location(), "/rappels?info=oriente");
        assert!(o.get("/rappels").await.contains("Louise"));
        let r = act(
            &mut o,
            far,
            &[("acte", "orienter"), ("structure", &auxerre.to_string())],
        )
        .await;
        assert!(r.contains("Seule la ligne nationale oriente"));
        let r = act(
            &mut o,
            far,
            &[("acte", "orienter"), ("structure", "nationale")],
        )
        .await;
        assert!(r.status.is_redirection());
        assert!(n.get("/rappels").await.contains("Louise"));
        assert_eq!(o.get(&format!("/rappels/{far}")).await.status, 404);
        assert!(
            !app.journal_details(national_s, "rappel_oriente")
                .await
                .is_empty()
        );

        // A structure that stops answering gives its open requests back.
        request(&app, "Jeanne", "06 12 34 56 80", "89100").await;
        let (_, holder) = holder_of_last(&app).await;
        assert_eq!(holder, Some(sens));
        let mut referent = app
            .login(&app.member(sens, Role::Referent, "ref-sens").await)
            .await;
        let settings = referent
            .get(&format!("/structures/{sens}/parametres"))
            .await;
        assert!(settings.contains("Ne plus recevoir de demandes de rappel"));
        referent
            .post(
                &format!("/structures/{sens}/rappels"),
                &[("rappels", "non")],
            )
            .await;
        assert!(n.get("/rappels").await.contains("Jeanne"));
        assert_eq!(o.get("/rappels").await.status, 403);
    }
);

crate::both_backends!(service_figures_and_their_csv, |app: TestApp| async move {
    let (_, national) = answering(&app, "Ligne nationale", "75056", "national").await;
    let mut ids = Vec::new();
    for (i, cp) in ["89000", "89100", "21000", "21000"].iter().enumerate() {
        request(&app, "P", &format!("06 12 34 56 {i:02}"), cp).await;
        ids.push(holder_of_last(&app).await.0);
    }
    app.clock.advance(2 * 3600);
    let mut n = app.login(&national).await;
    for (id, issue) in [(ids[0], "resolu"), (ids[2], "injoignable")] {
        act(&mut n, id, &[("acte", "appel"), ("resultat", "joint")]).await;
        act(&mut n, id, &[("acte", "cloture"), ("issue", issue)]).await;
    }
    app.clock.advance(22 * 3600);
    let mut n = app.login(&national).await;
    act(
        &mut n,
        ids[1],
        &[("acte", "appel"), ("resultat", "messagerie")],
    )
    .await;

    let page = n.get("/rappels/chiffres").await;
    assert!(page.status.is_success());
    assert!(
        page.contains("<strong>4</strong> demandes reçues"),
        "{}",
        page.body
    );
    assert!(page.contains("<strong>2</strong> clôturées"));
    // Delays 2 h, 2 h and 24 h: the median is 2 h, 9 out of 10 within 24 h.
    assert!(page.contains("<strong>2 h</strong>"));
    assert!(page.contains("en 24 h pour 9 sur 10"));
    assert!(page.contains("<svg"));
    assert!(page.contains("50 %"));
    let csv = n.get("/rappels/chiffres.csv").await;
    let rows = spreadsheet(&csv.body);
    assert_eq!(rows[0][0], "Code département");
    let dijon = rows.iter().find(|r| r[0] == "21").unwrap();
    assert_eq!(dijon[1], "Côte-d'Or");
    assert_eq!(&dijon[2..7], &["2", "1", "0", "0", "1"]);

    // A backlog is never counted row by row: past 1,000 the tab says so.
    let now = app.clock_now();
    let mut tx = app.db().begin().await.unwrap();
    for _ in 0..1_001 {
        tx.execute(
            "INSERT INTO rappel_demandes (prenom, telephone, code_postal, commune_insee, departement,
                 besoin, creneaux, consentement_le, statut, created_at)
             VALUES ('P', '+33612345678', '89000', '89024', '89', 'email', ',matin,', $1, 'nouvelle', $1)",
            relais::args![now],
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let q = n.get("/rappels").await;
    let expected = format!("À traiter ({})", relais::rappels::count_text(1_001));
    assert!(expected.starts_with("À traiter (plus de 1"));
    assert!(q.contains(&expected), "{}", q.body);
    assert!(q.contains("Demandes suivantes"));
});

crate::both_backends!(
    personal_data_goes_three_months_after_closure,
    |app: TestApp| async move {
        let (_, national) = answering(&app, "Ligne nationale", "75056", "national").await;
        let mut n = app.login(&national).await;
        request(&app, "Odile", "06 12 34 56 78", "89000").await;
        let (closed, _) = holder_of_last(&app).await;
        request(&app, "Louise", "03 80 00 00 00", "21000").await;
        let (open, _) = holder_of_last(&app).await;
        act(
            &mut n,
            closed,
            &[
                ("acte", "appel"),
                ("resultat", "joint"),
                ("texte", "Odile, 12 rue X"),
            ],
        )
        .await;
        act(&mut n, closed, &[("acte", "cloture"), ("issue", "resolu")]).await;
        let settings = relais::mandats::retention::Settings {
            retention_days: 365,
            public_url: "http://localhost".into(),
        };
        let personal = |id: i64| {
            let db = app.db().clone();
            async move {
                let r = db
                .fetch_one(
                    "SELECT prenom, telephone, precisions, statut, issue FROM rappel_demandes WHERE id = $1",
                    relais::args![id],
                )
                .await
                .unwrap();
                let notes = db
                .fetch_one(
                    "SELECT COUNT(*) AS n FROM rappel_suivi WHERE demande_id = $1 AND texte IS NOT NULL",
                    relais::args![id],
                )
                .await
                .unwrap()
                .int("n")
                .unwrap();
                (
                    r.opt_text("prenom").unwrap(),
                    r.opt_text("telephone").unwrap(),
                    r.opt_text("precisions").unwrap(),
                    notes,
                    r.text("statut").unwrap(),
                    r.opt_text("issue").unwrap(),
                )
            }
        };
        app.clock.advance(91 * 86_400);
        let report =
            relais::mandats::retention::run(app.db(), &app.mailer, &settings, app.clock_now())
                .await
                .unwrap();
        assert_eq!(report.purged_callbacks, 0);
        assert_eq!(personal(closed).await.0.as_deref(), Some("Odile"));
        app.clock.advance(2 * 86_400);
        let report =
            relais::mandats::retention::run(app.db(), &app.mailer, &settings, app.clock_now())
                .await
                .unwrap();
        assert_eq!(report.purged_callbacks, 1);
        let p = personal(closed).await;
        assert_eq!((p.0, p.1, p.2, p.3), (None, None, None, 0));
        assert_eq!(p.5.as_deref(), Some("resolu"), "the figures stay");
        // The page says so, and no act is possible any more.
        let mut n = app.login(&national).await;
        let page = n.get(&format!("/rappels/{closed}")).await;
        assert!(page.contains("Les données de la personne ont été supprimées"));
        assert!(!page.contains("06 12 34 56 78"));
        // Never closed: six months after the request, stripped and closed.
        assert_eq!(personal(open).await.0.as_deref(), Some("Louise"));
        app.clock.advance(91 * 86_400);
        let report =
            relais::mandats::retention::run(app.db(), &app.mailer, &settings, app.clock_now())
                .await
                .unwrap();
        assert_eq!(report.purged_callbacks, 1);
        let p = personal(open).await;
        assert_eq!((p.0, p.4.as_str(), p.5), (None, "cloturee", None));
        let mut n = app.login(&national).await;
        let r = act(&mut n, open, &[("acte", "note"), ("texte", "trop tard")]).await;
        assert!(r.contains("ses données ont été supprimées") || r.contains("clôturée"));
        // The counts stay in the figures.
        assert!(
            n.get("/rappels/chiffres?jours=365")
                .await
                .contains("<strong>2</strong> demandes reçues")
        );
    }
);
