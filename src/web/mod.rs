//! HTTP: the route table (every route declares its access rule), the request
//! context middleware, pages and assets.

pub mod access;
pub mod assets;
pub mod charts;
pub mod context;
pub mod ctx;
pub mod error;
pub mod forms;
pub mod pages;
pub mod server;
pub mod views;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::franceconnect::{self, http::HttpClient, simulator::SimError, simulator::Simulator};
use crate::mail::Mailer;
use crate::mandats::attestation::Signer;
pub use access::Access;

pub struct Inner {
    pub db: Db,
    pub config: Config,
    pub clock: SharedClock,
    pub mailer: Mailer,
    /// Argon2 hash verified for unknown emails, so timing does not reveal accounts.
    pub dummy_hash: String,
    /// Signs mandate and revocation attestations.
    pub signer: Signer,
    /// The usager's login (OpenID Connect client).
    pub franceconnect: franceconnect::Client,
    /// The built-in FranceConnect (development only).
    pub simulator: Option<Simulator>,
    /// The identity provider's signing keys (cached).
    pub idp_keys: crate::idp::keys::Keys,
    /// The identity provider's clients (from the configuration, computed once).
    pub idp_clients: Vec<crate::config::IdpClientConfig>,
    /// Outgoing HTTP (the demo online service calls the provider with it).
    pub http: HttpClient,
    /// Text messages (links for mandates at a distance).
    pub sms: crate::sms::SmsSender,
    /// The demo online service's pending logins (development only).

    /// The `Content-Security-Policy` of every response (computed once).
    pub csp: axum::http::HeaderValue,
    /// The support address, shown at the foot of every page.
    pub support: std::sync::Arc<str>,
}

