//! Sign-in, sign-out, password reset, activation links and TOTP step-up.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::accounts::second_factor::{self, Verdict};
use crate::accounts::tokens::{Purpose, TokenState};
use crate::accounts::{
    self, ActivationErrors, ActivationInput, ActivationResult, LoginError, LoginInput, throttle,
};
use crate::domain::Email;
use crate::mail::messages;
use crate::sessions;
use crate::web::AppState;
use crate::web::access::SignedIn;
use crate::web::context::{Ctx, clear_session_cookie, session_cookie};
use crate::web::error::AppResult;
use crate::web::forms::{AppForm, FormErrors, PageQuery, safe_next};
use crate::web::views::{
    ActivationView, Enrolment, ForgotView, LoginView, MessageView, Shell, StepUpView, render,
    render_status,
};

pub async fn login_form(ctx: Ctx, Query(q): Query<PageQuery>) -> AppResult<Response> {
    if ctx.session.is_some() {
        return Ok(Redirect::to(&safe_next(q.suivant.as_deref())).into_response());
    }
    render(&LoginView {
        shell: Shell::new(&ctx, "Se connecter").with_notice(q.info.as_deref()),
        email: String::new(),
        next: safe_next(q.suivant.as_deref()),
        failure: None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    code: String,
    suivant: String,
}

pub async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    AppForm(f): AppForm<LoginForm>,
) -> AppResult<Response> {
    let now = state.now();
    let input = LoginInput {
        email: &f.email,
        password: &f.password,
        code: &f.code,
        client_ip: &ctx.client_ip,
    };
    let result = accounts::authenticate(&state.db, &state.dummy_hash, input, now).await;
    let (status, failure) = match result {
        Ok(account) => {
            // A new session id at every sign-in; the previous one of this browser ends.
            if let Some(old) = &ctx.session {
                sessions::delete(&state.db, &old.id_hash).await?;
            }
            let raw = sessions::create(&state.db, account.id, now).await?;
            tracing::info!(request_id = %ctx.request_id, account_id = account.id, "connexion réussie");
            let mut res = Redirect::to(&safe_next(Some(&f.suivant))).into_response();
            res.headers_mut().append(SET_COOKIE, session_cookie(&state, &raw));
            return Ok(res);
        }
        Err(LoginError::Invalid) => {
            tracing::info!(request_id = %ctx.request_id, "connexion refusée");
            (
                StatusCode::UNAUTHORIZED,
                "Adresse e-mail, mot de passe ou code incorrect. Vérifiez les trois puis recommencez : après 5 erreurs, la connexion à ce compte est bloquée 15 minutes.".to_owned(),
            )
        }
        Err(LoginError::Throttled(wait)) => {
            tracing::warn!(request_id = %ctx.request_id, "connexion bloquée : trop de tentatives");
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Trop de tentatives de connexion. Pour protéger le compte, attendez {} puis recommencez. Mot de passe oublié ? Utilisez le lien sous le formulaire.",
                    throttle::wait_text(wait)
                ),
            )
        }
        Err(LoginError::Busy) => {
            tracing::warn!(request_id = %ctx.request_id, "connexion différée : serveur occupé");
            return Ok(busy_response());
        }
        Err(LoginError::NoActiveStructure) => (
            StatusCode::FORBIDDEN,
            "Votre accès à Relais est désactivé dans toutes vos structures. Contactez le référent de votre structure pour le réactiver.".to_owned(),
        ),
        Err(LoginError::Db(e)) => return Err(e.into()),
    };
    render_status(
        status,
        &LoginView {
            shell: Shell::new(&ctx, "Se connecter"),
            email: f.email.trim().to_owned(),
            next: safe_next(Some(&f.suivant)),
            failure: Some(failure),
        },
    )
}

pub async fn logout(State(state): State<AppState>, SignedIn(s): SignedIn) -> AppResult<Response> {
    sessions::delete(&state.db, &s.id_hash).await?;
    let mut res = Redirect::to("/connexion?info=deconnecte").into_response();
    res.headers_mut()
        .append(SET_COOKIE, clear_session_cookie(&state));
    Ok(res)
}

pub async fn logout_everywhere(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
) -> AppResult<Response> {
    let n = sessions::delete_all_for_account(&state.db, s.account_id).await?;
    tracing::info!(
        account_id = s.account_id,
        sessions = n,
        "déconnexion de toutes les sessions"
    );
    let mut res = Redirect::to("/connexion?info=deconnecte-partout").into_response();
    res.headers_mut()
        .append(SET_COOKIE, clear_session_cookie(&state));
    Ok(res)
}

