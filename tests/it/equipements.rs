//! Inclusion equipment kits: a campaign with a budget and eligible structures, a
//! structure's application, allocation within the budget (never beyond, whatever
//! the order), deliveries with serial numbers, the inventory's states, loans with
//! their reminder and the borrower's first name deleted after the return, and the
//! figures per département in a French spreadsheet.

use relais::domain::Role;

use crate::common::{Client, TestApp, spreadsheet};

async fn structure_of(
    app: &TestApp,
    name: &str,
    insee: &str,
    kind: relais::domain::StructureKind,
) -> i64 {
    let s = relais::structures::NewStructure {
        name: name.to_owned(),
        siret: relais::domain::Siret::parse(&crate::common::siret(crate::common::unique()))
            .unwrap(),
        address: "1 place de la Mairie".into(),
        commune_insee: relais::domain::InseeCode::parse(insee).unwrap(),
        kind,
        is_demo: false,
    };
    relais::structures::create(app.db(), &s, app.clock_now())
        .await
        .unwrap()
}

/// Opens a campaign (budget in euros, closing in 30 days) for mairies of the
/// Yonne; returns its id.
async fn campaign(admin: &mut Client, app: &TestApp, budget: &str) -> i64 {
    let day = relais::time_fr::iso(app.clock_now() + 30 * 86_400);
    let day = &day[..10];
    let r = admin
        .post(
            "/admin/equipements",
            &[
                ("nom", "Kits 2027"),
                ("budget", budget),
                ("cloture", day),
                ("types", "mairie"),
                ("departements", "89"),
            ],
        )
        .await;
    assert_eq!(
        r.location(),
        "/admin/equipements?info=campagne",
        "{}",
        r.body
    );
    app.db()
        .fetch_one(
            "SELECT id FROM equipement_campagnes WHERE nom = 'Kits 2027'",
            relais::args![],
        )
        .await
        .unwrap()
        .int("id")
        .unwrap()
}

async fn demande_of(app: &TestApp, sid: i64) -> (i64, Vec<(i64, String)>) {
    let d = relais::equipements::demandes(app.db(), None, Some(sid))
        .await
        .unwrap();
    let d = d.first().unwrap();
    (
        d.id,
        d.lignes.iter().map(|l| (l.id, l.type_.clone())).collect(),
    )
}

