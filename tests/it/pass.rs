//! Pass numérique: the whole path through the pages (order → payment → carnets
//! PDF → allocation → hand-out → qualification → redemption → cancellation →
//! statement → payment), a pass redeemed once under 100 concurrent requests, and
//! the expiry workflow day by day with the manual clock.

use relais::domain::Role;
use relais::pass;

use crate::common::{Client, TestApp, pdf_text, spreadsheet};

const SERVICE: &str = "Maîtrise des outils numériques du quotidien";
const OTHER_SERVICE: &str = "Aide aux démarches administratives";
const IBAN: &str = "FR76 3000 6000 0112 3456 7890 189";

/// An order for `carnets` carnets of 10 pass in the Yonne (89), from today for
/// `days` days, paying `SERVICE` only; paid when `paid`.
async fn order(app: &TestApp, fid: i64, by: i64, carnets: i64, days: i64, paid: bool) -> i64 {
    let today = relais::activites::today(app.clock_now());
    let o = pass::check_order(&pass::RawOrder {
        carnets: carnets.to_string(),
        pass_par_carnet: "10".into(),
        territoire_type: "departements".into(),
        territoire: "89".into(),
        debut: relais::activites::date_iso(today),
        fin: relais::activites::date_iso(pass::add_days(today, days)),
        publics: vec!["seniors".into()],
        services: vec![SERVICE.into()],
    })
    .unwrap();
    let id = pass::order(app.db(), fid, &o, by, app.clock_now())
        .await
        .unwrap();
    if paid {
        pass::record_payment(app.db(), id, "OP-1", by, app.clock_now())
            .await
            .unwrap();
    }
    id
}

/// The codes of carnet `n` of an order.
async fn carnet(app: &TestApp, commande: i64, n: i64) -> Vec<String> {
    pass::carnets::codes(app.db(), commande, n, n)
        .await
        .unwrap()
        .remove(0)
        .codes
}

/// A structure qualified to redeem pass (in Auxerre, or in `commune`), with its
/// référent and a mediator signed in.
async fn qualified_place(app: &TestApp, commune: &str, label: &str) -> (i64, Client) {
    let sid = app.structure(&format!("Lieu {label}")).await;
    let m = app.member(sid, Role::Mediateur, label).await;
    let raw = pass::RawQualification {
        siret: siret_for(sid),
        commune: commune.into(),
        lieu: String::new(),
        services: vec![SERVICE.into(), OTHER_SERVICE.into()],
        reponses: pass::QUESTIONS
            .iter()
            .map(|(k, _)| (*k).to_owned())
            .collect(),
        iban: IBAN.into(),
        bic: "BNPAFRPP".into(),
        titulaire: "Association".into(),
    };
    let qid = pass::apply(app.db(), sid, &raw, m.id, app.clock_now())
        .await
        .unwrap();
    pass::decide(app.db(), qid, true, "", m.id, app.clock_now())
        .await
        .unwrap();
    (sid, app.login(&m).await)
}

/// The address the direct redemptions below come from.
const ADDRESS: &str = "192.0.2.9";

/// Redeems as a place's page does (a workshop), checking the address's
/// wrong-code counter on the way.
async fn redeem(
    db: &relais::db::Db,
    structure: i64,
    code: &str,
    service: &str,
    by: i64,
    now: i64,
) -> Result<pass::Redeemed, pass::PassError> {
    use relais::accounts::throttle;
    let keys = [(
        &throttle::PASS_CODE_IP,
        throttle::key(db, &throttle::PASS_CODE_IP, ADDRESS),
    )];
    let guard = throttle::Guard::new(&keys).unwrap();
    pass::redeem(db, structure, code, "atelier", service, by, &guard, now).await
}

/// A valid SIRET (Luhn) that differs per structure.
fn siret_for(n: i64) -> String {
    let base = format!("{:013}", 4_000_000_000_000_i64 + n * 7);
    (0..10)
        .map(|d| format!("{base}{d}"))
        .find(|s| pass::check_siret(s).is_some())
        .unwrap()
}

