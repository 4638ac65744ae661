//! A structure's usagers: list by state with name search, a usager's page, renewal.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::mandats::{ChoiceForm, choice_view};
use crate::mandats::drafts::{self, Choice};
use crate::mandats::{self, Actor, State as MState, Usager, UsagerRow};
use crate::web::AppState;
use crate::web::access::Member;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FormErrors;
use crate::web::views::{Shell, render, render_status};

pub const PAGE_SIZE: i64 = 20;

#[derive(Template)]
#[template(path = "usagers.html")]
pub struct UsagersView {
    pub shell: Shell,
    pub structure_name: String,
    pub tabs: Vec<(&'static str, &'static str, bool)>,
    pub state: MState,
    pub q: String,
    pub rows: Vec<UsagerRow>,
    /// The query of the page before (`avant=<first id>`), if any.
    pub previous: Option<String>,
    /// The query of the page after (`apres=<last id>`), if any.
    pub next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    etat: String,
    q: String,
    /// The page after this usager (by id), in alphabetical order.
    apres: Option<i64>,
    /// The page before this usager.
    avant: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Query(lq): Query<ListQuery>,
) -> AppResult<Response> {
    let st = MState::parse(&lq.etat);
    let q: String = lq.q.trim().chars().take(100).collect();
    let cursor = match (lq.apres, lq.avant) {
        (Some(id), _) => mandats::Cursor::After(id),
        (None, Some(id)) => mandats::Cursor::Before(id),
        (None, None) => mandats::Cursor::First,
    };
    let page = mandats::usagers(
        &state.db,
        m.structure_id,
        st,
        &q,
        state.now(),
        PAGE_SIZE,
        cursor,
    )
    .await?;
    let link = |dir: &str, id: i64| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("etat", st.key())
            .append_pair("q", &q)
            .append_pair(dir, &id.to_string())
            .finish()
    };
    let previous = page
        .has_previous
        .then(|| page.rows.first().map(|r| link("avant", r.id)))
        .flatten();
    let next = page
        .has_next
        .then(|| page.rows.last().map(|r| link("apres", r.id)))
        .flatten();
    let tabs = [MState::Active, MState::Expired, MState::Revoked]
        .into_iter()
        .map(|s| {
            let label = match s {
                MState::Active => "Mandats actifs",
                MState::Expired => "Mandats expirés",
                MState::Revoked => "Mandats révoqués",
            };
            (s.key(), label, s == st)
        })
        .collect();
    render(&UsagersView {
        shell: Shell::new(&ctx, "Usagers"),
        structure_name: m
            .session
            .structure
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        tabs,
        state: st,
        q,
        rows: page.rows,
        previous,
        next,
    })
}

#[derive(Template)]
#[template(path = "usager.html")]
pub struct UsagerView {
    pub shell: Shell,
    pub usager: Usager,
    /// The référent's link to this usager's journal entries.
    pub journal_href: Option<String>,
    pub groups: Vec<(&'static str, Vec<mandats::Mandat>)>,
}

async fn load_usager(state: &AppState, m: &Member, uid: i64) -> AppResult<Usager> {
    mandats::usager_for_structure(&state.db, m.structure_id, uid)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(uid): Path<i64>,
) -> AppResult<Response> {
    let usager = load_usager(&state, &m, uid).await?;
    let list = mandats::mandats(&state.db, m.structure_id, Some(uid), None, state.now()).await?;
    let mut groups: Vec<(&'static str, Vec<mandats::Mandat>)> = vec![
        ("Mandats actifs", Vec::new()),
        ("Mandats expirés", Vec::new()),
        ("Mandats révoqués", Vec::new()),
    ];
    for md in list {
        let i = match md.state {
            MState::Active => 0,
            MState::Expired => 1,
            MState::Revoked => 2,
        };
        if let Some(g) = groups.get_mut(i) {
            g.1.push(md);
        }
    }
    let journal_href = (m.role == crate::domain::Role::Referent)
        .then(|| format!("/structures/{}/journal?usager={uid}", m.structure_id));
    render(&UsagerView {
        shell: Shell::new(&ctx, usager.identity.display_name()),
        journal_href,
        usager,
        groups,
    })
}

pub async fn renew_form(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(uid): Path<i64>,
) -> AppResult<Response> {
    let usager = load_usager(&state, &m, uid).await?;
    let allowed = mandats::allowed_demarches(&state.db, m.structure_id).await?;
    render(&choice_view(
        &ctx,
        format!("/usagers/{uid}/renouveler"),
        Some(usager.identity.display_name()),
        &allowed,
        None,
        FormErrors::default(),
    ))
}

pub async fn renew(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(uid): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let usager = load_usager(&state, &m, uid).await?;
    let allowed = mandats::allowed_demarches(&state.db, m.structure_id).await?;
    let form = ChoiceForm::parse(&body);
    let mut errors = FormErrors::default();
    let Some((list, duree)) = form.check(&allowed, &mut errors) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &choice_view(
                &ctx,
                format!("/usagers/{uid}/renouveler"),
                Some(usager.identity.display_name()),
                &allowed,
                Some(&form),
                errors,
            ),
        );
    };
    let now = state.now();
    let last = mandats::mandats(&state.db, m.structure_id, Some(uid), None, now)
        .await?
        .first()
        .map(|md| md.id);
    let id = drafts::start_renewal(
        &state.db,
        &m.session.id_hash,
        Actor {
            account_id: m.session.account_id,
            structure_id: m.structure_id,
        },
        uid,
        last,
        &Choice {
            demarches: &list,
            duree,
            is_remote: form.is_remote,
        },
        now,
    )
    .await?;
    Ok(Redirect::to(&format!("/mandats/brouillons/{id}")).into_response())
}
