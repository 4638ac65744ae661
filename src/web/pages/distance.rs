//! The aidant's side of a mandate given at a distance: prepare it (démarches,
//! duration, the person's mobile or email), send the single-use link, follow it
//! until the person consents, cancel it.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::mandats::ChoiceForm;
use super::step_up_needed;
use crate::mandats::distance::{self, Channel, Link, LinkState, Prepared};
use crate::mandats::{self, Actor, Demarche, Duree, MandatError};
use crate::web::AppState;
use crate::web::access::Member;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FormErrors;
use crate::web::views::{Shell, render, render_status};

fn actor(m: &Member) -> Actor {
    Actor {
        account_id: m.session.account_id,
        structure_id: m.structure_id,
    }
}

#[derive(Template)]
#[template(path = "distance_form.html")]
pub struct FormView {
    pub shell: Shell,
    pub demarches: Vec<(Demarche, bool)>,
    pub durees: Vec<(Duree, bool)>,
    pub sms_enabled: bool,
    pub channel: &'static str,
    pub telephone: String,
    pub email: String,
    /// A renewal at a distance for a known usager: (id, name).
    pub usager: Option<(i64, String)>,
    pub links: Vec<Link>,
    pub now: i64,
    pub errors: FormErrors,
}

impl FormView {
    pub fn state_of(&self, l: &Link) -> &'static str {
        l.state(self.now).label()
    }
}

/// What was typed, kept to show the form again.
struct Typed {
    choice: ChoiceForm,
    channel: String,
    telephone: String,
    email: String,
    usager: Option<i64>,
}

impl Typed {
    fn parse(body: &[u8]) -> Typed {
        let mut t = Typed {
            choice: ChoiceForm::parse(body),
            channel: String::new(),
            telephone: String::new(),
            email: String::new(),
            usager: None,
        };
        for (k, v) in url::form_urlencoded::parse(body) {
            match k.as_ref() {
                "canal" => t.channel = v.chars().take(16).collect(),
                "telephone" => t.telephone = v.chars().take(64).collect(),
                "email" => t.email = v.trim().chars().take(254).collect(),
                "usager" => t.usager = v.parse().ok(),
                _ => {}
            }
        }
        t
    }
}

async fn usager_name(
    state: &AppState,
    m: &Member,
    uid: Option<i64>,
) -> AppResult<Option<(i64, String)>> {
    let Some(uid) = uid else {
        return Ok(None);
    };
    Ok(
        mandats::usager_for_structure(&state.db, m.structure_id, uid)
            .await?
            .map(|u| (uid, u.identity.display_name())),
    )
}

async fn form_view(
    state: &AppState,
    ctx: &Ctx,
    m: &Member,
    typed: Option<&Typed>,
    usager: Option<(i64, String)>,
    errors: FormErrors,
) -> AppResult<FormView> {
    let allowed = mandats::allowed_demarches(&state.db, m.structure_id).await?;
    let now = state.now();
    let sms_enabled = state.sms.enabled();
    Ok(FormView {
        shell: Shell::new(ctx, "Mandat à distance"),
        demarches: allowed
            .iter()
            .map(|d| {
                (
                    *d,
                    typed.is_some_and(|t| t.choice.demarches.iter().any(|k| k == d.key())),
                )
            })
            .collect(),
        durees: Duree::ALL
            .iter()
            .map(|d| {
                (
                    *d,
                    typed.is_some_and(|t| t.choice.duree == d.days().to_string()),
                )
            })
            .collect(),
        sms_enabled,
        channel: match typed.map(|t| t.channel.as_str()) {
            Some("email") => "email",
            Some("sms") if sms_enabled => "sms",
            _ if sms_enabled => "sms",
            _ => "email",
        },
        telephone: typed.map(|t| t.telephone.clone()).unwrap_or_default(),
        email: typed.map(|t| t.email.clone()).unwrap_or_default(),
        usager,
        links: distance::recent(&state.db, m.structure_id, now).await?,
        now,
        errors,
    })
}

