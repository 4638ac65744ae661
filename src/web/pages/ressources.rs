//! The resource centre's pages: public search, resource pages (printable),
//! attachments, collections and the Atom feed (`Access::Public`); writing,
//! attachments, submission and history (`Access::Author`); review, publication
//! and unpublication (`Access::Curator`). The census of initiatives is in
//! [`super::initiatives`].

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::ressources::{
    self, Auteur, Decision, FORMATS, LICENCES, PUBLICS, THEMATIQUES, collections, fichiers,
};
use crate::web::AppState;
use crate::web::access::{Author, Curator, SignedIn};
use crate::web::context::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::{FormErrors, Upload, field, pairs, pairs_up_to};
use crate::web::views::{Shell, render, render_status};

type Vocab = &'static [(&'static str, &'static str)];

fn labels(list: Vocab, keys: &[String]) -> String {
    keys.iter()
        .map(|k| ressources::label(list, k))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------
// Public search

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    q: String,
    public: String,
    thematique: String,
    format: String,
    page: String,
}

pub struct Carte {
    pub id: i64,
    pub titre: String,
    pub resume: String,
    pub format: &'static str,
    pub publics: String,
    pub auteur: String,
    pub date: String,
}

fn carte(p: &ressources::Publiee) -> Carte {
    Carte {
        id: p.id,
        titre: p.titre.clone(),
        resume: p.resume.clone(),
        format: ressources::label(FORMATS, &p.format),
        publics: labels(PUBLICS, &p.publics),
        auteur: p.structure.clone().unwrap_or_else(|| "Relais".to_owned()),
        date: crate::time_fr::date(p.mise_a_jour_le),
    }
}

#[derive(Template)]
#[template(path = "ressources.html")]
pub struct SearchView {
    pub shell: Shell,
    pub q: String,
    pub public: String,
    pub thematique: String,
    pub format: String,
    pub publics: Vocab,
    pub thematiques: Vocab,
    pub formats: Vocab,
    pub cartes: Vec<Carte>,
    pub searched: bool,
    pub page: i64,
    pub precedente: Option<String>,
    pub suivante: Option<String>,
    pub collections: Vec<collections::Collection>,
}

fn search_href(q: &SearchQuery, page: i64) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("q", q.q.as_str()),
        ("public", q.public.as_str()),
        ("thematique", q.thematique.as_str()),
        ("format", q.format.as_str()),
    ] {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    if page > 1 {
        s.append_pair("page", &page.to_string());
    }
    format!("/ressources?{}", s.finish())
}

pub async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(mut q): Query<SearchQuery>,
) -> AppResult<Response> {
    q.q = q.q.chars().take(200).collect();
    let keep = |v: &str, list: Vocab| {
        if list.iter().any(|(k, _)| *k == v) {
            v.to_owned()
        } else {
            String::new()
        }
    };
    q.public = keep(&q.public, PUBLICS);
    q.thematique = keep(&q.thematique, THEMATIQUES);
    q.format = keep(&q.format, FORMATS);
    let page = q
        .page
        .parse::<i64>()
        .unwrap_or(1)
        .clamp(1, ressources::PAGES_MAX);
    let r = ressources::search(
        &state.db,
        &ressources::Recherche {
            q: q.q.clone(),
            public: q.public.clone(),
            thematique: q.thematique.clone(),
            format: q.format.clone(),
            page,
        },
    )
    .await?;
    let searched =
        !q.q.is_empty() || !q.public.is_empty() || !q.thematique.is_empty() || !q.format.is_empty();
    render(&SearchView {
        shell: Shell::new(&ctx, "Centre de ressources"),
        precedente: (page > 1).then(|| search_href(&q, page - 1)),
        suivante: r.suivante.then(|| search_href(&q, page + 1)),
        cartes: r.lignes.iter().map(carte).collect(),
        collections: if searched {
            Vec::new()
        } else {
            collections::list(&state.db, None).await?
        },
        q: q.q,
        public: q.public,
        thematique: q.thematique,
        format: q.format,
        publics: PUBLICS,
        thematiques: THEMATIQUES,
        formats: FORMATS,
        searched,
        page,
    })
}

