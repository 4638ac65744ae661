//! The places directory over HTTP: the public search and place pages, the open-data
//! exports, the JSON API (`/api/v1/lieux`), links to Relais structures and the
//! administrators' import page.

use askama::Template;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use crate::lieux::search::{self, Query};
use crate::web::AppState;
use crate::web::access::Admin;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::AppForm;
use crate::web::views::{Shell, render, render_status};

/// Filters the API accepts, each a field of the standard (repeatable).
const FILTERS: [&str; 7] = crate::lieux::index::FACET_FIELDS;

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "erreur": message }))).into_response()
}

/// A search as asked in a query string (the page's form and the API share it).
struct Asked {
    pairs: Vec<(String, String)>,
    query: Query,
    page: usize,
}

impl Asked {
    fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    /// Where to search was given (a commune, a postcode or coordinates).
    fn has_place(&self) -> bool {
        !self.query.text.is_empty() || self.query.near.is_some()
    }
}

/// Reads `q`, `lat`, `lon`, `rayon`, the vocabulary filters, `ouvert` and `page`;
/// the error says in French what to correct.
fn asked(raw: Option<String>) -> Result<Asked, String> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.trim().to_owned()))
            .filter(|(_, v)| !v.is_empty())
            .take(200)
            .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let number = |k: &str| get(k).map(|v| v.replace(',', ".").parse::<f64>());
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
            return Err(
                "La latitude et la longitude vont ensemble : deux nombres en degrés décimaux, par exemple 47.798 et 3.567.".into(),
            );
        }
    }
    match number("rayon") {
        Some(Ok(r)) if r > 0.0 && r <= 200.0 => q.radius_km = r,
        None => {}
        _ => return Err("Le rayon est un nombre de kilomètres entre 1 et 200.".into()),
    }
    let schema = crate::lieux::schema::Schema::standard();
    for (k, v) in &pairs {
        if FILTERS.contains(&k.as_str()) {
            let known = schema
                .field(k)
                .is_some_and(|f| f.vocabulary.iter().any(|x| x == v));
            if !known {
                return Err(format!(
                    "{k} : la valeur « {v} » n'est pas dans le vocabulaire du standard."
                ));
            }
            q.filters.push((k.clone(), v.clone()));
        }
    }
    if get("pass_numerique") == Some("oui") {
        q.filters
            .push((crate::lieux::index::PASS_FIELD.to_owned(), "oui".to_owned()));
    }
    let page = get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, 10_000);
    Ok(Asked {
        pairs,
        query: q,
        page,
    })
}

