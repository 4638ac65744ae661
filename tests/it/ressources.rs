//! The resource centre: writing in Markdown (nothing typed becomes markup),
//! attachments checked by content, review (sent back with remarks, published),
//! versions (the published one stays online while the next is written),
//! unpublication with a reason, public search with filters, the Atom feed,
//! collections; and the census of local authorities' initiatives (form, CSV
//! import all or nothing, search by territory, export).

use relais::domain::Role;

use crate::common::{Client, TestApp, spreadsheet};

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

fn fields<'a>(titre: &'a str, corps: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("titre", titre),
        (
            "resume",
            "Cinq signes pour repérer un faux message, et quoi faire.",
        ),
        ("corps", corps),
        ("publics", "aidants"),
        ("publics", "usagers"),
        ("thematiques", "securite_numerique"),
        ("thematiques", "email"),
        ("format", "fiche"),
        ("licence", "etalab-2.0"),
        (
            "liens",
            "Signaler un SMS | https://www.33700.fr\nhttps://www.cybermalveillance.gouv.fr",
        ),
    ]
}

/// Writes resource 1 for structure `structure` (by `author`), publishes it (by
/// `curator`), attaches a PDF, makes collection 1 of the structure and records
/// initiative 1: what the authorisation matrix reads.
pub(crate) async fn published(app: &TestApp, structure: i64, author: i64, curator: i64) {
    use relais::ressources as r;
    let auteur = r::Auteur {
        account_id: author,
        structure_id: Some(structure),
    };
    let f = r::Form {
        titre: "Reconnaître un message d'hameçonnage".into(),
        resume: "Cinq signes.".into(),
        corps: "## Les signes\n\n- l'urgence".into(),
        publics: vec!["aidants".into()],
        thematiques: vec!["securite_numerique".into()],
        format: "fiche".into(),
        licence: "etalab-2.0".into(),
        liens: String::new(),
    };
    let c = r::check(&f).unwrap();
    let now = app.clock_now();
    let id = r::save(app.db(), auteur, None, &c, now)
        .await
        .unwrap()
        .unwrap();
    r::submit(app.db(), auteur, id, now).await.unwrap().unwrap();
    r::decide(app.db(), curator, id, &r::Decision::Publier, now)
        .await
        .unwrap()
        .unwrap();
    r::fichiers::add(app.db(), id, "guide.pdf", PDF, now)
        .await
        .unwrap()
        .unwrap();
    let cid = r::collections::create(app.db(), auteur, "Premiers pas", "", now)
        .await
        .unwrap()
        .unwrap();
    r::collections::set_item(app.db(), cid, id, true, now)
        .await
        .unwrap()
        .unwrap();
    let i = r::initiatives::check(
        &r::initiatives::Form {
            titre: "Conseillers numériques en mairie".into(),
            description: "Des permanences.".into(),
            territoire: "89024".into(),
            annee: "2025".into(),
            contact: "mairie@exemple.fr".into(),
            ..Default::default()
        },
        2026,
    )
    .unwrap();
    r::initiatives::create(app.db(), &i, curator, now)
        .await
        .unwrap();
}

