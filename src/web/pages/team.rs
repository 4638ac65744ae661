//! A structure's team, managed by its référents (and by administrators).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::step_up_needed;
use crate::accounts::team::TeamOutcome;
use crate::accounts::{self, AccountError};
use crate::domain::{Email, Role, parse_name};
use crate::mail::messages;
use crate::structures;
use crate::web::AppState;
use crate::web::access::Manager;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{AppForm, FormErrors, PageQuery};
use crate::web::views::{
    ConfirmView, Confirmed, InviteView, MessageView, Shell, TeamView, render, render_status,
};

async fn load_structure(state: &AppState, id: i64) -> AppResult<structures::Structure> {
    structures::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let structure = load_structure(&state, m.structure_id).await?;
    let members = accounts::members(&state.db, m.structure_id).await?;
    let other_structures = accounts::team::managed_by(&state.db, m.session.account_id)
        .await?
        .into_iter()
        .filter(|(id, _)| *id != m.structure_id)
        .collect();
    render(&TeamView {
        other_structures,
        shell: Shell::new(&ctx, format!("Équipe de {}", structure.name))
            .with_notice(q.info.as_deref()),
        structure,
        members,
        me: m.session.account_id,
    })
}

pub async fn invite_form(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let here = format!("/structures/{}/equipe/inviter", m.structure_id);
    if let Some(redirect) = step_up_needed(&m.session, &here) {
        return Ok(redirect);
    }
    let structure = load_structure(&state, m.structure_id).await?;
    render(&InviteView {
        shell: Shell::new(&ctx, "Inviter dans l'équipe").with_notice(q.info.as_deref()),
        structure,
        full_name: String::new(),
        email: String::new(),
        role: q.role.unwrap_or_else(|| "aidant".to_owned()),
        errors: FormErrors::default(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteForm {
    full_name: String,
    email: String,
    role: String,
}

pub async fn invite(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    AppForm(f): AppForm<InviteForm>,
) -> AppResult<Response> {
    let sid = m.structure_id;
    if let Some(redirect) = step_up_needed(&m.session, &format!("/structures/{sid}/equipe/inviter"))
    {
        return Ok(redirect);
    }
    let structure = load_structure(&state, sid).await?;
    let mut errors = FormErrors::default();
    let name = errors.check(
        "full_name",
        parse_name(
            &f.full_name,
            "Saisissez le prénom et le nom de la personne.",
        ),
    );
    let email = errors.check("email", Email::parse(&f.email));
    let role = errors.check("role", Role::parse(&f.role));
    let (Some(name), Some(email), Some(role)) = (name, email, role) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &InviteView {
                shell: Shell::new(&ctx, "Inviter dans l'équipe"),
                structure,
                full_name: f.full_name.trim().to_owned(),
                email: f.email.trim().to_owned(),
                role: f.role,
                errors,
            },
        );
    };
    // The form sends an email: limited per address and per référent.
    if let Err(wait) = accounts::throttle::email_allowed(
        &state.db,
        email.as_str(),
        &format!("compte:{}", m.session.account_id),
        state.now(),
    )
    .await?
    {
        errors.add("email", accounts::throttle::email_refused_text(wait));
        let view = invite_view(&ctx, structure, name, &email, role, errors);
        return render_status(StatusCode::TOO_MANY_REQUESTS, &view);
    }
    let outcome = accounts::team::add_to_team(
        &state.db,
        sid,
        &email,
        &name,
        role,
        m.session.account_id,
        state.now(),
    )
    .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(AccountError::Refused(message)) => {
            errors.add("email", message);
            let view = invite_view(&ctx, structure, name, &email, role, errors);
            return render_status(StatusCode::CONFLICT, &view);
        }
        Err(e) => return Err(e.into()),
    };
    let (mail, info) = match outcome {
        TeamOutcome::Invited { token, account_id } => {
            tracing::info!(
                structure_id = sid,
                account_id,
                by = m.session.account_id,
                "invitation envoyée"
            );
            let link = state.link(&format!("/activation/{token}"));
            (
                messages::invitation(email.as_str(), &structure.name, &link),
                "invitation",
            )
        }
        TeamOutcome::ToTrain { account_id } => {
            tracing::info!(
                structure_id = sid,
                account_id,
                by = m.session.account_id,
                "futur aidant à former"
            );
            return Ok(
                Redirect::to(&format!("/structures/{sid}/equipe?info=a-former")).into_response(),
            );
        }
        TeamOutcome::JoinRequested { account_id } => {
            tracing::info!(
                structure_id = sid,
                account_id,
                by = m.session.account_id,
                "demande de rattachement"
            );
            (
                messages::join_request(email.as_str(), &structure.name, &state.link("/compte")),
                "rattachement",
            )
        }
    };
    let info = match state.mailer.send(mail).await {
        Ok(()) => info,
        Err(e) => {
            tracing::error!(request_id = %ctx.request_id, cause = %e, "e-mail d'invitation non envoyé");
            "envoi-echoue"
        }
    };
    Ok(Redirect::to(&format!("/structures/{sid}/equipe?info={info}")).into_response())
}

/// The invitation form again, with what was typed and why it was refused.
fn invite_view(
    ctx: &Ctx,
    structure: crate::structures::Structure,
    full_name: String,
    email: &Email,
    role: Role,
    errors: FormErrors,
) -> InviteView {
    InviteView {
        shell: Shell::new(ctx, "Inviter dans l'équipe"),
        structure,
        full_name,
        email: email.to_string(),
        role: role.key().to_owned(),
        errors,
    }
}

fn refused(ctx: &Ctx, sid: i64, message: &'static str) -> AppResult<Response> {
    refused_status(ctx, sid, StatusCode::CONFLICT, message)
}

fn refused_status(ctx: &Ctx, sid: i64, status: StatusCode, message: &str) -> AppResult<Response> {
    render_status(
        status,
        &MessageView {
            shell: Shell::new(ctx, "Action impossible"),
            heading: "Action impossible".to_owned(),
            paragraphs: vec![message.to_owned()],
            link: Some((
                format!("/structures/{sid}/equipe"),
                "Revenir à l'équipe".to_owned(),
            )),
        },
    )
}

async fn set_active(
    state: AppState,
    ctx: Ctx,
    m: Manager,
    aid: i64,
    active: bool,
) -> AppResult<Response> {
    let sid = m.structure_id;
    if let Some(redirect) = step_up_needed(&m.session, &format!("/structures/{sid}/equipe")) {
        return Ok(redirect);
    }
    match accounts::set_member_active(
        &state.db,
        sid,
        aid,
        active,
        m.session.account_id,
        state.now(),
    )
    .await
    {
        Ok(()) => {
            tracing::info!(
                structure_id = sid,
                account_id = aid,
                active,
                by = m.session.account_id,
                "accès modifié"
            );
            let info = if active { "reactive" } else { "desactive" };
            Ok(Redirect::to(&format!("/structures/{sid}/equipe?info={info}")).into_response())
        }
        Err(AccountError::Refused(message)) => refused(&ctx, sid, message),
        Err(e) => Err(e.into()),
    }
}

/// Asks before deactivating a member of the team.
pub async fn deactivate_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_, aid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let sid = m.structure_id;
    let action = format!("/structures/{sid}/equipe/{aid}/desactiver");
    if let Some(redirect) = step_up_needed(&m.session, &action) {
        return Ok(redirect);
    }
    let member = accounts::members(&state.db, sid)
        .await?
        .into_iter()
        .find(|x| x.account_id == aid && x.active)
        .ok_or(AppError::NotFound)?;
    let structure = structures::find(&state.db, sid)
        .await?
        .ok_or(AppError::NotFound)?;
    let heading = format!("Désactiver l'accès de {} ?", member.full_name);
    render(&ConfirmView {
        shell: Shell::new(&ctx, heading.clone()),
        heading,
        paragraphs: vec![
            format!(
                "Vous allez désactiver l'accès de {} à {} : ses sessions dans la structure \
                 prennent fin tout de suite, et cette personne ne pourra plus agir au nom des \
                 usagers de la structure.",
                member.full_name, structure.name
            ),
            "Ses mandats et le journal restent. Vous pourrez réactiver son accès plus tard \
             depuis la page de l'équipe."
                .to_owned(),
        ],
        action,
        confirm_label: "Oui, désactiver l'accès".to_owned(),
        cancel_href: format!("/structures/{sid}/equipe"),
    })
}

