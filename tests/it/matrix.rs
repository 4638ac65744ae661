//! The authorisation matrix: every declared route × every role. The expected table
//! below must list every route of the application with its rule, so adding a route
//! without declaring (and reviewing) its rule fails here.

use relais::domain::Role;
use relais::web::Access;

use crate::common::{Client, Resp, TestApp};

const EXPECTED: &[(&str, &str, Access)] = &[
    ("GET", "/", Access::Public),
    ("GET", "/healthz", Access::Public),
    ("GET", "/accessibilite", Access::Public),
    ("GET", "/mentions-legales", Access::Public),
    ("GET", "/donnees-personnelles", Access::Public),
    ("GET", "/contact", Access::Public),
    ("GET", "/static/{file}", Access::Public),
    ("GET", "/favicon.ico", Access::Public),
    ("GET", "/connexion", Access::Public),
    ("POST", "/connexion", Access::Public),
    ("GET", "/mot-de-passe-oublie", Access::Public),
    ("POST", "/mot-de-passe-oublie", Access::Public),
    ("GET", "/activation/{token}", Access::Public),
    ("POST", "/activation/{token}", Access::Public),
    ("POST", "/deconnexion", Access::SignedIn),
    ("POST", "/deconnexion/partout", Access::SignedIn),
    ("GET", "/reconfirmer", Access::SignedIn),
    ("POST", "/reconfirmer", Access::SignedIn),
    ("GET", "/compte", Access::SignedIn),
    (
        "POST",
        "/compte/rattachements/{jid}/accepter",
        Access::SignedIn,
    ),
    (
        "POST",
        "/compte/rattachements/{jid}/refuser",
        Access::SignedIn,
    ),
    ("POST", "/compte/structure", Access::SignedIn),
    ("GET", "/espace", Access::Member),
    ("GET", "/structures/{sid}/equipe", Access::StructureManager),
    (
        "GET",
        "/structures/{sid}/equipe/inviter",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/equipe/inviter",
        Access::StructureManager,
    ),
    (
        "GET",
        "/structures/{sid}/equipe/{aid}/desactiver",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/equipe/{aid}/desactiver",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/equipe/{aid}/reactiver",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/equipe/{aid}/reinitialiser-2fa",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/equipe/{aid}/mediation",
        Access::StructureManager,
    ),
    ("GET", "/admin", Access::Admin),
    ("GET", "/admin/structures/nouvelle", Access::Admin),
    ("POST", "/admin/structures/nouvelle", Access::Admin),
    ("GET", "/admin/comptes", Access::Admin),
    ("GET", "/admin/lieux", Access::Admin),
    ("GET", "/admin/cartes", Access::Admin),
    ("GET", "/admin/journal", Access::Admin),
    ("GET", "/admin/journal.csv", Access::Admin),
    ("GET", "/admin/structures.csv", Access::Admin),
    ("GET", "/admin/comptes.csv", Access::Admin),
    (
        "GET",
        "/structures/{sid}/parametres",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/demarches",
        Access::StructureManager,
    ),
    ("GET", "/admin/cartes.csv", Access::Admin),
    ("POST", "/admin/cartes/import", Access::Admin),
    (
        "POST",
        "/structures/{sid}/equipe/{aid}/structures",
        Access::StructureManager,
    ),
    (
        "GET",
        "/structures/{sid}/equipe/{aid}/carte",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/equipe/{aid}/carte/lier",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/equipe/{aid}/carte/delier",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/equipe/{aid}/carte/resynchroniser",
        Access::StructureManager,
    ),
    ("GET", "/habilitation", Access::Public),
    ("POST", "/habilitation", Access::Public),
    ("GET", "/habilitation/demande/{token}", Access::Public),
    ("POST", "/habilitation/demande/{token}", Access::Public),
    (
        "POST",
        "/habilitation/demande/{token}/message",
        Access::Public,
    ),
    (
        "GET",
        "/habilitation/demande/{token}/abandonner",
        Access::Public,
    ),
    (
        "POST",
        "/habilitation/demande/{token}/abandonner",
        Access::Public,
    ),
    ("GET", "/admin/habilitations", Access::Admin),
    ("GET", "/admin/habilitations.csv", Access::Admin),
    ("GET", "/admin/habilitations/{hid}", Access::Admin),
    ("POST", "/admin/habilitations/{hid}/message", Access::Admin),
    ("POST", "/admin/habilitations/{hid}/decision", Access::Admin),
    ("GET", "/admin/formations", Access::Admin),
    ("POST", "/admin/formations/import", Access::Admin),
    ("POST", "/admin/formations/{aid}", Access::Admin),
    ("POST", "/admin/lieux", Access::Admin),
    ("GET", "/lieux", Access::Public),
    ("GET", "/lieux/export.csv", Access::Public),
    ("GET", "/lieux/export.json", Access::Public),
    ("GET", "/lieux/{lid}", Access::Public),
    ("POST", "/lieux/{lid}/structures", Access::Admin),
    (
        "POST",
        "/lieux/{lid}/structures/{sid}/detacher",
        Access::Admin,
    ),
    ("GET", "/mandats/nouveau", Access::Member),
    ("POST", "/mandats/nouveau", Access::Member),
    ("GET", "/mandats/franceconnect/retour", Access::Member),
    ("GET", "/mandats/franceconnect/deconnecte", Access::Member),
    ("GET", "/mandats/brouillons/{draft}", Access::Member),
    ("POST", "/mandats/brouillons/{draft}", Access::Member),
    ("GET", "/admin/territoires", Access::Admin),
    ("POST", "/admin/territoires/hubs", Access::Admin),
    ("POST", "/admin/territoires/comptes", Access::Admin),
    ("GET", "/pilotage", Access::Territory),
    ("GET", "/pilotage/export.csv", Access::Territory),
    ("GET", "/pilotage/acteurs", Access::Territory),
    ("GET", "/pilotage/acteurs.csv", Access::Territory),
    ("GET", "/pilotage/conseillers", Access::Territory),
    ("POST", "/pilotage/conseillers", Access::Territory),
    ("GET", "/chiffres", Access::Public),
    ("GET", "/donnees-ouvertes", Access::Public),
    ("GET", "/donnees-ouvertes/{fichier}", Access::Public),
    ("GET", "/mandats/a-distance", Access::Member),
    ("POST", "/mandats/a-distance", Access::Member),
    ("GET", "/mandats/a-distance/{lid}", Access::Member),
    ("POST", "/mandats/a-distance/{lid}/annuler", Access::Member),
    ("GET", "/mon-espace", Access::Public),
    ("POST", "/mon-espace/connexion", Access::Public),
    ("GET", "/mon-espace/comprendre", Access::Public),
    ("GET", "/mon-espace/franceconnect/retour", Access::Public),
    (
        "GET",
        "/mon-espace/franceconnect/deconnecte",
        Access::Public,
    ),
    ("POST", "/mon-espace/deconnexion", Access::Usager),
    ("GET", "/mon-espace/mandats", Access::Usager),
    ("GET", "/mon-espace/mandats/{mid}", Access::Usager),
    ("GET", "/mon-espace/mandats/{mid}/revoquer", Access::Usager),
    ("POST", "/mon-espace/mandats/{mid}/revoquer", Access::Usager),
    (
        "GET",
        "/mon-espace/mandats/{mid}/autorisations/{aid}/revoquer",
        Access::Usager,
    ),
    (
        "POST",
        "/mon-espace/mandats/{mid}/autorisations/{aid}/revoquer",
        Access::Usager,
    ),
    ("GET", "/mon-espace/attestations/{token}", Access::Usager),
    (
        "GET",
        "/mon-espace/attestations/{token}/pdf",
        Access::Usager,
    ),
    ("GET", "/mon-espace/suppression", Access::Usager),
    ("POST", "/mon-espace/suppression", Access::Usager),
    ("GET", "/consentement/{token}", Access::Public),
    ("POST", "/consentement/{token}", Access::Public),
    ("POST", "/sms/statut", Access::Api),
    ("GET", "/mandats/{mid}", Access::Member),
    ("GET", "/mandats/{mid}/revoquer", Access::Member),
    ("POST", "/mandats/{mid}/revoquer", Access::Member),
    (
        "GET",
        "/mandats/{mid}/autorisations/{aid}/revoquer",
        Access::Member,
    ),
    (
        "POST",
        "/mandats/{mid}/autorisations/{aid}/revoquer",
        Access::Member,
    ),
    ("GET", "/attestations/{token}", Access::Member),
    ("GET", "/attestations/{token}/pdf", Access::Member),
    ("GET", "/usagers", Access::Member),
    ("GET", "/usagers/{uid}", Access::Member),
    ("GET", "/usagers/{uid}/renouveler", Access::Member),
    ("POST", "/usagers/{uid}/renouveler", Access::Member),
    ("GET", "/structures/{sid}/journal", Access::StructureManager),
    (
        "GET",
        "/structures/{sid}/journal.csv",
        Access::StructureManager,
    ),
    ("GET", "/verifier/cles", Access::Public),
    ("GET", "/verifier/{token}", Access::Public),
    (
        "GET",
        "/franceconnect-simulateur/api/v2/.well-known/openid-configuration",
        Access::Public,
    ),
    (
        "GET",
        "/franceconnect-simulateur/api/v2/jwks",
        Access::Public,
    ),
    (
        "GET",
        "/franceconnect-simulateur/api/v2/authorize",
        Access::Public,
    ),
    (
        "POST",
        "/franceconnect-simulateur/api/v2/authorize",
        Access::Public,
    ),
    (
        "POST",
        "/franceconnect-simulateur/api/v2/token",
        Access::Api,
    ),
    (
        "GET",
        "/franceconnect-simulateur/api/v2/userinfo",
        Access::Api,
    ),
    (
        "GET",
        "/franceconnect-simulateur/api/v2/session/end",
        Access::Public,
    ),
    ("GET", "/.well-known/openid-configuration", Access::Public),
    ("GET", "/oidc/jwks", Access::Public),
    ("GET", "/oidc/authorize", Access::Public),
    ("POST", "/oidc/authorize", Access::Api),
    ("GET", "/oidc/autorisation/{rid}", Access::Member),
    ("POST", "/oidc/autorisation/{rid}/confirmer", Access::Member),
    ("POST", "/oidc/autorisation/{rid}/usager", Access::Member),
    ("POST", "/oidc/autorisation/{rid}/demarche", Access::Member),
    ("POST", "/oidc/autorisation/{rid}/annuler", Access::Member),
    ("POST", "/oidc/token", Access::Api),
    ("GET", "/oidc/token", Access::Api),
    ("GET", "/oidc/userinfo", Access::Api),
    ("POST", "/oidc/userinfo", Access::Api),
    ("GET", "/oidc/session/end", Access::Public),
    ("POST", "/oidc/session/end", Access::Api),
    ("GET", "/activites", Access::Mediator),
    ("GET", "/activites/individuel/nouveau", Access::Mediator),
    ("POST", "/activites/individuel/nouveau", Access::Mediator),
    ("GET", "/activites/collectif/nouveau", Access::Mediator),
    ("POST", "/activites/collectif/nouveau", Access::Mediator),
    ("GET", "/activites/statistiques", Access::Mediator),
    ("GET", "/activites/import", Access::Mediator),
    ("POST", "/activites/import", Access::Mediator),
    ("GET", "/activites/statistiques.csv", Access::Mediator),
    ("GET", "/activites/statistiques.xlsx", Access::Mediator),
    ("GET", "/activites/export.xlsx", Access::Mediator),
    ("GET", "/activites/export.csv", Access::Mediator),
    ("GET", "/activites/{acid}", Access::Mediator),
    ("GET", "/activites/{acid}/modifier", Access::Mediator),
    ("POST", "/activites/{acid}/modifier", Access::Mediator),
    ("GET", "/activites/{acid}/supprimer", Access::Mediator),
    ("POST", "/activites/{acid}/supprimer", Access::Mediator),
    ("GET", "/beneficiaires", Access::Mediator),
    ("GET", "/beneficiaires/nouveau", Access::Mediator),
    ("POST", "/beneficiaires/nouveau", Access::Mediator),
    ("GET", "/beneficiaires/{bid}", Access::Mediator),
    ("GET", "/beneficiaires/doublons", Access::Mediator),
    ("GET", "/beneficiaires/import", Access::Mediator),
    ("POST", "/beneficiaires/import", Access::Mediator),
    (
        "GET",
        "/beneficiaires/{bid}/fusionner/{oid}",
        Access::Mediator,
    ),
    (
        "POST",
        "/beneficiaires/{bid}/fusionner/{oid}",
        Access::Mediator,
    ),
    ("GET", "/beneficiaires/{bid}/modifier", Access::Mediator),
    ("POST", "/beneficiaires/{bid}/modifier", Access::Mediator),
    ("GET", "/beneficiaires/{bid}/supprimer", Access::Mediator),
    ("POST", "/beneficiaires/{bid}/supprimer", Access::Mediator),
    ("GET", "/coordination", Access::Coordinator),
    (
        "GET",
        "/structures/{sid}/statistiques",
        Access::StructureManager,
    ),
    ("GET", "/statistiques", Access::Public),
    ("GET", "/structures/{sid}/api", Access::StructureManager),
    ("POST", "/structures/{sid}/api", Access::StructureManager),
    (
        "POST",
        "/structures/{sid}/api/{cid}/revoquer",
        Access::StructureManager,
    ),
    ("GET", "/api/v1/activites", Access::Api),
    ("GET", "/api/v1/statistiques", Access::Api),
    ("POST", "/activites/partages", Access::Mediator),
    (
        "POST",
        "/activites/partages/{pid}/supprimer",
        Access::Mediator,
    ),
    ("GET", "/partage/{token}", Access::Public),
    ("POST", "/coordination/inviter", Access::Coordinator),
    (
        "POST",
        "/coordination/membres/{tid}/retirer",
        Access::Coordinator,
    ),
    ("GET", "/coordination/statistiques", Access::Coordinator),
    (
        "GET",
        "/coordination/activites/nouveau",
        Access::Coordinator,
    ),
    (
        "POST",
        "/coordination/activites/nouveau",
        Access::Coordinator,
    ),
    (
        "GET",
        "/coordination/activites/{kid}/supprimer",
        Access::Coordinator,
    ),
    (
        "POST",
        "/coordination/activites/{kid}/supprimer",
        Access::Coordinator,
    ),
    ("POST", "/equipes/{tid}/accepter", Access::Mediator),
    ("POST", "/equipes/{tid}/refuser", Access::Mediator),
    ("POST", "/equipes/{tid}/quitter", Access::Mediator),
    ("GET", "/mediateur/lieux", Access::Mediator),
    ("POST", "/mediateur/lieux", Access::Mediator),
    ("POST", "/mediateur/lieux/{lid}/retirer", Access::Mediator),
    ("GET", "/mediateur/profil", Access::Mediator),
    ("POST", "/mediateur/profil", Access::Mediator),
    ("GET", "/api/v1/lieux", Access::Public),
    ("GET", "/api/v1/openapi.json", Access::Public),
    ("GET", "/demo/service-en-ligne", Access::Public),
    ("GET", "/demo/service-en-ligne/connexion", Access::Public),
    ("GET", "/demo/service-en-ligne/retour", Access::Public),
    ("GET", "/pass", Access::Public),
    ("GET", "/pass/lieu", Access::PassPlace),
    ("GET", "/pass/remise", Access::Prescriber),
    ("POST", "/pass/remise", Access::Prescriber),
    (
        "POST",
        "/pass/utilisations/{uid}/annuler",
        Access::PassPlace,
    ),
    ("GET", "/pass/{code}", Access::Public),
    ("POST", "/pass/{code}/utiliser", Access::PassPlace),
    ("GET", "/financeur", Access::Funder),
    ("GET", "/financeur/export.csv", Access::Funder),
    ("GET", "/financeur/commandes/nouvelle", Access::Funder),
    ("POST", "/financeur/commandes", Access::Funder),
    ("GET", "/financeur/commandes/{cid}", Access::Funder),
    (
        "GET",
        "/financeur/commandes/{cid}/carnets.pdf",
        Access::Funder,
    ),
    ("POST", "/financeur/commandes/{cid}/accuse", Access::Funder),
    ("POST", "/financeur/commandes/{cid}/bilan", Access::Funder),
    ("GET", "/admin/pass", Access::Admin),
    ("POST", "/admin/pass/financeurs", Access::Admin),
    ("POST", "/admin/pass/financeurs/{fid}/agents", Access::Admin),
    ("POST", "/admin/pass/prescripteurs", Access::Admin),
    ("GET", "/admin/pass/commandes/{cid}", Access::Admin),
    (
        "GET",
        "/admin/pass/commandes/{cid}/carnets.pdf",
        Access::Admin,
    ),
    (
        "POST",
        "/admin/pass/commandes/{cid}/paiement",
        Access::Admin,
    ),
    (
        "POST",
        "/admin/pass/commandes/{cid}/allocation",
        Access::Admin,
    ),
    ("POST", "/admin/pass/commandes/{cid}/bilan", Access::Admin),
    ("POST", "/admin/pass/qualifications/{qid}", Access::Admin),
    ("POST", "/admin/pass/releves/paiement", Access::Admin),
    ("GET", "/structures/{sid}/pass", Access::StructureManager),
    ("POST", "/structures/{sid}/pass", Access::StructureManager),
    (
        "GET",
        "/structures/{sid}/pass/releves/{rid}/csv",
        Access::StructureManager,
    ),
    (
        "GET",
        "/structures/{sid}/pass/releves/{rid}/pdf",
        Access::StructureManager,
    ),
    ("GET", "/rappel", Access::Public),
    ("POST", "/rappel", Access::Public),
    ("GET", "/rappels", Access::Helpline),
    ("GET", "/rappels/chiffres", Access::Helpline),
    ("GET", "/rappels/chiffres.csv", Access::Helpline),
    ("GET", "/rappels/{did}", Access::Helpline),
    ("POST", "/rappels/{did}", Access::Helpline),
    ("GET", "/admin/rappels", Access::Admin),
    ("POST", "/admin/rappels", Access::Admin),
    (
        "POST",
        "/structures/{sid}/rappels",
        Access::StructureManager,
    ),
    ("GET", "/ressources", Access::Public),
    ("GET", "/ressources/flux.atom", Access::Public),
    ("GET", "/ressources/mes-ressources", Access::Author),
    ("GET", "/ressources/nouvelle", Access::Author),
    ("POST", "/ressources/nouvelle", Access::Author),
    ("GET", "/ressources/relecture", Access::Curator),
    ("POST", "/ressources/collections", Access::Author),
    ("GET", "/ressources/collections/{cid}", Access::Public),
    ("POST", "/ressources/collections/{cid}", Access::Author),
    ("GET", "/ressources/{rsid}", Access::Public),
    ("GET", "/ressources/{rsid}/modifier", Access::Author),
    ("POST", "/ressources/{rsid}/modifier", Access::Author),
    ("POST", "/ressources/{rsid}/proposer", Access::Author),
    ("POST", "/ressources/{rsid}/fichiers", Access::Author),
    ("GET", "/ressources/{rsid}/fichiers/{fid}", Access::Public),
    (
        "POST",
        "/ressources/{rsid}/fichiers/{fid}/supprimer",
        Access::Author,
    ),
    ("GET", "/ressources/{rsid}/versions", Access::SignedIn),
    ("GET", "/ressources/{rsid}/relire", Access::Curator),
    ("POST", "/ressources/{rsid}/decision", Access::Curator),
    ("GET", "/initiatives", Access::Public),
    ("GET", "/initiatives.csv", Access::Public),
    ("GET", "/initiatives/nouvelle", Access::Curator),
    ("POST", "/initiatives/nouvelle", Access::Curator),
    ("POST", "/initiatives/import", Access::Curator),
    ("GET", "/initiatives/{iid}", Access::Public),
    ("GET", "/admin/equipements", Access::Admin),
    ("POST", "/admin/equipements", Access::Admin),
    ("GET", "/admin/equipements/chiffres.csv", Access::Admin),
    ("GET", "/admin/equipements/campagnes/{cpid}", Access::Admin),
    (
        "POST",
        "/admin/equipements/demandes/{eqd}/decision",
        Access::Admin,
    ),
    (
        "POST",
        "/admin/equipements/demandes/{eqd}/livraison",
        Access::Admin,
    ),
    (
        "GET",
        "/structures/{sid}/equipements",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/equipements/demandes",
        Access::StructureManager,
    ),
    (
        "POST",
        "/structures/{sid}/equipements/{eid}/{action}",
        Access::StructureManager,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    AidantA,
    AidantB,
    ReferentA,
    ReferentB,
    MediateurA,
    MediateurB,
    Admin,
    /// Works for a pass numérique funder (no structure).
    Financeur,
    /// A person with a mandate, signed in to their space with FranceConnect.
    Usager,
    /// Follows the national steering figures.
    Pilotage,
    /// An agent of the national Solidarité Numérique helpline.
    Ecoutant,
}

const EVERYONE: [Who; 12] = [
    Who::Anonymous,
    Who::AidantA,
    Who::AidantB,
    Who::ReferentA,
    Who::ReferentB,
    Who::MediateurA,
    Who::MediateurB,
    Who::Admin,
    Who::Financeur,
    Who::Usager,
    Who::Pilotage,
    Who::Ecoutant,
];

/// The rule, written independently of the guard. Routes under `{sid}` target
/// structure A. For the pass numérique, structure A is a qualified place and
/// structure B a prescripteur.
fn allowed(access: Access, who: Who) -> bool {
    match access {
        Access::Public | Access::Api => true,
        Access::SignedIn => !matches!(who, Who::Anonymous | Who::Usager),
        Access::Member => matches!(
            who,
            Who::AidantA | Who::AidantB | Who::ReferentA | Who::ReferentB | Who::Ecoutant
        ),
        Access::Mediator => matches!(who, Who::MediateurA | Who::MediateurB),
        Access::Coordinator => who == Who::MediateurA,
        Access::StructureManager => matches!(who, Who::ReferentA | Who::Admin),
        Access::Admin => who == Who::Admin,
        Access::Funder => who == Who::Financeur,
        Access::Prescriber => matches!(who, Who::AidantB | Who::ReferentB | Who::MediateurB),
        Access::PassPlace => matches!(who, Who::AidantA | Who::ReferentA | Who::MediateurA),
        Access::Usager => who == Who::Usager,
        Access::Territory => who == Who::Pilotage,
        Access::Helpline => who == Who::Ecoutant,
        Access::Author => matches!(
            who,
            Who::AidantA
                | Who::AidantB
                | Who::ReferentA
                | Who::ReferentB
                | Who::MediateurA
                | Who::MediateurB
                | Who::Ecoutant
                | Who::Admin
        ),
        Access::Curator => who == Who::Admin,
    }
}

/// Every field name of the product's forms, each with a value no field accepts
/// (not a number, not a known choice, not a date).
const GARBAGE: &[(&str, &str)] = &[
    ("usager", "x"),
    ("autorisation", "x"),
    ("structure_id", "x"),
    ("identite", "x"),
    ("code", "x"),
    ("code2", "x"),
    ("email", "x"),
    ("password", "x"),
    ("full_name", "\u{0}"),
    ("role", "x"),
    ("choix", "x"),
    ("decision", "x"),
    ("message", ""),
    ("duree", "x"),
    ("demarche", "x"),
    ("a_distance", "x"),
    ("confirmer", "x"),
    ("etat", "x"),
    ("date", "x"),
    ("siret", "x"),
    ("serie", "x"),
    ("requete", "x"),
    ("scenario", "x"),
    ("prenom", "\u{0}"),
    ("lieu", "x"),
    ("lieu_type", "x"),
    ("thematique", "x"),
    ("anon_total", "x"),
    ("genre", "x"),
    ("conseiller", "x"),
    ("beneficiaire", "x"),
    ("annee_naissance", "x"),
    ("echelle", "x"),
    ("participants", "x"),
    ("canal", "x"),
    ("telephone", "x"),
    ("accord", "x"),
    ("empreinte", "x"),
    ("departements", "x"),
    ("niveau", "x"),
    ("nom", "\u{0}"),
    ("contenu", "x"),
    ("acte", "x"),
    ("resultat", "x"),
    ("issue", "x"),
    ("texte", "\u{0}"),
    ("code_postal", "x"),
    ("besoin", "x"),
    ("creneaux", "x"),
    ("precisions", "x"),
    ("consentement", "x"),
    ("rappels", "x"),
    ("titre", "x"),
    ("resume", "x"),
    ("corps", "\u{0}"),
    ("publics", "x"),
    ("thematiques", "x"),
    ("format", "x"),
    ("licence", "x"),
    ("liens", "x"),
    ("motif", "x"),
    ("ressource", "x"),
    ("retirer", "x"),
    ("territoire", "x"),
    ("annee", "x"),
    ("budget", "x"),
    ("description", "x"),
    ("partenaires", "x"),
    ("resultats", "x"),
    ("contact", "x"),
    ("campagne", "x"),
    ("quantite-tablette", "x"),
    ("usages", "\u{0}"),
    ("ligne", "x"),
    ("fournisseur", "\u{0}"),
    ("numeros", "\u{0}"),
    ("origine", "x"),
    ("emprunteur", "x"),
    ("personne", "\u{0}"),
    ("retour", "x"),
    ("cloture", "x"),
    ("types", "x"),
];

/// The generic error page of a refused request (what a form must never end on).
fn generic_bad_request(r: &Resp) -> bool {
    r.status.is_client_error() && r.contains("<h1>Demande incorrecte</h1>")
}

fn denied(r: &Resp) -> bool {
    r.status == axum::http::StatusCode::FORBIDDEN
        || r.is_login_redirect()
        || (r.status.is_redirection() && r.location().starts_with("/mon-espace?"))
        || (r.status.is_redirection() && r.location() == "/mon-espace")
}

#[test]
fn every_route_declares_its_rule() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(TestApp::new(relais::db::Backend::Sqlite));
    let mut actual: Vec<(&str, &str, Access)> = app
        .routes
        .iter()
        .map(|r| (r.method, r.path, r.access))
        .collect();
    let mut expected = EXPECTED.to_vec();
    actual.sort_by_key(|r| (r.1, r.0));
    expected.sort_by_key(|r| (r.1, r.0));
    assert_eq!(
        actual, expected,
        "a route was added, removed or changed its rule: update the matrix after review"
    );
}

