//! Public pages: home, health check, accessibility statement, legal notice,
//! personal data, contact.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::web::AppState;
use crate::web::context::Ctx;
use crate::web::error::AppResult;
use crate::web::forms::PageQuery;
use crate::web::views::{
    AccessibilityView, ContactView, HomeView, LegalView, Operator, PrivacyView, Shell, render,
};

pub async fn home(ctx: Ctx, Query(q): Query<PageQuery>) -> AppResult<Response> {
    if let Some(s) = &ctx.session {
        let target = super::landing(s);
        return Ok(
            match q
                .info
                .as_deref()
                .filter(|c| crate::web::views::notice_text(c).is_some())
            {
                Some(code) => Redirect::to(&format!("{target}?info={code}")).into_response(),
                None => Redirect::to(target).into_response(),
            },
        );
    }
    render(&HomeView {
        shell: Shell::new(&ctx, "Accueil").with_notice(q.info.as_deref()),
    })
}

pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.db.fetch_one("SELECT 1 AS ok", &[]).await {
        Ok(_) => Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::error!(cause = %e, "healthz : base de données injoignable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "indisponible", "database": "injoignable" })),
            )
                .into_response()
        }
    }
}

pub async fn accessibility(ctx: Ctx) -> AppResult<Response> {
    render(&AccessibilityView {
        shell: Shell::new(&ctx, "Déclaration d'accessibilité"),
    })
}

/// `GET /mentions-legales`: who publishes and hosts this instance.
pub async fn legal(State(state): State<AppState>, ctx: Ctx) -> AppResult<Response> {
    render(&LegalView {
        shell: Shell::new(&ctx, "Mentions légales"),
        operator: Operator::from_config(&state.config),
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// `GET /donnees-personnelles`: what Relais keeps about whom, why, how long, and
/// the rights of the people concerned — the durations read from the code and the
/// configuration that apply them.
pub async fn privacy(State(state): State<AppState>, ctx: Ctx) -> AppResult<Response> {
    render(&PrivacyView {
        shell: Shell::new(&ctx, "Données personnelles"),
        operator: Operator::from_config(&state.config),
        retention_days: state.config.retention_days,
        idle_hours: crate::sessions::IDLE_TIMEOUT / 3_600,
        absolute_hours: crate::sessions::ABSOLUTE_TIMEOUT / 3_600,
        inactive_months: crate::accounts::inactivity::DEACTIVATE_AFTER / (30 * 86_400),
        inactive_notice_days: crate::accounts::inactivity::NOTICE / 86_400,
        draft_minutes: crate::mandats::drafts::TTL / 60,
        habilitation_link_days: crate::habilitation::LINK_TTL / 86_400,
    })
}

/// `GET /contact`: whom to write to, by situation.
pub async fn contact(State(state): State<AppState>, ctx: Ctx) -> AppResult<Response> {
    render(&ContactView {
        shell: Shell::new(&ctx, "Contact"),
        operator: Operator::from_config(&state.config),
    })
}
