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
