//! Habilitation over HTTP: the public request (no account, a private link by
//! email), its instruction by administrators, and the training results.

use crate::csv_export::Cell;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::step_up_needed;
use crate::domain::{Email, StructureKind};
use crate::formations::{self, State as TState, Trainee};
use crate::habilitation::{
    self, Decision, Details, FutureAidant, HabilitationError, Message, Request, Status,
};
use crate::mail::messages;
use crate::web::AppState;
use crate::web::access::Admin;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{AppForm, FormErrors};
use crate::web::views::{ConfirmView, Confirmed, MessageView, Shell, render, render_status};

// ---------------------------------------------------------------------------
// Public: start a request.

#[derive(Template)]
#[template(path = "habilitation_start.html")]
pub struct StartView {
    pub shell: Shell,
    pub email: String,
    pub errors: FormErrors,
}

fn start_view(ctx: &Ctx, email: String, errors: FormErrors) -> StartView {
    StartView {
        shell: Shell::new(ctx, "Demander l'habilitation de votre structure"),
        email,
        errors,
    }
}

/// `GET /habilitation`.
pub async fn start_form(ctx: Ctx) -> AppResult<Response> {
    render(&start_view(&ctx, String::new(), FormErrors::default()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StartForm {
    email: String,
}

/// `POST /habilitation`: creates a draft and emails its private link.
pub async fn start(
    State(state): State<AppState>,
    ctx: Ctx,
    AppForm(f): AppForm<StartForm>,
) -> AppResult<Response> {
    let mut errors = FormErrors::default();
    let Some(email) = errors.check("email", Email::parse(&f.email)) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &start_view(&ctx, f.email, errors),
        );
    };
    // Each start sends an email: at most 30 starts per IP in 15 minutes, and the
    // limits of every form that sends an email (per address, per IP).
    let now = state.now();
    use crate::accounts::throttle;
    let ip_key = throttle::key(&state.db, &throttle::HABILITATION_IP, &ctx.client_ip);
    let refused = match throttle::begin(&state.db, &throttle::HABILITATION_IP, &ip_key, now).await?
    {
        Err(_) => Some(
            "Trop de demandes commencées depuis cette connexion : réessayez dans un quart d'heure."
                .to_owned(),
        ),
        Ok(_counted) => throttle::email_allowed(&state.db, email.as_str(), &ctx.client_ip, now)
            .await?
            .err()
            .map(throttle::email_refused_text),
    };
    if let Some(message) = refused {
        errors.add("email", message);
        return render_status(
            StatusCode::TOO_MANY_REQUESTS,
            &start_view(&ctx, f.email, errors),
        );
    }
    let token = habilitation::start(&state.db, &email, now).await?;
    let link = format!("{}/habilitation/demande/{token}", state.config.public_url());
    if let Err(e) = state
        .mailer
        .send(messages::habilitation_link(email.as_str(), &link))
        .await
    {
        // Without its email nobody can reach the draft: it is removed.
        habilitation::discard(&state.db, &token).await?;
        return Err(AppError::Internal(format!(
            "envoi du lien d'habilitation : {e}"
        )));
    }
    tracing::info!("demande d'habilitation commencée");
    render(&MessageView {
        shell: Shell::new(&ctx, "Consultez votre messagerie"),
        heading: "Consultez votre messagerie".into(),
        paragraphs: vec![
            format!("Un lien personnel vient d'être envoyé à {}. Ouvrez-le pour confirmer l'adresse et remplir la demande : il vous permettra aussi d'en suivre l'instruction.", email.as_str()),
            "Gardez ce message : le lien est la seule façon de revenir à votre demande. Rien reçu dans quelques minutes ? Regardez les indésirables, puis recommencez.".into(),
        ],
        link: None,
    })
}

// ---------------------------------------------------------------------------
// Public: the request behind its private link.

pub struct AidantRow {
    pub n: usize,
    pub a: FutureAidant,
    pub name_id: String,
    pub email_id: String,
    pub profession_id: String,
    pub name_err: Option<String>,
    pub email_err: Option<String>,
    pub profession_err: Option<String>,
}

#[derive(Template)]
#[template(path = "habilitation_request.html")]
pub struct RequestView {
    pub shell: Shell,
    pub token: String,
    pub req: Request,
    pub d: Details,
    pub rows: Vec<AidantRow>,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub errors: FormErrors,
    pub messages: Vec<Message>,
    pub message: String,
    pub saved: bool,
}

impl RequestView {
    pub fn error(&self, field: &str) -> Option<String> {
        self.errors.get(field).map(str::to_owned)
    }
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    StructureKind::ALL
        .iter()
        .map(|k| (k.key(), k.label()))
        .collect()
}

/// Rows for the form: the listed aidants, then empty rows to add more (3, within
/// the limit).
fn rows(aidants: &[FutureAidant], errors: &FormErrors) -> Vec<AidantRow> {
    let shown = (aidants.len() + 3)
        .min(habilitation::MAX_AIDANTS)
        .max(aidants.len());
    (0..shown)
        .map(|i| {
            let n = i + 1;
            let id = |k: &str| format!("aidant-{n}-{k}");
            let err = |k: &str| errors.get(&id(k)).map(str::to_owned);
            AidantRow {
                n,
                a: aidants.get(i).cloned().unwrap_or_default(),
                name_err: err("name"),
                email_err: err("email"),
                profession_err: err("profession"),
                name_id: id("name"),
                email_id: id("email"),
                profession_id: id("profession"),
            }
        })
        .collect()
}

fn field_errors(list: habilitation::FieldErrors) -> FormErrors {
    let mut errors = FormErrors::default();
    for (field, message) in list {
        // Field names of the form are a fixed, small set: keep them as `'static`.
        let name: &'static str = FIELD_NAMES
            .iter()
            .find(|f| **f == field)
            .copied()
            .unwrap_or_else(|| aidant_field(&field));
        errors.add(name, message);
    }
    errors
}

const FIELD_NAMES: [&str; 14] = [
    "siret",
    "name",
    "kind",
    "address",
    "commune_insee",
    "france_services_number",
    "referent_name",
    "referent_email",
    "referent_profession",
    "dpo_name",
    "dpo_email",
    "aidants",
    "commitments",
    "message",
];

/// `aidant-N-x` as a `'static` name (N ≤ 30, three kinds).
fn aidant_field(field: &str) -> &'static str {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        (1..=habilitation::MAX_AIDANTS + 3)
            .flat_map(|n| ["name", "email", "profession"].map(move |k| format!("aidant-{n}-{k}")))
            .collect()
    });
    names
        .iter()
        .find(|n| n.as_str() == field)
        .map_or("aidants", String::as_str)
}

