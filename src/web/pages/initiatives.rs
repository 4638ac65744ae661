//! The census of local authorities' initiatives: public search by territory
//! (`/initiatives`), an initiative's page, the CSV export; recording one or
//! importing a CSV (`Access::Curator`).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::csv_export::Cell;
use crate::ressources::initiatives::{self, Initiative};
use crate::web::AppState;
use crate::web::access::Curator;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{FormErrors, Upload, field, pairs};
use crate::web::views::{Shell, csv_download, render, render_status};

fn this_year(now: i64) -> i64 {
    crate::activites::today(now) / 10_000
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    territoire: String,
    q: String,
    info: String,
}

#[derive(Template)]
#[template(path = "initiatives.html")]
pub struct ListView {
    pub shell: Shell,
    pub territoire: String,
    pub q: String,
    pub lignes: Vec<Initiative>,
    pub erreur: Option<String>,
    pub curator: bool,
    pub info: Option<&'static str>,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let territoire: String = q.territoire.trim().chars().take(100).collect();
    let (filtre, erreur) = match initiatives::Filtre::of(&territoire, &q.q) {
        Ok(f) => (f, None),
        Err(e) => (initiatives::Filtre::default(), Some(e)),
    };
    let lignes = if erreur.is_some() {
        Vec::new()
    } else {
        initiatives::list(&state.db, &filtre).await?
    };
    let curator = match ctx.session.as_ref() {
        Some(s) => crate::web::access::is_curator(&state, s).await?,
        None => false,
    };
    let info = match q.info.as_str() {
        "importees" => Some("Initiatives importées."),
        _ => None,
    };
    let status = if erreur.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render_status(
        status,
        &ListView {
            shell: Shell::new(&ctx, "Initiatives des collectivités"),
            territoire,
            q: filtre.q.clone(),
            lignes,
            erreur,
            curator,
            info,
        },
    )
}

#[derive(Template)]
#[template(path = "initiative.html")]
pub struct ShowView {
    pub shell: Shell,
    pub i: Initiative,
    pub budget: String,
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(iid): Path<i64>,
) -> AppResult<Response> {
    let i = initiatives::get(&state.db, iid)
        .await?
        .ok_or(AppError::NotFound)?;
    render(&ShowView {
        shell: Shell::new(&ctx, i.titre.clone()),
        budget: i.budget_euros.map_or_else(
            || "non communiqué".to_owned(),
            |b| format!("{} €", crate::domain::thousands(b)),
        ),
        i,
    })
}

pub async fn export(State(state): State<AppState>) -> AppResult<Response> {
    let all = initiatives::all(&state.db).await?;
    let mut header: Vec<&str> = initiatives::COLONNES.to_vec();
    header.push("niveau");
    header.push("code");
    csv_download(
        "initiatives-collectivites.csv",
        &header,
        all.iter().map(|i| {
            vec![
                Cell::Text(&i.titre),
                Cell::Text(&i.description),
                Cell::Text(&i.territoire),
                Cell::Int(i.annee),
                i.budget_euros.map_or(Cell::Empty, Cell::Int),
                Cell::Text(&i.publics),
                Cell::Text(&i.partenaires),
                Cell::Text(&i.resultats),
                Cell::Text(&i.contact),
                Cell::Text(&i.niveau),
                Cell::Code(&i.code),
            ]
        }),
    )
}

#[derive(Template)]
#[template(path = "initiative_form.html")]
pub struct FormView {
    pub shell: Shell,
    pub f: initiatives::Form,
    pub errors: FormErrors,
    pub import_errors: Vec<String>,
    pub colonnes: String,
}

fn form_view(
    ctx: &Ctx,
    f: initiatives::Form,
    errors: FormErrors,
    import_errors: Vec<String>,
) -> FormView {
    FormView {
        shell: Shell::new(ctx, "Recenser une initiative"),
        f,
        errors,
        import_errors,
        colonnes: initiatives::COLONNES.join(";"),
    }
}

pub async fn new_form(ctx: Ctx, _c: Curator) -> AppResult<Response> {
    render(&form_view(
        &ctx,
        initiatives::Form::default(),
        FormErrors::default(),
        Vec::new(),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    c: Curator,
    body: Bytes,
) -> AppResult<Response> {
    let p = pairs(&body);
    let f = initiatives::Form {
        titre: field(&p, "titre"),
        description: field(&p, "description"),
        territoire: field(&p, "territoire"),
        annee: field(&p, "annee"),
        budget: field(&p, "budget"),
        publics: field(&p, "publics"),
        partenaires: field(&p, "partenaires"),
        resultats: field(&p, "resultats"),
        contact: field(&p, "contact"),
    };
    let now = state.now();
    match initiatives::check(&f, this_year(now)) {
        Ok(n) => {
            let id = initiatives::create(&state.db, &n, c.0.account_id, now).await?;
            Ok(Redirect::to(&format!("/initiatives/{id}")).into_response())
        }
        Err(list) => {
            let mut errors = FormErrors::default();
            for (k, m) in list {
                errors.add(k, m);
            }
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_view(&ctx, f, errors, Vec::new()),
            )
        }
    }
}

pub async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    c: Curator,
    up: Upload,
) -> AppResult<Response> {
    let Some(part) = up.file("fichier") else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_view(
                &ctx,
                initiatives::Form::default(),
                FormErrors::default(),
                vec!["Choisissez un fichier CSV.".to_owned()],
            ),
        );
    };
    let now = state.now();
    match initiatives::import_csv(&state.db, &part.data, c.0.account_id, this_year(now), now)
        .await?
    {
        Ok(_) => Ok(Redirect::to("/initiatives?info=importees").into_response()),
        Err(errors) => {
            let mut list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            list.extend(errors.more_text());
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_view(
                    &ctx,
                    initiatives::Form::default(),
                    FormErrors::default(),
                    list,
                ),
            )
        }
    }
}
