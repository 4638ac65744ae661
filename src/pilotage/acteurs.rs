//! What a hub (or any territorial account) needs to « recenser, conseiller,
//! outiller » the actors of its territory: its places with their activity and the
//! age of their data (those to update first), its structures with their aidants,
//! mediators, mandates and activity, and the communes without any place, largest
//! population first. Structures and places only: never a person.

use super::Territoire;
use crate::db::Db;

/// Places listed (those to update first).
pub const MAX_LIEUX: usize = 200;
/// Communes without a place listed (largest first).
pub const MAX_COMMUNES: usize = 100;

#[derive(Debug, Clone)]
pub struct Lieu {
    pub id: i64,
    pub nom: String,
    pub commune: String,
    /// `date_maj` of the record (`AAAA-MM-JJ`), empty when absent.
    pub date_maj: String,
    /// Activities recorded there in the last twelve months.
    pub activites: i64,
    pub a_mettre_a_jour: bool,
    pub sans_activite: bool,
}

#[derive(Debug, Clone)]
pub struct Structure {
    pub id: i64,
    pub nom: String,
    pub commune: String,
    pub aidants: i64,
    pub mediateurs: i64,
    pub mandats_actifs: i64,
    pub activites: i64,
}

#[derive(Debug, Clone)]
pub struct Commune {
    pub code: String,
    pub nom: String,
    pub population: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Acteurs {
    pub lieux_total: usize,
    pub lieux_a_mettre_a_jour: usize,
    pub lieux_sans_activite: usize,
    /// Those to update or without activity first, at most [`MAX_LIEUX`].
    pub lieux: Vec<Lieu>,
    pub structures: Vec<Structure>,
    pub communes_sans_lieu: usize,
    pub population_sans_lieu: i64,
    pub communes: Vec<Commune>,
}

/// `YYYYMMDD` a year before `today`.
fn a_year_before(today: i64) -> i64 {
    today - 10_000
}

pub async fn gather(
    db: &Db,
    territoire: &Territoire,
    now: i64,
) -> Result<Acteurs, crate::db::Error> {
    let today = crate::activites::today(now);
    let since = a_year_before(today);
    let set = territoire.set();
    let date_index = crate::lieux::schema::Schema::standard()
        .names()
        .iter()
        .position(|n| *n == "date_maj");
    // Activity per place and per structure over twelve months.
    let per_place = db
        .fetch_all(
            "SELECT lieu_id, COUNT(*) AS n FROM activites
             WHERE date >= $1 AND lieu_id IS NOT NULL GROUP BY lieu_id",
            crate::args![since],
        )
        .await?;
    let mut activity: std::collections::HashMap<i64, i64> = Default::default();
    for r in &per_place {
        activity.insert(r.get("lieu_id")?, r.get("n")?);
    }
    let rows = db
        .fetch_all(
            "SELECT id, nom, commune, code_insee, data FROM lieux
             WHERE $1 LIKE '%,' || CASE WHEN substr(code_insee, 1, 2) IN ('97', '98')
                                      THEN substr(code_insee, 1, 3)
                                      ELSE substr(code_insee, 1, 2) END || ',%'",
            crate::args![&set],
        )
        .await?;
    let limit = format!(
        "{:04}-{:02}-{:02}",
        since / 10_000,
        since / 100 % 100,
        since % 100
    );
    let mut out = Acteurs::default();
    let mut with_place: std::collections::HashSet<String> = Default::default();
    for r in &rows {
        let id: i64 = r.get("id")?;
        let data: String = r.get("data")?;
        let date_maj = date_index
            .and_then(|i| {
                serde_json::from_str::<Vec<String>>(&data)
                    .ok()
                    .and_then(|v| v.get(i).cloned())
            })
            .unwrap_or_default();
        let n = activity.get(&id).copied().unwrap_or(0);
        let old = date_maj.is_empty() || date_maj < limit;
        with_place.insert(r.get("code_insee")?);
        out.lieux_total += 1;
        out.lieux_a_mettre_a_jour += usize::from(old);
        out.lieux_sans_activite += usize::from(n == 0);
        out.lieux.push(Lieu {
            id,
            nom: r.get("nom")?,
            commune: r.get("commune")?,
            date_maj,
            activites: n,
            a_mettre_a_jour: old,
            sans_activite: n == 0,
        });
    }
    out.lieux.sort_by(|a, b| {
        (b.a_mettre_a_jour, b.sans_activite, &a.date_maj, &a.nom).cmp(&(
            a.a_mettre_a_jour,
            a.sans_activite,
            &b.date_maj,
            &b.nom,
        ))
    });
    out.lieux.truncate(MAX_LIEUX);

    // Structures of the territory.
    let rows = db
        .fetch_all(
            "SELECT st.id, st.name, st.commune_insee,
                    (SELECT COUNT(*) FROM memberships m JOIN accounts a ON a.id = m.account_id
                     WHERE m.structure_id = st.id AND m.deactivated_at IS NULL
                       AND a.disabled_at IS NULL AND m.role IN ('aidant', 'referent')) AS aidants,
                    (SELECT COUNT(*) FROM memberships m
                     WHERE m.structure_id = st.id AND m.deactivated_at IS NULL
                       AND m.role = 'mediateur') AS mediateurs,
                    (SELECT COUNT(*) FROM mandats md WHERE md.structure_id = st.id
                       AND md.expires_at > $2 AND EXISTS (SELECT 1 FROM autorisations au
                         WHERE au.mandat_id = md.id AND au.revoked_at IS NULL
                           AND au.expires_at > $2)) AS mandats,
                    (SELECT COUNT(*) FROM activites ac WHERE ac.structure_id = st.id
                       AND ac.date >= $3) AS activites
             FROM structures st
             WHERE st.is_demo = 0
               AND $1 LIKE '%,' || CASE WHEN substr(st.commune_insee, 1, 2) IN ('97', '98')
                                      THEN substr(st.commune_insee, 1, 3)
                                      ELSE substr(st.commune_insee, 1, 2) END || ',%'
             ORDER BY st.name",
            crate::args![&set, now, since],
        )
        .await?;
    let t = crate::territoires::get();
    for r in &rows {
        let code: String = r.get("commune_insee")?;
        out.structures.push(Structure {
            id: r.get("id")?,
            nom: r.get("name")?,
            commune: t.commune(&code).map(|c| c.nom.clone()).unwrap_or(code),
            aidants: r.get("aidants")?,
            mediateurs: r.get("mediateurs")?,
            mandats_actifs: r.get("mandats")?,
            activites: r.get("activites")?,
        });
    }

    // Communes without any place, largest first.
    let mut without: Vec<&crate::territoires::Commune> = t
        .communes()
        .iter()
        .filter(|c| territoire.contains(&c.departement) && !with_place.contains(&c.code))
        .collect();
    out.communes_sans_lieu = without.len();
    out.population_sans_lieu = without.iter().map(|c| i64::from(c.population)).sum();
    without.sort_by(|a, b| b.population.cmp(&a.population).then(a.code.cmp(&b.code)));
    out.communes = without
        .into_iter()
        .take(MAX_COMMUNES)
        .map(|c| Commune {
            code: c.code.clone(),
            nom: c.nom.clone(),
            population: c.population,
        })
        .collect();
    Ok(out)
}