crate::both_backends!(
    a_kit_goes_from_campaign_to_inventory,
    |app: TestApp| async move {
        let admin = app.admin().await;
        let mut a = app.login(&admin).await;
        // A campaign's form says what is wrong.
        let r = a
            .post(
                "/admin/equipements",
                &[
                    ("budget", "beaucoup"),
                    ("cloture", "2001-01-01"),
                    ("departements", "999"),
                ],
            )
            .await;
        assert_eq!(r.status, 422);
        for msg in ["Donnez un nom", "Indiquez le budget", "date limite", "999"] {
            assert!(r.contains(msg), "{msg}");
        }
        let cpid = campaign(&mut a, &app, "10 000").await;

        let auxerre = structure_of(
            &app,
            "Mairie d'Auxerre",
            "89024",
            relais::domain::StructureKind::Mairie,
        )
        .await;
        let sens = structure_of(
            &app,
            "Mairie de Sens",
            "89387",
            relais::domain::StructureKind::Mairie,
        )
        .await;
        let dijon = structure_of(
            &app,
            "Mairie de Dijon",
            "21231",
            relais::domain::StructureKind::Mairie,
        )
        .await;
        let asso = structure_of(
            &app,
            "Association",
            "89024",
            relais::domain::StructureKind::Association,
        )
        .await;
        let ref_a = app.member(auxerre, Role::Referent, "ref-auxerre").await;
        let med_a = app.member(auxerre, Role::Mediateur, "med-auxerre").await;
        let ref_s = app.member(sens, Role::Referent, "ref-sens").await;
        let mut ra = app.login(&ref_a).await;
        let mut rs = app.login(&ref_s).await;
        // Only eligible structures see the campaign.
        assert!(
            ra.get(&format!("/structures/{auxerre}/equipements"))
                .await
                .contains("Kits 2027")
        );
        for s in [dijon, asso] {
            let r = app.member(s, Role::Referent, "ref").await;
            let mut c = app.login(&r).await;
            assert!(
                !c.get(&format!("/structures/{s}/equipements"))
                    .await
                    .contains("Kits 2027")
            );
            let refused = c
                .post(
                    &format!("/structures/{s}/equipements/demandes"),
                    &[
                        ("campagne", &cpid.to_string()),
                        ("quantite-tablette", "2"),
                        ("usages", "x"),
                    ],
                )
                .await;
            assert!(refused.contains("pas éligible"), "{}", refused.body);
        }

        // Applying: errors, then the application; once per campaign.
        let apply = |c: &mut Client, sid: i64, laptops: &str, tablets: &str| {
            let mut c = c.clone();
            let laptops = laptops.to_owned();
            let tablets = tablets.to_owned();
            async move {
                c.post(
                    &format!("/structures/{sid}/equipements/demandes"),
                    &[
                        ("campagne", &cpid.to_string()),
                        ("quantite-ordinateur_portable", &laptops),
                        ("quantite-tablette", &tablets),
                        (
                            "usages",
                            "Permanences dans les mairies des villages, le mardi.",
                        ),
                    ],
                )
                .await
            }
        };
        let r = apply(&mut ra, auxerre, "", "beaucoup").await;
        assert!(r.contains("Tablette : un nombre entre 0 et 500"));
        let r = apply(&mut ra, auxerre, "", "").await;
        assert!(r.contains("Indiquez au moins un équipement"));
        assert!(
            apply(&mut ra, auxerre, "4", "2")
                .await
                .status
                .is_redirection()
        );
        assert!(
            apply(&mut ra, auxerre, "1", "")
                .await
                .contains("déjà déposé une demande")
        );
        assert!(apply(&mut rs, sens, "3", "").await.status.is_redirection());
        let (da, lines_a) = demande_of(&app, auxerre).await;
        let (ds, lines_s) = demande_of(&app, sens).await;

        // Allocation: within the budget only.
        let laptop_a = lines_a
            .iter()
            .find(|l| l.1 == "ordinateur_portable")
            .unwrap()
            .0
            .to_string();
        let tablet_a = lines_a
            .iter()
            .find(|l| l.1 == "tablette")
            .unwrap()
            .0
            .to_string();
        let laptop_s = lines_s[0].0.to_string();
        let decide = |c: &mut Client, d: i64, fields: Vec<(String, String)>| {
            let mut c = c.clone();
            async move {
                let f: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                c.post(&format!("/admin/equipements/demandes/{d}/decision"), &f)
                    .await
            }
        };
        let r = decide(&mut a, da, vec![("decision".into(), "refuser".into())]).await;
        assert!(r.contains("Donnez la raison du refus"));
        let r = decide(
            &mut a,
            da,
            vec![
                ("decision".into(), "allouer".into()),
                (format!("quantite-{laptop_a}"), "4".into()),
                (format!("prix-{laptop_a}"), "2 500".into()),
                (format!("quantite-{tablet_a}"), "2".into()),
                (format!("prix-{tablet_a}"), "300".into()),
            ],
        )
        .await;
        assert!(r.contains("Le budget ne suffit pas"), "{}", r.body);
        let r = decide(
            &mut a,
            da,
            vec![
                ("decision".into(), "allouer".into()),
                (format!("quantite-{laptop_a}"), "5".into()),
                (format!("prix-{laptop_a}"), "200".into()),
                (format!("quantite-{tablet_a}"), "2".into()),
                (format!("prix-{tablet_a}"), "300".into()),
            ],
        )
        .await;
        assert!(r.contains("va de 0 à la quantité demandée (4)"));
        let r = decide(
            &mut a,
            da,
            vec![
                ("decision".into(), "allouer".into()),
                (format!("quantite-{laptop_a}"), "4".into()),
                (format!("prix-{laptop_a}"), "1 800".into()),
                (format!("quantite-{tablet_a}"), "2".into()),
                (format!("prix-{tablet_a}"), "350,50".into()),
            ],
        )
        .await;
        assert!(r.status.is_redirection(), "{}", r.body);
        // 4 × 1,800 + 2 × 350.50 = 7,901 €: 2,099 € left; Sens asks 3 laptops.
        let r = decide(
            &mut a,
            ds,
            vec![
                ("decision".into(), "allouer".into()),
                (format!("quantite-{laptop_s}"), "3".into()),
                (format!("prix-{laptop_s}"), "800".into()),
            ],
        )
        .await;
        assert!(r.contains("restants"), "{}", r.body);
        let r = decide(
            &mut a,
            ds,
            vec![
                ("decision".into(), "allouer".into()),
                (format!("quantite-{laptop_s}"), "2".into()),
                (format!("prix-{laptop_s}"), "800".into()),
            ],
        )
        .await;
        assert!(r.status.is_redirection());
        let c = relais::equipements::campagne_get(app.db(), cpid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.engage_centimes, 790_100 + 160_000);
        assert!(c.engage_centimes <= c.budget_centimes);
        assert!(
            ra.get(&format!("/structures/{auxerre}/equipements"))
                .await
                .contains("Accordée")
        );

        // Delivery: serial numbers checked, then the inventory.
        let deliver = |c: &mut Client, d: i64, line: &str, numbers: &str| {
            let mut c = c.clone();
            let line = line.to_owned();
            let numbers = numbers.to_owned();
            async move {
                c.post(
                    &format!("/admin/equipements/demandes/{d}/livraison"),
                    &[
                        ("ligne", &line),
                        ("fournisseur", "Atelier du Réemploi"),
                        ("date", "2027-01-10"),
                        ("origine", "reconditionne"),
                        ("numeros", &numbers),
                    ],
                )
                .await
            }
        };
        let r = deliver(&mut a, da, &laptop_a, "SN1\nSN2\nSN3\nSN4\nSN5").await;
        assert!(r.contains("5 numéros pour 4 appareil(s)"), "{}", r.body);
        let r = deliver(&mut a, da, &laptop_a, "SN1\nSN1").await;
        assert!(r.contains("figure deux fois"));
        assert!(
            deliver(&mut a, da, &laptop_a, "SN1\nSN2\nSN3\nSN4")
                .await
                .status
                .is_redirection()
        );
        let r = deliver(&mut a, da, &tablet_a, "SN1").await;
        assert!(r.contains("SN1") && r.contains("déjà enregistré"));
        assert!(
            deliver(&mut a, da, &tablet_a, "TB1\nTB2")
                .await
                .status
                .is_redirection()
        );
        assert!(
            ra.get(&format!("/structures/{auxerre}/equipements"))
                .await
                .contains("Livrée")
        );
        let inventory = relais::equipements::inventory(app.db(), auxerre)
            .await
            .unwrap();
        assert_eq!(inventory.len(), 6);
        let tb1 = inventory
            .iter()
            .find(|d| d.numero_serie == "TB1")
            .unwrap()
            .id;
        let sn1 = inventory
            .iter()
            .find(|d| d.numero_serie == "SN1")
            .unwrap()
            .id;
        // Another structure cannot touch Auxerre's devices.
        assert_eq!(
            rs.post(
                &format!("/structures/{sens}/equipements/{tb1}/etat"),
                &[("etat", "reforme")]
            )
            .await
            .status,
            404
        );

        // States and loans.
        ra.post(
            &format!("/structures/{auxerre}/equipements/{sn1}/etat"),
            &[("etat", "en_panne")],
        )
        .await;
        let r = ra
            .post(
                &format!("/structures/{auxerre}/equipements/{sn1}/pret"),
                &[
                    ("emprunteur", "personne"),
                    ("personne", "Odile"),
                    ("retour", "2027-02-01"),
                ],
            )
            .await;
        assert!(r.contains("Seul un appareil en service peut être prêté"));
        let r = ra
            .post(
                &format!("/structures/{auxerre}/equipements/{tb1}/pret"),
                &[
                    ("emprunteur", "personne"),
                    ("personne", ""),
                    ("retour", "1999-01-01"),
                ],
            )
            .await;
        assert!(r.contains("Choisissez un médiateur") && r.contains("date de retour"));
        let due = relais::time_fr::iso(app.clock_now() + 7 * 86_400);
        let r = ra
            .post(
                &format!("/structures/{auxerre}/equipements/{tb1}/pret"),
                &[
                    ("emprunteur", "personne"),
                    ("personne", "Odile"),
                    ("retour", &due[..10]),
                ],
            )
            .await;
        assert!(r.status.is_redirection(), "{}", r.body);
        let sn2 = inventory
            .iter()
            .find(|d| d.numero_serie == "SN2")
            .unwrap()
            .id;
        ra.post(
            &format!("/structures/{auxerre}/equipements/{sn2}/pret"),
            &[
                ("emprunteur", &med_a.id.to_string()),
                ("retour", &due[..10]),
            ],
        )
        .await;
        let page = ra.get(&format!("/structures/{auxerre}/equipements")).await;
        assert!(page.contains("Odile, retour le") && page.contains("Personne med-auxerre"));
        let r = ra
            .post(
                &format!("/structures/{auxerre}/equipements/{tb1}/etat"),
                &[("etat", "reforme")],
            )
            .await;
        assert!(r.contains("prêté"));

        // Overdue: one reminder to the référents, without the borrower's name.
        app.clock.advance(9 * 86_400);
        let n = relais::equipements::remind_overdue(
            app.db(),
            &app.mailer,
            "http://localhost",
            app.clock_now(),
        )
        .await
        .unwrap();
        assert_eq!(n, 1);
        let mail = app.last_email_to(&ref_a.email);
        assert!(
            mail.subject
                .contains("2 appareils prêtés ne sont pas revenus"),
            "{}",
            mail.subject
        );
        assert!(!mail.body.contains("Odile"));
        assert_eq!(
            relais::equipements::remind_overdue(
                app.db(),
                &app.mailer,
                "http://localhost",
                app.clock_now()
            )
            .await
            .unwrap(),
            0
        );
        // The return; three months later the first name is gone.
        let mut ra = app.login(&ref_a).await;
        assert!(
            ra.post(
                &format!("/structures/{auxerre}/equipements/{tb1}/retour"),
                &[]
            )
            .await
            .status
            .is_redirection()
        );
        assert_eq!(
            relais::equipements::purge(app.db(), app.clock_now() + 91 * 86_400)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            relais::equipements::purge(app.db(), app.clock_now() + 93 * 86_400)
                .await
                .unwrap(),
            1
        );
        let left = app
            .db()
            .fetch_one(
                "SELECT COUNT(*) AS n FROM equipement_prets WHERE personne IS NOT NULL",
                relais::args![],
            )
            .await
            .unwrap()
            .int("n")
            .unwrap();
        assert_eq!(left, 0);

        // Figures per département and campaign.
        let mut a = app.login(&admin).await;
        let csv = a.get("/admin/equipements/chiffres.csv").await;
        let rows = spreadsheet(&csv.body);
        let yonne = rows.iter().find(|r| r[0] == "89").unwrap();
        assert_eq!(yonne[1], "Yonne");
        assert_eq!(&yonne[3..7], &["2", "9501,00", "6", "5"]);
        assert!(a.get("/admin/equipements").await.contains("Kits 2027"));
    }
);
