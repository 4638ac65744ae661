//! The identity provider's HTTP side: discovery, JWKS, authorize, the aidant's
//! choices (TOTP confirmation, usager, démarche), token, userinfo, end_session; and
//! in development the demo online service that uses it.

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::config::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SERVICE_PATH};
use crate::idp::{self, AuthorizeError, Choice, Pending};
use crate::mandats::Demarche;
use crate::web::AppState;
use crate::web::access::Member;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{AppForm, FormErrors};
use crate::web::views::{MessageView, Shell, render, render_status};

pub async fn discovery(State(state): State<AppState>) -> Response {
    let mut res = Json(idp::discovery(&state.config)).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

pub async fn jwks(State(state): State<AppState>) -> AppResult<Response> {
    let jwks = state
        .idp_keys
        .jwks(&state.db, state.now())
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut res = Json(jwks).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(res)
}

fn refused(ctx: &Ctx, reason: &str) -> AppResult<Response> {
    render_status(
        StatusCode::BAD_REQUEST,
        &MessageView {
            shell: Shell::new(ctx, "Demande de connexion refusée"),
            heading: "Demande de connexion refusée".into(),
            paragraphs: vec![
                "Le service en ligne a envoyé une demande de connexion que Relais ne peut pas accepter. Revenez au service et recommencez ; si cela se reproduit, signalez-le à son support.".into(),
                format!("Détail technique : {reason}."),
            ],
            link: None,
        },
    )
}

/// `GET /oidc/authorize` (the query) and `POST /oidc/authorize` (the form, posted
/// from the client's site: an `Access::Api` route, without CSRF token, since the
/// request only records what the client asks and the aidant then acts on Relais'
/// own pages, where CSRF applies).
pub async fn authorize(
    State(state): State<AppState>,
    ctx: Ctx,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    authorize_raw(&state, &ctx, query.unwrap_or_default().as_bytes()).await
}

pub async fn authorize_post(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> AppResult<Response> {
    authorize_raw(&state, &ctx, &body).await
}

async fn authorize_raw(state: &AppState, ctx: &Ctx, raw: &[u8]) -> AppResult<Response> {
    match idp::validate_authorize(&state.idp_clients, &idp::issuer(&state.config), raw) {
        Ok(req) => {
            let session = ctx.session.as_deref().map(|s| s.id_hash.as_str());
            let id = idp::save_request(&state.db, &req, session, state.now()).await?;
            Ok(Redirect::to(&format!("/oidc/autorisation/{id}")).into_response())
        }
        Err(AuthorizeError::Page(reason)) => refused(ctx, &reason),
        Err(AuthorizeError::Redirect(url)) => Ok(Redirect::to(&url).into_response()),
    }
}

#[derive(Template)]
#[template(path = "idp_flow.html")]
pub struct FlowView {
    pub shell: Shell,
    pub id: String,
    pub client_name: String,
    pub step: &'static str,
    pub q: String,
    pub usagers: Vec<Choice>,
    pub usager_name: String,
    pub autorisations: Vec<(i64, Demarche)>,
    pub scope_label: String,
    pub errors: FormErrors,
}

async fn pending(state: &AppState, m: &Member, id: &str) -> AppResult<Option<Pending>> {
    Ok(idp::pending_for_session(
        &state.db,
        id,
        &m.session.id_hash,
        m.session.mfa_at,
        state.now(),
    )
    .await?)
}

fn expired(ctx: &Ctx) -> AppResult<Response> {
    render_status(
        StatusCode::NOT_FOUND,
        &MessageView {
            shell: Shell::new(ctx, "Demande expirée"),
            heading: "Demande de connexion expirée".into(),
            paragraphs: vec!["Cette demande de connexion n'existe plus : elle a expiré (15 minutes), a déjà servi, ou a été ouverte dans une autre session. Revenez au service en ligne et recommencez.".into()],
            link: None,
        },
    )
}

fn client_name(state: &AppState, client_id: &str) -> String {
    state
        .idp_clients
        .iter()
        .find(|c| c.client_id == client_id)
        .map_or_else(|| client_id.to_owned(), |c| c.name.clone())
}

async fn flow_view(
    state: &AppState,
    ctx: &Ctx,
    m: &Member,
    p: &Pending,
    q: &str,
    errors: FormErrors,
) -> AppResult<FlowView> {
    let now = state.now();
    let scope = p.scope();
    let (step, usagers, usager_name, autorisations) = if !p.confirmed {
        ("code", Vec::new(), String::new(), Vec::new())
    } else if let Some(uid) = p.usager_id {
        let name = crate::mandats::usager_for_structure(&state.db, m.structure_id, uid)
            .await?
            .map(|u| u.identity.display_name())
            .unwrap_or_default();
        let list = idp::autorisations(&state.db, m.structure_id, uid, &scope, now).await?;
        ("demarche", Vec::new(), name, list)
    } else {
        let list = idp::usagers(&state.db, m.structure_id, &scope, q, now).await?;
        ("usager", list, String::new(), Vec::new())
    };
    Ok(FlowView {
        shell: Shell::new(ctx, "Se connecter pour une personne"),
        id: p.public_id.clone(),
        client_name: client_name(state, &p.request.client_id),
        step,
        q: q.to_owned(),
        usagers,
        usager_name,
        autorisations,
        scope_label: if p.request.rep_scope.is_some() {
            scope
                .iter()
                .map(|d| d.title())
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            String::new()
        },
        errors,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FlowQuery {
    q: String,
}

pub async fn flow(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(id): Path<String>,
    Query(fq): Query<FlowQuery>,
) -> AppResult<Response> {
    let Some(p) = pending(&state, &m, &id).await? else {
        return expired(&ctx);
    };
    render(&flow_view(&state, &ctx, &m, &p, fq.q.trim(), FormErrors::default()).await?)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(id): Path<String>,
    AppForm(f): AppForm<CodeForm>,
) -> AppResult<Response> {
    let Some(p) = pending(&state, &m, &id).await? else {
        return expired(&ctx);
    };
    let now = state.now();
    use crate::accounts::second_factor::{self, Verdict};
    let verdict = match crate::accounts::find(&state.db, m.session.account_id).await? {
        Some(a) => second_factor::check_totp(&state.db, &a, &f.code, now).await?,
        None => Verdict::Wrong,
    };
    if !verdict.is_valid() {
        let mut errors = FormErrors::default();
        match verdict {
            Verdict::Throttled(wait) => errors.add("code", second_factor::throttled_text(wait)),
            _ => errors.add("code", second_factor::WRONG_CODE_TEXT),
        }
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &flow_view(&state, &ctx, &m, &p, "", errors).await?,
        );
    }
    idp::confirm_request(&state.db, p.id, now).await?;
    Ok(Redirect::to(&format!("/oidc/autorisation/{id}")).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChoiceForm {
    usager: String,
    autorisation: String,
}

impl ChoiceForm {
    /// A chosen row number; anything else (missing, not a number) is 0, which
    /// matches nothing and shows the form again with its error.
    fn id(raw: &str) -> i64 {
        raw.trim().parse().unwrap_or(0)
    }
}

fn request_ref<'a>(m: &'a Member, id: &'a str) -> idp::RequestRef<'a> {
    idp::RequestRef {
        public_id: id,
        session_hash: &m.session.id_hash,
        mfa_at: m.session.mfa_at,
    }
}

/// The usager chosen: one statement checks everything when all is well; the
/// request is read only to tell the aidant why when not.
pub async fn choose_usager(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(id): Path<String>,
    AppForm(f): AppForm<ChoiceForm>,
) -> AppResult<Response> {
    // The one usager chosen, checked by itself: the list shows only the first 50
    // (a search finds the others).
    let usager = ChoiceForm::id(&f.usager);
    let choose = || {
        idp::choose_usager(
            &state.db,
            request_ref(&m, &id),
            m.structure_id,
            usager,
            state.now(),
        )
    };
    if !choose().await? {
        // Opened first by this request (it binds the request to the session),
        // expired, not confirmed, or a usager not allowed.
        let Some(p) = pending(&state, &m, &id).await? else {
            return expired(&ctx);
        };
        if !p.confirmed {
            return Ok(Redirect::to(&format!("/oidc/autorisation/{id}")).into_response());
        }
        if !choose().await? {
            let mut errors = FormErrors::default();
            errors.add(
                "usager",
                "Choisissez une personne de la liste : elle doit avoir un mandat actif avec votre structure pour cette démarche, et une adresse e-mail.",
            );
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &flow_view(&state, &ctx, &m, &p, "", errors).await?,
            );
        }
    }
    Ok(Redirect::to(&format!("/oidc/autorisation/{id}")).into_response())
}

/// The démarche chosen: the code is issued in one transaction that checks
/// everything; the request is read only to tell the aidant why when not.
pub async fn choose_demarche(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(id): Path<String>,
    AppForm(f): AppForm<ChoiceForm>,
) -> AppResult<Response> {
    let issued = idp::issue_code(
        &state.db,
        request_ref(&m, &id),
        idp::Acting {
            account_id: m.session.account_id,
            structure_id: m.structure_id,
        },
        ChoiceForm::id(&f.autorisation),
        &idp::issuer(&state.config),
        state.now(),
    )
    .await?;
    if let Some(issued) = issued {
        tracing::info!(
            structure_id = m.structure_id,
            by = m.session.account_id,
            client = %issued.client_id,
            "autorisation utilisée"
        );
        return Ok(Redirect::to(&issued.redirect).into_response());
    }
    let Some(p) = pending(&state, &m, &id).await? else {
        return expired(&ctx);
    };
    if !p.confirmed || p.usager_id.is_none() {
        return Ok(Redirect::to(&format!("/oidc/autorisation/{id}")).into_response());
    }
    let mut errors = FormErrors::default();
    errors.add(
        "autorisation",
        "Cette démarche n'est plus couverte par un mandat actif : choisissez-en une autre, ou renouvelez le mandat.",
    );
    render_status(
        StatusCode::CONFLICT,
        &flow_view(&state, &ctx, &m, &p, "", errors).await?,
    )
}

pub async fn cancel(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let Some(p) = pending(&state, &m, &id).await? else {
        return expired(&ctx);
    };
    idp::drop_request(&state.db, p.id).await?;
    match idp::error_redirect(
        &p.request.redirect_uri,
        &idp::issuer(&state.config),
        "access_denied",
        "L'aidant a annulé la connexion",
        &p.request.state,
    ) {
        AuthorizeError::Redirect(url) => Ok(Redirect::to(&url).into_response()),
        AuthorizeError::Page(reason) => Err(AppError::Internal(reason)),
    }
}

/// A JSON error of the token or userinfo endpoint (RFC 6749 §5.2, RFC 6750 §3),
/// never cached.
fn oauth_error(status: u16, error: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut res = (status, Json(serde_json::json!({ "error": error }))).into_response();
    if status == StatusCode::UNAUTHORIZED && error == "invalid_client" {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"relais\""),
        );
    }
    no_store(res)
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// The credentials of an `Authorization` header with `scheme`, which is matched
/// without regard to case (RFC 9110 §11.1).
pub(crate) fn credentials<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    if form.iter().any(|(k, _)| !seen.insert(k.as_str())) {
        return oauth_error(400, "invalid_request");
    }
    let basic = credentials(&headers, "Basic");
    let client = match idp::authenticate_client(&state.idp_clients, basic, &form) {
        Ok(c) => c,
        Err((s, e)) => return oauth_error(s, e),
    };
    match idp::exchange(
        &state.db,
        &state.idp_keys,
        &state.config,
        client,
        &form,
        state.now(),
    )
    .await
    {
        Ok(v) => no_store(Json(v).into_response()),
        Err((s, e)) => oauth_error(s, e),
    }
}

/// `GET /oidc/token`: the endpoint takes POST only; a JSON error says so.
pub async fn token_get() -> Response {
    let mut res = oauth_error(405, "invalid_request");
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    res
}

/// A userinfo failure: `WWW-Authenticate: Bearer`, with `error="invalid_token"`
/// when a token was sent (none when there was no token at all, RFC 6750 §3.1).
fn bearer_error(token_sent: bool) -> Response {
    let (body, challenge) = if token_sent {
        (
            serde_json::json!({ "error": "invalid_token" }),
            "Bearer realm=\"relais\", error=\"invalid_token\"",
        )
    } else {
        (serde_json::json!({}), "Bearer realm=\"relais\"")
    };
    let mut res = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    no_store(res)
}

/// `GET` or `POST /oidc/userinfo`: the access token in the `Authorization` header,
/// or (POST) as `access_token` in the form (RFC 6750 §2.2).
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let from_form = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned());
    let bearer = credentials(&headers, "Bearer")
        .map(str::to_owned)
        .or(from_form)
        .filter(|t| !t.is_empty());
    let Some(bearer) = bearer else {
        return bearer_error(false);
    };
    match idp::userinfo(
        &state.db,
        &state.idp_keys,
        &state.config,
        &state.idp_clients,
        &bearer,
        state.now(),
    )
    .await
    {
        Ok(idp::UserInfo::Json(v)) => no_store(Json(v).into_response()),
        Ok(idp::UserInfo::Jwt(jwt)) => {
            let mut res = jwt.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            no_store(res)
        }
        Err((401, _)) => bearer_error(true),
        Err((s, e)) => oauth_error(s, e),
    }
}

/// `GET` (query) or `POST` (form, from the client's site: an `Access::Api` route)
/// `/oidc/session/end`.
pub async fn end_session(
    State(state): State<AppState>,
    ctx: Ctx,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    end_session_raw(&state, &ctx, query.unwrap_or_default().as_bytes()).await
}

pub async fn end_session_post(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> AppResult<Response> {
    end_session_raw(&state, &ctx, &body).await
}

async fn end_session_raw(state: &AppState, ctx: &Ctx, raw: &[u8]) -> AppResult<Response> {
    match idp::end_session(
        &state.db,
        &state.idp_keys,
        &state.config,
        &state.idp_clients,
        raw,
        state.now(),
    )
    .await
    {
        Ok(idp::Logout::Redirect(url)) => Ok(Redirect::to(&url).into_response()),
        Ok(idp::Logout::Page) => render(&MessageView {
            shell: Shell::new(ctx, "Déconnexion du service en ligne"),
            heading: "Vous êtes déconnecté du service en ligne".into(),
            paragraphs: vec![
                "La connexion au service en ligne pour le compte de la personne est terminée. Vous pouvez fermer cet onglet.".into(),
                "Votre session Relais reste ouverte : déconnectez-vous de Relais depuis le menu si vous quittez le poste.".into(),
            ],
            link: Some(("/".into(), "Revenir à l'accueil de Relais".into())),
        }),
        Err(reason) => refused(ctx, &reason),
    }
}

// ---------------------------------------------------------------------------
// The demo online service (development only): plays FranceConnect and a public
// service, so a newcomer watches an aidant log in for a usager end to end.

#[derive(Template)]
#[template(path = "demo_service.html")]
pub struct DemoView {
    pub shell: Shell,
    pub result: Option<DemoResult>,
    pub failure: Option<String>,
}

pub struct DemoResult {
    pub usager: String,
    pub birthdate: String,
    pub email: String,
    pub demarche: String,
    pub aidant: String,
    pub structure: String,
    pub logout: String,
}

fn demo_enabled(state: &AppState) -> AppResult<()> {
    if state.config.is_production() {
        return Err(AppError::NotFound);
    }
    Ok(())
}

pub async fn demo_home(State(state): State<AppState>, ctx: Ctx) -> AppResult<Response> {
    demo_enabled(&state)?;
    render(&DemoView {
        shell: Shell::new(&ctx, "Simulateur de service en ligne"),
        result: None,
        failure: None,
    })
}

/// The demo service's cookie: the `state` of the login under way, binding the
/// return to the browser that started it.
const DEMO_STATE_COOKIE: &str = "relais_demo_etat";

/// The login's nonce and PKCE verifier, derived from its `state` with the server
/// secret: nothing is kept on the server, so the return may reach any server of a
/// cluster.
fn demo_secrets(state: &AppState, st: &str) -> (String, String) {
    let key = state.config.secret_key.as_bytes();
    (
        crate::crypto::keyed_hash(key, &format!("service-demo:nonce:{st}")),
        crate::crypto::keyed_hash(key, &format!("service-demo:verifier:{st}")),
    )
}

pub async fn demo_start(State(state): State<AppState>) -> AppResult<Response> {
    demo_enabled(&state)?;
    let st = crate::crypto::random_token();
    let (nonce, verifier) = demo_secrets(&state, &st);
    use sha2::Digest;
    let challenge =
        data_encoding::BASE64URL_NOPAD.encode(&sha2::Sha256::digest(verifier.as_bytes()));
    let base = state.config.public_url();
    let mut u = url::Url::parse(&format!("{base}/oidc/authorize"))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", DEMO_CLIENT_ID)
        .append_pair("redirect_uri", &format!("{base}{DEMO_SERVICE_PATH}/retour"))
        .append_pair("scope", "openid profile email birth")
        .append_pair("state", &st)
        .append_pair("nonce", &nonce)
        .append_pair("acr_values", "eidas1")
        .append_pair("prompt", "login")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut res = Redirect::to(u.as_str()).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        crate::web::context::set_cookie(&state, DEMO_STATE_COOKIE, &st, Some(900)),
    );
    Ok(res)
}

async fn demo_complete(
    state: &AppState,
    query: &str,
    started: Option<&str>,
) -> Result<DemoResult, String> {
    let get = |k: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(e) = get("error") {
        return Err(format!("la connexion n'a pas abouti ({e})"));
    }
    let st = get("state").unwrap_or_default();
    if !started.is_some_and(|s| !st.is_empty() && crate::crypto::ct_eq(s, &st)) {
        return Err("cette connexion n'a pas été commencée dans ce navigateur, ou a déjà servi : recommencez depuis le service".into());
    }
    let (nonce, verifier) = demo_secrets(state, &st);
    let base = state.config.public_url();
    let timeout = std::time::Duration::from_secs(5);
    let res = state
        .http
        .post_form(
            &format!("{base}/oidc/token"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &get("code").unwrap_or_default()),
                ("redirect_uri", &format!("{base}{DEMO_SERVICE_PATH}/retour")),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("code_verifier", &verifier),
            ],
            timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
    let tokens: serde_json::Value = serde_json::from_slice(&res.body).map_err(|e| e.to_string())?;
    let id_token = tokens
        .get("id_token")
        .and_then(|v| v.as_str())
        .ok_or("pas d'ID token")?
        .to_owned();
    let access = tokens
        .get("access_token")
        .and_then(|v| v.as_str())
        .ok_or("pas de jeton d'accès")?;
    let jwks = state
        .http
        .get(&format!("{base}/oidc/jwks"), None, timeout)
        .await
        .map_err(|e| e.to_string())?;
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_slice(&jwks.body).map_err(|e| e.to_string())?;
    let es = [jsonwebtoken::Algorithm::ES256];
    let claims =
        crate::franceconnect::jose::verify(&id_token, &set, &es).map_err(|e| e.to_string())?;
    if claims.get("nonce").and_then(|v| v.as_str()) != Some(nonce.as_str()) {
        return Err("nonce différent".into());
    }
    let info = state
        .http
        .get(&format!("{base}/oidc/userinfo"), Some(access), timeout)
        .await
        .map_err(|e| e.to_string())?;
    let info = crate::franceconnect::jose::verify(&String::from_utf8_lossy(&info.body), &set, &es)
        .map_err(|e| e.to_string())?;
    let text = |v: &serde_json::Value, path: &str| {
        v.pointer(path)
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let mut logout =
        url::Url::parse(&format!("{base}/oidc/session/end")).map_err(|e| e.to_string())?;
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("state", &crate::crypto::random_token())
        .append_pair(
            "post_logout_redirect_uri",
            &format!("{base}{DEMO_SERVICE_PATH}"),
        );
    Ok(DemoResult {
        usager: crate::mandats::display_name(
            &text(&info, "/given_name"),
            &text(&info, "/family_name"),
            &text(&info, "/preferred_username"),
            &text(&info, "/gender"),
        ),
        birthdate: crate::mandats::birthdate_fr(&text(&info, "/birthdate")),
        email: text(&info, "/email"),
        demarche: Demarche::parse(&text(&claims, "/rep_scope"))
            .map(Demarche::title)
            .unwrap_or("")
            .to_owned(),
        aidant: text(&claims, "/aidant/nom"),
        structure: text(&claims, "/structure/nom"),
        logout: logout.into(),
    })
}

pub async fn demo_return(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    demo_enabled(&state)?;
    let started = crate::web::context::cookie_value(&headers, DEMO_STATE_COOKIE);
    let outcome = demo_complete(&state, &query.unwrap_or_default(), started).await;
    let shell = Shell::new(&ctx, "Simulateur de service en ligne");
    // The login's cookie serves once.
    let mut res = match outcome {
        Ok(r) => render(&DemoView {
            shell,
            result: Some(r),
            failure: None,
        }),
        Err(e) => render_status(
            StatusCode::BAD_REQUEST,
            &DemoView {
                shell,
                result: None,
                failure: Some(e),
            },
        ),
    }?;
    res.headers_mut().append(
        header::SET_COOKIE,
        crate::web::context::set_cookie(&state, DEMO_STATE_COOKIE, "", Some(0)),
    );
    Ok(res)
}