// ---------------------------------------------------------------------------
// A published resource

#[derive(Template)]
#[template(path = "ressource.html")]
pub struct RessourceView {
    pub shell: Shell,
    pub r: ressources::Publiee,
    pub format: &'static str,
    pub publics: String,
    pub thematiques: String,
    pub licence: &'static str,
    pub auteur: String,
    pub publiee: String,
    pub maj: String,
    pub fichiers: Vec<fichiers::Fichier>,
    pub editable: bool,
}

/// The session's author rights, when signed in (who may see drafts and edit).
async fn author_of(state: &AppState, ctx: &Ctx) -> Result<Option<Auteur>, crate::db::Error> {
    let Some(s) = ctx.session.as_ref() else {
        return Ok(None);
    };
    if let Some((sid, _)) = s.member_of_current() {
        return Ok(Some(Auteur {
            account_id: s.account_id,
            structure_id: Some(sid),
        }));
    }
    if crate::web::access::is_curator(state, s).await? {
        return Ok(Some(Auteur {
            account_id: s.account_id,
            structure_id: None,
        }));
    }
    Ok(None)
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(rsid): Path<i64>,
) -> AppResult<Response> {
    let r = ressources::published(&state.db, rsid)
        .await?
        .ok_or(AppError::NotFound)?;
    let editable = match author_of(&state, &ctx).await? {
        Some(a) => {
            let d = ressources::draft(&state.db, rsid).await?;
            d.is_some_and(|d| ressources::may_edit(a, d.structure_id, d.auteur_id))
        }
        None => false,
    };
    render(&RessourceView {
        shell: Shell::new(&ctx, r.titre.clone()),
        format: ressources::label(FORMATS, &r.format),
        publics: labels(PUBLICS, &r.publics),
        thematiques: labels(THEMATIQUES, &r.thematiques),
        licence: ressources::label(LICENCES, &r.licence),
        auteur: r.structure.clone().unwrap_or_else(|| "Relais".to_owned()),
        publiee: crate::time_fr::date_long(r.publiee_le),
        maj: crate::time_fr::date_long(r.mise_a_jour_le),
        fichiers: fichiers::list(&state.db, rsid).await?,
        editable,
        r,
    })
}

