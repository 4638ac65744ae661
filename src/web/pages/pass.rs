//! Pass numérique pages: the public check of a pass (`/pass/{code}`, what a
//! phone's camera opens from the QR code), redemption and cancellation by a
//! qualified place, hand-outs by a prescripteur, the funder's orders and
//! dashboard, the operator's console (`/admin/pass`), and a structure's
//! qualification and statements.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::accounts::throttle;
use crate::csv_export::Cell;
use crate::pass::{self, Commande, PassError, dashboard, expiry, releves};
use crate::web::AppState;
use crate::web::access::{Admin, Funder, Manager, PassStructure};
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{FormErrors, PageQuery};
use crate::web::views::{Shell, csv_download, render, render_status};

use crate::web::forms::{field, pairs};

fn pass_error(e: PassError, errors: &mut FormErrors, general: &'static str) -> AppResult<()> {
    match e {
        PassError::Field(f, m) => errors.add(f, m),
        PassError::Refused(m) => errors.add(general, m),
        PassError::NotFound => return Err(AppError::NotFound),
        PassError::Blocked(wait) => errors.add("code", too_many(wait)),
        PassError::Db(e) => return Err(e.into()),
    }
    Ok(())
}

fn pdf_download(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/pdf".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// Bars of carnets handed out and pass used per line (months or départements);
/// the same numbers are in the table beside it.
fn bars(lines: &[dashboard::Line]) -> String {
    let max = lines
        .iter()
        .map(|l| l.remis.max(l.utilises))
        .max()
        .unwrap_or(0)
        .max(1);
    let row = 26;
    let h = row * lines.len().max(1);
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 400 {h}\" width=\"100%\" aria-hidden=\"true\" focusable=\"false\">"
    );
    for (i, l) in lines.iter().enumerate() {
        let y = i * row;
        let w1 = l.remis * 250 / max;
        let w2 = l.utilises * 250 / max;
        let label = l
            .label
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        out.push_str(&format!(
            "<text x=\"0\" y=\"{}\" class=\"chart-label\">{label}</text>\
             <rect x=\"140\" y=\"{}\" width=\"{w1}\" height=\"7\" class=\"chart-bar\"></rect>\
             <rect x=\"140\" y=\"{}\" width=\"{w2}\" height=\"7\" class=\"chart-bar-alt\"></rect>",
            y + 14,
            y + 4,
            y + 13,
        ));
    }
    out.push_str("</svg>");
    out
}

// ───────────────────────── the public check and redemption ─────────────────────────

/// What the page shows of a pass: never who holds it.
pub struct PassInfo {
    pub display: String,
    pub code: String,
    pub valid: Result<(), String>,
    pub valeur: String,
    pub financeur: String,
    pub validite: String,
    pub territoire: String,
    pub publics: String,
    pub services: String,
    /// The services this place may redeem it for (signed-in qualified place).
    pub redeem_services: Vec<String>,
}

