//! Solidarité Numérique: the public callback form (`/rappel`), the agents' queue
//! and request pages (`/rappels…`, `Access::Helpline`), the service figures, and
//! the administrators' list of structures that answer (`/admin/rappels`); a
//! référent makes a structure answer local requests from its page
//! (`/structures/{sid}/rappels`).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::accounts::throttle;
use crate::csv_export::Cell;
use crate::rappels::{self, Acte, Agent, Etat, File, stats};
use crate::web::AppState;
use crate::web::access::{Admin, Helpline, Manager};
use crate::web::charts;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{FormErrors, field, pairs};
use crate::web::views::{MessageView, Shell, csv_download, render, render_status};

/// The helpline's number, as people dial it.
pub const NUMERO: &str = "01 70 772 372";

// ---------------------------------------------------------------------------
// The public form

#[derive(Template)]
#[template(path = "rappel_form.html")]
pub struct FormView {
    pub shell: Shell,
    pub numero: &'static str,
    pub f: rappels::Form,
    pub besoins: &'static [(&'static str, &'static str)],
    pub creneaux: &'static [(&'static str, &'static str)],
    pub errors: FormErrors,
}

impl FormView {
    fn has_creneau(&self, key: &str) -> bool {
        self.f.creneaux.iter().any(|c| c == key)
    }
}

fn form_view(ctx: &Ctx, f: rappels::Form, errors: FormErrors) -> FormView {
    FormView {
        shell: Shell::new(ctx, "Être rappelé par Solidarité Numérique"),
        numero: NUMERO,
        f,
        besoins: rappels::BESOINS,
        creneaux: rappels::CRENEAUX,
        errors,
    }
}

pub async fn form(ctx: Ctx) -> AppResult<Response> {
    render(&form_view(
        &ctx,
        rappels::Form::default(),
        FormErrors::default(),
    ))
}

fn thanks(ctx: &Ctx) -> MessageView {
    MessageView {
        shell: Shell::new(ctx, "Demande de rappel enregistrée"),
        heading: "Votre demande est enregistrée".into(),
        paragraphs: vec![
            "Merci. Une personne de Solidarité Numérique ou d'un lieu proche de chez vous va vous appeler.".into(),
            "L'appel viendra à un des moments que vous avez choisis, en général sous deux jours ouvrés.".into(),
            "Si vous ne pouvez pas répondre, nous essaierons de nouveau.".into(),
            format!("Vous pouvez aussi appeler vous-même le {NUMERO} (prix d'un appel local), du lundi au vendredi."),
        ],
        link: Some(("/".into(), "Retour à l'accueil".into())),
    }
}

pub async fn submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> AppResult<Response> {
    let p = pairs(&body);
    let f = rappels::Form {
        prenom: field(&p, "prenom"),
        telephone: field(&p, "telephone"),
        code_postal: field(&p, "code_postal"),
        besoin: field(&p, "besoin"),
        creneaux: p
            .iter()
            .filter(|(k, _)| k == "creneaux")
            .map(|(_, v)| v.clone())
            .take(rappels::CRENEAUX.len() * 2)
            .collect(),
        precisions: field(&p, "precisions"),
        consentement: field(&p, "consentement") == "oui",
    };
    // The honeypot: a field people never see nor reach. A robot that fills it is
    // thanked, and nothing is stored.
    if !field(&p, "site_web").is_empty() {
        tracing::info!(request_id = %ctx.request_id, "demande de rappel écartée (champ piège rempli)");
        return render(&thanks(&ctx));
    }
    let d = match rappels::check(&f) {
        Ok(d) => d,
        Err(list) => {
            let mut errors = FormErrors::default();
            for (k, m) in list {
                errors.add(k, m);
            }
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_view(&ctx, f, errors),
            );
        }
    };
    let now = state.now();
    let by_ip = throttle::key(&state.db, &throttle::RAPPEL_IP, &ctx.client_ip);
    let by_phone = throttle::key(&state.db, &throttle::RAPPEL_TELEPHONE, &d.telephone);
    let refused = if throttle::begin(&state.db, &throttle::RAPPEL_IP, &by_ip, now)
        .await?
        .is_err()
    {
        Some((
            "prenom",
            format!(
                "Trop de demandes sont parties de cette connexion depuis une heure. Réessayez plus tard, ou appelez le {NUMERO}."
            ),
        ))
    } else if throttle::begin(&state.db, &throttle::RAPPEL_TELEPHONE, &by_phone, now)
        .await?
        .is_err()
    {
        Some((
            "telephone",
            format!(
                "Une demande pour ce numéro est déjà enregistrée aujourd'hui : on va vous rappeler. Pour une urgence, appelez le {NUMERO}."
            ),
        ))
    } else {
        None
    };
    if let Some((k, m)) = refused {
        let mut errors = FormErrors::default();
        errors.add(k, m);
        return render_status(StatusCode::TOO_MANY_REQUESTS, &form_view(&ctx, f, errors));
    }
    rappels::create(&state.db, &d, now).await?;
    render(&thanks(&ctx))
}

