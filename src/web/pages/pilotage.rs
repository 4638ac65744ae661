//! Steering: a territorial account's dashboard (`/pilotage`, `Access::Territory`:
//! its territory only, a département inside it on demand), its CSV tables, the
//! national role's import of the conseillers numériques figures, the
//! administrators' hubs and territorial accounts, and the public page « Relais en
//! chiffres » (`/chiffres`) under statistical confidentiality.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::csv_export::Cell;
use crate::mandats::Demarche;
use crate::pilotage::tableau::{self, Tableau};
use crate::pilotage::{self, Niveau, Territoire, secret};
use crate::web::AppState;
use crate::web::access::{Admin, Territory};
use crate::web::charts;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{FormErrors, Upload, field, pairs};
use crate::web::views::{Shell, csv_download, render, render_status};

/// The current year (Paris).
fn this_year(now: i64) -> i64 {
    crate::activites::today(now) / 10_000
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct DashQuery {
    departement: String,
    commune: String,
    annee: String,
    indicateur: String,
    table: String,
    info: String,
}

/// The indicators the map can show.
const INDICATEURS: [(&str, &str); 5] = [
    ("accompagnements", "Accompagnements pour 1 000 habitants"),
    ("lieux", "Lieux de médiation pour 10 000 habitants"),
    (
        "couverture",
        "Part de la population vivant dans une commune avec un lieu (%)",
    ),
    (
        "conseillers",
        "Conseillers numériques en poste pour 100 000 habitants",
    ),
    ("mandats", "Mandats actifs pour 10 000 habitants"),
];

fn indicator_value(key: &str, l: &tableau::Ligne) -> f64 {
    let per = |n: i64, unit: f64| {
        if l.population == 0 {
            0.0
        } else {
            n as f64 * unit / l.population as f64
        }
    };
    match key {
        "lieux" => l.lieux_pour_10000(),
        "couverture" => l.part_couverte(),
        "conseillers" => l.conseillers_pour_100000(),
        "mandats" => per(l.mandats_actifs, 10_000.0),
        _ => per(l.accompagnements, 1_000.0),
    }
}

/// The territory asked (`departement` inside the account's), and the year.
fn scope_of(t: &Territory, q: &DashQuery, now: i64) -> AppResult<(Territoire, i64)> {
    let territoire = if q.departement.is_empty() {
        t.territoire.clone()
    } else if t.territoire.contains(&q.departement) {
        Territoire::departement(&q.departement).ok_or(AppError::NotFound)?
    } else {
        // Another territory's département: it does not exist for this account.
        return Err(AppError::NotFound);
    };
    let current = this_year(now);
    let annee = q
        .annee
        .parse::<i64>()
        .ok()
        .filter(|y| (2020..=current).contains(y))
        .unwrap_or(current);
    Ok((territoire, annee))
}

pub struct Figure {
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "pilotage.html")]
pub struct DashView {
    pub shell: Shell,
    pub t: Tableau,
    pub own: Territoire,
    pub departement: String,
    pub years: Vec<i64>,
    pub indicateur: &'static str,
    pub indicateurs: &'static [(&'static str, &'static str)],
    pub figures: Vec<Figure>,
    pub progress_svg: String,
    pub map_svg: String,
    pub uses_svg: String,
    pub pass_svg: String,
    pub demarches: Vec<&'static str>,
    pub is_national: bool,
    pub query: String,
    pub info: Option<&'static str>,
    /// The commune asked, and its figures and its intercommunality's.
    pub commune: String,
    /// `commune`, encoded for a link.
    pub commune_query: String,
    pub locaux: Vec<tableau::Local>,
    pub errors: FormErrors,
}

impl DashView {
    pub fn n<T: std::borrow::Borrow<i64>>(&self, v: T) -> String {
        crate::domain::thousands(*v.borrow())
    }
    /// An optional count (blank when absent).
    pub fn opt(&self, v: &Option<i64>) -> String {
        v.map(crate::domain::thousands).unwrap_or_default()
    }
    pub fn f1(&self, v: f64) -> String {
        format!("{v:.1}").replace('.', ",")
    }
    pub fn indicator_of(&self, l: &tableau::Ligne) -> String {
        self.f1(indicator_value(self.indicateur, l))
    }
}

