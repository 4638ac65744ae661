//! Mediators' activity reports (CRA): the pages a mediator uses, the rules of the
//! form, the statistics against a recount from the raw rows, the people's
//! retention, and who may see what.

use std::collections::{BTreeMap, HashMap, HashSet};

use relais::activites::stats::{self, Filter, Scope};
use relais::activites::{self, Counters, Kind, Report};
use relais::domain::Role;

use crate::common::{TestApp, spreadsheet};

const PLACE: &str = "id,pivot,nom,commune,code_postal,code_insee,adresse,latitude,longitude,horaires,date_maj,services,source\nlieu-cra,21890024000015,Médiathèque d'Auxerre,Auxerre,89000,89024,2 rue de l'Essai,47.79,3.57,Mo-Fr 09:00-12:00,2024-05-01,Aide aux démarches administratives,Essai\n";

async fn place(app: &TestApp) -> i64 {
    let read = relais::lieux::read_csv(PLACE.as_bytes(), relais::lieux::Encoding::Utf8).unwrap();
    relais::lieux::import(app.db(), read, "essai", false, app.clock_now())
        .await
        .unwrap();
    app.db()
        .fetch_one(
            "SELECT id FROM lieux WHERE lieu_id = 'lieu-cra'",
            relais::args![],
        )
        .await
        .unwrap()
        .int("id")
        .unwrap()
}

