//! The JSON API of activities and statistics (`Access::Api`: no session, no CSRF;
//! every call authenticates its client with HTTP Basic through
//! [`crate::api_clients::authenticate`]), its OpenAPI paths, and the référent's page
//! that creates and revokes clients.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::activites::{StatsQuery, stats_filter};
use crate::activites::stats::{self, Scope};
use crate::activites::vocab;
use crate::api_clients::{self, Refusal};
use crate::web::AppState;
use crate::web::access::Manager;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{FormErrors, PageQuery};
use crate::web::views::{Shell, render, render_status};

fn api_error(status: StatusCode, message: &str) -> Response {
    let mut res = (status, Json(json!({ "erreur": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"relais-api\""),
        );
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The structure the call may read for `scope`, or the refusal to answer.
async fn client(state: &AppState, headers: &HeaderMap, scope: &str) -> Result<i64, Response> {
    let refused = || {
        api_error(
            StatusCode::UNAUTHORIZED,
            "Identifiants du client manquants, inconnus, expirés ou révoqués (authentification HTTP Basic : identifiant et secret du client).",
        )
    };
    let Some(encoded) = super::idp::credentials(headers, "Basic") else {
        return Err(refused());
    };
    let Some(text) = data_encoding::BASE64
        .decode(encoded.as_bytes())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
    else {
        return Err(refused());
    };
    let Some((id, secret)) = text.split_once(':') else {
        return Err(refused());
    };
    match api_clients::authenticate(&state.db, id, secret, scope, state.now()).await {
        Ok(Ok(sid)) => Ok(sid),
        Ok(Err(Refusal::Unauthenticated)) => Err(refused()),
        Ok(Err(Refusal::Scope)) => Err(api_error(
            StatusCode::FORBIDDEN,
            "Ce client n'a pas la portée nécessaire : demandez au référent de la structure un client avec cette portée.",
        )),
        Err(e) => Err(AppError::from(e).into_response()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    du: String,
    au: String,
    #[serde(rename = "type")]
    kind: String,
    lieu: String,
    apres: String,
    limite: String,
}

/// `GET /api/v1/activites`: anonymised activities of the client's structure.
pub async fn activities(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let sid = match client(&state, &headers, "activites").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut errors = FormErrors::default();
    let filter = StatsQuery {
        du: q.du,
        au: q.au,
        kind: q.kind,
        lieu: q.lieu,
        thematique: String::new(),
        mediateur: String::new(),
    };
    let f = stats_filter(&filter, Scope::Structure(sid), state.now(), &mut errors);
    let limit = match q.limite.as_str() {
        "" => 100,
        v => v.parse::<i64>().unwrap_or(0),
    };
    if !(1..=500).contains(&limit) {
        errors.add("limite", "limite : un entier de 1 à 500.");
    }
    let after = match q.apres.as_str() {
        "" => 0,
        v => v.parse::<i64>().unwrap_or_else(|_| {
            errors.add(
                "apres",
                "apres : le curseur donné par « suivant » (un entier).",
            );
            0
        }),
    };
    if let Some((_, m)) = errors.list().first() {
        return api_error(StatusCode::BAD_REQUEST, m);
    }
    match crate::activites::export::api_page(&state.db, sid, &f, after, limit).await {
        Ok((list, next)) => {
            let suivant = next.map(|after| {
                let mut u = url::form_urlencoded::Serializer::new(String::new());
                u.append_pair("du", &format!("{}-{:02}", f.from / 100, f.from % 100));
                u.append_pair("au", &format!("{}-{:02}", f.to / 100, f.to % 100));
                if let Some(k) = f.kind {
                    u.append_pair("type", k.key());
                }
                if let Some(l) = f.lieu_id {
                    u.append_pair("lieu", &l.to_string());
                }
                u.append_pair("apres", &after.to_string());
                u.append_pair("limite", &limit.to_string());
                format!("/api/v1/activites?{}", u.finish())
            });
            no_store(Json(json!({ "activites": list, "suivant": suivant })).into_response())
        }
        Err(e) => AppError::from(e).into_response(),
    }
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /api/v1/statistiques`: the statistics of the client's structure.
pub async fn statistics(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StatsQuery>,
) -> Response {
    let sid = match client(&state, &headers, "statistiques").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut errors = FormErrors::default();
    let f = stats_filter(&q, Scope::Structure(sid), state.now(), &mut errors);
    if let Some((_, m)) = errors.list().first() {
        return api_error(StatusCode::BAD_REQUEST, m);
    }
    let s = match super::activites::query_stats(&state, &q, &f, &mut errors).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    if let Some((_, m)) = errors.list().first() {
        return api_error(StatusCode::BAD_REQUEST, m);
    }
    let t = &s.totals;
    let distributions: serde_json::Map<String, Value> = s
        .distributions
        .iter()
        .map(|d| {
            (
                d.key.to_owned(),
                Value::Array(
                    d.rows
                        .iter()
                        .map(|r| {
                            json!({ "valeur": r.slug, "libelle": r.label, "accompagnements": r.n, "pourcentage": r.pct })
                        })
                        .collect(),
                ),
            )
        })
        .collect();
    no_store(
        Json(json!({
            "du": format!("{}-{:02}", f.from / 100, f.from % 100),
            "au": format!("{}-{:02}", f.to / 100, f.to % 100),
            "totaux": {
                "activites": t.activites,
                "accompagnements": t.accompagnements,
                "accompagnements_individuels": t.accompagnements_individuels,
                "accompagnements_collectifs": t.accompagnements_collectifs,
                "ateliers": t.ateliers,
                "personnes": t.personnes,
                "beneficiaires_suivis": t.suivis,
                "beneficiaires_anonymes": t.anonymes,
                "nouveaux": t.nouveaux,
                "minutes": t.minutes,
            },
            "mois": stats::fill_months(f.from, f.to, &s.months).iter().map(|m| json!({
                "mois": format!("{}-{:02}", m.mois / 100, m.mois % 100),
                "activites": m.activites,
                "accompagnements": m.accompagnements,
            })).collect::<Vec<_>>(),
            "repartitions": distributions,
        }))
        .into_response(),
    )
}

fn enum_or_null(list: &[vocab::Term]) -> Value {
    let mut v: Vec<Value> = list.iter().map(|(k, _)| json!(k)).collect();
    v.push(Value::Null);
    Value::Array(v)
}

fn enum_of(list: &[vocab::Term]) -> Vec<&'static str> {
    list.iter().map(|(k, _)| *k).collect()
}

/// The activities API's part of the OpenAPI document (`/api/v1/openapi.json`):
/// written from the same vocabularies as the code, and checked against real
/// responses by the tests.
pub fn openapi_paths() -> (Value, Value) {
    let filters = json!([
        { "name": "du", "in": "query", "required": false, "description": "Premier mois (aaaa-mm) ; par défaut il y a 11 mois", "schema": { "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$" } },
        { "name": "au", "in": "query", "required": false, "description": "Dernier mois (aaaa-mm) ; par défaut le mois en cours", "schema": { "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$" } },
        { "name": "type", "in": "query", "required": false, "schema": { "type": "string", "enum": ["individuel", "collectif"] } },
        { "name": "lieu", "in": "query", "required": false, "description": "Identifiant d'un lieu de l'annuaire", "schema": { "type": "integer" } }
    ]);
    let mut stats_params = filters.as_array().cloned().unwrap_or_default();
    stats_params.push(json!({ "name": "thematique", "in": "query", "required": false, "description": "Seulement les activités de cette thématique", "schema": { "type": "string", "enum": enum_of(vocab::THEMATIQUES) } }));
    let counts = |list: &[vocab::Term]| {
        let mut keys = enum_of(list);
        keys.push(vocab::NON_COMMUNIQUE.0);
        let props: serde_json::Map<String, Value> = keys
            .iter()
            .map(|k| ((*k).to_owned(), json!({ "type": "integer", "minimum": 0 })))
            .collect();
        json!({ "type": "object", "properties": props, "required": keys, "additionalProperties": false })
    };
    let text_or_null = json!({ "type": ["string", "null"] });
    let activity = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "date", "type", "duree_minutes", "lieu_type", "lieu_id", "commune_insee", "departement", "materiel", "thematiques", "thematiques_demarches", "autonomie", "orientation", "niveau", "titre", "accompagnements", "beneficiaires_suivis", "beneficiaires_anonymes", "nouveaux", "genres", "tranches_age", "statuts"],
        "properties": {
            "id": { "type": "integer" },
            "date": { "type": "string", "format": "date" },
            "type": { "type": "string", "enum": ["individuel", "collectif"] },
            "duree_minutes": { "type": "integer", "minimum": 1, "maximum": vocab::DUREE_MAX },
            "lieu_type": { "type": "string", "enum": enum_of(vocab::LIEU_TYPES) },
            "lieu_id": { "type": ["integer", "null"] },
            "commune_insee": text_or_null,
            "departement": text_or_null,
            "materiel": { "type": "array", "items": { "type": "string", "enum": enum_of(vocab::MATERIELS) } },
            "thematiques": { "type": "array", "items": { "type": "string", "enum": enum_of(vocab::THEMATIQUES) } },
            "thematiques_demarches": { "type": "array", "items": { "type": "string", "enum": enum_of(vocab::THEMATIQUES_ADMIN) } },
            "autonomie": { "type": ["string", "null"], "enum": enum_or_null(vocab::AUTONOMIES) },
            "orientation": { "type": ["string", "null"], "enum": enum_or_null(vocab::ORIENTATIONS) },
            "niveau": { "type": ["string", "null"], "enum": enum_or_null(vocab::NIVEAUX) },
            "titre": text_or_null,
            "accompagnements": { "type": "integer", "minimum": 0 },
            "beneficiaires_suivis": { "type": "integer", "minimum": 0 },
            "beneficiaires_anonymes": { "type": "integer", "minimum": 0 },
            "nouveaux": { "type": "integer", "minimum": 0 },
            "genres": counts(vocab::GENRES),
            "tranches_age": counts(vocab::AGES),
            "statuts": counts(vocab::STATUTS)
        }
    });
    let error = json!({ "description": "Erreur", "content": { "application/json": { "schema": {
        "type": "object", "required": ["erreur"], "properties": { "erreur": { "type": "string" } } } } } });
    let mut list_params = filters.as_array().cloned().unwrap_or_default();
    list_params.push(json!({ "name": "apres", "in": "query", "required": false, "description": "Curseur : l'identifiant de la dernière activité de la page précédente (donné par « suivant »)", "schema": { "type": "integer" } }));
    list_params.push(json!({ "name": "limite", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 100 } }));
    let row = json!({ "type": "object", "additionalProperties": false, "required": ["valeur", "libelle", "accompagnements", "pourcentage"], "properties": {
        "valeur": { "type": "string" }, "libelle": { "type": "string" },
        "accompagnements": { "type": "integer", "minimum": 0 }, "pourcentage": { "type": "integer", "minimum": 0, "maximum": 100 } } });
    let totals = [
        "activites",
        "accompagnements",
        "accompagnements_individuels",
        "accompagnements_collectifs",
        "ateliers",
        "personnes",
        "beneficiaires_suivis",
        "beneficiaires_anonymes",
        "nouveaux",
        "minutes",
    ];
    let totals_props: serde_json::Map<String, Value> = totals
        .iter()
        .map(|k| ((*k).to_owned(), json!({ "type": "integer", "minimum": 0 })))
        .collect();
    let paths = json!({
        "/api/v1/activites": { "get": {
            "summary": "Activités anonymisées des médiateurs de la structure du client (portée « activites »)",
            "security": [{ "client": [] }],
            "parameters": list_params,
            "responses": {
                "200": { "description": "Une page d'activités, de la plus ancienne à la plus récente", "content": { "application/json": { "schema": {
                    "type": "object", "additionalProperties": false, "required": ["activites", "suivant"],
                    "properties": {
                        "activites": { "type": "array", "items": activity },
                        "suivant": { "type": ["string", "null"], "description": "Adresse de la page suivante, null à la dernière" }
                    } } } } },
                "400": error, "401": error, "403": error
            }
        } },
        "/api/v1/statistiques": { "get": {
            "summary": "Statistiques d'activité de la structure du client (portée « statistiques »)",
            "security": [{ "client": [] }],
            "parameters": stats_params,
            "responses": {
                "200": { "description": "Totaux, mois et répartitions (pourcentages au plus fort reste)", "content": { "application/json": { "schema": {
                    "type": "object", "additionalProperties": false, "required": ["du", "au", "totaux", "mois", "repartitions"],
                    "properties": {
                        "du": { "type": "string" }, "au": { "type": "string" },
                        "totaux": { "type": "object", "additionalProperties": false, "required": totals, "properties": totals_props },
                        "mois": { "type": "array", "items": { "type": "object", "additionalProperties": false, "required": ["mois", "activites", "accompagnements"], "properties": {
                            "mois": { "type": "string" }, "activites": { "type": "integer" }, "accompagnements": { "type": "integer" } } } },
                        "repartitions": { "type": "object", "additionalProperties": { "type": "array", "items": row } }
                    } } } } },
                "400": error, "401": error, "403": error
            }
        } }
    });
    let schemes = json!({ "client": { "type": "http", "scheme": "basic", "description": "Identifiant et secret d'un client créé par le référent de la structure" } });
    (paths, schemes)
}

// ───────────────────────── the référent's page ─────────────────────────

#[derive(Template)]
#[template(path = "api_clients.html")]
pub struct ClientsView {
    pub shell: Shell,
    pub structure_id: i64,
    pub clients: Vec<api_clients::Client>,
    pub scopes: &'static [(&'static str, &'static str)],
    pub label: String,
    pub errors: FormErrors,
    /// The credentials just created, shown once.
    pub created: Option<api_clients::Credentials>,
    pub now: i64,
}

impl ClientsView {
    fn date(&self, t: &i64) -> String {
        crate::time_fr::date(*t)
    }
    fn state(&self, c: &api_clients::Client) -> &'static str {
        match c.revoked_at {
            Some(_) => "révoqué",
            None if c.expires_at <= self.now => "expiré",
            None => "actif",
        }
    }
}

async fn clients_view(
    state: &AppState,
    ctx: &Ctx,
    sid: i64,
    label: String,
    errors: FormErrors,
    created: Option<api_clients::Credentials>,
    notice: Option<&str>,
) -> AppResult<ClientsView> {
    Ok(ClientsView {
        shell: Shell::new(ctx, "Accès à l'API").with_notice(notice),
        structure_id: sid,
        clients: api_clients::list(&state.db, sid).await?,
        scopes: api_clients::SCOPES,
        label,
        errors,
        created,
        now: state.now(),
    })
}

pub async fn clients(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let view = clients_view(
        &state,
        &ctx,
        m.structure_id,
        String::new(),
        FormErrors::default(),
        None,
        q.info.as_deref(),
    )
    .await?;
    render(&view)
}

pub async fn client_create(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let here = format!("/structures/{}/api", m.structure_id);
    if let Some(r) = super::step_up_needed(&m.session, &here) {
        return Ok(r);
    }
    let mut label = String::new();
    let mut scopes: Vec<&'static str> = Vec::new();
    let mut months = String::new();
    let mut errors = FormErrors::default();
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "libelle" => label = v.trim().to_owned(),
            "portee" => match api_clients::SCOPES.iter().find(|(s, _)| *s == v) {
                Some((s, _)) if !scopes.contains(s) => scopes.push(s),
                Some(_) => {}
                None => errors.add("portee", "Choisissez les portées dans la liste."),
            },
            "mois" => months = v.into_owned(),
            _ => {}
        }
    }
    if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
        errors.add(
            "libelle",
            "Donnez un nom au client (100 caractères au plus), par exemple « Tableau de bord du département ».",
        );
    }
    if scopes.is_empty() && errors.get("portee").is_none() {
        errors.add("portee", "Cochez au moins une portée.");
    }
    let months = match months.parse::<i64>() {
        Ok(n) if (1..=24).contains(&n) => n,
        _ => {
            errors.add("mois", "Choisissez une durée de 1 à 24 mois.");
            0
        }
    };
    if !errors.is_empty() {
        let view = clients_view(&state, &ctx, m.structure_id, label, errors, None, None).await?;
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
    }
    let creds = api_clients::create(
        &state.db,
        m.structure_id,
        &label,
        &scopes,
        months,
        m.session.account_id,
        state.now(),
    )
    .await?;
    let view = clients_view(
        &state,
        &ctx,
        m.structure_id,
        String::new(),
        FormErrors::default(),
        Some(creds),
        None,
    )
    .await?;
    render(&view)
}

pub async fn client_revoke(
    State(state): State<AppState>,
    m: Manager,
    Path((_sid, cid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    if !api_clients::revoke(&state.db, m.structure_id, cid, state.now()).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&format!(
        "/structures/{}/api?info=client-revoque",
        m.structure_id
    ))
    .into_response())
}
