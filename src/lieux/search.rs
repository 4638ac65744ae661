//! Finding places: by commune name (accents and case ignored) or postcode, or near
//! coordinates within a radius; filters on the standard's vocabularies and « open
//! now »; results sorted by distance. SQL narrows (postcode, commune key, bounding
//! box on the indexed coordinates); the filters on multi-values run on the rows left.

use crate::db::Db;
use crate::db::exec::{Exec, Rec};

/// Kilometres per degree of latitude.
const KM_PER_DEGREE: f64 = 111.32;

#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Commune name or 5-digit postcode.
    pub text: String,
    /// A centre given by coordinates.
    pub near: Option<(f64, f64)>,
    /// Radius around the centre, in km.
    pub radius_km: f64,
    /// (field, value) pairs that must be among the place's values (`services`,
    /// `publics_specifiquement_adresses`, `frais_a_charge`, …).
    pub filters: Vec<(String, String)>,
    /// Only places open at `now`.
    pub open_now: bool,
}

/// One place found: what sorting, paging and the result list need. The full record
/// is read only for the page shown ([`records`]).
#[derive(Debug, Clone)]
pub struct Hit {
    pub row_id: i64,
    /// Qualified for the pass numérique.
    pub pass: bool,
    pub nom: String,
    pub distance_km: Option<f64>,
    pub horaires: String,
}

impl Hit {
    /// Open at `now` (Paris time); `None` when the hours are missing or unreadable.
    pub fn open_at(&self, now: i64) -> Option<bool> {
        super::hours::is_open(&self.horaires, now)
    }
}

/// Great-circle distance in km.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6_371.0 * h.sqrt().asin()
}

struct Candidate {
    id: i64,
    nom: String,
    lat: Option<f64>,
    lon: Option<f64>,
    horaires: String,
    facets: i64,
}

fn candidates(rows: Vec<Rec>) -> Result<Vec<Candidate>, crate::db::Error> {
    rows.into_iter()
        .map(|r| {
            Ok(Candidate {
                id: r.int("id")?,
                nom: r.text("nom")?,
                lat: r.opt_real("latitude")?,
                lon: r.opt_real("longitude")?,
                horaires: r.text("horaires")?,
                facets: r.int("facets")?,
            })
        })
        .collect()
}

/// Runs a search; returns every hit sorted by distance (then name). The filters
/// are one bit mask tested in SQL (`lieux.facets`, see [`super::index`]).
pub async fn search(db: &Db, q: &Query, now: i64) -> Result<Vec<Hit>, crate::db::Error> {
    Ok(search_around(db, q, now).await?.0)
}

