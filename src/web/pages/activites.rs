//! Mediators' pages: activity reports (CRA), their beneficiaries, their places of
//! activity, their profile and their statistics. Every route is
//! `Access::Mediator` and every query takes the mediator's own account id, so
//! another mediator's report or person is a 404.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::activites::beneficiaires::{self, Beneficiaire, RawFields};
use crate::activites::form::{self, Raw};
use crate::activites::stats::{self, Filter, Scope};
use crate::activites::{self, ActivityError, Kind, Line, Place, Stored, vocab};
use crate::csv_export::Cell;
use crate::web::AppState;
use crate::web::access::Mediator;
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{AppForm, FormErrors, PageQuery};
use crate::web::views::{ConfirmView, Confirmed, Shell, csv_download, render, render_status};

/// Reports per page of the list.
pub const PAGE_SIZE: i64 = 30;

// ───────────────────────── the list of reports ─────────────────────────

#[derive(Template)]
#[template(path = "activites.html")]
pub struct ActivitesView {
    pub shell: Shell,
    pub teams: Vec<crate::activites::coordination::Membership>,
    pub is_coordinator: bool,
    pub lines: Vec<Line>,
    pub next: Option<String>,
    pub has_places: bool,
}

impl ActivitesView {
    fn date(&self, d: &i64) -> String {
        activites::date_fr(*d)
    }
    fn duree(&self, d: &i64) -> String {
        activites::duree_fr(*d)
    }
    fn themes(&self, l: &Line) -> String {
        l.thematiques
            .iter()
            .map(|t| vocab::label(vocab::THEMATIQUES, t))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    info: Option<String>,
    /// `date-id` of the last line of the previous page.
    avant: String,
}

fn parse_cursor(raw: &str) -> Option<(i64, i64)> {
    let (d, i) = raw.split_once('-')?;
    Some((d.parse().ok()?, i.parse().ok()?))
}

pub async fn home(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let me = m.session.account_id;
    let lines = activites::list(&state.db, me, parse_cursor(&q.avant), None, PAGE_SIZE + 1).await?;
    let (lines, next) = page(lines);
    let has_places = !activites::places(&state.db, me).await?.is_empty();
    render(&ActivitesView {
        shell: Shell::new(&ctx, "Mes activités").with_notice(q.info.as_deref()),
        teams: crate::activites::coordination::memberships(&state.db, me).await?,
        is_coordinator: m.session.coordinateur,
        lines,
        next,
        has_places,
    })
}

fn page(mut lines: Vec<Line>) -> (Vec<Line>, Option<String>) {
    let more = i64::try_from(lines.len()).unwrap_or(0) > PAGE_SIZE;
    lines.truncate(usize::try_from(PAGE_SIZE).unwrap_or(30));
    let next = more
        .then(|| lines.last().map(|l| format!("avant={}-{}", l.date, l.id)))
        .flatten();
    (lines, next)
}

// ───────────────────────── the report form ─────────────────────────

#[derive(Template)]
#[template(path = "activite_form.html")]
pub struct ActiviteFormView {
    pub shell: Shell,
    pub heading: String,
    pub kind: &'static str,
    pub action: String,
    pub raw: Raw,
    pub errors: FormErrors,
    pub places: Vec<Place>,
    /// Presets and the mediator's frequent durations, in minutes.
    pub durations: Vec<i64>,
    pub people: Vec<(i64, String)>,
    pub today: String,
    pub thematiques: &'static [vocab::Term],
    pub thematiques_admin: &'static [vocab::Term],
    pub materiels: &'static [vocab::Term],
    pub lieu_types: &'static [vocab::Term],
    pub autonomies: &'static [vocab::Term],
    pub orientations: &'static [vocab::Term],
    pub niveaux: &'static [vocab::Term],
    pub genres: &'static [vocab::Term],
    pub ages: &'static [vocab::Term],
    pub statuts: &'static [vocab::Term],
    pub submit: &'static str,
}

impl ActiviteFormView {
    fn duree_label(&self, d: &i64) -> String {
        activites::duree_fr(*d)
    }
    fn is_duree(&self, d: &i64) -> bool {
        self.raw.duree == d.to_string()
    }
    fn selected_person(&self, id: &i64) -> bool {
        self.raw.beneficiaire == id.to_string()
    }
    fn selected_place(&self, id: &i64) -> bool {
        self.raw.lieu == id.to_string()
    }
    /// An anonymous person's genre, age band and status: field, legend, values, chosen.
    fn anon_fields(&self) -> Vec<(&'static str, &'static str, &'static [vocab::Term], &str)> {
        vec![
            (
                "anon_genre",
                "Genre",
                self.genres,
                self.raw.anon_genre.as_str(),
            ),
            (
                "anon_age",
                "Tranche d'âge",
                self.ages,
                self.raw.anon_age.as_str(),
            ),
            (
                "anon_statut",
                "Statut",
                self.statuts,
                self.raw.anon_statut.as_str(),
            ),
        ]
    }
    /// A workshop's anonymous counters: prefix, field, legend, values.
    fn count_groups(
        &self,
    ) -> Vec<(
        &'static str,
        &'static str,
        &'static str,
        &'static [vocab::Term],
    )> {
        vec![
            ("genre_", "genre", "Par genre", self.genres),
            ("age_", "age", "Par tranche d'âge", self.ages),
            ("statut_", "statut", "Par statut", self.statuts),
        ]
    }
    fn count_name(&self, prefix: &str, slug: &str) -> String {
        format!("{prefix}{slug}")
    }
    fn count_value(&self, prefix: &str, slug: &str) -> String {
        self.raw.count(&format!("{prefix}{slug}")).to_owned()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewQuery {
    beneficiaire: Option<i64>,
}

#[allow(clippy::too_many_arguments, reason = "the parts of one form page")]
async fn form_view(
    state: &AppState,
    ctx: &Ctx,
    me: i64,
    kind: Kind,
    action: String,
    raw: Raw,
    errors: FormErrors,
    editing: bool,
) -> AppResult<ActiviteFormView> {
    let places = activites::places(&state.db, me).await?;
    let mut durations: Vec<i64> = vocab::DUREES.to_vec();
    durations.extend(activites::frequent_durations(&state.db, me).await?);
    let mut people: Vec<(i64, String)> = beneficiaires::search(&state.db, me, "", 100)
        .await?
        .iter()
        .map(|b| (b.id, b.display_name()))
        .collect();
    // A person chosen elsewhere (their page, an edited report) is offered too.
    let mut wanted: Vec<i64> = raw
        .participants
        .iter()
        .chain(std::iter::once(&raw.beneficiaire))
        .filter_map(|p| p.parse().ok())
        .collect();
    wanted.retain(|id| !people.iter().any(|(p, _)| p == id));
    for id in wanted {
        if let Some(b) = beneficiaires::get(&state.db, me, id).await? {
            people.insert(0, (b.id, b.display_name()));
        }
    }
    let heading = match (kind, editing) {
        (Kind::Individuel, false) => "Nouvel accompagnement individuel",
        (Kind::Collectif, false) => "Nouvel atelier collectif",
        (Kind::Individuel, true) => "Modifier l'accompagnement individuel",
        (Kind::Collectif, true) => "Modifier l'atelier collectif",
    };
    Ok(ActiviteFormView {
        shell: Shell::new(ctx, heading),
        heading: heading.to_owned(),
        kind: kind.key(),
        action,
        raw,
        errors,
        places,
        durations,
        people,
        today: activites::date_iso(activites::today(state.now())),
        thematiques: vocab::THEMATIQUES,
        thematiques_admin: vocab::THEMATIQUES_ADMIN,
        materiels: vocab::MATERIELS,
        lieu_types: vocab::LIEU_TYPES,
        autonomies: vocab::AUTONOMIES,
        orientations: vocab::ORIENTATIONS,
        niveaux: vocab::NIVEAUX,
        genres: vocab::GENRES,
        ages: vocab::AGES,
        statuts: vocab::STATUTS,
        submit: if editing {
            "Enregistrer les modifications"
        } else {
            "Enregistrer"
        },
    })
}

/// A new report's form, filled with what the mediator used last (place,
/// material, duration) and today's date.
async fn new_form(
    state: AppState,
    ctx: Ctx,
    m: Mediator,
    kind: Kind,
    q: NewQuery,
) -> AppResult<Response> {
    let me = m.session.account_id;
    let profile = activites::profile(&state.db, me).await?;
    let places = activites::places(&state.db, me).await?;
    let remembered_place = profile
        .remembered
        .lieu_id
        .filter(|l| places.iter().any(|p| p.id == *l))
        .or_else(|| {
            (places.len() == 1)
                .then(|| places.first().map(|p| p.id))
                .flatten()
        });
    let mut raw = Raw {
        date: activites::date_iso(activites::today(state.now())),
        lieu_type: if remembered_place.is_some() {
            "lieu_activite".into()
        } else {
            String::new()
        },
        lieu: remembered_place.map(|l| l.to_string()).unwrap_or_default(),
        ..Raw::default()
    };
    if kind == Kind::Individuel {
        raw.duree = profile
            .remembered
            .duree
            .map(|d| d.to_string())
            .unwrap_or_default();
        raw.materiel = profile.remembered.materiel.clone();
        raw.oriente = "non".into();
        if let Some(b) = q.beneficiaire {
            raw.beneficiaire = b.to_string();
        }
    } else if let Some(b) = q.beneficiaire {
        raw.participants.push(b.to_string());
    }
    let action = format!("/activites/{}/nouveau", kind.key());
    let view = form_view(
        &state,
        &ctx,
        me,
        kind,
        action,
        raw,
        FormErrors::default(),
        false,
    )
    .await?;
    render(&view)
}

pub async fn new_individual_form(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Query(q): Query<NewQuery>,
) -> AppResult<Response> {
    new_form(state, ctx, m, Kind::Individuel, q).await
}

pub async fn new_collective_form(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Query(q): Query<NewQuery>,
) -> AppResult<Response> {
    new_form(state, ctx, m, Kind::Collectif, q).await
}

/// Checks and writes a report (new when `id` is `None`).
async fn submit(
    state: AppState,
    ctx: Ctx,
    m: Mediator,
    kind: Kind,
    id: Option<i64>,
    body: &[u8],
) -> AppResult<Response> {
    let me = m.session.account_id;
    let raw = Raw::parse(body);
    let mut errors = FormErrors::default();
    let action = match id {
        Some(id) => format!("/activites/{id}/modifier"),
        None => format!("/activites/{}/nouveau", kind.key()),
    };
    let checked = form::check(&raw, kind, activites::today(state.now()), &mut errors);
    let result = match checked {
        Some(mut report) => {
            if let Some(mid) = report.mandat_id
                && !mandate_of_structure(&state, m.structure_id, mid).await?
            {
                report.mandat_id = None;
                errors.add(
                    "mandat",
                    "Ce mandat n'existe pas dans votre structure : vérifiez son numéro.",
                );
            }
            if errors.is_empty() {
                let now = state.now();
                Some(match id {
                    Some(id) => activites::update(&state.db, me, id, &report, now).await,
                    None => activites::record(&state.db, me, m.structure_id, &report, now).await,
                })
            } else {
                None
            }
        }
        None => None,
    };
    match result {
        Some(Ok(done)) => {
            let info = match (id.is_some(), done.possible_duplicate) {
                (_, true) => "activite-doublon",
                (true, false) => "activite-modifiee",
                (false, false) => "activite-enregistree",
            };
            Ok(Redirect::to(&format!("/activites?info={info}")).into_response())
        }
        Some(Err(ActivityError::Field(field, message))) => {
            errors.add(field, message);
            let view = form_view(&state, &ctx, me, kind, action, raw, errors, id.is_some()).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
        Some(Err(ActivityError::NotFound)) => Err(AppError::NotFound),
        Some(Err(ActivityError::Db(e))) => Err(e.into()),
        None => {
            let view = form_view(&state, &ctx, me, kind, action, raw, errors, id.is_some()).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}

async fn mandate_of_structure(
    state: &AppState,
    structure_id: i64,
    mandat_id: i64,
) -> AppResult<bool> {
    Ok(state
        .db
        .fetch_optional(
            "SELECT id FROM mandats WHERE id = $1 AND structure_id = $2",
            crate::args![mandat_id, structure_id],
        )
        .await?
        .is_some())
}

pub async fn create_individual(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    body: Bytes,
) -> AppResult<Response> {
    submit(state, ctx, m, Kind::Individuel, None, &body).await
}

pub async fn create_collective(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    body: Bytes,
) -> AppResult<Response> {
    submit(state, ctx, m, Kind::Collectif, None, &body).await
}

async fn own(state: &AppState, m: &Mediator, id: i64) -> AppResult<Stored> {
    activites::get(&state.db, m.session.account_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn edit_form(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let a = own(&state, &m, id).await?;
    let raw = Raw::from_report(&a.report);
    let view = form_view(
        &state,
        &ctx,
        m.session.account_id,
        a.report.kind,
        format!("/activites/{id}/modifier"),
        raw,
        FormErrors::default(),
        true,
    )
    .await?;
    render(&view)
}

pub async fn edit(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Path(id): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let a = own(&state, &m, id).await?;
    submit(state, ctx, m, a.report.kind, Some(id), &body).await
}

// ───────────────────────── one report ─────────────────────────

#[derive(Template)]
#[template(path = "activite.html")]
pub struct ActiviteView {
    pub shell: Shell,
    pub id: i64,
    pub kind: &'static str,
    /// (label, value) lines of the report.
    pub facts: Vec<(&'static str, String)>,
    pub people: Vec<(i64, String)>,
    pub counters: Vec<(&'static str, Vec<(&'static str, i64)>)>,
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let a = own(&state, &m, id).await?;
    let r = &a.report;
    let t = crate::territoires::get();
    let place = match r.lieu_id {
        Some(l) => state
            .db
            .fetch_optional("SELECT nom FROM lieux WHERE id = $1", crate::args![l])
            .await?
            .map(|x| x.text("nom"))
            .transpose()?
            .unwrap_or_default(),
        None if r.commune_insee.is_empty() => String::new(),
        None => t.label(&r.commune_insee),
    };
    let labels = |list: &[vocab::Term], values: &[String]| -> String {
        values
            .iter()
            .map(|v| vocab::label(list, v))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut facts = vec![
        ("Type", r.kind.label().to_owned()),
        ("Date", activites::date_fr(r.date)),
        ("Durée", activites::duree_fr(r.duree)),
        (
            "Lieu",
            format!("{} {place}", vocab::label(vocab::LIEU_TYPES, &r.lieu_type))
                .trim()
                .to_owned(),
        ),
        ("Matériel", labels(vocab::MATERIELS, &r.materiel)),
        ("Thématiques", labels(vocab::THEMATIQUES, &r.thematiques)),
    ];
    if !r.thematiques_admin.is_empty() {
        facts.push((
            "Démarches",
            labels(vocab::THEMATIQUES_ADMIN, &r.thematiques_admin),
        ));
    }
    if !r.precisions.is_empty() {
        facts.push(("Précisions sur la démarche", r.precisions.clone()));
    }
    if r.kind == Kind::Individuel {
        if !r.autonomie.is_empty() {
            facts.push((
                "Autonomie",
                vocab::label(vocab::AUTONOMIES, &r.autonomie).to_owned(),
            ));
        }
        facts.push((
            "Orientation",
            if r.orientation.is_empty() {
                "Non".to_owned()
            } else {
                format!(
                    "Oui : {}",
                    vocab::label(vocab::ORIENTATIONS, &r.orientation)
                )
            },
        ));
    } else {
        facts.insert(0, ("Titre", r.titre.clone()));
        if !r.niveau.is_empty() {
            facts.push(("Niveau", vocab::label(vocab::NIVEAUX, &r.niveau).to_owned()));
        }
    }
    if !r.tags.is_empty() {
        facts.push(("Étiquettes", r.tags.join(", ")));
    }
    if let Some(mid) = r.mandat_id {
        facts.push(("Mandat Aidants Connect", format!("n° {mid}")));
    }
    if !r.notes.is_empty() {
        facts.push(("Notes", r.notes.clone()));
    }
    facts.push(("Accompagnements comptés", r.accompagnements().to_string()));
    let source = state
        .db
        .fetch_one(
            "SELECT source, source_id, source_data FROM activites WHERE id = $1",
            crate::args![id],
        )
        .await?;
    if source.text("source")? == "v1" {
        facts.push((
            "Source",
            format!(
                "Importée de l'ancien outil (v1), identifiant {} — ligne d'origine : {}",
                source.opt_text("source_id")?.unwrap_or_default(),
                source.opt_text("source_data")?.unwrap_or_default()
            ),
        ));
    }
    let mut people = Vec::new();
    for b in &r.participants {
        people.push((*b, beneficiaires::name_of(&state.db, *b).await?));
    }
    let an = &r.anonymes;
    let breakdown = |list: &'static [vocab::Term], values: &[i64]| -> Vec<(&'static str, i64)> {
        let mut v: Vec<(&'static str, i64)> = list
            .iter()
            .zip(values.iter())
            .map(|((_, l), n)| (*l, *n))
            .collect();
        v.push((vocab::NON_COMMUNIQUE.1, an.remainder(values)));
        v
    };
    let counters = if an.total > 0 {
        vec![
            (
                "Participants anonymes",
                vec![("Total", an.total), ("Déjà accompagnés", an.deja)],
            ),
            ("Genre", breakdown(vocab::GENRES, &an.genre)),
            ("Tranche d'âge", breakdown(vocab::AGES, &an.age)),
            ("Statut", breakdown(vocab::STATUTS, &an.statut)),
        ]
    } else {
        Vec::new()
    };
    render(&ActiviteView {
        shell: Shell::new(&ctx, r.kind.label()).with_notice(q.info.as_deref()),
        id,
        kind: r.kind.key(),
        facts,
        people,
        counters,
    })
}

pub async fn delete_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let a = own(&state, &m, id).await?;
    let heading = "Supprimer cette activité ?".to_owned();
    render(&ConfirmView {
        shell: Shell::new(&ctx, heading.clone()),
        heading,
        paragraphs: vec![
            format!(
                "{} du {} : elle disparaîtra de votre liste et de vos statistiques.",
                a.report.kind.label(),
                activites::date_fr(a.report.date)
            ),
            "Les personnes accompagnées restent dans vos bénéficiaires.".to_owned(),
        ],
        action: format!("/activites/{id}/supprimer"),
        confirm_label: "Oui, supprimer l'activité".to_owned(),
        cancel_href: format!("/activites/{id}"),
    })
}

pub async fn delete(
    State(state): State<AppState>,
    m: Mediator,
    Path(id): Path<i64>,
    AppForm(c): AppForm<Confirmed>,
) -> AppResult<Response> {
    if !c.yes() {
        return Ok(Redirect::to(&format!("/activites/{id}/supprimer")).into_response());
    }
    match activites::delete(&state.db, m.session.account_id, id).await {
        Ok(()) => Ok(Redirect::to("/activites?info=activite-supprimee").into_response()),
        Err(ActivityError::NotFound) => Err(AppError::NotFound),
        Err(ActivityError::Db(e)) => Err(e.into()),
        Err(ActivityError::Field(_, _)) => Err(AppError::NotFound),
    }
}

// ───────────────────────── statistics ─────────────────────────

#[derive(Template)]
#[template(path = "activites_stats.html")]
pub struct StatsView {
    pub shell: Shell,
    /// A structure's mediators (its page's filter), and the one chosen.
    pub mediators: Vec<(i64, String)>,
    pub mediateur: String,
    pub thematique: String,
    pub thematiques: &'static [vocab::Term],
    pub heading: &'static str,
    /// The page's own address (the filter form's action).
    pub base: String,
    /// The downloads and share links (a mediator's own figures; not a team's).
    pub exports: bool,
    /// The mediator's open share links (dates).
    pub shares: Vec<(i64, String)>,
    pub du: String,
    pub au: String,
    pub kind: String,
    pub lieu: String,
    pub places: Vec<Place>,
    pub errors: FormErrors,
    pub totals: stats::Totals,
    pub heures: String,
    pub months: Vec<stats::Month>,
    pub months_chart: String,
    pub distributions: Vec<(stats::Distribution, String)>,
    pub csv_query: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatsQuery {
    pub(crate) du: String,
    pub(crate) au: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) lieu: String,
    pub(crate) thematique: String,
    /// A structure's page: one of its mediators.
    pub(crate) mediateur: String,
}

/// The statistics a query asks for: from the aggregates, or recounted from the
/// reports when a thématique is chosen.
pub(crate) async fn query_stats(
    state: &AppState,
    q: &StatsQuery,
    f: &Filter,
    errors: &mut FormErrors,
) -> AppResult<stats::Stats> {
    if q.thematique.is_empty() {
        return Ok(stats::compute(&state.db, f).await?);
    }
    let Some(t) = vocab::find(vocab::THEMATIQUES, &q.thematique) else {
        errors.add("thematique", "Choisissez la thématique dans la liste.");
        return Ok(stats::compute(&state.db, f).await?);
    };
    match stats::compute_for_thematique(&state.db, f, t).await? {
        Some(s) => Ok(s),
        None => {
            errors.add(
                "thematique",
                "Trop d'activités pour filtrer par thématique sur cette période : choisissez une période plus courte.",
            );
            Ok(stats::compute(&state.db, f).await?)
        }
    }
}

/// The filter of a statistics query; the default period is the last 12 months.
pub(crate) fn stats_filter(
    q: &StatsQuery,
    scope: Scope,
    now: i64,
    errors: &mut FormErrors,
) -> Filter {
    let this = activites::today(now) / 100;
    let year_ago = if this % 100 == 12 {
        this - 11
    } else {
        this - 100 + 1
    };
    let mut month = |raw: &str, field: &'static str, default: i64| -> i64 {
        if raw.trim().is_empty() {
            return default;
        }
        stats::parse_month(raw).unwrap_or_else(|| {
            errors.add(
                field,
                "Saisissez un mois sous la forme aaaa-mm, par exemple 2026-01.",
            );
            default
        })
    };
    let mut from = month(&q.du, "du", year_ago);
    let to = month(&q.au, "au", this);
    if from > to {
        errors.add(
            "du",
            "Le début de la période est après sa fin : corrigez les mois.",
        );
        from = to;
    }
    // At most 10 years at once.
    let from = from.max(to - 1_000);
    let kind = match q.kind.as_str() {
        "" => None,
        k => match Kind::parse(k) {
            Some(k) => Some(k),
            None => {
                errors.add("type", "Choisissez le type dans la liste.");
                None
            }
        },
    };
    let lieu_id = match q.lieu.trim() {
        "" => None,
        v => match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.add("lieu", "Choisissez le lieu dans la liste.");
                None
            }
        },
    };
    Filter {
        scope,
        from,
        to,
        kind,
        lieu_id,
    }
}

fn month_input(m: i64) -> String {
    format!("{}-{:02}", m / 100, m % 100)
}

pub async fn statistics(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let me = m.session.account_id;
    let places = activites::places(&state.db, me).await?;
    stats_page(
        &state,
        &ctx,
        &q,
        Scope::Mediateur(me),
        places,
        "Mes statistiques",
        "/activites/statistiques".to_owned(),
        true,
        Vec::new(),
    )
    .await
}

/// The statistics page of a scope (the mediator's own, a coordinator's team).
#[allow(clippy::too_many_arguments, reason = "the parts of one page")]
async fn stats_page(
    state: &AppState,
    ctx: &Ctx,
    q: &StatsQuery,
    scope: Scope,
    places: Vec<Place>,
    heading: &'static str,
    base: String,
    exports: bool,
    mediators: Vec<(i64, String)>,
) -> AppResult<Response> {
    let mut errors = FormErrors::default();
    let f = stats_filter(q, scope, state.now(), &mut errors);
    let s = query_stats(state, q, &f, &mut errors).await?;
    let months = stats::fill_months(f.from, f.to, &s.months);
    let months_chart = charts::months(&months);
    let distributions = s
        .distributions
        .into_iter()
        .filter(|d| d.total > 0)
        .map(|d| {
            let svg = charts::bars(&d);
            (d, svg)
        })
        .collect();
    let thematique = vocab::find(vocab::THEMATIQUES, &q.thematique)
        .unwrap_or("")
        .to_owned();
    let csv_query = format!(
        "du={}&au={}&type={}&lieu={}&thematique={thematique}",
        month_input(f.from),
        month_input(f.to),
        f.kind.map(Kind::key).unwrap_or(""),
        f.lieu_id.map(|l| l.to_string()).unwrap_or_default()
    );
    let shares = match (&f.scope, exports) {
        (Scope::Mediateur(me), true) => stats::shares(&state.db, *me)
            .await?
            .into_iter()
            .map(|s| (s.id, crate::time_fr::date_time(s.created_at)))
            .collect(),
        _ => Vec::new(),
    };
    // The mediator chosen among the page's.
    let mediateur = match q.mediateur.parse::<i64>() {
        Ok(id) if mediators.iter().any(|(x, _)| *x == id) => id.to_string(),
        _ => String::new(),
    };
    let view = StatsView {
        mediators,
        mediateur,
        thematique,
        thematiques: vocab::THEMATIQUES,
        shares,
        shell: Shell::new(ctx, heading),
        heading,
        base,
        exports,
        du: month_input(f.from),
        au: month_input(f.to),
        kind: f.kind.map(Kind::key).unwrap_or("").to_owned(),
        lieu: f.lieu_id.map(|l| l.to_string()).unwrap_or_default(),
        places,
        heures: activites::duree_fr(s.totals.minutes),
        totals: s.totals,
        months,
        months_chart,
        distributions,
        csv_query,
        errors,
    };
    if view.errors.is_empty() {
        render(&view)
    } else {
        render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
    }
}

/// The thématique a query filters on (an unknown one: none, as the page said).
fn thematique_of(q: &StatsQuery) -> Option<&'static str> {
    vocab::find(vocab::THEMATIQUES, &q.thematique)
}

/// The filter of a mediator's own downloads (a value the page would refuse falls
/// back to its default: the page said so already).
fn own_filter(state: &AppState, m: &Mediator, q: &StatsQuery) -> (Filter, FormErrors) {
    let mut errors = FormErrors::default();
    let f = stats_filter(
        q,
        Scope::Mediateur(m.session.account_id),
        state.now(),
        &mut errors,
    );
    (f, errors)
}

/// The statistics as a spreadsheet: totals, months, then every distribution.
pub async fn statistics_csv(
    State(state): State<AppState>,
    m: Mediator,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let (f, mut errors) = own_filter(&state, &m, &q);
    let s = query_stats(&state, &q, &f, &mut errors).await?;
    let mut rows: Vec<Vec<Cell<'static>>> = s
        .totals
        .labelled()
        .into_iter()
        .map(|(label, v)| {
            let value = if v.fract() == 0.0 {
                Cell::Int(v as i64)
            } else {
                Cell::Owned(format!("{v:.2}").replace('.', ","))
            };
            vec![Cell::Text("Totaux"), Cell::Text(label), value, Cell::Empty]
        })
        .collect();
    for mo in stats::fill_months(f.from, f.to, &s.months) {
        rows.push(vec![
            Cell::Text("Accompagnements par mois"),
            Cell::Owned(mo.label),
            Cell::Int(mo.accompagnements),
            Cell::Empty,
        ]);
    }
    for d in s.distributions {
        for r in d.rows {
            rows.push(vec![
                Cell::Text(d.title),
                Cell::Owned(r.label),
                Cell::Int(r.n),
                Cell::Int(r.pct),
            ]);
        }
    }
    csv_download(
        &format!(
            "statistiques-{}-{}.csv",
            month_input(f.from),
            month_input(f.to)
        ),
        &["Tableau", "Valeur", "Accompagnements", "Pourcentage"],
        rows,
    )
}

fn xlsx_download(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
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

fn export_error(e: crate::activites::export::ExportError) -> AppError {
    match e {
        crate::activites::export::ExportError::Db(e) => e.into(),
        crate::activites::export::ExportError::Xlsx(e) => {
            AppError::Internal(format!("classeur : {e}"))
        }
    }
}

/// The statistics as a workbook.
pub async fn statistics_xlsx(
    State(state): State<AppState>,
    m: Mediator,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let (f, mut errors) = own_filter(&state, &m, &q);
    let mut s = query_stats(&state, &q, &f, &mut errors).await?;
    s.months = stats::fill_months(f.from, f.to, &s.months);
    let bytes = crate::activites::export::stats_xlsx(&s).map_err(export_error)?;
    Ok(xlsx_download(
        &format!(
            "statistiques-{}-{}.xlsx",
            month_input(f.from),
            month_input(f.to)
        ),
        bytes,
    ))
}

/// The mediator's accompaniments of the period, one row each, as a workbook.
pub async fn export_xlsx(
    State(state): State<AppState>,
    m: Mediator,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let (f, _) = own_filter(&state, &m, &q);
    let bytes = crate::activites::export::accompaniments_xlsx(&state.db, &f, thematique_of(&q))
        .await
        .map_err(export_error)?;
    Ok(xlsx_download(
        &format!(
            "accompagnements-{}-{}.xlsx",
            month_input(f.from),
            month_input(f.to)
        ),
        bytes,
    ))
}

/// The same rows through the spreadsheet CSV writer.
pub async fn export_csv(
    State(state): State<AppState>,
    m: Mediator,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let (f, _) = own_filter(&state, &m, &q);
    let mut rows: Vec<Vec<Cell<'static>>> = Vec::new();
    crate::activites::export::for_each_page(&state.db, &f, thematique_of(&q), |page| {
        for r in page {
            rows.push(
                r.cells
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| match i {
                        3 => Cell::Int(v.parse().unwrap_or(0)),
                        6 => Cell::Owned(v),
                        _ => Cell::Owned(v),
                    })
                    .collect(),
            );
        }
        Ok(())
    })
    .await?;
    csv_download(
        &format!(
            "accompagnements-{}-{}.csv",
            month_input(f.from),
            month_input(f.to)
        ),
        &crate::activites::export::HEADER,
        rows,
    )
}

/// The charts of the statistics: SVG drawn here, with the same numbers in a
/// table beside them in the page (the table is what a screen reader reads).
mod charts {
    use crate::activites::stats::{Distribution, Month};

    fn esc(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }

    /// Horizontal bars, one per value, labelled with the percentage.
    pub fn bars(d: &Distribution) -> String {
        let row_h = 22;
        let h = row_h * d.rows.len().max(1);
        let mut out = format!(
            "<svg class=\"chart\" viewBox=\"0 0 400 {h}\" width=\"100%\" aria-hidden=\"true\" focusable=\"false\">"
        );
        for (i, r) in d.rows.iter().enumerate() {
            let y = i * row_h;
            let w = r.pct * 3;
            out.push_str(&format!(
                "<text x=\"0\" y=\"{}\" class=\"chart-label\">{}</text><rect x=\"0\" y=\"{}\" width=\"{w}\" height=\"6\" class=\"chart-bar\"></rect><text x=\"{}\" y=\"{}\" class=\"chart-value\">{} %</text>",
                y + 11,
                esc(&r.label),
                y + 14,
                w + 4,
                y + 20,
                r.pct
            ));
        }
        out.push_str("</svg>");
        out
    }

    /// Vertical bars of accompaniments per month.
    pub fn months(months: &[Month]) -> String {
        let max = months
            .iter()
            .map(|m| m.accompagnements)
            .max()
            .unwrap_or(0)
            .max(1);
        let n = months.len().max(1);
        let bar = 400 / n;
        let mut out = String::from(
            "<svg class=\"chart\" viewBox=\"0 0 400 140\" width=\"100%\" aria-hidden=\"true\" focusable=\"false\">",
        );
        for (i, m) in months.iter().enumerate() {
            let h = m.accompagnements * 110 / max;
            let x = i * bar;
            out.push_str(&format!(
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\" class=\"chart-bar\"></rect>",
                x + 1,
                120 - h,
                bar.saturating_sub(2).max(1)
            ));
            if n <= 12 || i % 3 == 0 {
                out.push_str(&format!(
                    "<text x=\"{}\" y=\"136\" class=\"chart-axis\">{}</text>",
                    x + 1,
                    esc(m.label.split(' ').next().unwrap_or(""))
                ));
            }
        }
        out.push_str("</svg>");
        out
    }
}

// ───────────────────────── beneficiaries ─────────────────────────

#[derive(Template)]
#[template(path = "beneficiaires.html")]
pub struct BeneficiairesView {
    pub shell: Shell,
    pub q: String,
    pub people: Vec<Beneficiaire>,
}

impl BeneficiairesView {
    fn last(&self, b: &Beneficiaire) -> String {
        b.derniere_activite_le
            .map(activites::date_fr)
            .unwrap_or_else(|| "aucune".to_owned())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    q: String,
    info: Option<String>,
}

pub async fn people(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Query(q): Query<SearchQuery>,
) -> AppResult<Response> {
    let text: String = q.q.trim().chars().take(100).collect();
    let people = beneficiaires::search(&state.db, m.session.account_id, &text, 100).await?;
    render(&BeneficiairesView {
        shell: Shell::new(&ctx, "Mes bénéficiaires").with_notice(q.info.as_deref()),
        q: text,
        people,
    })
}

#[derive(Template)]
#[template(path = "beneficiaire_form.html")]
pub struct BeneficiaireFormView {
    pub shell: Shell,
    pub heading: String,
    pub action: String,
    pub raw: RawFields,
    pub errors: FormErrors,
    pub genres: &'static [vocab::Term],
    pub statuts: &'static [vocab::Term],
    pub non_communique: vocab::Term,
    pub max_year: i64,
}

impl BeneficiaireFormView {
    fn text_fields(&self) -> Vec<(&'static str, &'static str, &str, &'static str)> {
        let r = &self.raw;
        vec![
            ("prenom", "Prénom", r.prenom.as_str(), "text"),
            ("nom", "Nom", r.nom.as_str(), "text"),
            (
                "telephone",
                "Téléphone (facultatif)",
                r.telephone.as_str(),
                "tel",
            ),
            ("email", "E-mail (facultatif)", r.email.as_str(), "email"),
            (
                "annee_naissance",
                "Année de naissance (facultatif), par exemple 1958",
                r.annee_naissance.as_str(),
                "text",
            ),
            (
                "adresse",
                "Adresse (facultatif)",
                r.adresse.as_str(),
                "text",
            ),
            (
                "commune",
                "Commune : nom ou code postal (facultatif)",
                r.commune.as_str(),
                "text",
            ),
        ]
    }
}

fn person_form(
    ctx: &Ctx,
    now: i64,
    heading: &str,
    action: String,
    raw: RawFields,
    errors: FormErrors,
) -> BeneficiaireFormView {
    BeneficiaireFormView {
        shell: Shell::new(ctx, heading),
        heading: heading.to_owned(),
        action,
        raw,
        errors,
        genres: vocab::GENRES,
        statuts: vocab::STATUTS,
        non_communique: vocab::NON_COMMUNIQUE,
        max_year: crate::time_fr::local(now).year,
    }
}

pub async fn person_new_form(
    State(state): State<AppState>,
    ctx: Ctx,
    _m: Mediator,
) -> AppResult<Response> {
    render(&person_form(
        &ctx,
        state.now(),
        "Nouveau bénéficiaire",
        "/beneficiaires/nouveau".into(),
        RawFields::default(),
        FormErrors::default(),
    ))
}

pub async fn person_create(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    AppForm(raw): AppForm<RawFields>,
) -> AppResult<Response> {
    let now = state.now();
    let mut errors = FormErrors::default();
    let year = crate::time_fr::local(now).year;
    let Some(fields) = beneficiaires::check(&raw, year, &mut errors) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &person_form(
                &ctx,
                now,
                "Nouveau bénéficiaire",
                "/beneficiaires/nouveau".into(),
                raw,
                errors,
            ),
        );
    };
    let id = beneficiaires::create(&state.db, m.session.account_id, &fields, now).await?;
    Ok(Redirect::to(&format!("/beneficiaires/{id}?info=beneficiaire-enregistre")).into_response())
}

#[derive(Template)]
#[template(path = "beneficiaire.html")]
pub struct BeneficiaireView {
    pub shell: Shell,
    pub b: Beneficiaire,
    pub facts: Vec<(&'static str, String)>,
    pub lines: Vec<Line>,
}

impl BeneficiaireView {
    fn date(&self, d: &i64) -> String {
        activites::date_fr(*d)
    }
    fn duree(&self, d: &i64) -> String {
        activites::duree_fr(*d)
    }
}

async fn own_person(state: &AppState, m: &Mediator, id: i64) -> AppResult<Beneficiaire> {
    beneficiaires::get(&state.db, m.session.account_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn person(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let b = own_person(&state, &m, id).await?;
    let f = &b.fields;
    let mut facts = Vec::new();
    if !b.deleted {
        if !f.telephone.is_empty() {
            facts.push(("Téléphone", f.telephone.clone()));
        } else if f.pas_de_telephone {
            facts.push(("Téléphone", "Pas de téléphone".to_owned()));
        }
        if !f.email.is_empty() {
            facts.push(("E-mail", f.email.clone()));
        }
        if !f.adresse.is_empty() {
            facts.push(("Adresse", f.adresse.clone()));
        }
    }
    if let Some(y) = f.annee_naissance {
        facts.push(("Année de naissance", y.to_string()));
    }
    if !f.commune_insee.is_empty() {
        facts.push(("Commune", crate::territoires::get().label(&f.commune_insee)));
    }
    facts.push(("Genre", vocab::label(vocab::GENRES, &f.genre).to_owned()));
    facts.push((
        "Statut",
        vocab::label(vocab::STATUTS, &f.statut_social).to_owned(),
    ));
    if !b.deleted && !f.notes.is_empty() {
        facts.push(("Notes", f.notes.clone()));
    }
    let lines = activites::list(&state.db, m.session.account_id, None, Some(id), 100).await?;
    render(&BeneficiaireView {
        shell: Shell::new(&ctx, b.display_name()).with_notice(q.info.as_deref()),
        b,
        facts,
        lines,
    })
}

pub async fn person_edit_form(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let b = own_person(&state, &m, id).await?;
    if b.deleted {
        return Err(AppError::NotFound);
    }
    render(&person_form(
        &ctx,
        state.now(),
        "Modifier le bénéficiaire",
        format!("/beneficiaires/{id}/modifier"),
        RawFields::from_stored(&b),
        FormErrors::default(),
    ))
}

pub async fn person_edit(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Path(id): Path<i64>,
    AppForm(raw): AppForm<RawFields>,
) -> AppResult<Response> {
    let b = own_person(&state, &m, id).await?;
    if b.deleted {
        return Err(AppError::NotFound);
    }
    let now = state.now();
    let mut errors = FormErrors::default();
    let year = crate::time_fr::local(now).year;
    let Some(fields) = beneficiaires::check(&raw, year, &mut errors) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &person_form(
                &ctx,
                now,
                "Modifier le bénéficiaire",
                format!("/beneficiaires/{id}/modifier"),
                raw,
                errors,
            ),
        );
    };
    match beneficiaires::update(&state.db, m.session.account_id, id, &fields, now).await {
        Ok(()) => Ok(
            Redirect::to(&format!("/beneficiaires/{id}?info=beneficiaire-enregistre"))
                .into_response(),
        ),
        Err(ActivityError::Db(e)) => Err(e.into()),
        Err(_) => Err(AppError::NotFound),
    }
}

pub async fn person_delete_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let b = own_person(&state, &m, id).await?;
    if b.deleted {
        return Err(AppError::NotFound);
    }
    let heading = format!("Supprimer l'identité de {} ?", b.display_name());
    render(&ConfirmView {
        shell: Shell::new(&ctx, heading.clone()),
        heading,
        paragraphs: vec![
            "Son nom, ses coordonnées et vos notes seront effacés définitivement.".to_owned(),
            "Ses activités restent comptées dans les statistiques, sans son nom.".to_owned(),
        ],
        action: format!("/beneficiaires/{id}/supprimer"),
        confirm_label: "Oui, supprimer son identité".to_owned(),
        cancel_href: format!("/beneficiaires/{id}"),
    })
}

pub async fn person_delete(
    State(state): State<AppState>,
    m: Mediator,
    Path(id): Path<i64>,
    AppForm(c): AppForm<Confirmed>,
) -> AppResult<Response> {
    if !c.yes() {
        return Ok(Redirect::to(&format!("/beneficiaires/{id}/supprimer")).into_response());
    }
    match beneficiaires::delete_identity(&state.db, m.session.account_id, id, state.now()).await {
        Ok(()) => Ok(Redirect::to("/beneficiaires?info=beneficiaire-supprime").into_response()),
        Err(ActivityError::Db(e)) => Err(e.into()),
        Err(_) => Err(AppError::NotFound),
    }
}

#[derive(Template)]
#[template(path = "beneficiaires_doublons.html")]
pub struct DuplicatesView {
    pub shell: Shell,
    pub pairs: Vec<beneficiaires::Pair>,
}

impl DuplicatesView {
    fn signals(&self, p: &beneficiaires::Pair) -> String {
        p.signals.join(", ")
    }
}

pub async fn duplicates(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
) -> AppResult<Response> {
    let pairs = beneficiaires::duplicates(&state.db, m.session.account_id).await?;
    render(&DuplicatesView {
        shell: Shell::new(&ctx, "Doublons possibles"),
        pairs,
    })
}

pub async fn merge_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Path((keep, gone)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let k = own_person(&state, &m, keep).await?;
    let g = own_person(&state, &m, gone).await?;
    if k.deleted || g.deleted || keep == gone {
        return Err(AppError::NotFound);
    }
    let heading = format!("Fusionner {} avec {} ?", g.display_name(), k.display_name());
    render(&ConfirmView {
        shell: Shell::new(&ctx, heading.clone()),
        heading,
        paragraphs: vec![
            format!(
                "La fiche de {} est gardée ; ses informations vides sont complétées par celles de l'autre fiche.",
                k.display_name()
            ),
            format!(
                "Toutes les activités de {} passent sur cette fiche, puis l'autre fiche est supprimée. Les statistiques sont recalculées.",
                g.display_name()
            ),
        ],
        action: format!("/beneficiaires/{keep}/fusionner/{gone}"),
        confirm_label: "Oui, fusionner".to_owned(),
        cancel_href: "/beneficiaires/doublons".to_owned(),
    })
}

pub async fn merge(
    State(state): State<AppState>,
    m: Mediator,
    Path((keep, gone)): Path<(i64, i64)>,
    AppForm(c): AppForm<Confirmed>,
) -> AppResult<Response> {
    if !c.yes() {
        return Ok(
            Redirect::to(&format!("/beneficiaires/{keep}/fusionner/{gone}")).into_response(),
        );
    }
    match beneficiaires::merge(&state.db, m.session.account_id, keep, gone, state.now()).await {
        Ok(()) => Ok(Redirect::to(&format!("/beneficiaires/{keep}?info=fusion")).into_response()),
        Err(ActivityError::Db(e)) => Err(e.into()),
        Err(_) => Err(AppError::NotFound),
    }
}

/// A structure's statistics, for its référents and administrators: every report
/// its mediators recorded while working for it.
pub async fn structure_statistics(
    State(state): State<AppState>,
    ctx: Ctx,
    m: crate::web::access::Manager,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let mediators: Vec<(i64, String)> = state
        .db
        .fetch_all(
            "SELECT a.id, a.full_name FROM memberships m JOIN accounts a ON a.id = m.account_id
             JOIN mediateurs md ON md.account_id = m.account_id
             WHERE m.structure_id = $1 ORDER BY a.full_name, a.id",
            crate::args![m.structure_id],
        )
        .await?
        .iter()
        .map(|r| Ok((r.int("id")?, r.text("full_name")?)))
        .collect::<Result<_, crate::db::Error>>()?;
    let scope = match q.mediateur.parse::<i64>() {
        Ok(id) if mediators.iter().any(|(x, _)| *x == id) => {
            Scope::StructureMediateur(m.structure_id, id)
        }
        _ => Scope::Structure(m.structure_id),
    };
    stats_page(
        &state,
        &ctx,
        &q,
        scope,
        Vec::new(),
        "Statistiques d'activité de la structure",
        format!("/structures/{}/statistiques", m.structure_id),
        false,
        mediators,
    )
    .await
}

#[derive(Template)]
#[template(path = "statistiques_publiques.html")]
pub struct PublicStatsView {
    pub shell: Shell,
    /// « France » or « Yonne (89) ».
    pub place: String,
    pub code: String,
    pub choices: Vec<(String, String)>,
    pub errors: FormErrors,
    pub themes: Option<(stats::Distribution, String)>,
    pub commune: String,
    /// (territory, accompaniments, activities, new people) of the commune typed and
    /// its intercommunality.
    pub local: Vec<(String, i64, i64, i64)>,
    pub period: String,
    pub totals: stats::Totals,
    pub heures: String,
    pub months: Vec<stats::Month>,
    pub months_chart: String,
    pub departements: Vec<stats::DepartementLine>,
    /// The région chosen, the régions to choose from, and every région's totals.
    pub region: String,
    pub region_choices: Vec<(String, String)>,
    pub regions: Vec<stats::DepartementLine>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PublicQuery {
    departement: String,
    region: String,
    commune: String,
}

/// The national page of the totals, public: the last twelve months, for the nation
/// or one département (aggregates only: the same cost whatever the number of
/// reports).
pub async fn public_statistics(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PublicQuery>,
) -> AppResult<Response> {
    let t = crate::territoires::get();
    let code = q.departement.trim().to_uppercase();
    let region = q.region.trim().to_owned();
    let mut errors = FormErrors::default();
    let (scope, place) = match (t.departement_name(&code), t.region(&region)) {
        (Some(nom), _) if !code.is_empty() => {
            (Scope::Departement(code.clone()), format!("{nom} ({code})"))
        }
        (_, Some((nom, _))) if code.is_empty() && !region.is_empty() => {
            (Scope::Region(region.clone()), nom.to_owned())
        }
        _ => (Scope::National, "France".to_owned()),
    };
    if !code.is_empty() && scope == Scope::National {
        errors.add(
            "departement",
            "Département inconnu : choisissez-le dans la liste.",
        );
    }
    if !region.is_empty() && code.is_empty() && scope == Scope::National {
        errors.add("region", "Région inconnue : choisissez-la dans la liste.");
    }
    let f = stats_filter(&StatsQuery::default(), scope, state.now(), &mut errors);
    let s = stats::compute_totals(&state.db, &f).await?;
    let months = stats::fill_months(f.from, f.to, &s.months);
    let departements = stats::by_departement(&state.db, f.from, f.to).await?;
    let commune: String = q.commune.trim().chars().take(100).collect();
    let mut local = Vec::new();
    if !commune.is_empty() {
        match t.resolve(&commune) {
            Ok(c) => {
                let mut sets = vec![(c.label(), vec![c.code.clone()])];
                if let Some(epci) = &c.epci {
                    let members: Vec<String> =
                        t.members_of(epci).iter().map(|m| m.code.clone()).collect();
                    sets.push((
                        format!(
                            "L'intercommunalité de {} ({})",
                            c.nom,
                            crate::domain::count(members.len(), "commune", "communes")
                        ),
                        members,
                    ));
                }
                for (label, codes) in sets {
                    let g = stats::compute_totals(
                        &state.db,
                        &Filter {
                            scope: Scope::Communes(codes),
                            ..f.clone()
                        },
                    )
                    .await?;
                    local.push((
                        label,
                        g.totals.accompagnements,
                        g.totals.activites,
                        g.totals.nouveaux,
                    ));
                }
            }
            Err(m) => errors.add("commune", m),
        }
    }
    let view = PublicStatsView {
        shell: Shell::new(
            &ctx,
            format!("Les chiffres de la médiation numérique — {place}"),
        ),
        place,
        region: if code.is_empty() {
            region
        } else {
            String::new()
        },
        code,
        regions: stats::by_region(&departements),
        region_choices: t
            .regions()
            .iter()
            .map(|(c, n, _)| (c.clone(), n.clone()))
            .collect(),
        commune,
        local,
        choices: departements
            .iter()
            .map(|d| (d.code.clone(), format!("{} ({})", d.nom, d.code)))
            .collect(),
        errors,
        period: format!(
            "de {} à {}",
            stats::month_label(f.from),
            stats::month_label(f.to)
        ),
        heures: activites::duree_fr(s.totals.minutes),
        totals: s.totals,
        months_chart: charts::months(&months),
        months,
        themes: s
            .distributions
            .into_iter()
            .find(|d| d.key == "thematique")
            .map(|d| {
                let svg = charts::bars(&d);
                (d, svg)
            }),
        departements,
    };
    if view.errors.is_empty() {
        render(&view)
    } else {
        render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
    }
}

/// Creates a private read-only link to the mediator's statistics and shows it once.
pub async fn share_create(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
) -> AppResult<Response> {
    let raw = stats::share(&state.db, m.session.account_id, state.now()).await?;
    let link = format!("{}/partage/{raw}", state.config.public_url());
    render(&crate::web::views::MessageView {
        shell: Shell::new(&ctx, "Lien de partage créé"),
        heading: "Lien de partage créé".to_owned(),
        paragraphs: vec![
            "Copiez ce lien maintenant : il ne sera plus affiché. Toute personne qui l'a peut lire vos statistiques (jamais vos bénéficiaires), jusqu'à ce que vous le supprimiez.".to_owned(),
            link,
        ],
        link: Some((
            "/activites/statistiques".to_owned(),
            "Revenir à mes statistiques".to_owned(),
        )),
    })
}

pub async fn share_revoke(
    State(state): State<AppState>,
    m: Mediator,
    Path(pid): Path<i64>,
) -> AppResult<Response> {
    if !stats::revoke_share(&state.db, m.session.account_id, pid, state.now()).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/activites/statistiques?info=partage-supprime").into_response())
}

/// What a share link opens: the mediator's statistics, read-only.
pub async fn shared_statistics(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let Some(me) = stats::shared(&state.db, &token).await? else {
        return Err(AppError::NotFound);
    };
    stats_page(
        &state,
        &ctx,
        &q,
        Scope::Mediateur(me),
        Vec::new(),
        "Statistiques partagées d'un médiateur",
        format!("/partage/{token}"),
        false,
        Vec::new(),
    )
    .await
}

// ───────────────────────── coordination ─────────────────────────

#[derive(Template)]
#[template(path = "coordination.html")]
pub struct CoordinationView {
    pub shell: Shell,
    pub team: Vec<crate::activites::coordination::Member>,
    pub reports: Vec<(i64, crate::activites::coordination::Report)>,
    /// (kind, reports, minutes) over twelve months.
    pub per_kind: Vec<(&'static str, i64, i64)>,
    pub email: String,
    pub errors: FormErrors,
}

impl CoordinationView {
    fn date(&self, d: &i64) -> String {
        activites::date_fr(*d)
    }
    fn duree(&self, d: &i64) -> String {
        activites::duree_fr(*d)
    }
    fn kind(&self, k: &str) -> &'static str {
        crate::activites::coordination::REPORT_KINDS
            .iter()
            .find(|(x, _)| *x == k)
            .map(|(_, l)| l.split(' ').next().unwrap_or(""))
            .unwrap_or("")
    }
    fn until(&self, m: &crate::activites::coordination::Member) -> String {
        m.until.map(activites::date_fr).unwrap_or_default()
    }
}

pub async fn coordination(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let (reports, per_kind) = crate::activites::coordination::reports(
        &state.db,
        m.session.account_id,
        activites::today(state.now()) - 10_000,
    )
    .await?;
    render(&CoordinationView {
        shell: Shell::new(&ctx, "Mon équipe de coordination").with_notice(q.info.as_deref()),
        team: crate::activites::coordination::team(&state.db, m.session.account_id).await?,
        reports,
        per_kind,
        email: String::new(),
        errors: FormErrors::default(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteForm {
    email: String,
}

pub async fn coordination_invite(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    AppForm(f): AppForm<InviteForm>,
) -> AppResult<Response> {
    let me = m.session.account_id;
    let mut errors = FormErrors::default();
    if let Some(email) = errors.check("email", crate::domain::Email::parse(&f.email)) {
        // The invitation sends an email: limited per address and per coordinator.
        if let Err(wait) = crate::accounts::throttle::email_allowed(
            &state.db,
            email.as_str(),
            &format!("compte:{me}"),
            state.now(),
        )
        .await?
        {
            errors.add("email", crate::accounts::throttle::email_refused_text(wait));
        } else {
            match crate::activites::coordination::invite(&state.db, me, &email, state.now()).await {
                Ok(_) => {
                    let link = format!("{}/activites", state.config.public_url());
                    let mail = crate::mail::messages::coordination_invitation(
                        email.as_str(),
                        &m.session.full_name,
                        &link,
                    );
                    let info = match state.mailer.send(mail).await {
                        Ok(()) => "equipe-invitation",
                        Err(e) => {
                            tracing::warn!(cause = %e, "e-mail d'invitation d'équipe non envoyé");
                            "equipe-invitation-sans-email"
                        }
                    };
                    return Ok(Redirect::to(&format!("/coordination?info={info}")).into_response());
                }
                Err(ActivityError::Field(field, message)) => errors.add(field, message),
                Err(ActivityError::Db(e)) => return Err(e.into()),
                Err(ActivityError::NotFound) => return Err(AppError::NotFound),
            }
        }
    }
    let (reports, per_kind) = crate::activites::coordination::reports(
        &state.db,
        me,
        activites::today(state.now()) - 10_000,
    )
    .await?;
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &CoordinationView {
            shell: Shell::new(&ctx, "Mon équipe de coordination"),
            team: crate::activites::coordination::team(&state.db, me).await?,
            reports,
            per_kind,
            email: f.email,
            errors,
        },
    )
}

pub async fn coordination_remove(
    State(state): State<AppState>,
    m: Mediator,
    Path(tid): Path<i64>,
) -> AppResult<Response> {
    if !crate::activites::coordination::leave(&state.db, m.session.account_id, tid, state.now())
        .await?
    {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/coordination?info=equipe-retire").into_response())
}

pub async fn coordination_statistics(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let mut members =
        crate::activites::coordination::scope(&state.db, m.session.account_id).await?;
    // The members counted (former ones too), by name, to filter on one of them.
    let mut mediators: Vec<(i64, String)> =
        crate::activites::coordination::team(&state.db, m.session.account_id)
            .await?
            .into_iter()
            .filter(|t| members.iter().any(|(id, _)| *id == t.mediateur_id))
            .map(|t| (t.mediateur_id, t.name))
            .collect();
    mediators.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    mediators.dedup_by_key(|x| x.0);
    if let Ok(one) = q.mediateur.parse::<i64>()
        && members.iter().any(|(id, _)| *id == one)
    {
        members.retain(|(id, _)| *id == one);
    }
    stats_page(
        &state,
        &ctx,
        &q,
        Scope::Team(members),
        Vec::new(),
        "Statistiques de mon équipe",
        "/coordination/statistiques".to_owned(),
        false,
        mediators,
    )
    .await
}

#[derive(Template)]
#[template(path = "coordination_activite.html")]
pub struct CoordinationReportView {
    pub shell: Shell,
    pub raw: crate::activites::coordination::RawReport,
    pub errors: FormErrors,
    pub kinds: &'static [(&'static str, &'static str)],
    pub scales: &'static [(&'static str, &'static str)],
    pub today: String,
}

fn coordination_report_view(
    ctx: &Ctx,
    now: i64,
    raw: crate::activites::coordination::RawReport,
    errors: FormErrors,
) -> CoordinationReportView {
    CoordinationReportView {
        shell: Shell::new(ctx, "Nouveau compte rendu de coordination"),
        raw,
        errors,
        kinds: crate::activites::coordination::REPORT_KINDS,
        scales: crate::activites::coordination::SCALES,
        today: activites::date_iso(activites::today(now)),
    }
}

pub async fn coordination_report_form(
    State(state): State<AppState>,
    ctx: Ctx,
    _m: Mediator,
) -> AppResult<Response> {
    let raw = crate::activites::coordination::RawReport {
        date: activites::date_iso(activites::today(state.now())),
        ..Default::default()
    };
    render(&coordination_report_view(
        &ctx,
        state.now(),
        raw,
        FormErrors::default(),
    ))
}

pub async fn coordination_report_create(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    AppForm(raw): AppForm<crate::activites::coordination::RawReport>,
) -> AppResult<Response> {
    let now = state.now();
    let mut errors = FormErrors::default();
    let Some(report) =
        crate::activites::coordination::check(&raw, activites::today(now), &mut errors)
    else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &coordination_report_view(&ctx, now, raw, errors),
        );
    };
    crate::activites::coordination::record(&state.db, m.session.account_id, &report, now).await?;
    Ok(Redirect::to("/coordination?info=activite-enregistree").into_response())
}

pub async fn coordination_report_delete_confirm(
    ctx: Ctx,
    _m: Mediator,
    Path(kid): Path<i64>,
) -> AppResult<Response> {
    let heading = "Supprimer ce compte rendu de coordination ?".to_owned();
    render(&ConfirmView {
        shell: Shell::new(&ctx, heading.clone()),
        heading,
        paragraphs: vec!["Il disparaîtra de votre liste et de vos totaux.".to_owned()],
        action: format!("/coordination/activites/{kid}/supprimer"),
        confirm_label: "Oui, supprimer".to_owned(),
        cancel_href: "/coordination".to_owned(),
    })
}

pub async fn coordination_report_delete(
    State(state): State<AppState>,
    m: Mediator,
    Path(kid): Path<i64>,
    AppForm(c): AppForm<Confirmed>,
) -> AppResult<Response> {
    if !c.yes() {
        return Ok(
            Redirect::to(&format!("/coordination/activites/{kid}/supprimer")).into_response(),
        );
    }
    if !crate::activites::coordination::delete_report(&state.db, m.session.account_id, kid).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/coordination?info=activite-supprimee").into_response())
}

async fn team_answer(state: &AppState, m: &Mediator, tid: i64, what: &str) -> AppResult<Response> {
    let me = m.session.account_id;
    let now = state.now();
    let done = match what {
        "accepter" => crate::activites::coordination::answer(&state.db, me, tid, true, now).await?,
        "refuser" => crate::activites::coordination::answer(&state.db, me, tid, false, now).await?,
        _ => crate::activites::coordination::leave(&state.db, me, tid, now).await?,
    };
    if !done {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&format!("/activites?info=equipe-{what}")).into_response())
}

pub async fn team_accept(
    State(state): State<AppState>,
    m: Mediator,
    Path(tid): Path<i64>,
) -> AppResult<Response> {
    team_answer(&state, &m, tid, "accepter").await
}

pub async fn team_refuse(
    State(state): State<AppState>,
    m: Mediator,
    Path(tid): Path<i64>,
) -> AppResult<Response> {
    team_answer(&state, &m, tid, "refuser").await
}

pub async fn team_leave(
    State(state): State<AppState>,
    m: Mediator,
    Path(tid): Path<i64>,
) -> AppResult<Response> {
    team_answer(&state, &m, tid, "quitter").await
}

// ───────────────────────── import of the previous tool's history ─────────────────────────

#[derive(Template)]
#[template(path = "activites_import.html")]
pub struct ImportView {
    pub shell: Shell,
    pub errors: FormErrors,
    pub lines: Vec<crate::csv_import::LineError>,
    pub done: Option<String>,
}

pub async fn import_form(ctx: Ctx, _m: Mediator) -> AppResult<Response> {
    render(&ImportView {
        shell: Shell::new(&ctx, "Importer mon historique (ancien outil, v1)"),
        errors: FormErrors::default(),
        lines: Vec::new(),
        done: None,
    })
}

pub async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    upload: crate::web::forms::Upload,
) -> AppResult<Response> {
    let shell = || Shell::new(&ctx, "Importer mon historique (ancien outil, v1)");
    let Some(file) = upload.file("fichier") else {
        let mut errors = FormErrors::default();
        errors.add(
            "fichier",
            "Choisissez le fichier CSV exporté de l'ancien outil.",
        );
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ImportView {
                shell: shell(),
                errors,
                lines: Vec::new(),
                done: None,
            },
        );
    };
    match crate::activites::import_v1::import(
        &state.db,
        m.session.account_id,
        m.structure_id,
        &file.data,
        state.now(),
    )
    .await
    {
        Ok(Ok(done)) => render(&ImportView {
            shell: shell(),
            errors: FormErrors::default(),
            lines: Vec::new(),
            done: Some(format!(
                "Fichier importé : {}, {}.",
                crate::domain::count(done.written, "activité ajoutée", "activités ajoutées"),
                crate::domain::count(
                    done.already,
                    "ligne déjà importée auparavant",
                    "lignes déjà importées auparavant"
                )
            )),
        }),
        Ok(Err(lines)) => {
            let mut errors = FormErrors::default();
            errors.add(
                "fichier",
                "Le fichier contient des erreurs : rien n'a été importé. Corrigez les lignes ci-dessous puis envoyez-le de nouveau.",
            );
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ImportView {
                    shell: shell(),
                    errors,
                    lines,
                    done: None,
                },
            )
        }
        Err(ActivityError::Db(e)) => Err(e.into()),
        Err(ActivityError::Field(_, m)) => {
            let mut errors = FormErrors::default();
            errors.add("fichier", m);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ImportView {
                    shell: shell(),
                    errors,
                    lines: Vec::new(),
                    done: None,
                },
            )
        }
        Err(ActivityError::NotFound) => Err(AppError::NotFound),
    }
}

#[derive(Template)]
#[template(path = "beneficiaires_import.html")]
pub struct PeopleImportView {
    pub shell: Shell,
    pub errors: FormErrors,
    pub lines: Vec<crate::csv_import::LineError>,
    pub columns: String,
}

fn people_import_view(
    ctx: &Ctx,
    errors: FormErrors,
    lines: Vec<crate::csv_import::LineError>,
) -> PeopleImportView {
    PeopleImportView {
        shell: Shell::new(ctx, "Importer une liste de bénéficiaires"),
        errors,
        lines,
        columns: beneficiaires::IMPORT_COLUMNS.join(", "),
    }
}

pub async fn people_import_form(ctx: Ctx, _m: Mediator) -> AppResult<Response> {
    render(&people_import_view(&ctx, FormErrors::default(), Vec::new()))
}

pub async fn people_import(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    upload: crate::web::forms::Upload,
) -> AppResult<Response> {
    let mut errors = FormErrors::default();
    let Some(file) = upload.file("fichier") else {
        errors.add("fichier", "Choisissez le fichier CSV ou XLSX de la liste.");
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &people_import_view(&ctx, errors, Vec::new()),
        );
    };
    match beneficiaires::import(&state.db, m.session.account_id, &file.data, state.now()).await? {
        Ok(n) => Ok(Redirect::to(&format!(
            "/beneficiaires?info={}",
            if n == 1 { "import-1" } else { "import" }
        ))
        .into_response()),
        Err(lines) => {
            errors.add(
                "fichier",
                "Le fichier contient des erreurs : personne n'a été enregistré. Corrigez les cellules ci-dessous puis envoyez-le de nouveau.",
            );
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &people_import_view(&ctx, errors, lines),
            )
        }
    }
}