/// `GET /api/v1/lieux?q=&lat=&lon=&rayon=&services=…&ouvert=1&page=&par_page=`
pub async fn api_search(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let a = match asked(raw) {
        Ok(a) => a,
        Err(e) => return Ok(bad(&e)),
    };
    if !a.has_place() {
        return Ok(bad("Indiquez q (commune ou code postal) ou lat et lon."));
    }
    let q = &a.query;
    let page = a.page;
    let per_page = a
        .get("par_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let now = state.now();
    let hits = search::search(&state.db, q, now).await?;
    let total = hits.len();
    let slice: Vec<&search::Hit> = hits
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let ids: Vec<i64> = slice.iter().map(|h| h.row_id).collect();
    let mut records = search::records(&state.db, &ids).await?;
    let objects = crate::lieux::to_json(
        &ids.iter()
            .map(|id| records.remove(id).unwrap_or_default())
            .collect::<Vec<_>>(),
    );
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
                    m.insert("ouvert".into(), json!(h.open_at(now)));
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
                crate::lieux::schema::FieldType::Integer => {
                    json!({ "type": "integer", "description": f.title })
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
    let mut doc = json!({
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
                        filter("modalites_acces", "Modalités d'accès"),
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
    });
    // The activities API (clients of a structure) is described in the same document.
    let (paths, schemes) = super::api::openapi_paths();
    if let (Some(all), Some(more)) = (
        doc.get_mut("paths").and_then(Value::as_object_mut),
        paths.as_object(),
    ) {
        all.extend(more.clone());
    }
    if let Some(d) = doc.as_object_mut() {
        d.insert("components".into(), json!({ "securitySchemes": schemes }));
        if let Some(info) = d.get_mut("info").and_then(Value::as_object_mut) {
            info.insert("title".into(), json!("Relais — API publique"));
            info.insert(
                "description".into(),
                json!(format!(
                    "Recherche dans l'annuaire des lieux au standard national {} (sans authentification) ; activités anonymisées et statistiques d'une structure (client de la structure, authentification HTTP Basic).",
                    schema.version
                )),
            );
        }
    }
    Json(doc).into_response()
}

// ---------------------------------------------------------------------------
// Public pages: search and a place's page.

/// The filter groups of the search form, in French.
const GROUPS: [(&str, &str); 7] = [
    ("services", "Ce que l'on peut y faire"),
    (
        "publics_specifiquement_adresses",
        "Publics accueillis en particulier",
    ),
    ("prise_en_charge_specifique", "Accompagnement adapté"),
    ("frais_a_charge", "Prix"),
    ("modalites_acces", "Comment y aller"),
    ("modalites_accompagnement", "Façon d'être accompagné"),
    ("dispositif_programmes_nationaux", "Dispositifs nationaux"),
];

pub struct FacetOption {
    pub id: String,
    pub value: String,
    pub checked: bool,
}

pub struct FacetGroup {
    pub field: &'static str,
    pub label: &'static str,
    pub options: Vec<FacetOption>,
    pub open: bool,
}

pub struct ResultRow {
    pub id: i64,
    pub nom: String,
    pub distance: String,
    pub adresse: String,
    pub status: String,
    pub services: String,
    pub aidants_connect: bool,
    pub pass: bool,
}

#[derive(Template)]
#[template(path = "lieux_search.html")]
pub struct SearchView {
    pub shell: Shell,
    pub q: String,
    pub lat: String,
    pub lon: String,
    pub radii: Vec<(u32, bool)>,
    pub groups: Vec<FacetGroup>,
    pub ouvert: bool,
    pub pass_numerique: bool,
    pub error: Option<String>,
    pub searched: bool,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub results: Vec<ResultRow>,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    /// The commune typed is in no official list: what was typed.
    pub unknown: Option<String>,
    /// The closest commune names, each with the search it leads to.
    pub suggestions: Vec<(String, String)>,
    /// « à Auxerre (89) » when the commune typed is known.
    pub place_label: String,
    /// Larger distances to try when nothing was found, with their search.
    pub wider: Vec<(u32, String)>,
}

const PAGE_SIZE: usize = 20;

/// « à 2,4 km », « à 350 m ».
fn distance_fr(d: Option<f64>) -> String {
    match d {
        Some(km) if km < 1.0 => format!("à {} m", ((km * 1000.0) / 10.0).round() * 10.0),
        Some(km) => format!("à {} km", format!("{:.1}", km).replace('.', ",")),
        None => String::new(),
    }
}

/// The search URL with the same criteria and another page.
/// The same search with `field` set to `value` (first page): another commune or
/// distance, the criteria kept.
fn with_href(a: &Asked, field: &str, value: &str) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in a.pairs.iter().filter(|(k, _)| k != "page" && k != field) {
        s.append_pair(k, v);
    }
    s.append_pair(field, value);
    format!("/lieux?{}", s.finish())
}

fn page_href(a: &Asked, page: usize) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in a.pairs.iter().filter(|(k, _)| k != "page") {
        s.append_pair(k, v);
    }
    s.append_pair("page", &page.to_string());
    format!("/lieux?{}", s.finish())
}

fn value_of<'a>(values: &'a [String], field: &str) -> &'a str {
    crate::lieux::schema::Schema::standard()
        .fields
        .iter()
        .position(|f| f.name == field)
        .and_then(|i| values.get(i))
        .map(String::as_str)
        .unwrap_or("")
}