fn id_from(location: &str) -> i64 {
    location
        .trim_start_matches("/ressources/")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn decide(c: &mut Client, id: i64, decision: &str, motif: &str) -> crate::common::Resp {
    c.post(
        &format!("/ressources/{id}/decision"),
        &[("decision", decision), ("motif", motif)],
    )
    .await
}

crate::both_backends!(
    a_resource_is_written_reviewed_published_and_found,
    |app: TestApp| async move {
        let s = app.structure("Médiathèque").await;
        let other = app.structure("Autre structure").await;
        let author = app.member(s, Role::Aidant, "auteur").await;
        let outsider = app.member(other, Role::Aidant, "autre").await;
        let admin = app.admin().await;
        let mut a = app.login(&author).await;
        let mut anon = app.client();

        // Bad input: every field says what to do, nothing stored.
        let r = a.post("/ressources/nouvelle", &[]).await;
        assert_eq!(r.status, 422);
        for msg in [
            "Donnez un titre",
            "Écrivez un résumé",
            "Écrivez le contenu",
            "Cochez au moins un public",
            "Cochez au moins une thématique",
            "Choisissez le format",
            "Choisissez la licence",
        ] {
            assert!(r.contains(msg), "{msg}");
        }
        let long = "x".repeat(50_001);
        let mut bad = fields("Titre", &long);
        bad.push(("liens", "pas une adresse"));
        let r = a.post("/ressources/nouvelle", &bad).await;
        assert!(r.contains("Le contenu fait 50"), "{}", r.body);
        let count = |db: relais::db::Db| async move {
            db.fetch_one("SELECT COUNT(*) AS n FROM ressources", relais::args![])
                .await
                .unwrap()
                .int("n")
                .unwrap()
        };
        assert_eq!(count(app.db().clone()).await, 0);

        // Markdown with a script, raw HTML and a javascript: link.
        let corps = "## Cinq signes\n\n1. **L'urgence**\n2. Une demande de code\n\n<script>alert('x')</script>\n\n[clic](javascript:alert(1)) et [le vrai site](https://www.impots.gouv.fr)";
        let r = a
            .post(
                "/ressources/nouvelle",
                &fields("Reconnaître un message d'hameçonnage", corps),
            )
            .await;
        assert!(r.status.is_redirection(), "{}", r.body);
        let id = id_from(r.location());
        let page = a.get(&format!("/ressources/{id}/modifier")).await;
        assert!(page.contains("Brouillon") && page.contains("version 1"));
        // Not public yet; another structure cannot edit it.
        assert_eq!(anon.get(&format!("/ressources/{id}")).await.status, 404);
        let mut o = app.login(&outsider).await;
        assert_eq!(
            o.get(&format!("/ressources/{id}/modifier")).await.status,
            404
        );
        assert_eq!(
            o.post(&format!("/ressources/{id}/modifier"), &fields("Volé", "x"))
                .await
                .status,
            404
        );

        // Attachments: checked by content and size; refused ones store nothing.
        let upload = |c: &mut Client, name: &'static str, data: Vec<u8>| {
            let mut c = c.clone();
            async move {
                c.post_multipart(
                    &format!("/ressources/{id}/fichiers"),
                    &[],
                    ("fichier", name, &data),
                    true,
                )
                .await
            }
        };
        let r = upload(&mut a, "guide.pdf", b"<svg onload=alert(1)></svg>".to_vec()).await;
        assert_eq!(r.status, 422);
        assert!(r.contains("Seuls les PDF et les images PNG ou JPEG"));
        let mut big = PDF.to_vec();
        big.resize(5 * 1024 * 1024 + 1, b' ');
        let r = upload(&mut a, "gros.pdf", big).await;
        assert_eq!(r.status, 422);
        assert!(r.contains("5 Mo au plus"));
        let r = upload(&mut a, "../../Guide final.pdf", PDF.to_vec()).await;
        assert!(r.status.is_redirection(), "{}", r.body);
        let files = relais::ressources::fichiers::list(app.db(), id)
            .await
            .unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].nom, "Guide final.pdf");
        let fid = files[0].id;
        // A draft's file is not public.
        assert_eq!(
            anon.get(&format!("/ressources/{id}/fichiers/{fid}"))
                .await
                .status,
            404
        );

        // Review: sent back with remarks, corrected (version 2), published.
        a.post(&format!("/ressources/{id}/proposer"), &[]).await;
        let mut cur = app.login(&admin).await;
        let list = cur.get("/ressources/relecture").await;
        assert!(list.contains("Reconnaître un message d'hameçonnage"));
        let review = cur.get(&format!("/ressources/{id}/relire")).await;
        assert!(
            !review.body.contains("<script>alert"),
            "raw HTML is shown as text"
        );
        assert!(review.contains("&lt;script&gt;") || review.body.contains("&lt;script"));
        assert!(!review.body.contains("href=\"javascript"));
        let r = decide(&mut cur, id, "renvoyer", "").await;
        assert_eq!(r.status, 422);
        assert!(r.contains("Écrivez la raison"));
        assert!(
            decide(&mut cur, id, "renvoyer", "Ajoutez le numéro 33700.")
                .await
                .status
                .is_redirection()
        );
        let page = a.get(&format!("/ressources/{id}/modifier")).await;
        assert!(page.contains("Ajoutez le numéro 33700."));
        let corps2 = format!("{corps}\n\nSignalez les SMS au 33700.");
        a.post(
            &format!("/ressources/{id}/modifier"),
            &fields("Reconnaître un message d'hameçonnage", &corps2),
        )
        .await;
        a.post(&format!("/ressources/{id}/proposer"), &[]).await;
        assert!(
            decide(&mut cur, id, "publier", "")
                .await
                .status
                .is_redirection()
        );

        // Public: the page, the file with its headers, the search, the feed.
        let page = anon.get(&format!("/ressources/{id}")).await;
        assert!(page.status.is_success());
        assert!(page.contains("Signalez les SMS au 33700."));
        assert!(page.contains("<h2>Cinq signes</h2>"));
        assert!(!page.body.contains("<script>alert"));
        assert!(page.contains("Licence Ouverte 2.0"));
        assert!(page.contains("<a href=\"https://www.33700.fr\">Signaler un SMS</a>"));
        let file = anon.get(&format!("/ressources/{id}/fichiers/{fid}")).await;
        assert!(file.status.is_success());
        assert_eq!(file.headers["content-type"], "application/pdf");
        let disposition = file.headers["content-disposition"].to_str().unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\"Guide final.pdf\""),
            "{disposition}"
        );
        assert!(
            file.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("sandbox")
        );
        for (q, found) in [
            ("hamecon", true),
            ("HAMEÇONNAGE message", true),
            ("messag", true),
            ("33700", true),
            ("banane", false),
        ] {
            let r = anon
                .get(&format!(
                    "/ressources?q={}",
                    url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
                ))
                .await;
            assert_eq!(r.contains("Reconnaître un message"), found, "{q}");
        }
        assert!(
            anon.get("/ressources?public=usagers&thematique=email&format=fiche")
                .await
                .contains("Reconnaître un message")
        );
        assert!(
            !anon
                .get("/ressources?format=video")
                .await
                .contains("Reconnaître un message")
        );
        assert!(
            !anon
                .get("/ressources?q=hamecon&public=collectivites")
                .await
                .contains("Reconnaître un message")
        );
        let feed = anon.get("/ressources/flux.atom").await;
        assert_eq!(
            feed.headers["content-type"],
            "application/atom+xml; charset=utf-8"
        );
        assert!(feed.body.contains(&format!("/ressources/{id}</id>")));
        assert!(
            feed.body
                .contains("<title>Reconnaître un message d&apos;hameçonnage</title>")
                || feed
                    .body
                    .contains("<title>Reconnaître un message d'hameçonnage</title>")
        );

        // A third version being written: the published one stays online.
        a.post(
            &format!("/ressources/{id}/modifier"),
            &fields("Nouveau titre en cours", "Brouillon."),
        )
        .await;
        let page = anon.get(&format!("/ressources/{id}")).await;
        assert!(
            page.contains("Signalez les SMS au 33700.") && !page.contains("Nouveau titre en cours")
        );
        let versions = a.get(&format!("/ressources/{id}/versions")).await;
        assert!(
            versions.contains("Version 3") && versions.contains("Version 2</a> (en ligne)"),
            "{}",
            versions.body
        );
        assert_eq!(
            o.get(&format!("/ressources/{id}/versions")).await.status,
            404
        );

        // Unpublished with a reason: gone from the page, the search, the feed.
        let r = decide(&mut cur, id, "depublier", "").await;
        assert_eq!(r.status, 422);
        decide(
            &mut cur,
            id,
            "depublier",
            "Le numéro de signalement a changé.",
        )
        .await;
        assert_eq!(anon.get(&format!("/ressources/{id}")).await.status, 404);
        assert!(
            !anon
                .get("/ressources?q=hamecon")
                .await
                .contains("Reconnaître un message")
        );
        assert!(
            !anon
                .get("/ressources/flux.atom")
                .await
                .body
                .contains(&format!("/ressources/{id}</id>"))
        );
        assert!(
            a.get(&format!("/ressources/{id}/modifier"))
                .await
                .contains("Le numéro de signalement a changé.")
        );
    }
);

