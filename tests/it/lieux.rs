//! The places directory: import of the standard's files, validation errors line by
//! line, idempotent upserts, exports that validate and round-trip.

use relais::lieux::{self, Encoding, FileError};

use crate::common::TestApp;

const EXAMPLE: &str = "../shared/data/lieux/exemple-valide.csv";

fn example() -> Option<Vec<u8>> {
    match std::fs::read(EXAMPLE) {
        Ok(b) => Some(b),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "{EXAMPLE} est obligatoire en CI (shared/ à côté du dépôt)"
            );
            eprintln!("NOTE : {EXAMPLE} absent, test ignoré");
            None
        }
    }
}

const HEADER: &str = "id,pivot,nom,commune,code_postal,code_insee,adresse,latitude,longitude,horaires,date_maj,services,source";

fn csv(rows: &[&str]) -> Vec<u8> {
    let mut s = String::from(HEADER);
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s.push('\n');
    s.into_bytes()
}

const GOOD: &str = "lieu-1,21890024000015,Médiathèque d'Auxerre,Auxerre,89000,89024,2 rue de l'Essai,47.79,3.57,Mo-Fr 09:00-12:00,2024-05-01,Aide aux démarches administratives|Loisirs et créations numériques,Essai";

crate::both_backends!(example_file_round_trips, |app: TestApp| async move {
    let Some(bytes) = example() else { return };
    let read = lieux::read_csv(&bytes, Encoding::Utf8).unwrap();
    assert!(read.rejected.is_empty(), "{:?}", read.rejected);
    assert!(read.rejected.is_empty());
    let r = lieux::import(app.db(), read, "essai", false, app.clock_now())
        .await
        .unwrap();
    assert_eq!((r.inserted, r.updated, r.unchanged), (1, 0, 0));
    assert!(r.written);
    // The same file again changes nothing.
    let again = lieux::read_csv(&bytes, Encoding::Utf8).unwrap();
    let r = lieux::import(app.db(), again, "essai", false, app.clock_now())
        .await
        .unwrap();
    assert_eq!((r.inserted, r.updated, r.unchanged), (0, 0, 1));
    // Export → validates → import → export: identical.
    let first = lieux::export_csv(app.db()).await.unwrap();
    assert!(
        first
            .starts_with("id,pivot,nom,commune,code_postal,code_insee,adresse,complement_adresse,")
    );
    let reread = lieux::read_csv(first.as_bytes(), Encoding::Utf8).unwrap();
    assert!(reread.rejected.is_empty());
    let r = lieux::import(app.db(), reread, "essai", false, app.clock_now())
        .await
        .unwrap();
    assert_eq!(r.unchanged, 1);
    assert_eq!(lieux::export_csv(app.db()).await.unwrap(), first);
    // JSON too.
    let json = lieux::export_json(app.db()).await.unwrap();
    let from_json = lieux::read_json(json.as_bytes()).unwrap();
    assert!(from_json.rejected.is_empty());
    let r = lieux::import(app.db(), from_json, "essai", false, app.clock_now())
        .await
        .unwrap();
    assert_eq!(r.unchanged, 1, "JSON round trip identical");
    assert_eq!(lieux::count(app.db()).await.unwrap(), 1);
});