impl Inner {
    /// Wires the services that derive from the configuration.
    pub fn build(
        db: Db,
        config: Config,
        clock: SharedClock,
        mailer: Mailer,
        dummy_hash: String,
        http: HttpClient,
    ) -> Result<Inner, SimError> {
        let simulator = if config.simulator_enabled() {
            Some(Simulator::new(&config)?)
        } else {
            None
        };
        let idp_clients = config.idp_clients();
        Ok(Inner {
            csp: context::content_security_policy(&config),
            support: std::sync::Arc::from(config.support_email.as_str()),
            signer: Signer::from_secret(&config.secret_key),
            idp_keys: crate::idp::keys::Keys::new(
                &config.secret_key,
                crate::idp::keys::algs_for(&idp_clients),
            ),
            idp_clients,
            franceconnect: franceconnect::Client::new(&config, http.clone()),
            sms: crate::sms::SmsSender::from_config(&config, http.clone()),
            http,
            simulator,
            db,
            config,
            clock,
            mailer,
            dummy_hash,
        })
    }
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
    /// An absolute link for emails.
    pub fn link(&self, path: &str) -> String {
        format!("{}{}", self.config.public_url(), path)
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// One declared route: what the authorisation matrix test walks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Builds routes only through [`Routes::add`], so no route exists without a rule.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<RouteInfo>,
    state: AppState,
}

impl Routes {
    fn add(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: MethodRouter<AppState>,
    ) -> Self {
        let guarded = handler.route_layer(axum::middleware::from_fn_with_state(
            (self.state.clone(), access),
            access::guard,
        ));
        self.router = self.router.route(path, guarded);
        let method = match method {
            Method::GET => "GET",
            Method::POST => "POST",
            _ => "OTHER",
        };
        self.table.push(RouteInfo {
            method,
            path,
            access,
        });
        self
    }
    fn get(self, path: &'static str, access: Access, h: MethodRouter<AppState>) -> Self {
        self.add(Method::GET, path, access, h)
    }
    fn post(self, path: &'static str, access: Access, h: MethodRouter<AppState>) -> Self {
        self.add(Method::POST, path, access, h)
    }
}

/// The application: router and its route table.
pub fn app(state: AppState) -> (Router, Vec<RouteInfo>) {
    use axum::routing::{get, post};
    use pages::{
        account, activites, admin, api, auth, cards, distance, equipements, espace, habilitation,
        idp, initiatives, journal, lieux, mandats, pass, pilotage, public, rappels, ressources,
        simulator, structure, team, usagers, verify,
    };
    let r = Routes {
        router: Router::new(),
        table: Vec::new(),
        state: state.clone(),
    }
    .get("/", Access::Public, get(public::home))
    .get("/healthz", Access::Public, get(public::healthz))
    .get("/accessibilite", Access::Public, get(public::accessibility))
    .get("/mentions-legales", Access::Public, get(public::legal))
    .get(
        "/donnees-personnelles",
        Access::Public,
        get(public::privacy),
    )
    .get("/contact", Access::Public, get(public::contact))
    .get("/static/{file}", Access::Public, get(assets::serve))
    .get("/favicon.ico", Access::Public, get(assets::favicon))
    .get("/connexion", Access::Public, get(auth::login_form))
    .post("/connexion", Access::Public, post(auth::login))
    .get(
        "/mot-de-passe-oublie",
        Access::Public,
        get(auth::forgot_form),
    )
    .post("/mot-de-passe-oublie", Access::Public, post(auth::forgot))
    .get(
        "/activation/{token}",
        Access::Public,
        get(auth::activation_form),
    )
    .post(
        "/activation/{token}",
        Access::Public,
        post(auth::activation),
    )
    .post("/deconnexion", Access::SignedIn, post(auth::logout))
    .post(
        "/deconnexion/partout",
        Access::SignedIn,
        post(auth::logout_everywhere),
    )
    .get("/reconfirmer", Access::SignedIn, get(auth::step_up_form))
    .post("/reconfirmer", Access::SignedIn, post(auth::step_up))
    .get("/compte", Access::SignedIn, get(account::show))
    .post(
        "/compte/rattachements/{jid}/accepter",
        Access::SignedIn,
        post(account::accept_join),
    )
    .post(
        "/compte/rattachements/{jid}/refuser",
        Access::SignedIn,
        post(account::decline_join),
    )
    .post(
        "/compte/structure",
        Access::SignedIn,
        post(account::switch_structure),
    )
    .get("/espace", Access::Member, get(account::home))
    .get(
        "/structures/{sid}/equipe",
        Access::StructureManager,
        get(team::list),
    )
    .get(
        "/structures/{sid}/equipe/inviter",
        Access::StructureManager,
        get(team::invite_form),
    )
    .post(
        "/structures/{sid}/equipe/inviter",
        Access::StructureManager,
        post(team::invite),
    )
    .get(
        "/structures/{sid}/equipe/{aid}/desactiver",
        Access::StructureManager,
        get(team::deactivate_confirm),
    )
    .post(
        "/structures/{sid}/equipe/{aid}/desactiver",
        Access::StructureManager,
        post(team::deactivate),
    )
    .post(
        "/structures/{sid}/equipe/{aid}/reactiver",
        Access::StructureManager,
        post(team::reactivate),
    )
    .post(
        "/structures/{sid}/equipe/{aid}/mediation",
        Access::StructureManager,
        post(team::enable_mediation),
    )
    .post(
        "/structures/{sid}/equipe/{aid}/reinitialiser-2fa",
        Access::StructureManager,
        post(team::reset_totp),
    )
    .get("/admin", Access::Admin, get(admin::structures))
    .get(
        "/admin/structures/nouvelle",
        Access::Admin,
        get(admin::new_structure_form),
    )
    .post(
        "/admin/structures/nouvelle",
        Access::Admin,
        post(admin::create_structure),
    )
    .get("/admin/comptes", Access::Admin, get(admin::accounts))
    .get("/admin/territoires", Access::Admin, get(pilotage::admin))
    .post(
        "/admin/territoires/hubs",
        Access::Admin,
        post(pilotage::create_hub),
    )
    .post(
        "/admin/territoires/comptes",
        Access::Admin,
        post(pilotage::add_account),
    )
    .get("/admin/equipements", Access::Admin, get(equipements::admin))
    .post(
        "/admin/equipements",
        Access::Admin,
        post(equipements::create_campaign),
    )
    .get(
        "/admin/equipements/chiffres.csv",
        Access::Admin,
        get(equipements::figures_csv),
    )
    .get(
        "/admin/equipements/campagnes/{cpid}",
        Access::Admin,
        get(equipements::campaign),
    )
    .post(
        "/admin/equipements/demandes/{eqd}/decision",
        Access::Admin,
        post(equipements::decide),
    )
    .post(
        "/admin/equipements/demandes/{eqd}/livraison",
        Access::Admin,
        post(equipements::deliver),
    )
    .get(
        "/structures/{sid}/equipements",
        Access::StructureManager,
        get(equipements::structure),
    )
    .post(
        "/structures/{sid}/equipements/demandes",
        Access::StructureManager,
        post(equipements::apply),
    )
    .post(
        "/structures/{sid}/equipements/{eid}/{action}",
        Access::StructureManager,
        post(equipements::device),
    )
    .get("/ressources", Access::Public, get(ressources::search))
    .get(
        "/ressources/flux.atom",
        Access::Public,
        get(ressources::feed),
    )
    .get(
        "/ressources/mes-ressources",
        Access::Author,
        get(ressources::mine),
    )
    .get(
        "/ressources/nouvelle",
        Access::Author,
        get(ressources::new_form),
    )
    .post(
        "/ressources/nouvelle",
        Access::Author,
        post(ressources::create),
    )
    .get(
        "/ressources/relecture",
        Access::Curator,
        get(ressources::review_list),
    )
    .post(
        "/ressources/collections",
        Access::Author,
        post(ressources::collection_create),
    )
    .get(
        "/ressources/collections/{cid}",
        Access::Public,
        get(ressources::collection),
    )
    .post(
        "/ressources/collections/{cid}",
        Access::Author,
        post(ressources::collection_edit),
    )
    .get("/ressources/{rsid}", Access::Public, get(ressources::show))
    .get(
        "/ressources/{rsid}/modifier",
        Access::Author,
        get(ressources::edit_form),
    )
    .post(
        "/ressources/{rsid}/modifier",
        Access::Author,
        post(ressources::update),
    )
    .post(
        "/ressources/{rsid}/proposer",
        Access::Author,
        post(ressources::submit),
    )
    .post(
        "/ressources/{rsid}/fichiers",
        Access::Author,
        post(ressources::upload),
    )
    .get(
        "/ressources/{rsid}/fichiers/{fid}",
        Access::Public,
        get(ressources::file),
    )
    .post(
        "/ressources/{rsid}/fichiers/{fid}/supprimer",
        Access::Author,
        post(ressources::delete_file),
    )
    .get(
        "/ressources/{rsid}/versions",
        Access::SignedIn,
        get(ressources::versions),
    )
    .get(
        "/ressources/{rsid}/relire",
        Access::Curator,
        get(ressources::review),
    )
    .post(
        "/ressources/{rsid}/decision",
        Access::Curator,
        post(ressources::decide),
    )
    .get("/initiatives", Access::Public, get(initiatives::list))
    .get("/initiatives.csv", Access::Public, get(initiatives::export))
    .get(
        "/initiatives/nouvelle",
        Access::Curator,
        get(initiatives::new_form),
    )
    .post(
        "/initiatives/nouvelle",
        Access::Curator,
        post(initiatives::create),
    )
    .post(
        "/initiatives/import",
        Access::Curator,
        post(initiatives::import),
    )
    .get("/initiatives/{iid}", Access::Public, get(initiatives::show))
    .get("/rappel", Access::Public, get(rappels::form))
    .post("/rappel", Access::Public, post(rappels::submit))
    .get("/rappels", Access::Helpline, get(rappels::queue))
    .get(
        "/rappels/chiffres",
        Access::Helpline,
        get(rappels::chiffres),
    )
    .get(
        "/rappels/chiffres.csv",
        Access::Helpline,
        get(rappels::chiffres_csv),
    )
    .get("/rappels/{did}", Access::Helpline, get(rappels::show))
    .post("/rappels/{did}", Access::Helpline, post(rappels::act))
    .get("/admin/rappels", Access::Admin, get(rappels::admin))
    .post("/admin/rappels", Access::Admin, post(rappels::admin_set))
    .post(
        "/structures/{sid}/rappels",
        Access::StructureManager,
        post(rappels::structure_set),
    )
    .get("/pilotage", Access::Territory, get(pilotage::dashboard))
    .get(
        "/pilotage/acteurs",
        Access::Territory,
        get(pilotage::acteurs),
    )
    .get(
        "/pilotage/acteurs.csv",
        Access::Territory,
        get(pilotage::acteurs_export),
    )
    .get(
        "/pilotage/export.csv",
        Access::Territory,
        get(pilotage::export),
    )
    .get(
        "/pilotage/conseillers",
        Access::Territory,
        get(pilotage::conseillers_form),
    )
    .post(
        "/pilotage/conseillers",
        Access::Territory,
        post(pilotage::conseillers_import),
    )
    .get("/chiffres", Access::Public, get(pilotage::public))
    .get(
        "/donnees-ouvertes",
        Access::Public,
        get(pilotage::open_data),
    )
    .get(
        "/donnees-ouvertes/{fichier}",
        Access::Public,
        get(pilotage::open_data_file),
    )
    .get("/mandats/nouveau", Access::Member, get(mandats::new_form))
    .post(
        "/mandats/nouveau",
        Access::Member,
        post(mandats::new_submit),
    )
    .get(
        "/mandats/franceconnect/retour",
        Access::Member,
        get(mandats::callback),
    )
    .get(
        "/mandats/franceconnect/deconnecte",
        Access::Member,
        get(mandats::after_logout),
    )
    .get(
        "/mandats/brouillons/{draft}",
        Access::Member,
        get(mandats::recap),
    )
    .post(
        "/mandats/brouillons/{draft}",
        Access::Member,
        post(mandats::confirm),
    )
    .get("/mandats/a-distance", Access::Member, get(distance::form))
    .post(
        "/mandats/a-distance",
        Access::Member,
        post(distance::submit),
    )
    .get(
        "/mandats/a-distance/{lid}",
        Access::Member,
        get(distance::show),
    )
    .post(
        "/mandats/a-distance/{lid}/annuler",
        Access::Member,
        post(distance::cancel),
    )
    .get("/mon-espace", Access::Public, get(espace::home))
    .post("/mon-espace/connexion", Access::Public, post(espace::start))
    .get(
        "/mon-espace/comprendre",
        Access::Public,
        get(espace::explain),
    )
    .get(
        "/mon-espace/franceconnect/retour",
        Access::Public,
        get(espace::callback),
    )
    .get(
        "/mon-espace/franceconnect/deconnecte",
        Access::Public,
        get(espace::after_logout),
    )
    .post(
        "/mon-espace/deconnexion",
        Access::Usager,
        post(espace::logout),
    )
    .get(
        "/mon-espace/mandats",
        Access::Usager,
        get(espace::mandats_page),
    )
    .get(
        "/mon-espace/mandats/{mid}",
        Access::Usager,
        get(espace::mandat_page),
    )
    .get(
        "/mon-espace/mandats/{mid}/revoquer",
        Access::Usager,
        get(espace::revoke_mandat_confirm),
    )
    .post(
        "/mon-espace/mandats/{mid}/revoquer",
        Access::Usager,
        post(espace::revoke_mandat),
    )
    .get(
        "/mon-espace/mandats/{mid}/autorisations/{aid}/revoquer",
        Access::Usager,
        get(espace::revoke_autorisation_confirm),
    )
    .post(
        "/mon-espace/mandats/{mid}/autorisations/{aid}/revoquer",
        Access::Usager,
        post(espace::revoke_autorisation),
    )
    .get(
        "/mon-espace/attestations/{token}",
        Access::Usager,
        get(espace::attestation_page),
    )
    .get(
        "/mon-espace/attestations/{token}/pdf",
        Access::Usager,
        get(espace::attestation_pdf),
    )
    .get(
        "/mon-espace/suppression",
        Access::Usager,
        get(espace::deletion_form),
    )
    .post(
        "/mon-espace/suppression",
        Access::Usager,
        post(espace::deletion),
    )
    .get(
        "/consentement/{token}",
        Access::Public,
        get(espace::consent_page),
    )
    .post(
        "/consentement/{token}",
        Access::Public,
        post(espace::consent_submit),
    )
    .post("/sms/statut", Access::Api, post(espace::sms_callback))
    .get("/mandats/{mid}", Access::Member, get(mandats::show))
    .get(
        "/mandats/{mid}/revoquer",
        Access::Member,
        get(mandats::revoke_mandat_confirm),
    )
    .post(
        "/mandats/{mid}/revoquer",
        Access::Member,
        post(mandats::revoke_mandat),
    )
    .get(
        "/mandats/{mid}/autorisations/{aid}/revoquer",
        Access::Member,
        get(mandats::revoke_autorisation_confirm),
    )
    .post(
        "/mandats/{mid}/autorisations/{aid}/revoquer",
        Access::Member,
        post(mandats::revoke_autorisation),
    )
    .get(
        "/attestations/{token}",
        Access::Member,
        get(mandats::attestation_page),
    )
    .get(
        "/attestations/{token}/pdf",
        Access::Member,
        get(mandats::attestation_pdf),
    )
    .get("/usagers", Access::Member, get(usagers::list))
    .get("/usagers/{uid}", Access::Member, get(usagers::show))
    .get(
        "/usagers/{uid}/renouveler",
        Access::Member,
        get(usagers::renew_form),
    )
    .post(
        "/usagers/{uid}/renouveler",
        Access::Member,
        post(usagers::renew),
    )
    .get(
        "/structures/{sid}/journal",
        Access::StructureManager,
        get(journal::show),
    )
    .get(
        "/structures/{sid}/journal.csv",
        Access::StructureManager,
        get(journal::export),
    )
    .get("/verifier/cles", Access::Public, get(verify::keys))
    .get("/verifier/{token}", Access::Public, get(verify::show))
    .get(
        "/.well-known/openid-configuration",
        Access::Public,
        get(idp::discovery),
    )
    .get("/oidc/jwks", Access::Public, get(idp::jwks))
    .get("/oidc/authorize", Access::Public, get(idp::authorize))
    .post("/oidc/authorize", Access::Api, post(idp::authorize_post))
    .get("/oidc/autorisation/{rid}", Access::Member, get(idp::flow))
    .post(
        "/oidc/autorisation/{rid}/confirmer",
        Access::Member,
        post(idp::confirm),
    )
    .post(
        "/oidc/autorisation/{rid}/usager",
        Access::Member,
        post(idp::choose_usager),
    )
    .post(
        "/oidc/autorisation/{rid}/demarche",
        Access::Member,
        post(idp::choose_demarche),
    )
    .post(
        "/oidc/autorisation/{rid}/annuler",
        Access::Member,
        post(idp::cancel),
    )
    .post("/oidc/token", Access::Api, post(idp::token))
    .get("/oidc/token", Access::Api, get(idp::token_get))
    .get("/oidc/userinfo", Access::Api, get(idp::userinfo))
    .post("/oidc/userinfo", Access::Api, post(idp::userinfo))
    .get("/oidc/session/end", Access::Public, get(idp::end_session))
    .post(
        "/oidc/session/end",
        Access::Api,
        post(idp::end_session_post),
    )
    .get("/lieux", Access::Public, get(lieux::search_page))
    .get("/lieux/export.csv", Access::Public, get(lieux::export_csv))
    .get(
        "/lieux/export.json",
        Access::Public,
        get(lieux::export_json),
    )
    .get("/lieux/{lid}", Access::Public, get(lieux::place))
    .post(
        "/lieux/{lid}/structures",
        Access::Admin,
        post(lieux::link_structure),
    )
    .post(
        "/lieux/{lid}/structures/{sid}/detacher",
        Access::Admin,
        post(lieux::unlink_structure),
    )
    .get(
        "/habilitation",
        Access::Public,
        get(habilitation::start_form),
    )
    .post("/habilitation", Access::Public, post(habilitation::start))
    .get(
        "/habilitation/demande/{token}",
        Access::Public,
        get(habilitation::request),
    )
    .post(
        "/habilitation/demande/{token}",
        Access::Public,
        post(habilitation::save),
    )
    .post(
        "/habilitation/demande/{token}/message",
        Access::Public,
        post(habilitation::requester_message),
    )
    .get(
        "/habilitation/demande/{token}/abandonner",
        Access::Public,
        get(habilitation::withdraw_confirm),
    )
    .post(
        "/habilitation/demande/{token}/abandonner",
        Access::Public,
        post(habilitation::withdraw),
    )
    .get(
        "/admin/habilitations",
        Access::Admin,
        get(habilitation::list),
    )
    .get(
        "/admin/habilitations.csv",
        Access::Admin,
        get(habilitation::export),
    )
    .get(
        "/admin/habilitations/{hid}",
        Access::Admin,
        get(habilitation::show),
    )
    .post(
        "/admin/habilitations/{hid}/message",
        Access::Admin,
        post(habilitation::admin_message),
    )
    .post(
        "/admin/habilitations/{hid}/decision",
        Access::Admin,
        post(habilitation::decide),
    )
    .get(
        "/admin/formations",
        Access::Admin,
        get(habilitation::trainings),
    )
    .post(
        "/admin/formations/import",
        Access::Admin,
        post(habilitation::import),
    )
    .post(
        "/admin/formations/{aid}",
        Access::Admin,
        post(habilitation::record),
    )
    .get(
        "/structures/{sid}/parametres",
        Access::StructureManager,
        get(structure::show),
    )
    .post(
        "/structures/{sid}/demarches",
        Access::StructureManager,
        post(structure::set_demarches),
    )
    .get("/admin/journal", Access::Admin, get(journal::admin))
    .get(
        "/admin/journal.csv",
        Access::Admin,
        get(journal::admin_export),
    )
    .get(
        "/admin/structures.csv",
        Access::Admin,
        get(admin::structures_csv),
    )
    .get(
        "/admin/comptes.csv",
        Access::Admin,
        get(admin::accounts_csv),
    )
    .get("/admin/cartes", Access::Admin, get(cards::admin))
    .get("/admin/cartes.csv", Access::Admin, get(cards::export))
    .post("/admin/cartes/import", Access::Admin, post(cards::import))
    .post(
        "/structures/{sid}/equipe/{aid}/structures",
        Access::StructureManager,
        post(team::add_to_other_structure),
    )
    .get(
        "/structures/{sid}/equipe/{aid}/carte",
        Access::StructureManager,
        get(cards::show),
    )
    .post(
        "/structures/{sid}/equipe/{aid}/carte/lier",
        Access::StructureManager,
        post(cards::link),
    )
    .post(
        "/structures/{sid}/equipe/{aid}/carte/delier",
        Access::StructureManager,
        post(cards::unlink),
    )
    .post(
        "/structures/{sid}/equipe/{aid}/carte/resynchroniser",
        Access::StructureManager,
        post(cards::resync),
    )
    .get("/admin/lieux", Access::Admin, get(lieux::admin))
    .post("/admin/lieux", Access::Admin, post(lieux::admin_import))
    .get("/activites", Access::Mediator, get(activites::home))
    .get(
        "/activites/individuel/nouveau",
        Access::Mediator,
        get(activites::new_individual_form),
    )
    .post(
        "/activites/individuel/nouveau",
        Access::Mediator,
        post(activites::create_individual),
    )
    .get(
        "/activites/collectif/nouveau",
        Access::Mediator,
        get(activites::new_collective_form),
    )
    .post(
        "/activites/collectif/nouveau",
        Access::Mediator,
        post(activites::create_collective),
    )
    .get(
        "/activites/import",
        Access::Mediator,
        get(activites::import_form),
    )
    .post(
        "/activites/import",
        Access::Mediator,
        post(activites::import),
    )
    .get(
        "/activites/statistiques",
        Access::Mediator,
        get(activites::statistics),
    )
    .get(
        "/activites/statistiques.xlsx",
        Access::Mediator,
        get(activites::statistics_xlsx),
    )
    .get(
        "/activites/export.xlsx",
        Access::Mediator,
        get(activites::export_xlsx),
    )
    .get(
        "/activites/export.csv",
        Access::Mediator,
        get(activites::export_csv),
    )
    .get(
        "/activites/statistiques.csv",
        Access::Mediator,
        get(activites::statistics_csv),
    )
    .get("/activites/{acid}", Access::Mediator, get(activites::show))
    .get(
        "/activites/{acid}/modifier",
        Access::Mediator,
        get(activites::edit_form),
    )
    .post(
        "/activites/{acid}/modifier",
        Access::Mediator,
        post(activites::edit),
    )
    .get(
        "/activites/{acid}/supprimer",
        Access::Mediator,
        get(activites::delete_confirm),
    )
    .post(
        "/activites/{acid}/supprimer",
        Access::Mediator,
        post(activites::delete),
    )
    .get("/beneficiaires", Access::Mediator, get(activites::people))
    .get(
        "/beneficiaires/nouveau",
        Access::Mediator,
        get(activites::person_new_form),
    )
    .post(
        "/beneficiaires/nouveau",
        Access::Mediator,
        post(activites::person_create),
    )
    .get(
        "/beneficiaires/import",
        Access::Mediator,
        get(activites::people_import_form),
    )
    .post(
        "/beneficiaires/import",
        Access::Mediator,
        post(activites::people_import),
    )
    .get(
        "/beneficiaires/doublons",
        Access::Mediator,
        get(activites::duplicates),
    )
    .get(
        "/beneficiaires/{bid}/fusionner/{oid}",
        Access::Mediator,
        get(activites::merge_confirm),
    )
    .post(
        "/beneficiaires/{bid}/fusionner/{oid}",
        Access::Mediator,
        post(activites::merge),
    )
    .get(
        "/beneficiaires/{bid}",
        Access::Mediator,
        get(activites::person),
    )
    .get(
        "/beneficiaires/{bid}/modifier",
        Access::Mediator,
        get(activites::person_edit_form),
    )
    .post(
        "/beneficiaires/{bid}/modifier",
        Access::Mediator,
        post(activites::person_edit),
    )
    .get(
        "/beneficiaires/{bid}/supprimer",
        Access::Mediator,
        get(activites::person_delete_confirm),
    )
    .post(
        "/beneficiaires/{bid}/supprimer",
        Access::Mediator,
        post(activites::person_delete),
    )
    .get(
        "/structures/{sid}/statistiques",
        Access::StructureManager,
        get(activites::structure_statistics),
    )
    .get(
        "/statistiques",
        Access::Public,
        get(activites::public_statistics),
    )
    .post(
        "/activites/partages",
        Access::Mediator,
        post(activites::share_create),
    )
    .post(
        "/activites/partages/{pid}/supprimer",
        Access::Mediator,
        post(activites::share_revoke),
    )
    .get(
        "/partage/{token}",
        Access::Public,
        get(activites::shared_statistics),
    )
    .get(
        "/structures/{sid}/api",
        Access::StructureManager,
        get(api::clients),
    )
    .post(
        "/structures/{sid}/api",
        Access::StructureManager,
        post(api::client_create),
    )
    .post(
        "/structures/{sid}/api/{cid}/revoquer",
        Access::StructureManager,
        post(api::client_revoke),
    )
    .get("/api/v1/activites", Access::Api, get(api::activities))
    .get("/api/v1/statistiques", Access::Api, get(api::statistics))
    .get(
        "/coordination",
        Access::Coordinator,
        get(activites::coordination),
    )
    .post(
        "/coordination/inviter",
        Access::Coordinator,
        post(activites::coordination_invite),
    )
    .post(
        "/coordination/membres/{tid}/retirer",
        Access::Coordinator,
        post(activites::coordination_remove),
    )
    .get(
        "/coordination/statistiques",
        Access::Coordinator,
        get(activites::coordination_statistics),
    )
    .get(
        "/coordination/activites/nouveau",
        Access::Coordinator,
        get(activites::coordination_report_form),
    )
    .post(
        "/coordination/activites/nouveau",
        Access::Coordinator,
        post(activites::coordination_report_create),
    )
    .get(
        "/coordination/activites/{kid}/supprimer",
        Access::Coordinator,
        get(activites::coordination_report_delete_confirm),
    )
    .post(
        "/coordination/activites/{kid}/supprimer",
        Access::Coordinator,
        post(activites::coordination_report_delete),
    )
    .post(
        "/equipes/{tid}/accepter",
        Access::Mediator,
        post(activites::team_accept),
    )
    .post(
        "/equipes/{tid}/refuser",
        Access::Mediator,
        post(activites::team_refuse),
    )
    .post(
        "/equipes/{tid}/quitter",
        Access::Mediator,
        post(activites::team_leave),
    )
    .get("/mediateur/lieux", Access::Mediator, get(activites::places))
    .post(
        "/mediateur/lieux",
        Access::Mediator,
        post(activites::add_place),
    )
    .post(
        "/mediateur/lieux/{lid}/retirer",
        Access::Mediator,
        post(activites::remove_place),
    )
    .get(
        "/mediateur/profil",
        Access::Mediator,
        get(activites::profile),
    )
    .post(
        "/mediateur/profil",
        Access::Mediator,
        post(activites::profile_save),
    )
    .get("/api/v1/lieux", Access::Public, get(lieux::api_search))
    .get("/api/v1/openapi.json", Access::Public, get(lieux::openapi))
    // Pass numérique.
    .get("/pass", Access::Public, get(pass::check_form))
    .get("/pass/lieu", Access::PassPlace, get(pass::place))
    .get("/pass/remise", Access::Prescriber, get(pass::hand_out_form))
    .post("/pass/remise", Access::Prescriber, post(pass::hand_out))
    .post(
        "/pass/utilisations/{uid}/annuler",
        Access::PassPlace,
        post(pass::cancel),
    )
    .get("/pass/{code}", Access::Public, get(pass::show))
    .post(
        "/pass/{code}/utiliser",
        Access::PassPlace,
        post(pass::redeem),
    )
    .get("/financeur", Access::Funder, get(pass::funder_home))
    .get(
        "/financeur/export.csv",
        Access::Funder,
        get(pass::funder_csv),
    )
    .get(
        "/financeur/commandes/nouvelle",
        Access::Funder,
        get(pass::order_form),
    )
    .post(
        "/financeur/commandes",
        Access::Funder,
        post(pass::order_create),
    )
    .get(
        "/financeur/commandes/{cid}",
        Access::Funder,
        get(pass::funder_order_page),
    )
    .get(
        "/financeur/commandes/{cid}/carnets.pdf",
        Access::Funder,
        get(pass::funder_carnets),
    )
    .post(
        "/financeur/commandes/{cid}/accuse",
        Access::Funder,
        post(pass::funder_acknowledge),
    )
    .post(
        "/financeur/commandes/{cid}/bilan",
        Access::Funder,
        post(pass::funder_closing),
    )
    .get("/admin/pass", Access::Admin, get(pass::admin_home))
    .post(
        "/admin/pass/financeurs",
        Access::Admin,
        post(pass::admin_create_funder),
    )
    .post(
        "/admin/pass/financeurs/{fid}/agents",
        Access::Admin,
        post(pass::admin_add_agent),
    )
    .post(
        "/admin/pass/prescripteurs",
        Access::Admin,
        post(pass::admin_add_prescriber),
    )
    .get(
        "/admin/pass/commandes/{cid}",
        Access::Admin,
        get(pass::admin_order_page),
    )
    .get(
        "/admin/pass/commandes/{cid}/carnets.pdf",
        Access::Admin,
        get(pass::admin_carnets),
    )
    .post(
        "/admin/pass/commandes/{cid}/paiement",
        Access::Admin,
        post(pass::admin_payment),
    )
    .post(
        "/admin/pass/commandes/{cid}/allocation",
        Access::Admin,
        post(pass::admin_allocate),
    )
    .post(
        "/admin/pass/commandes/{cid}/bilan",
        Access::Admin,
        post(pass::admin_closing),
    )
    .post(
        "/admin/pass/qualifications/{qid}",
        Access::Admin,
        post(pass::admin_decide),
    )
    .post(
        "/admin/pass/releves/paiement",
        Access::Admin,
        post(pass::admin_pay),
    )
    .get(
        "/structures/{sid}/pass",
        Access::StructureManager,
        get(pass::structure_page),
    )
    .post(
        "/structures/{sid}/pass",
        Access::StructureManager,
        post(pass::structure_apply),
    )
    .get(
        "/structures/{sid}/pass/releves/{rid}/csv",
        Access::StructureManager,
        get(pass::releve_csv),
    )
    .get(
        "/structures/{sid}/pass/releves/{rid}/pdf",
        Access::StructureManager,
        get(pass::releve_pdf),
    );
    let r = if state.config.is_production() {
        r
    } else {
        r.get(
            "/demo/service-en-ligne",
            Access::Public,
            get(idp::demo_home),
        )
        .get(
            "/demo/service-en-ligne/connexion",
            Access::Public,
            get(idp::demo_start),
        )
        .get(
            "/demo/service-en-ligne/retour",
            Access::Public,
            get(idp::demo_return),
        )
    };
    let r = if state.simulator.is_some() {
        r.get(
            "/franceconnect-simulateur/api/v2/.well-known/openid-configuration",
            Access::Public,
            get(simulator::discovery),
        )
        .get(
            "/franceconnect-simulateur/api/v2/jwks",
            Access::Public,
            get(simulator::jwks),
        )
        .get(
            "/franceconnect-simulateur/api/v2/authorize",
            Access::Public,
            get(simulator::authorize),
        )
        .post(
            "/franceconnect-simulateur/api/v2/authorize",
            Access::Public,
            post(simulator::choose),
        )
        .post(
            "/franceconnect-simulateur/api/v2/token",
            Access::Api,
            post(simulator::token),
        )
        .get(
            "/franceconnect-simulateur/api/v2/userinfo",
            Access::Api,
            get(simulator::userinfo),
        )
        .get(
            "/franceconnect-simulateur/api/v2/session/end",
            Access::Public,
            get(simulator::end_session),
        )
    } else {
        r
    };
    let api: context::ApiRoutes = r
        .table
        .iter()
        .filter(|i| i.access == Access::Api)
        .map(|i| i.path)
        .collect();
    let router = r
        .router
        .fallback(|| async { error::AppError::NotFound })
        .layer(axum::middleware::from_fn_with_state(
            (state.clone(), api),
            context::context,
        ))
        .with_state(state);
    (router, r.table)
}