/// `GET /lieux`: the public search page (no account, no JavaScript).
pub async fn search_page(
    State(state): State<AppState>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let parsed = asked(raw);
    let (a, error) = match parsed {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e)),
    };
    let chosen = |field: &str, value: &str| {
        a.as_ref()
            .is_some_and(|a| a.pairs.iter().any(|(k, v)| k == field && v == value))
    };
    let schema = crate::lieux::schema::Schema::standard();
    let groups: Vec<FacetGroup> = GROUPS
        .iter()
        .map(|(field, label)| {
            let options: Vec<FacetOption> = schema
                .field(field)
                .map(|f| f.vocabulary.as_slice())
                .unwrap_or(&[])
                .iter()
                .enumerate()
                .map(|(i, v)| FacetOption {
                    id: format!("{field}-{i}"),
                    value: v.clone(),
                    checked: chosen(field, v),
                })
                .collect();
            FacetGroup {
                field,
                label,
                open: options.iter().any(|o| o.checked),
                options,
            }
        })
        .collect();
    let get = |k: &str| a.as_ref().and_then(|a| a.get(k)).unwrap_or("").to_owned();
    let radius = a.as_ref().map_or(10.0, |a| a.query.radius_km);
    let mut view = SearchView {
        shell: Shell::new(&ctx, "Trouver un lieu pour apprendre le numérique"),
        q: get("q"),
        lat: get("lat"),
        lon: get("lon"),
        radii: [2, 5, 10, 20, 50]
            .into_iter()
            .map(|r| (r, (f64::from(r) - radius).abs() < 0.01))
            .collect(),
        groups,
        ouvert: get("ouvert") == "1",
        pass_numerique: get("pass_numerique") == "oui",
        error,
        searched: false,
        total: 0,
        page: 1,
        pages: 1,
        results: Vec::new(),
        prev_href: None,
        next_href: None,
        unknown: None,
        suggestions: Vec::new(),
        place_label: String::new(),
        wider: Vec::new(),
    };
    let Some(a) = a.filter(|a| a.has_place()) else {
        let status = if view.error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        return render_status(status, &view);
    };
    let now = state.now();
    let (hits, centre) = search::search_around(&state.db, &a.query, now).await?;
    let pages = hits.len().div_ceil(PAGE_SIZE).max(1);
    let page = a.page.min(pages);
    let shown: Vec<&search::Hit> = hits
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    let ids: Vec<i64> = shown.iter().map(|h| h.row_id).collect();
    let records = search::records(&state.db, &ids).await?;
    let aidants = crate::lieux::accueil::aidants_by_place(&state.db, &ids).await?;
    view.results = shown
        .iter()
        .map(|h| {
            let values = records.get(&h.row_id).map(Vec::as_slice).unwrap_or(&[]);
            let v = |f: &str| value_of(values, f);
            ResultRow {
                id: h.row_id,
                nom: h.nom.clone(),
                distance: distance_fr(h.distance_km),
                adresse: format!("{}, {} {}", v("adresse"), v("code_postal"), v("commune")),
                status: crate::lieux::hours::status(&h.horaires, now)
                    .unwrap_or_else(|| "Horaires non renseignés".to_owned()),
                services: v("services").replace('|', ", "),
                pass: h.pass,
                aidants_connect: aidants.contains_key(&h.row_id)
                    || v("dispositif_programmes_nationaux")
                        .split('|')
                        .any(|d| d == "Aidants Connect"),
            }
        })
        .collect();
    // The commune typed, checked against the official list: unknown (with the
    // closest names), or named in the message when nothing was found.
    let typed = a.query.text.trim();
    if !typed.is_empty() && a.query.near.is_none() {
        match crate::territoires::get().find(typed) {
            crate::territoires::Found::Unknown(closest) if hits.is_empty() => {
                view.unknown = Some(typed.to_owned());
                view.suggestions = closest
                    .iter()
                    .map(|c| (c.label(), with_href(&a, "q", &c.label())))
                    .collect();
            }
            crate::territoires::Found::One(c) => view.place_label = format!(" pour {}", c.label()),
            _ => {}
        }
    }
    if hits.is_empty() && view.unknown.is_none() && centre.is_some() {
        view.wider = [20u32, 50, 100]
            .into_iter()
            .filter(|r| f64::from(*r) > radius)
            .map(|r| (r, with_href(&a, "rayon", &r.to_string())))
            .collect();
    }
    view.searched = true;
    view.total = hits.len();
    view.page = page;
    view.pages = pages;
    view.prev_href = (page > 1).then(|| page_href(&a, page - 1));
    view.next_href = (page < pages).then(|| page_href(&a, page + 1));
    render(&view)
}

