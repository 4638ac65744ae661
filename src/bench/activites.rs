//! `relais bench activites`: activity reports at national scale, in process on a
//! real database.
//!
//! Fills the database in stages (`--etapes`, 100,000 then 1,000,000 activities by
//! default: 250 a mediator over 23 months, mediators spread over 100 départements,
//! a third of individual accompaniments with a tracked person, one workshop in five
//! with two tracked and five anonymous participants), written in bulk with their
//! aggregates computed by the same `activites::cells_of` as every report. After each
//! stage it measures the statistics of one département for one year (`stats::compute`)
//! and of the nation; after the last, the recording of an individual accompaniment
//! through the HTTP router (form post → checks → transaction → aggregates) and the
//! statistics page. Bounded in work; no network.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::activites::stats::{self, Filter, Scope};
use crate::activites::{Cells, Counters, Key, Kind, Person, Report, cells_of, vocab};
use crate::clock::{Clock, SystemClock};
use crate::db::{Backend, Db, Exec as _};

#[derive(Debug, Clone, clap::Args)]
pub struct ActivitesBenchArgs {
    /// Sizes of the database at which the statistics are measured (activities).
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    pub etapes: Vec<usize>,
    /// Measured statistics queries per stage.
    #[arg(long, default_value_t = 100)]
    pub requests: usize,
    /// Measured recordings after the last stage.
    #[arg(long, default_value_t = 1_000)]
    pub records: usize,
}

const PER_MEDIATOR: usize = 250;
const PEOPLE_PER_MEDIATOR: usize = 60;
/// 2025-01 … 2026-11.
const MONTHS: usize = 23;

fn line(name: &str, mut d: Vec<Duration>) -> String {
    d.sort();
    format!(
        "{name:<52} n={:>5}  p50 {:>8.3} ms  p99 {:>8.3} ms",
        d.len(),
        crate::bench::percentile(&d, 0.5).as_secs_f64() * 1e3,
        crate::bench::percentile(&d, 0.99).as_secs_f64() * 1e3
    )
}

fn month_of(i: usize) -> i64 {
    let m = i64::try_from(i % MONTHS).unwrap_or(0);
    202_501 + (m / 12) * 100 + m % 12
}

/// Writes `json` rows through one statement per backend.
pub(crate) async fn bulk(
    db: &Db,
    sqlite: &'static str,
    postgres: &'static str,
    json: String,
) -> anyhow::Result<()> {
    let sql = match db.backend() {
        Backend::Sqlite => sqlite,
        Backend::Postgres => postgres,
    };
    let mut tx = db.begin().await?;
    tx.execute(sql, crate::args![&json]).await?;
    tx.commit().await?;
    Ok(())
}

const BENEFICIAIRES_SQLITE: &str = "INSERT INTO beneficiaires (id, mediateur_id, prenom, nom, genre, statut_social, annee_naissance, search_key, premiere_activite_id, derniere_activite_le, created_at, updated_at)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), 'Prénom', json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[2]'), json_extract(value, '$[6]'), json_extract(value, '$[7]'), 0, 0 FROM json_each($1)";
const BENEFICIAIRES_PG: &str = "INSERT INTO beneficiaires (id, mediateur_id, prenom, nom, genre, statut_social, annee_naissance, search_key, premiere_activite_id, derniere_activite_le, created_at, updated_at)
    SELECT (v->>0)::bigint, (v->>1)::bigint, 'Prénom', v->>2, v->>3, v->>4, (v->>5)::bigint, v->>2, (v->>6)::bigint, (v->>7)::bigint, 0, 0 FROM jsonb_array_elements($1::text::jsonb) v";
