//! The foundation's user story, end to end over HTTP: an administrator creates a
//! structure and invites its référent, who activates the account and invites aidants.

use axum::http::StatusCode;
use relais::domain::Role;

use crate::both_backends;
use crate::common::{TestApp, extract_between, link_path};

both_backends!(
    admin_creates_structure_referent_invites_aidant,
    |app: TestApp| async move {
        let admin = app.admin().await;
        let mut a = app.login(&admin).await;
        assert_eq!(a.get("/admin").await.status, StatusCode::OK);
        // Bad input: each field gets a clear message, nothing is written.
        let r = a
            .post(
                "/admin/structures/nouvelle",
                &[
                    ("name", ""),
                    ("siret", "12345678901234"),
                    ("address", "3 rue Haute"),
                    ("commune_insee", "890"),
                    ("kind", "mairie"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.contains("Saisissez le nom de la structure."));
        assert!(r.contains("clé de contrôle est fausse"));
        assert!(r.contains("Commune inconnue"), "{}", r.body);
        assert!(r.contains("aria-invalid=\"true\""));
        assert!(
            relais::structures::search(app.db(), "", 10)
                .await
                .unwrap()
                .is_empty()
        );
        let siret = crate::common::siret(990_001);
        let fields = [
            ("name", "CCAS de Sens"),
            ("siret", siret.as_str()),
            ("address", "3 rue Haute, 89100 Sens"),
            // The commune by its name, as people know it: stored as its code.
            ("commune_insee", "sens"),
            ("kind", "ccas"),
        ];
        let r = a.post("/admin/structures/nouvelle", &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let invite_path = r.location().split('?').next().unwrap().to_owned();
        let sid: i64 = invite_path.split('/').nth(2).unwrap().parse().unwrap();
        let stored = relais::structures::search(app.db(), "CCAS de Sens", 1)
            .await
            .unwrap();
        assert_eq!(stored[0].structure.commune_insee, "89387");
        let r = a.post("/admin/structures/nouvelle", &fields).await;
        assert!(r.contains("existe déjà"), "duplicate SIRET refused");
        let r = a
            .post(
                &invite_path,
                &[
                    ("full_name", "Rachid Référent"),
                    ("email", "rachid@ccas-sens.fr"),
                    ("role", "referent"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let mail = app.last_email_to("rachid@ccas-sens.fr");
        assert!(mail.subject.contains("CCAS de Sens"));
        assert!(mail.body.contains("72 heures"));

        // The référent activates: a weak password is refused, then a good one.
        let mut r_client = app.client();
        let link = link_path(&mail.body);
        let page = r_client.get(&link).await;
        let secret = extract_between(&page.body, "<code class=\"secret\">", "</code>")
            .unwrap()
            .replace(' ', "");
        let code = app.next_code(&secret);
        let weak = r_client
            .post(
                &link,
                &[
                    ("password", "azertyuiop123"),
                    ("password_confirmation", "azertyuiop123"),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(weak.contains("trop courant"));
        let short = r_client
            .post(
                &link,
                &[
                    ("password", "court"),
                    ("password_confirmation", "court"),
                    ("code", &code),
                ],
            )
            .await;
        assert!(short.contains("au moins 12 caractères"));
        let mismatch = r_client
            .post(
                &link,
                &[
                    ("password", "une longue phrase ici"),
                    ("password_confirmation", "une autre phrase ici"),
                    ("code", &code),
                ],
            )
            .await;
        assert!(mismatch.contains("pas identiques"));
        let good = "les tilleuls de la place";
        let r = r_client
            .post(
                &link,
                &[
                    ("password", good),
                    ("password_confirmation", good),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let espace = r_client.get("/espace").await;
        assert!(espace.contains("CCAS de Sens"));
        assert!(espace.contains(&format!("/structures/{sid}/equipe")));
        // The link is single-use.
        let again = app.client().get(&link).await;
        assert_eq!(again.status, StatusCode::GONE);
        assert!(again.contains("déjà servi"));

        // The référent invites an aidant, who activates and signs in.
        let r = r_client
            .post(
                &format!("/structures/{sid}/equipe/inviter"),
                &[
                    ("full_name", "Aline Aidante"),
                    ("email", "aline@ccas-sens.fr"),
                    ("role", "aidant"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.location().contains("info=a-former"), "{}", r.location());
        let team = r_client.get(&format!("/structures/{sid}/equipe")).await;
        assert!(team.contains("Aline Aidante"));
        assert!(team.contains("En attente de formation"));
        assert!(
            app.sent().iter().all(|m| m.to != "aline@ccas-sens.fr"),
            "no invitation before the training"
        );
        // The administrator records her training: then she is invited.
        let trainees = a.get("/admin/formations?q=aline").await.body;
        let aline_id =
            crate::common::extract_between(&trainees, "<select id=\"etat-", "\"").unwrap();
        let r = a
            .post(
                &format!("/admin/formations/{aline_id}"),
                &[("etat", "forme"), ("date", "2020-01-01")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let mut aline = app.client();
        let aline_secret = app
            .activate_from_email(&mut aline, "aline@ccas-sens.fr", "elle aime les mots longs")
            .await;
        let team = r_client.get(&format!("/structures/{sid}/equipe")).await;
        assert!(team.contains("Actif"));
        let mut fresh = app.client();
        let code = app.next_code(&aline_secret);
        let r = fresh
            .post(
                "/connexion",
                &[
                    ("email", "aline@ccas-sens.fr"),
                    ("password", "elle aime les mots longs"),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let home = fresh.get("/espace").await;
        assert!(home.contains("CCAS de Sens"));
        assert!(
            !home.contains("Gérer l'équipe"),
            "an aidant does not manage the team"
        );
        assert_eq!(
            fresh.get(&format!("/structures/{sid}/equipe")).await.status,
            StatusCode::FORBIDDEN
        );
    }
);

both_backends!(
    invitation_expires_after_72_hours_and_can_be_sent_again,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let referent = app.member(s, Role::Referent, "ref").await;
        let mut c = app.login(&referent).await;
        let fields = [
            ("full_name", "Paul Tard"),
            ("email", "paul@exemple.fr"),
            ("role", "referent"),
        ];
        c.post(&format!("/structures/{s}/equipe/inviter"), &fields)
            .await;
        let old = link_path(&app.last_email_to("paul@exemple.fr").body);
        app.clock.advance(72 * 3600 + 1);
        let r = app.client().get(&old).await;
        assert_eq!(r.status, StatusCode::GONE);
        assert!(r.contains("expiré"));
        // Inviting the same email again sends a fresh link.
        let mut c = app.login(&referent).await;
        let r = c
            .post(&format!("/structures/{s}/equipe/inviter"), &fields)
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let new = link_path(&app.last_email_to("paul@exemple.fr").body);
        assert_ne!(old, new);
        // The journal says what happened, one label per real action.
        assert_eq!(app.journal_details(s, "membre_invite").await.len(), 2);
        let journal = c.get(&format!("/structures/{s}/journal")).await;
        assert!(journal.contains("Personne invitée dans l'équipe"));
        assert!(!journal.contains("(ou "));
        assert_eq!(app.client().get(&new).await.status, StatusCode::OK);
        // An unknown token is "not valid".
        let r = app
            .client()
            .get(&format!("/activation/{}", "ab".repeat(32)))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
);

both_backends!(
    invite_validates_and_refuses_duplicates,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let referent = app.member(s, Role::Referent, "ref").await;
        let aidant = app.member(s, Role::Aidant, "aid").await;
        let mut c = app.login(&referent).await;
        let path = format!("/structures/{s}/equipe/inviter");
        let r = c
            .post(
                &path,
                &[
                    ("full_name", ""),
                    ("email", "pas-un-email"),
                    ("role", "chef"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.contains("Saisissez le prénom et le nom"));
        assert!(r.contains("adresse e-mail complète"));
        assert!(r.contains("Choisissez le rôle"));
        assert!(r.contains("href=\"#email\""), "summary links to the field");
        let r = c
            .post(
                &path,
                &[
                    ("full_name", "Déjà Là"),
                    ("email", &aidant.email),
                    ("role", "aidant"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(r.contains("fait déjà partie de l'équipe"));
    }
);

both_backends!(
    referent_deactivates_and_reactivates_an_aidant,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let referent = app.member(s, Role::Referent, "ref").await;
        let aidant = app.member(s, Role::Aidant, "aid").await;
        let mut r = app.login(&referent).await;
        let mut a = app.login(&aidant).await;
        assert_eq!(a.get("/espace").await.status, StatusCode::OK);
        // Never in one click: the button leads to a page that says what will happen.
        let ask = format!("/structures/{s}/equipe/{}/desactiver", aidant.id);
        let res = r.post(&ask, &[]).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        assert_eq!(res.location(), ask);
        assert_eq!(a.get("/espace").await.status, StatusCode::OK, "not yet");
        let confirm = r.get(&ask).await;
        assert!(
            confirm.contains("Vous allez désactiver l'accès de"),
            "{}",
            confirm.body
        );
        assert!(confirm.contains("Oui, désactiver l'accès"));
        assert!(confirm.contains(&format!("href=\"/structures/{s}/equipe\">Annuler")));
        let res = r.post(&ask, &[("confirmer", "oui")]).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        assert!(
            a.get("/espace").await.is_login_redirect(),
            "the aidant's session in that structure ended"
        );
        let code = app.next_code(&aidant.secret);
        let mut again = app.client();
        let res = again
            .post(
                "/connexion",
                &[
                    ("email", &aidant.email),
                    ("password", &aidant.password),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        assert!(res.contains("désactivé"));
        let team = r.get(&format!("/structures/{s}/equipe")).await;
        assert!(team.contains("Désactivé"));
        // A référent cannot lock themself out.
        let res = r
            .post(
                &format!("/structures/{s}/equipe/{}/desactiver", referent.id),
                &[("confirmer", "oui")],
            )
            .await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        let res = r
            .post(
                &format!("/structures/{s}/equipe/{}/reactiver", aidant.id),
                &[],
            )
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        let _ = app.login(&aidant).await;
        // Both changes are on the structure's journal, with who made them.
        use relais::db::exec::Exec;
        let rows = app
            .db()
            .conn()
            .await
            .unwrap()
            .fetch_all(
                "SELECT action, account_id FROM journal WHERE chain = $1 AND action LIKE 'membre_%' ORDER BY seq",
                relais::args![s],
            )
            .await
            .unwrap();
        let got: Vec<(String, i64)> = rows
            .iter()
            .map(|r| (r.text("action").unwrap(), r.int("account_id").unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("membre_desactive".to_owned(), referent.id),
                ("membre_reactive".to_owned(), referent.id)
            ]
        );
    }
);

both_backends!(
    referent_resets_an_aidants_second_factor,
    |app: TestApp| async move {
        let s = app.structure("Mairie").await;
        let referent = app.member(s, Role::Referent, "ref").await;
        let aidant = app.member(s, Role::Aidant, "aid").await;
        let mut r = app.login(&referent).await;
        let mut a = app.login(&aidant).await;
        let res = r
            .post(
                &format!("/structures/{s}/equipe/{}/reinitialiser-2fa", aidant.id),
                &[],
            )
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        assert!(
            a.get("/espace").await.is_login_redirect(),
            "every session of the aidant ended"
        );
        let old_code = app.next_code(&aidant.secret);
        let mut c = app.client();
        let res = c
            .post(
                "/connexion",
                &[
                    ("email", &aidant.email),
                    ("password", &aidant.password),
                    ("code", &old_code),
                ],
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNAUTHORIZED,
            "the old authenticator no longer works"
        );
        let mail = app.last_email_to(&aidant.email);
        assert!(mail.subject.contains("double authentification"));
        let link = link_path(&mail.body);
        let page = c.get(&link).await;
        assert!(page.contains("Mot de passe actuel"));
        let secret = extract_between(&page.body, "<code class=\"secret\">", "</code>")
            .unwrap()
            .replace(' ', "");
        let code = app.next_code(&secret);
        let res = c
            .post(
                &link,
                &[("password", "pas le bon mot de passe"), ("code", &code)],
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "the current password is required"
        );
        let res = c
            .post(&link, &[("password", &aidant.password), ("code", &code)])
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let mut fresh = app.client();
        let code = app.next_code(&secret);
        let res = fresh
            .post(
                "/connexion",
                &[
                    ("email", &aidant.email),
                    ("password", &aidant.password),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
    }
);

both_backends!(
    aidant_in_two_structures_switches,
    |app: TestApp| async move {
        let s1 = app.structure("Mairie d'Avallon").await;
        let s2 = app.structure("France Services de Tonnerre").await;
        let ref2 = app.member(s2, Role::Referent, "ref2").await;
        let aidant = app.member(s1, Role::Aidant, "aid").await;
        let mut r2 = app.login(&ref2).await;
        let res = r2
            .post(
                &format!("/structures/{s2}/equipe/inviter"),
                &[
                    ("full_name", "Même Personne"),
                    ("email", &aidant.email),
                    ("role", "aidant"),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        assert!(
            res.location().contains("info=rattachement"),
            "an active account gets a join request, not an invitation"
        );
        assert!(
            app.last_email_to(&aidant.email)
                .subject
                .contains("rejoindre")
        );
        // The same request twice is refused; the aidant accepts it from the account page.
        let again = r2
            .post(
                &format!("/structures/{s2}/equipe/inviter"),
                &[
                    ("full_name", "Même Personne"),
                    ("email", &aidant.email),
                    ("role", "aidant"),
                ],
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        let mut a = app.login(&aidant).await;
        let compte = a.get("/compte").await.body;
        assert!(compte.contains("Demandes de rattachement"), "{compte}");
        let jid = extract_between(&compte, "/compte/rattachements/", "/accepter").unwrap();
        let other = app.member(s1, Role::Aidant, "autre").await;
        let mut o = app.login(&other).await;
        let r = o
            .post(&format!("/compte/rattachements/{jid}/accepter"), &[])
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "only its addressee answers it"
        );
        let r = a
            .post(&format!("/compte/rattachements/{jid}/accepter"), &[])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let mut a = app.login(&aidant).await;
        // The first structure in alphabetical order is the current one after sign-in.
        assert!(
            a.get("/espace")
                .await
                .contains("France Services de Tonnerre")
        );
        let compte = a.get("/compte").await;
        assert!(compte.contains("Mairie d'Avallon"));
        let res = a
            .post("/compte/structure", &[("structure_id", &s1.to_string())])
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        assert!(a.get("/espace").await.contains("Mairie d'Avallon"));
        // Switching to a structure one does not belong to is refused.
        let s3 = app.structure("Ailleurs").await;
        let res = a
            .post("/compte/structure", &[("structure_id", &s3.to_string())])
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            res.contains("ne fait pas partie des vôtres"),
            "{}",
            res.body
        );
        assert!(
            res.contains("href=\"#structures\""),
            "the summary leads to the list"
        );
        assert!(a.get("/espace").await.contains("Mairie d'Avallon"));
        // A value that is not a structure at all: the same page, not an error page.
        let res = a
            .post("/compte/structure", &[("structure_id", "douze")])
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
);

crate::both_backends!(
    inactive_aidants_are_warned_then_deactivated,
    |app: TestApp| async move {
        use relais::accounts::inactivity;
        let s = app.structure("Mairie d'Avallon").await;
        let sleeper = app.member(s, relais::domain::Role::Aidant, "dormeur").await;
        let regular = app.member(s, relais::domain::Role::Aidant, "habitue").await;
        let day = 86_400;
        let url = "https://relais.example.fr";
        // 100 days later the regular aidant signs in; nobody is warned yet.
        app.clock.advance(100 * day);
        app.login(&regular).await;
        let r = inactivity::run(app.db(), &app.mailer, url, app.clock_now())
            .await
            .unwrap();
        assert_eq!(r, inactivity::Report::default());
        // At 151 days: only the sleeper is warned, once.
        app.clock.advance(51 * day);
        let r = inactivity::run(app.db(), &app.mailer, url, app.clock_now())
            .await
            .unwrap();
        assert_eq!(r.warned, 1);
        let mail = app
            .sent()
            .into_iter()
            .rev()
            .find(|m| m.to == sleeper.email)
            .unwrap();
        assert!(mail.subject.contains("sera désactivé") && mail.body.contains("/connexion"));
        let r = inactivity::run(app.db(), &app.mailer, url, app.clock_now())
            .await
            .unwrap();
        assert_eq!(r, inactivity::Report::default(), "warned once");
        // At 183 days (and 32 days after the warning): deactivated, sessions ended.
        app.clock.advance(32 * day);
        let r = inactivity::run(app.db(), &app.mailer, url, app.clock_now())
            .await
            .unwrap();
        assert_eq!(
            r,
            inactivity::Report {
                warned: 0,
                deactivated: 1
            }
        );
        let members = relais::accounts::members(app.db(), s).await.unwrap();
        let m = |id: i64| members.iter().find(|m| m.account_id == id).unwrap().active;
        assert!(!m(sleeper.id) && m(regular.id));
        let mut c = app.client();
        let code = app.next_code(&sleeper.secret);
        let r = c
            .post(
                "/connexion",
                &[
                    ("email", &sleeper.email),
                    ("password", &sleeper.password),
                    ("code", &code),
                ],
            )
            .await;
        assert_ne!(
            r.status,
            StatusCode::SEE_OTHER,
            "no active structure any more"
        );
        // The daily job runs once per day, whichever server claims it.
        assert!(
            inactivity::run_if_due(app.db(), &app.mailer, url, app.clock_now())
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            inactivity::run_if_due(app.db(), &app.mailer, url, app.clock_now())
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            relais::journal::verify(app.db())
                .await
                .unwrap()
                .first_broken,
            None
        );
    }
);

crate::both_backends!(
    referent_restricts_demarches_and_reads_activity,
    |app: TestApp| async move {
        use relais::mandats::{Demarche, Duree};
        let s = app.structure("CCAS de Sens").await;
        let referent = app.member(s, Role::Referent, "referent").await;
        let aidant = app.member(s, Role::Aidant, "aidant").await;
        let who = relais::mandats::Identity {
            sub_hash: relais::crypto::sha256_hex("activite"),
            given_name: "Jeanne".into(),
            family_name: "ESSAI".into(),
            preferred_username: String::new(),
            birthdate: "1950-01-01".into(),
            gender: "female".into(),
            birthplace: "89387".into(),
            birthcountry: "99100".into(),
            email: "jeanne@exemple.fr".into(),
        };
        crate::common::mandate(
            &app,
            s,
            aidant.id,
            relais::mandats::UsagerRef::Identified(&who),
            &[Demarche::Social],
            Duree::Mois,
        )
        .await
        .unwrap();
        let mut c = app.login(&referent).await;
        let page = format!("/structures/{s}/parametres");
        let r = c.get(&page).await;
        assert_eq!(r.status, StatusCode::OK);
        let body = crate::common::unescape(&r.body);
        assert!(
            body.contains("<td>1</td>"),
            "one mandate this month: {body}"
        );
        let r = c.post(&format!("/structures/{s}/demarches"), &[]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "at least one");
        let r = c
            .post(
                &format!("/structures/{s}/demarches"),
                &[("demarche", "social"), ("demarche", "famille")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let allowed: std::collections::BTreeSet<&str> =
            relais::mandats::allowed_demarches(app.db(), s)
                .await
                .unwrap()
                .iter()
                .map(|d| d.key())
                .collect();
        assert_eq!(allowed, ["famille", "social"].into());
        let body = crate::common::unescape(&c.get(&page).await.body);
        assert!(
            body.contains(r#"value="social" checked"#)
                && !body.contains(r#"value="argent" checked"#)
        );
        // The aidant's new-mandate page offers only those.
        let mut a = app.login(&aidant).await;
        let form = crate::common::unescape(&a.get("/mandats/nouveau").await.body);
        assert!(
            form.contains("Social - Santé") && !form.contains("Argent - Impôts"),
            "{form}"
        );
    }
);

crate::both_backends!(
    referent_adds_a_member_to_another_of_their_structures,
    |app: TestApp| async move {
        let s1 = app.structure("CCAS de Joigny").await;
        let s2 = app.structure("France Services de Joigny").await;
        let referent = app.member(s1, Role::Referent, "ref").await;
        // The same person is référent of both structures.
        relais::accounts::invite(
            app.db(),
            s2,
            &relais::domain::Email::parse(&referent.email).unwrap(),
            "Référente",
            Role::Referent,
            None,
            app.clock_now(),
        )
        .await
        .unwrap();
        let aidant = app.member(s1, Role::Aidant, "aidant").await;
        let mut c = app.login(&referent).await;
        let team = c.get(&format!("/structures/{s1}/equipe")).await.body;
        assert!(team.contains("Ajouter à cette structure"), "{team}");
        let path = format!("/structures/{s1}/equipe/{}/structures", aidant.id);
        let r = c.post(&path, &[("structure_id", &s2.to_string())]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let in_s2 = relais::accounts::members(app.db(), s2).await.unwrap();
        assert!(
            in_s2
                .iter()
                .any(|m| m.account_id == aidant.id && m.active && m.role == Role::Aidant)
        );
        let r = c.post(&path, &[("structure_id", &s2.to_string())]).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "already there");
        // A structure the référent does not manage: refused.
        let s3 = app.structure("Ailleurs").await;
        let r = c.post(&path, &[("structure_id", &s3.to_string())]).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(
            relais::accounts::members(app.db(), s3)
                .await
                .unwrap()
                .is_empty()
        );
    }
);