crate::both_backends!(
    collections_gather_published_resources,
    |app: TestApp| async move {
        let s = app.structure("Hub").await;
        let author = app.member(s, Role::Referent, "auteur").await;
        let admin = app.admin().await;
        published(&app, s, author.id, admin.id).await;
        let mut a = app.login(&author).await;
        let r = a.post("/ressources/collections", &[("titre", "")]).await;
        assert_eq!(r.status, 422);
        let r = a
            .post(
                "/ressources/collections",
                &[
                    ("titre", "Kit de l'aidant"),
                    ("description", "Pour commencer."),
                ],
            )
            .await;
        let cid: i64 = r.location().rsplit('/').next().unwrap().parse().unwrap();
        // Empty, it is not public yet.
        assert_eq!(
            app.client()
                .get(&format!("/ressources/collections/{cid}"))
                .await
                .status,
            404
        );
        // A draft cannot enter; a published one can, by number or address.
        let draft = relais::ressources::save(
            app.db(),
            relais::ressources::Auteur {
                account_id: author.id,
                structure_id: Some(s),
            },
            None,
            &relais::ressources::check(&relais::ressources::Form {
                titre: "Brouillon".into(),
                resume: "r".into(),
                corps: "c".into(),
                publics: vec!["aidants".into()],
                thematiques: vec!["email".into()],
                format: "fiche".into(),
                licence: "etalab-2.0".into(),
                liens: String::new(),
            })
            .unwrap(),
            app.clock_now(),
        )
        .await
        .unwrap()
        .unwrap();
        let r = a
            .post(
                &format!("/ressources/collections/{cid}"),
                &[("ressource", &draft.to_string())],
            )
            .await;
        assert!(r.contains("Seule une ressource publiée"));
        let r = a
            .post(
                &format!("/ressources/collections/{cid}"),
                &[("ressource", "https://relais.example/ressources/1")],
            )
            .await;
        assert!(r.status.is_redirection(), "{} {}", r.status, r.body);
        let page = app
            .client()
            .get(&format!("/ressources/collections/{cid}"))
            .await;
        assert!(page.status.is_success());
        assert!(page.contains("Reconnaître un message d'hameçonnage"));
        assert!(
            app.client()
                .get("/ressources")
                .await
                .contains("Kit de l'aidant")
        );
        // Another structure cannot change it.
        let other = app.structure("Autre").await;
        let mut o = app
            .login(&app.member(other, Role::Aidant, "autre").await)
            .await;
        assert_eq!(
            o.post(
                &format!("/ressources/collections/{cid}"),
                &[("retirer", "1")]
            )
            .await
            .status,
            404
        );
        a.post(
            &format!("/ressources/collections/{cid}"),
            &[("retirer", "1")],
        )
        .await;
        assert_eq!(
            app.client()
                .get(&format!("/ressources/collections/{cid}"))
                .await
                .status,
            404
        );
    }
);

