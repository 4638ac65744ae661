//! Mandate pages: choose démarches and duration → FranceConnect → recap with consent
//! and TOTP → mandate written → attestation; the mandate page with revocations.

use crate::accounts::second_factor::{self, Verdict};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

use super::step_up_needed;
use crate::accounts;
use crate::franceconnect::Flow;
use crate::journal::{self, Action, NewEntry};
use crate::mandats::attestation::{self, Kind};
use crate::mandats::drafts::{self, Choice};
use crate::mandats::{
    self, Actor, Demarche, Duree, Identity, MandatError, NewMandat, Revoker, UsagerRef,
};
use crate::web::AppState;
use crate::web::access::Member;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::AppForm;
use crate::web::forms::FormErrors;
use crate::web::views::{ConfirmView, Confirmed, MessageView, Shell, render, render_status};

fn actor(m: &Member) -> Actor {
    Actor {
        account_id: m.session.account_id,
        structure_id: m.structure_id,
    }
}

#[derive(Template)]
#[template(path = "mandat_new.html")]
pub struct NewView {
    pub shell: Shell,
    pub action: String,
    pub renew_for: Option<String>,
    pub demarches: Vec<(Demarche, bool)>,
    pub durees: Vec<(Duree, bool)>,
    pub is_remote: bool,
    pub errors: FormErrors,
}

/// The submitted choice: repeated `demarche` fields, `duree`, `a_distance`.
pub struct ChoiceForm {
    pub demarches: Vec<String>,
    pub duree: String,
    pub is_remote: bool,
}

impl ChoiceForm {
    pub fn parse(body: &[u8]) -> ChoiceForm {
        let mut f = ChoiceForm {
            demarches: Vec::new(),
            duree: String::new(),
            is_remote: false,
        };
        for (k, v) in url::form_urlencoded::parse(body) {
            match k.as_ref() {
                "demarche" => f.demarches.push(v.into_owned()),
                "duree" => f.duree = v.into_owned(),
                "a_distance" => f.is_remote = v == "1",
                _ => {}
            }
        }
        f
    }

    /// Parses against the démarches the structure allows.
    pub fn check(
        &self,
        allowed: &[Demarche],
        errors: &mut FormErrors,
    ) -> Option<(Vec<Demarche>, Duree)> {
        let mut list = Vec::new();
        for raw in &self.demarches {
            match Demarche::parse(raw) {
                Ok(d) if allowed.contains(&d) => list.push(d),
                _ => {
                    errors.add(
                        "demarches",
                        "Une démarche choisie n'est pas autorisée par votre structure : choisissez dans la liste.",
                    );
                    return None;
                }
            }
        }
        list.sort();
        list.dedup();
        if list.is_empty() {
            errors.add("demarches", "Choisissez au moins une démarche.");
        }
        let duree = errors.check("duree", Duree::parse(&self.duree));
        if list.is_empty() {
            return None;
        }
        duree.map(|d| (list, d))
    }
}

pub fn choice_view(
    ctx: &Ctx,
    action: String,
    renew_for: Option<String>,
    allowed: &[Demarche],
    form: Option<&ChoiceForm>,
    errors: FormErrors,
) -> NewView {
    let title = if renew_for.is_some() {
        "Renouveler un mandat"
    } else {
        "Créer un mandat"
    };
    NewView {
        shell: Shell::new(ctx, title),
        action,
        renew_for,
        demarches: allowed
            .iter()
            .map(|d| {
                (
                    *d,
                    form.is_some_and(|f| f.demarches.iter().any(|k| k == d.key())),
                )
            })
            .collect(),
        durees: Duree::ALL
            .iter()
            .map(|d| (*d, form.is_some_and(|f| f.duree == d.days().to_string())))
            .collect(),
        is_remote: form.is_some_and(|f| f.is_remote),
        errors,
    }
}