async fn request_view(
    state: &AppState,
    ctx: &Ctx,
    token: &str,
    req: Request,
    d: Option<Details>,
    errors: FormErrors,
) -> AppResult<RequestView> {
    let d = d.unwrap_or_else(|| req.details.clone());
    Ok(RequestView {
        shell: Shell::new(ctx, "Demande d'habilitation"),
        token: token.to_owned(),
        rows: rows(&d.aidants, &errors),
        d,
        messages: habilitation::messages(&state.db, req.id).await?,
        req,
        kinds: kinds(),
        errors,
        message: String::new(),
        saved: false,
    })
}

fn gone(ctx: &Ctx) -> AppResult<Response> {
    render_status(
        StatusCode::NOT_FOUND,
        &MessageView {
            shell: Shell::new(ctx, "Lien non valable"),
            heading: "Ce lien de demande n'est pas valable".into(),
            paragraphs: vec!["Vérifiez que vous avez copié le lien en entier depuis l'e-mail reçu. Un lien inutilisé pendant 90 jours expire : commencez alors une nouvelle demande.".into()],
            link: Some(("/habilitation".into(), "Commencer une demande".into())),
        },
    )
}

/// `GET /habilitation/demande/{token}`.
pub async fn request(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    RawQuery(q): RawQuery,
) -> AppResult<Response> {
    let Some(req) = habilitation::open(&state.db, &token, state.now()).await? else {
        return gone(&ctx);
    };
    let mut view = request_view(&state, &ctx, &token, req, None, FormErrors::default()).await?;
    view.saved = q.as_deref() == Some("enregistre=1");
    render(&view)
}