crate::both_backends!(
    initiatives_are_recorded_imported_and_found_by_territory,
    |app: TestApp| async move {
        let admin = app.admin().await;
        let mut cur = app.login(&admin).await;
        let r = cur
            .post(
                "/initiatives/nouvelle",
                &[
                    ("titre", "Ateliers"),
                    ("territoire", "Atlantide"),
                    ("annee", "1990"),
                    ("budget", "beaucoup"),
                ],
            )
            .await;
        assert_eq!(r.status, 422);
        for msg in [
            "Commune inconnue",
            "Année : entre 2000",
            "Budget : un nombre entier",
            "Description : à remplir",
            "Contact : à remplir",
        ] {
            assert!(r.contains(msg), "{msg}: {}", r.body);
        }
        let r = cur
            .post(
                "/initiatives/nouvelle",
                &[
                    ("titre", "Bus numérique itinérant"),
                    ("description", "Un bus équipé parcourt les villages."),
                    ("territoire", "89"),
                    ("annee", "2025"),
                    ("budget", "80 000"),
                    ("contact", "inclusion@yonne.example"),
                ],
            )
            .await;
        assert!(r.status.is_redirection(), "{}", r.body);
        // Import: one bad line, nothing stored; then the good file.
        let bad = "titre;description;territoire;annee;budget_euros;publics;partenaires;resultats;contact\n\
               Permanences;En mairie;Auxerre;2024;5000;Seniors;CCAS;200 personnes;mairie@auxerre.example\n\
               Ateliers;Au centre social;99999;2024;;;;;contact@x.example\n";
        let r = cur
            .post_multipart(
                "/initiatives/import",
                &[],
                ("fichier", "i.csv", bad.as_bytes()),
                true,
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.contains("ligne 3"), "{}", r.body);
        let n = |db: relais::db::Db| async move {
            db.fetch_one("SELECT COUNT(*) AS n FROM initiatives", relais::args![])
                .await
                .unwrap()
                .int("n")
                .unwrap()
        };
        assert_eq!(n(app.db().clone()).await, 1);
        let good = "titre;description;territoire;annee;budget_euros;publics;partenaires;resultats;contact\n\
                Permanences;En mairie;Auxerre;2024;5000;Seniors;CCAS;200 personnes;mairie@auxerre.example\n\
                Tiers-lieu;Ouvert à tous;200067114;2023;;;;;agglo@auxerre.example\n\
                Fablab;Réparer;21231;2024;;;;;dijon@example.fr\n";
        let r = cur
            .post_multipart(
                "/initiatives/import",
                &[],
                ("fichier", "i.csv", good.as_bytes()),
                true,
            )
            .await;
        assert_eq!(r.location(), "/initiatives?info=importees");
        assert_eq!(n(app.db().clone()).await, 4);
        // A commune sees its own, its intercommunality's and its département's.
        let mut anon = app.client();
        let page = anon.get("/initiatives?territoire=Monéteau").await;
        for t in ["Tiers-lieu", "Bus numérique itinérant"] {
            assert!(page.contains(t), "{t}");
        }
        assert!(!page.contains("Permanences") && !page.contains("Fablab"));
        let page = anon.get("/initiatives?territoire=Auxerre").await;
        assert!(
            page.contains("Permanences") && page.contains("Tiers-lieu") && !page.contains("Fablab")
        );
        assert!(
            anon.get("/initiatives?territoire=21&q=reparer")
                .await
                .contains("Fablab")
        );
        let r = anon.get("/initiatives?territoire=Atlantide").await;
        assert_eq!(r.status, 422);
        assert!(r.contains("Commune inconnue"));
        // The export opens in a French spreadsheet.
        let csv = anon.get("/initiatives.csv").await;
        let rows = spreadsheet(&csv.body);
        assert_eq!(rows[0][0], "titre");
        assert_eq!(rows.len(), 5);
        let fablab = rows.iter().find(|r| r[0] == "Fablab").unwrap();
        assert_eq!(fablab[10], "21231");
        // Only curators record.
        let s = app.structure("Mairie").await;
        let mut m = app.login(&app.member(s, Role::Referent, "ref").await).await;
        assert_eq!(m.get("/initiatives/nouvelle").await.status, 403);
    }
);