pub async fn deactivate(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_, aid)): Path<(i64, i64)>,
    AppForm(f): AppForm<Confirmed>,
) -> AppResult<Response> {
    // Never in one click: without « Oui » on the confirmation page, back to it.
    if !f.yes() {
        let sid = m.structure_id;
        return Ok(
            Redirect::to(&format!("/structures/{sid}/equipe/{aid}/desactiver")).into_response(),
        );
    }
    set_active(state, ctx, m, aid, false).await
}

pub async fn reactivate(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_, aid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    set_active(state, ctx, m, aid, true).await
}

/// An aidant or référent of the structure also records mediation activities: their
/// mediator profile is created (their role and mandates do not change).
pub async fn enable_mediation(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_, aid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let sid = m.structure_id;
    let member = accounts::members(&state.db, sid)
        .await?
        .into_iter()
        .find(|x| x.account_id == aid && x.active);
    let Some(member) = member else {
        return refused(
            &ctx,
            sid,
            "Cette personne ne fait pas partie de l'équipe active de la structure.",
        );
    };
    if !member.mediateur {
        let mut tx = state.db.begin().await?;
        crate::activites::ensure_profile(&mut tx, aid, state.now()).await?;
        tx.commit().await?;
    }
    Ok(Redirect::to(&format!("/structures/{sid}/equipe?info=mediation")).into_response())
}