// ───────────────────────── places and profile ─────────────────────────

#[derive(Template)]
#[template(path = "mediateur_lieux.html")]
pub struct PlacesView {
    pub shell: Shell,
    pub mine: Vec<Place>,
    pub commune: String,
    pub found: Vec<(i64, String, bool)>,
    pub errors: FormErrors,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlacesQuery {
    commune: String,
    info: Option<String>,
}

pub async fn places(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Query(q): Query<PlacesQuery>,
) -> AppResult<Response> {
    let me = m.session.account_id;
    let mine = activites::places(&state.db, me).await?;
    let commune: String = q.commune.trim().chars().take(100).collect();
    let mut errors = FormErrors::default();
    let mut found = Vec::new();
    if !commune.is_empty() {
        let query = crate::lieux::search::Query {
            text: commune.clone(),
            near: None,
            radius_km: 10.0,
            filters: Vec::new(),
            open_now: false,
        };
        let hits = crate::lieux::search::search(&state.db, &query, state.now()).await?;
        if hits.is_empty() {
            errors.add(
                "commune",
                "Aucun lieu trouvé pour cette commune : vérifiez son nom ou son code postal, ou demandez à votre référent d'ajouter votre lieu à l'annuaire.",
            );
        }
        for h in hits.into_iter().take(30) {
            let added = mine.iter().any(|p| p.id == h.row_id);
            found.push((h.row_id, h.nom, added));
        }
    }
    render(&PlacesView {
        shell: Shell::new(&ctx, "Mes lieux d'activité").with_notice(q.info.as_deref()),
        mine,
        commune,
        found,
        errors,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlaceForm {
    lieu: String,
    commune: String,
}

pub async fn add_place(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    AppForm(f): AppForm<PlaceForm>,
) -> AppResult<Response> {
    let added = match f.lieu.trim().parse::<i64>() {
        Ok(id) => activites::add_place(&state.db, m.session.account_id, id, state.now()).await?,
        Err(_) => false,
    };
    if added {
        return Ok(Redirect::to("/mediateur/lieux?info=lieu-ajoute").into_response());
    }
    let mut errors = FormErrors::default();
    errors.add(
        "commune",
        "Ce lieu n'existe pas dans l'annuaire : cherchez votre commune et choisissez le lieu dans la liste.",
    );
    let view = PlacesView {
        shell: Shell::new(&ctx, "Mes lieux d'activité"),
        mine: activites::places(&state.db, m.session.account_id).await?,
        commune: f.commune,
        found: Vec::new(),
        errors,
    };
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
}

pub async fn remove_place(
    State(state): State<AppState>,
    m: Mediator,
    Path(lid): Path<i64>,
) -> AppResult<Response> {
    activites::remove_place(&state.db, m.session.account_id, lid).await?;
    Ok(Redirect::to("/mediateur/lieux?info=lieu-retire").into_response())
}

#[derive(Template)]
#[template(path = "mediateur_profil.html")]
pub struct ProfileView {
    pub shell: Shell,
    pub conseiller: bool,
    pub coordinateur: bool,
    pub debut: String,
    pub fin: String,
    pub errors: FormErrors,
}

pub async fn profile(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let p = activites::profile(&state.db, m.session.account_id).await?;
    render(&ProfileView {
        shell: Shell::new(&ctx, "Mon profil de médiateur").with_notice(q.info.as_deref()),
        conseiller: p.conseiller_numerique,
        coordinateur: crate::activites::coordination::is_coordinator(
            &state.db,
            m.session.account_id,
        )
        .await?,
        debut: p.contrat_debut.map(activites::date_iso).unwrap_or_default(),
        fin: p.contrat_fin.map(activites::date_iso).unwrap_or_default(),
        errors: FormErrors::default(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProfileForm {
    conseiller: String,
    coordinateur: String,
    debut: String,
    fin: String,
}

pub async fn profile_save(
    State(state): State<AppState>,
    ctx: Ctx,
    m: Mediator,
    AppForm(f): AppForm<ProfileForm>,
) -> AppResult<Response> {
    let mut errors = FormErrors::default();
    let conseiller = match f.conseiller.as_str() {
        "oui" => true,
        "non" | "" => false,
        _ => {
            errors.add("conseiller", "Répondez oui ou non.");
            false
        }
    };
    let coordinateur = match f.coordinateur.as_str() {
        "oui" => true,
        "non" | "" => false,
        _ => {
            errors.add("coordinateur", "Répondez oui ou non.");
            false
        }
    };
    let mut date = |raw: &str, field: &'static str| -> Option<i64> {
        if raw.trim().is_empty() {
            return None;
        }
        match crate::time_fr::parse_date(raw) {
            Some(_) => raw
                .trim()
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok(),
            None => {
                errors.add(
                    field,
                    "Cette date n'est pas valide : saisissez-la sous la forme jj/mm/aaaa.",
                );
                None
            }
        }
    };
    let debut = date(&f.debut, "debut");
    let fin = date(&f.fin, "fin");
    if let (Some(d), Some(e)) = (debut, fin)
        && e < d
    {
        errors.add(
            "fin",
            "La fin du contrat est avant son début : corrigez les dates.",
        );
    }
    if !conseiller && (debut.is_some() || fin.is_some()) && errors.is_empty() {
        errors.add(
            "conseiller",
            "Les dates de contrat concernent les conseillers numériques : répondez « oui » ou effacez les dates.",
        );
    }
    if !errors.is_empty() {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ProfileView {
                shell: Shell::new(&ctx, "Mon profil de médiateur"),
                conseiller,
                coordinateur,
                debut: f.debut,
                fin: f.fin,
                errors,
            },
        );
    }
    activites::save_profile(&state.db, m.session.account_id, conseiller, debut, fin).await?;
    crate::activites::coordination::set_coordinator(&state.db, m.session.account_id, coordinateur)
        .await?;
    Ok(Redirect::to("/mediateur/profil?info=profil").into_response())
}