const ACTIVITES_SQLITE: &str = "INSERT INTO activites (id, mediateur_id, structure_id, type, date, duree, lieu_type, commune_insee, departement, materiel, thematiques, titre, anon_total, anon_deja, anon_genre, anon_age, anon_statut, created_at, updated_at)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), 'domicile', json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]'), json_extract(value, '$[9]'), json_extract(value, '$[10]'), json_extract(value, '$[11]'), json_extract(value, '$[12]'), json_extract(value, '$[13]'), json_extract(value, '$[14]'), json_extract(value, '$[15]'), 0, 0 FROM json_each($1)";
const ACTIVITES_PG: &str = "INSERT INTO activites (id, mediateur_id, structure_id, type, date, duree, lieu_type, commune_insee, departement, materiel, thematiques, titre, anon_total, anon_deja, anon_genre, anon_age, anon_statut, created_at, updated_at)
    SELECT (v->>0)::bigint, (v->>1)::bigint, (v->>2)::bigint, v->>3, (v->>4)::bigint, (v->>5)::bigint, 'domicile', v->>6, v->>7, v->>8, v->>9, v->>10, (v->>11)::bigint, (v->>12)::bigint, v->>13, v->>14, v->>15, 0, 0 FROM jsonb_array_elements($1::text::jsonb) v";
const PARTICIPANTS_SQLITE: &str = "INSERT INTO activite_participants (activite_id, beneficiaire_id)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($1)";
const PARTICIPANTS_PG: &str = "INSERT INTO activite_participants (activite_id, beneficiaire_id)
    SELECT (v->>0)::bigint, (v->>1)::bigint FROM jsonb_array_elements($1::text::jsonb) v";
const CELLULES_SQLITE: &str = "INSERT INTO activites_cellules (mois, mediateur_id, structure_id, lieu_id, commune_insee, departement, type, dim, val, activites, accompagnements)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), 0, json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]'), json_extract(value, '$[9]') FROM json_each($1)";
const CELLULES_PG: &str = "INSERT INTO activites_cellules (mois, mediateur_id, structure_id, lieu_id, commune_insee, departement, type, dim, val, activites, accompagnements)
    SELECT (v->>0)::bigint, (v->>1)::bigint, (v->>2)::bigint, 0, v->>3, v->>4, v->>5, v->>6, v->>7, (v->>8)::bigint, (v->>9)::bigint FROM jsonb_array_elements($1::text::jsonb) v";

const TERRITOIRES_SQLITE: &str = "INSERT INTO activites_territoires (mois, departement, type, dim, val, activites, accompagnements)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[6]') FROM json_each($1) WHERE true
    ON CONFLICT (departement, mois, type, dim, val) DO UPDATE SET activites = activites_territoires.activites + excluded.activites,
        accompagnements = activites_territoires.accompagnements + excluded.accompagnements";
const TERRITOIRES_PG: &str = "INSERT INTO activites_territoires (mois, departement, type, dim, val, activites, accompagnements)
    SELECT (v->>0)::bigint, v->>1, v->>2, v->>3, v->>4, (v->>5)::bigint, (v->>6)::bigint FROM jsonb_array_elements($1::text::jsonb) v
    ON CONFLICT (departement, mois, type, dim, val) DO UPDATE SET activites = activites_territoires.activites + excluded.activites,
        accompagnements = activites_territoires.accompagnements + excluded.accompagnements";