crate::both_backends!(bad_files_import_nothing, |app: TestApp| async move {
    // Missing required column.
    let no_postcode = b"id,pivot,nom,commune,adresse,date_maj\nx,21890024000015,N,C,A,2024-01-01\n";
    assert_eq!(
        lieux::read_csv(no_postcode, Encoding::Utf8).unwrap_err(),
        FileError::MissingColumns("code_postal".into())
    );
    // A quoted field over two lines of the file is one row of the spreadsheet: the
    // row after it is row 3, as a spreadsheet and every other import number it.
    let bytes = csv(&[
        "lieu-1,21890024000015,\"Médiathèque\nd'Auxerre\",Auxerre,89000,89024,2 rue,,,,2024-05-01,,Essai",
        "lieu-2,21890024000015,Mairie,Sens,8910,89387,1 place,,,,2024-05-01,,Essai",
    ]);
    let read = lieux::read_csv(&bytes, Encoding::Utf8).unwrap();
    let text: Vec<String> = read.rejected.iter().map(|r| r.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.starts_with("ligne 3, champ « code_postal »")),
        "{text:?}"
    );
    // Bad postcode, unknown vocabulary, bad date, duplicated id: every error with its line.
    let bytes = csv(&[
        GOOD,
        "lieu-2,21890024000015,Mairie,Sens,8910,89387,1 place,,,,2024-05-01,,Essai",
        "lieu-3,21890024000015,CCAS,Joigny,89300,89206,3 rue,,,,2024-05-01,Cuisine|Aide aux démarches administratives,Essai",
        "lieu-4,21890024000015,Centre,Avallon,89200,89025,4 rue,,,,01/05/2024,,Essai",
        "lieu-1,21890024000015,Doublon,Auxerre,89000,89024,5 rue,,,,2024-05-01,,Essai",
        "lieu-5,21890024000015,Espace,Tonnerre,89700,89418,6 rue,,,du lundi au vendredi,2024-05-01,,Essai",
    ]);
    let read = lieux::read_csv(&bytes, Encoding::Utf8).unwrap();
    let report = lieux::import(app.db(), read, "essai", false, app.clock_now())
        .await
        .unwrap();
    assert!(!report.written);
    assert_eq!(lieux::count(app.db()).await.unwrap(), 0, "nothing imported");
    let text: Vec<String> = report.rejected.iter().map(|r| r.to_string()).collect();
    let has = |needle: &str| text.iter().any(|t| t.contains(needle));
    assert!(has("ligne 3, champ « code_postal »"), "{text:?}");
    assert!(
        has("ligne 4, champ « services » : valeur hors vocabulaire : « Cuisine »"),
        "{text:?}"
    );
    assert!(has("ligne 5, champ « date_maj »"), "{text:?}");
    assert!(
        has("ligne 6, champ « id » : identifiant « lieu-1 » déjà utilisé ligne 2"),
        "{text:?}"
    );
    assert!(report.summary().contains("rien n'a été enregistré"));
    // Partial: the valid row goes in.
    let read = lieux::read_csv(&bytes, Encoding::Utf8).unwrap();
    let report = lieux::import(app.db(), read, "essai", true, app.clock_now())
        .await
        .unwrap();
    assert_eq!(report.inserted, 1);
    assert_eq!(lieux::count(app.db()).await.unwrap(), 1);
});

crate::both_backends!(
    windows_1252_and_spreadsheet_files,
    |app: TestApp| async move {
        // A spreadsheet file: Windows-1252, « ; » separator, « ; » multi-values in quotes.
        let text = "id;pivot;nom;commune;code_postal;adresse;date_maj;services\n\
                l-1;21890024000015;Médiathèque;Auxerre;89000;2 rue;2024-05-01;\"Aide aux démarches administratives ; Loisirs et créations numériques\"\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
        // Read as UTF-8 (the standard): refused line by line, with the fix.
        let read = lieux::read_csv(&bytes, Encoding::Utf8).unwrap();
        assert_eq!(read.rejected.len(), 1);
        assert_eq!(read.rejected[0].line, 2);
        assert!(read.rejected[0].reason.contains("Médiathèque"));
        assert!(read.rejected[0].reason.contains("UTF-8"));
        let report = lieux::import(app.db(), read, "essai", false, app.clock_now())
            .await
            .unwrap();
        assert!(!report.written);
        // Read as Windows-1252 when asked: imported, multi-values normalised.
        let read = lieux::read_csv(&bytes, Encoding::Windows1252).unwrap();
        assert!(read.notices.iter().any(|n| n.contains("séparateur")));
        assert_eq!(
            read.records[0].get("services"),
            "Aide aux démarches administratives|Loisirs et créations numériques"
        );
        let report = lieux::import(app.db(), read, "essai", false, app.clock_now())
            .await
            .unwrap();
        assert_eq!(report.inserted, 1, "{:?}", report.rejected);
        let exported = lieux::export_csv(app.db()).await.unwrap();
        assert!(exported.contains("Médiathèque"));
        assert!(
            exported.contains("Aide aux démarches administratives|Loisirs et créations numériques")
        );
    }
);

const V01: &str = "../shared/data/lieux/cnfs-2022-schema-v0.1.json";
const FS: &str = "../shared/data/france-services/france-services-2021.geojson";

