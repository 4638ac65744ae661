//! The usager's own space (`/mon-espace…`) and the consent to a mandate given at a
//! distance (`/consentement/{token}`): both sign the person in with FranceConnect
//! through the usager flow ([`crate::franceconnect::Flow::Usager`]). Written for
//! someone who reads with difficulty: short sentences, one idea per line.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::franceconnect::{FcError, Flow};
use crate::mandats::distance::{self, Link, LinkState};
use crate::mandats::espace::{self, MyMandat, Purpose, Use};
use crate::mandats::{self, Demarche, Duree, MandatError, Revoker, State as MState};
use crate::web::AppState;
use crate::web::access::{USAGER_COOKIE, Usager};
use crate::web::context::{Ctx, cookie_value, set_cookie};
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{AppForm, FormErrors};
use crate::web::views::{ConfirmView, Confirmed, MessageView, Shell, render, render_status};

/// The cookie binding a FranceConnect sign-in to the browser that started it.
const LOGIN_COOKIE: &str = "relais_fc_usager";

fn message(
    ctx: &Ctx,
    status: StatusCode,
    heading: &str,
    paragraphs: Vec<String>,
    link: Option<(&str, &str)>,
) -> AppResult<Response> {
    render_status(
        status,
        &MessageView {
            shell: Shell::new(ctx, heading),
            heading: heading.to_owned(),
            paragraphs,
            link: link.map(|(h, l)| (h.to_owned(), l.to_owned())),
        },
    )
}

fn lines(text: &[&str]) -> Vec<String> {
    text.iter().map(|s| (*s).to_owned()).collect()
}

/// The online service's name (its client id when unknown).
fn service_name(state: &AppState, client_id: &str) -> String {
    state
        .idp_clients
        .iter()
        .find(|c| c.client_id == client_id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| {
            if client_id.is_empty() {
                "Service en ligne".to_owned()
            } else {
                client_id.to_owned()
            }
        })
}

// ---------------------------------------------------------------------------
// Landing, explanation, sign-in

#[derive(Template)]
#[template(path = "espace_accueil.html")]
pub struct HomeView {
    pub shell: Shell,
    pub ended: bool,
}

pub async fn home(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> AppResult<Response> {
    let cookie = cookie_value(&headers, USAGER_COOKIE).unwrap_or("");
    if !cookie.is_empty()
        && espace::session(&state.db, cookie, state.now())
            .await?
            .is_some()
    {
        return Ok(Redirect::to("/mon-espace/mandats").into_response());
    }
    render(&HomeView {
        shell: Shell::new(&ctx, "Mes mandats : ce que l'on fait en mon nom"),
        ended: q.unwrap_or_default().contains("session=terminee"),
    })
}

#[derive(Template)]
#[template(path = "espace_comprendre.html")]
pub struct ExplainView {
    pub shell: Shell,
    pub demarches: &'static [Demarche],
}

pub async fn explain(ctx: Ctx) -> AppResult<Response> {
    render(&ExplainView {
        shell: Shell::new(&ctx, "Comprendre le mandat"),
        demarches: &Demarche::ALL,
    })
}

/// Sends the browser to FranceConnect, bound to it by a cookie.
async fn to_franceconnect(
    state: &AppState,
    ctx: &Ctx,
    purpose: Purpose,
    lien_id: Option<i64>,
    terms: &str,
) -> AppResult<Response> {
    let now = state.now();
    let limit = &crate::accounts::throttle::USAGER_FC_IP;
    let key = crate::accounts::throttle::key(&state.db, limit, &ctx.client_ip);
    if let Some(wait) =
        crate::accounts::throttle::over(&state.db, &[(limit, key.clone())], now).await?
    {
        tracing::warn!(request_id = %ctx.request_id, "trop de connexions FranceConnect commencées depuis cette adresse");
        return message(
            ctx,
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de tentatives",
            vec![
                "Trop de connexions ont été commencées depuis cet appareil ou ce réseau."
                    .to_owned(),
                format!("Réessayez dans {} minute(s).", (wait + 59) / 60),
            ],
            Some(("/mon-espace", "Revenir à l'accueil")),
        );
    }
    crate::accounts::throttle::count_failure(&state.db, limit, &key, now).await?;
    let (fc_state, nonce, browser) =
        espace::start_login(&state.db, purpose, lien_id, terms, now).await?;
    match state
        .franceconnect
        .authorize_url(Flow::Usager, &fc_state, &nonce, now)
        .await
    {
        Ok(url) => {
            let mut res = Redirect::to(&url).into_response();
            res.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(state, LOGIN_COOKIE, &browser, Some(espace::LOGIN_TTL)),
            );
            Ok(res)
        }
        Err(e) => {
            tracing::warn!(request_id = %ctx.request_id, cause = %e, "FranceConnect : découverte impossible (usager)");
            message(
                ctx,
                StatusCode::BAD_GATEWAY,
                "FranceConnect ne répond pas",
                lines(&[
                    "FranceConnect ne répond pas pour le moment.",
                    "Rien n'a été enregistré.",
                    "Réessayez dans quelques minutes.",
                ]),
                Some(("/mon-espace", "Revenir à l'accueil")),
            )
        }
    }
}