pub async fn forgot_form(ctx: Ctx) -> AppResult<Response> {
    render(&ForgotView {
        shell: Shell::new(&ctx, "Mot de passe oublié"),
        email: String::new(),
        errors: FormErrors::default(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ForgotForm {
    email: String,
}

pub async fn forgot(
    State(state): State<AppState>,
    ctx: Ctx,
    AppForm(f): AppForm<ForgotForm>,
) -> AppResult<Response> {
    let email = match Email::parse(&f.email) {
        Ok(e) => e,
        Err(m) => {
            let mut errors = FormErrors::default();
            errors.add("email", m);
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ForgotView {
                    shell: Shell::new(&ctx, "Mot de passe oublié"),
                    email: f.email.trim().to_owned(),
                    errors,
                },
            );
        }
    };
    // Each request may send an email: limited per address and per IP, whether or
    // not the account exists (the answer reveals nothing).
    if let Err(wait) =
        throttle::email_allowed(&state.db, email.as_str(), &ctx.client_ip, state.now()).await?
    {
        let mut errors = FormErrors::default();
        errors.add("email", throttle::email_refused_text(wait));
        return render_status(
            StatusCode::TOO_MANY_REQUESTS,
            &ForgotView {
                shell: Shell::new(&ctx, "Mot de passe oublié"),
                email: email.as_str().to_owned(),
                errors,
            },
        );
    }
    if let Some(token) = accounts::request_password_reset(&state.db, &email, state.now()).await? {
        let link = state.link(&format!("/activation/{token}"));
        if let Err(e) = state
            .mailer
            .send(messages::password_reset(email.as_str(), &link))
            .await
        {
            tracing::error!(request_id = %ctx.request_id, cause = %e, "e-mail de réinitialisation non envoyé");
        }
    }
    render(&MessageView {
        shell: Shell::new(&ctx, "Vérifiez votre messagerie"),
        heading: "Vérifiez votre messagerie".to_owned(),
        paragraphs: vec![
            format!("Si un compte Relais existe pour {email}, un e-mail vient de partir avec un lien valable une heure."),
            "Pensez à regarder dans les courriers indésirables. Rien reçu après 10 minutes ? Recommencez, ou demandez de l'aide au référent de votre structure.".to_owned(),
        ],
        link: Some(("/connexion".to_owned(), "Revenir à la connexion".to_owned())),
    })
}

fn activation_title(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Invitation => "Activer votre compte",
        Purpose::PasswordReset => "Choisir un nouveau mot de passe",
        Purpose::TotpEnrolment => "Configurer de nouveau la double authentification",
    }
}

fn token_problem(ctx: &Ctx, state: TokenState) -> AppResult<Response> {
    let (status, heading, text) = match state {
        TokenState::Used => (
            StatusCode::GONE,
            "Ce lien a déjà servi",
            "Chaque lien ne fonctionne qu'une fois. Si votre compte est déjà activé, connectez-vous. Sinon, demandez une nouvelle invitation au référent de votre structure.",
        ),
        TokenState::Expired => (
            StatusCode::GONE,
            "Ce lien a expiré",
            "Pour votre sécurité, ce lien n'est valable que peu de temps. Demandez une nouvelle invitation au référent de votre structure, ou un nouveau lien depuis « Mot de passe oublié ».",
        ),
        TokenState::TrainingPending => (
            StatusCode::FORBIDDEN,
            "Votre formation n'est pas encore enregistrée",
            "Un compte d'aidant s'active une fois la formation Aidants Connect suivie et enregistrée. Si vous l'avez suivie, demandez à votre référent de contacter l'organisme de formation ; vous recevrez alors un nouveau lien.",
        ),
        TokenState::Unknown => (
            StatusCode::NOT_FOUND,
            "Ce lien n'est pas valable",
            "Vérifiez que vous avez copié le lien en entier depuis l'e-mail reçu. S'il ne fonctionne toujours pas, demandez un nouveau lien.",
        ),
    };
    render_status(
        status,
        &MessageView {
            shell: Shell::new(ctx, heading),
            heading: heading.to_owned(),
            paragraphs: vec![text.to_owned()],
            link: Some(("/connexion".to_owned(), "Aller à la connexion".to_owned())),
        },
    )
}

fn activation_view(
    ctx: &Ctx,
    token: &str,
    act: &accounts::Activation,
    errors: FormErrors,
) -> ActivationView {
    let enrolment = act.new_totp_secret.as_ref().map(|secret| {
        let uri = accounts::totp::otpauth_uri(secret, &act.account.email);
        Enrolment {
            qr_svg: accounts::totp::qr_svg(&uri).unwrap_or_default(),
            secret: accounts::totp::grouped(secret),
            uri,
        }
    });
    ActivationView {
        shell: Shell::new(ctx, activation_title(act.token.purpose)),
        action: format!("/activation/{token}"),
        email: act.account.email.clone(),
        sets_password: act.sets_password(),
        enrolment,
        errors,
    }
}

pub async fn activation_form(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    match accounts::open_activation(&state.db, &token, state.now()).await? {
        Ok(act) => render(&activation_view(&ctx, &token, &act, FormErrors::default())),
        Err(problem) => token_problem(&ctx, problem),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActivationForm {
    password: String,
    password_confirmation: String,
    code: String,
}

pub async fn activation(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    AppForm(f): AppForm<ActivationForm>,
) -> AppResult<Response> {
    let now = state.now();
    let act = match accounts::open_activation(&state.db, &token, now).await? {
        Ok(a) => a,
        Err(problem) => return token_problem(&ctx, problem),
    };
    let input = ActivationInput {
        password: &f.password,
        password_confirmation: &f.password_confirmation,
        code: &f.code,
    };
    match accounts::complete_activation(&state.db, &act, input, now).await? {
        ActivationResult::Done(account) => {
            tracing::info!(
                account_id = account.id,
                purpose = act.token.purpose.key(),
                "lien d'activation utilisé"
            );
            let info = match act.token.purpose {
                Purpose::Invitation => "compte-active",
                Purpose::PasswordReset => "mot-de-passe",
                Purpose::TotpEnrolment => "double-authentification",
            };
            let active_member = accounts::memberships(&state.db, account.id)
                .await?
                .iter()
                .any(|m| m.active);
            if !account.is_admin && !active_member {
                return Ok(Redirect::to(&format!("/connexion?info={info}")).into_response());
            }
            // Password and a TOTP code were just proved: the person is signed in.
            if let Some(old) = &ctx.session {
                sessions::delete(&state.db, &old.id_hash).await?;
            }
            let raw = sessions::create(&state.db, account.id, now).await?;
            let mut res = Redirect::to(&format!("/?info={info}")).into_response();
            res.headers_mut()
                .append(SET_COOKIE, session_cookie(&state, &raw));
            Ok(res)
        }
        ActivationResult::Invalid(e) => {
            let mut errors = FormErrors::default();
            let ActivationErrors {
                password,
                password_confirmation,
                code,
            } = e;
            if let Some(m) = password {
                errors.add("password", m);
            }
            if let Some(m) = password_confirmation {
                errors.add("password_confirmation", m);
            }
            if let Some(m) = code {
                errors.add("code", m);
            }
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &activation_view(&ctx, &token, &act, errors),
            )
        }
        ActivationResult::Throttled(wait) => {
            let mut errors = FormErrors::default();
            errors.add("code", second_factor::throttled_text(wait));
            render_status(
                StatusCode::TOO_MANY_REQUESTS,
                &activation_view(&ctx, &token, &act, errors),
            )
        }
        ActivationResult::Busy => Ok(busy_response()),
        ActivationResult::Gone => token_problem(&ctx, TokenState::Used),
    }
}

pub async fn step_up_form(ctx: Ctx, Query(q): Query<PageQuery>) -> AppResult<Response> {
    render(&StepUpView {
        shell: Shell::new(&ctx, "Confirmez votre identité"),
        next: safe_next(q.suivant.as_deref()),
        errors: FormErrors::default(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StepUpForm {
    code: String,
    suivant: String,
}

pub async fn step_up(
    State(state): State<AppState>,
    ctx: Ctx,
    SignedIn(s): SignedIn,
    AppForm(f): AppForm<StepUpForm>,
) -> AppResult<Response> {
    let now = state.now();
    let mut errors = FormErrors::default();
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    let verdict = match accounts::find(&state.db, s.account_id).await? {
        Some(a) => second_factor::check_totp(&state.db, &a, &f.code, now).await?,
        None => Verdict::Wrong,
    };
    match verdict {
        Verdict::Valid(()) => {
            if let Some(raw) = sessions::renew_after_step_up(&state.db, &s.id_hash, now).await? {
                let mut res = Redirect::to(&safe_next(Some(&f.suivant))).into_response();
                res.headers_mut()
                    .append(SET_COOKIE, session_cookie(&state, &raw));
                return Ok(res);
            }
            errors.add(
                "code",
                "Votre session a pris fin entre-temps : reconnectez-vous.",
            );
        }
        Verdict::Throttled(wait) => {
            status = StatusCode::TOO_MANY_REQUESTS;
            errors.add("code", second_factor::throttled_text(wait));
        }
        Verdict::Wrong => errors.add("code", second_factor::WRONG_CODE_TEXT),
    }
    render_status(
        status,
        &StepUpView {
            shell: Shell::new(&ctx, "Confirmez votre identité"),
            next: safe_next(Some(&f.suivant)),
            errors,
        },
    )
}

/// 503 with `Retry-After`: too many password checks at once on this server.
pub fn busy_response() -> Response {
    let mut res = crate::web::error::ErrorPage::busy().into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(
        &crate::accounts::password::RETRY_AFTER_SECONDS.to_string(),
    ) {
        res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    res
}
