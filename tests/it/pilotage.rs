//! Steering: territorial accounts see their territory only; the figures equal a
//! recount from the rows; the conseillers numériques import; the administrators'
//! hubs and accounts; the public page under statistical confidentiality.

use axum::http::StatusCode;
use relais::activites::{Counters, Kind, Report, vocab};
use relais::domain::Role;
use relais::mandats::{Demarche, Duree};
use relais::pilotage::Territoire;

use crate::common::{TestApp, mandate};

/// A structure in `commune` with an aidant.
async fn structure_in(app: &TestApp, name: &str, commune: &str) -> (i64, crate::common::User) {
    let sid = app.structure(name).await;
    app.db()
        .execute(
            "UPDATE structures SET commune_insee = $1 WHERE id = $2",
            relais::args![commune, sid],
        )
        .await
        .unwrap();
    let aidant = app
        .member(sid, Role::Aidant, &format!("aidant-{commune}"))
        .await;
    (sid, aidant)
}

/// `n` mandates of distinct people in a structure.
async fn mandates(app: &TestApp, sid: i64, aidant: i64, tag: &str, n: usize) {
    for i in 0..n {
        let who = relais::mandats::Identity {
            sub_hash: relais::crypto::sha256_hex(&format!("{tag}-{i}")),
            given_name: "Camille".into(),
            family_name: format!("{tag} {i}"),
            preferred_username: String::new(),
            birthdate: "1950-01-01".into(),
            gender: "female".into(),
            birthplace: "89024".into(),
            birthcountry: "99100".into(),
            email: String::new(),
        };
        mandate(
            app,
            sid,
            aidant,
            relais::mandats::UsagerRef::Identified(&who),
            &[Demarche::Social],
            Duree::Long,
        )
        .await
        .unwrap();
    }
}

/// `n` individual accompaniments of one anonymous person each, in `commune`.
async fn accompaniments(app: &TestApp, sid: i64, commune: &str, n: usize) {
    let m = app
        .member(sid, Role::Mediateur, &format!("med-{commune}"))
        .await;
    for _ in 0..n {
        let mut anon = Counters::none();
        anon.total = 1;
        let report = Report {
            kind: Kind::Individuel,
            date: relais::activites::today(app.clock_now()),
            duree: 30,
            lieu_type: "domicile".into(),
            lieu_id: None,
            commune_insee: commune.into(),
            materiel: vec!["aucun".into()],
            thematiques: vec![vocab::THEMATIQUES.first().unwrap().0.to_owned()],
            thematiques_admin: Vec::new(),
            precisions: String::new(),
            tags: Vec::new(),
            notes: String::new(),
            autonomie: String::new(),
            orientation: String::new(),
            titre: String::new(),
            niveau: String::new(),
            participants: Vec::new(),
            anonymes: anon,
            mandat_id: None,
            pass_code: String::new(),
        };
        relais::activites::record(app.db(), m.id, sid, &report, app.clock_now())
            .await
            .unwrap();
    }
}

const PLACES: &str = "id,pivot,nom,commune,code_postal,code_insee,adresse,latitude,longitude,horaires,date_maj,services,source\n\
lieu-a,21890024000015,Médiathèque d'Auxerre,Auxerre,89000,89024,2 rue de l'Essai,47.79,3.57,,2024-05-01,Aide aux démarches administratives,Essai\n\
lieu-b,21890024000015,Espace de Sens,Sens,89100,89387,1 place,48.19,3.28,,2024-05-01,Aide aux démarches administratives,Essai\n\
lieu-c,21890024000015,Maison de Dijon,Dijon,21000,21231,3 rue,47.32,5.04,,2024-05-01,Aide aux démarches administratives,Essai\n\
lieu-d,21890024000015,Tiers-lieu de Paris,Paris,75011,75056,4 rue,48.85,2.37,,2024-05-01,Aide aux démarches administratives,Essai\n";