/// Reads the request form (urlencoded; aidant rows `aidant-N-name/email/profession`,
/// entirely empty rows ignored).
fn details_from(body: &[u8]) -> (Details, String) {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .take(400)
        .collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().chars().take(300).collect::<String>())
            .unwrap_or_default()
    };
    let mut aidants = Vec::new();
    for n in 1..=habilitation::MAX_AIDANTS + 3 {
        let a = FutureAidant {
            full_name: get(&format!("aidant-{n}-name")),
            email: get(&format!("aidant-{n}-email")),
            profession: get(&format!("aidant-{n}-profession")),
        };
        if !(a.full_name.is_empty() && a.email.is_empty() && a.profession.is_empty()) {
            aidants.push(a);
        }
    }
    (
        Details {
            siret: get("siret"),
            name: get("name"),
            kind: get("kind"),
            address: get("address"),
            commune_insee: get("commune_insee"),
            france_services_number: get("france_services_number"),
            referent_name: get("referent_name"),
            referent_email: get("referent_email"),
            referent_profession: get("referent_profession"),
            dpo_name: get("dpo_name"),
            dpo_email: get("dpo_email"),
            aidants,
            commitments: get("commitments") == "1",
        },
        get("action"),
    )
}

/// `POST /habilitation/demande/{token}`: saves the draft (`action=enregistrer`) or
/// saves and sends it (`action=envoyer`).
pub async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let now = state.now();
    let Some(req) = habilitation::open(&state.db, &token, now).await? else {
        return gone(&ctx);
    };
    let (d, action) = details_from(&body);
    let send = action == "envoyer";
    let errors = habilitation::check(&d, send);
    if !errors.is_empty() {
        // Nothing is lost: the page comes back with every value typed.
        let view = request_view(&state, &ctx, &token, req, Some(d), field_errors(errors)).await?;
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
    }
    match habilitation::save(&state.db, req.id, &d, now).await {
        Ok(()) => {}
        Err(HabilitationError::Refused(m)) => {
            let mut errors = FormErrors::default();
            errors.add("siret", m);
            let view = request_view(&state, &ctx, &token, req, Some(d), errors).await?;
            return render_status(StatusCode::CONFLICT, &view);
        }
        Err(HabilitationError::Db(e)) => return Err(e.into()),
    }
    if send {
        match habilitation::submit(&state.db, req.id, now).await {
            Ok(()) => {
                tracing::info!(demande = req.id, "demande d'habilitation envoyée");
                return Ok(Redirect::to(&format!("/habilitation/demande/{token}")).into_response());
            }
            Err(HabilitationError::Refused(m)) => {
                let mut errors = FormErrors::default();
                errors.add("siret", m);
                let view = request_view(&state, &ctx, &token, req, Some(d), errors).await?;
                return render_status(StatusCode::CONFLICT, &view);
            }
            Err(HabilitationError::Db(e)) => return Err(e.into()),
        }
    }
    Ok(Redirect::to(&format!("/habilitation/demande/{token}?enregistre=1")).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MessageForm {
    message: String,
}

/// `POST /habilitation/demande/{token}/message`.
pub async fn requester_message(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    AppForm(f): AppForm<MessageForm>,
) -> AppResult<Response> {
    let now = state.now();
    let Some(req) = habilitation::open(&state.db, &token, now).await? else {
        return gone(&ctx);
    };
    let body = match habilitation::message_text(&f.message) {
        Ok(b) => b,
        Err(e) => {
            let mut errors = FormErrors::default();
            errors.add("message", e);
            let mut view = request_view(&state, &ctx, &token, req, None, errors).await?;
            view.message = f.message;
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
    };
    match habilitation::post_message(&state.db, req.id, None, &body, now).await {
        Ok(()) => {
            // The administrators are told (the message is kept whatever happens).
            let link = format!(
                "{}/admin/habilitations/{}",
                state.config.public_url(),
                req.id
            );
            let structure = structure_name(&req.details);
            for to in habilitation::admins_to_notify(&state.db, req.id, now).await? {
                let mail = messages::habilitation_reply_to_admin(&to, &structure, &link);
                if let Err(e) = state.mailer.send(mail).await {
                    tracing::warn!(demande = req.id, cause = %e, "message d'un demandeur : e-mail aux administrateurs non envoyé");
                }
            }
        }
        Err(HabilitationError::Refused(m)) => {
            let mut errors = FormErrors::default();
            errors.add("message", m);
            let view = request_view(&state, &ctx, &token, req, None, errors).await?;
            return render_status(StatusCode::CONFLICT, &view);
        }
        Err(HabilitationError::Db(e)) => return Err(e.into()),
    }
    Ok(Redirect::to(&format!("/habilitation/demande/{token}#messages")).into_response())
}

/// `POST /habilitation/demande/{token}/abandonner`.
/// Asks before abandoning a habilitation request.
pub async fn withdraw_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let Some(req) = habilitation::open(&state.db, &token, state.now()).await? else {
        return gone(&ctx);
    };
    let name = if req.details.name.trim().is_empty() {
        "votre structure".to_owned()
    } else {
        format!("« {} »", req.details.name.trim())
    };
    let heading = "Abandonner cette demande d'habilitation ?".to_owned();
    render(&ConfirmView {
        shell: Shell::new(&ctx, heading.clone()),
        heading,
        paragraphs: vec![
            format!(
                "Vous allez abandonner la demande d'habilitation de {name} : elle sera close \
                 et ne sera pas instruite."
            ),
            "Cela ne peut pas être annulé : pour habiliter la structure plus tard, il faudra \
             faire une nouvelle demande."
                .to_owned(),
        ],
        action: format!("/habilitation/demande/{token}/abandonner"),
        confirm_label: "Oui, abandonner la demande".to_owned(),
        cancel_href: format!("/habilitation/demande/{token}"),
    })
}

pub async fn withdraw(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    AppForm(f): AppForm<Confirmed>,
) -> AppResult<Response> {
    // Never in one click: without « Oui » on the confirmation page, back to it.
    if !f.yes() {
        return Ok(
            Redirect::to(&format!("/habilitation/demande/{token}/abandonner")).into_response(),
        );
    }
    let now = state.now();
    let Some(req) = habilitation::open(&state.db, &token, now).await? else {
        return gone(&ctx);
    };
    habilitation::withdraw(&state.db, req.id, now).await?;
    Ok(Redirect::to(&format!("/habilitation/demande/{token}")).into_response())
}

// ---------------------------------------------------------------------------
// Administrators: instruction.

#[derive(Template)]
#[template(path = "admin_habilitations.html")]
pub struct ListView {
    pub shell: Shell,
    pub q: String,
    pub state: String,
    pub states: Vec<(&'static str, &'static str)>,
    pub rows: Vec<habilitation::Row>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub export_href: String,
}

impl ListView {
    pub fn date(&self, at: &Option<i64>) -> String {
        at.map(crate::time_fr::date).unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    etat: String,
    page: Option<i64>,
}

const PAGE: i64 = 50;

/// `GET /admin/habilitations`.
pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Query(lq): Query<ListQuery>,
) -> AppResult<Response> {
    let q: String = lq.q.trim().chars().take(100).collect();
    let status = Status::parse(&lq.etat);
    let page = lq.page.unwrap_or(1).max(1);
    let (rows, total) = habilitation::list(&state.db, status, &q, PAGE, (page - 1) * PAGE).await?;
    let export = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", &q)
        .append_pair("etat", status.map_or("", Status::key))
        .finish();
    render(&ListView {
        shell: Shell::new(&ctx, "Demandes d'habilitation"),
        q,
        state: status.map_or("", Status::key).to_owned(),
        states: Status::ALL.iter().map(|s| (s.key(), s.label())).collect(),
        rows,
        total,
        page,
        pages: (total + PAGE - 1) / PAGE,
        export_href: format!("/admin/habilitations.csv?{export}"),
    })
}

/// `GET /admin/habilitations.csv`: the list, same filters, every page.
pub async fn export(
    State(state): State<AppState>,
    _a: Admin,
    Query(lq): Query<ListQuery>,
) -> AppResult<Response> {
    let (rows, _) =
        habilitation::list(&state.db, Status::parse(&lq.etat), lq.q.trim(), 100_000, 0).await?;
    crate::web::views::csv_download(
        "habilitations.csv",
        &[
            "Numéro",
            "Structure",
            "SIRET",
            "Adresse e-mail",
            "État",
            "Code de l'état",
            "Envoyée le",
        ],
        rows.iter().map(|r| {
            vec![
                Cell::Int(r.id),
                Cell::Text(&r.name),
                Cell::Code(&r.siret),
                Cell::Text(&r.email),
                Cell::Text(r.status.label()),
                Cell::Text(r.status.key()),
                r.submitted_at.map_or(Cell::Empty, Cell::Date),
            ]
        }),
    )
}

#[derive(Template)]
#[template(path = "admin_habilitation.html")]
pub struct ShowView {
    pub shell: Shell,
    pub req: Request,
    pub kind_label: &'static str,
    pub messages: Vec<Message>,
    pub errors: FormErrors,
    pub message: String,
    /// The decision chosen, kept when the form comes back with an error.
    pub decision: String,
}

async fn show_view(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    errors: FormErrors,
    message: String,
) -> AppResult<ShowView> {
    let req = habilitation::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(ShowView {
        shell: Shell::new(ctx, format!("Demande n° {id}")),
        kind_label: StructureKind::parse(&req.details.kind)
            .map(StructureKind::label)
            .unwrap_or(""),
        messages: habilitation::messages(&state.db, id).await?,
        req,
        errors,
        message,
        decision: String::new(),
    })
}

/// `GET /admin/habilitations/{hid}`.
pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    render(&show_view(&state, &ctx, id, FormErrors::default(), String::new()).await?)
}