pub async fn new_form(State(state): State<AppState>, ctx: Ctx, m: Member) -> AppResult<Response> {
    let allowed = mandats::allowed_demarches(&state.db, m.structure_id).await?;
    render(&choice_view(
        &ctx,
        "/mandats/nouveau".into(),
        None,
        &allowed,
        None,
        FormErrors::default(),
    ))
}

fn problem(ctx: &Ctx, status: StatusCode, heading: &str, text: String) -> AppResult<Response> {
    render_status(
        status,
        &MessageView {
            shell: Shell::new(ctx, heading),
            heading: heading.to_owned(),
            paragraphs: vec![text],
            link: Some((
                "/mandats/nouveau".into(),
                "Recommencer la création du mandat".into(),
            )),
        },
    )
}

/// Saves the choice as a draft and sends the browser to FranceConnect.
pub async fn new_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    body: Bytes,
) -> AppResult<Response> {
    let allowed = mandats::allowed_demarches(&state.db, m.structure_id).await?;
    let form = ChoiceForm::parse(&body);
    let mut errors = FormErrors::default();
    let Some((list, duree)) = form.check(&allowed, &mut errors) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &choice_view(
                &ctx,
                "/mandats/nouveau".into(),
                None,
                &allowed,
                Some(&form),
                errors,
            ),
        );
    };
    let now = state.now();
    let (_, fc_state, nonce) = drafts::start_franceconnect(
        &state.db,
        &m.session.id_hash,
        actor(&m),
        &Choice {
            demarches: &list,
            duree,
            is_remote: form.is_remote,
        },
        now,
    )
    .await?;
    match state
        .franceconnect
        .authorize_url(Flow::Aidant, &fc_state, &nonce, now)
        .await
    {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(e) => {
            tracing::warn!(request_id = %ctx.request_id, cause = %e, "FranceConnect : découverte impossible");
            problem(
                &ctx,
                StatusCode::BAD_GATEWAY,
                "FranceConnect indisponible",
                e.user_message(),
            )
        }
    }
}

/// FranceConnect's callback: `code` (or `error`), `state`, `iss`.
pub async fn callback(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let query = query.unwrap_or_default();
    let get = |k: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let now = state.now();
    let fc_state = get("state").unwrap_or_default();
    let Some(draft) = drafts::by_state(&state.db, &fc_state, &m.session.id_hash, now).await? else {
        return problem(
            &ctx,
            StatusCode::BAD_REQUEST,
            "Connexion FranceConnect expirée",
            "Cette connexion FranceConnect a expiré ou ne correspond pas à votre session. Aucun mandat n'a été créé : recommencez la création du mandat.".into(),
        );
    };
    let outcome = match (get("error"), get("code")) {
        (Some(error), _) => Err(crate::franceconnect::FcError::Denied(error)),
        (None, Some(code)) => {
            state
                .franceconnect
                .complete(
                    Flow::Aidant,
                    &code,
                    draft.nonce.as_deref().unwrap_or(""),
                    get("iss").as_deref(),
                    now,
                )
                .await
        }
        (None, None) => Err(crate::franceconnect::FcError::Invalid(
            "ni code ni erreur".into(),
        )),
    };
    let login = match outcome {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(request_id = %ctx.request_id, cause = %e, "FranceConnect : connexion de l'usager refusée");
            drafts::discard(&state.db, draft.id).await?;
            let status = match e {
                crate::franceconnect::FcError::Unavailable(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::BAD_REQUEST,
            };
            return problem(
                &ctx,
                status,
                "Connexion FranceConnect impossible",
                e.user_message(),
            );
        }
    };
    if !drafts::set_identity(&state.db, draft.id, &login.identity).await? {
        return problem(
            &ctx,
            StatusCode::CONFLICT,
            "Connexion déjà utilisée",
            "Ce retour de FranceConnect a déjà été utilisé. Aucun mandat n'a été créé : recommencez.".into(),
        );
    }
    let mut tx = state.db.begin().await?;
    journal::append(
        &mut tx,
        &NewEntry::new(m.structure_id, Action::ConnexionUsagerFranceConnect)
            .account(m.session.account_id)
            .details(serde_json::json!({ "brouillon": draft.id })),
        now,
    )
    .await?;
    tx.commit().await?;
    // End the FranceConnect session at once; its return leads to the recap.
    match state
        .franceconnect
        .logout_url(Flow::Aidant, &login.id_token, &draft.public_id, now)
        .await
    {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(e) => {
            tracing::warn!(request_id = %ctx.request_id, cause = %e, "FranceConnect : déconnexion impossible");
            Ok(Redirect::to(&format!("/mandats/brouillons/{}", draft.public_id)).into_response())
        }
    }
}

