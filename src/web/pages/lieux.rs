//! The places directory over HTTP: the public JSON API (`/api/v1/lieux`).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::lieux::search::{self, Query};
use crate::web::AppState;
use crate::web::error::AppResult;

/// Filters the API accepts, each a field of the standard (repeatable).
const FILTERS: [&str; 6] = [
    "services",
    "publics_specifiquement_adresses",
    "prise_en_charge_specifique",
    "frais_a_charge",
    "dispositif_programmes_nationaux",
    "modalites_accompagnement",
];

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "erreur": message }))).into_response()
}

/// `GET /api/v1/lieux?q=&lat=&lon=&rayon=&services=…&ouvert=1&page=&par_page=`
pub async fn api_search(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.trim().to_owned()))
            .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let number = |k: &str| get(k).filter(|v| !v.is_empty()).map(str::parse::<f64>);
    let mut q = Query {
        text: get("q").unwrap_or("").chars().take(100).collect(),
        radius_km: 10.0,
        open_now: get("ouvert") == Some("1"),
        ..Query::default()
    };
    match (number("lat"), number("lon")) {
        (Some(Ok(lat)), Some(Ok(lon)))
            if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
        {
            q.near = Some((lat, lon));
        }
        (None, None) => {}
        _ => {
            return Ok(bad(
                "lat et lon vont ensemble : des nombres en degrés décimaux",
            ));
        }
    }
    match number("rayon") {
        Some(Ok(r)) if r > 0.0 && r <= 200.0 => q.radius_km = r,
        None => {}
        _ => return Ok(bad("rayon : un nombre de kilomètres entre 0 et 200")),
    }
    if q.text.is_empty() && q.near.is_none() {
        return Ok(bad("indiquez q (commune ou code postal) ou lat et lon"));
    }
    let schema = crate::lieux::schema::Schema::standard();
    for (k, v) in &pairs {
        if FILTERS.contains(&k.as_str()) {
            let known = schema
                .field(k)
                .is_some_and(|f| f.vocabulary.iter().any(|x| x == v));
            if !known {
                return Ok(bad(&format!(
                    "{k} : valeur « {v} » hors du vocabulaire du standard"
                )));
            }
            q.filters.push((k.clone(), v.clone()));
        }
    }
    let page = get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let per_page = get("par_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let now = state.now();
    let hits = search::search(&state.db, &q, now).await?;
    let total = hits.len();
    let slice: Vec<&search::Hit> = hits
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let objects =
        crate::lieux::to_json(&slice.iter().map(|h| h.values.clone()).collect::<Vec<_>>());
    let lieux: Vec<Value> = match objects {
        Value::Array(list) => list
            .into_iter()
            .zip(&slice)
            .map(|(mut o, h)| {
                if let Some(m) = o.as_object_mut() {
                    m.insert(
                        "distance_km".into(),
                        json!(h.distance_km.map(|d| (d * 10.0).round() / 10.0)),
                    );
                    m.insert("ouvert".into(), json!(h.open));
                }
                o
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(
        Json(json!({ "total": total, "page": page, "par_page": per_page, "lieux": lieux }))
            .into_response(),
    )
}

/// `GET /api/v1/openapi.json`: the API described in OpenAPI 3.
pub async fn openapi(State(state): State<AppState>) -> Response {
    let schema = crate::lieux::schema::Schema::standard();
    let vocabulary = |field: &str| {
        schema
            .field(field)
            .map(|f| f.vocabulary.clone())
            .unwrap_or_default()
    };
    let filter = |field: &str, description: &str| {
        json!({
            "name": field, "in": "query", "required": false, "description": description,
            "schema": { "type": "array", "items": { "type": "string", "enum": vocabulary(field) } },
            "style": "form", "explode": true
        })
    };
    let place_properties: serde_json::Map<String, Value> = schema
        .fields
        .iter()
        .map(|f| {
            let t = match f.kind {
                crate::lieux::schema::FieldType::Number => {
                    json!({ "type": "number", "description": f.title })
                }
                crate::lieux::schema::FieldType::Date => {
                    json!({ "type": "string", "format": "date", "description": f.title })
                }
                crate::lieux::schema::FieldType::String => {
                    json!({ "type": "string", "description": f.title })
                }
            };
            (f.name.clone(), t)
        })
        .collect();
    let mut place = json!({ "type": "object", "properties": place_properties });
    if let Some(p) = place.get_mut("properties").and_then(Value::as_object_mut) {
        p.insert("distance_km".into(), json!({ "type": ["number", "null"], "description": "Distance au centre de la recherche" }));
        p.insert("ouvert".into(), json!({ "type": ["boolean", "null"], "description": "Ouvert maintenant (heure de Paris) ; null si les horaires manquent" }));
    }
    Json(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Relais — lieux de médiation numérique",
            "version": "1",
            "description": format!("Recherche dans l'annuaire des lieux au standard national {}.", schema.version),
        },
        "servers": [{ "url": state.config.public_url() }],
        "paths": {
            "/api/v1/lieux": {
                "get": {
                    "summary": "Chercher des lieux par commune, code postal ou coordonnées",
                    "parameters": [
                        { "name": "q", "in": "query", "required": false, "description": "Commune (sans tenir compte des accents ni des majuscules) ou code postal", "schema": { "type": "string", "maxLength": 100 } },
                        { "name": "lat", "in": "query", "required": false, "description": "Latitude (avec lon)", "schema": { "type": "number", "minimum": -90, "maximum": 90 } },
                        { "name": "lon", "in": "query", "required": false, "description": "Longitude (avec lat)", "schema": { "type": "number", "minimum": -180, "maximum": 180 } },
                        { "name": "rayon", "in": "query", "required": false, "description": "Rayon en km", "schema": { "type": "number", "exclusiveMinimum": 0, "maximum": 200, "default": 10 } },
                        filter("services", "Services proposés"),
                        filter("publics_specifiquement_adresses", "Publics"),
                        filter("prise_en_charge_specifique", "Accompagnements spécifiques"),
                        filter("frais_a_charge", "Frais"),
                        filter("dispositif_programmes_nationaux", "Dispositifs nationaux"),
                        filter("modalites_accompagnement", "Modalités d'accompagnement"),
                        { "name": "ouvert", "in": "query", "required": false, "description": "1 : seulement les lieux ouverts maintenant", "schema": { "type": "string", "enum": ["1"] } },
                        { "name": "page", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "default": 1 } },
                        { "name": "par_page", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 20 } }
                    ],
                    "responses": {
                        "200": { "description": "Lieux triés par distance", "content": { "application/json": { "schema": {
                            "type": "object",
                            "properties": {
                                "total": { "type": "integer" }, "page": { "type": "integer" }, "par_page": { "type": "integer" },
                                "lieux": { "type": "array", "items": place }
                            }
                        } } } },
                        "400": { "description": "Paramètre invalide", "content": { "application/json": { "schema": {
                            "type": "object", "properties": { "erreur": { "type": "string" } }
                        } } } }
                    }
                }
            }
        }
    }))
    .into_response()
}