/// [`search`], with the centre the distances were measured from (`None` when
/// the text led to no coordinates: a larger radius would find nothing more).
pub async fn search_around(
    db: &Db,
    q: &Query,
    now: i64,
) -> Result<(Vec<Hit>, Option<(f64, f64)>), crate::db::Error> {
    let Some(mask) = super::index::mask(&q.filters) else {
        return Ok((Vec::new(), None));
    };
    let text = q.text.trim();
    let radius = if q.radius_km > 0.0 {
        q.radius_km.min(200.0)
    } else {
        10.0
    };
    let mut conn = db.conn().await?;
    let mut centre = q.near;
    let mut named: Vec<Candidate> = Vec::new();
    if !text.is_empty() {
        let rows = if text.len() == 5 && text.bytes().all(|b| b.is_ascii_digit()) {
            conn.fetch_all(
                "SELECT id, nom, latitude, longitude, horaires, facets FROM lieux
                 WHERE code_postal = $1",
                crate::args![text],
            )
            .await?
        } else {
            let key = crate::mandats::search_key(text);
            conn.fetch_all(
                "SELECT id, nom, latitude, longitude, horaires, facets FROM lieux
                 WHERE commune_key = $1 OR commune_key LIKE $2",
                crate::args![key.as_str(), format!("{key} %").as_str()],
            )
            .await?
        };
        named = candidates(rows)?;
        // Not spelt as the places' sources spell it (« St Etienne », a former
        // commune of a merger): the official list gives the communes, their
        // places come by INSEE code.
        let communes = crate::territoires::get().matching(text);
        if named.is_empty() {
            for c in communes.iter().take(10) {
                let rows = conn
                    .fetch_all(
                        "SELECT id, nom, latitude, longitude, horaires, facets FROM lieux
                         WHERE code_insee = $1",
                        crate::args![c.code.as_str()],
                    )
                    .await?;
                named.extend(candidates(rows)?);
            }
        }
        // The centre of the commune: the mean of its places' coordinates.
        if centre.is_none() {
            let pts: Vec<(f64, f64)> = named
                .iter()
                .filter_map(|r| Some((r.lat?, r.lon?)))
                .collect();
            if !pts.is_empty() {
                let n = pts.len() as f64;
                centre = Some((
                    pts.iter().map(|p| p.0).sum::<f64>() / n,
                    pts.iter().map(|p| p.1).sum::<f64>() / n,
                ));
            }
        }
        // A commune without any place: the centre of its intercommunality's
        // places, so that the places around it are found.
        if centre.is_none()
            && let [c] = communes.as_slice()
            && let Some(epci) = &c.epci
        {
            let mut pts: Vec<(f64, f64)> = Vec::new();
            for member in crate::territoires::get().members_of(epci).iter().take(300) {
                let rows = conn
                    .fetch_all(
                        "SELECT latitude, longitude FROM lieux
                         WHERE code_insee = $1 AND latitude IS NOT NULL AND longitude IS NOT NULL",
                        crate::args![member.code.as_str()],
                    )
                    .await?;
                for r in rows {
                    if let (Some(lat), Some(lon)) =
                        (r.opt_real("latitude")?, r.opt_real("longitude")?)
                    {
                        pts.push((lat, lon));
                    }
                }
            }
            if !pts.is_empty() {
                let n = pts.len() as f64;
                centre = Some((
                    pts.iter().map(|p| p.0).sum::<f64>() / n,
                    pts.iter().map(|p| p.1).sum::<f64>() / n,
                ));
            }
        }
        // The commune's own places must pass the filters too.
        named.retain(|c| c.facets & mask == mask);
    }
    let named_ids: std::collections::HashSet<i64> = named.iter().map(|r| r.id).collect();
    let mut all = named;
    if let Some((lat, lon)) = centre {
        let dlat = radius / KM_PER_DEGREE;
        let dlon = radius / (KM_PER_DEGREE * lat.to_radians().cos().abs().max(0.01));
        let around = conn
            .fetch_all(
                "SELECT id, nom, latitude, longitude, horaires, facets FROM lieux
                 WHERE latitude BETWEEN $1 AND $2 AND longitude BETWEEN $3 AND $4
                   AND (facets & $5) = $5",
                crate::args![lat - dlat, lat + dlat, lon - dlon, lon + dlon, mask],
            )
            .await?;
        for c in candidates(around)? {
            if !named_ids.contains(&c.id) {
                all.push(c);
            }
        }
    }
    drop(conn);
    let mut hits = Vec::new();
    for c in all {
        let distance = match (centre, c.lat, c.lon) {
            (Some(centre), Some(la), Some(lo)) => Some(distance_km(centre, (la, lo))),
            _ => None,
        };
        // Places named by the text are kept whatever the distance; the others must
        // be within the radius.
        if !named_ids.contains(&c.id) && distance.is_none_or(|d| d > radius) {
            continue;
        }
        let hit = Hit {
            row_id: c.id,
            pass: c.facets & super::index::PASS_BIT != 0,
            nom: c.nom,
            distance_km: distance,
            horaires: c.horaires,
        };
        if q.open_now && hit.open_at(now) != Some(true) {
            continue;
        }
        hits.push(hit);
    }
    hits.sort_by(|a, b| {
        a.distance_km
            .unwrap_or(f64::MAX)
            .total_cmp(&b.distance_km.unwrap_or(f64::MAX))
            .then_with(|| a.nom.cmp(&b.nom))
    });
    Ok((hits, centre))
}

/// The full records of some places (values in the schema's order), by row id.
pub async fn records(
    db: &Db,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<String>>, crate::db::Error> {
    let mut conn = db.conn().await?;
    let mut out = std::collections::HashMap::new();
    for id in ids {
        if let Some(r) = conn
            .fetch_optional("SELECT data FROM lieux WHERE id = $1", crate::args![*id])
            .await?
            && let Ok(values) = serde_json::from_str::<Vec<String>>(&r.text("data")?)
        {
            out.insert(*id, values);
        }
    }
    Ok(out)
}

/// One place by its row id.
pub async fn find(db: &Db, row_id: i64) -> Result<Option<Vec<String>>, crate::db::Error> {
    Ok(records(db, &[row_id]).await?.remove(&row_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let auxerre = (47.7982, 3.5674);
        let sens = (48.1975, 3.2834);
        let d = distance_km(auxerre, sens);
        assert!((d - 49.0).abs() < 2.0, "{d}");
        assert!(distance_km(auxerre, auxerre) < 1e-9);
    }
}
