//! Physical TOTP cards: a référent links, unlinks and resynchronises the card of an
//! aidant of their structure; administrators import and list cards.

use crate::csv_export::Cell;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::step_up_needed;
use crate::accounts::cards::{self, CardError};
use crate::web::AppState;
use crate::web::access::{Admin, Manager};
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{AppForm, FormErrors};
use crate::web::views::{Shell, render, render_status};

#[derive(Template)]
#[template(path = "card.html")]
pub struct CardView {
    pub shell: Shell,
    pub structure_id: i64,
    pub account_id: i64,
    pub member_name: String,
    pub card: Option<cards::Linked>,
    pub errors: FormErrors,
    pub serial: String,
}

async fn card_view(
    state: &AppState,
    ctx: &Ctx,
    m: &Manager,
    account_id: i64,
    errors: FormErrors,
    serial: String,
) -> AppResult<CardView> {
    // Only members of the structure managed here: anyone else is "not found".
    let member = crate::accounts::members(&state.db, m.structure_id)
        .await?
        .into_iter()
        .find(|x| x.account_id == account_id)
        .ok_or(AppError::NotFound)?;
    let card = cards::linked_in(&state.db, m.structure_id)
        .await?
        .remove(&account_id);
    Ok(CardView {
        shell: Shell::new(ctx, format!("Carte TOTP de {}", member.full_name)),
        structure_id: m.structure_id,
        account_id,
        member_name: member.full_name,
        card,
        errors,
        serial,
    })
}

/// `GET /structures/{sid}/equipe/{aid}/carte`.
pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_sid, aid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    render(&card_view(&state, &ctx, &m, aid, FormErrors::default(), String::new()).await?)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CardForm {
    serial: String,
    code: String,
    code2: String,
    reason: String,
}

async fn outcome(
    state: &AppState,
    ctx: &Ctx,
    m: &Manager,
    aid: i64,
    result: Result<(), CardError>,
    field: &'static str,
    serial: String,
) -> AppResult<Response> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!(
            "/structures/{}/equipe/{aid}/carte",
            m.structure_id
        ))
        .into_response()),
        Err(CardError::Refused(msg)) => {
            let mut errors = FormErrors::default();
            errors.add(field, msg);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &card_view(state, ctx, m, aid, errors, serial).await?,
            )
        }
        Err(CardError::Throttled(wait)) => {
            let mut errors = FormErrors::default();
            errors.add("code", crate::accounts::second_factor::throttled_text(wait));
            render_status(
                StatusCode::TOO_MANY_REQUESTS,
                &card_view(state, ctx, m, aid, errors, serial).await?,
            )
        }
        Err(CardError::Db(e)) => Err(e.into()),
    }
}

/// `POST /structures/{sid}/equipe/{aid}/carte/lier`.
pub async fn link(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_sid, aid)): Path<(i64, i64)>,
    AppForm(f): AppForm<CardForm>,
) -> AppResult<Response> {
    let back = format!("/structures/{}/equipe/{aid}/carte", m.structure_id);
    if let Some(r) = step_up_needed(&m.session, &back) {
        return Ok(r);
    }
    let r = cards::link(
        &state.db,
        m.structure_id,
        aid,
        &f.serial,
        &f.code,
        m.session.account_id,
        state.now(),
    )
    .await;
    outcome(&state, &ctx, &m, aid, r, "serial", f.serial).await
}

/// `POST /structures/{sid}/equipe/{aid}/carte/delier`.
pub async fn unlink(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_sid, aid)): Path<(i64, i64)>,
    AppForm(f): AppForm<CardForm>,
) -> AppResult<Response> {
    let back = format!("/structures/{}/equipe/{aid}/carte", m.structure_id);
    if let Some(r) = step_up_needed(&m.session, &back) {
        return Ok(r);
    }
    let r = cards::unlink(
        &state.db,
        m.structure_id,
        aid,
        &f.reason,
        m.session.account_id,
        state.now(),
    )
    .await;
    outcome(&state, &ctx, &m, aid, r, "reason", String::new()).await
}

/// `POST /structures/{sid}/equipe/{aid}/carte/resynchroniser`.
pub async fn resync(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_sid, aid)): Path<(i64, i64)>,
    AppForm(f): AppForm<CardForm>,
) -> AppResult<Response> {
    let back = format!("/structures/{}/equipe/{aid}/carte", m.structure_id);
    if let Some(r) = step_up_needed(&m.session, &back) {
        return Ok(r);
    }
    let r = cards::resync(
        &state.db,
        m.structure_id,
        aid,
        &f.code,
        &f.code2,
        m.session.account_id,
        state.now(),
    )
    .await;
    outcome(&state, &ctx, &m, aid, r, "code", String::new()).await
}

#[derive(Template)]
#[template(path = "admin_cards.html")]
pub struct AdminCardsView {
    pub shell: Shell,
    pub q: String,
    pub rows: Vec<cards::CardRow>,
    pub import_errors: Vec<cards::LineError>,
    pub done: Option<String>,
    pub errors: FormErrors,
}

impl AdminCardsView {
    pub fn date(&self, at: &i64) -> String {
        crate::time_fr::date(*at)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    q: String,
}

async fn admin_view(state: &AppState, ctx: &Ctx, q: &str) -> AppResult<AdminCardsView> {
    Ok(AdminCardsView {
        shell: Shell::new(ctx, "Cartes TOTP"),
        q: q.to_owned(),
        rows: cards::list(&state.db, q, 500).await?,
        import_errors: Vec::new(),
        done: None,
        errors: FormErrors::default(),
    })
}

/// `GET /admin/cartes`.
pub async fn admin(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Query(sq): Query<SearchQuery>,
) -> AppResult<Response> {
    let q: String = sq.q.trim().chars().take(100).collect();
    render(&admin_view(&state, &ctx, &q).await?)
}

/// `GET /admin/cartes.csv`: serial numbers and who holds them (never the seeds).
pub async fn export(
    State(state): State<AppState>,
    _a: Admin,
    Query(sq): Query<SearchQuery>,
) -> AppResult<Response> {
    let rows = cards::list(&state.db, &sq.q, 1_000_000).await?;
    crate::web::views::csv_download(
        "cartes.csv",
        &["Numéro de série", "Aidant", "Structure", "Importée le"],
        rows.iter().map(|r| {
            vec![
                Cell::Code(&r.serial),
                Cell::Text(&r.aidant),
                Cell::Text(&r.structure),
                Cell::Date(r.imported_at),
            ]
        }),
    )
}

/// `POST /admin/cartes/import` (multipart).
pub async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    Admin(s): Admin,
    upload: crate::web::forms::Upload,
) -> AppResult<Response> {
    if let Some(r) = step_up_needed(&s, "/admin/cartes") {
        return Ok(r);
    }
    let mut view = admin_view(&state, &ctx, "").await?;
    let Some(file) = upload.file("fichier") else {
        view.errors.add(
            "fichier",
            "Choisissez le fichier CSV des cartes (colonnes serial, seed, step).",
        );
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
    };
    match cards::import_csv(&state.db, &file.data, s.account_id, state.now()).await? {
        Ok(n) => {
            tracing::info!(by = s.account_id, cartes = n, "cartes TOTP importées");
            let mut view = admin_view(&state, &ctx, "").await?;
            view.done = Some(format!(
                "{}.",
                crate::domain::count(n, "carte importée", "cartes importées")
            ));
            render(&view)
        }
        Err(errors) => {
            view.import_errors = errors;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}