/// An attachment: anyone when the resource is online; its authors and curators
/// otherwise. Served with its checked type, never sniffed, never run.
pub async fn file(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((rsid, fid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let online = ressources::published(&state.db, rsid).await?.is_some();
    if !online {
        let d = ressources::draft(&state.db, rsid)
            .await?
            .ok_or(AppError::NotFound)?;
        let allowed = match ctx.session.as_ref() {
            Some(s) => {
                crate::web::access::is_curator(&state, s).await?
                    || author_of(&state, &ctx)
                        .await?
                        .is_some_and(|a| ressources::may_edit(a, d.structure_id, d.auteur_id))
            }
            None => false,
        };
        if !allowed {
            return Err(AppError::NotFound);
        }
    }
    let (f, data) = fichiers::get(&state.db, rsid, fid)
        .await?
        .ok_or(AppError::NotFound)?;
    let ascii: String = f
        .nom
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = url::form_urlencoded::byte_serialize(f.nom.as_bytes()).collect();
    let disposition = if f.is_image() { "inline" } else { "attachment" };
    Ok((
        [
            (header::CONTENT_TYPE, f.type_mime.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{}",
                    encoded.replace('+', "%20")
                ),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'; img-src 'self'".to_owned(),
            ),
            (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
        ],
        data,
    )
        .into_response())
}

// ---------------------------------------------------------------------------
// The Atom feed

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect()
}

pub async fn feed(State(state): State<AppState>) -> AppResult<Response> {
    let items = ressources::latest(&state.db, 50).await?;
    let base = state.config.public_url();
    let updated = items.first().map_or(0, |r| r.mise_a_jour_le);
    let mut out = String::with_capacity(2_000 + items.len() * 800);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"fr\">\n");
    out.push_str("<title>Relais — nouvelles ressources</title>\n");
    out.push_str(&format!(
        "<id>{}/ressources</id>\n<link rel=\"self\" href=\"{}/ressources/flux.atom\"/>\n<link href=\"{}/ressources\"/>\n<updated>{}</updated>\n<author><name>Relais</name></author>\n",
        xml(&base),
        xml(&base),
        xml(&base),
        crate::time_fr::iso(updated)
    ));
    for r in &items {
        out.push_str(&format!(
            "<entry>\n<title>{}</title>\n<id>{}/ressources/{}</id>\n<link href=\"{}/ressources/{}\"/>\n<published>{}</published>\n<updated>{}</updated>\n<author><name>{}</name></author>\n<summary>{}</summary>\n</entry>\n",
            xml(&r.titre),
            xml(&base),
            r.id,
            xml(&base),
            r.id,
            crate::time_fr::iso(r.publiee_le),
            crate::time_fr::iso(r.mise_a_jour_le),
            xml(r.structure.as_deref().unwrap_or("Relais")),
            xml(&r.resume)
        ));
    }
    out.push_str("</feed>\n");
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        out,
    )
        .into_response())
}

// ---------------------------------------------------------------------------
// A collection

#[derive(Template)]
#[template(path = "collection.html")]
pub struct CollectionView {
    pub shell: Shell,
    pub c: collections::Collection,
    pub cartes: Vec<Carte>,
    pub editable: bool,
    pub errors: FormErrors,
}

async fn collection_view(
    state: &AppState,
    ctx: &Ctx,
    cid: i64,
    errors: FormErrors,
) -> AppResult<CollectionView> {
    let c = collections::get(&state.db, cid)
        .await?
        .ok_or(AppError::NotFound)?;
    let editable = author_of(state, ctx)
        .await?
        .is_some_and(|a| collections::may_edit(&c, a));
    if c.nombre == 0 && !editable {
        return Err(AppError::NotFound);
    }
    Ok(CollectionView {
        shell: Shell::new(ctx, c.titre.clone()),
        cartes: collections::items(&state.db, cid)
            .await?
            .iter()
            .map(carte)
            .collect(),
        c,
        editable,
        errors,
    })
}

pub async fn collection(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(cid): Path<i64>,
) -> AppResult<Response> {
    render(&collection_view(&state, &ctx, cid, FormErrors::default()).await?)
}

pub async fn collection_create(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Author,
    body: Bytes,
) -> AppResult<Response> {
    let p = pairs(&body);
    match collections::create(
        &state.db,
        a.auteur,
        &field(&p, "titre"),
        &field(&p, "description"),
        state.now(),
    )
    .await?
    {
        Ok(cid) => Ok(Redirect::to(&format!("/ressources/collections/{cid}")).into_response()),
        Err(list) => {
            let mut errors = FormErrors::default();
            for (k, m) in list {
                errors.add(k, m);
            }
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &mine_view(&state, &ctx, a.auteur, errors).await?,
            )
        }
    }
}

