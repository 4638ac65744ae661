//! Inclusion equipment kits: administrators' campaigns, instruction, deliveries
//! and figures (`/admin/equipements…`, `Access::Admin`); a structure's
//! applications, inventory and loans (`/structures/{sid}/equipements…`,
//! `Access::StructureManager`).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::csv_export::Cell;
use crate::equipements::{self as eq, Campagne, Demande};
use crate::web::AppState;
use crate::web::access::{Admin, Manager};
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{FormErrors, field, pairs};
use crate::web::views::{Shell, csv_download, render, render_status};

type Vocab = &'static [(&'static str, &'static str)];

fn errors_of(list: Vec<(&'static str, String)>) -> FormErrors {
    let mut e = FormErrors::default();
    for (k, m) in list {
        e.add(k, m);
    }
    e
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct InfoQuery {
    info: String,
}

// ---------------------------------------------------------------------------
// Administrators

#[derive(Template)]
#[template(path = "admin_equipements.html")]
pub struct AdminView {
    pub shell: Shell,
    pub campagnes: Vec<Campagne>,
    pub chiffres: Vec<eq::Chiffre>,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub f: eq::CampagneForm,
    pub errors: FormErrors,
    pub info: Option<&'static str>,
}

impl AdminView {
    fn kind_checked(&self, k: &str) -> bool {
        self.f.types.iter().any(|t| t == k)
    }
}

async fn admin_view(
    state: &AppState,
    ctx: &Ctx,
    f: eq::CampagneForm,
    errors: FormErrors,
    info: Option<&'static str>,
) -> AppResult<AdminView> {
    Ok(AdminView {
        shell: Shell::new(ctx, "Kits d'inclusion numérique"),
        campagnes: eq::campagnes(&state.db).await?,
        chiffres: eq::figures(&state.db).await?,
        kinds: crate::domain::StructureKind::ALL
            .iter()
            .map(|k| (k.key(), k.label()))
            .collect(),
        f,
        errors,
        info,
    })
}

pub async fn admin(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Query(q): Query<InfoQuery>,
) -> AppResult<Response> {
    let info = (q.info == "campagne")
        .then_some("Campagne ouverte : les structures éligibles peuvent déposer leur demande.");
    render(
        &admin_view(
            &state,
            &ctx,
            eq::CampagneForm::default(),
            FormErrors::default(),
            info,
        )
        .await?,
    )
}

pub async fn create_campaign(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    body: Bytes,
) -> AppResult<Response> {
    let p = pairs(&body);
    let f = eq::CampagneForm {
        nom: field(&p, "nom"),
        budget: field(&p, "budget"),
        cloture: field(&p, "cloture"),
        types: p
            .iter()
            .filter(|(k, _)| k == "types")
            .map(|(_, v)| v.clone())
            .take(20)
            .collect(),
        departements: field(&p, "departements"),
    };
    match eq::create_campagne(&state.db, &f, a.0.account_id, state.now()).await? {
        Ok(_) => Ok(Redirect::to("/admin/equipements?info=campagne").into_response()),
        Err(list) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &admin_view(&state, &ctx, f, errors_of(list), None).await?,
        ),
    }
}

pub async fn figures_csv(State(state): State<AppState>, _a: Admin) -> AppResult<Response> {
    let rows = eq::figures(&state.db).await?;
    let t = crate::territoires::get();
    csv_download(
        "kits-inclusion-par-departement.csv",
        &[
            "Code département",
            "Département",
            "Campagne",
            "Demandes",
            "Budget engagé (euros)",
            "Appareils livrés",
            "Appareils en service",
        ],
        rows.iter().map(|c| {
            vec![
                Cell::Code(&c.departement),
                Cell::Owned(t.departement_name(&c.departement).unwrap_or("").to_owned()),
                Cell::Text(&c.campagne),
                Cell::Int(c.demandes),
                Cell::Owned(format!(
                    "{},{:02}",
                    c.engage_centimes / 100,
                    c.engage_centimes % 100
                )),
                Cell::Int(c.livres),
                Cell::Int(c.en_service),
            ]
        }),
    )
}

#[derive(Template)]
#[template(path = "admin_equipement_campagne.html")]
pub struct CampaignView {
    pub shell: Shell,
    pub c: Campagne,
    pub demandes: Vec<Demande>,
    pub types: Vocab,
    pub origines: Vocab,
    pub errors: FormErrors,
    /// The application the errors are about.
    pub errors_for: i64,
    pub info: Option<&'static str>,
}

async fn campaign_view(
    state: &AppState,
    ctx: &Ctx,
    cpid: i64,
    errors: FormErrors,
    errors_for: i64,
    info: Option<&'static str>,
) -> AppResult<CampaignView> {
    let c = eq::campagne_get(&state.db, cpid)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(CampaignView {
        shell: Shell::new(ctx, format!("Campagne « {} »", c.nom)),
        demandes: eq::demandes(&state.db, Some(cpid), None).await?,
        c,
        types: eq::TYPES,
        origines: eq::ORIGINES,
        errors,
        errors_for,
        info,
    })
}

pub async fn campaign(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Path(cpid): Path<i64>,
    Query(q): Query<InfoQuery>,
) -> AppResult<Response> {
    let info = match q.info.as_str() {
        "decision" => Some("Décision enregistrée et journalisée."),
        "livraison" => {
            Some("Livraison enregistrée : les appareils sont dans l'inventaire de la structure.")
        }
        _ => None,
    };
    render(&campaign_view(&state, &ctx, cpid, FormErrors::default(), 0, info).await?)
}

pub async fn decide(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    Path(eqd): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let d = eq::demande(&state.db, eqd)
        .await?
        .ok_or(AppError::NotFound)?;
    let p = pairs(&body);
    let decision = match field(&p, "decision").as_str() {
        "refuser" => Ok(eq::Decision::Refuser(field(&p, "motif"))),
        "allouer" => {
            let mut lines = Vec::new();
            let mut bad = None;
            for l in &d.lignes {
                let q = field(&p, &format!("quantite-{}", l.id));
                let price = field(&p, &format!("prix-{}", l.id));
                match (q.parse::<i64>(), eq::parse_euros(&price)) {
                    (Ok(q), Some(price)) => lines.push((l.id, q, price)),
                    _ => {
                        bad = Some(format!(
                            "{} : indiquez la quantité accordée (un nombre) et le prix unitaire en euros.",
                            eq::label(eq::TYPES, &l.type_)
                        ))
                    }
                }
            }
            match bad {
                Some(m) => Err(m),
                None => Ok(eq::Decision::Allouer(lines)),
            }
        }
        _ => Err("Choisissez : accorder ou refuser.".to_owned()),
    };
    let outcome = match decision {
        Ok(dec) => eq::decide(&state.db, eqd, &dec, a.0.account_id, state.now()).await?,
        Err(m) => Err(m),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!(
            "/admin/equipements/campagnes/{}?info=decision",
            d.campagne_id
        ))
        .into_response()),
        Err(m) => {
            let mut errors = FormErrors::default();
            errors.add("decision", m);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &campaign_view(&state, &ctx, d.campagne_id, errors, eqd, None).await?,
            )
        }
    }
}

