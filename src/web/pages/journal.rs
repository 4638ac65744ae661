//! The structure's journal, for its référents (and administrators): filters, pages,
//! CSV export.

use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::response::Response;
use serde::Deserialize;

use crate::journal::{self, Action, Entry, Filter};
use crate::structures::Structure;
use crate::web::AppState;
use crate::web::access::Manager;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::views::{Shell, render};

const PAGE_SIZE: i64 = 50;
/// The CSV export holds at most this many entries (narrow the filters beyond).
const EXPORT_MAX: i64 = 100_000;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct JournalQuery {
    aidant: String,
    usager: String,
    action: String,
    du: String,
    au: String,
    page: Option<i64>,
}

/// `jj/mm/aaaa` or `aaaa-mm-jj`.
fn parse_day(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let [d, m, y] = raw.split('/').collect::<Vec<_>>().as_slice() {
        return crate::time_fr::parse_date(&format!("{y}-{m:0>2}-{d:0>2}"));
    }
    crate::time_fr::parse_date(raw)
}

impl JournalQuery {
    fn filter(&self) -> Filter {
        Filter {
            account_id: self.aidant.trim().parse().ok(),
            usager_id: self.usager.trim().parse().ok(),
            action: Action::parse(self.action.trim()),
            from: parse_day(&self.du),
            to: parse_day(&self.au).map(|t| crate::time_fr::paris_midnight(t + 3_600, 1)),
        }
    }
}

#[derive(Template)]
#[template(path = "journal.html")]
pub struct JournalView {
    pub shell: Shell,
    /// « Mairie de Sens », or « l'administration nationale ».
    pub title: String,
    /// The page's path (the CSV export adds `.csv`).
    pub base: String,
    pub aidants: Vec<(i64, String)>,
    pub actions: Vec<Action>,
    pub filter_aidant: String,
    pub filter_usager: String,
    pub filter_action: String,
    pub filter_from: String,
    pub filter_to: String,
    pub query: String,
    pub entries: Vec<Entry>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

impl JournalView {
    /// The title of an entry's démarche (the journal stores its key and does not
    /// know the démarches).
    pub fn demarche_label(&self, e: &Entry) -> &'static str {
        demarche_title(e)
    }
}

fn demarche_title(e: &Entry) -> &'static str {
    e.demarche
        .as_deref()
        .and_then(|d| crate::mandats::Demarche::parse(d).ok())
        .map(crate::mandats::Demarche::title)
        .unwrap_or("")
}

/// The query string without `page`, to build links.
fn base_query(raw: Option<String>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .filter(|(k, _)| k != "page"),
        )
        .finish()
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Query(q): Query<JournalQuery>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let structure = crate::structures::find(&state.db, m.structure_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let aidants = state
        .db
        .fetch_all(
            "SELECT a.id, a.full_name FROM memberships m JOIN accounts a ON a.id = m.account_id
         WHERE m.structure_id = $1 ORDER BY a.full_name, a.id",
            crate::args![m.structure_id],
        )
        .await?
        .iter()
        .map(|r| Ok((r.get("id")?, r.get("full_name")?)))
        .collect::<Result<Vec<_>, crate::db::Error>>()?;
    page(
        &state,
        &ctx,
        &structure,
        format!("/structures/{}/journal", structure.id),
        aidants,
        Action::STRUCTURE.to_vec(),
        &q,
        raw,
    )
    .await
}

/// `GET /admin/journal`: the administration chain (habilitation decisions,
/// training results, card imports, administrators' sign-ins), read-only.
pub async fn admin(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: crate::web::access::Admin,
    Query(q): Query<JournalQuery>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let national = Structure {
        id: journal::ADMIN_CHAIN,
        name: "l'administration nationale".into(),
        siret: String::new(),
        address: String::new(),
        commune_insee: String::new(),
        kind: String::new(),
        is_demo: false,
    };
    let admins = state
        .db
        .fetch_all(
            "SELECT id, full_name FROM accounts WHERE is_admin = 1 ORDER BY full_name, id",
            &[],
        )
        .await?
        .iter()
        .map(|r| Ok((r.get("id")?, r.get("full_name")?)))
        .collect::<Result<Vec<_>, crate::db::Error>>()?;
    page(
        &state,
        &ctx,
        &national,
        "/admin/journal".into(),
        admins,
        Action::ALL
            .iter()
            .copied()
            .filter(|a| !Action::STRUCTURE.contains(a))
            .chain([Action::ConnexionAidant])
            .collect(),
        &q,
        raw,
    )
    .await
}

#[expect(
    clippy::too_many_arguments,
    reason = "the two journal pages, every value named"
)]
async fn page(
    state: &AppState,
    ctx: &Ctx,
    structure: &Structure,
    base: String,
    aidants: Vec<(i64, String)>,
    actions: Vec<Action>,
    q: &JournalQuery,
    raw: Option<String>,
) -> AppResult<Response> {
    let page = q.page.unwrap_or(1).max(1);
    let (entries, total) = journal::list(
        &state.db,
        structure.id,
        &q.filter(),
        PAGE_SIZE,
        (page - 1) * PAGE_SIZE,
    )
    .await?;
    render(&JournalView {
        shell: Shell::new(ctx, format!("Journal de {}", structure.name)),
        title: structure.name.clone(),
        base,
        aidants,
        actions,
        filter_aidant: q.aidant.trim().to_owned(),
        filter_usager: q.usager.trim().to_owned(),
        filter_action: q.action.trim().to_owned(),
        filter_from: q.du.trim().to_owned(),
        filter_to: q.au.trim().to_owned(),
        query: base_query(raw),
        entries,
        total,
        page,
        pages: ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1),
    })
}

pub async fn export(
    State(state): State<AppState>,
    m: Manager,
    Query(q): Query<JournalQuery>,
) -> AppResult<Response> {
    csv(&state, m.structure_id, &q).await
}

/// `GET /admin/journal.csv`.
pub async fn admin_export(
    State(state): State<AppState>,
    _a: crate::web::access::Admin,
    Query(q): Query<JournalQuery>,
) -> AppResult<Response> {
    csv(&state, journal::ADMIN_CHAIN, &q).await
}

async fn csv(state: &AppState, chain: i64, q: &JournalQuery) -> AppResult<Response> {
    let (entries, _) = journal::list(&state.db, chain, &q.filter(), EXPORT_MAX, 0).await?;
    use crate::csv_export::Cell;
    let rows = entries.iter().map(|e| {
        vec![
            Cell::Int(e.id),
            Cell::DateTime(e.at),
            Cell::Text(e.action_label()),
            Cell::Text(&e.action),
            e.account_name.as_ref().into(),
            e.usager_id.into(),
            Cell::Owned(e.usager_label()),
            e.mandat_id.into(),
            Cell::Text(demarche_title(e)),
            Cell::Owned(e.details_text()),
            Cell::Text(&e.hash),
        ]
    });
    let name = if chain == journal::ADMIN_CHAIN {
        "journal-administration.csv".to_owned()
    } else {
        format!("journal-structure-{chain}.csv")
    };
    crate::web::views::csv_download(
        &name,
        &[
            "Numéro",
            "Date",
            "Action",
            "Code de l'action",
            "Aidant",
            "Numéro de l'usager",
            "Usager",
            "Numéro du mandat",
            "Démarche",
            "Détails",
            "Empreinte",
        ],
        rows,
    )
}