/// Adds (`ressource=N`) or removes (`retirer=N`) a resource.
pub async fn collection_edit(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Author,
    Path(cid): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    let c = collections::get(&state.db, cid)
        .await?
        .ok_or(AppError::NotFound)?;
    if !collections::may_edit(&c, a.auteur) {
        return Err(AppError::NotFound);
    }
    let p = pairs(&body);
    let (raw, present) = match field(&p, "retirer").as_str() {
        "" => (field(&p, "ressource"), true),
        r => (r.to_owned(), false),
    };
    // « 12 » or a resource's address « …/ressources/12 ».
    let id = raw
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|s| s.trim().parse::<i64>().ok());
    let outcome = match id {
        Some(id) => collections::set_item(&state.db, cid, id, present, state.now()).await?,
        None => Err(
            "Indiquez le numéro de la ressource (dans son adresse : /ressources/12) ou collez son adresse.",
        ),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/ressources/collections/{cid}")).into_response()),
        Err(m) => {
            let mut errors = FormErrors::default();
            errors.add("ressource", m);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &collection_view(&state, &ctx, cid, errors).await?,
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Writing

#[derive(Template)]
#[template(path = "ressources_miennes.html")]
pub struct MineView {
    pub shell: Shell,
    pub lignes: Vec<ressources::Ligne>,
    pub collections: Vec<collections::Collection>,
    pub for_structure: bool,
    pub errors: FormErrors,
}

impl MineView {
    fn statut(&self, l: &ressources::Ligne) -> &'static str {
        statut_text(&l.statut, l.en_ligne)
    }
}

fn statut_text(statut: &str, en_ligne: bool) -> &'static str {
    match (statut, en_ligne) {
        ("publiee", true) => "Publiée",
        ("a_relire", true) => "En ligne ; nouvelle version en relecture",
        ("brouillon", true) => "En ligne ; nouvelle version en cours d'écriture",
        ("a_relire", false) => "En relecture",
        _ => "Brouillon",
    }
}

async fn mine_view(
    state: &AppState,
    ctx: &Ctx,
    a: Auteur,
    errors: FormErrors,
) -> AppResult<MineView> {
    Ok(MineView {
        shell: Shell::new(ctx, "Mes ressources"),
        lignes: ressources::of_author(&state.db, a).await?,
        collections: collections::list(&state.db, Some(a)).await?,
        for_structure: a.structure_id.is_some(),
        errors,
    })
}

pub async fn mine(State(state): State<AppState>, ctx: Ctx, a: Author) -> AppResult<Response> {
    render(&mine_view(&state, &ctx, a.auteur, FormErrors::default()).await?)
}

#[derive(Template)]
#[template(path = "ressource_form.html")]
pub struct FormView {
    pub shell: Shell,
    pub id: Option<i64>,
    pub f: ressources::Form,
    pub statut: &'static str,
    pub brouillon: bool,
    pub motif: Option<String>,
    pub en_ligne: bool,
    pub version: i64,
    pub fichiers: Vec<fichiers::Fichier>,
    pub publics: Vocab,
    pub thematiques: Vocab,
    pub formats: Vocab,
    pub licences: Vocab,
    pub errors: FormErrors,
    pub info: Option<&'static str>,
}

impl FormView {
    fn has_public(&self, k: &str) -> bool {
        self.f.publics.iter().any(|p| p == k)
    }
    fn has_thematique(&self, k: &str) -> bool {
        self.f.thematiques.iter().any(|p| p == k)
    }
}

