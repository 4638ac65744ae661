//! "Mon compte" and the member's home page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::domain::Role;
use crate::web::AppState;
use crate::web::access::{Member, SignedIn};
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{AppForm, FormErrors, PageQuery};
use crate::web::views::{AccountView, EspaceView, Shell, render, render_status};
use crate::{accounts, sessions};

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    SignedIn(s): SignedIn,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    render(&account_view(&state, &ctx, &s, q.info.as_deref(), FormErrors::default()).await?)
}

async fn account_view(
    state: &AppState,
    ctx: &Ctx,
    s: &sessions::Session,
    notice: Option<&str>,
    errors: FormErrors,
) -> AppResult<AccountView> {
    let memberships = accounts::memberships(&state.db, s.account_id).await?;
    let open_sessions = sessions::count_for_account(&state.db, s.account_id, state.now()).await?;
    Ok(AccountView {
        shell: Shell::new(ctx, "Mon compte").with_notice(notice),
        email: s.email.clone(),
        full_name: s.full_name.clone(),
        is_admin: s.is_admin,
        memberships,
        current_structure: s.member_of_current().map(|(id, _)| id).unwrap_or(0),
        open_sessions,
        join_requests: accounts::team::pending_requests(&state.db, s.account_id).await?,
        errors,
    })
}

async fn answer(state: &AppState, account_id: i64, id: i64, accept: bool) -> AppResult<Response> {
    if !accounts::team::answer(&state.db, account_id, id, accept, state.now()).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(
        account_id,
        demande = id,
        accept,
        "réponse à une demande de rattachement"
    );
    let info = if accept {
        "rattachement-accepte"
    } else {
        "rattachement-refuse"
    };
    Ok(Redirect::to(&format!("/compte?info={info}")).into_response())
}

/// `POST /compte/rattachements/{jid}/accepter`.
pub async fn accept_join(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> AppResult<Response> {
    answer(&state, s.account_id, id, true).await
}

/// `POST /compte/rattachements/{jid}/refuser`.
pub async fn decline_join(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> AppResult<Response> {
    answer(&state, s.account_id, id, false).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SwitchForm {
    structure_id: String,
}

pub async fn switch_structure(
    State(state): State<AppState>,
    ctx: Ctx,
    SignedIn(s): SignedIn,
    AppForm(f): AppForm<SwitchForm>,
) -> AppResult<Response> {
    let id: i64 = f.structure_id.trim().parse().unwrap_or(0);
    if id <= 0 || !sessions::switch_structure(&state.db, &s.id_hash, s.account_id, id).await? {
        let mut errors = FormErrors::default();
        errors.add(
            "structures",
            "Cette structure ne fait pas partie des vôtres, ou votre accès y est désactivé : choisissez-en une dans la liste.",
        );
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &account_view(&state, &ctx, &s, None, errors).await?,
        );
    }
    Ok(Redirect::to("/espace?info=structure").into_response())
}

/// `GET /espace`: the aidant's task page — a new mandate, find a person, the
/// structure's last mandates and those ending within 30 days.
pub async fn home(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    // Read with the session: the member's current structure.
    let structure = m.session.structure.clone().ok_or(AppError::NotFound)?;
    let (recent, ending) =
        crate::mandats::home_lists(&state.db, structure.id, state.now(), 30, 5).await?;
    render(&EspaceView {
        shell: Shell::new(&ctx, "Mon espace").with_notice(q.info.as_deref()),
        full_name: m.session.full_name.clone(),
        structure,
        is_referent: m.role == Role::Referent,
        recent,
        ending,
    })
}