fn figures(t: &Tableau) -> Vec<Figure> {
    let n = crate::domain::thousands;
    vec![
        Figure {
            label: "Personnes accompagnées",
            value: n(t.personnes),
        },
        Figure {
            label: "Objectif de l'année (part de 1,5 million selon la population)",
            value: n(t.objectif_personnes()),
        },
        Figure {
            label: "Nouvelles personnes",
            value: n(t.nouveaux),
        },
        Figure {
            label: "Accompagnements",
            value: n(t.total.accompagnements),
        },
        Figure {
            label: "Habitants",
            value: n(t.total.population),
        },
    ]
}

pub async fn dashboard(
    State(state): State<AppState>,
    ctx: Ctx,
    t: Territory,
    Query(q): Query<DashQuery>,
) -> AppResult<Response> {
    let now = state.now();
    let (territoire, annee) = scope_of(&t, &q, now)?;
    let tab = tableau::compute(&state.db, &territoire, annee, now).await?;
    let indicateur = INDICATEURS
        .iter()
        .find(|(k, _)| *k == q.indicateur)
        .map_or("accompagnements", |(k, _)| *k);
    let label = INDICATEURS
        .iter()
        .find(|(k, _)| *k == indicateur)
        .map_or("", |(_, l)| *l);
    let values: Vec<(String, f64)> = tab
        .lignes
        .iter()
        .map(|l| (l.code.clone(), indicator_value(indicateur, l)))
        .collect();
    let map_svg = pilotage::carte::svg(
        label,
        &values,
        &|v| format!("{v:.1}").replace('.', ","),
        &tab.territoire.departements,
    );
    let uses_svg = charts::columns(
        &tab.utilisations
            .iter()
            .map(|m| (m.label.clone(), m.total))
            .collect::<Vec<_>>(),
    );
    let pass_svg = charts::hbars(
        &tab.pass
            .iter()
            .map(|p| (p.financeur.clone(), p.utilises))
            .collect::<Vec<_>>(),
    );
    let query = format!(
        "departement={}&annee={annee}",
        if q.departement.is_empty() {
            ""
        } else {
            territoire.code.as_str()
        }
    );
    let commune: String = q.commune.trim().chars().take(100).collect();
    let mut errors = FormErrors::default();
    let locaux = match locaux_of(&state, &territoire, &commune, annee, now).await? {
        Ok(list) => list,
        Err(message) => {
            errors.add("commune", message);
            Vec::new()
        }
    };
    let current = this_year(now);
    render(&DashView {
        commune_query: url::form_urlencoded::byte_serialize(commune.as_bytes()).collect(),
        commune,
        locaux,
        errors,
        shell: Shell::new(&ctx, format!("Pilotage — {}", territoire.nom)),
        progress_svg: charts::progress(tab.avancement()),
        figures: figures(&tab),
        map_svg,
        uses_svg,
        pass_svg,
        own: t.territoire.clone(),
        departement: q.departement.clone(),
        years: (2020..=current).rev().collect(),
        indicateur,
        indicateurs: &INDICATEURS,
        demarches: Demarche::ALL.iter().map(|d| d.title()).collect(),
        is_national: t.territoire.niveau == Niveau::National,
        query,
        info: match q.info.as_str() {
            "conseillers-importes" => Some("Les chiffres des conseillers numériques sont à jour."),
            _ => None,
        },
        t: tab,
    })
}

/// A commune (typed as people do) and its intercommunality's figures, inside the
/// territory only (its members outside are left out); none when `commune` is
/// empty; the reason in French when it cannot be used.
async fn locaux_of(
    state: &AppState,
    territoire: &Territoire,
    commune: &str,
    annee: i64,
    now: i64,
) -> AppResult<Result<Vec<tableau::Local>, String>> {
    if commune.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let t = crate::territoires::get();
    let c = match t.resolve(commune) {
        Ok(c) if territoire.contains(&c.departement) => c,
        Ok(c) => {
            return Ok(Err(format!(
                "{} n'est pas dans votre territoire : choisissez une commune de {}.",
                c.label(),
                territoire.nom
            )));
        }
        Err(m) => return Ok(Err(m)),
    };
    let mut out = vec![
        tableau::local(
            &state.db,
            &c.label(),
            std::slice::from_ref(&c.code),
            annee,
            now,
        )
        .await?,
    ];
    if let Some(epci) = &c.epci {
        let members: Vec<String> = t
            .members_of(epci)
            .iter()
            .filter(|m| territoire.contains(&m.departement))
            .map(|m| m.code.clone())
            .collect();
        let name = format!(
            "L'intercommunalité de {} ({})",
            c.nom,
            crate::domain::count(members.len(), "commune", "communes")
        );
        out.push(tableau::local(&state.db, &name, &members, annee, now).await?);
    }
    Ok(Ok(out))
}