fn form_of(c: &ressources::Contenu) -> ressources::Form {
    ressources::Form {
        titre: c.titre.clone(),
        resume: c.resume.clone(),
        corps: c.corps.clone(),
        publics: c.publics.clone(),
        thematiques: c.thematiques.clone(),
        format: c.format.clone(),
        licence: c.licence.clone(),
        liens: c
            .liens
            .iter()
            .map(|(t, u)| {
                if t == u {
                    u.clone()
                } else {
                    format!("{t} | {u}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

async fn form_view(
    state: &AppState,
    ctx: &Ctx,
    id: Option<i64>,
    f: Option<ressources::Form>,
    errors: FormErrors,
    info: Option<&'static str>,
) -> AppResult<FormView> {
    let d = match id {
        Some(id) => Some(
            ressources::draft(&state.db, id)
                .await?
                .ok_or(AppError::NotFound)?,
        ),
        None => None,
    };
    let title = if id.is_some() {
        "Modifier une ressource"
    } else {
        "Nouvelle ressource"
    };
    Ok(FormView {
        shell: Shell::new(ctx, title),
        id,
        f: f.unwrap_or_else(|| {
            d.as_ref().map_or_else(
                || ressources::Form {
                    licence: "etalab-2.0".into(),
                    format: "fiche".into(),
                    ..ressources::Form::default()
                },
                |d| form_of(&d.contenu),
            )
        }),
        statut: d
            .as_ref()
            .map_or("Nouvelle", |d| statut_text(&d.statut, d.en_ligne)),
        brouillon: d.as_ref().is_some_and(|d| d.statut == "brouillon"),
        motif: d.as_ref().and_then(|d| d.motif.clone()),
        en_ligne: d.as_ref().is_some_and(|d| d.en_ligne),
        version: d.as_ref().map_or(0, |d| d.version),
        fichiers: match id {
            Some(id) => fichiers::list(&state.db, id).await?,
            None => Vec::new(),
        },
        publics: PUBLICS,
        thematiques: THEMATIQUES,
        formats: FORMATS,
        licences: LICENCES,
        errors,
        info,
    })
}

/// The resource, when the author may edit it (a 404 otherwise).
async fn editable(state: &AppState, a: Auteur, rsid: i64) -> AppResult<ressources::Brouillon> {
    let d = ressources::draft(&state.db, rsid)
        .await?
        .ok_or(AppError::NotFound)?;
    if !ressources::may_edit(a, d.structure_id, d.auteur_id) {
        return Err(AppError::NotFound);
    }
    Ok(d)
}

pub async fn new_form(State(state): State<AppState>, ctx: Ctx, _a: Author) -> AppResult<Response> {
    render(&form_view(&state, &ctx, None, None, FormErrors::default(), None).await?)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct InfoQuery {
    info: String,
}

pub async fn edit_form(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Author,
    Path(rsid): Path<i64>,
    Query(q): Query<InfoQuery>,
) -> AppResult<Response> {
    editable(&state, a.auteur, rsid).await?;
    let info = match q.info.as_str() {
        "enregistre" => {
            Some("Version enregistrée. Proposez-la à la relecture quand elle est prête.")
        }
        "propose" => Some(
            "Ressource proposée à la relecture : un administrateur ou un hub la relit avant publication.",
        ),
        "fichier" => Some("Fichier ajouté."),
        "fichier-supprime" => Some("Fichier supprimé."),
        _ => None,
    };
    render(&form_view(&state, &ctx, Some(rsid), None, FormErrors::default(), info).await?)
}

fn read_form(body: &[u8]) -> ressources::Form {
    let p = pairs_up_to(body, ressources::FORM_VALUE_MAX);
    let all = |name: &str| -> Vec<String> {
        p.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .take(40)
            .collect()
    };
    ressources::Form {
        titre: field(&p, "titre"),
        resume: field(&p, "resume"),
        corps: p
            .iter()
            .find(|(k, _)| k == "corps")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        publics: all("publics"),
        thematiques: all("thematiques"),
        format: field(&p, "format"),
        licence: field(&p, "licence"),
        liens: field(&p, "liens"),
    }
}

async fn save(
    state: &AppState,
    ctx: &Ctx,
    a: Auteur,
    id: Option<i64>,
    body: &[u8],
) -> AppResult<Response> {
    if let Some(id) = id {
        editable(state, a, id).await?;
    }
    let f = read_form(body);
    let errors = match ressources::check(&f) {
        Ok(c) => match ressources::save(&state.db, a, id, &c, state.now()).await? {
            Ok(rsid) => {
                return Ok(
                    Redirect::to(&format!("/ressources/{rsid}/modifier?info=enregistre"))
                        .into_response(),
                );
            }
            Err(m) => vec![("titre", m.to_owned())],
        },
        Err(list) => list,
    };
    let mut fe = FormErrors::default();
    for (k, m) in errors {
        fe.add(k, m);
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &form_view(state, ctx, id, Some(f), fe, None).await?,
    )
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Author,
    body: Bytes,
) -> AppResult<Response> {
    save(&state, &ctx, a.auteur, None, &body).await
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Author,
    Path(rsid): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    save(&state, &ctx, a.auteur, Some(rsid), &body).await
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Author,
    Path(rsid): Path<i64>,
) -> AppResult<Response> {
    editable(&state, a.auteur, rsid).await?;
    match ressources::submit(&state.db, a.auteur, rsid, state.now()).await? {
        Ok(()) => {
            Ok(Redirect::to(&format!("/ressources/{rsid}/modifier?info=propose")).into_response())
        }
        Err(m) => {
            let mut errors = FormErrors::default();
            errors.add("titre", m);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_view(&state, &ctx, Some(rsid), None, errors, None).await?,
            )
        }
    }
}

pub async fn upload(
    State(state): State<AppState>,
    ctx: Ctx,
    a: Author,
    Path(rsid): Path<i64>,
    up: Upload,
) -> AppResult<Response> {
    editable(&state, a.auteur, rsid).await?;
    let outcome = match up.file("fichier") {
        Some(part) => {
            fichiers::add(
                &state.db,
                rsid,
                part.file_name.as_deref().unwrap_or("fichier"),
                &part.data,
                state.now(),
            )
            .await?
        }
        None => Err("Choisissez un fichier (PDF, PNG ou JPEG, 5 Mo au plus).".to_owned()),
    };
    match outcome {
        Ok(_) => {
            Ok(Redirect::to(&format!("/ressources/{rsid}/modifier?info=fichier")).into_response())
        }
        Err(m) => {
            let mut errors = FormErrors::default();
            errors.add("fichier", m);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_view(&state, &ctx, Some(rsid), None, errors, None).await?,
            )
        }
    }
}

pub async fn delete_file(
    State(state): State<AppState>,
    a: Author,
    Path((rsid, fid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    editable(&state, a.auteur, rsid).await?;
    if !fichiers::delete(&state.db, rsid, fid).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&format!(
        "/ressources/{rsid}/modifier?info=fichier-supprime"
    ))
    .into_response())
}

#[derive(Template)]
#[template(path = "ressource_versions.html")]
pub struct VersionsView {
    pub shell: Shell,
    pub id: i64,
    pub titre: String,
    pub version_publiee: Option<i64>,
    pub versions: Vec<(i64, String, String, String)>,
    pub shown: Option<(i64, String)>,
}

impl VersionsView {
    fn is_online(&self, v: &i64) -> bool {
        self.version_publiee == Some(*v)
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct VersionQuery {
    version: String,
}

/// The history: every version, and one shown (authors and curators).
pub async fn versions(
    State(state): State<AppState>,
    ctx: Ctx,
    s: SignedIn,
    Path(rsid): Path<i64>,
    Query(q): Query<VersionQuery>,
) -> AppResult<Response> {
    let d = ressources::draft(&state.db, rsid)
        .await?
        .ok_or(AppError::NotFound)?;
    let allowed = crate::web::access::is_curator(&state, &s.0).await?
        || author_of(&state, &ctx)
            .await?
            .is_some_and(|a| ressources::may_edit(a, d.structure_id, d.auteur_id));
    if !allowed {
        return Err(AppError::NotFound);
    }
    let list = ressources::versions(&state.db, rsid).await?;
    let wanted = q.version.parse::<i64>().ok();
    let shown = wanted.and_then(|w| {
        list.iter()
            .find(|v| v.version == w)
            .map(|v| (v.version, v.corps_html.clone()))
    });
    render(&VersionsView {
        shell: Shell::new(&ctx, format!("Versions de « {} »", d.contenu.titre)),
        id: rsid,
        titre: d.contenu.titre,
        version_publiee: d.version_publiee,
        versions: list
            .into_iter()
            .map(|v| {
                (
                    v.version,
                    v.titre,
                    v.auteur.unwrap_or_default(),
                    crate::time_fr::date_time(v.created_at),
                )
            })
            .collect(),
        shown,
    })
}

// ---------------------------------------------------------------------------
// Review

#[derive(Template)]
#[template(path = "ressources_relecture.html")]
pub struct ReviewListView {
    pub shell: Shell,
    pub lignes: Vec<ressources::Ligne>,
    pub info: Option<&'static str>,
}

pub async fn review_list(
    State(state): State<AppState>,
    ctx: Ctx,
    _c: Curator,
    Query(q): Query<InfoQuery>,
) -> AppResult<Response> {
    let info = match q.info.as_str() {
        "publiee" => Some("Ressource publiée : elle est dans la recherche et le flux."),
        "renvoyee" => Some("Ressource renvoyée à son auteur avec vos remarques."),
        "depubliee" => Some("Ressource retirée du centre de ressources."),
        _ => None,
    };
    render(&ReviewListView {
        shell: Shell::new(&ctx, "Ressources à relire"),
        lignes: ressources::to_review(&state.db).await?,
        info,
    })
}

#[derive(Template)]
#[template(path = "ressource_relire.html")]
pub struct ReviewView {
    pub shell: Shell,
    pub d: ressources::Brouillon,
    pub publics: String,
    pub thematiques: String,
    pub format: &'static str,
    pub licence: &'static str,
    pub fichiers: Vec<fichiers::Fichier>,
    pub errors: FormErrors,
}

async fn review_view(
    state: &AppState,
    ctx: &Ctx,
    rsid: i64,
    errors: FormErrors,
) -> AppResult<ReviewView> {
    let d = ressources::draft(&state.db, rsid)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(ReviewView {
        shell: Shell::new(ctx, format!("Relire « {} »", d.contenu.titre)),
        publics: labels(PUBLICS, &d.contenu.publics),
        thematiques: labels(THEMATIQUES, &d.contenu.thematiques),
        format: ressources::label(FORMATS, &d.contenu.format),
        licence: ressources::label(LICENCES, &d.contenu.licence),
        fichiers: fichiers::list(&state.db, rsid).await?,
        d,
        errors,
    })
}

pub async fn review(
    State(state): State<AppState>,
    ctx: Ctx,
    _c: Curator,
    Path(rsid): Path<i64>,
) -> AppResult<Response> {
    render(&review_view(&state, &ctx, rsid, FormErrors::default()).await?)
}

pub async fn decide(
    State(state): State<AppState>,
    ctx: Ctx,
    c: Curator,
    Path(rsid): Path<i64>,
    body: Bytes,
) -> AppResult<Response> {
    if ressources::draft(&state.db, rsid).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let p = pairs(&body);
    let motif = field(&p, "motif");
    let (decision, done) = match field(&p, "decision").as_str() {
        "publier" => (Decision::Publier, "publiee"),
        "renvoyer" => (Decision::Renvoyer(motif), "renvoyee"),
        "depublier" => (Decision::Depublier(motif), "depubliee"),
        _ => {
            let mut errors = FormErrors::default();
            errors.add(
                "decision",
                "Choisissez : publier, renvoyer à l'auteur ou retirer.",
            );
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &review_view(&state, &ctx, rsid, errors).await?,
            );
        }
    };
    match ressources::decide(&state.db, c.0.account_id, rsid, &decision, state.now()).await? {
        Ok(()) => Ok(Redirect::to(&format!("/ressources/relecture?info={done}")).into_response()),
        Err(m) => {
            let mut errors = FormErrors::default();
            errors.add("motif", m);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &review_view(&state, &ctx, rsid, errors).await?,
            )
        }
    }
}