#[derive(Template)]
#[template(path = "pass_code.html")]
pub struct CodeView {
    pub shell: Shell,
    pub typed: String,
    pub errors: FormErrors,
    pub pass: Option<PassInfo>,
    pub cp: String,
    pub places: Vec<(i64, String, String)>,
    pub prestations: &'static [(&'static str, &'static str)],
    pub can_redeem: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeQuery {
    code: String,
    cp: String,
    info: Option<String>,
}

/// The code-check counters of a request: its IP's, and its account's when
/// signed in.
fn code_keys(state: &AppState, ctx: &Ctx) -> Vec<(&'static throttle::Limit, String)> {
    let mut keys = vec![(
        &throttle::PASS_CODE_IP,
        throttle::key(&state.db, &throttle::PASS_CODE_IP, &ctx.client_ip),
    )];
    if let Some(s) = &ctx.session {
        keys.push((
            &throttle::PASS_CODE_ACCOUNT,
            throttle::key(
                &state.db,
                &throttle::PASS_CODE_ACCOUNT,
                &s.account_id.to_string(),
            ),
        ));
    }
    keys
}

/// `Some(wait)` when this IP or account typed too many wrong codes lately.
async fn codes_blocked(state: &AppState, ctx: &Ctx) -> AppResult<Option<i64>> {
    let wait = throttle::over(&state.db, &code_keys(state, ctx), state.now()).await?;
    if wait.is_some() {
        tracing::warn!(request_id = %ctx.request_id, "pass numérique : trop de codes faux, vérification refusée");
    }
    Ok(wait)
}

/// Counts a code that is not a pass (mistyped or unknown).
async fn wrong_code(state: &AppState, ctx: &Ctx) -> AppResult<()> {
    for (limit, key) in code_keys(state, ctx) {
        throttle::count_failure(&state.db, limit, &key, state.now()).await?;
    }
    Ok(())
}

fn too_many(wait: i64) -> String {
    format!(
        "Trop de codes faux en peu de temps : réessayez {}.",
        throttle::wait_text(wait)
    )
}

/// The qualified places near a postcode (the ten nearest).
async fn places_near(state: &AppState, cp: &str) -> AppResult<Vec<(i64, String, String)>> {
    if cp.is_empty() {
        return Ok(Vec::new());
    }
    let q = crate::lieux::search::Query {
        text: cp.to_owned(),
        near: None,
        radius_km: 30.0,
        filters: vec![(crate::lieux::index::PASS_FIELD.to_owned(), "oui".to_owned())],
        open_now: false,
    };
    let hits = crate::lieux::search::search(&state.db, &q, state.now()).await?;
    Ok(hits
        .into_iter()
        .take(10)
        .map(|h| {
            let d = h
                .distance_km
                .map(|d| format!("à {d:.1} km").replace('.', ","))
                .unwrap_or_default();
            (h.row_id, h.nom, d)
        })
        .collect())
}

async fn code_view(
    state: &AppState,
    ctx: &Ctx,
    code: &str,
    cp: &str,
    errors: FormErrors,
) -> AppResult<CodeView> {
    let mut errors = errors;
    let mut info = None;
    let place = ctx.session.as_ref().and_then(|s| s.pass_place_of_current());
    if !code.is_empty() {
        match pass::code::parse(code) {
            Err(e) => errors.add("code", e.message()),
            Ok(normal) => match pass::find_pass(&state.db, &normal).await? {
                None => errors.add(
                    "code",
                    "Aucun pass ne porte ce code : vérifiez-le sur le pass, ou demandez au lieu qui vous l'a remis.",
                ),
                Some(p) => {
                    let c = &p.commande;
                    let today = crate::activites::today(state.now());
                    let mut redeem_services = Vec::new();
                    if let Some(sid) = place
                        && let Some(q) = pass::qualified_place(&state.db, sid).await?
                    {
                        redeem_services = q
                            .services
                            .into_iter()
                            .filter(|s| c.services.is_empty() || c.services.contains(s))
                            .collect();
                    }
                    info = Some(PassInfo {
                        display: pass::code::display(&p.code),
                        code: p.code.clone(),
                        valid: p.validity(today),
                        valeur: pass::euros(c.valeur_centimes),
                        financeur: c.financeur.clone(),
                        validite: format!(
                            "du {} au {} (accepté jusqu'au {})",
                            crate::activites::date_fr(c.debut),
                            crate::activites::date_fr(c.fin),
                            crate::activites::date_fr(pass::last_accepted_day(c.fin))
                        ),
                        territoire: c.territoire_label(),
                        publics: c.publics_label(),
                        services: c.services_label(),
                        redeem_services,
                    });
                }
            },
        }
    }
    let can_redeem = place.is_some()
        && info
            .as_ref()
            .is_some_and(|i| i.valid.is_ok() && !i.redeem_services.is_empty());
    Ok(CodeView {
        shell: Shell::new(ctx, "Vérifier un pass numérique"),
        typed: code.chars().take(40).collect(),
        errors,
        places: places_near(state, cp).await?,
        cp: cp.to_owned(),
        pass: info,
        prestations: pass::PRESTATIONS,
        can_redeem,
    })
}

/// `GET /pass`: type a code (or come back from a redemption).
pub async fn check_form(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<CodeQuery>,
) -> AppResult<Response> {
    if !q.code.trim().is_empty() {
        if let Ok(normal) = pass::code::parse(&q.code) {
            let cp: String = url::form_urlencoded::byte_serialize(q.cp.as_bytes()).collect();
            return Ok(Redirect::to(&format!("/pass/{normal}?cp={cp}")).into_response());
        }
        return show_code(&state, &ctx, &q.code, &q.cp).await;
    }
    let mut view = code_view(&state, &ctx, "", q.cp.trim(), FormErrors::default()).await?;
    view.shell = view.shell.with_notice(q.info.as_deref());
    render(&view)
}

/// `GET /pass/{code}`: validity, restrictions, where to use it near a postcode;
/// for a qualified place, the redemption form.
pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    Query(q): Query<CodeQuery>,
) -> AppResult<Response> {
    show_code(&state, &ctx, &code, &q.cp).await
}

async fn show_code(state: &AppState, ctx: &Ctx, code: &str, cp: &str) -> AppResult<Response> {
    if let Some(wait) = codes_blocked(state, ctx).await? {
        let mut errors = FormErrors::default();
        errors.add("code", too_many(wait));
        let view = code_view(state, ctx, "", cp.trim(), errors).await?;
        return render_status(StatusCode::TOO_MANY_REQUESTS, &view);
    }
    let view = code_view(state, ctx, code, cp.trim(), FormErrors::default()).await?;
    if view.pass.is_some() {
        render(&view)
    } else {
        wrong_code(state, ctx).await?;
        render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
    }
}

