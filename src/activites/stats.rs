//! Statistics of activities, read from the aggregates (`activites_cellules`) kept
//! by every write of a report: a département's year sums the cells of its months,
//! whatever the number of reports. Distinct tracked people are the one figure the
//! cells cannot give (a person seen in two months is one person): they are counted
//! from the participants of the period through the reports' indexes.

use super::{Kind, vocab};
use crate::db::Db;
use crate::db::exec::Exec;

/// Whose activities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Mediateur(i64),
    Structure(i64),
    /// One mediator's reports for one structure (a structure's page filtered on a
    /// mediator): (structure, mediator).
    StructureMediateur(i64, i64),
    /// A set of communes (INSEE codes): one commune, or an intercommunality's.
    Communes(Vec<String>),
    /// A département code (`89`, `2A`).
    Departement(String),
    /// A région code (`27`): its départements.
    Region(String),
    /// A set of départements (a hub France connectée).
    Departements(Vec<String>),
    National,
    /// A coordinator's team: each member with the day they left (`YYYYMMDD`), if
    /// they did — their activities count up to that day.
    Team(Vec<(i64, Option<i64>)>),
}

/// What the statistics are filtered on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub scope: Scope,
    /// First and last month, `YYYYMM`, both included.
    pub from: i64,
    pub to: i64,
    pub kind: Option<Kind>,
    pub lieu_id: Option<i64>,
}

/// One value of a distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub slug: String,
    pub label: String,
    pub n: i64,
    /// Largest-remainder percentage: the rows of a distribution add up to 100.
    pub pct: i64,
}

