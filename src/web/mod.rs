//! HTTP: the route table (every route declares its access rule), the request
//! context middleware, pages and assets.

pub mod access;
pub mod assets;
pub mod context;
pub mod error;
pub mod forms;
pub mod pages;
pub mod views;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::mail::Mailer;
pub use access::Access;

pub struct Inner {
    pub db: Db,
    pub config: Config,
    pub clock: SharedClock,
    pub mailer: Mailer,
    /// Argon2 hash verified for unknown emails, so timing does not reveal accounts.
    pub dummy_hash: String,
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
    use pages::{account, admin, auth, public, team};
    let r = Routes {
        router: Router::new(),
        table: Vec::new(),
        state: state.clone(),
    }
    .get("/", Access::Public, get(public::home))
    .get("/healthz", Access::Public, get(public::healthz))
    .get("/accessibilite", Access::Public, get(public::accessibility))
    .get("/static/{file}", Access::Public, get(assets::serve))
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
    .get("/admin/comptes", Access::Admin, get(admin::accounts));
    let router = r
        .router
        .fallback(|| async { error::AppError::NotFound })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            context::context,
        ))
        .with_state(state);
    (router, r.table)
}
