//! A territory's dashboard against the plan's targets, for one year: people
//! accompanied (from the activities' aggregates), conseillers numériques (the
//! imported figures), places of mediation (the directory), Aidants Connect
//! (structures, aidants, active mandates, uses per démarche and month from the
//! identity provider's counters), pass numérique (the redemptions' counters).
//! Each part is read with a handful of grouped queries, then gathered per
//! département in Rust: the cost does not grow with the number of people.

use std::collections::BTreeMap;

use super::{Conseillers, Territoire, departement_of};
use crate::db::Db;
use crate::mandats::Demarche;

/// One département's line (the map and the table beside it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ligne {
    pub code: String,
    pub nom: String,
    pub population: i64,
    pub accompagnements: i64,
    pub nouveaux: i64,
    pub lieux: i64,
    pub france_services: i64,
    pub population_couverte: i64,
    pub conseillers: Conseillers,
    pub structures: i64,
    pub aidants: i64,
    pub mandats_actifs: i64,
    pub utilisations: i64,
    pub pass_remis: i64,
    pub pass_utilises: i64,
}

impl Ligne {
    pub fn lieux_pour_10000(&self) -> f64 {
        per(self.lieux, self.population, 10_000.0)
    }
    pub fn conseillers_pour_100000(&self) -> f64 {
        per(self.conseillers.en_poste, self.population, 100_000.0)
    }
    pub fn part_couverte(&self) -> f64 {
        per(self.population_couverte, self.population, 100.0)
    }
    /// This territory's share of the national target of people, in proportion to
    /// its population.
    pub fn objectif_personnes(&self, population_nationale: i64) -> i64 {
        if population_nationale == 0 {
            return 0;
        }
        let share = super::OBJECTIF_PERSONNES_AN as f64 * self.population as f64
            / population_nationale as f64;
        share.round() as i64
    }
}

fn per(n: i64, population: i64, unit: f64) -> f64 {
    if population == 0 {
        0.0
    } else {
        n as f64 * unit / population as f64
    }
}

/// Pass numérique of one funder in the territory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassFinanceur {
    pub financeur: String,
    /// Pass ordered (national scope only: orders have no département).
    pub commandes: Option<i64>,
    /// Pass of those orders never used, since the beginning (national scope only).
    pub non_utilises: Option<i64>,
    pub carnets_remis: i64,
    pub utilises: i64,
}

/// Uses of a month, per démarche (in the order of [`Demarche::ALL`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoisUtilisations {
    pub mois: i64,
    pub label: String,
    pub par_demarche: Vec<i64>,
    pub total: i64,
}

#[derive(Debug, Clone)]
pub struct Tableau {
    pub territoire: Territoire,
    pub annee: i64,
    /// The territory's totals (its départements summed; people counted distinct).
    pub total: Ligne,
    /// Distinct tracked people plus anonymous participants, and new people.
    pub personnes: i64,
    pub nouveaux: i64,
    pub population_nationale: i64,
    pub lignes: Vec<Ligne>,
    pub utilisations: Vec<MoisUtilisations>,
    pub pass: Vec<PassFinanceur>,
}

impl Tableau {
    pub fn objectif_personnes(&self) -> i64 {
        self.total.objectif_personnes(self.population_nationale)
    }
    /// Progress towards the year's target, in percent.
    pub fn avancement(&self) -> f64 {
        per(self.personnes, self.objectif_personnes(), 100.0)
    }
    pub fn objectif_conseillers(&self) -> i64 {
        let share = super::OBJECTIF_CONSEILLERS as f64 * self.total.population as f64
            / self.population_nationale.max(1) as f64;
        share.round() as i64
    }
}

/// What is counted per commune for the dashboards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ParCommune {
    lieux: i64,
    france_services: i64,
    structures: i64,
    aidants: i64,
    mandats_actifs: i64,
}

