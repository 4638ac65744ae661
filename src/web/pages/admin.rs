//! Administrators' back-office: structures and accounts.

use crate::csv_export::Cell;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::step_up_needed;
use crate::domain::{InseeCode, Siret, StructureKind, parse_name};
use crate::structures::{self, NewStructure, StructureError};
use crate::web::AppState;
use crate::web::access::Admin;
use crate::web::context::Ctx;
use crate::web::error::AppResult;
use crate::web::forms::{AppForm, FormErrors, PageQuery};
use crate::web::views::{
    AdminAccountsView, AdminStructuresView, NewStructureView, Shell, StructureFormValues, render,
    render_status,
};

const LIST_LIMIT: i64 = 200;

pub async fn structures(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let search = q.q.unwrap_or_default();
    let rows = structures::search(&state.db, &search, LIST_LIMIT).await?;
    render(&AdminStructuresView {
        shell: Shell::new(&ctx, "Administration").with_notice(q.info.as_deref()),
        q: search,
        rows,
    })
}

pub async fn accounts(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let search = q.q.unwrap_or_default();
    let rows = crate::accounts::list_all(&state.db, &search, LIST_LIMIT).await?;
    render(&AdminAccountsView {
        shell: Shell::new(&ctx, "Comptes"),
        q: search,
        rows,
    })
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    StructureKind::ALL
        .iter()
        .map(|k| (k.key(), k.label()))
        .collect()
}

pub async fn new_structure_form(ctx: Ctx, Admin(s): Admin) -> AppResult<Response> {
    if let Some(redirect) = step_up_needed(&s, "/admin/structures/nouvelle") {
        return Ok(redirect);
    }
    render(&NewStructureView {
        shell: Shell::new(&ctx, "Créer une structure"),
        values: StructureFormValues {
            name: String::new(),
            siret: String::new(),
            address: String::new(),
            commune_insee: String::new(),
            kind: String::new(),
        },
        kinds: kinds(),
        errors: FormErrors::default(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StructureForm {
    name: String,
    siret: String,
    address: String,
    commune_insee: String,
    kind: String,
}

pub async fn create_structure(
    State(state): State<AppState>,
    ctx: Ctx,
    Admin(s): Admin,
    AppForm(f): AppForm<StructureForm>,
) -> AppResult<Response> {
    if let Some(redirect) = step_up_needed(&s, "/admin/structures/nouvelle") {
        return Ok(redirect);
    }
    let mut errors = FormErrors::default();
    let name = errors.check(
        "name",
        parse_name(&f.name, "Saisissez le nom de la structure."),
    );
    let siret = errors.check("siret", Siret::parse(&f.siret));
    let address = errors.check(
        "address",
        parse_name(&f.address, "Saisissez l'adresse de la structure."),
    );
    // The commune by its name, postcode or INSEE code (`territoires`).
    let insee = errors.check(
        "commune_insee",
        crate::territoires::get()
            .resolve(&f.commune_insee)
            .and_then(|c| InseeCode::parse(&c.code).map_err(str::to_owned)),
    );
    let kind = errors.check("kind", StructureKind::parse(&f.kind));
    if let (Some(name), Some(siret), Some(address), Some(commune_insee), Some(kind)) =
        (name, siret, address, insee, kind)
    {
        let new = NewStructure {
            name,
            siret,
            address,
            commune_insee,
            kind,
            is_demo: false,
        };
        match structures::create_by(&state.db, &new, s.account_id, state.now()).await {
            Ok(id) => {
                tracing::info!(structure_id = id, by = s.account_id, "structure créée");
                return Ok(Redirect::to(&format!(
                    "/structures/{id}/equipe/inviter?role=referent&info=structure-creee"
                ))
                .into_response());
            }
            Err(StructureError::DuplicateSiret(_)) => {
                errors.add("siret", "Une structure avec ce SIRET existe déjà : cherchez-la dans la liste des structures.");
            }
            Err(StructureError::Db(e)) => return Err(e.into()),
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &NewStructureView {
            shell: Shell::new(&ctx, "Créer une structure"),
            values: StructureFormValues {
                name: f.name.trim().to_owned(),
                siret: f.siret.trim().to_owned(),
                address: f.address.trim().to_owned(),
                commune_insee: f.commune_insee.trim().to_owned(),
                kind: f.kind,
            },
            kinds: kinds(),
            errors,
        },
    )
}

/// `GET /admin/structures.csv`: the structures, same search as the page.
pub async fn structures_csv(
    State(state): State<AppState>,
    _a: Admin,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let rows = structures::search(&state.db, &q.q.unwrap_or_default(), 1_000_000).await?;
    crate::web::views::csv_download(
        "structures.csv",
        &[
            "Numéro",
            "Nom",
            "SIRET",
            "Type",
            "Adresse",
            "Commune",
            "Code INSEE de la commune",
            "Personnes référentes",
            "Aidants",
        ],
        rows.iter().map(|r| {
            vec![
                Cell::Int(r.structure.id),
                Cell::Text(&r.structure.name),
                Cell::Code(&r.structure.siret),
                Cell::Text(r.structure.kind_label()),
                Cell::Text(&r.structure.address),
                Cell::Owned(crate::territoires::get().label(&r.structure.commune_insee)),
                Cell::Code(&r.structure.commune_insee),
                Cell::Int(r.referents),
                Cell::Int(r.aidants),
            ]
        }),
    )
}

/// `GET /admin/comptes.csv`: the accounts, same search as the page.
pub async fn accounts_csv(
    State(state): State<AppState>,
    _a: Admin,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let rows = crate::accounts::list_all(&state.db, &q.q.unwrap_or_default(), 1_000_000).await?;
    crate::web::views::csv_download(
        "comptes.csv",
        &[
            "Numéro",
            "Nom",
            "Adresse e-mail",
            "Administrateur",
            "Compte activé",
            "Structures",
        ],
        rows.iter().map(|a| {
            vec![
                Cell::Int(a.id),
                Cell::Text(&a.full_name),
                Cell::Text(&a.email),
                Cell::Text(if a.is_admin { "oui" } else { "non" }),
                Cell::Text(if a.activated { "oui" } else { "non" }),
                Cell::Int(a.structures),
            ]
        }),
    )
}