crate::both_backends!(real_open_data_files_import, |app: TestApp| async move {
    let (Ok(v01), Ok(fs)) = (std::fs::read(V01), std::fs::read(FS)) else {
        assert!(
            std::env::var("CI").is_err(),
            "données de shared/ obligatoires en CI"
        );
        eprintln!("NOTE : données réelles absentes, test ignoré");
        return;
    };
    let mut total = 0;
    for (name, bytes, expected_in, expected_out) in [(V01, &v01, 2723, 10), (FS, &fs, 906, 2)] {
        let read = lieux::read_any(name, bytes, Encoding::Utf8).unwrap();
        let report = lieux::import(app.db(), read, "essai", true, app.clock_now())
            .await
            .unwrap();
        assert_eq!(
            report.inserted, expected_in,
            "{name}: {:?}",
            report.rejected
        );
        let lines: std::collections::BTreeSet<usize> =
            report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines.len(), expected_out, "{name}");
        // Every rejection names a field and a rule of the standard.
        for r in &report.rejected {
            assert!(
                matches!(
                    r.field.as_str(),
                    "telephone" | "code_postal" | "code_insee" | "pivot"
                ),
                "{name}: {r}"
            );
            assert!(r.reason.contains("format attendu"), "{name}: {r}");
        }
        total += report.inserted;
    }
    assert_eq!(lieux::count(app.db()).await.unwrap(), total as i64);
    // The export of the real data validates against the schema and round-trips.
    let csv = lieux::export_csv(app.db()).await.unwrap();
    let read = lieux::read_csv(csv.as_bytes(), Encoding::Utf8).unwrap();
    assert_eq!(read.records.len(), total);
    assert!(read.rejected.is_empty());
    let again = lieux::import(app.db(), read, "essai", false, app.clock_now())
        .await
        .unwrap();
    assert_eq!(again.unchanged, total);
    assert_eq!(lieux::export_csv(app.db()).await.unwrap(), csv);
    // Conversions: v0.1 labels and national programmes, France Services hours.
    let places = lieux::all(app.db()).await.unwrap();
    let schema = relais::lieux::schema::Schema::standard();
    let col = |n: &str| schema.fields.iter().position(|f| f.name == n).unwrap();
    let valserhone = places
        .iter()
        .find(|p| p[col("id")] == "france-services-1")
        .unwrap();
    assert_eq!(valserhone[col("horaires")], "Mo-Fr 09:00-12:00,13:30-17:00");
    assert_eq!(valserhone[col("telephone")], "+33450568749");
    assert_eq!(
        valserhone[col("dispositif_programmes_nationaux")],
        "France Services"
    );
    let cnfs = places
        .iter()
        .find(|p| p[col("id")] == "62592a1d05457b0790816e6c")
        .unwrap();
    assert_eq!(
        cnfs[col("services")],
        "Maîtrise des outils numériques du quotidien|Compréhension du monde numérique"
    );
    assert_eq!(
        cnfs[col("dispositif_programmes_nationaux")],
        "Conseillers numériques"
    );
    assert_eq!(cnfs[col("frais_a_charge")], "Gratuit");
    // Likely duplicates between the two national sources.
    let dups = lieux::duplicates(app.db(), &[]).await.unwrap();
    assert_eq!(dups.len(), 47, "{dups:#?}");
    assert!(dups.iter().all(|d| d.a.source != d.b.source));
    // The public result page stays light with 20 results (issue target: < 30 KB).
    let mut c = app.client();
    let r = c.get("/lieux?lat=48.8566&lon=2.3522&rayon=50").await;
    assert_eq!(r.status, axum::http::StatusCode::OK);
    assert_eq!(r.body.matches("<li class=\"card\">").count(), 20);
    assert!(r.body.len() < 30 * 1024, "{} octets", r.body.len());
    assert!(r.body.contains("Page suivante"));
});