/// `POST /admin/habilitations/{hid}/message`.
pub async fn admin_message(
    State(state): State<AppState>,
    ctx: Ctx,
    Admin(s): Admin,
    Path(id): Path<i64>,
    AppForm(f): AppForm<MessageForm>,
) -> AppResult<Response> {
    let mut errors = FormErrors::default();
    let result = match habilitation::message_text(&f.message) {
        Ok(body) => {
            habilitation::post_message(&state.db, id, Some(s.account_id), &body, state.now())
                .await
                .map_err(|e| match e {
                    HabilitationError::Refused(m) => Ok(m),
                    HabilitationError::Db(e) => Err(e),
                })
        }
        Err(e) => Err(Ok(e.to_owned())),
    };
    match result {
        Ok(()) => {
            // The requester is told, with the text (the message is kept whatever
            // happens to the email).
            if let Some(req) = habilitation::find(&state.db, id).await? {
                let mail = messages::habilitation_message_to_requester(
                    &req.email,
                    &structure_name(&req.details),
                    &habilitation::message_text(&f.message).unwrap_or_default(),
                );
                if let Err(e) = state.mailer.send(mail).await {
                    tracing::warn!(demande = id, cause = %e, "message d'un administrateur : e-mail au demandeur non envoyé");
                }
            }
            Ok(Redirect::to(&format!("/admin/habilitations/{id}#messages")).into_response())
        }
        Err(Ok(m)) => {
            errors.add("message", m);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &show_view(&state, &ctx, id, errors, f.message).await?,
            )
        }
        Err(Err(e)) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    decision: String,
    message: String,
}