crate::both_backends!(
    territories_see_their_own_figures_only,
    |app: TestApp| async move {
        let read =
            relais::lieux::read_csv(PLACES.as_bytes(), relais::lieux::Encoding::Utf8).unwrap();
        relais::lieux::import(app.db(), read, "essai", false, app.clock_now())
            .await
            .unwrap();
        let (auxerre, a1) = structure_in(&app, "CCAS d'Auxerre", "89024").await;
        let (dijon, a2) = structure_in(&app, "Mairie de Dijon", "21231").await;
        let (paris, a3) = structure_in(&app, "Mairie du 11e", "75056").await;
        mandates(&app, auxerre, a1.id, "yonne", 3).await;
        mandates(&app, dijon, a2.id, "cote-d-or", 2).await;
        mandates(&app, paris, a3.id, "paris", 4).await;
        accompaniments(&app, auxerre, "89024", 7).await;
        accompaniments(&app, paris, "75056", 2).await;

        // The administrator creates a hub and gives people territories, by the page.
        let admin = app.admin().await;
        let mut c = app.login(&admin).await;
        let page = c.get("/admin/territoires").await;
        assert_eq!(page.status, StatusCode::OK);
        let r = c
            .post(
                "/admin/territoires/hubs",
                &[
                    ("nom", "Hub Bourgogne-Franche-Comté"),
                    ("departements", "21, 25, 99"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.contains("« 99 » n'est pas un code de département"));
        let r = c
            .post(
                "/admin/territoires/hubs",
                &[
                    ("nom", "Hub Bourgogne-Franche-Comté"),
                    ("departements", "21, 25, 39, 58, 70, 71, 89, 90"),
                ],
            )
            .await;
        assert_eq!(r.location(), "/admin/territoires?info=hub-cree");
        let hub = relais::pilotage::hubs(app.db()).await.unwrap();
        let hub = hub.first().unwrap();
        let r = c
            .post(
                "/admin/territoires/comptes",
                &[
                    ("email", "prefecture89@exemple.fr"),
                    ("nom", "Préfecture de l'Yonne"),
                    ("niveau", "departement"),
                    ("code", "89"),
                ],
            )
            .await;
        assert_eq!(r.location(), "/admin/territoires?info=compte-ajoute");
        assert!(
            app.last_email_to("prefecture89@exemple.fr")
                .body
                .contains("/activation/")
        );
        let r = c
            .post(
                "/admin/territoires/comptes",
                &[
                    ("email", "x@exemple.fr"),
                    ("nom", "X"),
                    ("niveau", "departement"),
                    ("code", "99"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

        // A département's account: its figures, and 404 on another département.
        let yonne = app
            .territorial(&Territoire::departement("89").unwrap())
            .await;
        let mut c = app.login(&yonne).await;
        let page = c.get("/pilotage").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.contains("Pilotage — Yonne (89)"));
        assert_eq!(
            c.get("/pilotage?departement=21").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            c.get("/pilotage/export.csv?departement=75").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            c.get("/pilotage/conseillers").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            c.get("/admin/territoires").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            c.get("/usagers").await.status,
            StatusCode::FORBIDDEN,
            "no person's data"
        );
        let rows = crate::common::spreadsheet(&c.get("/pilotage/export.csv").await.body);
        assert_eq!(rows.len(), 2, "the header and the Yonne: {rows:?}");
        let t = relais::pilotage::tableau::compute(
            app.db(),
            &Territoire::departement("89").unwrap(),
            relais::activites::today(app.clock_now()) / 10_000,
            app.clock_now(),
        )
        .await
        .unwrap();
        // Recounted from the rows.
        assert_eq!(t.total.mandats_actifs, 3);
        assert_eq!(t.total.lieux, 2);
        assert_eq!(t.total.structures, 1);
        assert_eq!(t.total.aidants, 1);
        assert_eq!(t.personnes, 7);
        assert_eq!(t.total.accompagnements, 7);
        let covered: i64 = ["89024", "89387"]
            .iter()
            .map(|c| i64::from(relais::territoires::get().commune(c).unwrap().population))
            .sum();
        assert_eq!(t.total.population_couverte, covered);
        assert_eq!(
            t.objectif_personnes(),
            (1_500_000.0 * t.total.population as f64 / t.population_nationale as f64).round()
                as i64
        );

        // A commune and its intercommunality, inside the territory only.
        let mut c = app.login(&yonne).await;
        let local = c.get("/pilotage?commune=89024").await;
        let body = crate::common::unescape(&local.body);
        let row = &body[body
            .find("<th scope=\"row\">Auxerre (89)</th>")
            .expect("Auxerre")..];
        let row = &row[..row.find("</tr>").unwrap()];
        // Population, people, accompaniments, places, …, structures, mandates.
        assert!(row.contains("<td>7</td><td>7</td><td>1</td>"), "{row}");
        assert!(row.ends_with("<td>1</td><td>3</td>"), "{row}");
        assert!(body.contains("L'intercommunalité de Auxerre"));
        let rows = crate::common::spreadsheet(
            &c.get("/pilotage/export.csv?table=commune&commune=89024")
                .await
                .body,
        );
        assert_eq!(
            rows.len(),
            3,
            "the commune and its intercommunality: {rows:?}"
        );
        assert_eq!(
            crate::common::column(&rows, "mandats_actifs").first(),
            Some(&"3")
        );
        assert_eq!(
            c.get("/pilotage/export.csv?table=commune&commune=21231")
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let rows =
            crate::common::spreadsheet(&c.get("/pilotage/acteurs.csv?table=communes").await.body);
        assert_eq!(rows.len(), 101, "the 100 largest communes without a place");
        let other = c.get("/pilotage?commune=21231").await;
        assert!(other.contains("n'est pas dans votre territoire"));
        assert!(!other.contains("<th scope=\"row\">Dijon (21)</th>"));

        // The actors of the territory: places to update, structures, communes without a place.
        let mut c = app.login(&yonne).await;
        let page = c.get("/pilotage/acteurs").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(
            page.contains("Médiathèque d'Auxerre") && page.contains("Mettre à jour les données")
        );
        assert!(page.contains("CCAS d'Auxerre") && !page.contains("Mairie de Dijon"));
        let joigny = page.body.find("Joigny").expect("Joigny has no place");
        assert!(
            !page.body[..joigny].contains("Villeneuve-sur-Yonne"),
            "largest first"
        );
        assert_eq!(
            c.get("/pilotage/acteurs?departement=21").await.status,
            StatusCode::NOT_FOUND
        );
        let a = relais::pilotage::acteurs::gather(
            app.db(),
            &Territoire::departement("89").unwrap(),
            app.clock_now(),
        )
        .await
        .unwrap();
        assert_eq!((a.lieux_total, a.lieux_a_mettre_a_jour), (2, 2));
        let s = a.structures.first().unwrap();
        assert_eq!((s.aidants, s.mandats_actifs, s.activites), (1, 3, 7));
        let communes89 = relais::territoires::get()
            .communes()
            .iter()
            .filter(|c| c.departement == "89")
            .count();
        assert_eq!(a.communes_sans_lieu, communes89 - 2);

        // A hub: exactly its départements.
        let h = app.territorial(&hub.territoire()).await;
        let mut c = app.login(&h).await;
        let page = c.get("/pilotage").await;
        assert!(page.contains("Hub Bourgogne-Franche-Comté"));
        let rows = crate::common::spreadsheet(&c.get("/pilotage/export.csv").await.body);
        let codes: Vec<&str> = crate::common::column(&rows, "departement");
        assert_eq!(codes, vec!["21", "25", "39", "58", "70", "71", "89", "90"]);
        assert_eq!(
            c.get("/pilotage?departement=21").await.status,
            StatusCode::OK
        );
        assert_eq!(
            c.get("/pilotage?departement=75").await.status,
            StatusCode::NOT_FOUND
        );
        let mandats: Vec<&str> = crate::common::column(&rows, "mandats_actifs");
        assert_eq!(
            mandats
                .iter()
                .map(|m| m.parse::<i64>().unwrap())
                .sum::<i64>(),
            5
        );

        // The national role imports the conseillers numériques; bad files change nothing.
        let nat = app.territorial(&Territoire::national()).await;
        let mut c = app.login(&nat).await;
        let r = c
            .post_multipart(
                "/pilotage/conseillers",
                &[],
                (
                    "fichier",
                    "conseillers.csv",
                    b"departement;en_poste;en_formation;prevus\n89;3;8;23\n99;1;1;1\n21;x;0;0\n",
                ),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.contains("ligne 3") && r.contains("ligne 4"), "{}", r.body);
        assert!(
            relais::pilotage::conseillers(app.db())
                .await
                .unwrap()
                .is_empty()
        );
        let r = c
            .post_multipart(
                "/pilotage/conseillers",
                &[],
                (
                    "fichier",
                    "conseillers.csv",
                    b"departement;en_poste;en_formation;prevus\n89;3;8;23\n",
                ),
                true,
            )
            .await;
        assert_eq!(r.location(), "/pilotage?info=conseillers-importes");
        let mut c = app.login(&yonne).await;
        let page = c.get("/pilotage").await;
        for seen in [
            "En poste</dt><dd>3",
            "En formation</dt><dd>8",
            "Prévus</dt><dd>23",
        ] {
            assert!(page.body.contains(seen), "{seen}");
        }
        // The national dashboard covers everyone.
        let mut c = app.login(&nat).await;
        let page = c.get("/pilotage").await;
        assert!(page.contains("France entière") && page.contains("<svg"));
        let rows = crate::common::spreadsheet(&c.get("/pilotage/export.csv").await.body);
        assert!(rows.len() > 100);
    }
);

crate::both_backends!(
    public_figures_keep_small_counts_secret,
    |app: TestApp| async move {
        let (auxerre, _) = structure_in(&app, "CCAS d'Auxerre", "89024").await;
        let (paris, _) = structure_in(&app, "Mairie du 11e", "75056").await;
        let (dijon, _) = structure_in(&app, "Mairie de Dijon", "21231").await;
        accompaniments(&app, auxerre, "89024", 12).await;
        accompaniments(&app, paris, "75056", 3).await;
        accompaniments(&app, dijon, "21231", 40).await;
        let mut c = app.client();
        let page = c.get("/chiffres").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let body = crate::common::unescape(&page.body);
        // Paris's 3 is secret, and so is the smallest other (12, the Yonne), so that
        // the total cannot give it back; Dijon's 40 and the total are published.
        let row = |code: &str| {
            let start = body.find(&format!("({code})</a></th>")).unwrap();
            body[start..start + 200].to_owned()
        };
        assert!(row("75").contains("<td>secret</td>"), "{}", row("75"));
        assert!(row("89").contains("<td>secret</td>"), "{}", row("89"));
        assert!(row("21").contains("<td>40</td>"), "{}", row("21"));
        assert!(body.contains("Accompagnements</dt><dd>55"));
        let yonne = c.get("/chiffres?departement=89").await;
        assert!(yonne.contains("Yonne"));
        assert_eq!(
            c.get("/chiffres?departement=99").await.status,
            StatusCode::NOT_FOUND
        );
    }
);

crate::both_backends!(
    open_data_is_published_at_stable_urls_and_checks_against_its_schema,
    |app: TestApp| async move {
        use relais::lieux::schema::Schema;
        use relais::pilotage::donnees;
        let read =
            relais::lieux::read_csv(PLACES.as_bytes(), relais::lieux::Encoding::Utf8).unwrap();
        relais::lieux::import(app.db(), read, "essai", false, app.clock_now())
            .await
            .unwrap();
        let (auxerre, _) = structure_in(&app, "CCAS d'Auxerre", "89024").await;
        let (paris, _) = structure_in(&app, "Mairie du 11e", "75056").await;
        let (dijon, _) = structure_in(&app, "Mairie de Dijon", "21231").await;
        accompaniments(&app, auxerre, "89024", 12).await;
        accompaniments(&app, paris, "75056", 3).await;
        accompaniments(&app, dijon, "21231", 40).await;
        let mut c = app.client();
        // Before the first run: the page says so, the files are not there.
        assert_eq!(
            c.get("/donnees-ouvertes/statistiques.csv").await.status,
            StatusCode::NOT_FOUND
        );
        let report = donnees::publish(app.db(), app.clock_now()).await.unwrap();
        assert_eq!(report.files, 5);
        assert_eq!(report.lieux, 4);
        let page = c.get("/donnees-ouvertes").await;
        assert_eq!(page.status, StatusCode::OK);
        for name in [
            "lieux.csv",
            "lieux.json",
            "statistiques.csv",
            "statistiques.json",
            "statistiques.schema.json",
        ] {
            assert!(
                page.contains(&format!("/donnees-ouvertes/{name}")),
                "{name} listed"
            );
        }
        let fetch = |r: crate::common::Resp, kind: &str| {
            assert_eq!(r.status, StatusCode::OK);
            let got = r
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(got.starts_with(kind), "{got} instead of {kind}");
            assert!(r.headers.get("last-modified").is_some());
            r.body
        };
        // The statistics validate against the schema published beside them.
        let schema_text = fetch(
            c.get("/donnees-ouvertes/statistiques.schema.json").await,
            "application/schema+json",
        );
        let schema = Schema::parse(&schema_text).unwrap();
        let stats = fetch(
            c.get("/donnees-ouvertes/statistiques.csv").await,
            "text/csv",
        );
        assert_eq!(donnees::validate_csv(&schema, &stats), Vec::<String>::new());
        // The figures are the rows' and small ones are secret, with their
        // complement: no published count of people below 5.
        let month = {
            let d = relais::activites::today(app.clock_now());
            format!("{}-{:02}", d / 10_000, d / 100 % 100)
        };
        let line = |code: &str, periode: &str| {
            stats
                .lines()
                .find(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    f.get(1) == Some(&code) && f.get(3) == Some(&periode)
                })
                .unwrap_or_else(|| panic!("{code} {periode} in {stats}"))
                .to_owned()
        };
        assert!(line("21", &month).contains(&format!("{month},40,")));
        assert!(line("75", &month).contains(&format!("{month},secret,")));
        assert!(line("89", &month).contains(&format!("{month},secret,")));
        assert!(line("FR", &month).contains(&format!("{month},55,")));
        for l in stats.lines().skip(1) {
            let f: Vec<&str> = l.split(',').collect();
            for cell in [f.get(f.len() - 3), f.get(f.len() - 2)]
                .into_iter()
                .flatten()
            {
                if let Ok(n) = cell.parse::<i64>() {
                    assert!(n == 0 || n >= 5, "{l}");
                }
            }
        }
        // The JSON says the same, line by line.
        let json: serde_json::Value = serde_json::from_str(&fetch(
            c.get("/donnees-ouvertes/statistiques.json").await,
            "application/json",
        ))
        .unwrap();
        let list = json.as_array().unwrap();
        assert_eq!(list.len(), stats.lines().count() - 1);
        let dijon_json = list
            .iter()
            .find(|o| o["code"] == "21" && o["periode"] == month.as_str())
            .unwrap();
        assert_eq!(dijon_json["accompagnements"], 40);
        let paris_json = list
            .iter()
            .find(|o| o["code"] == "75" && o["periode"] == month.as_str())
            .unwrap();
        assert_eq!(paris_json["accompagnements"], "secret");
        // The places, in the national standard: its own schema (not ours) accepts them.
        let standard = std::fs::read_to_string(
            "../shared/data/lieux/standard-mediation-num-1.0.2.schema.json",
        )
        .unwrap();
        let standard = Schema::parse(&standard).unwrap();
        let places = fetch(c.get("/donnees-ouvertes/lieux.csv").await, "text/csv");
        assert_eq!(
            donnees::validate_csv(&standard, &places),
            Vec::<String>::new()
        );
        assert_eq!(places.lines().count(), 5, "{places}");
        let places_json: serde_json::Value = serde_json::from_str(&fetch(
            c.get("/donnees-ouvertes/lieux.json").await,
            "application/json",
        ))
        .unwrap();
        assert_eq!(places_json.as_array().map(Vec::len), Some(4));
        // Anything else is not a file.
        assert_eq!(
            c.get("/donnees-ouvertes/..%2Fconfig.toml").await.status,
            StatusCode::NOT_FOUND
        );
        // A second run replaces the files, at the same URLs.
        accompaniments(&app, paris, "75056", 5).await;
        donnees::publish(app.db(), app.clock_now()).await.unwrap();
        let again = c.get("/donnees-ouvertes/statistiques.csv").await.body;
        assert!(again.contains(&format!("75,Paris,{month},8,")), "{again}");
    }
);

crate::both_backends!(
    uses_of_mandates_are_summed_over_structures,
    |app: TestApp| async move {
        let (auxerre, _) = structure_in(&app, "CCAS d'Auxerre", "89024").await;
        let (sens, _) = structure_in(&app, "Mairie de Sens", "89387").await;
        let (dijon, _) = structure_in(&app, "Mairie de Dijon", "21231").await;
        let mois = relais::activites::today(app.clock_now()) / 100;
        // The identity provider counts one row per structure (test
        // idp::aidant_logs_into_a_service_for_a_usager); structure 0 holds what was
        // counted before that, per département only.
        for (departement, structure, demarche, n) in [
            ("89", auxerre, "logement", 3_i64),
            ("89", sens, "logement", 2),
            ("89", 0, "logement", 5),
            ("89", sens, "social", 1),
            ("21", dijon, "logement", 4),
        ] {
            app.db()
                .execute(
                    "INSERT INTO utilisations_mois (mois, departement, demarche, structure_id, n)
                     VALUES ($1, $2, $3, $4, $5)",
                    relais::args![mois, departement, demarche, structure, n],
                )
                .await
                .unwrap();
        }
        let t = relais::pilotage::tableau::compute(
            app.db(),
            &Territoire::departement("89").unwrap(),
            mois / 100,
            app.clock_now(),
        )
        .await
        .unwrap();
        assert_eq!(t.total.utilisations, 11);
        let month = t.utilisations.iter().find(|m| m.mois == mois).unwrap();
        assert_eq!(month.total, 11);
        let at = |d: Demarche| Demarche::ALL.iter().position(|x| *x == d).unwrap();
        assert_eq!(month.par_demarche.get(at(Demarche::Logement)), Some(&10));
        assert_eq!(month.par_demarche.get(at(Demarche::Social)), Some(&1));
    }
);