/// `POST /pass/{code}/utiliser`: a qualified place redeems the pass.
pub async fn redeem(
    State(state): State<AppState>,
    ctx: Ctx,
    p: PassStructure,
    Path(code): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let mut errors = FormErrors::default();
    let normal = match pass::code::parse(&code) {
        Ok(c) => c,
        Err(e) => {
            if let Some(wait) = codes_blocked(&state, &ctx).await? {
                errors.add("code", too_many(wait));
                let view = code_view(&state, &ctx, "", "", errors).await?;
                return render_status(StatusCode::TOO_MANY_REQUESTS, &view);
            }
            wrong_code(&state, &ctx).await?;
            errors.add("code", e.message());
            let view = code_view(&state, &ctx, &code, "", errors).await?;
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
    };
    // The wrong-code counters are read with the place and the pass (one round
    // trip): a blocked address or account learns nothing of the code.
    let keys = code_keys(&state, &ctx);
    let guard = throttle::Guard::new(&keys)
        .ok_or_else(|| AppError::Internal("aucune clé de limitation".into()))?;
    match pass::redeem(
        &state.db,
        p.structure_id,
        &normal,
        &field(&f, "prestation"),
        &field(&f, "service"),
        p.session.account_id,
        &guard,
        state.now(),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/pass/lieu?info=pass-utilise").into_response()),
        Err(PassError::Blocked(wait)) => {
            tracing::warn!(request_id = %ctx.request_id, "pass numérique : trop de codes faux, utilisation refusée");
            errors.add("code", too_many(wait));
            let view = code_view(&state, &ctx, "", "", errors).await?;
            render_status(StatusCode::TOO_MANY_REQUESTS, &view)
        }
        Err(e) => {
            if matches!(&e, PassError::Field("code", _)) {
                wrong_code(&state, &ctx).await?;
            }
            pass_error(e, &mut errors, "utilisation")?;
            let view = code_view(&state, &ctx, &normal, "", errors).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}

// ───────────────────────── a qualified place ─────────────────────────

#[derive(Template)]
#[template(path = "pass_lieu.html")]
pub struct PlaceView {
    pub shell: Shell,
    pub errors: FormErrors,
    pub utilisations: Vec<pass::Utilisation>,
    pub structure_id: i64,
}

impl PlaceView {
    fn when(&self, at: &i64) -> String {
        crate::time_fr::date_time(*at)
    }
    fn euros(&self, c: &i64) -> String {
        pass::euros(*c)
    }
    fn prestation(&self, k: &str) -> String {
        pass::label(pass::PRESTATIONS, k).to_owned()
    }
}

/// `GET /pass/lieu`: scan or type a code; the place's latest redemptions.
pub async fn place(
    State(state): State<AppState>,
    ctx: Ctx,
    p: PassStructure,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let view = PlaceView {
        shell: Shell::new(&ctx, "Pass numérique — mon lieu").with_notice(q.info.as_deref()),
        errors: FormErrors::default(),
        utilisations: pass::utilisations(&state.db, p.structure_id, state.now()).await?,
        structure_id: p.structure_id,
    };
    render(&view)
}

/// `POST /pass/utilisations/{uid}/annuler`: within 24 hours, with a reason.
pub async fn cancel(
    State(state): State<AppState>,
    ctx: Ctx,
    p: PassStructure,
    Path(uid): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let mut errors = FormErrors::default();
    match pass::cancel(
        &state.db,
        p.structure_id,
        uid,
        &field(&f, "motif"),
        p.session.account_id,
        state.now(),
    )
    .await
    {
        Ok(()) => Ok(Redirect::to("/pass/lieu?info=pass-annule").into_response()),
        Err(e) => {
            pass_error(e, &mut errors, "motif")?;
            let view = PlaceView {
                shell: Shell::new(&ctx, "Pass numérique — mon lieu"),
                errors,
                utilisations: pass::utilisations(&state.db, p.structure_id, state.now()).await?,
                structure_id: p.structure_id,
            };
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}

// ───────────────────────── prescripteur ─────────────────────────

#[derive(Template)]
#[template(path = "pass_remise.html")]
pub struct HandOutView {
    pub shell: Shell,
    pub errors: FormErrors,
    pub stock: Vec<(Commande, i64, i64, i64)>,
    pub code: String,
    pub ages: &'static [(&'static str, &'static str)],
    pub publics: &'static [(&'static str, &'static str)],
    /// After a hand-out: the carnet's number and the qualified places nearby.
    pub done: Option<i64>,
    pub places: Vec<(i64, String, String)>,
    pub cp: String,
}

async fn hand_out_view(
    state: &AppState,
    ctx: &Ctx,
    structure_id: i64,
    errors: FormErrors,
    code: String,
    done: Option<i64>,
) -> AppResult<HandOutView> {
    let cp = match &ctx.session {
        Some(s) => s
            .structure
            .as_ref()
            .and_then(|st| crate::territoires::get().commune(&st.commune_insee))
            .and_then(|c| c.postcodes.first().cloned())
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(HandOutView {
        shell: Shell::new(ctx, "Remettre un carnet de pass numérique"),
        errors,
        stock: pass::stock(&state.db, structure_id).await?,
        code,
        ages: crate::activites::vocab::AGES,
        publics: pass::PUBLICS,
        places: if done.is_some() {
            places_near(state, &cp).await?
        } else {
            Vec::new()
        },
        done,
        cp,
    })
}

pub async fn hand_out_form(
    State(state): State<AppState>,
    ctx: Ctx,
    p: PassStructure,
) -> AppResult<Response> {
    let view = hand_out_view(
        &state,
        &ctx,
        p.structure_id,
        FormErrors::default(),
        String::new(),
        None,
    )
    .await?;
    render(&view)
}

pub async fn hand_out(
    State(state): State<AppState>,
    ctx: Ctx,
    p: PassStructure,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let code = field(&f, "code");
    let cp: String = field(&f, "cp")
        .chars()
        .filter(char::is_ascii_digit)
        .take(5)
        .collect();
    match pass::hand_out(
        &state.db,
        p.structure_id,
        &code,
        &field(&f, "tranche_age"),
        &field(&f, "critere"),
        p.session.account_id,
        state.now(),
    )
    .await
    {
        Ok(carnet) => {
            let mut view = hand_out_view(
                &state,
                &ctx,
                p.structure_id,
                FormErrors::default(),
                String::new(),
                Some(carnet.numero),
            )
            .await?;
            // Near where the person lives, when the agent typed it.
            if cp.len() == 5 {
                view.places = places_near(&state, &cp).await?;
                view.cp = cp;
            }
            render(&view)
        }
        Err(e) => {
            let mut errors = FormErrors::default();
            pass_error(e, &mut errors, "code")?;
            let view = hand_out_view(&state, &ctx, p.structure_id, errors, code, None).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}

// ───────────────────────── funder ─────────────────────────

/// An order with its figures and where it stands.
pub struct OrderLine {
    pub c: Commande,
    pub f: dashboard::Figures,
    pub stage: Option<String>,
}

#[derive(Template)]
#[template(path = "pass_financeur.html")]
pub struct FunderView {
    pub shell: Shell,
    pub nom: String,
    pub orders: Vec<OrderLine>,
    pub total: dashboard::Figures,
    pub months: Vec<dashboard::Line>,
    pub months_chart: String,
    pub deps: Vec<dashboard::Line>,
    pub deps_chart: String,
}

async fn order_lines(
    state: &AppState,
    financeur_id: i64,
) -> AppResult<(Vec<OrderLine>, dashboard::Figures)> {
    let figures = dashboard::figures(&state.db, financeur_id).await?;
    let today = crate::activites::today(state.now());
    let orders: Vec<OrderLine> = pass::commandes(&state.db, financeur_id)
        .await?
        .into_iter()
        .map(|c| OrderLine {
            f: figures
                .iter()
                .find(|f| f.commande_id == c.id)
                .cloned()
                .unwrap_or_default(),
            stage: if c.active() {
                expiry::stage(&c, today)
            } else {
                Some(
                    "En attente du paiement : les pass seront actifs dès qu'il sera enregistré."
                        .into(),
                )
            },
            c,
        })
        .collect();
    Ok((orders, dashboard::total(&figures)))
}

pub async fn funder_home(
    State(state): State<AppState>,
    ctx: Ctx,
    f: Funder,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let nom = pass::financeur(&state.db, f.financeur_id)
        .await?
        .map(|x| x.nom)
        .unwrap_or_default();
    let (orders, total) = order_lines(&state, f.financeur_id).await?;
    let (months, deps) = dashboard::series(&state.db, f.financeur_id, 0).await?;
    let view = FunderView {
        shell: Shell::new(&ctx, format!("Pass numérique — {nom}")).with_notice(q.info.as_deref()),
        nom,
        orders,
        total,
        months_chart: bars(&months),
        months,
        deps_chart: bars(&deps),
        deps,
    };
    render(&view)
}

/// `GET /financeur/export.csv`: the figures per order, then per month.
pub async fn funder_csv(State(state): State<AppState>, f: Funder) -> AppResult<Response> {
    let (orders, _) = order_lines(&state, f.financeur_id).await?;
    let (months, deps) = dashboard::series(&state.db, f.financeur_id, 0).await?;
    let mut rows: Vec<Vec<Cell<'static>>> = Vec::new();
    for o in orders {
        for (label, n) in [
            ("Carnets émis", o.f.carnets),
            ("Carnets injectés", o.f.injectes),
            ("Carnets remis", o.f.remis),
            ("Carnets entamés", o.f.entames),
            ("Carnets entièrement utilisés", o.f.termines),
            ("Carnets non utilisés", o.f.non_utilises),
            ("Pass émis", o.f.pass),
            ("Pass utilisés", o.f.pass_utilises),
        ] {
            rows.push(vec![
                Cell::Owned(o.c.number()),
                Cell::Text(label),
                Cell::Int(n),
            ]);
        }
    }
    for m in months {
        rows.push(vec![
            Cell::Owned(format!("Mois {}", m.key)),
            Cell::Text("Carnets remis"),
            Cell::Int(m.remis),
        ]);
        rows.push(vec![
            Cell::Owned(format!("Mois {}", m.key)),
            Cell::Text("Pass utilisés"),
            Cell::Int(m.utilises),
        ]);
    }
    for d in deps {
        rows.push(vec![
            Cell::Owned(d.label),
            Cell::Text("Pass utilisés"),
            Cell::Int(d.utilises),
        ]);
    }
    csv_download(
        "pass-numerique.csv",
        &["Commande ou période", "Indicateur", "Nombre"],
        rows,
    )
}

#[derive(Template)]
#[template(path = "pass_commande_form.html")]
pub struct OrderFormView {
    pub shell: Shell,
    pub errors: FormErrors,
    pub raw: pass::RawOrder,
    pub kinds: &'static [(&'static str, &'static str)],
    pub publics: &'static [(&'static str, &'static str)],
    pub services: Vec<String>,
}

impl OrderFormView {
    fn has_public(&self, k: &str) -> bool {
        self.raw.publics.iter().any(|p| p == k)
    }
    fn has_service(&self, k: &str) -> bool {
        self.raw.services.iter().any(|p| p == k)
    }
}

fn order_form_view(ctx: &Ctx, raw: pass::RawOrder, errors: FormErrors) -> OrderFormView {
    OrderFormView {
        shell: Shell::new(ctx, "Commander des carnets de pass numérique"),
        errors,
        raw,
        kinds: pass::TERRITOIRE_TYPES,
        publics: pass::PUBLICS,
        services: pass::services(),
    }
}

pub async fn order_form(ctx: Ctx, _f: Funder) -> AppResult<Response> {
    let raw = pass::RawOrder {
        pass_par_carnet: "10".into(),
        territoire_type: "departements".into(),
        ..Default::default()
    };
    render(&order_form_view(&ctx, raw, FormErrors::default()))
}

pub async fn order_create(
    State(state): State<AppState>,
    ctx: Ctx,
    f: Funder,
    body: Bytes,
) -> AppResult<Response> {
    let raw = pass::RawOrder::parse(&body);
    match pass::check_order(&raw) {
        Err(list) => {
            let mut errors = FormErrors::default();
            for (k, m) in list {
                errors.add(k, m);
            }
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &order_form_view(&ctx, raw, errors),
            )
        }
        Ok(o) => {
            let id = pass::order(
                &state.db,
                f.financeur_id,
                &o,
                f.session.account_id,
                state.now(),
            )
            .await
            .map_err(|e| match e {
                PassError::Db(e) => AppError::from(e),
                other => AppError::Internal(other.to_string()),
            })?;
            Ok(Redirect::to(&format!(
                "/financeur/commandes/{id}?info=commande-enregistree"
            ))
            .into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "pass_commande.html")]
pub struct OrderView {
    pub shell: Shell,
    pub errors: FormErrors,
    /// `/financeur/commandes/1` or `/admin/pass/commandes/1`.
    pub base: String,
    pub operator: bool,
    pub line: OrderLine,
    pub closing: Option<expiry::Closing>,
    pub can_acknowledge: bool,
    pub months: Vec<dashboard::Line>,
    pub months_chart: String,
    pub deps: Vec<dashboard::Line>,
    pub deps_chart: String,
    pub prescripteurs: Vec<(i64, String)>,
    pub total: String,
}

impl OrderView {
    fn day(&self, t: &i64) -> String {
        crate::time_fr::date(*t)
    }
    fn euros(&self, c: &i64) -> String {
        pass::euros(*c)
    }
    fn date(&self, d: &i64) -> String {
        crate::activites::date_fr(*d)
    }
}

async fn order_view(
    state: &AppState,
    ctx: &Ctx,
    c: Commande,
    operator: bool,
    errors: FormErrors,
    notice: Option<&str>,
) -> AppResult<OrderView> {
    let today = crate::activites::today(state.now());
    let figures = dashboard::figures(&state.db, c.financeur_id)
        .await?
        .into_iter()
        .find(|f| f.commande_id == c.id)
        .unwrap_or_default();
    let (months, deps) = dashboard::series(&state.db, c.financeur_id, c.id).await?;
    let closing = if c.bilan_le.is_some() {
        Some(expiry::closing(&state.db, &c).await?)
    } else {
        None
    };
    let base = if operator {
        format!("/admin/pass/commandes/{}", c.id)
    } else {
        format!("/financeur/commandes/{}", c.id)
    };
    Ok(OrderView {
        shell: Shell::new(ctx, format!("Commande {}", c.number())).with_notice(notice),
        errors,
        base,
        operator,
        can_acknowledge: !operator
            && c.active()
            && c.accuse_le.is_none()
            && today >= pass::add_days(c.fin, -30),
        closing,
        months_chart: bars(&months),
        months,
        deps_chart: bars(&deps),
        deps,
        prescripteurs: if operator {
            pass::prescripteurs(&state.db).await?
        } else {
            Vec::new()
        },
        total: pass::euros(c.total_centimes()),
        line: OrderLine {
            stage: if c.active() {
                expiry::stage(&c, today)
            } else {
                Some(
                    "En attente du paiement : les pass seront actifs dès qu'il sera enregistré."
                        .into(),
                )
            },
            f: figures,
            c,
        },
    })
}

async fn funder_order(state: &AppState, f: &Funder, cid: i64) -> AppResult<Commande> {
    pass::commande(&state.db, cid)
        .await?
        .filter(|c| c.financeur_id == f.financeur_id)
        .ok_or(AppError::NotFound)
}

pub async fn funder_order_page(
    State(state): State<AppState>,
    ctx: Ctx,
    f: Funder,
    Path(cid): Path<i64>,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let c = funder_order(&state, &f, cid).await?;
    let view = order_view(
        &state,
        &ctx,
        c,
        false,
        FormErrors::default(),
        q.info.as_deref(),
    )
    .await?;
    render(&view)
}

async fn carnets_pdf(state: &AppState, c: &Commande) -> AppResult<Response> {
    let codes = pass::carnets::codes(&state.db, c.id, 1, c.carnets).await?;
    let base = state.link("");
    let c2 = c.clone();
    let bytes = tokio::task::spawn_blocking(move || pass::carnets::pdf(&c2, &codes, &base))
        .await
        .map_err(|e| AppError::Internal(format!("carnets : {e}")))?
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(pdf_download(&format!("carnets-{}.pdf", c.number()), bytes))
}

pub async fn funder_carnets(
    State(state): State<AppState>,
    f: Funder,
    Path(cid): Path<i64>,
) -> AppResult<Response> {
    let c = funder_order(&state, &f, cid).await?;
    carnets_pdf(&state, &c).await
}

pub async fn funder_acknowledge(
    State(state): State<AppState>,
    ctx: Ctx,
    f: Funder,
    Path(cid): Path<i64>,
) -> AppResult<Response> {
    let c = funder_order(&state, &f, cid).await?;
    match expiry::acknowledge(
        &state.db,
        f.financeur_id,
        cid,
        f.session.account_id,
        state.now(),
    )
    .await
    {
        Ok(()) => Ok(Redirect::to(&format!(
            "/financeur/commandes/{cid}?info=echeance-confirmee"
        ))
        .into_response()),
        Err(e) => {
            let mut errors = FormErrors::default();
            pass_error(e, &mut errors, "accuse")?;
            let view = order_view(&state, &ctx, c, false, errors, None).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}

pub async fn funder_closing(
    State(state): State<AppState>,
    ctx: Ctx,
    f: Funder,
    Path(cid): Path<i64>,
) -> AppResult<Response> {
    let c = funder_order(&state, &f, cid).await?;
    match expiry::accept_closing(
        &state.db,
        cid,
        Some(f.financeur_id),
        f.session.account_id,
        state.now(),
    )
    .await
    {
        Ok(()) => Ok(
            Redirect::to(&format!("/financeur/commandes/{cid}?info=bilan-accepte")).into_response(),
        ),
        Err(e) => {
            let mut errors = FormErrors::default();
            pass_error(e, &mut errors, "bilan")?;
            let view = order_view(&state, &ctx, c, false, errors, None).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}

// ───────────────────────── operator ─────────────────────────

#[derive(Template)]
#[template(path = "pass_admin.html")]
pub struct AdminView {
    pub shell: Shell,
    pub errors: FormErrors,
    pub financeurs: Vec<(pass::Financeur, Vec<(String, String)>)>,
    pub kinds: &'static [(&'static str, &'static str)],
    pub prescripteurs: Vec<(i64, String)>,
    pub orders: Vec<OrderLine>,
    pub total: dashboard::Figures,
    pub qualifications: Vec<pass::Qualification>,
    pub releves: Vec<releves::Releve>,
    pub ops: dashboard::Operations,
    /// Every funder's hand-outs and redemptions by month and département.
    pub months: Vec<dashboard::Line>,
    pub months_chart: String,
    pub deps: Vec<dashboard::Line>,
    pub deps_chart: String,
}

impl AdminView {
    fn euros(&self, c: &i64) -> String {
        pass::euros(*c)
    }
    fn month(&self, m: &i64) -> String {
        crate::activites::stats::month_label(*m)
    }
    fn kind(&self, k: &str) -> String {
        pass::label(pass::FINANCEUR_TYPES, k).to_owned()
    }
}

async fn admin_view(
    state: &AppState,
    ctx: &Ctx,
    errors: FormErrors,
    notice: Option<&str>,
) -> AppResult<AdminView> {
    let mut financeurs = Vec::new();
    for f in pass::financeurs(&state.db).await? {
        let members = pass::financeur_members(&state.db, f.id).await?;
        financeurs.push((f, members));
    }
    let (orders, total) = order_lines(state, 0).await?;
    let (months, deps) = dashboard::series(&state.db, 0, 0).await?;
    Ok(AdminView {
        months_chart: bars(&months),
        months,
        deps_chart: bars(&deps),
        deps,
        shell: Shell::new(ctx, "Pass numérique — opérateur").with_notice(notice),
        errors,
        financeurs,
        kinds: pass::FINANCEUR_TYPES,
        prescripteurs: pass::prescripteurs(&state.db).await?,
        orders,
        total,
        qualifications: pass::qualifications(&state.db, 0).await?,
        releves: releves::list(&state.db, 0)
            .await?
            .into_iter()
            .filter(|r| r.paye_le.is_none())
            .collect(),
        ops: dashboard::operations(&state.db).await?,
    })
}

pub async fn admin_home(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    render(&admin_view(&state, &ctx, FormErrors::default(), q.info.as_deref()).await?)
}

async fn admin_refused(state: &AppState, ctx: &Ctx, errors: FormErrors) -> AppResult<Response> {
    let view = admin_view(state, ctx, errors, None).await?;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
}

pub async fn admin_create_funder(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    match pass::create_financeur(
        &state.db,
        &field(&f, "nom"),
        &field(&f, "type"),
        &field(&f, "siret"),
        a.0.account_id,
        state.now(),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/admin/pass?info=financeur-cree").into_response()),
        Err(e) => {
            let mut errors = FormErrors::default();
            pass_error(e, &mut errors, "nom")?;
            admin_refused(&state, &ctx, errors).await
        }
    }
}

pub async fn admin_add_agent(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    Path(fid): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let Some(funder) = pass::financeur(&state.db, fid).await? else {
        return Err(AppError::NotFound);
    };
    let mut errors = FormErrors::default();
    let email = errors.check("email", crate::domain::Email::parse(&field(&f, "email")));
    let name = errors.check(
        "full_name",
        crate::domain::parse_name(&field(&f, "full_name"), "Saisissez le nom de la personne."),
    );
    let (Some(email), Some(name)) = (email, name) else {
        return admin_refused(&state, &ctx, errors).await;
    };
    if let Err(wait) = throttle::email_allowed(
        &state.db,
        email.as_str(),
        &format!("compte:{}", a.0.account_id),
        state.now(),
    )
    .await?
    {
        errors.add("email", throttle::email_refused_text(wait));
        return admin_refused(&state, &ctx, errors).await;
    }
    match pass::add_financeur_member(&state.db, fid, &email, &name, a.0.account_id, state.now())
        .await
    {
        Ok(token) => {
            let mut info = "agent-ajoute";
            if let Some(token) = token {
                let link = state.link(&format!("/activation/{token}"));
                let mail = crate::mail::messages::invitation(email.as_str(), &funder.nom, &link);
                if let Err(e) = state.mailer.send(mail).await {
                    tracing::error!(request_id = %ctx.request_id, cause = %e, "e-mail d'invitation non envoyé");
                    info = "envoi-echoue";
                }
            }
            Ok(Redirect::to(&format!("/admin/pass?info={info}")).into_response())
        }
        Err(e) => {
            pass_error(e, &mut errors, "email")?;
            admin_refused(&state, &ctx, errors).await
        }
    }
}

pub async fn admin_add_prescriber(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let mut errors = FormErrors::default();
    let structure = match field(&f, "structure").parse::<i64>() {
        Ok(id) => crate::structures::find(&state.db, id).await?,
        Err(_) => None,
    };
    let Some(s) = structure else {
        errors.add(
            "structure",
            "Saisissez le numéro d'une structure de Relais (il figure dans l'adresse de sa page).",
        );
        return admin_refused(&state, &ctx, errors).await;
    };
    pass::set_prescripteur(&state.db, s.id, a.0.account_id, state.now()).await?;
    Ok(Redirect::to("/admin/pass?info=prescripteur-ajoute").into_response())
}

pub async fn admin_order_page(
    State(state): State<AppState>,
    ctx: Ctx,
    _a: Admin,
    Path(cid): Path<i64>,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let c = pass::commande(&state.db, cid)
        .await?
        .ok_or(AppError::NotFound)?;
    render(
        &order_view(
            &state,
            &ctx,
            c,
            true,
            FormErrors::default(),
            q.info.as_deref(),
        )
        .await?,
    )
}

pub async fn admin_carnets(
    State(state): State<AppState>,
    _a: Admin,
    Path(cid): Path<i64>,
) -> AppResult<Response> {
    let c = pass::commande(&state.db, cid)
        .await?
        .ok_or(AppError::NotFound)?;
    carnets_pdf(&state, &c).await
}

async fn admin_order_result(
    state: &AppState,
    ctx: &Ctx,
    cid: i64,
    r: Result<(), PassError>,
    info: &str,
    general: &'static str,
) -> AppResult<Response> {
    match r {
        Ok(()) => {
            Ok(Redirect::to(&format!("/admin/pass/commandes/{cid}?info={info}")).into_response())
        }
        Err(e) => {
            let mut errors = FormErrors::default();
            pass_error(e, &mut errors, general)?;
            let c = pass::commande(&state.db, cid)
                .await?
                .ok_or(AppError::NotFound)?;
            let view = order_view(state, ctx, c, true, errors, None).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}

pub async fn admin_payment(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    Path(cid): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let r = pass::record_payment(
        &state.db,
        cid,
        &field(&f, "reference"),
        a.0.account_id,
        state.now(),
    )
    .await;
    admin_order_result(&state, &ctx, cid, r, "paiement-enregistre", "reference").await
}

pub async fn admin_allocate(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    Path(cid): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let num = |k: &str| field(&f, k).parse::<i64>().unwrap_or(0);
    let r = pass::allocate(
        &state.db,
        cid,
        num("prescripteur"),
        num("de"),
        num("a"),
        a.0.account_id,
        state.now(),
    )
    .await
    .map(|_| ());
    admin_order_result(&state, &ctx, cid, r, "carnets-confies", "de").await
}

pub async fn admin_closing(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    Path(cid): Path<i64>,
) -> AppResult<Response> {
    let r = expiry::accept_closing(&state.db, cid, None, a.0.account_id, state.now()).await;
    admin_order_result(&state, &ctx, cid, r, "bilan-accepte", "bilan").await
}

pub async fn admin_decide(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    Path(qid): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let qualify = match field(&f, "decision").as_str() {
        "qualifier" => true,
        "refuser" => false,
        _ => {
            let mut errors = FormErrors::default();
            errors.add("decision", "Choisissez : qualifier ou refuser.");
            return admin_refused(&state, &ctx, errors).await;
        }
    };
    match pass::decide(
        &state.db,
        qid,
        qualify,
        &field(&f, "motif"),
        a.0.account_id,
        state.now(),
    )
    .await
    {
        Ok(()) => Ok(Redirect::to("/admin/pass?info=lieu-instruit").into_response()),
        Err(e) => {
            let mut errors = FormErrors::default();
            pass_error(e, &mut errors, "motif")?;
            admin_refused(&state, &ctx, errors).await
        }
    }
}

pub async fn admin_pay(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Admin,
    body: Bytes,
) -> AppResult<Response> {
    let f = pairs(&body);
    let ids: Vec<i64> = f
        .iter()
        .filter(|(k, _)| k == "releve")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    match releves::pay(
        &state.db,
        &ids,
        &field(&f, "reference"),
        a.0.account_id,
        state.now(),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/admin/pass?info=releves-payes").into_response()),
        Err(e) => {
            let mut errors = FormErrors::default();
            pass_error(e, &mut errors, "reference")?;
            admin_refused(&state, &ctx, errors).await
        }
    }
}

// ───────────────────────── a structure: qualification, statements ─────────────────────────

#[derive(Template)]
#[template(path = "pass_structure.html")]
pub struct StructureView {
    pub shell: Shell,
    pub errors: FormErrors,
    pub structure_id: i64,
    pub qualifications: Vec<pass::Qualification>,
    pub can_apply: bool,
    pub raw: pass::RawQualification,
    pub questions: &'static [(&'static str, &'static str)],
    pub services: Vec<String>,
    pub releves: Vec<releves::Releve>,
}

impl StructureView {
    fn day(&self, t: &i64) -> String {
        crate::time_fr::date(*t)
    }
    fn euros(&self, c: &i64) -> String {
        pass::euros(*c)
    }
    fn month(&self, m: &i64) -> String {
        crate::activites::stats::month_label(*m)
    }
    fn statut(&self, s: &str) -> &'static str {
        match s {
            "qualifie" => "Qualifié : le lieu accepte le pass numérique",
            "refuse" => "Refusé",
            _ => "Demande en cours d'instruction",
        }
    }
    fn has_service(&self, k: &str) -> bool {
        self.raw.services.iter().any(|p| p == k)
    }
    fn has_answer(&self, k: &str) -> bool {
        self.raw.reponses.iter().any(|p| p == k)
    }
}

async fn structure_view(
    state: &AppState,
    ctx: &Ctx,
    sid: i64,
    raw: pass::RawQualification,
    errors: FormErrors,
    notice: Option<&str>,
) -> AppResult<StructureView> {
    let qualifications = pass::qualifications(&state.db, sid).await?;
    let raw = if raw.commune.is_empty() && raw.siret.is_empty() {
        let s = crate::structures::find(&state.db, sid).await?;
        pass::RawQualification {
            siret: s.as_ref().map(|s| s.siret.clone()).unwrap_or_default(),
            commune: s
                .as_ref()
                .map(|s| crate::territoires::get().label(&s.commune_insee))
                .unwrap_or_default(),
            lieu: state
                .db
                .fetch_optional(
                    "SELECT lieu_accueil_id FROM structures WHERE id = $1",
                    crate::args![sid],
                )
                .await?
                .and_then(|r| r.opt_int("lieu_accueil_id").ok().flatten())
                .map(|l| l.to_string())
                .unwrap_or_default(),
            ..raw
        }
    } else {
        raw
    };
    Ok(StructureView {
        shell: Shell::new(ctx, "Pass numérique de la structure").with_notice(notice),
        errors,
        structure_id: sid,
        can_apply: !qualifications.iter().any(|q| q.statut != "refuse"),
        qualifications,
        raw,
        questions: pass::QUESTIONS,
        services: pass::services(),
        releves: releves::list(&state.db, sid).await?,
    })
}

pub async fn structure_page(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let view = structure_view(
        &state,
        &ctx,
        m.structure_id,
        pass::RawQualification::default(),
        FormErrors::default(),
        q.info.as_deref(),
    )
    .await?;
    render(&view)
}

pub async fn structure_apply(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Manager,
    body: Bytes,
) -> AppResult<Response> {
    let raw = pass::RawQualification::parse(&body);
    match pass::apply(
        &state.db,
        m.structure_id,
        &raw,
        m.session.account_id,
        state.now(),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/structures/{}/pass?info=qualification-demandee",
            m.structure_id
        ))
        .into_response()),
        Err(list) => {
            let mut errors = FormErrors::default();
            for (k, v) in list {
                errors.add(k, v);
            }
            let view = structure_view(&state, &ctx, m.structure_id, raw, errors, None).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}

async fn structure_releve(state: &AppState, m: &Manager, rid: i64) -> AppResult<releves::Releve> {
    releves::get(&state.db, rid)
        .await?
        .filter(|r| r.structure_id == m.structure_id)
        .ok_or(AppError::NotFound)
}

pub async fn releve_csv(
    State(state): State<AppState>,
    m: Manager,
    Path((_sid, rid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let r = structure_releve(&state, &m, rid).await?;
    let lines = releves::lines(&state.db, rid).await?;
    let rows = lines.into_iter().map(|l| {
        vec![
            Cell::Owned(crate::activites::date_fr(l.0)),
            Cell::Owned(format!("PN-{:06}", l.1)),
            Cell::Int(l.2),
            Cell::Int(l.3),
            Cell::Owned(l.4),
            Cell::Owned(pass::label(pass::PRESTATIONS, &l.5).to_owned()),
            Cell::Owned(l.6),
            Cell::Owned(format!("{},{:02}", l.7 / 100, l.7 % 100)),
        ]
    });
    csv_download(
        &format!("{}.csv", r.number()),
        &[
            "Date",
            "Commande",
            "Carnet",
            "Pass",
            "Fin du code",
            "Prestation",
            "Service",
            "Montant (€)",
        ],
        rows,
    )
}

pub async fn releve_pdf(
    State(state): State<AppState>,
    m: Manager,
    Path((_sid, rid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let r = structure_releve(&state, &m, rid).await?;
    let lines = releves::lines(&state.db, rid).await?;
    let number = r.number();
    let bytes = tokio::task::spawn_blocking(move || releves::pdf(&r, &lines))
        .await
        .map_err(|e| AppError::Internal(format!("relevé : {e}")))?
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(pdf_download(&format!("{number}.pdf"), bytes))
}