/// Back from FranceConnect's logout: `state` is the draft's public id.
pub async fn after_logout(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let id = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    match drafts::find(&state.db, &id, &m.session.id_hash, state.now()).await? {
        Some(d) => Ok(Redirect::to(&format!("/mandats/brouillons/{}", d.public_id)).into_response()),
        None => problem(
            &ctx,
            StatusCode::BAD_REQUEST,
            "Demande expirée",
            "Cette demande de mandat a expiré (30 minutes) ou ne correspond pas à votre session. Aucun mandat n'a été créé : recommencez.".into(),
        ),
    }
}

#[derive(Template)]
#[template(path = "mandat_recap.html")]
pub struct RecapView {
    pub shell: Shell,
    pub draft_id: String,
    pub identity: Identity,
    pub structure_name: String,
    pub duree: Duree,
    pub start: String,
    pub end: String,
    pub is_remote: bool,
    pub demarches: Vec<Demarche>,
    pub has_argent: bool,
    /// What the person agrees to and their rights: the text the attestation
    /// prints, shown before the aidant attests having explained it.
    pub rights: &'static [&'static str],
    pub errors: FormErrors,
}

async fn recap_view(
    state: &AppState,
    ctx: &Ctx,
    m: &Member,
    draft: &drafts::Draft,
    errors: FormErrors,
) -> AppResult<Option<RecapView>> {
    let identity = match (&draft.identity, draft.usager_id) {
        (Some(i), _) => i.clone(),
        (None, Some(uid)) => {
            match mandats::usager_for_structure(&state.db, m.structure_id, uid).await? {
                Some(u) => u.identity,
                None => return Ok(None),
            }
        }
        (None, None) => return Ok(None),
    };
    let now = state.now();
    Ok(Some(RecapView {
        shell: Shell::new(ctx, "Récapitulatif du mandat"),
        draft_id: draft.public_id.clone(),
        identity,
        structure_name: m
            .session
            .structure
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        duree: draft.duree,
        start: crate::time_fr::date(now),
        end: mandats::last_day(draft.duree.expiry(now)),
        is_remote: draft.is_remote,
        has_argent: draft.demarches.contains(&Demarche::Argent),
        demarches: draft.demarches.clone(),
        rights: mandats::attestation::mandate_text(mandats::TEMPLATE_VERSION),
        errors,
    }))
}

fn expired_draft(ctx: &Ctx) -> AppResult<Response> {
    problem(
        ctx,
        StatusCode::NOT_FOUND,
        "Demande expirée",
        "Cette demande de mandat n'existe plus : elle a expiré (30 minutes), a déjà été validée, ou appartient à une autre session. Consultez la liste des usagers, ou recommencez.".into(),
    )
}