#[derive(Debug, Clone)]
pub struct Distribution {
    pub key: &'static str,
    pub title: &'static str,
    pub rows: Vec<Row>,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month {
    /// `YYYYMM`.
    pub mois: i64,
    pub label: String,
    pub activites: i64,
    pub accompagnements: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub activites: i64,
    pub accompagnements: i64,
    pub activites_individuelles: i64,
    pub ateliers: i64,
    pub accompagnements_individuels: i64,
    pub accompagnements_collectifs: i64,
    /// Distinct tracked people plus anonymous participants.
    pub personnes: i64,
    pub suivis: i64,
    pub anonymes: i64,
    /// People whose first accompaniment is in the period.
    pub nouveaux: i64,
    pub minutes: i64,
}

impl Totals {
    /// The totals as the exports list them (label, value; hours with decimals).
    pub fn labelled(&self) -> [(&'static str, f64); 8] {
        [
            ("Accompagnements", self.accompagnements as f64),
            ("Personnes accompagnées", self.personnes as f64),
            ("Nouvelles personnes", self.nouveaux as f64),
            ("Activités", self.activites as f64),
            (
                "Accompagnements individuels",
                self.accompagnements_individuels as f64,
            ),
            ("Ateliers", self.ateliers as f64),
            (
                "Participations aux ateliers",
                self.accompagnements_collectifs as f64,
            ),
            ("Heures d'accompagnement", self.minutes as f64 / 60.0),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct Stats {
    pub totals: Totals,
    pub months: Vec<Month>,
    pub distributions: Vec<Distribution>,
}

/// Percentages by largest remainder: rounded down, then the points left go to
/// the largest remainders, so they add up to exactly 100 (0 everywhere when
/// the total is 0).
pub fn percentages(counts: &[i64]) -> Vec<i64> {
    let total: i64 = counts.iter().map(|c| (*c).max(0)).sum();
    if total == 0 {
        return vec![0; counts.len()];
    }
    let mut out: Vec<i64> = counts.iter().map(|c| c.max(&0) * 100 / total).collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    let rem = |i: usize| counts.get(i).map(|c| c.max(&0) * 100 % total).unwrap_or(0);
    order.sort_by(|a, b| {
        rem(*b)
            .cmp(&rem(*a))
            .then_with(|| counts.get(*b).cmp(&counts.get(*a)))
            .then_with(|| a.cmp(b))
    });
    let left = 100 - out.iter().sum::<i64>();
    for i in order.into_iter().take(usize::try_from(left).unwrap_or(0)) {
        if let Some(p) = out.get_mut(i) {
            *p += 1;
        }
    }
    out
}

macro_rules! cells_sql {
    ($cond:literal) => {
        concat!(
            "SELECT dim, val, CAST(SUM(activites) AS BIGINT) AS a,
                    CAST(SUM(accompagnements) AS BIGINT) AS n
             FROM activites_cellules WHERE ",
            $cond,
            " AND mois BETWEEN $2 AND $3 AND ($4 = '' OR type = $4) AND ($5 = 0 OR lieu_id = $5)
             GROUP BY dim, val"
        )
    };
}

/// Territories read the coarse aggregates (per month, département and type).
macro_rules! territory_cells_sql {
    ($cond:literal) => {
        concat!(
            "SELECT dim, val, CAST(SUM(activites) AS BIGINT) AS a,
                    CAST(SUM(accompagnements) AS BIGINT) AS n
             FROM activites_territoires WHERE ",
            $cond,
            " AND mois BETWEEN $2 AND $3 AND ($4 = '' OR type = $4) AND $5 = 0
             GROUP BY dim, val"
        )
    };
}

macro_rules! territory_months_sql {
    ($cond:literal) => {
        concat!(
            "SELECT mois, CAST(SUM(activites) AS BIGINT) AS a,
                    CAST(SUM(accompagnements) AS BIGINT) AS n
             FROM activites_territoires WHERE ",
            $cond,
            " AND mois BETWEEN $2 AND $3 AND ($4 = '' OR type = $4) AND $5 = 0
               AND dim = 'total' AND val = 'tout'
             GROUP BY mois ORDER BY mois"
        )
    };
}

macro_rules! months_sql {
    ($cond:literal) => {
        concat!(
            "SELECT mois, CAST(SUM(activites) AS BIGINT) AS a,
                    CAST(SUM(accompagnements) AS BIGINT) AS n
             FROM activites_cellules WHERE ",
            $cond,
            " AND mois BETWEEN $2 AND $3 AND ($4 = '' OR type = $4) AND ($5 = 0 OR lieu_id = $5)
               AND dim = 'total' AND val = 'tout'
             GROUP BY mois ORDER BY mois"
        )
    };
}

macro_rules! people_sql {
    ($cond:literal) => {
        concat!(
            "SELECT COUNT(DISTINCT p.beneficiaire_id) AS n
             FROM activites a JOIN activite_participants p ON p.activite_id = a.id
             WHERE ",
            $cond,
            " AND a.date BETWEEN $2 AND $3 AND ($4 = '' OR a.type = $4)
               AND ($5 = 0 OR a.lieu_id = $5)"
        )
    };
}

/// The statistics of `f`.
/// What the queries give: sums per (dimension, value), per month, distinct tracked
/// people.
struct Gathered {
    sums: std::collections::HashMap<(String, String), (i64, i64)>,
    months: std::collections::BTreeMap<i64, (i64, i64)>,
    people: i64,
}

impl Gathered {
    fn new() -> Gathered {
        Gathered {
            sums: std::collections::HashMap::new(),
            months: std::collections::BTreeMap::new(),
            people: 0,
        }
    }
    fn add_rows(
        &mut self,
        cells: &[crate::db::exec::Rec],
        months: &[crate::db::exec::Rec],
        people: i64,
    ) -> Result<(), crate::db::Error> {
        for r in cells {
            let e = self
                .sums
                .entry((r.text("dim")?, r.text("val")?))
                .or_insert((0, 0));
            e.0 += r.int("a")?;
            e.1 += r.int("n")?;
        }
        for r in months {
            let e = self.months.entry(r.int("mois")?).or_insert((0, 0));
            e.0 += r.int("a")?;
            e.1 += r.int("n")?;
        }
        self.people += people;
        Ok(())
    }
}

/// A team: each member's aggregates for the months before they left, their
/// reports of the month they left up to that day, their distinct people.
async fn gather_team(
    db: &Db,
    f: &Filter,
    members: &[(i64, Option<i64>)],
) -> Result<Gathered, crate::db::Error> {
    let kind = f.kind.map(Kind::key).unwrap_or("");
    let lieu = f.lieu_id.unwrap_or(0);
    let mut g = Gathered::new();
    for (m, until) in members {
        let last_full = match until {
            Some(d) => (d / 100 - 1).min(f.to),
            None => f.to,
        };
        let mut c = db.conn().await?;
        if last_full >= f.from {
            let cells = c
                .fetch_all(
                    cells_sql!("mediateur_id = $1"),
                    crate::args![*m, f.from, last_full, kind, lieu],
                )
                .await?;
            let months = c
                .fetch_all(
                    months_sql!("mediateur_id = $1"),
                    crate::args![*m, f.from, last_full, kind, lieu],
                )
                .await?;
            g.add_rows(&cells, &months, 0)?;
        }
        let last_day = match until {
            Some(d) => (*d).min(f.to * 100 + 31),
            None => f.to * 100 + 31,
        };
        if let Some(d) = until
            && (f.from..=f.to).contains(&(d / 100))
        {
            let (cells, acts) =
                super::raw_cells(&mut c, *m, (d / 100) * 100 + 1, *d, kind, lieu).await?;
            for ((dim, val), (a, n)) in cells {
                let e = g.sums.entry((dim.to_owned(), val)).or_insert((0, 0));
                e.0 += a;
                e.1 += n;
            }
            let e = g.months.entry(d / 100).or_insert((0, 0));
            e.0 += acts.0;
            e.1 += acts.1;
        }
        if last_day > f.from * 100 {
            g.people += c
                .fetch_one(
                    people_sql!("a.mediateur_id = $1"),
                    crate::args![*m, f.from * 100 + 1, last_day, kind, lieu],
                )
                .await?
                .int("n")?;
        }
    }
    Ok(g)
}

/// The statistics of `f`.
pub async fn compute(db: &Db, f: &Filter) -> Result<Stats, crate::db::Error> {
    compute_with(db, f, true).await
}

/// The statistics without the count of distinct tracked people (the one figure
/// read from the reports rather than the aggregates): what public pages show, at
/// the same cost whatever the number of reports.
pub async fn compute_totals(db: &Db, f: &Filter) -> Result<Stats, crate::db::Error> {
    compute_with(db, f, false).await
}

async fn compute_with(db: &Db, f: &Filter, people: bool) -> Result<Stats, crate::db::Error> {
    if let Scope::Team(members) = &f.scope {
        let g = gather_team(db, f, members).await?;
        return build(g);
    }
    let kind = f.kind.map(Kind::key).unwrap_or("");
    let lieu = f.lieu_id.unwrap_or(0);
    let (d_from, d_to) = (f.from * 100 + 1, f.to * 100 + 31);
    let mut c = db.conn().await?;
    let (cells, months, people_count) = match &f.scope {
        Scope::Mediateur(id) => (
            c.fetch_all(
                cells_sql!("mediateur_id = $1"),
                crate::args![*id, f.from, f.to, kind, lieu],
            )
            .await?,
            c.fetch_all(
                months_sql!("mediateur_id = $1"),
                crate::args![*id, f.from, f.to, kind, lieu],
            )
            .await?,
            if people {
                c.fetch_one(
                    people_sql!("a.mediateur_id = $1"),
                    crate::args![*id, d_from, d_to, kind, lieu],
                )
                .await?
                .int("n")?
            } else {
                0
            },
        ),
        Scope::StructureMediateur(sid, mid) => (
            c.fetch_all(
                cells_sql!("structure_id = $1 AND mediateur_id = $6"),
                crate::args![*sid, f.from, f.to, kind, lieu, *mid],
            )
            .await?,
            c.fetch_all(
                months_sql!("structure_id = $1 AND mediateur_id = $6"),
                crate::args![*sid, f.from, f.to, kind, lieu, *mid],
            )
            .await?,
            if people {
                c.fetch_one(
                    people_sql!("a.structure_id = $1 AND a.mediateur_id = $6"),
                    crate::args![*sid, d_from, d_to, kind, lieu, *mid],
                )
                .await?
                .int("n")?
            } else {
                0
            },
        ),
        Scope::Structure(id) => (
            c.fetch_all(
                cells_sql!("structure_id = $1"),
                crate::args![*id, f.from, f.to, kind, lieu],
            )
            .await?,
            c.fetch_all(
                months_sql!("structure_id = $1"),
                crate::args![*id, f.from, f.to, kind, lieu],
            )
            .await?,
            if people {
                c.fetch_one(
                    people_sql!("a.structure_id = $1"),
                    crate::args![*id, d_from, d_to, kind, lieu],
                )
                .await?
                .int("n")?
            } else {
                0
            },
        ),
        Scope::Departement(code) if lieu == 0 => (
            c.fetch_all(
                territory_cells_sql!("departement = $1"),
                crate::args![code, f.from, f.to, kind, lieu],
            )
            .await?,
            c.fetch_all(
                territory_months_sql!("departement = $1"),
                crate::args![code, f.from, f.to, kind, lieu],
            )
            .await?,
            if people {
                c.fetch_one(
                    people_sql!("a.departement = $1"),
                    crate::args![code, d_from, d_to, kind, lieu],
                )
                .await?
                .int("n")?
            } else {
                0
            },
        ),
        Scope::Departement(code) => (
            c.fetch_all(
                cells_sql!("departement = $1"),
                crate::args![code, f.from, f.to, kind, lieu],
            )
            .await?,
            c.fetch_all(
                months_sql!("departement = $1"),
                crate::args![code, f.from, f.to, kind, lieu],
            )
            .await?,
            if people {
                c.fetch_one(
                    people_sql!("a.departement = $1"),
                    crate::args![code, d_from, d_to, kind, lieu],
                )
                .await?
                .int("n")?
            } else {
                0
            },
        ),
        Scope::National if lieu == 0 => (
            c.fetch_all(
                territory_cells_sql!("$1 = 0"),
                crate::args![0_i64, f.from, f.to, kind, lieu],
            )
            .await?,
            c.fetch_all(
                territory_months_sql!("$1 = 0"),
                crate::args![0_i64, f.from, f.to, kind, lieu],
            )
            .await?,
            if people {
                c.fetch_one(
                    people_sql!("$1 = 0"),
                    crate::args![0_i64, d_from, d_to, kind, lieu],
                )
                .await?
                .int("n")?
            } else {
                0
            },
        ),
        Scope::National => (
            c.fetch_all(
                cells_sql!("$1 = 0"),
                crate::args![0_i64, f.from, f.to, kind, lieu],
            )
            .await?,
            c.fetch_all(
                months_sql!("$1 = 0"),
                crate::args![0_i64, f.from, f.to, kind, lieu],
            )
            .await?,
            if people {
                c.fetch_one(
                    people_sql!("$1 = 0"),
                    crate::args![0_i64, d_from, d_to, kind, lieu],
                )
                .await?
                .int("n")?
            } else {
                0
            },
        ),
        Scope::Team(_) => return build(Gathered::new()),
        Scope::Region(_) | Scope::Departements(_) => {
            let set = departement_set(&f.scope);
            let (cells, months) = if lieu == 0 {
                (
                    c.fetch_all(
                        territory_cells_sql!("$1 LIKE '%,' || departement || ',%'"),
                        crate::args![&set, f.from, f.to, kind, lieu],
                    )
                    .await?,
                    c.fetch_all(
                        territory_months_sql!("$1 LIKE '%,' || departement || ',%'"),
                        crate::args![&set, f.from, f.to, kind, lieu],
                    )
                    .await?,
                )
            } else {
                (
                    c.fetch_all(
                        cells_sql!("$1 LIKE '%,' || departement || ',%'"),
                        crate::args![&set, f.from, f.to, kind, lieu],
                    )
                    .await?,
                    c.fetch_all(
                        months_sql!("$1 LIKE '%,' || departement || ',%'"),
                        crate::args![&set, f.from, f.to, kind, lieu],
                    )
                    .await?,
                )
            };
            let count = if people {
                c.fetch_one(
                    people_sql!("$1 LIKE '%,' || a.departement || ',%'"),
                    crate::args![&set, d_from, d_to, kind, lieu],
                )
                .await?
                .int("n")?
            } else {
                0
            };
            (cells, months, count)
        }
        Scope::Communes(codes) => {
            let set = serde_json::to_string(codes).unwrap_or_else(|_| "[]".to_owned());
            let sqlite = c.backend() == crate::db::Backend::Sqlite;
            let cells = if sqlite {
                c.fetch_all(
                    cells_sql!("commune_insee IN (SELECT value FROM json_each($1))"),
                    crate::args![&set, f.from, f.to, kind, lieu],
                )
                .await?
            } else {
                c.fetch_all(
                    cells_sql!(
                        "commune_insee IN (SELECT jsonb_array_elements_text($1::text::jsonb))"
                    ),
                    crate::args![&set, f.from, f.to, kind, lieu],
                )
                .await?
            };
            let months = if sqlite {
                c.fetch_all(
                    months_sql!("commune_insee IN (SELECT value FROM json_each($1))"),
                    crate::args![&set, f.from, f.to, kind, lieu],
                )
                .await?
            } else {
                c.fetch_all(
                    months_sql!(
                        "commune_insee IN (SELECT jsonb_array_elements_text($1::text::jsonb))"
                    ),
                    crate::args![&set, f.from, f.to, kind, lieu],
                )
                .await?
            };
            let count = match (people, sqlite) {
                (false, _) => 0,
                (true, true) => c
                    .fetch_one(
                        people_sql!("a.commune_insee IN (SELECT value FROM json_each($1))"),
                        crate::args![&set, d_from, d_to, kind, lieu],
                    )
                    .await?
                    .int("n")?,
                (true, false) => c
                    .fetch_one(
                        people_sql!(
                            "a.commune_insee IN (SELECT jsonb_array_elements_text($1::text::jsonb))"
                        ),
                        crate::args![&set, d_from, d_to, kind, lieu],
                    )
                    .await?
                    .int("n")?,
            };
            (cells, months, count)
        }
    };
    let mut g = Gathered::new();
    g.add_rows(&cells, &months, people_count)?;
    build(g)
}

/// A région's départements as one text (`,21,25,39,…,`) that a query matches
/// with `LIKE '%,' || departement || ',%'` on both databases.
pub fn region_set(code: &str) -> String {
    let deps = crate::territoires::get()
        .region(code)
        .map(|(_, d)| d)
        .unwrap_or_default();
    if deps.is_empty() {
        // Matches nothing, not even an activity without a département.
        return String::new();
    }
    format!(",{},", deps.join(","))
}

/// The départements of a région or hub scope as one text for `LIKE` (empty,
/// matching nothing, for any other scope or an empty set).
pub fn departement_set(scope: &Scope) -> String {
    match scope {
        Scope::Region(code) => region_set(code),
        Scope::Departements(list) if !list.is_empty() => format!(",{},", list.join(",")),
        _ => String::new(),
    }
}

/// One département's figures on the national page.
#[derive(Debug, Clone)]
pub struct DepartementLine {
    pub code: String,
    pub nom: String,
    pub activites: i64,
    pub accompagnements: i64,
    pub nouveaux: i64,
}

/// Every région's totals, summed from its départements' (`lines`), largest
/// first; a line per région that has any activity.
pub fn by_region(lines: &[DepartementLine]) -> Vec<DepartementLine> {
    let t = crate::territoires::get();
    let mut out: Vec<DepartementLine> = Vec::new();
    for d in lines {
        let Some(code) = t.region_of(&d.code) else {
            continue;
        };
        let i = match out.iter().position(|r| r.code == code) {
            Some(i) => i,
            None => {
                out.push(DepartementLine {
                    code: code.to_owned(),
                    nom: t
                        .region(code)
                        .map(|(n, _)| n.to_owned())
                        .unwrap_or_default(),
                    activites: 0,
                    accompagnements: 0,
                    nouveaux: 0,
                });
                out.len() - 1
            }
        };
        if let Some(r) = out.get_mut(i) {
            r.activites += d.activites;
            r.accompagnements += d.accompagnements;
            r.nouveaux += d.nouveaux;
        }
    }
    out.sort_by(|a, b| {
        b.accompagnements
            .cmp(&a.accompagnements)
            .then(a.code.cmp(&b.code))
    });
    out
}

/// Every département's totals for the months `from`..=`to`, from the territories'
/// aggregates, largest first.
pub async fn by_departement(
    db: &Db,
    from: i64,
    to: i64,
) -> Result<Vec<DepartementLine>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT departement,
                    CAST(SUM(CASE WHEN dim = 'total' AND val = 'tout' THEN activites ELSE 0 END) AS BIGINT) AS a,
                    CAST(SUM(CASE WHEN dim = 'total' AND val = 'tout' THEN accompagnements ELSE 0 END) AS BIGINT) AS n,
                    CAST(SUM(CASE WHEN dim = 'nouveaux' THEN accompagnements ELSE 0 END) AS BIGINT) AS nouveaux
             FROM activites_territoires
             WHERE mois BETWEEN $1 AND $2 AND (dim = 'total' AND val = 'tout' OR dim = 'nouveaux')
             GROUP BY departement",
            crate::args![from, to],
        )
        .await?;
    let t = crate::territoires::get();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let code = r.text("departement")?;
        out.push(DepartementLine {
            nom: t
                .departement_name(&code)
                .map(str::to_owned)
                .unwrap_or_else(|| "Non renseigné".to_owned()),
            code,
            activites: r.int("a")?,
            accompagnements: r.int("n")?,
            nouveaux: r.int("nouveaux")?,
        });
    }
    out.sort_by(|a, b| {
        b.accompagnements
            .cmp(&a.accompagnements)
            .then_with(|| a.code.cmp(&b.code))
    });
    Ok(out)
}

/// The most reports a statistics page recounts for a thématique filter.
pub const RECOUNT_MAX: usize = 100_000;

macro_rules! theme_ids_sql {
    ($cond:literal) => {
        concat!(
            "SELECT a.id, a.mediateur_id, a.date FROM activites a WHERE ",
            $cond,
            " AND a.date BETWEEN $2 AND $3 AND ($4 = '' OR a.type = $4) AND ($5 = 0 OR a.lieu_id = $5)
               AND (',' || a.thematiques || ',') LIKE $6
             ORDER BY a.id LIMIT $7"
        )
    };
}

/// The statistics of the reports of `f` that have the thématique `thematique`,
/// recounted from the reports (the aggregates count every thématique of a report
/// at once): for a mediator, a structure or a team, up to [`RECOUNT_MAX`] reports.
pub async fn compute_for_thematique(
    db: &Db,
    f: &Filter,
    thematique: &str,
) -> Result<Option<Stats>, crate::db::Error> {
    let kind = f.kind.map(Kind::key).unwrap_or("");
    let lieu = f.lieu_id.unwrap_or(0);
    let pattern = format!("%,{thematique},%");
    let limit = i64::try_from(RECOUNT_MAX + 1).unwrap_or(i64::MAX);
    let (d_from, d_to) = (f.from * 100 + 1, f.to * 100 + 31);
    let mut c = db.conn().await?;
    let rows = match &f.scope {
        Scope::Mediateur(id) => {
            c.fetch_all(
                theme_ids_sql!("a.mediateur_id = $1"),
                crate::args![*id, d_from, d_to, kind, lieu, &pattern, limit],
            )
            .await?
        }
        Scope::StructureMediateur(sid, mid) => {
            c.fetch_all(
                theme_ids_sql!("a.structure_id = $1 AND a.mediateur_id = $8"),
                crate::args![*sid, d_from, d_to, kind, lieu, &pattern, limit, *mid],
            )
            .await?
        }
        Scope::Structure(id) => {
            c.fetch_all(
                theme_ids_sql!("a.structure_id = $1"),
                crate::args![*id, d_from, d_to, kind, lieu, &pattern, limit],
            )
            .await?
        }
        Scope::Team(members) => {
            let mut all = Vec::new();
            for (m, until) in members {
                let to = until.map_or(d_to, |u| u.min(d_to));
                all.extend(
                    c.fetch_all(
                        theme_ids_sql!("a.mediateur_id = $1"),
                        crate::args![*m, d_from, to, kind, lieu, &pattern, limit],
                    )
                    .await?,
                );
            }
            all
        }
        Scope::Departement(_)
        | Scope::Region(_)
        | Scope::Departements(_)
        | Scope::National
        | Scope::Communes(_) => {
            return Ok(None);
        }
    };
    if rows.len() > RECOUNT_MAX {
        return Ok(None);
    }
    let mut g = Gathered::new();
    let mut people = std::collections::HashSet::new();
    for r in &rows {
        let id = r.int("id")?;
        let mois = r.int("date")? / 100;
        let (cells, month) = super::raw_cells_of(&mut c, id).await?;
        for ((dim, val), (a, n)) in cells {
            let e = g.sums.entry((dim.to_owned(), val)).or_insert((0, 0));
            e.0 += a;
            e.1 += n;
        }
        let e = g.months.entry(mois).or_insert((0, 0));
        e.0 += month.0;
        e.1 += month.1;
        for p in c
            .fetch_all(
                "SELECT beneficiaire_id FROM activite_participants WHERE activite_id = $1",
                crate::args![id],
            )
            .await?
        {
            people.insert(p.int("beneficiaire_id")?);
        }
    }
    g.people = i64::try_from(people.len()).unwrap_or(0);
    build(g).map(Some)
}

fn build(g: Gathered) -> Result<Stats, crate::db::Error> {
    let sums = g.sums;
    let get = |dim: &str, val: &str| {
        sums.get(&(dim.to_owned(), val.to_owned()))
            .copied()
            .unwrap_or((0, 0))
    };
    let suivis = g.people;
    let anonymes = get("public", "anonymes").1;
    let totals = Totals {
        activites: get("total", "tout").0,
        accompagnements: get("total", "tout").1,
        activites_individuelles: get("total", "individuel").0,
        ateliers: get("total", "collectif").0,
        accompagnements_individuels: get("total", "individuel").1,
        accompagnements_collectifs: get("total", "collectif").1,
        personnes: suivis + anonymes,
        suivis,
        anonymes,
        nouveaux: get("nouveaux", "suivis").1 + get("nouveaux", "anonymes").1,
        minutes: get("minutes", "tout").0,
    };
    let month_list: Vec<Month> = g
        .months
        .iter()
        .map(|(mois, (a, n))| Month {
            mois: *mois,
            label: month_label(*mois),
            activites: *a,
            accompagnements: *n,
        })
        .collect();
    let fixed = |key: &'static str, title: &'static str, list: &[vocab::Term], nc: bool| {
        let mut rows: Vec<Row> = list
            .iter()
            .map(|(slug, label)| Row {
                slug: (*slug).to_owned(),
                label: (*label).to_owned(),
                n: get(key, slug).1,
                pct: 0,
            })
            .collect();
        if nc {
            rows.push(Row {
                slug: vocab::NON_COMMUNIQUE.0.to_owned(),
                label: vocab::NON_COMMUNIQUE.1.to_owned(),
                n: get(key, vocab::NON_COMMUNIQUE.0).1,
                pct: 0,
            });
        }
        distribution(key, title, rows)
    };
    let mut tags: Vec<Row> = sums
        .iter()
        .filter(|((d, _), _)| d == "tag")
        .map(|((_, v), (_, n))| Row {
            slug: v.clone(),
            label: v.clone(),
            n: *n,
            pct: 0,
        })
        .filter(|r| r.n > 0)
        .collect();
    tags.sort_by(|a, b| b.n.cmp(&a.n).then_with(|| a.slug.cmp(&b.slug)));
    tags.truncate(20);
    let oriente = [
        ("oui", "Orientée vers une autre structure"),
        ("non", "Pas orientée"),
    ];
    let distributions = vec![
        fixed("thematique", "Thématiques", vocab::THEMATIQUES, false),
        fixed(
            "thematique_admin",
            "Démarches administratives",
            vocab::THEMATIQUES_ADMIN,
            false,
        ),
        fixed("lieu_type", "Lieu", vocab::LIEU_TYPES, false),
        fixed("duree", "Durée", vocab::DUREE_TRANCHES, false),
        fixed("materiel", "Matériel utilisé", vocab::MATERIELS, false),
        fixed(
            "autonomie",
            "Autonomie (accompagnements individuels)",
            vocab::AUTONOMIES,
            false,
        ),
        fixed(
            "oriente",
            "Orientation (accompagnements individuels)",
            &oriente,
            false,
        ),
        fixed("niveau", "Niveau des ateliers", vocab::NIVEAUX, false),
        fixed("genre", "Genre des bénéficiaires", vocab::GENRES, true),
        fixed("age", "Âge des bénéficiaires", vocab::AGES, true),
        fixed("statut", "Statut des bénéficiaires", vocab::STATUTS, true),
        distribution("tag", "Étiquettes", tags),
    ];
    Ok(Stats {
        totals,
        months: month_list,
        distributions,
    })
}

fn distribution(key: &'static str, title: &'static str, mut rows: Vec<Row>) -> Distribution {
    let counts: Vec<i64> = rows.iter().map(|r| r.n).collect();
    for (r, p) in rows.iter_mut().zip(percentages(&counts)) {
        r.pct = p;
    }
    Distribution {
        key,
        title,
        total: counts.iter().sum(),
        rows,
    }
}

const MONTHS: [&str; 12] = [
    "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
    "déc.",
];

/// `202612` → `déc. 2026`.
pub fn month_label(mois: i64) -> String {
    let m = usize::try_from(mois % 100).unwrap_or(1).saturating_sub(1);
    format!("{} {}", MONTHS.get(m).copied().unwrap_or(""), mois / 100)
}

/// `2026-03` (an `<input type="month">`, or typed) → `202603`.
pub fn parse_month(raw: &str) -> Option<i64> {
    let (y, m) = raw.trim().split_once('-')?;
    let y: i64 = y.parse().ok()?;
    let m: i64 = m.parse().ok()?;
    ((2000..=9999).contains(&y) && (1..=12).contains(&m)).then_some(y * 100 + m)
}

/// Every month of the period, the empty ones included (what a chart shows).
pub fn fill_months(from: i64, to: i64, months: &[Month]) -> Vec<Month> {
    let mut out = Vec::new();
    let mut m = from;
    let mut guard = 0;
    while m <= to && guard < 240 {
        out.push(
            months
                .iter()
                .find(|x| x.mois == m)
                .cloned()
                .unwrap_or(Month {
                    mois: m,
                    label: month_label(m),
                    activites: 0,
                    accompagnements: 0,
                }),
        );
        m = if m % 100 == 12 { m + 89 } else { m + 1 };
        guard += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_add_up_to_100() {
        assert_eq!(percentages(&[1, 1, 1]), [34, 33, 33]);
        assert_eq!(percentages(&[0, 0]), [0, 0]);
        assert_eq!(percentages(&[2, 1]), [67, 33]);
        let mut seed = 7_u64;
        for _ in 0..500 {
            let counts: Vec<i64> = (0..9)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    i64::try_from(seed >> 54).unwrap_or(0)
                })
                .collect();
            let p = percentages(&counts);
            if counts.iter().sum::<i64>() > 0 {
                assert_eq!(p.iter().sum::<i64>(), 100, "{counts:?}");
            }
        }
    }