crate::both_backends!(
    api_search_by_commune_radius_and_filters,
    |app: TestApp| async move {
        let bytes = csv(&[
            GOOD,
            "lieu-2,21890024000015,Espace numérique de Sens,Sens,89100,89387,1 place,48.1975,3.2834,Sa 09:00-12:00,2024-05-01,Aide aux démarches administratives,Essai",
            "lieu-3,21890024000015,Mairie d'Appoigny,Appoigny,89380,89013,3 rue,47.875,3.527,Mo-Fr 09:00-12:00,2024-05-01,Loisirs et créations numériques,Essai",
        ]);
        let read = lieux::read_csv(&bytes, Encoding::Utf8).unwrap();
        lieux::import(app.db(), read, "essai", false, app.clock_now())
            .await
            .unwrap();
        let mut c = app.client();
        let json =
            |r: &crate::common::Resp| serde_json::from_str::<serde_json::Value>(&r.body).unwrap();
        // By commune, accents and case ignored: Auxerre first, Appoigny within 10 km.
        let r = c.get("/api/v1/lieux?q=AUXERRE").await;
        assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.body);
        let v = json(&r);
        assert_eq!(v["total"], 2, "{v}");
        assert_eq!(v["lieux"][0]["nom"], "Médiathèque d'Auxerre");
        assert_eq!(v["lieux"][1]["nom"], "Mairie d'Appoigny");
        assert!(v["lieux"][1]["distance_km"].as_f64().unwrap() <= 10.0);
        // A wider radius reaches Sens.
        let v = json(&c.get("/api/v1/lieux?q=89000&rayon=60").await);
        assert_eq!(v["total"], 3);
        // Near coordinates, with a filter on the services vocabulary.
        let v = json(
        &c.get("/api/v1/lieux?lat=47.8&lon=3.57&rayon=60&services=Aide%20aux%20d%C3%A9marches%20administratives")
            .await,
    );
        assert_eq!(v["total"], 2, "{v}");
        // Open now (the test clock: a Friday, 9 h in Paris): Sens opens on Saturdays only.
        let v = json(&c.get("/api/v1/lieux?q=89000&rayon=60&ouvert=1").await);
        assert_eq!(v["total"], 2, "{v}");
        assert!(
            v["lieux"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["ouvert"] == true)
        );
        // Clear errors.
        for bad in [
            "/api/v1/lieux",
            "/api/v1/lieux?lat=47.8",
            "/api/v1/lieux?q=Auxerre&rayon=500",
            "/api/v1/lieux?q=Auxerre&services=Cuisine",
        ] {
            let r = c.get(bad).await;
            assert_eq!(r.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
            assert!(json(&r)["erreur"].as_str().is_some(), "{bad}");
        }
    }
);

const FULL_HEADER: &str = "id,pivot,nom,commune,code_postal,code_insee,adresse,latitude,longitude,telephone,courriels,site_web,horaires,date_maj,services,frais_a_charge,fiche_acces_libre,source";

fn full_csv(rows: &[&str]) -> Vec<u8> {
    let mut s = String::from(FULL_HEADER);
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s.push('\n');
    s.into_bytes()
}

const AUXERRE: &str = "lieu-1,21890024000015,Médiathèque d'Auxerre,Auxerre,89000,89024,2 rue de l'Essai,47.79,3.57,+33386000000,accueil@mediatheque.example.fr,https://mediatheque.example.fr,Mo-Fr 09:00-12:00; Sa 14:00-18:00,2024-05-01,Aide aux démarches administratives|Loisirs et créations numériques,Gratuit,https://acceslibre.beta.gouv.fr/app/89-auxerre/a/bibliotheque/erp/mediatheque/,Essai";
const APPOIGNY: &str = "lieu-3,21890024000015,Mairie d'Appoigny,Appoigny,89380,89013,3 rue,47.875,3.527,,,,Mo-Fr 14:00-17:00,2024-05-01,Loisirs et créations numériques,Payant,,Essai";

async fn place_id(app: &TestApp, source: &str, lieu_id: &str) -> i64 {
    use relais::db::exec::Exec;
    app.db()
        .conn()
        .await
        .unwrap()
        .fetch_optional(
            "SELECT id FROM lieux WHERE source = $1 AND lieu_id = $2",
            relais::args![source, lieu_id],
        )
        .await
        .unwrap()
        .unwrap()
        .int("id")
        .unwrap()
}