pub async fn deliver(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    Path(eqd): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let d = eq::demande(&state.db, eqd)
        .await?
        .ok_or(AppError::NotFound)?;
    let p = pairs(&body);
    let f = eq::LivraisonForm {
        ligne: field(&p, "ligne"),
        fournisseur: field(&p, "fournisseur"),
        date: field(&p, "date"),
        origine: field(&p, "origine"),
        numeros: p
            .iter()
            .find(|(k, _)| k == "numeros")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
    };
    match eq::deliver(&state.db, eqd, &f, a.0.account_id, state.now()).await? {
        Ok(_) => Ok(Redirect::to(&format!(
            "/admin/equipements/campagnes/{}?info=livraison",
            d.campagne_id
        ))
        .into_response()),
        Err(list) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &campaign_view(&state, &ctx, d.campagne_id, errors_of(list), eqd, None).await?,
        ),
    }
}

// ---------------------------------------------------------------------------
// A structure

pub struct AppareilView {
    pub a: eq::Appareil,
    pub type_label: &'static str,
    pub etat_label: &'static str,
    pub origine_label: &'static str,
    pub livre: String,
    pub pret: Option<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "structure_equipements.html")]
pub struct StructureView {
    pub shell: Shell,
    pub sid: i64,
    pub ouvertes: Vec<Campagne>,
    pub demandes: Vec<Demande>,
    pub appareils: Vec<AppareilView>,
    pub membres: Vec<(i64, String)>,
    pub types: Vocab,
    pub f: eq::DemandeForm,
    pub errors: FormErrors,
    pub info: Option<&'static str>,
}

impl StructureView {
    fn quantite(&self, k: &str) -> &str {
        self.f
            .quantites
            .iter()
            .find(|(t, _)| t == k)
            .map_or("", |(_, q)| q.as_str())
    }
}