/// `POST /admin/habilitations/{hid}/decision`: request changes, accept or refuse
/// (TOTP confirmed again after 15 minutes idle).
pub async fn decide(
    State(state): State<AppState>,
    ctx: Ctx,
    Admin(s): Admin,
    Path(id): Path<i64>,
    AppForm(f): AppForm<DecisionForm>,
) -> AppResult<Response> {
    if let Some(r) = step_up_needed(&s, &format!("/admin/habilitations/{id}")) {
        return Ok(r);
    }
    let now = state.now();
    let text = f.message.trim().to_owned();
    // A missing choice or message: the form again, the text and the choice kept.
    let mut errors = FormErrors::default();
    let decision = match f.decision.as_str() {
        "modifications" | "refuser" if text.is_empty() => {
            errors.add(
                "message",
                "Écrivez au demandeur ce qu'il doit changer, ou la raison du refus : il la lira avec la décision.",
            );
            None
        }
        "modifications" => Some(Decision::RequestChanges(text)),
        "refuser" => Some(Decision::Refuse(text)),
        "accepter" => Some(Decision::Accept),
        _ => {
            errors.add(
                "d-modif",
                "Choisissez une décision : demander des modifications, accepter ou refuser.",
            );
            None
        }
    };
    let Some(decision) = decision else {
        let mut view = show_view(&state, &ctx, id, errors, f.message).await?;
        view.decision = f.decision;
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
    };
    let req = habilitation::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let accepted = match habilitation::decide(&state.db, id, s.account_id, &decision, now).await {
        Ok(a) => a,
        Err(HabilitationError::Refused(m)) => {
            let mut errors = FormErrors::default();
            errors.add("message", m);
            return render_status(
                StatusCode::CONFLICT,
                &show_view(&state, &ctx, id, errors, f.message).await?,
            );
        }
        Err(HabilitationError::Db(e)) => return Err(e.into()),
    };
    let base = state.config.public_url();
    let mail = match (&decision, &accepted) {
        (Decision::Accept, Some(a)) => {
            if let Some(token) = &a.referent_token {
                state
                    .mailer
                    .send(messages::invitation(
                        &a.referent_email,
                        &a.structure_name,
                        &format!("{base}/activation/{token}"),
                    ))
                    .await
                    .map_err(|e| AppError::Internal(format!("invitation du référent : {e}")))?;
            }
            messages::habilitation_decision(
                &req.email,
                &req.details.name,
                "acceptée",
                &format!(
                    "La personne référente reçoit une invitation pour activer son compte. {} la leur une fois leur formation enregistrée.",
                    match a.to_train {
                        0 => "Les futurs aidants recevront".to_owned(),
                        1 => "Le futur aidant recevra".to_owned(),
                        n => format!("Les {n} futurs aidants recevront"),
                    }
                ),
            )
        }
        (Decision::Refuse(reason), _) => {
            messages::habilitation_decision(&req.email, &req.details.name, "refusée", reason)
        }
        (Decision::RequestChanges(m), _) => messages::habilitation_decision(
            &req.email,
            &req.details.name,
            "à compléter",
            &format!(
                "{m}\n\nOuvrez le lien de votre demande pour la modifier puis l'envoyer de nouveau."
            ),
        ),
        (Decision::Accept, None) => {
            return Err(AppError::Internal("acceptation sans résultat".into()));
        }
    };
    state
        .mailer
        .send(mail)
        .await
        .map_err(|e| AppError::Internal(format!("e-mail de décision : {e}")))?;
    tracing::info!(demande = id, by = s.account_id, decision = %f.decision, "décision d'habilitation");
    Ok(Redirect::to(&format!("/admin/habilitations/{id}")).into_response())
}