pub async fn start(State(state): State<AppState>, ctx: Ctx) -> AppResult<Response> {
    to_franceconnect(&state, &ctx, Purpose::Space, None, "").await
}

/// Where the browser goes to end the FranceConnect session, then comes back to
/// `/mon-espace/franceconnect/deconnecte?state=<outcome>`.
async fn end_franceconnect(state: &AppState, id_token: &str, outcome: &str) -> Response {
    let url = state
        .franceconnect
        .logout_url(Flow::Usager, id_token, outcome, state.now())
        .await
        .unwrap_or_else(|_| format!("/mon-espace/franceconnect/deconnecte?state={outcome}"));
    let mut res = Redirect::to(&url).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_COOKIE, "", Some(0)),
    );
    res
}

/// FranceConnect's return for a usager: their space, or a consent.
pub async fn callback(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let query = query.unwrap_or_default();
    let get = |k: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let now = state.now();
    let browser = cookie_value(&headers, LOGIN_COOKIE).unwrap_or("");
    let Some(login) =
        espace::take_login(&state.db, &get("state").unwrap_or_default(), browser, now).await?
    else {
        return message(
            &ctx,
            StatusCode::BAD_REQUEST,
            "Connexion expirée",
            lines(&[
                "Cette connexion FranceConnect a expiré, ou elle a été commencée sur un autre appareil.",
                "Rien n'a été enregistré.",
                "Recommencez depuis le début.",
            ]),
            Some(("/mon-espace", "Recommencer")),
        );
    };
    let outcome = match (get("error"), get("code")) {
        (Some(e), _) => Err(FcError::Denied(e)),
        (None, Some(code)) => {
            state
                .franceconnect
                .complete(
                    Flow::Usager,
                    &code,
                    &login.nonce,
                    get("iss").as_deref(),
                    now,
                )
                .await
        }
        (None, None) => Err(FcError::Invalid("ni code ni erreur".into())),
    };
    let fc = match outcome {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(request_id = %ctx.request_id, cause = %e, "FranceConnect : connexion d'un usager refusée");
            let text = match e {
                FcError::Denied(_) => "Vous avez annulé la connexion FranceConnect.",
                FcError::Unavailable(_) => "FranceConnect ne répond pas pour le moment.",
                _ => "La réponse de FranceConnect n'a pas pu être vérifiée.",
            };
            return message(
                &ctx,
                StatusCode::BAD_REQUEST,
                "Connexion impossible",
                vec![
                    text.to_owned(),
                    "Rien n'a été enregistré.".to_owned(),
                    "Vous pouvez recommencer.".to_owned(),
                ],
                Some(("/mon-espace", "Revenir à l'accueil")),
            );
        }
    };
    match login.purpose {
        Purpose::Space => {
            let Some(uid) = espace::usager_by_sub_hash(&state.db, &fc.identity.sub_hash).await?
            else {
                // Nobody to show: nothing is created, FranceConnect is left at once.
                return Ok(end_franceconnect(&state, &fc.id_token, "aucun").await);
            };
            let token = espace::open_session(&state.db, uid, &fc.id_token, now).await?;
            let mut res = Redirect::to("/mon-espace/mandats").into_response();
            let h = res.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&state, USAGER_COOKIE, &token, None),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(&state, LOGIN_COOKIE, "", Some(0)),
            );
            Ok(res)
        }
        Purpose::Consent => {
            let link = match login.lien_id {
                Some(id) => distance::find(&state.db, 0, id).await?,
                None => None,
            };
            let outcome = match link {
                None => "refus-lien",
                Some(link) => {
                    match distance::consent(
                        &state.db,
                        &state.signer,
                        &link,
                        &login.terms,
                        &fc.identity,
                        now,
                    )
                    .await
                    {
                        Ok(created) => {
                            tracing::info!(
                                structure_id = link.structure_id,
                                mandat_id = created.mandat_id,
                                lien = link.id,
                                "mandat créé à distance"
                            );
                            "merci"
                        }
                        Err(MandatError::Refused(m)) => refusal_key(m),
                        Err(MandatError::Db(e)) => return Err(e.into()),
                    }
                }
            };
            Ok(end_franceconnect(&state, &fc.id_token, outcome).await)
        }
    }
}