/// Places, France Services, structures with active aidants, aidants and active
/// mandates per commune, for the communes `keep` accepts (`all`: every
/// commune, without filtering the structures' query).
async fn par_commune(
    db: &Db,
    keep: &(dyn Fn(&str) -> bool + Sync),
    departements: Option<&[String]>,
    now: i64,
) -> Result<BTreeMap<String, ParCommune>, crate::db::Error> {
    let all = departements.is_none();
    let mut out: BTreeMap<String, ParCommune> = BTreeMap::new();
    let fs_bit = crate::lieux::index::bit("dispositif_programmes_nationaux", "France Services")
        .and_then(|b| i64::try_from(b).ok())
        .unwrap_or(0);
    // Every place at once for the whole country; else each département's range of
    // INSEE codes through the index (`89` ≤ code < `89~`).
    let rows = match departements {
        None => {
            db.fetch_all(
                "SELECT code_insee, COUNT(*) AS n,
                        CAST(SUM(CASE WHEN (facets & $1) <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS fs
                 FROM lieux WHERE code_insee <> '' GROUP BY code_insee",
                crate::args![fs_bit],
            )
            .await?
        }
        Some(list) => {
            let mut all = Vec::new();
            for d in list {
                all.extend(
                    db.fetch_all(
                        "SELECT code_insee, COUNT(*) AS n,
                                CAST(SUM(CASE WHEN (facets & $1) <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS fs
                         FROM lieux WHERE code_insee >= $2 AND code_insee < $3
                         GROUP BY code_insee",
                        crate::args![fs_bit, d, format!("{d}~")],
                    )
                    .await?,
                );
            }
            all
        }
    };
    for r in &rows {
        let code: String = r.get("code_insee")?;
        if keep(&code) {
            let e = out.entry(code).or_default();
            e.lieux += r.get::<i64>("n")?;
            e.france_services += r.get::<i64>("fs")?;
        }
    }
    let rows = db
        .fetch_all(
            "SELECT st.commune_insee, COUNT(DISTINCT st.id) AS structures,
                    COUNT(DISTINCT m.account_id) AS aidants
             FROM structures st
             JOIN memberships m ON m.structure_id = st.id
             JOIN accounts a ON a.id = m.account_id
             WHERE st.is_demo = 0 AND m.deactivated_at IS NULL AND a.disabled_at IS NULL
               AND m.role IN ('aidant', 'referent')
             GROUP BY st.commune_insee",
            &[],
        )
        .await?;
    for r in &rows {
        let code: String = r.get("commune_insee")?;
        if keep(&code) {
            let e = out.entry(code).or_default();
            e.structures += r.get::<i64>("structures")?;
            e.aidants += r.get::<i64>("aidants")?;
        }
    }
    // Active mandates (with an active autorisation) per structure, through the
    // partial index of active autorisations; only the kept structures.
    let structures = db
        .fetch_all(
            "SELECT id, commune_insee FROM structures WHERE is_demo = 0",
            &[],
        )
        .await?;
    let mut commune_of: std::collections::HashMap<i64, String> = Default::default();
    for r in &structures {
        let code: String = r.get("commune_insee")?;
        if keep(&code) {
            commune_of.insert(r.get("id")?, code);
        }
    }
    let rows = if all {
        db.fetch_all(
            "SELECT structure_id, COUNT(DISTINCT mandat_id) AS n FROM autorisations
             WHERE revoked_at IS NULL AND expires_at > $1 GROUP BY structure_id",
            crate::args![now],
        )
        .await?
    } else {
        let ids: Vec<i64> = commune_of.keys().copied().collect();
        let list = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned());
        match db.backend() {
            crate::db::Backend::Sqlite => {
                db.fetch_all(
                    "SELECT structure_id, COUNT(DISTINCT mandat_id) AS n FROM autorisations
                     WHERE revoked_at IS NULL AND expires_at > $1
                       AND structure_id IN (SELECT value FROM json_each($2))
                     GROUP BY structure_id",
                    crate::args![now, &list],
                )
                .await?
            }
            crate::db::Backend::Postgres => {
                db.fetch_all(
                    "SELECT structure_id, COUNT(DISTINCT mandat_id) AS n FROM autorisations
                     WHERE revoked_at IS NULL AND expires_at > $1
                       AND structure_id IN (SELECT CAST(jsonb_array_elements_text($2::text::jsonb) AS BIGINT))
                     GROUP BY structure_id",
                    crate::args![now, &list],
                )
                .await?
            }
        }
    };
    for r in &rows {
        let sid: i64 = r.get("structure_id")?;
        if let Some(code) = commune_of.get(&sid) {
            out.entry(code.clone()).or_default().mandats_actifs += r.get::<i64>("n")?;
        }
    }
    Ok(out)
}

/// A commune's or an intercommunality's figures (what the départements' data
/// allows at that scale: no conseillers nor uses, which are kept per département).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Local {
    pub nom: String,
    pub communes: usize,
    pub ligne: Ligne,
    pub personnes: i64,
}

/// The figures of a set of communes (a commune, or an EPCI's members) for a year.
pub async fn local(
    db: &Db,
    nom: &str,
    codes: &[String],
    annee: i64,
    now: i64,
) -> Result<Local, crate::db::Error> {
    let t = crate::territoires::get();
    let mut deps: Vec<String> = codes.iter().map(|c| departement_of(c).to_owned()).collect();
    deps.sort();
    deps.dedup();
    let by_commune = par_commune(
        db,
        &|code: &str| codes.iter().any(|c| c == code),
        Some(&deps),
        now,
    )
    .await?;
    let mut ligne = Ligne {
        nom: nom.to_owned(),
        ..Ligne::default()
    };
    for code in codes {
        ligne.population += t.commune(code).map_or(0, |c| i64::from(c.population));
    }
    for (code, p) in &by_commune {
        ligne.lieux += p.lieux;
        ligne.france_services += p.france_services;
        if p.lieux > 0 {
            ligne.population_couverte += t.commune(code).map_or(0, |c| i64::from(c.population));
        }
        ligne.structures += p.structures;
        ligne.aidants += p.aidants;
        ligne.mandats_actifs += p.mandats_actifs;
    }
    let totals = crate::activites::stats::compute_totals(
        db,
        &crate::activites::stats::Filter {
            scope: crate::activites::stats::Scope::Communes(codes.to_vec()),
            from: annee * 100 + 1,
            to: annee * 100 + 12,
            kind: None,
            lieu_id: None,
        },
    )
    .await?
    .totals;
    ligne.accompagnements = totals.accompagnements;
    ligne.nouveaux = totals.nouveaux;
    Ok(Local {
        nom: nom.to_owned(),
        communes: codes.len(),
        ligne,
        personnes: totals.personnes,
    })
}

/// Gathers a territory's dashboard for `annee`, with its départements' lines.
pub async fn compute(
    db: &Db,
    territoire: &Territoire,
    annee: i64,
    now: i64,
) -> Result<Tableau, crate::db::Error> {
    let t = crate::territoires::get();
    let mut lignes: BTreeMap<String, Ligne> = BTreeMap::new();
    for code in &territoire.departements {
        lignes.insert(
            code.clone(),
            Ligne {
                code: code.clone(),
                nom: t.departement_name(code).unwrap_or(code).to_owned(),
                ..Ligne::default()
            },
        );
    }
    let mut population_nationale = 0;
    for c in t.communes() {
        population_nationale += i64::from(c.population);
        if let Some(l) = lignes.get_mut(&c.departement) {
            l.population += i64::from(c.population);
        }
    }
    let (from, to) = (annee * 100 + 1, annee * 100 + 12);
    let set = territoire.set();

    // People accompanied: distinct people over the territory; accompaniments and
    // new people per département from the territories' aggregates.
    let filter = crate::activites::stats::Filter {
        scope: territoire.stats_scope(),
        from,
        to,
        kind: None,
        lieu_id: None,
    };
    let totals = crate::activites::stats::compute_totals(db, &filter)
        .await?
        .totals;
    for d in crate::activites::stats::by_departement(db, from, to).await? {
        if let Some(l) = lignes.get_mut(&d.code) {
            l.accompagnements = d.accompagnements;
            l.nouveaux = d.nouveaux;
        }
    }

    // Places, France Services, structures, aidants, active mandates per commune.
    let by_commune = par_commune(
        db,
        &|code: &str| territoire.contains(departement_of(code)),
        (territoire.niveau != super::Niveau::National)
            .then_some(territoire.departements.as_slice()),
        now,
    )
    .await?;
    for (code, p) in &by_commune {
        if let Some(l) = lignes.get_mut(departement_of(code)) {
            l.lieux += p.lieux;
            l.france_services += p.france_services;
            if p.lieux > 0 {
                l.population_couverte += t.commune(code).map_or(0, |c| i64::from(c.population));
            }
            l.structures += p.structures;
            l.aidants += p.aidants;
            l.mandats_actifs += p.mandats_actifs;
        }
    }

    // Conseillers numériques.
    for (dep, c) in super::conseillers(db).await? {
        if let Some(l) = lignes.get_mut(&dep) {
            l.conseillers = c;
        }
    }
    let rows = db
        .fetch_all(
            "SELECT mois, departement, demarche, n FROM utilisations_mois
             WHERE mois BETWEEN $1 AND $2 AND ($3 = '' OR $3 LIKE '%,' || departement || ',%')",
            crate::args![from, to, &set],
        )
        .await?;
    let mut months: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for r in &rows {
        let n: i64 = r.get("n")?;
        let dep: String = r.get("departement")?;
        if let Some(l) = lignes.get_mut(&dep) {
            l.utilisations += n;
        }
        let mois: i64 = r.get("mois")?;
        let per_demarche = months
            .entry(mois)
            .or_insert_with(|| vec![0; Demarche::ALL.len()]);
        if let Some(i) = Demarche::ALL
            .iter()
            .position(|d| d.key() == r.get::<String>("demarche").unwrap_or_default())
            && let Some(x) = per_demarche.get_mut(i)
        {
            *x += n;
        }
    }
    let utilisations = crate::activites::stats::fill_months(from, to, &[])
        .into_iter()
        .map(|m| {
            let par_demarche = months
                .get(&m.mois)
                .cloned()
                .unwrap_or_else(|| vec![0; Demarche::ALL.len()]);
            MoisUtilisations {
                total: par_demarche.iter().sum(),
                mois: m.mois,
                label: m.label,
                par_demarche,
            }
        })
        .collect();

    // Pass numérique, by funder.
    let rows = db
        .fetch_all(
            "SELECT f.id, f.nom, m.departement, CAST(SUM(m.remis) AS BIGINT) AS remis,
                    CAST(SUM(m.utilises) AS BIGINT) AS utilises
             FROM pass_mois m
             JOIN pass_commandes c ON c.id = m.commande_id
             JOIN pass_financeurs f ON f.id = c.financeur_id
             WHERE m.mois BETWEEN $1 AND $2
             GROUP BY f.id, f.nom, m.departement",
            crate::args![from, to],
        )
        .await?;
    let mut pass: BTreeMap<i64, PassFinanceur> = BTreeMap::new();
    for r in &rows {
        let dep: String = r.get("departement")?;
        let (remis, utilises): (i64, i64) = (r.get("remis")?, r.get("utilises")?);
        if let Some(l) = lignes.get_mut(&dep) {
            l.pass_remis += remis;
            l.pass_utilises += utilises;
            let e = pass.entry(r.get("id")?).or_insert_with(|| PassFinanceur {
                financeur: r.get("nom").unwrap_or_default(),
                commandes: None,
                non_utilises: None,
                carnets_remis: 0,
                utilises: 0,
            });
            e.carnets_remis += remis;
            e.utilises += utilises;
        }
    }
    if territoire.niveau == super::Niveau::National {
        let rows = db
            .fetch_all(
                "SELECT f.id, f.nom, CAST(SUM(c.carnets * c.pass_par_carnet) AS BIGINT) AS pass,
                        CAST(COALESCE((SELECT SUM(k.utilises) FROM pass_carnets k
                                       JOIN pass_commandes c2 ON c2.id = k.commande_id
                                       WHERE c2.financeur_id = f.id), 0) AS BIGINT) AS utilises
                 FROM pass_commandes c JOIN pass_financeurs f ON f.id = c.financeur_id
                 GROUP BY f.id, f.nom",
                &[],
            )
            .await?;
        for r in &rows {
            let e = pass.entry(r.get("id")?).or_insert_with(|| PassFinanceur {
                financeur: r.get("nom").unwrap_or_default(),
                commandes: None,
                non_utilises: None,
                carnets_remis: 0,
                utilises: 0,
            });
            let ordered: i64 = r.get("pass")?;
            e.commandes = Some(ordered);
            e.non_utilises = Some(ordered - r.get::<i64>("utilises")?);
        }
    }

    let lignes: Vec<Ligne> = lignes.into_values().collect();
    let mut total = lignes.iter().fold(
        Ligne {
            code: territoire.code.clone(),
            nom: territoire.nom.clone(),
            ..Ligne::default()
        },
        |mut acc, l| {
            acc.population += l.population;
            acc.accompagnements += l.accompagnements;
            acc.nouveaux += l.nouveaux;
            acc.lieux += l.lieux;
            acc.france_services += l.france_services;
            acc.population_couverte += l.population_couverte;
            acc.conseillers.en_poste += l.conseillers.en_poste;
            acc.conseillers.en_formation += l.conseillers.en_formation;
            acc.conseillers.prevus += l.conseillers.prevus;
            acc.structures += l.structures;
            acc.aidants += l.aidants;
            acc.mandats_actifs += l.mandats_actifs;
            acc.utilisations += l.utilisations;
            acc.pass_remis += l.pass_remis;
            acc.pass_utilises += l.pass_utilises;
            acc
        },
    );
    // The territory's own figure (counts activities whose département is unknown
    // nationally, which no département line has).
    total.accompagnements = totals.accompagnements;
    Ok(Tableau {
        territoire: territoire.clone(),
        annee,
        total,
        personnes: totals.personnes,
        nouveaux: totals.nouveaux,
        population_nationale,
        lignes,
        utilisations,
        pass: pass.into_values().collect(),
    })
}