pub struct Contact {
    pub label: &'static str,
    pub text: String,
    pub href: String,
}

pub struct Section {
    pub label: &'static str,
    pub values: Vec<String>,
}

#[derive(Template)]
#[template(path = "lieu.html")]
pub struct PlaceView {
    pub shell: Shell,
    pub id: i64,
    pub nom: String,
    pub typologie: String,
    pub adresse: String,
    pub complement: String,
    pub status: Option<String>,
    pub week: Option<Vec<crate::lieux::hours::Day>>,
    pub horaires_brut: String,
    pub contacts: Vec<Contact>,
    pub acces_libre: String,
    pub prise_rdv: String,
    pub presentation: String,
    pub sections: Vec<Section>,
    pub itinerant: bool,
    pub hosted: Vec<crate::lieux::accueil::Hosted>,
    pub aidants_connect: bool,
    /// Qualified for the pass numérique.
    pub pass: bool,
    pub date_maj: String,
    pub source: String,
    pub is_admin: bool,
    pub error: Option<String>,
    pub siret: String,
}

/// « +33380000000 » → « 03 80 00 00 00 » (France), other numbers as written.
fn phone_fr(raw: &str) -> String {
    match raw.strip_prefix("+33") {
        Some(rest) if rest.len() == 9 => {
            let digits = format!("0{rest}");
            digits
                .as_bytes()
                .chunks(2)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        }
        _ => raw.to_owned(),
    }
}

/// A web address safe to link to (http or https only).
fn web_link(raw: &str) -> Option<String> {
    let u = url::Url::parse(raw.trim()).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.to_string())
}

async fn place_view(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    error: Option<String>,
    siret: String,
) -> AppResult<Option<PlaceView>> {
    let Some(values) = search::find(&state.db, id).await? else {
        return Ok(None);
    };
    let pass = state
        .db
        .fetch_optional("SELECT facets FROM lieux WHERE id = $1", crate::args![id])
        .await?
        .map(|r| r.int("facets"))
        .transpose()?
        .is_some_and(|f| f & crate::lieux::index::PASS_BIT != 0);
    let now = state.now();
    let v = |f: &str| value_of(&values, f).to_owned();
    let mut contacts = Vec::new();
    for tel in v("telephone").split('|').filter(|t| !t.is_empty()) {
        contacts.push(Contact {
            label: "Téléphone",
            text: phone_fr(tel),
            href: format!("tel:{tel}"),
        });
    }
    for mail in v("courriels").split('|').filter(|t| !t.is_empty()) {
        if crate::domain::Email::parse(mail).is_ok() {
            contacts.push(Contact {
                label: "Courriel",
                text: mail.to_owned(),
                href: format!("mailto:{mail}"),
            });
        }
    }
    for site in v("site_web").split('|').filter_map(web_link) {
        contacts.push(Contact {
            label: "Site internet",
            text: site.clone(),
            href: site,
        });
    }
    let sections = GROUPS
        .iter()
        .chain(&[("formations_labels", "Formations et labels")])
        .map(|(field, label)| Section {
            label,
            values: v(field)
                .split('|')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect(),
        })
        .filter(|s| !s.values.is_empty())
        .collect();
    let hosted = crate::lieux::accueil::hosted(&state.db, id).await?;
    let horaires = v("horaires");
    let date_maj = v("date_maj");
    Ok(Some(PlaceView {
        shell: Shell::new(ctx, v("nom")),
        id,
        typologie: v("typologie")
            .split('|')
            .filter(|t| !t.trim().is_empty())
            .map(|t| crate::lieux::typologie_label(t).unwrap_or(t))
            .collect::<Vec<_>>()
            .join(", "),
        adresse: format!("{}, {} {}", v("adresse"), v("code_postal"), v("commune")),
        complement: v("complement_adresse"),
        status: crate::lieux::hours::status(&horaires, now),
        week: crate::lieux::hours::week(&horaires, now),
        horaires_brut: horaires,
        contacts,
        acces_libre: web_link(&v("fiche_acces_libre")).unwrap_or_default(),
        prise_rdv: web_link(&v("prise_rdv")).unwrap_or_default(),
        presentation: match v("presentation_detail") {
            d if d.is_empty() => v("presentation_resume"),
            d => d,
        },
        sections,
        itinerant: v("itinerance").split('|').any(|x| x == "Itinérant"),
        aidants_connect: hosted.iter().any(|h| h.aidants > 0)
            || v("dispositif_programmes_nationaux")
                .split('|')
                .any(|d| d == "Aidants Connect"),
        hosted,
        pass,
        date_maj: crate::time_fr::parse_date(&date_maj)
            .map(crate::time_fr::date_long)
            .unwrap_or(date_maj),
        source: v("source"),
        nom: v("nom"),
        is_admin: ctx.session.as_ref().is_some_and(|s| s.is_admin),
        error,
        siret,
    }))
}

