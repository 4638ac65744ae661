//! A structure's settings and activity, for its référents (and administrators):
//! the démarches its aidants may use, and the mandates and uses per month.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::step_up_needed;
use crate::mandats::{self, Demarche};
use crate::structures::{self, MonthActivity};
use crate::web::AppState;
use crate::web::access::Manager;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{FormErrors, PageQuery};
use crate::web::views::{Shell, render, render_status};

pub struct DemarcheChoice {
    pub key: &'static str,
    pub title: &'static str,
    pub allowed: bool,
}

#[derive(Template)]
#[template(path = "structure_settings.html")]
pub struct SettingsView {
    pub shell: Shell,
    pub structure_id: i64,
    pub structure_name: String,
    pub demarches: Vec<DemarcheChoice>,
    pub activity: Vec<MonthActivity>,
    /// How the structure answers Solidarité Numérique requests, if it does.
    pub rappels: Option<String>,
    pub errors: FormErrors,
}

async fn view(
    state: &AppState,
    ctx: &Ctx,
    m: &Manager,
    allowed: Vec<Demarche>,
    errors: FormErrors,
) -> AppResult<SettingsView> {
    let structure = structures::find(&state.db, m.structure_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(SettingsView {
        shell: Shell::new(ctx, format!("Paramètres de {}", structure.name)),
        structure_id: structure.id,
        structure_name: structure.name,
        demarches: Demarche::ALL
            .iter()
            .map(|d| DemarcheChoice {
                key: d.key(),
                title: d.title(),
                allowed: allowed.contains(d),
            })
            .collect(),
        activity: structures::activity(&state.db, m.structure_id, state.now(), 12).await?,
        rappels: crate::rappels::participation(&state.db, m.structure_id).await?,
        errors,
    })
}

/// `GET /structures/{sid}/parametres`.
pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let allowed = mandats::allowed_demarches(&state.db, m.structure_id).await?;
    let mut v = view(&state, &ctx, &m, allowed, FormErrors::default()).await?;
    v.shell = v.shell.with_notice(q.info.as_deref());
    render(&v)
}

/// `POST /structures/{sid}/demarches`: the démarches the structure allows (at
/// least one). Mandates already signed keep their démarches.
pub async fn set_demarches(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    body: Bytes,
) -> AppResult<Response> {
    let back = format!("/structures/{}/parametres", m.structure_id);
    if let Some(r) = step_up_needed(&m.session, &back) {
        return Ok(r);
    }
    let chosen: Vec<Demarche> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "demarche")
        .filter_map(|(_, v)| Demarche::parse(&v).ok())
        .collect();
    if chosen.is_empty() {
        let mut errors = FormErrors::default();
        errors.add(
            "demarche-papiers",
            "Gardez au moins une démarche : sans démarche, aucun mandat ne pourrait être créé.",
        );
        return render_status(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            &view(&state, &ctx, &m, chosen, errors).await?,
        );
    }
    let list = (chosen.len() < Demarche::ALL.len()).then_some(chosen.as_slice());
    mandats::set_allowed_demarches(&state.db, m.structure_id, list).await?;
    tracing::info!(
        structure_id = m.structure_id,
        by = m.session.account_id,
        démarches = chosen.len(),
        "démarches de la structure modifiées"
    );
    Ok(Redirect::to(&format!("{back}?info=demarches")).into_response())
}
