//! Public pages: home, health check, accessibility statement.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::web::AppState;
use crate::web::context::Ctx;
use crate::web::error::AppResult;
use crate::web::forms::PageQuery;
use crate::web::views::{AccessibilityView, HomeView, Shell, render};

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