pub async fn recap(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let Some(draft) = drafts::find(&state.db, &id, &m.session.id_hash, state.now()).await? else {
        return expired_draft(&ctx);
    };
    match recap_view(&state, &ctx, &m, &draft, FormErrors::default()).await? {
        Some(v) => render(&v),
        None => expired_draft(&ctx),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ConfirmForm {
    consentement: String,
    code: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(id): Path<String>,
    crate::web::forms::AppForm(f): crate::web::forms::AppForm<ConfirmForm>,
) -> AppResult<Response> {
    let now = state.now();
    let Some(draft) = drafts::find(&state.db, &id, &m.session.id_hash, now).await? else {
        return expired_draft(&ctx);
    };
    let mut errors = FormErrors::default();
    if f.consentement != "1" {
        errors.add(
            "consentement",
            "Cochez la case pour attester que la personne a été informée et a donné son accord.",
        );
    }
    if f.code.trim().is_empty() {
        errors.add(
            "code",
            "Saisissez le code à 6 chiffres de votre application.",
        );
    } else {
        let verdict = match accounts::find(&state.db, m.session.account_id).await? {
            Some(a) => second_factor::check_totp(&state.db, &a, &f.code, now).await?,
            None => Verdict::Wrong,
        };
        match verdict {
            Verdict::Valid(()) => {}
            Verdict::Throttled(wait) => errors.add("code", second_factor::throttled_text(wait)),
            Verdict::Wrong => errors.add("code", second_factor::WRONG_CODE_TEXT),
        }
    }
    if !errors.is_empty() {
        return match recap_view(&state, &ctx, &m, &draft, errors).await? {
            Some(v) => render_status(StatusCode::UNPROCESSABLE_ENTITY, &v),
            None => expired_draft(&ctx),
        };
    }
    let usager = match (&draft.identity, draft.usager_id) {
        (Some(i), _) => UsagerRef::Identified(i),
        (None, Some(uid)) => UsagerRef::Known(uid),
        (None, None) => return expired_draft(&ctx),
    };
    let created = mandats::create(
        &state.db,
        &state.signer,
        actor(&m),
        &NewMandat {
            demarches: &draft.demarches,
            duree: draft.duree,
            is_remote: draft.is_remote,
            usager,
            renewed_from: draft.renewed_from,
            draft_id: Some(draft.id),
            consent: None,
        },
        now,
    )
    .await;
    match created {
        Ok(c) => {
            tracing::info!(
                structure_id = m.structure_id,
                mandat_id = c.mandat_id,
                by = m.session.account_id,
                "mandat créé"
            );
            Ok(Redirect::to(&format!("/mandats/{}?info=mandat-cree", c.mandat_id)).into_response())
        }
        Err(MandatError::Refused(message)) => problem(
            &ctx,
            StatusCode::CONFLICT,
            "Mandat non créé",
            message.into(),
        ),
        Err(MandatError::Db(e)) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "mandat.html")]
pub struct MandatView {
    pub shell: Shell,
    pub mandat: mandats::Mandat,
    pub usager_name: String,
    pub attestations: Vec<(&'static str, String)>,
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(mid): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<crate::web::forms::PageQuery>,
) -> AppResult<Response> {
    let now = state.now();
    let mandat = mandats::mandats(&state.db, m.structure_id, None, Some(mid), now)
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    let usager = mandats::usager_for_structure(&state.db, m.structure_id, mandat.usager_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut attestations = Vec::new();
    for (kind, label) in [
        (Kind::Mandat, "Attestation de mandat"),
        (Kind::Revocation, "Dernière attestation de révocation"),
    ] {
        if let Some(a) = attestation::latest_for_mandat(&state.db, mid, kind).await? {
            attestations.push((label, a.token));
        }
    }
    render(&MandatView {
        shell: Shell::new(&ctx, format!("Mandat n° {mid}")).with_notice(q.info.as_deref()),
        usager_name: usager.identity.display_name(),
        mandat,
        attestations,
    })
}

/// A mandate of the member's structure with the usager's name.
async fn mandat_with_name(
    state: &AppState,
    m: &Member,
    mid: i64,
) -> AppResult<(mandats::Mandat, String)> {
    let mandat = mandats::mandats(&state.db, m.structure_id, None, Some(mid), state.now())
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    let usager = mandats::usager_for_structure(&state.db, m.structure_id, mandat.usager_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((mandat, usager.identity.display_name()))
}

fn titles(list: &[Demarche]) -> String {
    list.iter()
        .map(|d| d.title())
        .collect::<Vec<_>>()
        .join(", ")
}

const REVOCATION_PAPER: &str = "Une attestation de révocation sera créée : imprimez-la et \
    remettez-la à la personne.";

/// Asks before revoking a whole mandate.
pub async fn revoke_mandat_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(mid): Path<i64>,
) -> AppResult<Response> {
    if let Some(r) = step_up_needed(&m.session, &format!("/mandats/{mid}/revoquer")) {
        return Ok(r);
    }
    let (mandat, name) = mandat_with_name(&state, &m, mid).await?;
    if mandat.state != mandats::State::Active {
        return Ok(Redirect::to(&format!("/mandats/{mid}")).into_response());
    }
    let heading = format!("Révoquer le mandat n° {mid} ?");
    render(&ConfirmView {
        shell: Shell::new(&ctx, heading.clone()),
        heading,
        paragraphs: vec![
            format!("Vous allez révoquer le mandat n° {mid} de {name}."),
            format!(
                "Votre structure ne pourra plus agir en son nom pour : {}.",
                titles(&mandat.active_demarches())
            ),
            REVOCATION_PAPER.to_owned(),
            "Une révocation ne peut pas être annulée : pour agir de nouveau pour la personne, \
             il faudra créer un nouveau mandat avec elle."
                .to_owned(),
        ],
        action: format!("/mandats/{mid}/revoquer"),
        confirm_label: "Oui, révoquer le mandat".to_owned(),
        cancel_href: format!("/mandats/{mid}"),
    })
}

/// Asks before revoking one démarche of a mandate.
pub async fn revoke_autorisation_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path((mid, aid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let back = format!("/mandats/{mid}/autorisations/{aid}/revoquer");
    if let Some(r) = step_up_needed(&m.session, &back) {
        return Ok(r);
    }
    let (mandat, name) = mandat_with_name(&state, &m, mid).await?;
    let Some(target) = mandat.autorisations.iter().find(|a| a.id == aid) else {
        return Err(AppError::NotFound);
    };
    if target.state != mandats::State::Active {
        return Ok(Redirect::to(&format!("/mandats/{mid}")).into_response());
    }
    let others: Vec<Demarche> = mandat
        .active_demarches()
        .into_iter()
        .filter(|d| *d != target.demarche)
        .collect();
    let heading = format!("Révoquer la démarche « {} » ?", target.demarche.title());
    render(&ConfirmView {
        shell: Shell::new(&ctx, heading.clone()),
        heading,
        paragraphs: vec![
            format!(
                "Vous allez révoquer la démarche « {} » du mandat n° {mid} de {name} : \
                 votre structure ne pourra plus agir en son nom pour elle.",
                target.demarche.title()
            ),
            if others.is_empty() {
                "C'est la dernière démarche active : le mandat prendra fin.".to_owned()
            } else {
                format!("Le mandat reste actif pour : {}.", titles(&others))
            },
            REVOCATION_PAPER.to_owned(),
        ],
        action: back.clone(),
        confirm_label: "Oui, révoquer la démarche".to_owned(),
        cancel_href: format!("/mandats/{mid}"),
    })
}

pub async fn revoke_mandat(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(mid): Path<i64>,
    AppForm(f): AppForm<Confirmed>,
) -> AppResult<Response> {
    if let Some(r) = step_up_needed(&m.session, &format!("/mandats/{mid}")) {
        return Ok(r);
    }
    // Never in one click: without « Oui » on the confirmation page, back to it.
    if !f.yes() {
        return Ok(Redirect::to(&format!("/mandats/{mid}/revoquer")).into_response());
    }
    match mandats::revoke_mandat(
        &state.db,
        &state.signer,
        Revoker::Member(actor(&m)),
        mid,
        state.now(),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/mandats/{mid}?info=mandat-revoque")).into_response()),
        Err(MandatError::Refused(msg)) => problem(
            &ctx,
            StatusCode::CONFLICT,
            "Révocation impossible",
            msg.into(),
        ),
        Err(MandatError::Db(e)) => Err(e.into()),
    }
}

pub async fn revoke_autorisation(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path((mid, aid)): Path<(i64, i64)>,
    AppForm(f): AppForm<Confirmed>,
) -> AppResult<Response> {
    if let Some(r) = step_up_needed(&m.session, &format!("/mandats/{mid}")) {
        return Ok(r);
    }
    if !f.yes() {
        return Ok(
            Redirect::to(&format!("/mandats/{mid}/autorisations/{aid}/revoquer")).into_response(),
        );
    }
    // The autorisation must belong to this mandate of this structure.
    let belongs = mandats::mandats(&state.db, m.structure_id, None, Some(mid), state.now())
        .await?
        .iter()
        .any(|md| md.autorisations.iter().any(|a| a.id == aid));
    if !belongs {
        return Err(AppError::NotFound);
    }
    match mandats::revoke_autorisation(
        &state.db,
        &state.signer,
        Revoker::Member(actor(&m)),
        aid,
        state.now(),
    )
    .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/mandats/{mid}?info=autorisation-revoquee")).into_response())
        }
        Err(MandatError::Refused(msg)) => problem(
            &ctx,
            StatusCode::CONFLICT,
            "Révocation impossible",
            msg.into(),
        ),
        Err(MandatError::Db(e)) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "attestation.html")]
pub struct AttestationView {
    pub shell: Shell,
    pub doc: attestation::Document,
    pub pdf_href: String,
    pub qr_svg: String,
}

async fn stored_for(state: &AppState, m: &Member, token: &str) -> AppResult<attestation::Stored> {
    match attestation::by_token(&state.db, token).await? {
        Some(s) if s.structure_id == m.structure_id => Ok(s),
        _ => Err(AppError::NotFound),
    }
}

async fn document_for(
    state: &AppState,
    stored: &attestation::Stored,
) -> AppResult<attestation::Document> {
    let url = state.link(&format!("/verifier/{}", stored.token));
    attestation::document(&state.db, stored, url)
        .await?
        .ok_or(AppError::NotFound)
}

/// The print view of an attestation (HTML).
pub async fn attestation_page(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Member,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let stored = stored_for(&state, &m, &token).await?;
    let pdf = format!("/attestations/{}/pdf", stored.token);
    attestation_response(&state, &ctx, &stored, pdf).await
}

/// The print view of a stored attestation, whoever may read it.
pub(crate) async fn attestation_response(
    state: &AppState,
    ctx: &Ctx,
    stored: &attestation::Stored,
    pdf_href: String,
) -> AppResult<Response> {
    let doc = document_for(state, stored).await?;
    let qr_svg = crate::accounts::totp::qr_svg(&doc.verify_url).unwrap_or_default();
    render(&AttestationView {
        shell: Shell::new(ctx, doc.title()),
        doc,
        pdf_href,
        qr_svg,
    })
}

/// The attestation as a tagged PDF.
pub async fn attestation_pdf(
    State(state): State<AppState>,
    m: Member,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let stored = stored_for(&state, &m, &token).await?;
    attestation_pdf_response(&state, &stored).await
}

/// A stored attestation as a tagged PDF, whoever may read it.
pub(crate) async fn attestation_pdf_response(
    state: &AppState,
    stored: &attestation::Stored,
) -> AppResult<Response> {
    let doc = document_for(state, stored).await?;
    let bytes = tokio::task::spawn_blocking(move || attestation::pdf(&doc))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "inline; filename=\"attestation-mandat-{}.pdf\"",
        stored.mandat_id
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