pub async fn reset_totp(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_, aid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let sid = m.structure_id;
    if let Some(redirect) = step_up_needed(&m.session, &format!("/structures/{sid}/equipe")) {
        return Ok(redirect);
    }
    if aid == m.session.account_id {
        return refused(
            &ctx,
            sid,
            "Vous ne pouvez pas réinitialiser votre propre double authentification ici : demandez-le à un autre référent ou à un administrateur.",
        );
    }
    // The reset emails the member a link: limited per address and per référent.
    let member_email = accounts::find(&state.db, aid)
        .await?
        .map(|a| a.email)
        .unwrap_or_default();
    if let Err(wait) = accounts::throttle::email_allowed(
        &state.db,
        &member_email,
        &format!("compte:{}", m.session.account_id),
        state.now(),
    )
    .await?
    {
        return refused_status(
            &ctx,
            sid,
            StatusCode::TOO_MANY_REQUESTS,
            &accounts::throttle::email_refused_text(wait),
        );
    }
    match accounts::reset_totp(&state.db, sid, aid, m.session.account_id, state.now()).await {
        Ok((email, token)) => {
            tracing::info!(
                structure_id = sid,
                account_id = aid,
                by = m.session.account_id,
                "double authentification réinitialisée"
            );
            let link = state.link(&format!("/activation/{token}"));
            if let Err(e) = state.mailer.send(messages::totp_reset(&email, &link)).await {
                tracing::error!(request_id = %ctx.request_id, cause = %e, "e-mail de réinitialisation 2FA non envoyé");
            }
            Ok(
                Redirect::to(&format!("/structures/{sid}/equipe?info=2fa-reinitialisee"))
                    .into_response(),
            )
        }
        Err(AccountError::Refused(message)) => refused(&ctx, sid, message),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OtherStructureForm {
    structure_id: String,
}

/// `POST /structures/{sid}/equipe/{aid}/structures`: adds a member to another
/// structure the référent manages.
pub async fn add_to_other_structure(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Path((_, aid)): Path<(i64, i64)>,
    AppForm(f): AppForm<OtherStructureForm>,
) -> AppResult<Response> {
    let sid = m.structure_id;
    if let Some(redirect) = step_up_needed(&m.session, &format!("/structures/{sid}/equipe")) {
        return Ok(redirect);
    }
    let Ok(to) = f.structure_id.trim().parse::<i64>() else {
        return refused(&ctx, sid, "Choisissez une structure dans la liste.");
    };
    match accounts::team::add_to_other_structure(
        &state.db,
        sid,
        aid,
        to,
        m.session.account_id,
        state.now(),
    )
    .await
    {
        Ok(()) => {
            tracing::info!(
                structure_id = sid,
                account_id = aid,
                to,
                by = m.session.account_id,
                "membre ajouté à une autre structure"
            );
            Ok(
                Redirect::to(&format!("/structures/{sid}/equipe?info=autre-structure"))
                    .into_response(),
            )
        }
        Err(AccountError::Refused(message)) => refused(&ctx, sid, message),
        Err(e) => Err(e.into()),
    }
}