/// The dashboard's tables as CSV for a French spreadsheet.
pub async fn export(
    State(state): State<AppState>,
    t: Territory,
    Query(q): Query<DashQuery>,
) -> AppResult<Response> {
    let now = state.now();
    let (territoire, annee) = scope_of(&t, &q, now)?;
    let tab = tableau::compute(&state.db, &territoire, annee, now).await?;
    match q.table.as_str() {
        "commune" => {
            let commune: String = q.commune.trim().chars().take(100).collect();
            let list = locaux_of(&state, &territoire, &commune, annee, now)
                .await?
                .map_err(|_| AppError::NotFound)?;
            csv_download(
                &format!("commune-{annee}.csv"),
                &[
                    "territoire",
                    "communes",
                    "population",
                    "personnes_accompagnees",
                    "accompagnements",
                    "lieux",
                    "population_couverte",
                    "structures_aidants_connect",
                    "mandats_actifs",
                ],
                list.iter().map(|l| {
                    vec![
                        Cell::Text(&l.nom),
                        Cell::Int(i64::try_from(l.communes).unwrap_or(0)),
                        Cell::Int(l.ligne.population),
                        Cell::Int(l.personnes),
                        Cell::Int(l.ligne.accompagnements),
                        Cell::Int(l.ligne.lieux),
                        Cell::Int(l.ligne.population_couverte),
                        Cell::Int(l.ligne.structures),
                        Cell::Int(l.ligne.mandats_actifs),
                    ]
                }),
            )
        }
        "utilisations" => {
            let mut header: Vec<&str> = vec!["mois"];
            header.extend(Demarche::ALL.iter().map(|d| d.key()));
            header.push("total");
            csv_download(
                &format!("utilisations-{annee}.csv"),
                &header,
                tab.utilisations.iter().map(|m| {
                    let mut row =
                        vec![Cell::Owned(format!("{}-{:02}", m.mois / 100, m.mois % 100))];
                    row.extend(m.par_demarche.iter().map(|n| Cell::Int(*n)));
                    row.push(Cell::Int(m.total));
                    row
                }),
            )
        }
        "pass" => csv_download(
            &format!("pass-numerique-{annee}.csv"),
            &[
                "financeur",
                "pass_commandes",
                "carnets_remis",
                "pass_utilises",
            ],
            tab.pass.iter().map(|p| {
                vec![
                    Cell::Text(&p.financeur),
                    p.commandes.map_or(Cell::Empty, Cell::Int),
                    Cell::Int(p.carnets_remis),
                    Cell::Int(p.utilises),
                ]
            }),
        ),
        "" | "departements" => csv_download(
            &format!("pilotage-departements-{annee}.csv"),
            &[
                "departement",
                "nom",
                "population",
                "accompagnements",
                "nouvelles_personnes",
                "lieux",
                "france_services",
                "population_couverte",
                "conseillers_en_poste",
                "conseillers_en_formation",
                "conseillers_prevus",
                "structures_aidants_connect",
                "aidants_actifs",
                "mandats_actifs",
                "utilisations",
                "carnets_remis",
                "pass_utilises",
            ],
            tab.lignes.iter().map(|l| {
                vec![
                    Cell::Code(&l.code),
                    Cell::Text(&l.nom),
                    Cell::Int(l.population),
                    Cell::Int(l.accompagnements),
                    Cell::Int(l.nouveaux),
                    Cell::Int(l.lieux),
                    Cell::Int(l.france_services),
                    Cell::Int(l.population_couverte),
                    Cell::Int(l.conseillers.en_poste),
                    Cell::Int(l.conseillers.en_formation),
                    Cell::Int(l.conseillers.prevus),
                    Cell::Int(l.structures),
                    Cell::Int(l.aidants),
                    Cell::Int(l.mandats_actifs),
                    Cell::Int(l.utilisations),
                    Cell::Int(l.pass_remis),
                    Cell::Int(l.pass_utilises),
                ]
            }),
        ),
        _ => Err(AppError::NotFound),
    }
}