crate::both_backends!(
    the_pass_goes_from_order_to_the_places_payment,
    |app: TestApp| async move {
        let admin = app.admin().await;
        let mut op = app.login(&admin).await;
        let (fid, agent) = app.funder("Conseil départemental de l'Yonne").await;
        let mut funder = app.login(&agent).await;
        assert_eq!(funder.get("/financeur").await.status, 200);

        // The order form: every error beside its field, nothing written.
        let r = funder
            .post(
                "/financeur/commandes",
                &[
                    ("carnets", "0"),
                    ("territoire_type", "communes"),
                    ("territoire", "Auxere"),
                ],
            )
            .await;
        assert_eq!(r.status, 422);
        let body = crate::common::unescape(&r.body);
        assert!(body.contains("Saisissez un nombre de carnets"), "{body}");
        assert!(body.contains("Vouliez-vous dire"), "{body}");
        assert!(pass::commandes(app.db(), fid).await.unwrap().is_empty());
        let today = relais::activites::today(app.clock_now());
        let fin = relais::activites::date_iso(pass::add_days(today, 120));
        let debut = relais::activites::date_iso(today);
        let r = funder
            .post(
                "/financeur/commandes",
                &[
                    ("carnets", "3"),
                    ("pass_par_carnet", "10"),
                    ("territoire_type", "departements"),
                    ("territoire", "89"),
                    ("debut", &debut),
                    ("fin", &fin),
                    ("public", "seniors"),
                    ("service", SERVICE),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let cid = pass::commandes(app.db(), fid).await.unwrap()[0].id;
        assert!(
            r.location()
                .starts_with(&format!("/financeur/commandes/{cid}"))
        );
        let page = funder.get(&format!("/financeur/commandes/{cid}")).await;
        assert!(
            page.contains("pas encore reçu : pass inactifs"),
            "{}",
            page.body
        );

        // The carnets: one page each, every coupon's code, value, funder, territory.
        let pdf = funder
            .get_bytes(&format!("/financeur/commandes/{cid}/carnets.pdf"))
            .await;
        let first = carnet(&app, cid, 1).await;
        assert_eq!(first.len(), 10);
        if let Some(text) = pdf_text(&pdf) {
            assert_eq!(text.matches("Pass numérique 10,00 €").count(), 30, "{text}");
            assert!(text.contains(&pass::code::display(&first[3])), "{text}");
            assert!(text.contains("Conseil départemental de l'Yonne"));
            assert!(text.contains("Yonne (89)"));
            assert!(text.contains("carnet n° 3 sur 3"));
        }

        // Inactive until the payment is recorded.
        let aidant_structure = app.structure("France Services prescriptrice").await;
        pass::set_prescripteur(app.db(), aidant_structure, admin.id, app.clock_now())
            .await
            .unwrap();
        let refused = pass::allocate(
            app.db(),
            cid,
            aidant_structure,
            1,
            2,
            admin.id,
            app.clock_now(),
        )
        .await;
        assert!(matches!(refused, Err(pass::PassError::Refused(_))));
        let anonymous = app.client().get(&format!("/pass/{}", first[0])).await;
        assert!(anonymous.contains("pas encore actif"), "{}", anonymous.body);
        let r = op
            .post(
                &format!("/admin/pass/commandes/{cid}/paiement"),
                &[("reference", "")],
            )
            .await;
        assert_eq!(r.status, 422);
        let r = op
            .post(
                &format!("/admin/pass/commandes/{cid}/paiement"),
                &[("reference", "OP-2027-0042")],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let r = op
            .post(
                &format!("/admin/pass/commandes/{cid}/allocation"),
                &[
                    ("prescripteur", &aidant_structure.to_string()),
                    ("de", "1"),
                    ("a", "2"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);

        // The prescripteur hands out carnet 1 (age band only), not carnet 3.
        let agent_p = app
            .member(aidant_structure, Role::Aidant, "prescripteur")
            .await;
        let mut p = app.login(&agent_p).await;
        let stock = p.get("/pass/remise").await;
        assert!(stock.contains(">1 à 2<"), "{}", stock.body);
        let r = p
            .post(
                "/pass/remise",
                &[
                    ("code", &pass::code::display(&first[7])),
                    ("tranche_age", "soixante_dix_plus"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.contains("Carnet n° 1 remis"));
        let r = p.post("/pass/remise", &[("code", &first[0])]).await;
        assert_eq!(r.status, 422);
        assert!(crate::common::unescape(&r.body).contains("déjà été remis"));
        let third = carnet(&app, cid, 3).await;
        let r = p.post("/pass/remise", &[("code", &third[0])]).await;
        assert!(crate::common::unescape(&r.body).contains("n'a pas été confié"));

        // A place applies (per-field errors first), the operator qualifies it.
        let place = app.structure("Médiathèque d'Auxerre").await;
        let referent = app.member(place, Role::Referent, "referent-lieu").await;
        let mut rl = app.login(&referent).await;
        let r = rl
            .post(
                &format!("/structures/{place}/pass"),
                &[("siret", "123"), ("iban", "FR00")],
            )
            .await;
        assert_eq!(r.status, 422);
        let body = crate::common::unescape(&r.body);
        for m in [
            "Ce SIRET n'est pas valide",
            "Cet IBAN n'est pas valide",
            "Cochez au moins un service",
        ] {
            assert!(body.contains(m), "{m}");
        }
        // Its entry in the directory of places.
        let read = relais::lieux::read_csv(
            "id,pivot,nom,commune,code_postal,code_insee,adresse,latitude,longitude,date_maj,source\n\
             l-pass,21890024000015,Médiathèque d'Auxerre,Auxerre,89000,89024,2 rue de l'Essai,47.79,3.57,2024-05-01,Essai\n"
                .as_bytes(),
            relais::lieux::Encoding::Utf8,
        )
        .unwrap();
        relais::lieux::import(app.db(), read, "essai", false, app.clock_now())
            .await
            .unwrap();
        let lieu = app
            .db()
            .fetch_one(
                "SELECT id FROM lieux WHERE lieu_id = 'l-pass'",
                relais::args![],
            )
            .await
            .unwrap()
            .int("id")
            .unwrap()
            .to_string();
        let siret = siret_for(place);
        let mut fields: Vec<(&str, &str)> = vec![
            ("lieu", &lieu),
            ("siret", &siret),
            ("commune", "Auxerre (89)"),
            ("service", SERVICE),
            ("service", OTHER_SERVICE),
            ("iban", IBAN),
            ("bic", "BNPAFRPP"),
            ("titulaire", "Ville d'Auxerre"),
        ];
        for (k, _) in pass::QUESTIONS {
            fields.push(("reponse", k));
        }
        let r = rl.post(&format!("/structures/{place}/pass"), &fields).await;
        assert_eq!(r.status, 303, "{}", r.body);
        let r = rl.post(&format!("/structures/{place}/pass"), &fields).await;
        assert!(crate::common::unescape(&r.body).contains("un lieu se qualifie une fois"));
        let qid = pass::qualifications(app.db(), place).await.unwrap()[0].id;
        let r = op
            .post(
                &format!("/admin/pass/qualifications/{qid}"),
                &[("decision", "refuser")],
            )
            .await;
        assert_eq!(r.status, 422, "a refusal says why");
        let r = op
            .post(
                &format!("/admin/pass/qualifications/{qid}"),
                &[("decision", "qualifier")],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);

        // The directory says so, and filters on it.
        let directory = app.client().get("/lieux?q=89000&pass_numerique=oui").await;
        assert!(
            directory.contains("Accepte le pass numérique") && directory.contains("Médiathèque d"),
            "{}",
            directory.body
        );

        // Anyone checks a pass: valid, its restrictions, never who holds it, and
        // where to use it near a postcode.
        let public = app
            .client()
            .get(&format!("/pass/{}?cp=89000", first[0]))
            .await;
        assert!(public.contains("Ce pass est valable"), "{}", public.body);
        assert!(
            public.contains(&format!("/lieux/{lieu}")),
            "{}",
            public.body
        );
        assert!(public.contains("Personnes de 60 ans et plus"));
        assert!(
            !public.contains("utiliser\""),
            "no redemption form for the public"
        );
        let mut typo = first[0].clone().into_bytes();
        typo.swap(2, 3);
        if typo[2] != typo[3] {
            let r = app
                .client()
                .get(&format!("/pass?code={}", String::from_utf8(typo).unwrap()))
                .await;
            assert_eq!(r.status, 422);
            assert!(crate::common::unescape(&r.body).contains("faute de frappe"));
        }

        // The place's mediator redeems it; a second time is refused.
        let mediator = app.member(place, Role::Mediateur, "mediateur-lieu").await;
        let mut m = app.login(&mediator).await;
        let page = m.get(&format!("/pass/{}", first[0])).await;
        assert!(
            page.contains(&format!("/pass/{}/utiliser", first[0])),
            "{}",
            page.body
        );
        let r = m
            .post(
                &format!("/pass/{}/utiliser", first[0]),
                &[("prestation", "atelier"), ("service", OTHER_SERVICE)],
            )
            .await;
        assert_eq!(r.status, 422, "a service the order does not pay");
        assert!(crate::common::unescape(&r.body).contains("ne paie que ces services"));
        let r = m
            .post(
                &format!("/pass/{}/utiliser", first[0]),
                &[("prestation", "atelier"), ("service", SERVICE)],
            )
            .await;
        assert_eq!(r.location(), "/pass/lieu?info=pass-utilise", "{}", r.body);
        let r = m
            .post(
                &format!("/pass/{}/utiliser", first[0]),
                &[("prestation", "atelier"), ("service", SERVICE)],
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(crate::common::unescape(&r.body).contains("déjà été utilisé"));
        // Outside the territory: a qualified place in Corsica.
        let (_, mut corsica) = qualified_place(&app, "Ajaccio", "ajaccio").await;
        let r = corsica
            .post(
                &format!("/pass/{}/utiliser", first[1]),
                &[("prestation", "accompagnement"), ("service", SERVICE)],
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(crate::common::unescape(&r.body).contains("n'est valable que sur son territoire"));

        // Cancelled within 24 hours (with a reason): valid again; redeemed again.
        let uid = pass::utilisations(app.db(), place, app.clock_now())
            .await
            .unwrap()[0]
            .id;
        let used_in = |structure: i64| {
            let db = app.db().clone();
            async move {
                db.fetch_one(
                    "SELECT CAST(COALESCE(SUM(utilises), 0) AS BIGINT) AS n FROM pass_mois
                     WHERE structure_id = $1",
                    relais::args![structure],
                )
                .await
                .unwrap()
                .int("n")
                .unwrap()
            }
        };
        // Counted in the place's own row (migration 0032)…
        assert_eq!(used_in(place).await, 1);
        // …but a redemption counted before the counters had one row per
        // structure is in the row of structure 0: its cancellation takes it there.
        app.db()
            .execute(
                "UPDATE pass_mois SET structure_id = 0 WHERE structure_id = $1",
                relais::args![place],
            )
            .await
            .unwrap();
        let r = m
            .post(
                &format!("/pass/utilisations/{uid}/annuler"),
                &[("motif", "")],
            )
            .await;
        assert_eq!(r.status, 422);
        let r = m
            .post(
                &format!("/pass/utilisations/{uid}/annuler"),
                &[("motif", "Erreur de pass : la personne en avait deux")],
            )
            .await;
        assert_eq!(r.location(), "/pass/lieu?info=pass-annule");
        for code in [&first[0], &first[1]] {
            let r = m
                .post(
                    &format!("/pass/{code}/utiliser"),
                    &[("prestation", "accompagnement"), ("service", SERVICE)],
                )
                .await;
            assert_eq!(r.status, 303, "{}", r.body);
        }
        assert_eq!((used_in(0).await, used_in(place).await), (0, 2));
        app.clock.advance(25 * 3_600);
        let mut m = app.login(&mediator).await;
        let last = pass::utilisations(app.db(), place, app.clock_now())
            .await
            .unwrap()[0]
            .id;
        let r = m
            .post(
                &format!("/pass/utilisations/{last}/annuler"),
                &[("motif", "trop tard")],
            )
            .await;
        assert!(crate::common::unescape(&r.body).contains("dans les 24 heures"));

        // Guessing codes: 30 wrong ones from one address, then refused for a while.
        let mut guesser = app.client();
        for i in 0..30 {
            let r = guesser
                .get(&format!("/pass/{}", pass::code::generate()))
                .await;
            assert_eq!(r.status, 422, "guess {i}");
        }
        let r = guesser.get(&format!("/pass/{}", first[2])).await;
        assert_eq!(r.status, 429);
        assert!(crate::common::unescape(&r.body).contains("Trop de codes faux"));
        // A place's account too: once over, even a right code is not redeemed.
        for i in 0..30 {
            let r = m
                .post(
                    &format!("/pass/{}/utiliser", pass::code::generate()),
                    &[("prestation", "atelier"), ("service", SERVICE)],
                )
                .await;
            assert_eq!(r.status, 422, "wrong code {i}");
        }
        let r = m
            .post(
                &format!("/pass/{}/utiliser", first[2]),
                &[("prestation", "atelier"), ("service", SERVICE)],
            )
            .await;
        assert_eq!(r.status, 429);
        assert!(crate::common::unescape(&r.body).contains("Trop de codes faux"));

        // The funder's dashboard: 3 carnets, 1 handed out, 1 started, 2 pass used.
        let mut funder = app.login(&agent).await;
        let f = relais::pass::dashboard::figures(app.db(), fid)
            .await
            .unwrap();
        assert_eq!(
            (
                f[0].carnets,
                f[0].remis,
                f[0].entames,
                f[0].non_utilises,
                f[0].pass_utilises
            ),
            (3, 1, 1, 2, 2)
        );
        let dash = funder.get("/financeur").await;
        assert!(dash.contains("2 sur 30"), "{}", dash.body);
        assert!(dash.contains("<svg class=\"chart\""));
        let csv = spreadsheet(&funder.get("/financeur/export.csv").await.body);
        assert!(
            csv.iter().any(|r| r[1] == "Pass utilisés" && r[2] == "2"),
            "{csv:?}"
        );

        // The month's statement from the 2nd of the next month: 2 pass, 20 €.
        let now = app.clock_now();
        let t = relais::activites::today(now);
        let next = if t / 100 % 100 == 12 {
            (t / 10_000 + 1) * 10_000 + 102
        } else {
            t / 100 * 100 + 102
        };
        let days = pass::days_between(t, next);
        app.clock.advance(days * 86_400);
        let run = relais::pass::expiry::run(app.db(), app.clock_now())
            .await
            .unwrap();
        assert_eq!(run.statements, 1, "{run:?}");
        let mut rl = app.login(&referent).await;
        let mut op = app.login(&admin).await;
        let again = relais::pass::expiry::run(app.db(), app.clock_now())
            .await
            .unwrap();
        assert_eq!(again.statements, 0, "idempotent");
        let releve = relais::pass::releves::list(app.db(), place)
            .await
            .unwrap()
            .remove(0);
        assert_eq!((releve.nombre, releve.montant_centimes), (2, 2_000));
        let csv = spreadsheet(
            &rl.get(&format!(
                "/structures/{place}/pass/releves/{}/csv",
                releve.id
            ))
            .await
            .body,
        );
        assert_eq!(csv.len(), 3, "{csv:?}");
        assert!(csv[1].iter().any(|c| c == "10,00"));
        let pdf = rl
            .get_bytes(&format!(
                "/structures/{place}/pass/releves/{}/pdf",
                releve.id
            ))
            .await;
        if let Some(text) = pdf_text(&pdf) {
            assert!(
                text.contains("2 pass utilisés, montant dû : 20,00 €"),
                "{text}"
            );
        }
        // Another structure's référent never reads it.
        let other = app.structure("Autre").await;
        let other_ref = app.member(other, Role::Referent, "autre-ref").await;
        let mut o = app.login(&other_ref).await;
        assert_eq!(
            o.get(&format!(
                "/structures/{place}/pass/releves/{}/csv",
                releve.id
            ))
            .await
            .status,
            403
        );
        // The operator's payment run.
        let r = op
            .post(
                "/admin/pass/releves/paiement",
                &[
                    ("releve", &releve.id.to_string()),
                    ("reference", "VIR-2027-01"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let paid = relais::pass::releves::get(app.db(), releve.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(paid.paiement_reference, "VIR-2027-01");

        // Every step is in the journal, and the chains verify.
        for (chain, action) in [
            (pass::funder_chain(fid), "pass_commande"),
            (pass::funder_chain(fid), "pass_paiement_commande"),
            (pass::funder_chain(fid), "pass_allocation"),
            (aidant_structure, "pass_remise"),
            (place, "pass_qualification_demandee"),
            (place, "pass_qualification"),
            (place, "pass_utilisation"),
            (place, "pass_annulation"),
            (place, "pass_releve"),
            (place, "pass_paiement_releve"),
        ] {
            assert!(
                !app.journal_details(chain, action).await.is_empty(),
                "{action}"
            );
        }
        let v = relais::journal::verify(app.db()).await.unwrap();
        assert!(v.first_broken.is_none(), "{:?}", v.first_broken);
    }
);

crate::both_backends!(
    a_pass_is_redeemed_once_under_100_concurrent_requests,
    |app: TestApp| async move {
        let (fid, agent) = app.funder("CAF").await;
        let cid = order(&app, fid, agent.id, 1, 200, true).await;
        let code = carnet(&app, cid, 1).await.remove(0);
        let (place, mut m) = qualified_place(&app, "Auxerre (89)", "concurrence").await;
        // Warm the client (CSRF token) once, then 100 requests at the same time.
        let _ = m.get("/pass/lieu").await;
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let mut c = m.clone();
            let path = format!("/pass/{code}/utiliser");
            tasks.push(tokio::spawn(async move {
                c.post(&path, &[("prestation", "atelier"), ("service", SERVICE)])
                    .await
                    .status
            }));
        }
        let mut ok = 0;
        for t in tasks {
            let status = t.await.unwrap();
            assert!(status == 303 || status == 422, "{status}");
            if status == 303 {
                ok += 1;
            }
        }
        assert_eq!(ok, 1, "exactly one redemption");
        let n = app
            .db()
            .fetch_one(
                "SELECT COUNT(*) AS n FROM pass_utilisations WHERE structure_id = $1",
                relais::args![place],
            )
            .await
            .unwrap()
            .int("n")
            .unwrap();
        assert_eq!(n, 1);
        let f = relais::pass::dashboard::figures(app.db(), fid)
            .await
            .unwrap();
        assert_eq!(f[0].pass_utilises, 1, "the counters too");
    }
);

crate::both_backends!(
    a_redemption_says_what_is_wrong_before_writing_anything,
    |app: TestApp| async move {
        let (fid, agent) = app.funder("Département de l'Yonne").await;
        let cid = order(&app, fid, agent.id, 1, 200, true).await;
        let code = carnet(&app, cid, 1).await.remove(0);
        let (place, _) = qualified_place(&app, "Auxerre (89)", "refus").await;
        let not_a_place = app.structure("Mairie sans qualification").await;
        let by = app
            .member(not_a_place, Role::Mediateur, "non-lieu")
            .await
            .id;
        let now = app.clock_now();
        let attempt = |structure: i64, code: String, service: &'static str| {
            let db = app.db().clone();
            async move { redeem(&db, structure, &code, service, by, now).await }
        };
        let message = |r: Result<pass::Redeemed, pass::PassError>| match r {
            Err(pass::PassError::Refused(m) | pass::PassError::Field(_, m)) => m,
            other => panic!("refusal expected: {other:?}"),
        };
        // A structure that is not a qualified place, whatever the code.
        assert!(
            message(attempt(not_a_place, code.clone(), SERVICE).await)
                .contains("n'est pas un lieu qualifié")
        );
        // A service the place does not offer.
        assert!(
            message(attempt(place, code.clone(), "Réparer un ordinateur").await)
                .contains("un des services de votre lieu")
        );
        // A code that is no pass.
        assert!(
            message(attempt(place, pass::code::generate(), SERVICE).await)
                .contains("Aucun pass ne porte ce code")
        );
        // A service the pass does not pay for.
        assert!(
            message(attempt(place, code.clone(), OTHER_SERVICE).await)
                .contains("ne paie que ces services")
        );
        let written = app
            .db()
            .fetch_one(
                "SELECT (SELECT COUNT(*) FROM pass_utilisations)
                      + (SELECT COUNT(*) FROM pass_mois WHERE utilises > 0) AS n",
                relais::args![],
            )
            .await
            .unwrap()
            .int("n")
            .unwrap();
        assert_eq!(written, 0, "nothing written by a refusal");
        // An address that typed too many wrong codes learns nothing more, even of
        // a right one.
        let limit = &relais::accounts::throttle::PASS_CODE_IP;
        let key = relais::accounts::throttle::key(app.db(), limit, ADDRESS);
        for _ in 0..limit.max {
            relais::accounts::throttle::count_failure(app.db(), limit, &key, now)
                .await
                .unwrap();
        }
        let r = attempt(place, code.clone(), SERVICE).await;
        assert!(
            matches!(r, Err(pass::PassError::Blocked(w)) if w > 0 && w <= limit.window),
            "{r:?}"
        );
        app.db()
            .execute("DELETE FROM auth_counters", relais::args![])
            .await
            .unwrap();
        // The same pass, right: redeemed once.
        assert!(attempt(place, code.clone(), SERVICE).await.is_ok());
        assert!(message(attempt(place, code, SERVICE).await).contains("déjà été utilisé"));
    }
);

crate::both_backends!(
    the_expiry_workflow_runs_day_by_day,
    |app: TestApp| async move {
        let (fid, agent) = app.funder("Commune de Sens").await;
        let prescripteur = app.structure("CCAS").await;
        let agent_p = app.member(prescripteur, Role::Aidant, "ccas").await;
        pass::set_prescripteur(app.db(), prescripteur, 0, app.clock_now())
            .await
            .unwrap();
        // Valid 60 days from today: J = today + 60.
        let cid = order(&app, fid, agent.id, 4, 60, true).await;
        pass::allocate(app.db(), cid, prescripteur, 1, 4, 0, app.clock_now())
            .await
            .unwrap();
        let (_place, _m) = qualified_place(&app, "Auxerre (89)", "echeance").await;
        let place_id = _place;
        let c = pass::commande(app.db(), cid).await.unwrap().unwrap();
        let fin = c.fin;
        let mut hand_outs = 0;
        let day = |app: &TestApp| relais::activites::today(app.clock_now());
        let mut carnet_n = 1;
        let mut redeemed_late = false;
        while day(&app) <= pass::add_days(fin, 38) {
            let today = day(&app);
            let run = relais::pass::expiry::run(app.db(), app.clock_now())
                .await
                .unwrap();
            let d = pass::days_between(fin, today);
            let c = pass::commande(app.db(), cid).await.unwrap().unwrap();
            // J-30: the alert, on the funder's dashboard.
            assert_eq!(c.alerte_le.is_some(), d >= -30, "alert on day {d}");
            if d == -30 {
                assert_eq!(run.alerts, 1);
                let page = app.login(&agent).await.get("/financeur").await;
                assert!(
                    page.contains("la distribution sera close le"),
                    "{}",
                    page.body
                );
            }
            // J-15: hand-outs blocked (J-16 still allowed).
            if d == -16 || d == -15 {
                let code = carnet(&app, cid, carnet_n).await.remove(0);
                let r = pass::hand_out(
                    app.db(),
                    prescripteur,
                    &code,
                    "",
                    "",
                    agent_p.id,
                    app.clock_now(),
                )
                .await;
                if d == -16 {
                    assert!(r.is_ok(), "{r:?}");
                    hand_outs += 1;
                    carnet_n += 1;
                } else {
                    assert!(
                        matches!(r, Err(pass::PassError::Refused(ref m)) if m.contains("close")),
                        "{r:?}"
                    );
                }
            }
            assert_eq!(c.blocage_le.is_some(), d >= -15, "blocking on day {d}");
            // J-7: the acknowledgement is asked; the funder gives it.
            assert_eq!(c.rappel_le.is_some(), d >= -7, "reminder on day {d}");
            if d == -7 {
                let r = app
                    .login(&agent)
                    .await
                    .post(&format!("/financeur/commandes/{cid}/accuse"), &[])
                    .await;
                assert_eq!(r.status, 303, "{}", r.body);
            }
            // Still accepted one month after the end, not the day after.
            let last = pass::last_accepted_day(fin);
            if today == last || today == pass::add_days(last, 1) {
                let code = carnet(&app, cid, 1)
                    .await
                    .remove(if today == last { 0 } else { 1 });
                let r = redeem(
                    app.db(),
                    place_id,
                    &code,
                    SERVICE,
                    agent_p.id,
                    app.clock_now(),
                )
                .await;
                if today == last {
                    assert!(r.is_ok(), "{r:?}");
                    redeemed_late = true;
                } else {
                    assert!(
                        matches!(r, Err(pass::PassError::Refused(ref m)) if m.contains("expiré")),
                        "{r:?}"
                    );
                }
            }
            // J+37: the closing statement.
            assert_eq!(c.bilan_le.is_some(), d >= 37, "closing on day {d}");
            app.clock.advance(86_400);
        }
        assert_eq!(hand_outs, 1);
        assert!(redeemed_late);
        // Both sides accept: the credit note for the 39 unused pass, at face value.
        let mut funder = app.login(&agent).await;
        let r = funder
            .post(&format!("/financeur/commandes/{cid}/bilan"), &[])
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let c = pass::commande(app.db(), cid).await.unwrap().unwrap();
        assert!(c.avoir_le.is_none(), "the operator has not accepted yet");
        let admin = app.admin().await;
        let mut op = app.login(&admin).await;
        let r = op
            .post(&format!("/admin/pass/commandes/{cid}/bilan"), &[])
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let c = pass::commande(app.db(), cid).await.unwrap().unwrap();
        assert_eq!(c.avoir_centimes, Some(39 * 1_000));
        let page = funder.get(&format!("/financeur/commandes/{cid}")).await;
        assert!(page.contains("avoir de 390,00 €"), "{}", page.body);
        assert!(
            !app.journal_details(pass::funder_chain(fid), "pass_avoir")
                .await
                .is_empty()
        );
    }
);