// ---------------------------------------------------------------------------
// The agents' queue

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct QueueQuery {
    etat: String,
    file: String,
    departement: String,
    moi: String,
    apres: String,
    info: String,
}

pub struct LigneView {
    pub id: i64,
    pub prenom: String,
    pub departement: String,
    pub besoin: &'static str,
    pub creneaux: String,
    pub recue: String,
    pub tentatives: i64,
    pub agent: String,
    pub structure: String,
    pub issue: &'static str,
}

#[derive(Template)]
#[template(path = "rappels.html")]
pub struct QueueView {
    pub shell: Shell,
    pub national: bool,
    pub etat: &'static str,
    pub file: &'static str,
    pub departement: String,
    pub moi: bool,
    pub a_traiter: String,
    pub en_cours: String,
    pub lignes: Vec<LigneView>,
    pub suivant: Option<String>,
    pub info: Option<&'static str>,
}

fn creneaux_text(raw: &str) -> String {
    raw.split(',')
        .filter(|c| !c.is_empty())
        .map(|c| rappels::label(rappels::CRENEAUX, c))
        .collect::<Vec<_>>()
        .join(", ")
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

pub async fn queue(
    State(state): State<AppState>,
    ctx: Ctx,
    h: Helpline,
    Query(q): Query<QueueQuery>,
) -> AppResult<Response> {
    let agent = h.agent;
    let etat = Etat::parse(&q.etat);
    let (file, file_key) = match (agent, q.file.as_str()) {
        (Agent::National { .. }, "toutes") => (File::Toutes, "toutes"),
        (Agent::National { .. }, _) => (File::Nationale, "nationale"),
        (Agent::Local { structure_id, .. }, _) => (File::Structure(structure_id), "structure"),
    };
    let departement = q.departement.trim().to_uppercase();
    let departement = crate::territoires::get()
        .departement_name(&departement)
        .map(|_| departement);
    let mine = (q.moi == "1").then_some(agent.account_id());
    let apres = q.apres.parse::<i64>().ok();
    let page = rappels::queue(&state.db, file, etat, departement.as_deref(), mine, apres).await?;
    let (a_traiter, en_cours) = rappels::counts(&state.db, file).await?;
    let dep = departement.clone().unwrap_or_default();
    let suivant = page.suivant.map(|s| {
        format!(
            "/rappels?{}",
            query_string(&[
                ("etat", etat.key()),
                ("file", if file_key == "toutes" { "toutes" } else { "" }),
                ("departement", &dep),
                ("moi", if mine.is_some() { "1" } else { "" }),
                ("apres", &s.to_string()),
            ])
        )
    });
    let info = match q.info.as_str() {
        "oriente" => Some("Demande orientée : elle est dans la file choisie."),
        "cloture" => Some("Demande clôturée."),
        _ => None,
    };
    render(&QueueView {
        shell: Shell::new(&ctx, "Demandes de rappel"),
        national: agent.is_national(),
        etat: etat.key(),
        file: file_key,
        departement: dep,
        moi: mine.is_some(),
        a_traiter: rappels::count_text(a_traiter),
        en_cours: rappels::count_text(en_cours),
        lignes: page
            .lignes
            .into_iter()
            .map(|l| LigneView {
                id: l.id,
                prenom: l
                    .prenom
                    .unwrap_or_else(|| "(données supprimées)".to_owned()),
                departement: l.departement,
                besoin: rappels::label(rappels::BESOINS, &l.besoin),
                creneaux: creneaux_text(&l.creneaux),
                recue: crate::time_fr::date_time(l.created_at),
                tentatives: l.tentatives,
                agent: l.agent.unwrap_or_default(),
                structure: l.structure.unwrap_or_else(|| "Ligne nationale".to_owned()),
                issue: l
                    .issue
                    .as_deref()
                    .map_or("", |i| rappels::label(rappels::ISSUES, i)),
            })
            .collect(),
        suivant,
        info,
    })
}

// ---------------------------------------------------------------------------
// One request

pub struct SuiviView {
    pub quand: String,
    pub qui: String,
    pub quoi: String,
    pub texte: String,
}

#[derive(Template)]
#[template(path = "rappel.html")]
pub struct DemandeView {
    pub shell: Shell,
    pub d: rappels::Demande,
    pub telephone: String,
    pub tel_href: String,
    pub commune: String,
    pub besoin: &'static str,
    pub creneaux: String,
    pub recue: String,
    pub file: String,
    pub issue: &'static str,
    pub suivi: Vec<SuiviView>,
    pub national: bool,
    pub mine: bool,
    pub destinations: Vec<(i64, String)>,
    pub appels: &'static [(&'static str, &'static str)],
    pub issues: &'static [(&'static str, &'static str)],
    pub errors: FormErrors,
    pub info: Option<&'static str>,
}

async fn demande_view(
    state: &AppState,
    ctx: &Ctx,
    agent: Agent,
    id: i64,
    errors: FormErrors,
    info: Option<&'static str>,
) -> AppResult<DemandeView> {
    let d = rappels::get(&state.db, agent, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let suivi = rappels::suivi(&state.db, id)
        .await?
        .into_iter()
        .map(|s| SuiviView {
            quand: crate::time_fr::date_time(s.at),
            qui: s.auteur.unwrap_or_default(),
            quoi: match (s.genre.as_str(), s.resultat.as_deref()) {
                ("prise", _) => "Prise en charge".to_owned(),
                ("note", _) => "Note".to_owned(),
                ("appel", Some(r)) => format!("Appel : {}", rappels::label(rappels::APPELS, r)),
                ("cloture", Some(r)) => {
                    format!("Clôture : {}", rappels::label(rappels::ISSUES, r))
                }
                ("orientation", _) => "Orientée vers une autre file".to_owned(),
                _ => s.genre.clone(),
            },
            texte: s.texte.unwrap_or_default(),
        })
        .collect();
    let destinations = if agent.is_national() {
        rappels::participants(&state.db)
            .await?
            .into_iter()
            .filter(|p| p.niveau == "local")
            .map(|p| (p.structure_id, format!("{} — {}", p.nom, p.commune)))
            .collect()
    } else {
        Vec::new()
    };
    let t = crate::territoires::get();
    Ok(DemandeView {
        shell: Shell::new(ctx, format!("Demande de rappel n° {id}")),
        telephone: d
            .telephone
            .as_deref()
            .map(crate::sms::display_phone)
            .unwrap_or_default(),
        tel_href: d.telephone.clone().unwrap_or_default(),
        commune: format!("{} — {}", d.code_postal, t.label(&d.commune_insee)),
        besoin: rappels::label(rappels::BESOINS, &d.besoin),
        creneaux: d
            .creneaux
            .iter()
            .map(|c| rappels::label(rappels::CRENEAUX, c))
            .collect::<Vec<_>>()
            .join(", "),
        recue: crate::time_fr::date_time(d.created_at),
        file: d
            .structure
            .clone()
            .unwrap_or_else(|| "Ligne nationale".to_owned()),
        issue: d
            .issue
            .as_deref()
            .map_or("", |i| rappels::label(rappels::ISSUES, i)),
        mine: d.agent_id == Some(agent.account_id()),
        national: agent.is_national(),
        d,
        suivi,
        destinations,
        appels: rappels::APPELS,
        issues: rappels::ISSUES,
        errors,
        info,
    })
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct InfoQuery {
    info: String,
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    h: Helpline,
    Path(rid): Path<i64>,
    Query(q): Query<InfoQuery>,
) -> AppResult<Response> {
    let info = match q.info.as_str() {
        "prise" => Some("Vous vous occupez de cette demande."),
        "note" => Some("Note enregistrée."),
        "appel" => Some("Appel noté."),
        _ => None,
    };
    render(&demande_view(&state, &ctx, h.agent, rid, FormErrors::default(), info).await?)
}

/// Every act on a request: `acte` says which.
pub async fn act(
    State(state): State<AppState>,
    ctx: Ctx,
    h: Helpline,
    Path(rid): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let agent = h.agent;
    // The request must be one the agent sees, before anything is read.
    if rappels::get(&state.db, agent, rid).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let p = pairs(&body);
    let texte = field(&p, "texte");
    let (acte, done) = match field(&p, "acte").as_str() {
        "prendre" => (Acte::Prendre, "prise"),
        "note" => (Acte::Note(texte), "note"),
        "appel" => (
            Acte::Appel {
                resultat: field(&p, "resultat"),
                note: texte,
            },
            "appel",
        ),
        "cloture" => (
            Acte::Cloturer {
                issue: field(&p, "issue"),
                note: texte,
            },
            "cloture",
        ),
        "orienter" => {
            let target = match field(&p, "structure").as_str() {
                "nationale" => None,
                s => match s.parse::<i64>() {
                    Ok(id) => Some(id),
                    Err(_) => {
                        let mut errors = FormErrors::default();
                        errors.add(
                            "structure",
                            "Choisissez vers quelle file orienter la demande.",
                        );
                        return render_status(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            &demande_view(&state, &ctx, agent, rid, errors, None).await?,
                        );
                    }
                },
            };
            (Acte::Orienter(target), "oriente")
        }
        _ => {
            let mut errors = FormErrors::default();
            errors.add(
                "acte",
                "Choisissez une action avec un des boutons de la page.",
            );
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &demande_view(&state, &ctx, agent, rid, errors, None).await?,
            );
        }
    };
    match rappels::act(&state.db, agent, rid, &acte, state.now()).await? {
        Ok(()) => {
            let to = match done {
                "oriente" | "cloture" => format!("/rappels?info={done}"),
                _ => format!("/rappels/{rid}?info={done}"),
            };
            Ok(Redirect::to(&to).into_response())
        }
        Err((k, m)) => {
            let mut errors = FormErrors::default();
            errors.add(k, m);
            // A request sent elsewhere meanwhile is no longer the agent's to see.
            match demande_view(&state, &ctx, agent, rid, errors, None).await {
                Ok(v) => render_status(StatusCode::UNPROCESSABLE_ENTITY, &v),
                Err(AppError::NotFound) => {
                    Ok(Redirect::to("/rappels?info=oriente").into_response())
                }
                Err(e) => Err(e),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Service figures

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ChiffresQuery {
    jours: String,
}

#[derive(Template)]
#[template(path = "rappels_chiffres.html")]
pub struct ChiffresView {
    pub shell: Shell,
    pub national: bool,
    pub jours: i64,
    pub c: stats::Chiffres,
    pub delai_median: String,
    pub delai_d9: String,
    pub chart_jours: String,
    pub chart_issues: String,
    pub pourcentages: Vec<(String, i64, String)>,
}

fn period(q: &ChiffresQuery) -> i64 {
    match q.jours.as_str() {
        "7" => 7,
        "90" => 90,
        "365" => 365,
        _ => 30,
    }
}

async fn chiffres_of(state: &AppState, agent: Agent, jours: i64) -> AppResult<stats::Chiffres> {
    let now = state.now();
    let to = crate::time_fr::paris_midnight(now, 1);
    let from = crate::time_fr::paris_midnight(now, 1 - jours);
    let structure = (!agent.is_national()).then_some(agent.structure_id());
    Ok(stats::compute(&state.db, structure, from, to).await?)
}

pub async fn chiffres(
    State(state): State<AppState>,
    ctx: Ctx,
    h: Helpline,
    Query(q): Query<ChiffresQuery>,
) -> AppResult<Response> {
    let jours = period(&q);
    let c = chiffres_of(&state, h.agent, jours).await?;
    let closed = c.cloturees.max(1);
    let pourcentages = c
        .issues
        .iter()
        .map(|(l, n)| (l.clone(), *n, format!("{} %", (n * 1000 / closed + 5) / 10)))
        .collect();
    // The last 30 days at most as columns (the table has every day).
    let skip = c.par_jour.len().saturating_sub(31);
    render(&ChiffresView {
        shell: Shell::new(&ctx, "Chiffres du service de rappel"),
        national: h.agent.is_national(),
        jours,
        delai_median: c
            .delai_median_h
            .map_or_else(|| "—".to_owned(), stats::hours_text),
        delai_d9: c
            .delai_d9_h
            .map_or_else(|| "—".to_owned(), stats::hours_text),
        chart_jours: charts::columns(c.par_jour.get(skip..).unwrap_or_default()),
        chart_issues: charts::hbars(&c.issues),
        pourcentages,
        c,
    })
}

pub async fn chiffres_csv(
    State(state): State<AppState>,
    h: Helpline,
    Query(q): Query<ChiffresQuery>,
) -> AppResult<Response> {
    let jours = period(&q);
    let c = chiffres_of(&state, h.agent, jours).await?;
    csv_download(
        &format!("rappels-departements-{jours}-jours.csv"),
        &[
            "Code département",
            "Département",
            "Demandes",
            "Clôturées",
            "Résolues",
            "Orientées vers un lieu",
            "Injoignables",
        ],
        c.departements.iter().map(|d| {
            vec![
                Cell::Code(&d.code),
                Cell::Text(&d.nom),
                Cell::Int(d.demandes),
                Cell::Int(d.cloturees),
                Cell::Int(d.resolues),
                Cell::Int(d.orientees),
                Cell::Int(d.injoignables),
            ]
        }),
    )
}

// ---------------------------------------------------------------------------
// Who answers: administrators, and a structure's référent for its own

#[derive(Template)]
#[template(path = "admin_rappels.html")]
pub struct AdminView {
    pub shell: Shell,
    pub participants: Vec<rappels::Participant>,
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
        shell: Shell::new(ctx, "Solidarité Numérique : structures qui rappellent"),
        participants: rappels::participants(&state.db).await?,
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
    let info = (q.info == "enregistre").then_some("C'est enregistré.");
    render(&admin_view(&state, &ctx, FormErrors::default(), info).await?)
}

pub async fn admin_set(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    body: Bytes,
) -> AppResult<Response> {
    let p = pairs(&body);
    let mut errors = FormErrors::default();
    let niveau = match field(&p, "niveau").as_str() {
        "national" => Some("national"),
        "local" => Some("local"),
        "aucun" => None,
        _ => {
            errors.add(
                "niveau",
                "Choisissez : ligne nationale, lieu local ou ne plus rappeler.",
            );
            None
        }
    };
    let siret = field(&p, "siret").replace(' ', "");
    let structure = match crate::domain::Siret::parse(&siret) {
        Ok(s) => crate::structures::find_by_siret(&state.db, &s).await?,
        Err(e) => {
            errors.add("siret", e);
            None
        }
    };
    if structure.is_none() && errors.get("siret").is_none() {
        errors.add(
            "siret",
            "Aucune structure Relais n'a ce SIRET : vérifiez-le dans la liste des structures.",
        );
    }
    match (structure, errors.is_empty()) {
        (Some(s), true) => {
            rappels::set_participation(&state.db, s.id, niveau, a.0.account_id, state.now())
                .await?;
            Ok(Redirect::to("/admin/rappels?info=enregistre").into_response())
        }
        _ => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &admin_view(&state, &ctx, errors, None).await?,
        ),
    }
}

/// A référent makes the structure answer the helpline's requests near it, or stop.
pub async fn structure_set(
    State(state): State<AppState>,
    m: Manager,
    body: Bytes,
) -> AppResult<Response> {
    let p = pairs(&body);
    let current = rappels::participation(&state.db, m.structure_id).await?;
    if current.as_deref() == Some("national") {
        // The national helpline is set by administrators only.
        return Err(AppError::Forbidden);
    }
    let niveau = match field(&p, "rappels").as_str() {
        "oui" => Some("local"),
        _ => None,
    };
    rappels::set_participation(
        &state.db,
        m.structure_id,
        niveau,
        m.session.account_id,
        state.now(),
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/structures/{}/parametres?info=rappels#solidarite-numerique",
        m.structure_id
    ))
    .into_response())
}