/// The outcome key of a refused consent (the page after FranceConnect's logout
/// says it; the key carries no data).
fn refusal_key(message: &str) -> &'static str {
    if message == distance::LINK_GONE {
        "refus-lien"
    } else if message.contains("autre personne") {
        "refus-personne"
    } else if message.contains("ne correspond plus") {
        "refus-termes"
    } else {
        "refus-structure"
    }
}

/// Back from FranceConnect's logout.
pub async fn after_logout(ctx: Ctx, RawQuery(q): RawQuery) -> AppResult<Response> {
    let outcome = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let (status, heading, text, link): (StatusCode, &str, &[&str], (&str, &str)) = match outcome
        .as_str()
    {
        "aucun" => (
            StatusCode::OK,
            "Aucun mandat à votre nom",
            &[
                "Nous n'avons trouvé aucun mandat à votre nom.",
                "Vous n'avez donc rien à consulter ici.",
                "Nous n'avons rien enregistré sur vous.",
                "Si une structure vous aide, demandez-lui de créer un mandat avec vous.",
            ],
            ("/mon-espace/comprendre", "Comprendre le mandat"),
        ),
        "merci" => (
            StatusCode::OK,
            "C'est fait : le mandat est créé",
            &[
                "Merci. Vous avez donné votre accord.",
                "La personne qui vous aide le voit maintenant.",
                "Elle peut vous envoyer l'attestation du mandat.",
                "Vous pouvez voir ce mandat, et l'arrêter quand vous voulez, dans « Mes mandats ».",
            ],
            ("/mon-espace", "Voir mes mandats"),
        ),
        "refus-lien" => (
            StatusCode::GONE,
            "Ce lien ne marche plus",
            &[
                "Ce lien a déjà servi, a été annulé, ou a plus de 24 heures.",
                "Aucun mandat n'a été créé.",
                "Demandez un nouveau lien à la personne qui vous aide.",
            ],
            ("/mon-espace/comprendre", "Comprendre le mandat"),
        ),
        "refus-personne" => (
            StatusCode::FORBIDDEN,
            "Ce lien est pour une autre personne",
            &[
                "Ce lien a été préparé pour une autre personne.",
                "La personne connectée avec FranceConnect n'est pas celle qui doit donner son accord.",
                "Aucun mandat n'a été créé.",
            ],
            ("/mon-espace/comprendre", "Comprendre le mandat"),
        ),
        "refus-termes" => (
            StatusCode::CONFLICT,
            "Le mandat a changé",
            &[
                "Ce que vous avez accepté ne correspond plus au mandat préparé.",
                "Aucun mandat n'a été créé.",
                "Ouvrez de nouveau le lien reçu, et relisez-le.",
            ],
            ("/mon-espace/comprendre", "Comprendre le mandat"),
        ),
        "refus-structure" => (
            StatusCode::CONFLICT,
            "Le mandat n'a pas pu être créé",
            &[
                "La personne qui a préparé ce mandat ne peut plus le faire.",
                "Aucun mandat n'a été créé.",
                "Contactez la structure qui vous aide.",
            ],
            ("/mon-espace/comprendre", "Comprendre le mandat"),
        ),
        _ => (
            StatusCode::OK,
            "Vous êtes déconnecté(e)",
            &[
                "Vous êtes bien déconnecté(e) de votre espace.",
                "Vous êtes aussi déconnecté(e) de FranceConnect.",
                "Vous pouvez fermer cette page.",
            ],
            ("/mon-espace", "Revenir à l'accueil"),
        ),
    };
    message(&ctx, status, heading, lines(text), Some(link))
}