    #[test]
    fn months() {
        assert_eq!(parse_month("2026-03"), Some(202603));
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(month_label(202612), "déc. 2026");
        let filled = fill_months(202611, 202602 + 100, &[]);
        assert_eq!(filled.len(), 4);
        assert_eq!(filled.last().map(|m| m.mois), Some(202702));
    }
}

/// A private link to a mediator's statistics.
#[derive(Debug, Clone)]
pub struct Share {
    pub id: i64,
    pub created_at: i64,
}

/// Creates a share link; returns the raw token (shown once, SHA-256 kept).
pub async fn share(db: &Db, mediateur_id: i64, now: i64) -> Result<String, crate::db::Error> {
    let raw = crate::crypto::random_token();
    db.execute(
        "INSERT INTO partages_statistiques (token_hash, mediateur_id, created_at) VALUES ($1, $2, $3)",
        crate::args![crate::crypto::sha256_hex(&raw), mediateur_id, now],
    )
    .await?;
    Ok(raw)
}

/// The mediator's links still open.
pub async fn shares(db: &Db, mediateur_id: i64) -> Result<Vec<Share>, crate::db::Error> {
    db.fetch_all(
        "SELECT id, created_at FROM partages_statistiques WHERE mediateur_id = $1 AND revoked_at IS NULL ORDER BY id",
        crate::args![mediateur_id],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Share {
            id: r.int("id")?,
            created_at: r.int("created_at")?,
        })
    })
    .collect()
}

pub async fn revoke_share(
    db: &Db,
    mediateur_id: i64,
    id: i64,
    now: i64,
) -> Result<bool, crate::db::Error> {
    Ok(db
        .execute(
            "UPDATE partages_statistiques SET revoked_at = $1 WHERE id = $2 AND mediateur_id = $3 AND revoked_at IS NULL",
            crate::args![now, id, mediateur_id],
        )
        .await?
        == 1)
}

/// The mediator a (raw) share token opens, while it is not revoked.
pub async fn shared(db: &Db, raw: &str) -> Result<Option<i64>, crate::db::Error> {
    if raw.len() != 64 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    db.fetch_optional(
        "SELECT mediateur_id FROM partages_statistiques WHERE token_hash = $1 AND revoked_at IS NULL",
        crate::args![crate::crypto::sha256_hex(raw)],
    )
    .await?
    .map(|r| r.int("mediateur_id"))
    .transpose()
}