/// (month, département, type, dimension, value) of the territories' aggregates.
type CoarseKey = (i64, String, String, &'static str, String);

/// Ids handed out by the bulk load (explicit, so participants can name them).
struct Next {
    account: i64,
    beneficiaire: i64,
    activite: i64,
}

/// Adds `count` mediators with their people and activities, and their aggregates.
#[allow(clippy::too_many_lines, reason = "one generator, read top to bottom")]
async fn fill(
    db: &Db,
    structure: i64,
    first_mediator: usize,
    count: usize,
    places: &[(String, String)],
    next: &mut Next,
    now: i64,
) -> anyhow::Result<()> {
    const BATCH: usize = 40;
    let mut people_rows = Vec::new();
    let mut act_rows = Vec::new();
    let mut part_rows = Vec::new();
    let mut cell_rows = Vec::new();
    let mut mediators = Vec::new();
    let mut coarse: BTreeMap<CoarseKey, (i64, i64)> = BTreeMap::new();
    for k in 0..count {
        let idx = first_mediator + k;
        let (commune, dep) = places
            .get(idx % places.len().max(1))
            .cloned()
            .unwrap_or_default();
        // The mediator's account (no password: never signs in) and profile.
        let mid = next.account;
        next.account += 1;
        mediators.push(serde_json::json!([
            mid,
            format!("banc-mediateur-{now}-{idx}@exemple.fr")
        ]));
        let mut people = Vec::with_capacity(PEOPLE_PER_MEDIATOR);
        for p in 0..PEOPLE_PER_MEDIATOR {
            let genre = vocab::GENRES
                .get(p % 3)
                .map(|g| g.0)
                .unwrap_or(vocab::NON_COMMUNIQUE.0);
            let statut = vocab::STATUTS
                .get(p % 5)
                .map(|g| g.0)
                .unwrap_or(vocab::NON_COMMUNIQUE.0);
            let year = 1940 + i64::try_from(p % 70).unwrap_or(0);
            people.push((next.beneficiaire, genre, statut, year, None::<i64>, 0_i64));
            next.beneficiaire += 1;
        }
        let mut cells: BTreeMap<Key, Cells> = BTreeMap::new();
        // Activities in date order, so a person's first is the first generated.
        let mut list: Vec<(i64, usize)> = (0..PER_MEDIATOR)
            .map(|j| {
                let mois = month_of(j * MONTHS / PER_MEDIATOR);
                (mois * 100 + 1 + i64::try_from(j % 28).unwrap_or(0), j)
            })
            .collect();
        list.sort_unstable();
        for (date, j) in list {
            let id = next.activite;
            next.activite += 1;
            let kind = if j % 5 == 4 {
                Kind::Collectif
            } else {
                Kind::Individuel
            };
            let mut participants = Vec::new();
            let mut anon = Counters::none();
            match kind {
                Kind::Individuel if j % 3 == 0 => participants.push((j * 7) % PEOPLE_PER_MEDIATOR),
                Kind::Individuel => {
                    anon.total = 1;
                    anon.deja = i64::from(j % 2 == 0);
                    if let Some(g) = anon.genre.get_mut(j % 2) {
                        *g = 1;
                    }
                }
                Kind::Collectif => {
                    participants.push((j * 11) % PEOPLE_PER_MEDIATOR);
                    participants.push((j * 11 + 1) % PEOPLE_PER_MEDIATOR);
                    anon.total = 5;
                    anon.deja = 2;
                    if let Some(g) = anon.genre.get_mut(1) {
                        *g = 3;
                    }
                    if let Some(a) = anon.age.get_mut(5) {
                        *a = 4;
                    }
                }
            }
            let thematiques: Vec<String> = [j % 19, (j * 5 + 3) % 19]
                .iter()
                .filter_map(|t| vocab::THEMATIQUES.get(*t).map(|x| x.0.to_owned()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let materiel = vec![
                vocab::MATERIELS
                    .get(j % 5)
                    .map(|m| m.0)
                    .unwrap_or("aucun")
                    .to_owned(),
            ];
            let duree = *vocab::DUREES.get(j % 6).unwrap_or(&30);
            let report = Report {
                kind,
                date,
                duree,
                lieu_type: "domicile".into(),
                lieu_id: None,
                commune_insee: commune.clone(),
                materiel,
                thematiques,
                thematiques_admin: Vec::new(),
                precisions: String::new(),
                tags: Vec::new(),
                notes: String::new(),
                autonomie: String::new(),
                orientation: String::new(),
                titre: if kind == Kind::Collectif {
                    "Atelier".into()
                } else {
                    String::new()
                },
                niveau: String::new(),
                participants: Vec::new(),
                anonymes: anon.clone(),
                mandat_id: None,
                pass_code: String::new(),
            };
            let mut persons = Vec::new();
            let mut new_people = 0;
            for p in &participants {
                if let Some(person) = people.get_mut(*p) {
                    persons.push(Person {
                        genre: person.1.to_owned(),
                        annee_naissance: Some(person.3),
                        statut: person.2.to_owned(),
                    });
                    if person.4.is_none() {
                        person.4 = Some(id);
                        new_people += 1;
                    }
                    person.5 = date;
                    part_rows.push(serde_json::json!([id, person.0]));
                }
            }
            let key = Key {
                mois: date / 100,
                mediateur_id: mid,
                structure_id: structure,
                lieu_id: 0,
                commune_insee: commune.clone(),
                departement: dep.clone(),
                kind: kind.key().to_owned(),
            };
            let entry = cells.entry(key).or_default();
            for (k, (a, n)) in cells_of(&report, &persons) {
                let e = entry.entry(k).or_insert((0, 0));
                e.0 += a;
                e.1 += n;
            }
            if new_people > 0 {
                let e = entry
                    .entry(("nouveaux", "suivis".to_owned()))
                    .or_insert((0, 0));
                e.1 += new_people;
            }
            let enc = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            act_rows.push(serde_json::json!([
                id,
                mid,
                structure,
                kind.key(),
                date,
                duree,
                commune,
                dep,
                report.materiel.join(","),
                report.thematiques.join(","),
                report.titre,
                anon.total,
                anon.deja,
                enc(&anon.genre),
                enc(&anon.age),
                enc(&anon.statut)
            ]));
        }
        for p in &people {
            people_rows.push(serde_json::json!([
                p.0,
                mid,
                format!("nom {}", p.0),
                p.1,
                p.2,
                p.3,
                p.4,
                if p.5 > 0 { Some(p.5) } else { None }
            ]));
        }
        for (key, c) in cells {
            for ((dim, val), (a, n)) in c {
                let e = coarse
                    .entry((
                        key.mois,
                        key.departement.clone(),
                        key.kind.clone(),
                        dim,
                        val.clone(),
                    ))
                    .or_insert((0, 0));
                e.0 += a;
                e.1 += n;
                cell_rows.push(serde_json::json!([
                    key.mois,
                    key.mediateur_id,
                    key.structure_id,
                    key.commune_insee,
                    key.departement,
                    key.kind,
                    dim,
                    val,
                    a,
                    n
                ]));
            }
        }
        if (k + 1) % BATCH == 0 || k + 1 == count {
            // Accounts first (foreign keys), then people, activities, participants, cells.
            for m in mediators.drain(..) {
                let id = m.get(0).and_then(serde_json::Value::as_i64).unwrap_or(0);
                let email = m.get(1).and_then(|e| e.as_str()).unwrap_or("").to_owned();
                db.execute(
                    "INSERT INTO accounts (id, email, full_name, created_at) VALUES ($1, $2, 'Médiateur de banc', $3)",
                    crate::args![id, &email, now],
                )
                .await?;
                db.execute(
                    "INSERT INTO memberships (account_id, structure_id, role, created_at) VALUES ($1, $2, 'mediateur', $3)",
                    crate::args![id, structure, now],
                )
                .await?;
                db.execute(
                    "INSERT INTO mediateurs (account_id, created_at) VALUES ($1, $2)",
                    crate::args![id, now],
                )
                .await?;
            }
            bulk(
                db,
                BENEFICIAIRES_SQLITE,
                BENEFICIAIRES_PG,
                serde_json::Value::Array(std::mem::take(&mut people_rows)).to_string(),
            )
            .await?;
            bulk(
                db,
                ACTIVITES_SQLITE,
                ACTIVITES_PG,
                serde_json::Value::Array(std::mem::take(&mut act_rows)).to_string(),
            )
            .await?;
            bulk(
                db,
                PARTICIPANTS_SQLITE,
                PARTICIPANTS_PG,
                serde_json::Value::Array(std::mem::take(&mut part_rows)).to_string(),
            )
            .await?;
            bulk(
                db,
                CELLULES_SQLITE,
                CELLULES_PG,
                serde_json::Value::Array(std::mem::take(&mut cell_rows)).to_string(),
            )
            .await?;
        }
    }
    let rows: Vec<serde_json::Value> = coarse
        .into_iter()
        .map(|((m, d, t, dim, val), (a, n))| serde_json::json!([m, d, t, dim, val, a, n]))
        .collect();
    for chunk in rows.chunks(20_000) {
        bulk(
            db,
            TERRITOIRES_SQLITE,
            TERRITOIRES_PG,
            serde_json::Value::Array(chunk.to_vec()).to_string(),
        )
        .await?;
    }
    if db.backend() == Backend::Postgres {
        db.run_script(
            "SELECT setval(pg_get_serial_sequence('accounts', 'id'), (SELECT MAX(id) FROM accounts));
             SELECT setval(pg_get_serial_sequence('beneficiaires', 'id'), (SELECT MAX(id) FROM beneficiaires));
             SELECT setval(pg_get_serial_sequence('activites', 'id'), (SELECT MAX(id) FROM activites));",
        )
        .await?;
    }
    db.run_script("ANALYZE").await?;
    Ok(())
}

/// One commune per département (the first 100), and the next ids to hand out.
async fn population_start(db: &Db) -> anyhow::Result<(Vec<(String, String)>, Next)> {
    let mut places: Vec<(String, String)> = Vec::new();
    for c in crate::territoires::get().communes() {
        if !places.iter().any(|(_, d)| *d == c.departement) {
            places.push((c.code.clone(), c.departement.clone()));
        }
        if places.len() == 100 {
            break;
        }
    }
    let max = |sql: &'static str| {
        let db = db.clone();
        async move { db.fetch_one(sql, &[]).await?.int("m") }
    };
    let next = Next {
        account: max("SELECT COALESCE(MAX(id), 0) AS m FROM accounts").await? + 1,
        beneficiaire: max("SELECT COALESCE(MAX(id), 0) AS m FROM beneficiaires").await? + 1,
        activite: max("SELECT COALESCE(MAX(id), 0) AS m FROM activites").await? + 1,
    };
    Ok((places, next))
}

/// Adds about `activities` activities (with their mediators, people and
/// aggregates) to `structure`, spread over 100 départements (other benches).
pub(crate) async fn populate(
    db: &Db,
    structure: i64,
    activities: usize,
    now: i64,
) -> anyhow::Result<()> {
    let (places, mut next) = population_start(db).await?;
    let mediators = activities / PER_MEDIATOR;
    let mut done = 0;
    while done < mediators {
        let step = (mediators - done).min(400);
        fill(db, structure, done, step, &places, &mut next, now).await?;
        done += step;
    }
    Ok(())
}

pub async fn run(args: &ActivitesBenchArgs, database_url: Option<String>) -> anyhow::Result<()> {
    let clock = std::sync::Arc::new(SystemClock);
    let now = clock.now();
    let dir = std::env::temp_dir().join(format!("relais-bench-activites-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url =
        database_url.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let db = Db::connect(&url, crate::config::DEFAULT_SECRET).await?;
    crate::migrate(&db, now).await?;
    let kind = if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let (sid, me) = crate::bench::structure_and_member(
        &db,
        now,
        4_000_000,
        "activites",
        crate::domain::Role::Mediateur,
    )
    .await?;
    let (session, csrf) = crate::bench::signed_in(&db, me, now).await?;
    let (places, mut next) = population_start(&db).await?;
    let measured_dep = places
        .first()
        .map(|p| p.1.clone())
        .context("départements")?;
    println!("Base : {kind}");
    let mut mediators = 0;
    for target in &args.etapes {
        let wanted = target / PER_MEDIATOR;
        let started = Instant::now();
        fill(
            &db,
            sid,
            mediators,
            wanted.saturating_sub(mediators),
            &places,
            &mut next,
            now,
        )
        .await?;
        mediators = mediators.max(wanted);
        let count: i64 = db
            .fetch_one("SELECT COUNT(*) AS n FROM activites", &[])
            .await?
            .int("n")?;
        let cells: i64 = db
            .fetch_one("SELECT COUNT(*) AS n FROM activites_cellules", &[])
            .await?
            .int("n")?;
        println!(
            "\n{count} activités ({mediators} médiateurs, {cells} cellules d'agrégats), chargées en {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let year = Filter {
            scope: Scope::Departement(measured_dep.clone()),
            from: 202_512,
            to: 202_611,
            kind: None,
            lieu_id: None,
        };
        let mut d = Vec::with_capacity(args.requests);
        let mut shown = None;
        for _ in 0..args.requests {
            let t = Instant::now();
            let s = stats::compute(&db, &year).await?;
            d.push(t.elapsed());
            shown = Some(s.totals.accompagnements);
        }
        println!(
            "{}",
            line(
                &format!("statistiques du département {measured_dep}, 12 mois"),
                d
            )
        );
        println!("  ({} accompagnements comptés)", shown.unwrap_or(0));
        let national = Filter {
            scope: Scope::National,
            ..year.clone()
        };
        let mut d = Vec::new();
        for _ in 0..args.requests.div_ceil(10) {
            let t = Instant::now();
            stats::compute(&db, &national).await?;
            d.push(t.elapsed());
        }
        println!("{}", line("statistiques nationales, 12 mois", d));
        if count <= 200_000 {
            let all = Filter {
                scope: Scope::Structure(sid),
                from: 202_501,
                to: 202_612,
                kind: None,
                lieu_id: None,
            };
            let t = Instant::now();
            let bytes = crate::activites::export::accompaniments_xlsx(&db, &all, None).await?;
            println!(
                "export XLSX des {count} activités (une ligne par accompagnement) : {:.2} s, {:.1} Mo",
                t.elapsed().as_secs_f64(),
                bytes.len() as f64 / 1e6
            );
        }
    }

    // Recording through the router, as the form posts it.
    let (_, router) = crate::bench::in_process_app(&db, &url, clock.clone()).await?;
    let cookie = format!("{}={session}", crate::sessions::COOKIE);
    let person = crate::activites::beneficiaires::create(
        &db,
        me,
        &crate::activites::beneficiaires::Fields {
            prenom: "Marie".into(),
            nom: "Banc".into(),
            genre: "feminin".into(),
            statut_social: "retraite".into(),
            annee_naissance: Some(1950),
            ..Default::default()
        },
        now,
    )
    .await?
    .to_string();
    let day = crate::activites::date_iso(crate::activites::today(now));
    let mut d = Vec::with_capacity(args.records);
    for i in 0..args.records {
        let beneficiaire = if i % 2 == 0 { person.as_str() } else { "" };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("_csrf", csrf.as_str()),
                ("beneficiaire", beneficiaire),
                ("date", day.as_str()),
                ("duree", "30"),
                ("lieu_type", "domicile"),
                ("commune", "89024"),
                ("materiel", "ordinateur"),
                ("thematique", "email"),
                ("thematique", "aide_aux_demarches_administratives"),
                ("thematique_admin", "social"),
                ("autonomie", "autonome"),
                ("oriente", "non"),
            ])
            .finish();
        let req = Request::post("/activites/individuel/nouveau")
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))?;
        let t = Instant::now();
        let res = router.clone().oneshot(req).await?;
        let status = res.status();
        let _ = axum::body::to_bytes(res.into_body(), 1 << 20).await?;
        d.push(t.elapsed());
        anyhow::ensure!(status.as_u16() == 303, "enregistrement : {status}");
    }
    println!(
        "\n{}",
        line("enregistrer un accompagnement (formulaire → agrégats)", d)
    );
    let mut d = Vec::new();
    for _ in 0..args.requests {
        let req = Request::get("/activites/statistiques")
            .header("cookie", &cookie)
            .body(Body::empty())?;
        let t = Instant::now();
        let res = router.clone().oneshot(req).await?;
        let status = res.status();
        let _ = axum::body::to_bytes(res.into_body(), 4 << 20).await?;
        d.push(t.elapsed());
        anyhow::ensure!(status.is_success(), "statistiques : {status}");
    }
    println!("{}", line("page « Mes statistiques » (12 mois)", d));
    // The aggregates agree with the reports.
    let from_cells: i64 = db
        .fetch_one(
            "SELECT CAST(SUM(activites) AS BIGINT) AS n FROM activites_cellules WHERE dim = 'total' AND val = 'tout'",
            &[],
        )
        .await?
        .int("n")?;
    let rows: i64 = db
        .fetch_one("SELECT COUNT(*) AS n FROM activites", &[])
        .await?
        .int("n")?;
    anyhow::ensure!(
        from_cells == rows,
        "agrégats {from_cells} ≠ activités {rows}"
    );
    println!("Agrégats vérifiés : {rows} activités comptées dans les cellules.");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