pub async fn logout(State(state): State<AppState>, u: Usager) -> AppResult<Response> {
    let token = espace::close_session(&state.db, &u.0.id_hash).await?;
    let mut res = match token {
        Some(t) => end_franceconnect(&state, &t, "fin").await,
        None => Redirect::to("/mon-espace/franceconnect/deconnecte?state=fin").into_response(),
    };
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, USAGER_COOKIE, "", Some(0)),
    );
    Ok(res)
}

// ---------------------------------------------------------------------------
// Mes mandats

pub struct UseLine {
    pub when: String,
    pub demarche: &'static str,
    pub aidant: String,
    pub structure: String,
    pub service: String,
}

fn use_lines(state: &AppState, list: Vec<Use>) -> Vec<UseLine> {
    list.into_iter()
        .map(|u| UseLine {
            when: u.when(),
            demarche: u.demarche_title(),
            service: service_name(state, &u.client_id),
            aidant: u.aidant,
            structure: u.structure,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "espace_mandats.html")]
pub struct MandatsView {
    pub shell: Shell,
    pub name: String,
    pub active: Vec<MyMandat>,
    pub ended: Vec<MyMandat>,
    pub recent: Vec<UseLine>,
    pub deletion_requested: bool,
    pub info: Option<&'static str>,
}

pub async fn mandats_page(
    State(state): State<AppState>,
    ctx: Ctx,
    u: Usager,
    Query(q): Query<crate::web::forms::PageQuery>,
) -> AppResult<Response> {
    let Some(o) = espace::overview(&state.db, u.0.usager_id, 20, state.now()).await? else {
        return Err(AppError::NotFound);
    };
    let (active, ended): (Vec<MyMandat>, Vec<MyMandat>) = o
        .mandats
        .into_iter()
        .partition(|m| m.mandat.state == MState::Active);
    render(&MandatsView {
        shell: Shell::new(&ctx, "Mes mandats"),
        name: o.name,
        active,
        ended,
        recent: use_lines(&state, o.recent_uses),
        deletion_requested: o.deletion_requested,
        info: match q.info.as_deref() {
            Some("mandat-revoque") => {
                Some("C'est fait : le mandat est arrêté. La structure est prévenue.")
            }
            Some("autorisation-revoquee") => Some(
                "C'est fait : cette démarche est retirée du mandat. La structure est prévenue.",
            ),
            Some("suppression-demandee") => {
                Some("Votre demande est enregistrée. Vos données seront supprimées cette nuit.")
            }
            _ => None,
        },
    })
}

#[derive(Template)]
#[template(path = "espace_mandat.html")]
pub struct MandatView {
    pub shell: Shell,
    pub m: MyMandat,
    pub uses: Vec<UseLine>,
    pub page: i64,
    pub pages: i64,
}

/// The usager's mandate `mid` (never someone else's).
async fn my_mandat(state: &AppState, u: &Usager, mid: i64) -> AppResult<MyMandat> {
    espace::overview(&state.db, u.0.usager_id, 0, state.now())
        .await?
        .and_then(|o| o.mandats.into_iter().find(|m| m.mandat.id == mid))
        .ok_or(AppError::NotFound)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PageNumber {
    page: String,
}

pub async fn mandat_page(
    State(state): State<AppState>,
    ctx: Ctx,
    u: Usager,
    Path(mid): Path<i64>,
    Query(q): Query<PageNumber>,
) -> AppResult<Response> {
    let m = my_mandat(&state, &u, mid).await?;
    let pages = ((m.uses + espace::USES_PER_PAGE - 1) / espace::USES_PER_PAGE).max(1);
    let page = q.page.parse::<i64>().unwrap_or(1).clamp(1, pages);
    let uses = espace::uses(
        &state.db,
        u.0.usager_id,
        Some(mid),
        espace::USES_PER_PAGE,
        (page - 1) * espace::USES_PER_PAGE,
    )
    .await?;
    render(&MandatView {
        shell: Shell::new(&ctx, format!("Mon mandat avec {}", m.structure_name)),
        uses: use_lines(&state, uses),
        m,
        page,
        pages,
    })
}

// ---------------------------------------------------------------------------
// Revocation by the usager

fn titles(list: &[Demarche]) -> String {
    list.iter()
        .map(|d| d.title())
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn revoke_mandat_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    u: Usager,
    Path(mid): Path<i64>,
) -> AppResult<Response> {
    let m = my_mandat(&state, &u, mid).await?;
    if m.mandat.state != MState::Active {
        return Err(AppError::NotFound);
    }
    render(&ConfirmView {
        shell: Shell::new(&ctx, "Arrêter ce mandat"),
        heading: "Arrêter ce mandat ?".to_owned(),
        paragraphs: vec![
            format!("Structure : {}.", m.structure_name),
            format!("Démarches : {}.", titles(&m.mandat.active_demarches())),
            "Si vous arrêtez ce mandat, la structure ne pourra plus faire ces démarches pour vous."
                .to_owned(),
            "La structure sera prévenue.".to_owned(),
            "Vous pourrez donner un nouveau mandat plus tard si vous le voulez.".to_owned(),
        ],
        action: format!("/mon-espace/mandats/{mid}/revoquer"),
        confirm_label: "Oui, arrêter le mandat".to_owned(),
        cancel_href: format!("/mon-espace/mandats/{mid}"),
    })
}

pub async fn revoke_autorisation_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    u: Usager,
    Path((mid, aid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let m = my_mandat(&state, &u, mid).await?;
    let Some(a) = m
        .mandat
        .autorisations
        .iter()
        .find(|a| a.id == aid && a.state == MState::Active)
    else {
        return Err(AppError::NotFound);
    };
    render(&ConfirmView {
        shell: Shell::new(&ctx, "Retirer une démarche"),
        heading: format!("Retirer la démarche « {} » ?", a.demarche.title()),
        paragraphs: vec![
            format!("Structure : {}.", m.structure_name),
            format!(
                "La structure ne pourra plus faire pour vous : {}.",
                a.demarche.examples()
            ),
            "Les autres démarches du mandat restent possibles.".to_owned(),
            "La structure sera prévenue.".to_owned(),
        ],
        action: format!("/mon-espace/mandats/{mid}/autorisations/{aid}/revoquer"),
        confirm_label: "Oui, retirer cette démarche".to_owned(),
        cancel_href: format!("/mon-espace/mandats/{mid}"),
    })
}

/// Emails the structure's référents and the mandate's aidant (no name).
async fn tell_structure(state: &AppState, mandat_id: i64, whole: bool) -> AppResult<()> {
    let rows = state
        .db
        .fetch_all(
            "SELECT DISTINCT a.email, s.name FROM mandats md
             JOIN structures s ON s.id = md.structure_id
             JOIN memberships m ON m.structure_id = md.structure_id
             JOIN accounts a ON a.id = m.account_id
             WHERE md.id = $1 AND m.deactivated_at IS NULL AND a.disabled_at IS NULL
               AND (m.role = 'referent' OR a.id = md.aidant_id)",
            crate::args![mandat_id],
        )
        .await?;
    let link = state.link(&format!("/mandats/{mandat_id}"));
    for r in rows {
        let email: String = r.get("email")?;
        let name: String = r.get("name")?;
        let mail = crate::mail::messages::revoked_by_usager(&email, &name, whole, &link);
        if let Err(e) = state.mailer.send(mail).await {
            tracing::warn!(mandat_id, cause = %e, "e-mail de révocation par l'usager non envoyé");
        }
    }
    Ok(())
}

fn refused(ctx: &Ctx, msg: &str, back: &str) -> AppResult<Response> {
    message(
        ctx,
        StatusCode::CONFLICT,
        "Rien n'a été changé",
        vec![msg.to_owned()],
        Some((back, "Revenir au mandat")),
    )
}

pub async fn revoke_mandat(
    State(state): State<AppState>,
    ctx: Ctx,
    u: Usager,
    Path(mid): Path<i64>,
    AppForm(f): AppForm<Confirmed>,
) -> AppResult<Response> {
    if !f.yes() {
        return Ok(Redirect::to(&format!("/mon-espace/mandats/{mid}/revoquer")).into_response());
    }
    match mandats::revoke_mandat(
        &state.db,
        &state.signer,
        Revoker::Usager(u.0.usager_id),
        mid,
        state.now(),
    )
    .await
    {
        Ok(_) => {
            tell_structure(&state, mid, true).await?;
            Ok(Redirect::to("/mon-espace/mandats?info=mandat-revoque").into_response())
        }
        Err(MandatError::Refused(msg)) => refused(&ctx, msg, &format!("/mon-espace/mandats/{mid}")),
        Err(MandatError::Db(e)) => Err(e.into()),
    }
}

pub async fn revoke_autorisation(
    State(state): State<AppState>,
    ctx: Ctx,
    u: Usager,
    Path((mid, aid)): Path<(i64, i64)>,
    AppForm(f): AppForm<Confirmed>,
) -> AppResult<Response> {
    if !f.yes() {
        return Ok(Redirect::to(&format!(
            "/mon-espace/mandats/{mid}/autorisations/{aid}/revoquer"
        ))
        .into_response());
    }
    // The autorisation must belong to this mandate of this usager.
    let m = my_mandat(&state, &u, mid).await?;
    if !m.mandat.autorisations.iter().any(|a| a.id == aid) {
        return Err(AppError::NotFound);
    }
    match mandats::revoke_autorisation(
        &state.db,
        &state.signer,
        Revoker::Usager(u.0.usager_id),
        aid,
        state.now(),
    )
    .await
    {
        Ok(_) => {
            tell_structure(&state, mid, false).await?;
            Ok(Redirect::to("/mon-espace/mandats?info=autorisation-revoquee").into_response())
        }
        Err(MandatError::Refused(msg)) => refused(&ctx, msg, &format!("/mon-espace/mandats/{mid}")),
        Err(MandatError::Db(e)) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Attestations

async fn my_attestation(
    state: &AppState,
    u: &Usager,
    token: &str,
) -> AppResult<mandats::attestation::Stored> {
    let stored = mandats::attestation::by_token(&state.db, token)
        .await?
        .ok_or(AppError::NotFound)?;
    let mine = state
        .db
        .fetch_optional(
            "SELECT 1 AS ok FROM mandats WHERE id = $1 AND usager_id = $2",
            crate::args![stored.mandat_id, u.0.usager_id],
        )
        .await?;
    if mine.is_none() {
        return Err(AppError::NotFound);
    }
    Ok(stored)
}

pub async fn attestation_page(
    State(state): State<AppState>,
    ctx: Ctx,
    u: Usager,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let stored = my_attestation(&state, &u, &token).await?;
    super::mandats::attestation_response(
        &state,
        &ctx,
        &stored,
        format!("/mon-espace/attestations/{}/pdf", stored.token),
    )
    .await
}

pub async fn attestation_pdf(
    State(state): State<AppState>,
    u: Usager,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let stored = my_attestation(&state, &u, &token).await?;
    super::mandats::attestation_pdf_response(&state, &stored).await
}

// ---------------------------------------------------------------------------
// Deletion of the usager's data

#[derive(Template)]
#[template(path = "espace_suppression.html")]
pub struct DeletionView {
    pub shell: Shell,
    pub any_active: bool,
    pub requested: bool,
}

pub async fn deletion_form(
    State(state): State<AppState>,
    ctx: Ctx,
    u: Usager,
) -> AppResult<Response> {
    let o = espace::overview(&state.db, u.0.usager_id, 0, state.now())
        .await?
        .ok_or(AppError::NotFound)?;
    render(&DeletionView {
        shell: Shell::new(&ctx, "Supprimer mes données"),
        any_active: o.any_active(),
        requested: o.deletion_requested,
    })
}

pub async fn deletion(
    State(state): State<AppState>,
    ctx: Ctx,
    u: Usager,
    AppForm(f): AppForm<Confirmed>,
) -> AppResult<Response> {
    if !f.yes() {
        return Ok(Redirect::to("/mon-espace/suppression").into_response());
    }
    match espace::request_deletion(&state.db, u.0.usager_id, state.now()).await {
        Ok(()) => Ok(Redirect::to("/mon-espace/mandats?info=suppression-demandee").into_response()),
        Err(MandatError::Refused(msg)) => message(
            &ctx,
            StatusCode::CONFLICT,
            "Suppression impossible pour le moment",
            vec![msg.to_owned()],
            Some(("/mon-espace/mandats", "Revenir à mes mandats")),
        ),
        Err(MandatError::Db(e)) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Consent to a mandate prepared at a distance

#[derive(Template)]
#[template(path = "consentement.html")]
pub struct ConsentView {
    pub shell: Shell,
    pub token: String,
    pub link: Link,
    pub fingerprint: String,
    pub end: String,
    pub rights: &'static [&'static str],
    pub has_argent: bool,
    pub errors: FormErrors,
}

impl ConsentView {
    pub fn duree(&self) -> Duree {
        self.link.duree
    }
}

fn link_gone(ctx: &Ctx) -> AppResult<Response> {
    message(
        ctx,
        StatusCode::GONE,
        "Ce lien ne marche plus",
        lines(&[
            "Ce lien a déjà servi, a été annulé, ou a plus de 24 heures.",
            "Aucun mandat n'a été créé.",
            "Demandez un nouveau lien à la personne qui vous aide.",
        ]),
        Some(("/mon-espace/comprendre", "Comprendre le mandat")),
    )
}

fn consent_view(ctx: &Ctx, token: String, link: Link, now: i64, errors: FormErrors) -> ConsentView {
    ConsentView {
        shell: Shell::new(
            ctx,
            format!("{} vous propose un mandat", link.structure_name),
        ),
        token,
        fingerprint: link.fingerprint(),
        end: mandats::last_day(link.duree.expiry(now)),
        rights: mandats::attestation::mandate_text(mandats::TEMPLATE_VERSION),
        has_argent: link.demarches.contains(&Demarche::Argent),
        link,
        errors,
    }
}

pub async fn consent_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let now = state.now();
    match distance::by_token(&state.db, &token).await? {
        Some(link) if link.state(now) == LinkState::Waiting => {
            render(&consent_view(&ctx, token, link, now, FormErrors::default()))
        }
        _ => link_gone(&ctx),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ConsentForm {
    accord: String,
    empreinte: String,
}

pub async fn consent_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    AppForm(f): AppForm<ConsentForm>,
) -> AppResult<Response> {
    let now = state.now();
    let link = match distance::by_token(&state.db, &token).await? {
        Some(link) if link.state(now) == LinkState::Waiting => link,
        _ => return link_gone(&ctx),
    };
    if !crate::crypto::ct_eq(&f.empreinte, &link.fingerprint()) {
        return message(
            &ctx,
            StatusCode::CONFLICT,
            "Le mandat a changé",
            lines(&[
                "Ce que vous avez lu ne correspond plus au mandat préparé.",
                "Rien n'a été enregistré.",
                "Relisez le mandat, puis recommencez.",
            ]),
            Some((&format!("/consentement/{token}"), "Relire le mandat")),
        );
    }
    if f.accord != "1" {
        let mut errors = FormErrors::default();
        errors.add(
            "accord",
            "Cochez la case si vous êtes d'accord. Si vous n'êtes pas d'accord, fermez simplement cette page.",
        );
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &consent_view(&ctx, token, link, now, errors),
        );
    }
    to_franceconnect(
        &state,
        &ctx,
        Purpose::Consent,
        Some(link.id),
        &link.fingerprint(),
    )
    .await
}

// ---------------------------------------------------------------------------
// The SMS provider's delivery reports

/// Largest callback body read.
const MAX_CALLBACK: usize = 16 * 1024;

pub async fn sms_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let secret = state.config.sms_callback_secret.clone().unwrap_or_default();
    let signature = headers
        .get("x-relais-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let json = |status: StatusCode, text: &'static str| {
        let mut res = (status, format!("{{\"resultat\":\"{text}\"}}")).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    };
    if body.len() > MAX_CALLBACK || !crate::sms::check_signature(&secret, &body, signature) {
        tracing::warn!(
            taille = body.len(),
            "accusé SMS refusé : signature absente ou fausse"
        );
        return json(StatusCode::UNAUTHORIZED, "signature refusee");
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return json(StatusCode::BAD_REQUEST, "json illisible");
    };
    let id = v.get("id").and_then(|x| x.as_str()).unwrap_or("");
    let status = v.get("status").and_then(|x| x.as_str()).unwrap_or("");
    if id.is_empty() || id.len() > 128 || status.is_empty() {
        return json(StatusCode::BAD_REQUEST, "id et status requis");
    }
    match distance::record_delivery(&state.db, id, status, state.now()).await {
        Ok(true) => json(StatusCode::OK, "enregistre"),
        Ok(false) => json(StatusCode::NOT_FOUND, "message inconnu"),
        Err(e) => AppError::from(e).into_response(),
    }
}
