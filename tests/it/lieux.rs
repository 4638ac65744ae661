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
    assert!(lieux::validate(&read.records).is_empty());
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
    assert!(reread.rejected.is_empty() && lieux::validate(&reread.records).is_empty());
    let r = lieux::import(app.db(), reread, "essai", false, app.clock_now())
        .await
        .unwrap();
    assert_eq!(r.unchanged, 1);
    assert_eq!(lieux::export_csv(app.db()).await.unwrap(), first);
    // JSON too.
    let json = lieux::export_json(app.db()).await.unwrap();
    let from_json = lieux::read_json(json.as_bytes()).unwrap();
    assert!(lieux::validate(&from_json.records).is_empty());
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
    assert!(lieux::validate(&read.records).is_empty());
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