pub async fn form(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    RawQuery(q): RawQuery,
) -> AppResult<Response> {
    let uid = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "usager")
        .and_then(|(_, v)| v.parse::<i64>().ok());
    let usager = usager_name(&state, &m, uid).await?;
    if uid.is_some() && usager.is_none() {
        return Err(AppError::NotFound);
    }
    render(&form_view(&state, &ctx, &m, None, usager, FormErrors::default()).await?)
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    body: Bytes,
) -> AppResult<Response> {
    if let Some(r) = step_up_needed(&m.session, "/mandats/a-distance") {
        return Ok(r);
    }
    let typed = Typed::parse(&body);
    let usager = usager_name(&state, &m, typed.usager).await?;
    let allowed = mandats::allowed_demarches(&state.db, m.structure_id).await?;
    let mut errors = FormErrors::default();
    let choice = typed.choice.check(&allowed, &mut errors);
    if typed.usager.is_some() && usager.is_none() {
        errors.add(
            "demarches",
            "Cette personne n'a pas de mandat avec votre structure : préparez un nouveau mandat.",
        );
    }
    let channel = match Channel::parse(&typed.channel) {
        Some(Channel::Sms) if !state.sms.enabled() => {
            errors.add(
                "canal",
                "L'envoi par SMS n'est pas disponible : choisissez l'e-mail.",
            );
            None
        }
        Some(c) => Some(c),
        None => {
            errors.add(
                "canal",
                "Choisissez comment envoyer le lien : SMS ou e-mail.",
            );
            None
        }
    };
    let destination = match channel {
        Some(Channel::Sms) => match crate::sms::parse_mobile(&typed.telephone) {
            Ok(n) => Some((crate::sms::mask_mobile(&n), n)),
            Err(e) => {
                errors.add("telephone", e);
                None
            }
        },
        Some(Channel::Email) => match crate::domain::Email::parse(&typed.email) {
            Ok(e) => {
                let e = e.as_str().to_owned();
                Some((crate::sms::mask_email(&e), e))
            }
            Err(_) => {
                errors.add(
                    "email",
                    "Saisissez l'adresse e-mail de la personne, par exemple prenom.nom@exemple.fr.",
                );
                None
            }
        },
        None => None,
    };
    let (Some((list, duree)), Some(channel), Some((masked, destination)), true) =
        (choice, channel, destination, errors.is_empty())
    else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_view(&state, &ctx, &m, Some(&typed), usager, errors).await?,
        );
    };
    let now = state.now();
    let prepared = Prepared {
        demarches: &list,
        duree,
        usager_id: typed.usager,
        channel,
        destination: &destination,
        destination_masked: &masked,
    };
    let (id, token) = match distance::prepare(&state.db, actor(&m), &prepared, now).await {
        Ok(x) => x,
        Err(MandatError::Refused(msg)) => {
            let mut errors = FormErrors::default();
            errors.add("demarches", msg);
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_view(&state, &ctx, &m, Some(&typed), usager, errors).await?,
            );
        }
        Err(MandatError::Db(e)) => return Err(e.into()),
    };
    let link = distance::find(&state.db, m.structure_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let url = state.link(&format!("/consentement/{token}"));
    let sent = match channel {
        Channel::Sms => state
            .sms
            .send(
                &crate::sms::Sms {
                    to: destination.clone(),
                    text: distance::sms_text(&link, &url),
                },
                id,
            )
            .await
            .map(Some)
            .map_err(|e| e.to_string()),
        Channel::Email => state
            .mailer
            .send(crate::mail::messages::mandate_link(
                &destination,
                &link.aidant_name,
                &link.structure_name,
                &url,
            ))
            .await
            .map(|()| None)
            .map_err(|e| e.to_string()),
    };
    match sent {
        Ok(provider_id) => {
            distance::record_sent(&state.db, &link, provider_id.as_deref(), now).await?;
            Ok(Redirect::to(&format!("/mandats/a-distance/{id}?info=envoye")).into_response())
        }
        Err(cause) => {
            // Nothing half-done: the link nobody received is cancelled.
            tracing::warn!(request_id = %ctx.request_id, lien = id, cause = %cause, "lien de mandat à distance non envoyé");
            distance::cancel(&state.db, actor(&m), id, now).await?;
            let mut errors = FormErrors::default();
            errors.add(
                "canal",
                match channel {
                    Channel::Sms => "Le SMS n'a pas pu être envoyé. Aucun lien n'est actif : réessayez, ou envoyez le lien par e-mail.",
                    Channel::Email => "L'e-mail n'a pas pu être envoyé. Aucun lien n'est actif : réessayez dans quelques minutes.",
                },
            );
            render_status(
                StatusCode::BAD_GATEWAY,
                &form_view(&state, &ctx, &m, Some(&typed), usager, errors).await?,
            )
        }
    }
}

#[derive(Template)]
#[template(path = "distance_lien.html")]
pub struct LinkView {
    pub shell: Shell,
    pub link: Link,
    pub state: LinkState,
    pub sent: bool,
}

impl LinkView {
    pub fn waiting(&self) -> bool {
        self.state == LinkState::Waiting
    }
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(lid): Path<i64>,
    RawQuery(q): RawQuery,
) -> AppResult<Response> {
    let link = distance::find(&state.db, m.structure_id, lid)
        .await?
        .ok_or(AppError::NotFound)?;
    render(&LinkView {
        shell: Shell::new(&ctx, "Mandat à distance"),
        state: link.state(state.now()),
        sent: q.unwrap_or_default().contains("info=envoye"),
        link,
    })
}

pub async fn cancel(
    State(state): State<AppState>,
    m: Member,
    Path(lid): Path<i64>,
) -> AppResult<Response> {
    if distance::find(&state.db, m.structure_id, lid)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    distance::cancel(&state.db, actor(&m), lid, state.now()).await?;
    Ok(Redirect::to(&format!("/mandats/a-distance/{lid}")).into_response())
}