/// `GET /lieux/{lid}`: a place's page.
pub async fn place(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    match place_view(&state, &ctx, id, None, String::new()).await? {
        Some(v) => render(&v),
        None => Err(AppError::NotFound),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct LinkForm {
    siret: String,
}

/// `POST /lieux/{lid}/structures`: an administrator links a Relais structure (by
/// SIRET) to the place.
pub async fn link_structure(
    State(state): State<AppState>,
    ctx: Ctx,
    admin: Admin,
    Path(id): Path<i64>,
    AppForm(f): AppForm<LinkForm>,
) -> AppResult<Response> {
    match crate::lieux::accueil::link(&state.db, id, &f.siret, admin.0.account_id, state.now())
        .await
    {
        Ok(sid) => {
            tracing::info!(
                by = admin.0.account_id,
                lieu = id,
                structure_id = sid,
                "structure rattachée à un lieu"
            );
            Ok(Redirect::to(&format!("/lieux/{id}")).into_response())
        }
        Err(crate::lieux::accueil::LinkError::Db(e)) => Err(e.into()),
        Err(crate::lieux::accueil::LinkError::UnknownPlace) => Err(AppError::NotFound),
        Err(e) => match place_view(&state, &ctx, id, Some(e.to_string()), f.siret).await? {
            Some(v) => render_status(StatusCode::UNPROCESSABLE_ENTITY, &v),
            None => Err(AppError::NotFound),
        },
    }
}

/// `POST /lieux/{lid}/structures/{sid}/detacher`.
pub async fn unlink_structure(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, sid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    if !crate::lieux::accueil::unlink(&state.db, id, sid, admin.0.account_id, state.now()).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(
        by = admin.0.account_id,
        lieu = id,
        structure_id = sid,
        "structure détachée d'un lieu"
    );
    Ok(Redirect::to(&format!("/lieux/{id}")).into_response())
}

/// `GET /lieux/export.csv` and `/lieux/export.json`: the whole directory as open
/// data, in the standard.
pub async fn export_csv(State(state): State<AppState>) -> AppResult<Response> {
    Ok(export(&state, crate::lieux::ExportFormat::Csv))
}

pub async fn export_json(State(state): State<AppState>) -> AppResult<Response> {
    Ok(export(&state, crate::lieux::ExportFormat::Json))
}

/// The export streamed page by page ([`crate::lieux::export_stream`]): 20 parallel
/// downloads of 50,000 places hold 20 pages in memory, not 20 files.
fn export(state: &AppState, format: crate::lieux::ExportFormat) -> Response {
    use futures_util::StreamExt as _;
    let (content_type, name) = match format {
        crate::lieux::ExportFormat::Csv => {
            ("text/csv; charset=utf-8", "lieux-mediation-numerique.csv")
        }
        crate::lieux::ExportFormat::Json => ("application/json", "lieux-mediation-numerique.json"),
    };
    let stream = crate::lieux::export_stream(state.db.clone(), format).map(|chunk| {
        chunk.map_err(|e| {
            tracing::error!(cause = %e, "export des lieux interrompu");
            std::io::Error::other(e)
        })
    });
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

// ---------------------------------------------------------------------------
// Administration: import of files.

#[derive(Template)]
#[template(path = "admin_lieux.html")]
pub struct AdminView {
    pub shell: Shell,
    pub count: i64,
    pub source: String,
    pub partiel: bool,
    pub windows: bool,
    pub error: Option<String>,
    pub file_name: String,
    pub report: Option<crate::lieux::Report>,
    pub summary: String,
    pub duplicates: Vec<crate::lieux::Duplicate>,
}

async fn admin_view(state: &AppState, ctx: &Ctx) -> AppResult<AdminView> {
    Ok(AdminView {
        shell: Shell::new(ctx, "Lieux de médiation numérique"),
        count: crate::lieux::count(&state.db).await?,
        source: String::new(),
        partiel: false,
        windows: false,
        error: None,
        file_name: String::new(),
        report: None,
        summary: String::new(),
        duplicates: crate::lieux::duplicates(&state.db, &[]).await?,
    })
}

/// `GET /admin/lieux`.
pub async fn admin(State(state): State<AppState>, ctx: Ctx, _a: Admin) -> AppResult<Response> {
    render(&admin_view(&state, &ctx).await?)
}

/// `POST /admin/lieux` (multipart): imports one file; the report lists every
/// refused row and the likely duplicates.
pub async fn admin_import(
    State(state): State<AppState>,
    ctx: Ctx,
    admin: Admin,
    upload: crate::web::forms::Upload,
) -> AppResult<Response> {
    let text = |name: &str| upload.text(name);
    let mut view = admin_view(&state, &ctx).await?;
    view.source = text("source").chars().take(100).collect();
    view.partiel = text("mode") == "partiel";
    view.windows = text("encodage") == "windows-1252";
    let Some(file) = upload.file("fichier") else {
        view.error = Some("Choisissez un fichier à importer (CSV ou JSON du standard, JSON v0.1, ou GeoJSON France Services).".into());
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
    };
    view.file_name = file
        .file_name
        .clone()
        .unwrap_or_else(|| "fichier".to_owned());
    let encoding = if view.windows {
        crate::lieux::Encoding::Windows1252
    } else {
        crate::lieux::Encoding::Utf8
    };
    let read = match crate::lieux::read_any(&view.file_name, &file.data, encoding) {
        Ok(r) => r,
        Err(e) => {
            view.error = Some(format!(
                "Ce fichier ne peut pas être lu : {e}. Rien n'a été importé."
            ));
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
    };
    // The source is asked only for the rows that do not carry their own.
    let without = read
        .records
        .iter()
        .filter(|r| r.get("source").trim().is_empty())
        .count();
    if view.source.is_empty() && without > 0 {
        view.error = Some(format!(
            "Indiquez la source : {} de ce fichier n'en {} pas. C'est le nom court de l'organisme qui produit le fichier (par exemple « hub-bourgogne ») ; il identifie ses lieux lors des imports suivants. Rien n'a été importé.",
            crate::domain::count(without, "ligne", "lignes"),
            if without == 1 { "a" } else { "ont" }
        ));
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
    }
    let report = crate::lieux::import_by(
        &state.db,
        read,
        &view.source,
        view.partiel,
        Some(admin.0.account_id),
        state.now(),
    )
    .await?;
    tracing::info!(
        by = admin.0.account_id,
        source = %view.source,
        inserted = report.inserted,
        updated = report.updated,
        rejected = report.refused,
        "import de lieux"
    );
    let status = if report.written {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    view.summary = report.summary();
    view.count = crate::lieux::count(&state.db).await?;
    view.duplicates = report.duplicates.clone();
    view.report = Some(report);
    render_status(status, &view)
}