crate::both_backends!(authorisation_matrix, |app: TestApp| async move {
    let a = app.structure("Structure A").await;
    let b = app.structure("Structure B").await;
    let target = app.member(a, Role::Aidant, "cible").await;
    let people = [
        (
            Who::AidantA,
            Some(app.member(a, Role::Aidant, "aidant-a").await),
        ),
        (
            Who::AidantB,
            Some(app.member(b, Role::Aidant, "aidant-b").await),
        ),
        (
            Who::ReferentA,
            Some(app.member(a, Role::Referent, "referent-a").await),
        ),
        (
            Who::ReferentB,
            Some(app.member(b, Role::Referent, "referent-b").await),
        ),
        (Who::MediateurA, {
            let m = app.member(a, Role::Mediateur, "mediateur-a").await;
            relais::activites::coordination::set_coordinator(app.db(), m.id, true)
                .await
                .unwrap();
            Some(m)
        }),
        (
            Who::MediateurB,
            Some(app.member(b, Role::Mediateur, "mediateur-b").await),
        ),
        (Who::Admin, Some(app.admin().await)),
        (
            Who::Financeur,
            Some(app.funder("Financeur du test").await.1),
        ),
        (
            Who::Pilotage,
            Some(
                app.territorial(&relais::pilotage::Territoire::national())
                    .await,
            ),
        ),
        (Who::Ecoutant, {
            let c = app.structure("Ligne nationale").await;
            let e = app.member(c, Role::Aidant, "ecoutant").await;
            relais::rappels::set_participation(
                app.db(),
                c,
                Some("national"),
                e.id,
                app.clock_now(),
            )
            .await
            .unwrap();
            Some(e)
        }),
        (Who::Anonymous, None),
    ];
    // A callback request in the national queue (request 1).
    crate::rappels::request(&app, "Odile", "06 12 34 56 78", "89000").await;
    // Resource 1 of structure A, published, with attachment 1; collection 1 of
    // structure A; initiative 1.
    let admin_id = people
        .iter()
        .find(|(w, _)| *w == Who::Admin)
        .and_then(|(_, u)| u.as_ref())
        .unwrap()
        .id;
    crate::ressources::published(&app, a, target.id, admin_id).await;
    // A person with a mandate in structure A (mandate 1, autorisation 1).
    crate::espace::mandate_for(
        &app,
        people[0].1.as_ref().unwrap(),
        "angela-dubois",
        &["social"],
    )
    .await;
    // Structure B hands out carnets; structure A is a qualified place.
    relais::pass::set_prescripteur(app.db(), b, target.id, app.clock_now())
        .await
        .unwrap();
    let qualification = relais::pass::RawQualification {
        siret: "73282932000074".into(),
        commune: "Auxerre (89)".into(),
        lieu: String::new(),
        services: vec!["Maîtrise des outils numériques du quotidien".into()],
        reponses: relais::pass::QUESTIONS
            .iter()
            .map(|(k, _)| (*k).to_owned())
            .collect(),
        iban: "FR7630006000011234567890189".into(),
        bic: "BNPAFRPP".into(),
        titulaire: "Structure A".into(),
    };
    let qid = relais::pass::apply(app.db(), a, &qualification, target.id, app.clock_now())
        .await
        .unwrap();
    relais::pass::decide(app.db(), qid, true, "", target.id, app.clock_now())
        .await
        .unwrap();
    let css = relais::web::assets::css_href()
        .trim_start_matches("/static/")
        .to_owned();
    let mut failures = Vec::new();
    for (method, path, access) in EXPECTED {
        let concrete = path
            .replace("{sid}", &a.to_string())
            .replace("{aid}", &target.id.to_string())
            .replace("{token}", &"ab".repeat(32))
            .replace("{draft}", &"cd".repeat(32))
            .replace("{rid}", &"ef".repeat(32))
            .replace("{mid}", "1")
            .replace("{uid}", "1")
            .replace("{lid}", "1")
            .replace("{hid}", "1")
            .replace("{jid}", "1")
            .replace("{acid}", "1")
            .replace("{bid}", "1")
            .replace("{oid}", "2")
            .replace("{tid}", "1")
            .replace("{pid}", "1")
            .replace("{cid}", "1")
            .replace("{kid}", "1")
            .replace("{fid}", "1")
            .replace("{qid}", "1")
            .replace("{did}", "1")
            .replace("{rsid}", "1")
            .replace("{cpid}", "1")
            .replace("{eqd}", "1")
            .replace("{eid}", "1")
            .replace("{action}", "etat")
            .replace("{iid}", "1")
            .replace("{code}", "7KQ2M9XD4HTBR0WC")
            .replace("{fichier}", "statistiques.csv")
            .replace("{file}", &css);
        for who in EVERYONE {
            let user = people
                .iter()
                .find(|(w, _)| *w == who)
                .and_then(|(_, u)| u.clone());
            let mut c: Client = match &user {
                Some(u) => app.login(u).await,
                None if who == Who::Usager => {
                    let mut c = app.client();
                    crate::espace::sign_in(&mut c, "angela-dubois").await;
                    c
                }
                None => app.client(),
            };
            let r = if *method == "GET" {
                c.get(&concrete).await
            } else {
                c.post(&concrete, &[]).await
            };
            let ok = !denied(&r) && !r.status.is_server_error();
            if ok != allowed(*access, who) || r.status.is_server_error() {
                failures.push(format!(
                    "{method} {concrete} as {who:?}: got {} ({})",
                    r.status,
                    r.location()
                ));
            }
            // No form ends on the generic « Demande incorrecte » page for a
            // missing or wrong field: an empty form, then every field the forms
            // have filled with what no field accepts.
            if *method == "POST" && *access != Access::Api && allowed(*access, who) {
                let garbage = c.post(&concrete, GARBAGE).await;
                for (what, r) in [("vide", &r), ("invalide", &garbage)] {
                    if generic_bad_request(r) || r.status.is_server_error() {
                        failures.push(format!(
                            "POST {concrete} as {who:?}, formulaire {what} : page générique {}",
                            r.status
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorisation matrix on {:?}:\n{}",
        app.backend,
        failures.join("\n")
    );
});