// ---------------------------------------------------------------------------
// Administrators: training results.

#[derive(Template)]
#[template(path = "admin_formations.html")]
pub struct TrainingView {
    pub shell: Shell,
    pub q: String,
    pub state: String,
    pub states: Vec<(&'static str, &'static str)>,
    pub rows: Vec<Trainee>,
    pub errors: FormErrors,
    pub import_errors: Vec<formations::LineError>,
    pub done: Option<String>,
}

async fn training_view(
    state: &AppState,
    ctx: &Ctx,
    q: &str,
    st: Option<TState>,
) -> AppResult<TrainingView> {
    Ok(TrainingView {
        shell: Shell::new(ctx, "Formation des aidants"),
        q: q.to_owned(),
        state: st.map_or("", TState::key).to_owned(),
        states: TState::ALL.iter().map(|s| (s.key(), s.label())).collect(),
        rows: formations::list(&state.db, st, q, 500).await?,
        errors: FormErrors::default(),
        import_errors: Vec::new(),
        done: None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TrainingQuery {
    q: String,
    etat: String,
    enregistre: String,
}

/// `GET /admin/formations`.
pub async fn trainings(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Query(tq): Query<TrainingQuery>,
) -> AppResult<Response> {
    let q: String = tq.q.trim().chars().take(100).collect();
    let mut view = training_view(&state, &ctx, &q, TState::parse(&tq.etat)).await?;
    if tq.enregistre == "1" {
        view.done = Some("Résultat enregistré.".into());
    }
    render(&view)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResultForm {
    etat: String,
    date: String,
}

async fn send_invitations(state: &AppState, list: &[formations::Invitation]) -> AppResult<()> {
    let base = state.config.public_url();
    for inv in list {
        state
            .mailer
            .send(messages::invitation(
                &inv.email,
                &inv.structure_name,
                &format!("{base}/activation/{}", inv.token),
            ))
            .await
            .map_err(|e| AppError::Internal(format!("invitation après formation : {e}")))?;
    }
    Ok(())
}

fn today(now: i64) -> String {
    crate::time_fr::iso(now).chars().take(10).collect()
}

/// `POST /admin/formations/{aid}`: one person's result.
pub async fn record(
    State(state): State<AppState>,
    ctx: Ctx,
    Admin(s): Admin,
    Path(account_id): Path<i64>,
    AppForm(f): AppForm<ResultForm>,
) -> AppResult<Response> {
    if let Some(r) = step_up_needed(&s, "/admin/formations") {
        return Ok(r);
    }
    let now = state.now();
    let result = match formations::check(&f.etat, &f.date, &today(now)) {
        Ok(r) => r,
        Err(e) => {
            let mut view = training_view(&state, &ctx, "", None).await?;
            view.errors.add("date", e);
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
    };
    let invitation =
        match formations::record(&state.db, account_id, &result, s.account_id, now).await {
            Ok(i) => i,
            Err(crate::db::Error::NotFound) => return Err(AppError::NotFound),
            Err(e) => return Err(e.into()),
        };
    send_invitations(&state, invitation.as_slice()).await?;
    Ok(Redirect::to("/admin/formations?enregistre=1").into_response())
}

/// `POST /admin/formations/import` (multipart): results by CSV, all or nothing.
pub async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    Admin(s): Admin,
    upload: crate::web::forms::Upload,
) -> AppResult<Response> {
    if let Some(r) = step_up_needed(&s, "/admin/formations") {
        return Ok(r);
    }
    let mut view = training_view(&state, &ctx, "", None).await?;
    let Some(file) = upload.file("fichier") else {
        view.errors.add(
            "fichier",
            "Choisissez le fichier CSV des résultats (colonnes email, etat, date).",
        );
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
    };
    match formations::import_csv(&state.db, &file.data, s.account_id, state.now()).await? {
        Ok(invitations) => {
            send_invitations(&state, &invitations).await?;
            tracing::info!(
                by = s.account_id,
                invitations = invitations.len(),
                "résultats de formation importés"
            );
            let mut view = training_view(&state, &ctx, "", None).await?;
            view.done = Some(format!(
                "Fichier importé : {} aux aidants formés.",
                crate::domain::count(
                    invitations.len(),
                    "invitation envoyée",
                    "invitations envoyées"
                )
            ));
            render(&view)
        }
        Err(errors) => {
            view.import_errors = errors;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}

/// The structure's name in emails, or « votre structure » while the draft has none.
fn structure_name(d: &habilitation::Details) -> String {
    if d.name.trim().is_empty() {
        "votre structure".to_owned()
    } else {
        d.name.trim().to_owned()
    }
}