async fn structure_view(
    state: &AppState,
    ctx: &Ctx,
    sid: i64,
    f: eq::DemandeForm,
    errors: FormErrors,
    info: Option<&'static str>,
) -> AppResult<StructureView> {
    let now = state.now();
    let s = crate::structures::find(&state.db, sid)
        .await?
        .ok_or(AppError::NotFound)?;
    let dep = crate::pilotage::departement_of(&s.commune_insee).to_owned();
    let demandes = eq::demandes(&state.db, None, Some(sid)).await?;
    let ouvertes = eq::campagnes(&state.db)
        .await?
        .into_iter()
        .filter(|c| {
            c.ouverte(now)
                && c.eligible(&s.kind, &dep)
                && !demandes.iter().any(|d| d.campagne_id == c.id)
        })
        .collect();
    let membres = crate::accounts::members(&state.db, sid)
        .await?
        .into_iter()
        .filter(|m| m.active)
        .map(|m| (m.account_id, m.full_name))
        .collect();
    Ok(StructureView {
        shell: Shell::new(ctx, format!("Équipements de {}", s.name)),
        sid,
        ouvertes,
        demandes,
        appareils: eq::inventory(&state.db, sid)
            .await?
            .into_iter()
            .map(|a| AppareilView {
                type_label: eq::label(eq::TYPES, &a.type_),
                etat_label: eq::label(eq::ETATS, &a.etat),
                origine_label: eq::label(eq::ORIGINES, &a.origine),
                livre: crate::time_fr::date(a.livre_le),
                pret: a
                    .pret
                    .as_ref()
                    .map(|(_, who, due)| (who.clone(), crate::time_fr::date(*due), *due < now)),
                a,
            })
            .collect(),
        membres,
        types: eq::TYPES,
        f,
        errors,
        info,
    })
}

pub async fn structure(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Query(q): Query<InfoQuery>,
) -> AppResult<Response> {
    let info = match q.info.as_str() {
        "demande" => Some("Demande déposée : un administrateur l'instruit. Vous la suivez ici."),
        "etat" => Some("État de l'appareil enregistré."),
        "pret" => Some("Prêt enregistré."),
        "retour" => Some("Retour enregistré : l'appareil est de nouveau en service."),
        _ => None,
    };
    render(
        &structure_view(
            &state,
            &ctx,
            m.structure_id,
            eq::DemandeForm::default(),
            FormErrors::default(),
            info,
        )
        .await?,
    )
}

pub async fn apply(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    body: Bytes,
) -> AppResult<Response> {
    let p = pairs(&body);
    let f = eq::DemandeForm {
        campagne: field(&p, "campagne"),
        quantites: eq::TYPES
            .iter()
            .map(|(k, _)| ((*k).to_owned(), field(&p, &format!("quantite-{k}"))))
            .collect(),
        usages: field(&p, "usages"),
    };
    match eq::apply(
        &state.db,
        m.structure_id,
        &f,
        m.session.account_id,
        state.now(),
    )
    .await?
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/structures/{}/equipements?info=demande",
            m.structure_id
        ))
        .into_response()),
        Err(list) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &structure_view(&state, &ctx, m.structure_id, f, errors_of(list), None).await?,
        ),
    }
}

/// State changes, loans and returns of one device.
pub async fn device(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_sid, eid, what)): Path<(i64, i64, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let sid = m.structure_id;
    if !eq::inventory(&state.db, sid)
        .await?
        .iter()
        .any(|a| a.id == eid)
    {
        return Err(AppError::NotFound);
    }
    let p = pairs(&body);
    let now = state.now();
    let outcome: Result<&'static str, Vec<(&'static str, String)>> = match what.as_str() {
        "etat" => eq::set_state(&state.db, sid, eid, &field(&p, "etat"))
            .await?
            .map(|()| "etat")
            .map_err(|m| vec![("etat", m.to_owned())]),
        "pret" => {
            let account = match field(&p, "emprunteur").as_str() {
                "" | "personne" => None,
                raw => raw.parse::<i64>().ok(),
            };
            eq::lend(
                &state.db,
                sid,
                eid,
                account,
                &field(&p, "personne"),
                &field(&p, "retour"),
                now,
            )
            .await?
            .map(|()| "pret")
        }
        "retour" => {
            if eq::give_back(&state.db, sid, eid, now).await? {
                Ok("retour")
            } else {
                Err(vec![("etat", "Cet appareil n'est pas prêté.".to_owned())])
            }
        }
        _ => return Err(AppError::NotFound),
    };
    match outcome {
        Ok(info) => {
            Ok(Redirect::to(&format!("/structures/{sid}/equipements?info={info}")).into_response())
        }
        Err(list) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &structure_view(
                &state,
                &ctx,
                sid,
                eq::DemandeForm::default(),
                errors_of(list),
                None,
            )
            .await?,
        ),
    }
}