// ---------------------------------------------------------------------------
// The actors of the territory (recenser, conseiller, outiller)

#[derive(Template)]
#[template(path = "pilotage_acteurs.html")]
pub struct ActeursView {
    pub shell: Shell,
    pub territoire: Territoire,
    pub own: Territoire,
    pub departement: String,
    pub a: pilotage::acteurs::Acteurs,
}

impl ActeursView {
    pub fn n<T: std::borrow::Borrow<i64>>(&self, v: T) -> String {
        crate::domain::thousands(*v.borrow())
    }
}

pub async fn acteurs(
    State(state): State<AppState>,
    ctx: Ctx,
    t: Territory,
    Query(q): Query<DashQuery>,
) -> AppResult<Response> {
    let now = state.now();
    let (territoire, _) = scope_of(&t, &q, now)?;
    let a = pilotage::acteurs::gather(&state.db, &territoire, now).await?;
    render(&ActeursView {
        shell: Shell::new(&ctx, format!("Acteurs du territoire — {}", territoire.nom)),
        own: t.territoire.clone(),
        departement: q.departement.clone(),
        territoire,
        a,
    })
}

/// The actors' tables as CSV (`table=lieux|structures|communes`).
pub async fn acteurs_export(
    State(state): State<AppState>,
    t: Territory,
    Query(q): Query<DashQuery>,
) -> AppResult<Response> {
    let now = state.now();
    let (territoire, _) = scope_of(&t, &q, now)?;
    let a = pilotage::acteurs::gather(&state.db, &territoire, now).await?;
    match q.table.as_str() {
        "lieux" => csv_download(
            "lieux-a-mettre-a-jour.csv",
            &[
                "lieu",
                "commune",
                "date_maj",
                "activites_12_mois",
                "a_mettre_a_jour",
                "sans_activite",
            ],
            a.lieux.iter().map(|l| {
                vec![
                    Cell::Text(&l.nom),
                    Cell::Text(&l.commune),
                    Cell::Text(&l.date_maj),
                    Cell::Int(l.activites),
                    Cell::Text(if l.a_mettre_a_jour { "oui" } else { "non" }),
                    Cell::Text(if l.sans_activite { "oui" } else { "non" }),
                ]
            }),
        ),
        "structures" => csv_download(
            "structures.csv",
            &[
                "structure",
                "commune",
                "aidants_actifs",
                "mediateurs",
                "mandats_actifs",
                "activites_12_mois",
            ],
            a.structures.iter().map(|s| {
                vec![
                    Cell::Text(&s.nom),
                    Cell::Text(&s.commune),
                    Cell::Int(s.aidants),
                    Cell::Int(s.mediateurs),
                    Cell::Int(s.mandats_actifs),
                    Cell::Int(s.activites),
                ]
            }),
        ),
        "communes" => csv_download(
            "communes-sans-lieu.csv",
            &["code_insee", "commune", "population"],
            a.communes.iter().map(|c| {
                vec![
                    Cell::Code(&c.code),
                    Cell::Text(&c.nom),
                    Cell::Int(i64::from(c.population)),
                ]
            }),
        ),
        _ => Err(AppError::NotFound),
    }
}

// ---------------------------------------------------------------------------
// The national role's import of the conseillers numériques figures

#[derive(Template)]
#[template(path = "pilotage_conseillers.html")]
pub struct ConseillersView {
    pub shell: Shell,
    pub lignes: Vec<(String, String, pilotage::Conseillers)>,
    pub errors: Vec<String>,
}

