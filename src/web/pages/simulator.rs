//! The FranceConnect simulator's HTTP endpoints (development only; not mounted in
//! production). The protocol logic is in [`crate::franceconnect::simulator`].

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::config::SIMULATOR_PREFIX;
use crate::franceconnect::simulator::{
    AuthorizeError, CustomIdentity, Scenario, SimIdentity, Simulator, custom_identity,
};
use crate::web::AppState;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FormErrors;
use crate::web::views::{MessageView, Shell, render, render_status};

fn sim(state: &AppState) -> AppResult<&Simulator> {
    state.simulator.as_ref().ok_or(AppError::NotFound)
}

pub async fn discovery(State(state): State<AppState>) -> AppResult<Response> {
    Ok(Json(sim(&state)?.discovery()).into_response())
}

pub async fn jwks(State(state): State<AppState>) -> AppResult<Response> {
    Ok(Json(sim(&state)?.jwks()).into_response())
}

#[derive(Template)]
#[template(path = "simulator.html")]
pub struct PickerView {
    pub shell: Shell,
    pub action: String,
    pub raw: String,
    pub identities: Vec<SimIdentity>,
    pub scenarios: Vec<Scenario>,
    pub custom: CustomIdentity,
    pub errors: FormErrors,
}

fn refused(ctx: &Ctx, reason: &str) -> AppResult<Response> {
    render_status(
        StatusCode::BAD_REQUEST,
        &MessageView {
            shell: Shell::new(ctx, "Demande FranceConnect refusée"),
            heading: "Demande FranceConnect refusée".into(),
            paragraphs: vec![
                "Le simulateur FranceConnect refuse cette demande de connexion, et ne renvoie pas vers le service demandeur.".into(),
                format!("Raison : {reason}."),
            ],
            link: None,
        },
    )
}

fn picker(
    ctx: &Ctx,
    s: &Simulator,
    raw: String,
    custom: CustomIdentity,
    errors: FormErrors,
) -> PickerView {
    PickerView {
        shell: Shell::new(ctx, "Simulateur FranceConnect"),
        action: format!("{SIMULATOR_PREFIX}/api/v2/authorize"),
        raw,
        identities: s.identities.clone(),
        scenarios: Scenario::ALL.to_vec(),
        custom,
        errors,
    }
}

pub async fn authorize(
    State(state): State<AppState>,
    ctx: Ctx,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let s = sim(&state)?;
    let raw = query.unwrap_or_default();
    match s.validate_authorize(&raw) {
        Ok(req) => render(&picker(
            &ctx,
            s,
            req.raw,
            CustomIdentity::default(),
            FormErrors::default(),
        )),
        Err(AuthorizeError::Page(reason)) => refused(&ctx, &reason),
        Err(AuthorizeError::Redirect(url)) => Ok(Redirect::to(&url).into_response()),
    }
}

pub async fn choose(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> AppResult<Response> {
    let s = sim(&state)?;
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let raw = get("requete");
    let req = match s.validate_authorize(&raw) {
        Ok(r) => r,
        Err(AuthorizeError::Page(reason)) => return refused(&ctx, &reason),
        Err(AuthorizeError::Redirect(url)) => return Ok(Redirect::to(&url).into_response()),
    };
    let scenario = Scenario::parse(&get("scenario"));
    let chosen = get("identite");
    let identity = if chosen == "personnalisee" {
        let custom = CustomIdentity {
            given_name: get("given_name"),
            family_name: get("family_name"),
            preferred_username: get("preferred_username"),
            birthdate: get("birthdate"),
            gender: get("gender"),
            birthplace: get("birthplace"),
            birthcountry: get("birthcountry"),
            email: get("email"),
        };
        match custom_identity(&custom) {
            Ok(i) => i,
            Err(list) => {
                let mut errors = FormErrors::default();
                for (field, message) in list {
                    errors.add(field, message);
                }
                return render_status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &picker(&ctx, s, raw, custom, errors),
                );
            }
        }
    } else {
        match s.identities.iter().find(|i| i.id == chosen) {
            Some(i) => i.clone(),
            None => {
                let mut errors = FormErrors::default();
                errors.add("identite", "Choisissez une identité de test dans la liste.");
                return render_status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &picker(&ctx, s, req.raw, CustomIdentity::default(), errors),
                );
            }
        }
    };
    Ok(Redirect::to(
        &s.choose(&state.db, &req, identity, scenario, state.now())
            .await?,
    )
    .into_response())
}

fn oauth_error(status: u16, error: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}

pub async fn token(State(state): State<AppState>, body: Bytes) -> AppResult<Response> {
    let s = sim(&state)?;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let code = form
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if s.is_slow(&state.db, code).await {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
    Ok(match s.token(&state.db, &form, state.now()).await {
        Ok(v) => Json(v).into_response(),
        Err((status, error)) => oauth_error(status, error),
    })
}

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let s = sim(&state)?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    Ok(match s.userinfo(&state.db, bearer, state.now()).await {
        Ok(jwt) => {
            let mut res = jwt.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            res
        }
        Err((status, error)) => oauth_error(status, error),
    })
}

pub async fn end_session(
    State(state): State<AppState>,
    ctx: Ctx,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let s = sim(&state)?;
    match s.end_session(&query.unwrap_or_default()) {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(reason) => refused(&ctx, &reason),
    }
}