crate::both_backends!(
    upload_pages_links_and_duplicates,
    |app: TestApp| async move {
        use axum::http::StatusCode;
        let admin = app.admin().await;
        let mut a = app.login(&admin).await;
        // The upload needs the CSRF token inside the multipart body.
        let file = full_csv(&[AUXERRE, APPOIGNY]);
        let r = a
            .post_multipart(
                "/admin/lieux",
                &[("source", "essai"), ("mode", "strict")],
                ("fichier", "lieux.csv", &file),
                false,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(lieux::count(app.db()).await.unwrap(), 0);
        // A bad file: every error by line and field, nothing imported.
        let bad = full_csv(&[AUXERRE, &APPOIGNY.replace(",89380,", ",8938,")]);
        let r = a
            .post_multipart(
                "/admin/lieux",
                &[("source", "essai"), ("mode", "strict")],
                ("fichier", "lieux.csv", &bad),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(
            r.body.contains("<td>3</td><td>code_postal</td>"),
            "{}",
            r.body
        );
        assert!(
            r.body.contains("rien n&#39;a été enregistré")
                || r.body.contains("rien n'a été enregistré")
        );
        assert_eq!(lieux::count(app.db()).await.unwrap(), 0);
        // Rows without a source of their own and no source given: said, with how
        // many rows, and nothing imported.
        let sourceless = full_csv(&[&AUXERRE.replace(",Essai", ",")]);
        let r = a
            .post_multipart(
                "/admin/lieux",
                &[("source", ""), ("mode", "strict")],
                ("fichier", "lieux.csv", &sourceless),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            crate::common::unescape(&r.body)
                .contains("Indiquez la source : 1 ligne de ce fichier n'en a pas"),
            "{}",
            r.body
        );
        assert_eq!(lieux::count(app.db()).await.unwrap(), 0);
        // No file: a clear message.
        let r = a
            .post_multipart(
                "/admin/lieux",
                &[("source", "essai")],
                ("fichier", "vide.csv", b""),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("Choisissez un fichier"));
        // The good file.
        let r = a
            .post_multipart(
                "/admin/lieux",
                &[("source", "essai"), ("mode", "strict")],
                ("fichier", "lieux.csv", &file),
                true,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("2 ajoutés"), "{}", r.body);
        assert_eq!(lieux::count(app.db()).await.unwrap(), 2);
        // Another source lists the same médiathèque 11 m away: a likely duplicate.
        let hub = full_csv(&[&AUXERRE
            .replace("lieu-1,", "hub-9,")
            .replace("21890024000015", "13002526500013")
            .replace("2 rue de l'Essai", "Place du Marché")
            .replace("Médiathèque d'Auxerre", "MEDIATHEQUE D'AUXERRE")
            .replace("47.79,", "47.7901,")
            .replace(",Essai", ",hub-bourgogne")]);
        let r = a
            .post_multipart(
                "/admin/lieux",
                &[("source", ""), ("mode", "strict")],
                ("fichier", "hub.csv", &hub),
                true,
            )
            .await;
        // Every row carries its source: the form's is not needed.
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let dups = lieux::duplicates(app.db(), &["hub-bourgogne"])
            .await
            .unwrap();
        assert_eq!(dups.len(), 1, "{dups:?}");
        assert_eq!(dups[0].reason, lieux::DuplicateReason::SameNameNearby(11));
        assert!(r.body.contains("même nom, à 11 m"), "{}", r.body);
        // Same SIRET and address from a third source: reported for that reason.
        let third = full_csv(&[&APPOIGNY
            .replace("lieu-3,", "x-3,")
            .replace("Mairie d'Appoigny", "Point numérique")
            .replace(",Essai", ",tiers")]);
        let report = lieux::import(
            app.db(),
            lieux::read_csv(&third, Encoding::Utf8).unwrap(),
            "tiers",
            false,
            app.clock_now(),
        )
        .await
        .unwrap();
        assert_eq!(report.duplicates.len(), 1, "{:?}", report.duplicates);
        assert_eq!(
            report.duplicates[0].reason,
            lieux::DuplicateReason::SameSiretAndAddress
        );

        // The public search page, without an account.
        let mut c = app.client();
        let r = c.get("/lieux").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("Commune ou code postal"));
        assert!(!r.body.contains("<script"), "no JavaScript");
        let r = c.get("/lieux?q=auxerre&frais_a_charge=Gratuit").await;
        assert_eq!(r.status, StatusCode::OK);
        let body = crate::common::unescape(&r.body);
        assert!(body.contains("2 lieux trouvés"), "{body}");
        assert!(body.contains("Médiathèque d'Auxerre"));
        assert!(!body.contains("Mairie d'Appoigny"), "Payant: filtered out");
        assert!(
            body.contains(r#"value="Gratuit" checked"#),
            "the filter stays checked"
        );
        // The test clock is a Friday at 9 h in Paris.
        assert!(body.contains("Ouvert jusqu'à 12 h 00"), "{body}");
        let r = c.get("/lieux?lat=47.79&lon=abc").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(
            crate::common::unescape(&r.body).contains("La latitude et la longitude vont ensemble")
        );

        // A place's page: hours of the week, contacts, accessibility.
        let id = place_id(&app, "Essai", "lieu-1").await;
        let r = c.get(&format!("/lieux/{id}")).await;
        assert_eq!(r.status, StatusCode::OK);
        let body = crate::common::unescape(&r.body);
        for expected in [
            "Ouvert jusqu'à 12 h 00",
            "vendredi",
            "(aujourd'hui)",
            "9 h 00 – 12 h 00",
            "14 h 00 – 18 h 00",
            "<td>Fermé</td>",
            "tel:+33386000000",
            "03 86 00 00 00",
            "mailto:accueil@mediatheque.example.fr",
            "https://acceslibre.beta.gouv.fr/app/89-auxerre/",
            "Aide aux démarches administratives",
            "1er mai 2024",
        ] {
            assert!(body.contains(expected), "{expected} absent : {body}");
        }
        assert!(
            !body.contains("Rattacher"),
            "only administrators link structures"
        );
        assert!(!body.contains("Aidants Connect"));
        assert_eq!(c.get("/lieux/999999").await.status, StatusCode::NOT_FOUND);

        // An administrator links a Relais structure with aidants: the place shows it.
        let sid = app.structure("France Services d'Auxerre").await;
        app.member(sid, relais::domain::Role::Aidant, "aidant-lieu")
            .await;
        let siret: String = {
            use relais::db::exec::Exec;
            app.db()
                .conn()
                .await
                .unwrap()
                .fetch_optional(
                    "SELECT siret FROM structures WHERE id = $1",
                    relais::args![sid],
                )
                .await
                .unwrap()
                .unwrap()
                .text("siret")
                .unwrap()
        };
        let r = a
            .post(
                &format!("/lieux/{id}/structures"),
                &[("siret", "12345678901234")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("Aucune structure Relais n"));
        let r = a
            .post(&format!("/lieux/{id}/structures"), &[("siret", &siret)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let body = crate::common::unescape(&c.get(&format!("/lieux/{id}")).await.body);
        assert!(body.contains("Structures Relais dans ce lieu"), "{body}");
        assert!(
            body.contains("France Services d'Auxerre : 1 aidant Aidants Connect"),
            "{body}"
        );
        assert!(body.contains("Aidants Connect"));
        let body = crate::common::unescape(&c.get("/lieux?q=89000").await.body);
        assert!(body.contains(r#"<span class="tag">Aidants Connect</span>"#));
        let r = a
            .post(&format!("/lieux/{id}/structures/{sid}/detacher"), &[])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let body = crate::common::unescape(&c.get(&format!("/lieux/{id}")).await.body);
        assert!(!body.contains("Structures Relais dans ce lieu"));

        // Open-data exports.
        let r = c.get("/lieux/export.csv").await;
        assert_eq!(r.status, StatusCode::OK);
        // The standard's format: commas, no byte-order mark, CRLF.
        assert!(r.body.starts_with("id,pivot,nom,"));
        assert!(r.body.ends_with("\r\n") && !r.body.replace("\r\n", "").contains('\n'));
        let r = c.get("/lieux/export.json").await;
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&r.body)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            4
        );
    }
);

crate::both_backends!(
    the_demo_setup_signs_in_and_finds_its_places,
    |app: TestApp| async move {
        let accounts = relais::demo::seed(app.db(), app.clock_now()).await.unwrap();
        assert_eq!(accounts.len(), 5);
        // Each printed account signs in with its password and a code of its key.
        for a in &accounts {
            let user = crate::common::User {
                id: 0,
                email: a.email.to_owned(),
                password: a.password.clone(),
                secret: a.totp_secret.clone(),
            };
            let mut c = app.login(&user).await;
            if a.email.starts_with("pilotage@") {
                let page = c.get("/pilotage").await;
                assert!(page.contains("Pilotage — Yonne (89)"), "{}", page.body);
            }
        }
        // The directory holds the three fictitious places, the structure hosted at
        // the first: found by commune, with its référent and aidant.
        let mut c = app.client();
        let r = c.get("/lieux?q=Auxerre&rayon=10").await;
        let body = crate::common::unescape(&r.body);
        assert!(body.contains("Aller aux résultats (3)"), "{body}");
        assert!(body.contains("Médiathèque de démonstration (fictive)"));
        let first = place_id(&app, "demonstration", "demo-1").await;
        let page = c.get(&format!("/lieux/{first}")).await;
        let page = crate::common::unescape(&page.body);
        assert!(
            page.contains("Structure de démonstration (fictive) : 2 aidants Aidants Connect"),
            "{page}"
        );
        assert!(page.contains("Des aidants habilités peuvent y faire des démarches"));
        // Its type by name (`RFS` in the data), never the code.
        assert!(
            page.contains("<p class=\"hint\">France Services</p>"),
            "{page}"
        );
        assert!(!page.contains("RFS"));
        // A directory already filled is never touched by a second demo.
        let again = relais::demo::seed(app.db(), app.clock_now()).await;
        assert!(again.is_err(), "the demo structure exists already");
        let all: serde_json::Value =
            serde_json::from_str(&relais::lieux::export_json(app.db()).await.unwrap()).unwrap();
        assert_eq!(all.as_array().map(Vec::len), Some(3));
    }
);

crate::both_backends!(
    the_search_knows_the_communes_of_france,
    |app: TestApp| async move {
        // The demonstration's three places are in Auxerre (89024).
        relais::demo::seed(app.db(), app.clock_now()).await.unwrap();
        let mut c = app.client();
        // A misspelt commune: said unknown, with the right one to click.
        let r = c.get("/lieux?q=Auxere&rayon=10&ouvert=1").await;
        let body = crate::common::unescape(&r.body);
        assert!(body.contains("Commune inconnue : « Auxere »"), "{body}");
        assert!(body.contains("Vouliez-vous dire"));
        let before = body.split("\">Auxerre (89)</a>").next().unwrap();
        let link = before.rsplit("href=\"").next().unwrap();
        assert!(
            link.contains("q=Auxerre+%2889%29") && link.contains("ouvert=1"),
            "{link}"
        );
        let r = c.get("/lieux?q=Auxerre+%2889%29&rayon=10").await;
        assert!(crate::common::unescape(&r.body).contains("3 lieux trouvés pour Auxerre (89)"));
        // Spelt otherwise than the places' source (« St-Georges » for
        // Saint-Georges-sur-Baulche, next to Auxerre, without a place of its own):
        // its intercommunality's places are around.
        let r = c.get("/lieux?q=St+Georges+sur+Baulche&rayon=10").await;
        let body = crate::common::unescape(&r.body);
        assert!(
            body.contains("3 lieux trouvés pour Saint-Georges-sur-Baulche (89)"),
            "{body}"
        );
        // A known commune far from any place: no place, and no larger distance
        // offered (it would find nothing either).
        let r = c.get("/lieux?q=Brest&rayon=10").await;
        let body = crate::common::unescape(&r.body);
        assert!(body.contains("Aucun lieu trouvé pour Brest (29)"), "{body}");
        assert!(!body.contains("Chercher à 50 km"));
        // Perrigny, next to Auxerre, has no place: the places of its
        // intercommunality (Auxerre's) are around it.
        let r = c.get("/lieux?q=Perrigny+%2889%29&rayon=10").await;
        let body = crate::common::unescape(&r.body);
        assert!(
            body.contains("3 lieux trouvés pour Perrigny (89)"),
            "{body}"
        );
        // Eleven kilometres north of Auxerre within 5 km: nothing, larger
        // distances offered, and the first one finds the three places.
        let r = c.get("/lieux?lat=47.9&lon=3.57&rayon=5").await;
        let body = crate::common::unescape(&r.body);
        assert!(body.contains("Aucun lieu trouvé"), "{body}");
        let before = body.split("\">Chercher à 20 km</a>").next().unwrap();
        let wider = before.rsplit("href=\"").next().unwrap().to_owned();
        assert!(
            wider.starts_with("/lieux?") && wider.contains("rayon=20"),
            "{wider}"
        );
        let r = c.get(&wider).await;
        assert!(
            crate::common::unescape(&r.body).contains("3 lieux trouvés"),
            "{wider}"
        );
    }
);