async fn conseillers_view(
    state: &AppState,
    ctx: &Ctx,
    errors: Vec<String>,
) -> AppResult<ConseillersView> {
    let t = crate::territoires::get();
    Ok(ConseillersView {
        shell: Shell::new(ctx, "Conseillers numériques par département"),
        lignes: pilotage::conseillers(&state.db)
            .await?
            .into_iter()
            .map(|(code, c)| {
                let nom = t.departement_name(&code).unwrap_or("").to_owned();
                (code, nom, c)
            })
            .collect(),
        errors,
    })
}

fn national_only(t: &Territory) -> AppResult<()> {
    if t.territoire.niveau == Niveau::National {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

pub async fn conseillers_form(
    State(state): State<AppState>,
    ctx: Ctx,
    t: Territory,
) -> AppResult<Response> {
    national_only(&t)?;
    render(&conseillers_view(&state, &ctx, Vec::new()).await?)
}

pub async fn conseillers_import(
    State(state): State<AppState>,
    ctx: Ctx,
    t: Territory,
    upload: Upload,
) -> AppResult<Response> {
    national_only(&t)?;
    let pasted = upload.text("contenu");
    let bytes: Bytes = match upload.file("fichier") {
        Some(p) => p.data.clone(),
        None => Bytes::from(pasted.into_bytes()),
    };
    if bytes.is_empty() {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &conseillers_view(
                &state,
                &ctx,
                vec!["Choisissez un fichier CSV, ou collez son contenu.".to_owned()],
            )
            .await?,
        );
    }
    match pilotage::import_conseillers(&state.db, &bytes, t.session.account_id, state.now()).await?
    {
        Ok(_) => Ok(Redirect::to("/pilotage?info=conseillers-importes").into_response()),
        Err(errors) => {
            let mut list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            list.extend(errors.more_text());
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &conseillers_view(&state, &ctx, list).await?,
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Administrators: hubs and territorial accounts

#[derive(Template)]
#[template(path = "admin_territoires.html")]
pub struct AdminView {
    pub shell: Shell,
    pub hubs: Vec<pilotage::Hub>,
    pub comptes: Vec<pilotage::Compte>,
    pub regions: Vec<(String, String)>,
    pub errors: FormErrors,
    pub info: Option<&'static str>,
}

async fn admin_view(
    state: &AppState,
    ctx: &Ctx,
    errors: FormErrors,
    info: Option<&'static str>,
) -> AppResult<AdminView> {
    Ok(AdminView {
        shell: Shell::new(ctx, "Territoires et pilotage"),
        hubs: pilotage::hubs(&state.db).await?,
        comptes: pilotage::accounts(&state.db).await?,
        regions: crate::territoires::get()
            .regions()
            .iter()
            .map(|(c, n, _)| (c.clone(), n.clone()))
            .collect(),
        errors,
        info,
    })
}

pub async fn admin(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Query(q): Query<DashQuery>,
) -> AppResult<Response> {
    let info = match q.info.as_str() {
        "hub-cree" => Some("Le hub est créé."),
        "compte-ajoute" => Some(
            "La personne suit maintenant ce territoire. Une invitation lui est envoyée si son compte est nouveau.",
        ),
        "envoi-echoue" => Some(
            "La personne est ajoutée, mais l'e-mail d'invitation n'a pas pu partir : réessayez plus tard.",
        ),
        _ => None,
    };
    render(&admin_view(&state, &ctx, FormErrors::default(), info).await?)
}

pub async fn create_hub(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let mut errors = FormErrors::default();
    let deps = match pilotage::parse_departements(&field(&f, "departements")) {
        Ok(d) => Some(d),
        Err(e) => {
            errors.add("departements", e);
            None
        }
    };
    if let Some(deps) = deps {
        match pilotage::create_hub(&state.db, &field(&f, "nom"), &deps, state.now()).await? {
            Ok(_) => return Ok(Redirect::to("/admin/territoires?info=hub-cree").into_response()),
            Err(msg) => errors.add("nom", msg),
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &admin_view(&state, &ctx, errors, None).await?,
    )
}

pub async fn add_account(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let mut errors = FormErrors::default();
    let email = errors.check("email", crate::domain::Email::parse(&field(&f, "email")));
    let name = field(&f, "nom");
    if name.is_empty() {
        errors.add("nom", "Saisissez le nom et le prénom de la personne.");
    }
    let code = field(&f, "code");
    let territoire = match Niveau::parse(&field(&f, "niveau")) {
        Some(Niveau::National) => Some(Territoire::national()),
        Some(Niveau::Region) => Territoire::region(&code),
        Some(Niveau::Departement) => Territoire::departement(&code.to_uppercase()),
        Some(Niveau::Hub) => match code.parse::<i64>() {
            Ok(id) => pilotage::hub(&state.db, id).await?.map(|h| h.territoire()),
            Err(_) => None,
        },
        None => {
            errors.add(
                "niveau",
                "Choisissez le niveau : national, région, hub ou département.",
            );
            Some(Territoire::national())
        }
    };
    let Some(territoire) = territoire else {
        errors.add(
            "code",
            "Ce territoire n'existe pas : un code de région (27), de département (89) ou le numéro d'un hub de la liste.",
        );
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &admin_view(&state, &ctx, errors, None).await?,
        );
    };
    let (Some(email), true) = (email, errors.is_empty()) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &admin_view(&state, &ctx, errors, None).await?,
        );
    };
    match pilotage::add_account(
        &state.db,
        &email,
        &name,
        &territoire,
        a.0.account_id,
        state.now(),
    )
    .await?
    {
        Ok(token) => {
            let mut info = "compte-ajoute";
            if let Some(token) = token {
                let link = state.link(&format!("/activation/{token}"));
                let mail =
                    crate::mail::messages::invitation(email.as_str(), &territoire.nom, &link);
                if let Err(e) = state.mailer.send(mail).await {
                    tracing::error!(request_id = %ctx.request_id, cause = %e, "e-mail d'invitation non envoyé");
                    info = "envoi-echoue";
                }
            }
            Ok(Redirect::to(&format!("/admin/territoires?info={info}")).into_response())
        }
        Err(msg) => {
            errors.add("email", msg);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &admin_view(&state, &ctx, errors, None).await?,
            )
        }
    }
}

// ---------------------------------------------------------------------------
// « Relais en chiffres »: public, under statistical confidentiality

pub struct PublicLine {
    pub code: String,
    pub nom: String,
    pub accompagnements: String,
    pub lieux: i64,
    pub conseillers: i64,
    pub mandats: String,
}

#[derive(Template)]
#[template(path = "chiffres.html")]
pub struct PublicView {
    pub shell: Shell,
    pub t: Tableau,
    pub departement: String,
    pub departements: Vec<(String, String)>,
    pub personnes: String,
    pub objectif: String,
    pub progress_svg: String,
    pub map_svg: String,
    pub lines: Vec<PublicLine>,
    pub total_accompagnements: String,
    pub total_mandats: String,
}

impl PublicView {
    pub fn n<T: std::borrow::Borrow<i64>>(&self, v: T) -> String {
        crate::domain::thousands(*v.borrow())
    }
}

pub async fn public(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<DashQuery>,
) -> AppResult<Response> {
    let now = state.now();
    let territoire = if q.departement.is_empty() {
        Territoire::national()
    } else {
        Territoire::departement(&q.departement).ok_or(AppError::NotFound)?
    };
    let annee = this_year(now);
    let tab = tableau::compute(&state.db, &territoire, annee, now).await?;
    // People: published only from 5, never recoverable from a total, from the
    // same protected table as the open data (départements × months).
    let year = pilotage::donnees::year_table(&state.db, annee).await?;
    let acc = secret::protect(&year.accompagnements);
    let acc_of = |code: &str| {
        year.departements
            .iter()
            .position(|d| d == code)
            .and_then(|i| acc.row_totals.get(i).copied())
            .flatten()
    };
    let man: Vec<i64> = tab.lignes.iter().map(|l| l.mandats_actifs).collect();
    let (man_cells, man_total) = secret::one_way(&man);
    let lines = tab
        .lignes
        .iter()
        .zip(&man_cells)
        .map(|(l, m)| PublicLine {
            code: l.code.clone(),
            nom: l.nom.clone(),
            accompagnements: secret::show(acc_of(&l.code)),
            lieux: l.lieux,
            conseillers: l.conseillers.en_poste,
            mandats: secret::show(*m),
        })
        .collect();
    let acc_total = if territoire.niveau == Niveau::National {
        acc.total
    } else {
        acc_of(&territoire.code)
    };
    let personnes = secret::one_way(&[tab.personnes]).1;
    let values: Vec<(String, f64)> = tab
        .lignes
        .iter()
        .map(|l| (l.code.clone(), l.lieux_pour_10000()))
        .collect();
    let map_svg = pilotage::carte::svg(
        "Lieux de médiation numérique pour 10 000 habitants",
        &values,
        &|v| format!("{v:.1}").replace('.', ","),
        &[],
    );
    let t = crate::territoires::get();
    let mut departements: Vec<(String, String)> = Territoire::national()
        .departements
        .into_iter()
        .map(|c| {
            let n = t.departement_name(&c).unwrap_or("").to_owned();
            (c, n)
        })
        .collect();
    departements.sort();
    render(&PublicView {
        shell: Shell::new(&ctx, "Relais en chiffres"),
        departement: q.departement.clone(),
        departements,
        personnes: secret::show(personnes),
        objectif: crate::domain::thousands(tab.objectif_personnes()),
        progress_svg: charts::progress(if personnes.is_some() {
            tab.avancement()
        } else {
            0.0
        }),
        map_svg,
        lines,
        total_accompagnements: secret::show(acc_total),
        total_mandats: secret::show(if territoire.niveau == Niveau::National {
            man_total
        } else {
            man_cells.first().copied().flatten()
        }),
        t: tab,
    })
}

// ---------------------------------------------------------------------------
// Open data

#[derive(Template)]
#[template(path = "donnees_ouvertes.html")]
pub struct OpenDataView {
    pub shell: Shell,
    pub files: Vec<(pilotage::donnees::Published, String, String)>,
    pub last: Option<String>,
}

pub async fn open_data(State(state): State<AppState>, ctx: Ctx) -> AppResult<Response> {
    let list = pilotage::donnees::list(&state.db).await?;
    let last = list
        .iter()
        .map(|f| f.publie_le)
        .max()
        .map(crate::time_fr::date_time);
    render(&OpenDataView {
        shell: Shell::new(&ctx, "Données ouvertes"),
        files: list
            .into_iter()
            .map(|f| {
                let size = if f.taille >= 1_000_000 {
                    format!("{:.1} Mo", f.taille as f64 / 1_000_000.0).replace('.', ",")
                } else {
                    format!("{} ko", (f.taille + 999) / 1_000)
                };
                let what = match f.nom.as_str() {
                    "lieux.csv" | "lieux.json" => "Les lieux de médiation numérique, au standard national (schéma v1.0.2)",
                    "statistiques.csv" | "statistiques.json" => "Statistiques par département et par mois, année en cours et précédente, sous secret statistique",
                    "statistiques.schema.json" => "Le schéma (Table Schema) des statistiques",
                    _ => "",
                }
                .to_owned();
                (f, size, what)
            })
            .collect(),
        last,
    })
}

pub async fn open_data_file(
    State(state): State<AppState>,
    axum::extract::Path(nom): axum::extract::Path<String>,
) -> AppResult<Response> {
    let Some((kind, content, at)) = pilotage::donnees::file(&state.db, &nom).await? else {
        return Err(AppError::NotFound);
    };
    let last_modified = httpdate(at);
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, kind),
            (
                axum::http::header::CACHE_CONTROL,
                "public, max-age=3600".to_owned(),
            ),
            (axum::http::header::LAST_MODIFIED, last_modified),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{nom}\""),
            ),
        ],
        content,
    )
        .into_response())
}

/// An HTTP date (`Thu, 03 Dec 2026 04:00:00 GMT`).
fn httpdate(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = crate::time_fr::civil_from_days(days);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        .get(usize::try_from(days.rem_euclid(7)).unwrap_or(0))
        .copied()
        .unwrap_or("Mon");
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .get(usize::try_from(m).unwrap_or(1).saturating_sub(1))
    .copied()
    .unwrap_or("Jan");
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(super::httpdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            super::httpdate(1_796_270_400),
            "Thu, 03 Dec 2026 04:00:00 GMT"
        );
    }
}