/// The cells of a worksheet as text, as a spreadsheet shows them.
fn read_xlsx(bytes: &[u8], sheet: &str) -> Vec<Vec<String>> {
    use calamine::Reader as _;
    let mut book =
        calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("un classeur XLSX");
    let range = book.worksheet_range(sheet).expect("la feuille");
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

async fn c_post_status(c: &mut crate::common::Client, path: &str) -> u16 {
    c.post(path, &[]).await.status.as_u16()
}

fn today(app: &TestApp) -> String {
    activites::date_iso(activites::today(app.clock_now()))
}

fn id_after(location: &str, prefix: &str) -> i64 {
    location
        .strip_prefix(prefix)
        .and_then(|r| r.split(['?', '/']).next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{location}"))
}

crate::both_backends!(
    a_mediator_records_activities_and_reads_statistics,
    |app: TestApp| async move {
        let a = app.structure("Espace numérique A").await;
        let mediator = app.member(a, Role::Mediateur, "mediatrice").await;
        let colleague = app.member(a, Role::Mediateur, "collegue").await;
        let aidant = app.member(a, Role::Aidant, "aidant").await;
        let lieu = place(&app).await;
        let day = today(&app);

        // Roles: a mediator has no mandates; an aidant has no activity reports.
        let mut m = app.login(&mediator).await;
        assert_eq!(m.get("/activites").await.status, 200);
        assert_eq!(m.get("/usagers").await.status, 403);
        assert_eq!(m.get("/mandats/nouveau").await.status, 403);
        let mut ai = app.login(&aidant).await;
        assert_eq!(ai.get("/activites").await.status, 403);

        // Places of activity, from the directory.
        let r = m.get("/mediateur/lieux?commune=89000").await;
        assert!(
            r.contains("Médiathèque d&#39;Auxerre") || r.contains("Médiathèque d'Auxerre"),
            "{}",
            r.body
        );
        let r = m
            .post("/mediateur/lieux", &[("lieu", &lieu.to_string())])
            .await;
        assert_eq!(r.location(), "/mediateur/lieux?info=lieu-ajoute");
        let r = m.post("/mediateur/lieux", &[("lieu", "999999")]).await;
        assert_eq!(r.status, 422);

        // A tracked person.
        let r = m
            .post(
                "/beneficiaires/nouveau",
                &[
                    ("prenom", "Marie"),
                    ("nom", "Dupont"),
                    ("annee_naissance", "1950"),
                    ("genre", "feminin"),
                    ("statut_social", "retraite"),
                    ("commune", "Auxerre"),
                ],
            )
            .await;
        let person = id_after(r.location(), "/beneficiaires/");
        let r = m
            .post(
                "/beneficiaires/nouveau",
                &[("prenom", "Jean"), ("annee_naissance", "1850")],
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.contains("Saisissez le nom."));
        assert!(r.contains("entre 1900 et"));

        // The individual form proposes the only place; a report in a few fields.
        let r = m.get("/activites/individuel/nouveau").await;
        assert!(
            r.contains(&format!("<option value=\"{lieu}\" selected>")),
            "{}",
            r.body
        );
        let person_s = person.to_string();
        let lieu_s = lieu.to_string();
        let individual = [
            ("beneficiaire", person_s.as_str()),
            ("date", day.as_str()),
            ("duree", "30"),
            ("lieu_type", "lieu_activite"),
            ("lieu", lieu_s.as_str()),
            ("materiel", "ordinateur"),
            ("thematique", "email"),
            ("thematique", "aide_aux_demarches_administratives"),
            ("thematique_admin", "social"),
            ("autonomie", "partiellement_autonome"),
            ("oriente", "non"),
        ];
        let r = m.post("/activites/individuel/nouveau", &individual).await;
        assert_eq!(r.location(), "/activites?info=activite-enregistree");
        // The same person the same day: recorded, and flagged.
        let r = m.post("/activites/individuel/nouveau", &individual).await;
        assert_eq!(r.location(), "/activites?info=activite-doublon");
        let list = m.get("/activites").await;
        assert_eq!(list.body.matches("Doublon possible").count(), 2);
        // The next form remembers the duration and the material.
        let r = m.get("/activites/individuel/nouveau").await;
        assert!(r.contains("id=\"duree-30\" name=\"duree\" value=\"30\" checked"));
        assert!(
            r.contains("id=\"materiel-ordinateur\" name=\"materiel\" value=\"ordinateur\" checked")
        );

        // A workshop: one tracked participant and five anonymous ones.
        let workshop = [
            ("titre", "Premiers pas sur la tablette"),
            ("date", day.as_str()),
            ("duree", "120"),
            ("lieu_type", "domicile"),
            ("commune", "Auxerre (89)"),
            ("thematique", "prendre_en_main_du_materiel"),
            ("participant", person_s.as_str()),
            ("anon_total", "5"),
            ("anon_deja", "2"),
            ("genre_feminin", "3"),
            ("age_soixante_dix_plus", "4"),
        ];
        let r = m.post("/activites/collectif/nouveau", &workshop).await;
        assert_eq!(
            r.location(),
            "/activites?info=activite-enregistree",
            "{}",
            r.body.split("error-summary").nth(1).unwrap_or("")
        );
        // A breakdown above the total is refused beside its field, nothing written.
        let mut wrong = workshop.to_vec();
        wrong.push(("genre_masculin", "3"));
        let r = m.post("/activites/collectif/nouveau", &wrong).await;
        assert_eq!(r.status, 422);
        assert!(r.contains("La répartition par genre compte 6 personnes"));
        assert!(r.contains("<title>Erreur :"));

        let me = mediator.id;
        let year = activites::today(app.clock_now()) / 10_000;
        let f = Filter {
            scope: Scope::Mediateur(me),
            from: year * 100 + 1,
            to: year * 100 + 12,
            kind: None,
            lieu_id: None,
        };
        let s = stats::compute(app.db(), &f).await.unwrap();
        assert_eq!(s.totals.activites, 3);
        // 1 + 1 + (1 tracked + 5 anonymous): accompaniments, not reports.
        assert_eq!(s.totals.accompagnements, 8);
        assert_eq!(s.totals.personnes, 6);
        // Marie (once, however many times she came) and the 3 anonymous newcomers.
        assert_eq!(s.totals.nouveaux, 4);
        assert_eq!(s.totals.minutes, 180);
        let genre = s.distributions.iter().find(|d| d.key == "genre").unwrap();
        let count = |slug: &str| genre.rows.iter().find(|r| r.slug == slug).unwrap().n;
        assert_eq!(
            (count("feminin"), count("masculin"), count("non_communique")),
            (6, 0, 2)
        );
        assert_eq!(genre.rows.iter().map(|r| r.pct).sum::<i64>(), 100);

        // The page shows the same figures, with charts and tables; the CSV opens.
        let page = m.get("/activites/statistiques").await;
        assert_eq!(page.status, 200);
        let only = m
            .get("/activites/statistiques?thematique=prendre_en_main_du_materiel")
            .await;
        assert!(
            only.contains("<strong>6</strong> accompagnements"),
            "{}",
            only.body
        );
        assert_eq!(
            m.get("/activites/statistiques?thematique=astrologie")
                .await
                .status,
            422
        );
        assert!(page.contains("<strong>8</strong> accompagnements"));
        assert!(page.contains("<svg class=\"chart\""));
        let csv = m.get("/activites/statistiques.csv").await;
        let rows = spreadsheet(&csv.body);
        assert!(
            rows.iter()
                .any(|r| r[1] == "Accompagnements" && r[2] == "8"),
            "{rows:?}"
        );

        // One row per accompaniment: 1 + 1 + 6, read back as a spreadsheet reads it.
        let xlsx = m.get_bytes("/activites/export.xlsx").await;
        let sheet = read_xlsx(&xlsx, "Accompagnements");
        assert_eq!(sheet.len(), 9, "{sheet:?}");
        assert_eq!(sheet[0][0], "Date");
        assert_eq!(sheet.iter().filter(|r| r[14] == "Anonyme").count(), 5);
        assert_eq!(
            sheet
                .iter()
                .filter(|r| r[14].starts_with("Suivi n°"))
                .count(),
            3
        );
        let anonymous_women = sheet
            .iter()
            .filter(|r| r[14] == "Anonyme" && r[16] == "Féminin")
            .count();
        assert_eq!(anonymous_women, 3);
        assert!(
            sheet
                .iter()
                .all(|r| !r.iter().any(|c| c.contains("Dupont"))),
            "no name leaves"
        );
        let csv = m.get("/activites/export.csv").await;
        assert_eq!(spreadsheet(&csv.body).len(), 9);
        // The downloads follow the page's thématique filter: the workshop's six.
        let workshop_only = m
            .get_bytes("/activites/export.xlsx?thematique=prendre_en_main_du_materiel")
            .await;
        assert_eq!(read_xlsx(&workshop_only, "Accompagnements").len(), 7);
        let csv = m
            .get("/activites/export.csv?thematique=prendre_en_main_du_materiel")
            .await;
        assert_eq!(spreadsheet(&csv.body).len(), 7);
        let stats_book = m.get_bytes("/activites/statistiques.xlsx").await;
        let totals = read_xlsx(&stats_book, "Totaux");
        assert!(
            totals
                .iter()
                .any(|r| r[0] == "Accompagnements" && r[1] == "8"),
            "{totals:?}"
        );

        // The structure's référent reads its figures (not another structure's); anyone
        // reads the national page, by département.
        let referent = app.member(a, Role::Referent, "referente-cra").await;
        let mut rf = app.login(&referent).await;
        let page = rf.get(&format!("/structures/{a}/statistiques")).await;
        assert!(
            page.contains("<strong>8</strong> accompagnements"),
            "{}",
            page.body
        );
        assert!(!page.contains("Dupont"));
        // Filtered on one of its mediators.
        let one = rf
            .get(&format!(
                "/structures/{a}/statistiques?mediateur={}",
                mediator.id
            ))
            .await;
        assert!(
            one.contains("<strong>8</strong> accompagnements"),
            "{}",
            one.body
        );
        assert!(one.contains(&format!("<option value=\"{}\" selected>", mediator.id)));
        let other = rf
            .get(&format!(
                "/structures/{a}/statistiques?mediateur={}",
                colleague.id
            ))
            .await;
        assert!(
            other.contains("<strong>0</strong> accompagnements"),
            "{}",
            other.body
        );
        let yonne = app.client().get("/statistiques?departement=89").await;
        assert!(yonne.contains("— Yonne (89)"), "{}", yonne.body);
        assert!(yonne.contains("<strong>8</strong> accompagnements"));
        // By région: the Yonne's, another one, an unknown code.
        let bfc = app.client().get("/statistiques?region=27").await;
        assert!(bfc.contains("— Bourgogne-Franche-Comté"), "{}", bfc.body);
        assert!(bfc.contains("<strong>8</strong> accompagnements"));
        assert!(
            bfc.contains("<option value=\"27\" selected>"),
            "the région stays chosen"
        );
        let corse = app.client().get("/statistiques?region=94").await;
        assert!(corse.contains("<strong>0</strong> accompagnements"));
        let unknown = app.client().get("/statistiques?region=99").await;
        assert_eq!(unknown.status, 422);
        assert!(unknown.contains("Région inconnue"));
        let national = crate::common::unescape(&app.client().get("/statistiques").await.body);
        assert!(
            national.contains(
                "Bourgogne-Franche-Comté</a></th><td data-label=\"Accompagnements\">8</td>"
            ),
            "{national}"
        );
        // By commune and intercommunality: the workshop was at home in Auxerre, the
        // individual ones at the place in Auxerre.
        let local = crate::common::unescape(
            &app.client()
                .get("/statistiques?commune=Auxerre+%2889%29")
                .await
                .body,
        );
        assert!(
            local.contains("Auxerre (89)</th><td data-label=\"Accompagnements\">8</td>"),
            "{local}"
        );
        assert!(local.contains("L'intercommunalité de Auxerre ("), "{local}");
        let sens = crate::common::unescape(
            &app.client()
                .get("/statistiques?commune=Sens+%2889%29")
                .await
                .body,
        );
        assert!(
            sens.contains("Sens (89)</th><td data-label=\"Accompagnements\">0</td>"),
            "{sens}"
        );
        let elsewhere = app.client().get("/statistiques?departement=2A").await;
        assert!(
            elsewhere.contains("<strong>0</strong> accompagnements"),
            "{}",
            elsewhere.body
        );
        assert_eq!(
            app.client()
                .get("/statistiques?departement=999")
                .await
                .status,
            422
        );
        let public = app.client().get("/statistiques").await;
        assert_eq!(public.status, 200);
        assert!(
            public.contains("<strong>8</strong> accompagnements"),
            "{}",
            public.body
        );
        assert!(
            public.contains("Yonne (89)</th><td data-label=\"Accompagnements\">8</td>"),
            "{}",
            public.body
        );

        // A private read-only link: opens without an account, until it is deleted.
        let r = m.post("/activites/partages", &[]).await;
        assert_eq!(r.status, 200);
        let body = crate::common::unescape(&r.body);
        let link = body
            .split("/partage/")
            .nth(1)
            .map(|rest| rest.chars().take(64).collect::<String>())
            .unwrap();
        let mut anyone = app.client();
        let shared = anyone.get(&format!("/partage/{link}")).await;
        assert!(
            shared.contains("<strong>8</strong> accompagnements"),
            "{}",
            shared.body
        );
        assert!(!shared.contains("Dupont") && !shared.contains("export.xlsx"));
        let page = m.get("/activites/statistiques").await;
        let pid = crate::common::extract_between(
            &page.body,
            "action=\"/activites/partages/",
            "/supprimer",
        )
        .unwrap();
        assert_eq!(
            c_post_status(&mut m, &format!("/activites/partages/{pid}/supprimer")).await,
            303
        );
        assert_eq!(anyone.get(&format!("/partage/{link}")).await.status, 404);

        // Editing Marie's genre moves her accompaniments in the statistics.
        let r = m
            .post(
                &format!("/beneficiaires/{person}/modifier"),
                &[
                    ("prenom", "Marie"),
                    ("nom", "Dupont"),
                    ("genre", "masculin"),
                    ("annee_naissance", "1950"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let s = stats::compute(app.db(), &f).await.unwrap();
        let genre = s.distributions.iter().find(|d| d.key == "genre").unwrap();
        let count = |slug: &str| genre.rows.iter().find(|r| r.slug == slug).unwrap().n;
        assert_eq!((count("feminin"), count("masculin")), (3, 3));

        // Another mediator of the same structure sees none of it.
        let mut c = app.login(&colleague).await;
        let ids: Vec<i64> = app
            .db()
            .fetch_all("SELECT id FROM activites ORDER BY id", relais::args![])
            .await
            .unwrap()
            .iter()
            .map(|r| r.int("id").unwrap())
            .collect();
        for id in &ids {
            assert_eq!(c.get(&format!("/activites/{id}")).await.status, 404);
            assert_eq!(
                c.post(
                    &format!("/activites/{id}/supprimer"),
                    &[("confirmer", "oui")]
                )
                .await
                .status,
                404
            );
        }
        assert_eq!(c.get(&format!("/beneficiaires/{person}")).await.status, 404);
        assert!(!c.get("/beneficiaires").await.contains("Dupont"));

        // Deleting Marie's first accompaniment: she is still new this year (her next
        // one); deleting all of them: she no longer counts.
        for id in &ids {
            let r = m
                .post(
                    &format!("/activites/{id}/supprimer"),
                    &[("confirmer", "oui")],
                )
                .await;
            assert_eq!(r.location(), "/activites?info=activite-supprimee");
            let s = stats::compute(app.db(), &f).await.unwrap();
            let left = ids.iter().filter(|x| *x > id).count();
            let expected_new = match left {
                2 | 1 => 4,
                _ => 0,
            };
            assert_eq!(s.totals.nouveaux, expected_new, "after deleting {id}");
        }
        let empty: i64 = app
            .db()
            .fetch_one(
                "SELECT COUNT(*) AS n FROM activites_cellules",
                relais::args![],
            )
            .await
            .unwrap()
            .int("n")
            .unwrap();
        assert_eq!(empty, 0, "no aggregate left once every report is deleted");

        // Deleting a person's identity keeps nothing that names them.
        let r = m
            .post(
                &format!("/beneficiaires/{person}/supprimer"),
                &[("confirmer", "oui")],
            )
            .await;
        assert_eq!(r.location(), "/beneficiaires?info=beneficiaire-supprime");
        let row = app
            .db()
            .fetch_one(
                "SELECT prenom, nom, genre, annee_naissance FROM beneficiaires WHERE id = $1",
                relais::args![person],
            )
            .await
            .unwrap();
        assert_eq!(row.text("nom").unwrap(), "");
        assert_eq!(row.opt_int("annee_naissance").unwrap(), Some(1950));
    }
);

/// A small deterministic generator (no dependency).
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
    fn pick<'a>(&mut self, list: &'a [(&'static str, &'static str)]) -> &'a str {
        list[usize::try_from(self.next(list.len() as u64)).unwrap()].0
    }
}

crate::both_backends!(
    statistics_equal_a_recount_of_the_raw_rows,
    |app: TestApp| async move {
        use relais::activites::vocab;
        let a = app.structure("Structure recomptée").await;
        let m = app.member(a, Role::Mediateur, "recompte").await;
        let now = app.clock_now();
        let mut rng = Rng(42);
        let mut people = Vec::new();
        for i in 0..12 {
            let f = relais::activites::beneficiaires::Fields {
                prenom: format!("P{i}"),
                nom: "Essai".into(),
                genre: rng.pick(vocab::GENRES).to_owned(),
                statut_social: rng.pick(vocab::STATUTS).to_owned(),
                annee_naissance: Some(1930 + i64::try_from(rng.next(80)).unwrap()),
                ..Default::default()
            };
            people.push(
                relais::activites::beneficiaires::create(app.db(), m.id, &f, now)
                    .await
                    .unwrap(),
            );
        }
        let mut ids = Vec::new();
        for _ in 0..90 {
            let kind = if rng.next(3) == 0 {
                Kind::Collectif
            } else {
                Kind::Individuel
            };
            let month = 1 + rng.next(12);
            let date = 20_250_000 + i64::try_from(month * 100 + 1 + rng.next(28)).unwrap();
            let mut participants = Vec::new();
            let mut anon = Counters::none();
            match kind {
                Kind::Individuel => {
                    if rng.next(2) == 0 {
                        participants.push(people[usize::try_from(rng.next(12)).unwrap()]);
                    } else {
                        anon.total = 1;
                        anon.deja = i64::try_from(rng.next(2)).unwrap();
                    }
                }
                Kind::Collectif => {
                    for p in &people {
                        if rng.next(4) == 0 {
                            participants.push(*p);
                        }
                    }
                    anon.total = i64::try_from(rng.next(8)).unwrap();
                    anon.deja = anon.total / 2;
                    anon.genre[1] = anon.total / 3;
                    anon.age[6] = anon.total / 2;
                    if participants.is_empty() && anon.total == 0 {
                        anon.total = 1;
                    }
                }
            }
            let report = Report {
                kind,
                date,
                duree: 15 * i64::try_from(1 + rng.next(10)).unwrap(),
                lieu_type: "a_distance".into(),
                lieu_id: None,
                commune_insee: String::new(),
                materiel: vec![rng.pick(vocab::MATERIELS).to_owned()],
                thematiques: vec![rng.pick(vocab::THEMATIQUES).to_owned()],
                thematiques_admin: Vec::new(),
                precisions: String::new(),
                tags: Vec::new(),
                notes: String::new(),
                autonomie: String::new(),
                orientation: String::new(),
                titre: if kind == Kind::Collectif {
                    "Atelier".into()
                } else {
                    String::new()
                },
                niveau: String::new(),
                participants,
                anonymes: anon,
                mandat_id: None,
                pass_code: String::new(),
            };
            ids.push(
                activites::record(app.db(), m.id, a, &report, now)
                    .await
                    .unwrap()
                    .id,
            );
        }
        // Some edits (another month, other people) and deletions.
        for (n, id) in ids.iter().enumerate() {
            if n % 7 == 0 {
                activites::delete(app.db(), m.id, *id).await.unwrap();
            } else if n % 5 == 0 {
                let mut s = activites::get(app.db(), m.id, *id).await.unwrap().unwrap();
                s.report.date = 20_250_115 + i64::try_from(rng.next(10)).unwrap();
                if s.report.kind == Kind::Individuel && !s.report.participants.is_empty() {
                    s.report.participants = vec![people[usize::try_from(rng.next(12)).unwrap()]];
                }
                activites::update(app.db(), m.id, *id, &s.report, now)
                    .await
                    .unwrap();
            }
        }
        // A person's genre changes after the fact.
        let mut f = relais::activites::beneficiaires::get(app.db(), m.id, people[0])
            .await
            .unwrap()
            .unwrap()
            .fields;
        f.genre = "masculin".into();
        relais::activites::beneficiaires::update(app.db(), m.id, people[0], &f, now)
            .await
            .unwrap();

        // The recount, from the raw rows.
        let mut genre_of = HashMap::new();
        for p in &people {
            let b = relais::activites::beneficiaires::get(app.db(), m.id, *p)
                .await
                .unwrap()
                .unwrap();
            genre_of.insert(*p, b.fields.genre.clone());
        }
        let mut stored = Vec::new();
        for id in &ids {
            if let Some(s) = activites::get(app.db(), m.id, *id).await.unwrap() {
                stored.push(s);
            }
        }
        for (from, to) in [(202501, 202512), (202503, 202505), (202511, 202511)] {
            let f = Filter {
                scope: Scope::Mediateur(m.id),
                from,
                to,
                kind: None,
                lieu_id: None,
            };
            let s = stats::compute(app.db(), &f).await.unwrap();
            let in_period: Vec<_> = stored
                .iter()
                .filter(|s| (from..=to).contains(&(s.report.date / 100)))
                .collect();
            let acc: i64 = in_period.iter().map(|s| s.report.accompagnements()).sum();
            let anon: i64 = in_period.iter().map(|s| s.report.anonymes.total).sum();
            let tracked: HashSet<i64> = in_period
                .iter()
                .flat_map(|s| s.report.participants.clone())
                .collect();
            let mut first: HashMap<i64, (i64, i64)> = HashMap::new();
            for s in &stored {
                for p in &s.report.participants {
                    let e = first.entry(*p).or_insert((s.report.date, s.id));
                    if (s.report.date, s.id) < *e {
                        *e = (s.report.date, s.id);
                    }
                }
            }
            let new_tracked = first
                .values()
                .filter(|(d, _)| (from..=to).contains(&(d / 100)))
                .count() as i64;
            let new_anon: i64 = in_period
                .iter()
                .map(|s| s.report.anonymes.total - s.report.anonymes.deja)
                .sum();
            assert_eq!(s.totals.activites, in_period.len() as i64, "{from}-{to}");
            assert_eq!(s.totals.accompagnements, acc);
            assert_eq!(s.totals.personnes, tracked.len() as i64 + anon);
            assert_eq!(s.totals.nouveaux, new_tracked + new_anon, "{from}-{to}");
            assert_eq!(
                s.totals.minutes,
                in_period.iter().map(|s| s.report.duree).sum::<i64>()
            );
            let mut themes: BTreeMap<String, i64> = BTreeMap::new();
            let mut genres: BTreeMap<String, i64> = BTreeMap::new();
            for s in &in_period {
                for t in &s.report.thematiques {
                    *themes.entry(t.clone()).or_default() += s.report.accompagnements();
                }
                for p in &s.report.participants {
                    *genres.entry(genre_of[p].clone()).or_default() += 1;
                }
                let a = &s.report.anonymes;
                *genres.entry("feminin".into()).or_default() += a.genre[1];
                *genres.entry("masculin".into()).or_default() += a.genre[0];
                *genres.entry("non_communique".into()).or_default() += a.remainder(&a.genre);
            }
            for d in &s.distributions {
                let expected = match d.key {
                    "thematique" => &themes,
                    "genre" => &genres,
                    _ => continue,
                };
                for r in &d.rows {
                    assert_eq!(
                        r.n,
                        expected.get(&r.slug).copied().unwrap_or(0),
                        "{} {} {from}-{to}",
                        d.key,
                        r.slug
                    );
                }
            }
        }
        // A thématique filter recounts from the reports: same figures as a recount here.
        for t in ["email", "sante", "bureautique"] {
            let f = Filter {
                scope: Scope::Mediateur(m.id),
                from: 202501,
                to: 202512,
                kind: None,
                lieu_id: None,
            };
            let s = stats::compute_for_thematique(app.db(), &f, t)
                .await
                .unwrap()
                .unwrap();
            let with: Vec<_> = stored
                .iter()
                .filter(|s| s.report.thematiques.iter().any(|x| x == t))
                .collect();
            assert_eq!(s.totals.activites, with.len() as i64, "{t}");
            assert_eq!(
                s.totals.accompagnements,
                with.iter().map(|s| s.report.accompagnements()).sum::<i64>(),
                "{t}"
            );
            let tracked: HashSet<i64> = with
                .iter()
                .flat_map(|s| s.report.participants.clone())
                .collect();
            let anon: i64 = with.iter().map(|s| s.report.anonymes.total).sum();
            assert_eq!(s.totals.personnes, tracked.len() as i64 + anon, "{t}");
            let theme = s
                .distributions
                .iter()
                .find(|d| d.key == "thematique")
                .unwrap();
            assert_eq!(
                theme.rows.iter().find(|r| r.slug == t).unwrap().n,
                s.totals.accompagnements
            );
        }
        let p = stats::compute(
            app.db(),
            &Filter {
                scope: Scope::Structure(a),
                from: 202501,
                to: 202512,
                kind: None,
                lieu_id: None,
            },
        )
        .await
        .unwrap();
        let q = stats::compute(
            app.db(),
            &Filter {
                scope: Scope::Mediateur(m.id),
                from: 202501,
                to: 202512,
                kind: None,
                lieu_id: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(p.totals.accompagnements, q.totals.accompagnements);
        // Territories read the coarse aggregates: same figures, distributions included.
        let dep: String = app
            .db()
            .fetch_one("SELECT departement FROM activites LIMIT 1", relais::args![])
            .await
            .unwrap()
            .text("departement")
            .unwrap();
        assert!(
            !dep.is_empty(),
            "at a distance, the structure's département"
        );
        let commune: String = app
            .db()
            .fetch_one(
                "SELECT commune_insee FROM activites LIMIT 1",
                relais::args![],
            )
            .await
            .unwrap()
            .text("commune_insee")
            .unwrap();
        let region = relais::territoires::get()
            .region_of(&dep)
            .unwrap()
            .to_owned();
        let elsewhere = if region == "94" { "27" } else { "94" };
        let corsica = stats::compute(
            app.db(),
            &Filter {
                scope: Scope::Region(elsewhere.into()),
                from: 202501,
                to: 202512,
                kind: None,
                lieu_id: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(corsica.totals.accompagnements, 0, "another région");
        for scope in [
            Scope::Departement(dep),
            Scope::Region(region),
            Scope::National,
            Scope::Communes(vec![commune, "75056".into()]),
        ] {
            let t = stats::compute(
                app.db(),
                &Filter {
                    scope,
                    from: 202501,
                    to: 202512,
                    kind: None,
                    lieu_id: None,
                },
            )
            .await
            .unwrap();
            assert_eq!(t.totals.accompagnements, q.totals.accompagnements);
            assert_eq!(t.totals.nouveaux, q.totals.nouveaux);
            assert_eq!(t.totals.personnes, q.totals.personnes);
            assert_eq!(t.months, q.months);
            for (a, b) in t.distributions.iter().zip(q.distributions.iter()) {
                assert_eq!(a.rows, b.rows, "{}", a.key);
            }
        }
    }
);

crate::both_backends!(
    identities_are_deleted_after_two_years_without_activity,
    |app: TestApp| async move {
        let a = app.structure("Structure conservation").await;
        let m = app.member(a, Role::Mediateur, "conservation").await;
        let now = app.clock_now();
        let mk = |nom: &str| relais::activites::beneficiaires::Fields {
            prenom: "Paul".into(),
            nom: nom.into(),
            genre: "masculin".into(),
            statut_social: "retraite".into(),
            ..Default::default()
        };
        let old = relais::activites::beneficiaires::create(app.db(), m.id, &mk("Ancien"), now)
            .await
            .unwrap();
        let recent = relais::activites::beneficiaires::create(app.db(), m.id, &mk("Recent"), now)
            .await
            .unwrap();
        let today = activites::today(now);
        for (who, date) in [(old, today - 30_000), (recent, today - 10_000)] {
            let r = Report {
                kind: Kind::Individuel,
                date,
                duree: 30,
                lieu_type: "a_distance".into(),
                lieu_id: None,
                commune_insee: String::new(),
                materiel: Vec::new(),
                thematiques: vec!["email".into()],
                thematiques_admin: Vec::new(),
                precisions: String::new(),
                tags: Vec::new(),
                notes: String::new(),
                autonomie: String::new(),
                orientation: String::new(),
                titre: String::new(),
                niveau: String::new(),
                participants: vec![who],
                anonymes: Counters::none(),
                mandat_id: None,
                pass_code: String::new(),
            };
            activites::record(app.db(), m.id, a, &r, now).await.unwrap();
        }
        let before = stats::compute(
            app.db(),
            &Filter {
                scope: Scope::Mediateur(m.id),
                from: 200001,
                to: 999912,
                kind: None,
                lieu_id: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(
            relais::activites::beneficiaires::purge(app.db(), now)
                .await
                .unwrap(),
            1
        );
        let gone = relais::activites::beneficiaires::get(app.db(), m.id, old)
            .await
            .unwrap()
            .unwrap();
        assert!(gone.deleted && gone.fields.nom.is_empty());
        let kept = relais::activites::beneficiaires::get(app.db(), m.id, recent)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.fields.nom, "Recent");
        let after = stats::compute(
            app.db(),
            &Filter {
                scope: Scope::Mediateur(m.id),
                from: 200001,
                to: 999912,
                kind: None,
                lieu_id: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(before.totals.accompagnements, after.totals.accompagnements);
        assert_eq!(before.totals.personnes, after.totals.personnes);
        // The job runs once a day.
        assert_eq!(
            relais::activites::beneficiaires::run_if_due(app.db(), now)
                .await
                .unwrap(),
            Some(0)
        );
        assert_eq!(
            relais::activites::beneficiaires::run_if_due(app.db(), now)
                .await
                .unwrap(),
            None
        );
    }
);

crate::both_backends!(
    a_referent_invites_a_mediator_who_lands_on_activities,
    |app: TestApp| async move {
        let a = app.structure("France Services de Sens").await;
        let referent = app.member(a, Role::Referent, "referent-cra").await;
        let mut r = app.login(&referent).await;
        let email = format!("mediateur-{}@exemple.fr", crate::common::unique());
        let resp = r
            .post(
                &format!("/structures/{a}/equipe/inviter"),
                &[
                    ("full_name", "Mona Médiatrice"),
                    ("email", email.as_str()),
                    ("role", "mediateur"),
                ],
            )
            .await;
        assert_eq!(resp.status, 303, "{}", resp.body);
        // No Aidants Connect training needed: the invitation leaves at once.
        let mut c = app.client();
        let password = "une phrase de passe pour la médiatrice";
        let secret = app.activate_from_email(&mut c, &email, password).await;
        let code = app.next_code(&secret);
        let resp = c
            .post(
                "/connexion",
                &[
                    ("email", email.as_str()),
                    ("password", password),
                    ("code", code.as_str()),
                ],
            )
            .await;
        assert_eq!(resp.location(), "/");
        assert_eq!(c.get("/").await.location(), "/activites");
        assert_eq!(c.get("/activites").await.status, 200);
        assert_eq!(c.get("/espace").await.status, 403);
        // An aidant who also mediates: the référent gives them a mediator profile;
        // they keep their mandates and gain « Mes activités ».
        let aidant = app.member(a, Role::Aidant, "aidant-mediateur").await;
        let mut ai = app.login(&aidant).await;
        assert_eq!(ai.get("/activites").await.status, 403);
        let done = r
            .post(
                &format!("/structures/{a}/equipe/{}/mediation", aidant.id),
                &[],
            )
            .await;
        assert_eq!(
            done.location(),
            format!("/structures/{a}/equipe?info=mediation")
        );
        assert_eq!(ai.get("/activites").await.status, 200);
        assert_eq!(ai.get("/usagers").await.status, 200);
        let outsider = app
            .member(app.structure("Ailleurs").await, Role::Aidant, "ailleurs")
            .await;
        let refused = r
            .post(
                &format!("/structures/{a}/equipe/{}/mediation", outsider.id),
                &[],
            )
            .await;
        assert!(refused.status.is_client_error());
        let team = r.get(&format!("/structures/{a}/equipe")).await;
        assert!(team.contains("Mona Médiatrice"));
        assert!(team.contains("Médiateur"), "{}", team.body);
        assert!(team.contains("Aidant · médiateur"), "{}", team.body);
    }
);

crate::both_backends!(
    duplicates_are_listed_and_merged_with_their_history,
    |app: TestApp| async move {
        use relais::activites::beneficiaires::{self, Fields};
        let a = app.structure("Structure fusion").await;
        let mediator = app.member(a, Role::Mediateur, "fusion").await;
        let now = app.clock_now();
        let jean = beneficiaires::create(
            app.db(),
            mediator.id,
            &Fields {
                prenom: "Jean-Pierre".into(),
                nom: "Lefèvre".into(),
                genre: "masculin".into(),
                statut_social: "retraite".into(),
                ..Fields::default()
            },
            now,
        )
        .await
        .unwrap();
        let twin = beneficiaires::create(
            app.db(),
            mediator.id,
            &Fields {
                prenom: "jean pierre".into(),
                nom: "LEFEVRE".into(),
                telephone: "06 12 34 56 78".into(),
                annee_naissance: Some(1948),
                genre: "non_communique".into(),
                statut_social: "non_communique".into(),
                ..Fields::default()
            },
            now,
        )
        .await
        .unwrap();
        let other = beneficiaires::create(
            app.db(),
            mediator.id,
            &Fields {
                prenom: "Paul".into(),
                nom: "Lefèvre".into(),
                genre: "masculin".into(),
                statut_social: "retraite".into(),
                ..Fields::default()
            },
            now,
        )
        .await
        .unwrap();
        let report = |date: i64, kind: Kind, participants: Vec<i64>| Report {
            kind,
            date,
            duree: 60,
            lieu_type: "a_distance".into(),
            lieu_id: None,
            commune_insee: String::new(),
            materiel: Vec::new(),
            thematiques: vec!["email".into()],
            thematiques_admin: Vec::new(),
            precisions: String::new(),
            tags: Vec::new(),
            notes: String::new(),
            autonomie: String::new(),
            orientation: String::new(),
            titre: if kind == Kind::Collectif {
                "Atelier".into()
            } else {
                String::new()
            },
            niveau: String::new(),
            participants,
            anonymes: Counters::none(),
            mandat_id: None,
            pass_code: String::new(),
        };
        // The twin came first (March), Jean in May; both were at the same workshop.
        activites::record(
            app.db(),
            mediator.id,
            a,
            &report(20250310, Kind::Individuel, vec![twin]),
            now,
        )
        .await
        .unwrap();
        activites::record(
            app.db(),
            mediator.id,
            a,
            &report(20250505, Kind::Individuel, vec![jean]),
            now,
        )
        .await
        .unwrap();
        activites::record(
            app.db(),
            mediator.id,
            a,
            &report(20250606, Kind::Collectif, vec![jean, twin, other]),
            now,
        )
        .await
        .unwrap();

        let mut m = app.login(&mediator).await;
        let page = m.get("/beneficiaires/doublons").await;
        assert!(page.contains("nom, prénom"), "{}", page.body);
        assert!(!page.contains("Paul"), "one signal is not enough");
        let path = format!("/beneficiaires/{jean}/fusionner/{twin}");
        assert!(page.contains(&path));
        assert_eq!(m.get(&path).await.status, 200);
        let r = m.post(&path, &[("confirmer", "oui")]).await;
        assert_eq!(r.location(), format!("/beneficiaires/{jean}?info=fusion"));

        // One person now: 3 activities, 4 accompaniments (the workshop counts Jean once),
        // two people, Jean new in March (his earliest activity, the twin's), his gaps filled.
        let f = Filter {
            scope: Scope::Mediateur(mediator.id),
            from: 202501,
            to: 202512,
            kind: None,
            lieu_id: None,
        };
        let s = stats::compute(app.db(), &f).await.unwrap();
        assert_eq!(s.totals.activites, 3);
        assert_eq!(s.totals.accompagnements, 4);
        assert_eq!(s.totals.personnes, 2);
        assert_eq!(s.totals.nouveaux, 2);
        let march = s.months.iter().find(|m| m.mois == 202503).unwrap();
        assert_eq!(march.accompagnements, 1);
        let genre = s.distributions.iter().find(|d| d.key == "genre").unwrap();
        assert_eq!(
            genre.rows.iter().find(|r| r.slug == "masculin").unwrap().n,
            4
        );
        let kept = beneficiaires::get(app.db(), mediator.id, jean)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.fields.telephone, "06 12 34 56 78");
        assert_eq!(kept.fields.annee_naissance, Some(1948));
        assert_eq!(kept.fields.prenom, "Jean-Pierre");
        assert!(
            beneficiaires::get(app.db(), mediator.id, twin)
                .await
                .unwrap()
                .is_none()
        );
        let first = kept.premiere_activite_id.unwrap();
        assert_eq!(
            activites::get(app.db(), mediator.id, first)
                .await
                .unwrap()
                .unwrap()
                .report
                .date,
            20250310
        );
        assert!(
            !m.get("/beneficiaires/doublons")
                .await
                .contains("Jean-Pierre")
        );
    }
);

crate::both_backends!(
    a_coordinator_follows_a_team_up_to_the_day_members_leave,
    |app: TestApp| async move {
        use relais::activites::coordination;
        let a = app.structure("Hub de coordination").await;
        let coord = app.member(a, Role::Mediateur, "coordinatrice").await;
        let m1 = app.member(a, Role::Mediateur, "membre-un").await;
        let m2 = app.member(a, Role::Mediateur, "membre-deux").await;
        let now = app.clock_now();
        // Only a coordinator reaches the coordination pages.
        let mut c = app.login(&coord).await;
        assert_eq!(c.get("/coordination").await.status, 403);
        let r = c
            .post(
                "/mediateur/profil",
                &[("conseiller", "non"), ("coordinateur", "oui")],
            )
            .await;
        assert_eq!(r.location(), "/mediateur/profil?info=profil");
        assert_eq!(c.get("/coordination").await.status, 200);
        // Invitations: unknown address, oneself, then the two mediators.
        let r = c
            .post("/coordination/inviter", &[("email", "personne@exemple.fr")])
            .await;
        assert_eq!(r.status, 422);
        assert!(r.contains("Aucun médiateur"));
        let r = c
            .post("/coordination/inviter", &[("email", coord.email.as_str())])
            .await;
        assert!(r.contains("votre propre adresse"));
        for m in [&m1, &m2] {
            let r = c
                .post("/coordination/inviter", &[("email", m.email.as_str())])
                .await;
            assert_eq!(r.location(), "/coordination?info=equipe-invitation");
        }
        let r = c
            .post("/coordination/inviter", &[("email", m1.email.as_str())])
            .await;
        assert!(r.contains("invitation en attente"));
        let mail = app.last_email_to(&m2.email);
        assert!(
            mail.subject.contains("vous invite dans son équipe"),
            "{}",
            mail.subject
        );
        assert!(
            mail.body
                .contains("jamais les personnes que vous accompagnez")
        );
        // One accepts, the other refuses, from their own page.
        let mut one = app.login(&m1).await;
        let page = one.get("/activites").await;
        assert!(page.contains("vous invite dans son équipe"));
        let tid =
            crate::common::extract_between(&page.body, "action=\"/equipes/", "/accepter").unwrap();
        let r = one.post(&format!("/equipes/{tid}/accepter"), &[]).await;
        assert_eq!(r.location(), "/activites?info=equipe-accepter");
        let mut two = app.login(&m2).await;
        let page = two.get("/activites").await;
        let tid2 =
            crate::common::extract_between(&page.body, "action=\"/equipes/", "/accepter").unwrap();
        // Nobody answers for someone else.
        assert_eq!(
            one.post(&format!("/equipes/{tid2}/accepter"), &[])
                .await
                .status,
            404
        );
        assert_eq!(
            two.post(&format!("/equipes/{tid2}/refuser"), &[])
                .await
                .location(),
            "/activites?info=equipe-refuser"
        );

        let anonymous = |date: i64| Report {
            kind: Kind::Individuel,
            date,
            duree: 30,
            lieu_type: "a_distance".into(),
            lieu_id: None,
            commune_insee: String::new(),
            materiel: Vec::new(),
            thematiques: vec!["email".into()],
            thematiques_admin: Vec::new(),
            precisions: String::new(),
            tags: Vec::new(),
            notes: String::new(),
            autonomie: String::new(),
            orientation: String::new(),
            titre: String::new(),
            niveau: String::new(),
            participants: Vec::new(),
            anonymes: Counters {
                total: 1,
                ..Counters::none()
            },
            mandat_id: None,
            pass_code: String::new(),
        };
        for (who, date) in [
            (&m1, 20250214),
            (&m1, 20250305),
            (&m1, 20250320),
            (&m1, 20250410),
            (&m2, 20250305),
        ] {
            activites::record(app.db(), who.id, a, &anonymous(date), now)
                .await
                .unwrap();
        }
        let year = |scope| Filter {
            scope,
            from: 202501,
            to: 202512,
            kind: None,
            lieu_id: None,
        };
        let team = coordination::scope(app.db(), coord.id).await.unwrap();
        assert_eq!(
            team,
            vec![(m1.id, None)],
            "the one who refused is not counted"
        );
        let s = stats::compute(app.db(), &year(Scope::Team(team)))
            .await
            .unwrap();
        assert_eq!(s.totals.accompagnements, 4);

        // The member leaves on 10 March 2025: February and 5 March stay, the rest goes.
        let march_10 = relais::time_fr::days_from_civil(2025, 3, 10) * 86_400 + 12 * 3_600;
        assert!(
            coordination::leave(app.db(), m1.id, tid.parse().unwrap(), march_10)
                .await
                .unwrap()
        );
        let team = coordination::scope(app.db(), coord.id).await.unwrap();
        assert_eq!(team, vec![(m1.id, Some(20250310))]);
        let s = stats::compute(app.db(), &year(Scope::Team(team)))
            .await
            .unwrap();
        assert_eq!(s.totals.accompagnements, 2);
        assert_eq!(s.totals.nouveaux, 2);
        let march = s.months.iter().find(|m| m.mois == 202503).unwrap();
        assert_eq!(march.accompagnements, 1);
        let page = c
            .get("/coordination/statistiques?du=2025-01&au=2025-12")
            .await;
        assert!(
            page.contains("<strong>2</strong> accompagnements"),
            "{}",
            page.body
        );
        assert!(
            !page.contains("export.xlsx"),
            "no list of a team's accompaniments"
        );
        // Filtered on one member (former ones too); someone outside the team is not
        // a filter that reveals their figures.
        let filtered = c
            .get(&format!(
                "/coordination/statistiques?du=2025-01&au=2025-12&mediateur={}",
                m1.id
            ))
            .await;
        assert!(filtered.contains(&format!("<option value=\"{}\" selected>", m1.id)));
        assert!(filtered.contains("<strong>2</strong> accompagnements"));
        let outsider = c
            .get(&format!(
                "/coordination/statistiques?du=2025-01&au=2025-12&mediateur={}",
                m2.id
            ))
            .await;
        assert!(!outsider.contains(&format!("<option value=\"{}\"", m2.id)));
        assert!(
            outsider.contains("<strong>2</strong> accompagnements"),
            "the team's, never the outsider's 1"
        );
        let page = c.get("/coordination").await;
        assert!(
            page.contains("a quitté l&#39;équipe le 10/03/2025")
                || page.contains("a quitté l'équipe le 10/03/2025"),
            "{}",
            page.body
        );

        // The coordinator's own reports: animation, event, partnership.
        let r = c
            .post(
                "/coordination/activites/nouveau",
                &[
                    ("type", "salon"),
                    ("titre", ""),
                    ("duree", "0"),
                    ("echelle", "x"),
                ],
            )
            .await;
        assert_eq!(r.status, 422);
        let body = crate::common::unescape(&r.body);
        for field in [
            "Choisissez le type",
            "Saisissez un titre",
            "Saisissez la durée",
            "Choisissez l'échelle",
        ] {
            assert!(body.contains(field), "{field}");
        }
        let day = activites::date_iso(activites::today(now));
        let r = c
            .post(
                "/coordination/activites/nouveau",
                &[
                    ("type", "evenement"),
                    ("titre", "Forum de l'inclusion numérique"),
                    ("date", day.as_str()),
                    ("duree", "240"),
                    ("echelle", "departementale"),
                    ("participants", "120"),
                ],
            )
            .await;
        assert_eq!(r.location(), "/coordination?info=activite-enregistree");
        let page = crate::common::unescape(&c.get("/coordination").await.body);
        assert!(
            page.contains("Forum de l'inclusion numérique (4 h, 120 participants)"),
            "{page}"
        );
        assert!(
            page.contains(
                "Événement (salon, journée, forum)</th><td data-label=\"Comptes rendus\">1</td>"
            ),
            "{page}"
        );
        let kid = crate::common::extract_between(
            &page,
            "<a href=\"/coordination/activites/",
            "/supprimer",
        )
        .unwrap();
        // Only its author deletes it.
        assert_eq!(
            one.post(
                &format!("/coordination/activites/{kid}/supprimer"),
                &[("confirmer", "oui")]
            )
            .await
            .status,
            403
        );
        let r = c
            .post(
                &format!("/coordination/activites/{kid}/supprimer"),
                &[("confirmer", "oui")],
            )
            .await;
        assert_eq!(r.location(), "/coordination?info=activite-supprimee");
        assert!(!c.get("/coordination").await.contains("Forum"));
    }
);

crate::both_backends!(
    the_previous_tools_history_is_imported_all_or_nothing_once,
    |app: TestApp| async move {
        let a = app.structure("Structure import v1").await;
        let mediator = app.member(a, Role::Mediateur, "import-v1").await;
        let mut m = app.login(&mediator).await;
        assert_eq!(m.get("/activites/import").await.status, 200);
        let header = "id;date;activite;canal;participants;participants_recurrents;age_moins_12;age_18_35;statut_retraite;statut_heterogene;themes;duree;code_postal;commune;code_insee;organismes;annotation";
        let good = [
            "v1-001;05/03/2021;ponctuel;domicile;1;0;;;1;;Courriel|securite;30-60;89000;;89024;CAF;Première venue",
            "v1-002;12/04/2021;collectif;rattachement;8;3;;5;2;1;smartphone,internet;120+;89100;Sens;;;",
            "v1-003;2021-05-20;individuel;distance;1;1;;;;;démarche en ligne;25;;;;;",
        ];
        let bad = "v1-004;31/02/2021;individuel;lune;3;5;;;;;astrologie;2000;;;;;";
        let file = |lines: &[&str]| format!("{header}\n{}\n", lines.join("\n"));

        // One wrong line: every problem of it is listed, nothing is written.
        let mut with_bad = good.to_vec();
        with_bad.push(bad);
        let r = m
            .post_multipart(
                "/activites/import",
                &[],
                ("fichier", "cra-v1.csv", file(&with_bad).as_bytes()),
                true,
            )
            .await;
        assert_eq!(r.status, 422);
        let body = crate::common::unescape(&r.body);
        for expected in [
            "date « 31/02/2021 » invalide",
            "canal « lune » inconnu",
            "un accompagnement individuel compte une personne",
            "thème « astrologie » inconnu",
            "duree « 2000 »",
            "rien n'a été importé",
        ] {
            assert!(body.contains(expected), "{expected}: {body}");
        }
        let count = || async {
            app.db()
                .fetch_one("SELECT COUNT(*) AS n FROM activites", relais::args![])
                .await
                .unwrap()
                .int("n")
                .unwrap()
        };
        assert_eq!(count().await, 0);

        let r = m
            .post_multipart(
                "/activites/import",
                &[],
                ("fichier", "cra-v1.csv", file(&good).as_bytes()),
                true,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.contains("3 activités ajoutées, 0 ligne déjà importée auparavant"),
            "{}",
            r.body
        );
        let r = m
            .post_multipart(
                "/activites/import",
                &[],
                ("fichier", "cra-v1.csv", file(&good).as_bytes()),
                true,
            )
            .await;
        assert!(
            r.contains("0 activité ajoutée, 3 lignes déjà importées auparavant"),
            "{}",
            r.body
        );
        assert_eq!(count().await, 3);

        let f = Filter {
            scope: Scope::Mediateur(mediator.id),
            from: 202101,
            to: 202112,
            kind: None,
            lieu_id: None,
        };
        let s = stats::compute(app.db(), &f).await.unwrap();
        assert_eq!(s.totals.accompagnements, 10);
        assert_eq!(
            s.totals.nouveaux,
            1 + 5,
            "recurrent participants are not new"
        );
        let statut = s.distributions.iter().find(|d| d.key == "statut").unwrap();
        assert_eq!(
            statut.rows.iter().find(|r| r.slug == "retraite").unwrap().n,
            3
        );
        let age = s.distributions.iter().find(|d| d.key == "age").unwrap();
        assert_eq!(
            age.rows
                .iter()
                .find(|r| r.slug == "non_communique")
                .unwrap()
                .n,
            10,
            "18-35 has no exact band today"
        );
        let id = app
            .db()
            .fetch_one(
                "SELECT id FROM activites WHERE source_id = 'v1-001'",
                relais::args![],
            )
            .await
            .unwrap()
            .int("id")
            .unwrap();
        let page = crate::common::unescape(&m.get(&format!("/activites/{id}")).await.body);
        assert!(
            page.contains("Importée de l'ancien outil (v1), identifiant v1-001"),
            "{page}"
        );
        assert!(page.contains("Orienté vers : CAF"));
    }
);

crate::both_backends!(
    a_list_of_people_is_imported_from_csv_or_xlsx_cell_by_cell,
    |app: TestApp| async move {
        let a = app.structure("Structure liste").await;
        let mediator = app.member(a, Role::Mediateur, "liste").await;
        let mut m = app.login(&mediator).await;
        assert_eq!(m.get("/beneficiaires/import").await.status, 200);
        let csv = "prenom;nom;email;annee_naissance;genre;statut;commune\n\
               Lucie;Martin;lucie@exemple.fr;1950;Féminin;Retraité;Auxerre (89)\n\
               Paul;;pas-une-adresse;1850;robot;;Atlantide\n";
        let r = m
            .post_multipart(
                "/beneficiaires/import",
                &[],
                ("fichier", "liste.csv", csv.as_bytes()),
                true,
            )
            .await;
        assert_eq!(r.status, 422);
        let body = crate::common::unescape(&r.body);
        for expected in [
            "colonne nom : Saisissez le nom.",
            "colonne email",
            "colonne annee_naissance",
            "colonne genre",
            "colonne commune",
            "personne n'a été enregistré",
        ] {
            assert!(body.contains(expected), "{expected}: {body}");
        }
        assert!(
            relais::activites::beneficiaires::search(app.db(), mediator.id, "", 10)
                .await
                .unwrap()
                .is_empty()
        );

        // The same list, corrected, as a workbook.
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, h) in [
            "prenom",
            "nom",
            "email",
            "annee_naissance",
            "genre",
            "statut",
            "commune",
        ]
        .iter()
        .enumerate()
        {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        let rows = [
            [
                "Lucie",
                "Martin",
                "lucie@exemple.fr",
                "",
                "Féminin",
                "Retraité",
                "Auxerre (89)",
            ],
            [
                "Paul",
                "Durand",
                "",
                "",
                "masculin",
                "sans emploi",
                "Sens (89)",
            ],
        ];
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                sheet.write_string(r as u32 + 1, c as u16, *v).unwrap();
            }
        }
        sheet.write_number(1, 3, 1950.0).unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let r = m
            .post_multipart(
                "/beneficiaires/import",
                &[],
                ("fichier", "liste.xlsx", &bytes),
                true,
            )
            .await;
        assert_eq!(r.location(), "/beneficiaires?info=import", "{}", r.body);
        let people = relais::activites::beneficiaires::search(app.db(), mediator.id, "", 10)
            .await
            .unwrap();
        assert_eq!(people.len(), 2);
        let lucie = people.iter().find(|p| p.fields.prenom == "Lucie").unwrap();
        assert_eq!(lucie.fields.annee_naissance, Some(1950));
        assert_eq!(lucie.fields.genre, "feminin");
        assert_eq!(lucie.fields.commune_insee, "89024");
        let paul = people.iter().find(|p| p.fields.prenom == "Paul").unwrap();
        assert_eq!(paul.fields.statut_social, "sans_emploi");
    }
);