crate::both_backends!(
    the_starter_set_is_published_in_the_demo,
    |app: TestApp| async move {
        let admin = app.admin().await;
        relais::ressources::fiches::seed(app.db(), admin.id, app.clock_now())
            .await
            .unwrap();
        // Twice: nothing added.
        relais::ressources::fiches::seed(app.db(), admin.id, app.clock_now())
            .await
            .unwrap();
        let mut anon = app.client();
        let page = anon.get("/ressources").await;
        assert!(
            page.contains("Kit de l'aidant : premiers pas"),
            "{}",
            page.body
        );
        assert!(!page.contains("Page suivante"));
        let r = anon.get("/ressources?q=mandat").await;
        assert!(r.contains("Ce qu'un mandat Aidants Connect permet et ce qu'il interdit"));
        let all = relais::ressources::latest(app.db(), 100).await.unwrap();
        assert_eq!(all.len(), 12);
    }
);

crate::both_backends!(
    hubs_review_and_departements_do_not,
    |app: TestApp| async move {
        let hub_id = relais::pilotage::create_hub(
            app.db(),
            "Hub Bourgogne-Franche-Comté",
            &["21".to_owned(), "89".to_owned()],
            app.clock_now(),
        )
        .await
        .unwrap()
        .unwrap();
        let hub = relais::pilotage::hub(app.db(), hub_id)
            .await
            .unwrap()
            .unwrap()
            .territoire();
        let hub_account = app.territorial(&hub).await;
        let dep_account = app
            .territorial(&relais::pilotage::Territoire::departement("89").unwrap())
            .await;
        let s = app.structure("Médiathèque").await;
        let author = app.member(s, Role::Aidant, "auteur").await;
        let mut a = app.login(&author).await;
        let r = a
            .post("/ressources/nouvelle", &fields("Fiche du hub", "Contenu."))
            .await;
        let id = id_from(r.location());
        a.post(&format!("/ressources/{id}/proposer"), &[]).await;
        // A hub's account reviews, publishes, and writes for Relais (no structure).
        let mut h = app.login(&hub_account).await;
        assert!(
            h.get("/ressources/relecture")
                .await
                .contains("Fiche du hub")
        );
        assert!(
            decide(&mut h, id, "publier", "")
                .await
                .status
                .is_redirection()
        );
        assert!(
            app.client()
                .get(&format!("/ressources/{id}"))
                .await
                .status
                .is_success()
        );
        assert!(h.get("/ressources/nouvelle").await.status.is_success());
        // A département's account does neither.
        let mut d = app.login(&dep_account).await;
        assert_eq!(d.get("/ressources/relecture").await.status, 403);
        assert_eq!(d.get("/ressources/nouvelle").await.status, 403);
        assert_eq!(decide(&mut d, id, "depublier", "non").await.status, 403);
    }
);
