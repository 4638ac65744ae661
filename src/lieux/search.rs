//! Finding places: by commune name (accents and case ignored) or postcode, or near
//! coordinates within a radius; filters on the standard's vocabularies and « open
//! now »; results sorted by distance. SQL narrows (postcode, commune key, bounding
//! box on the indexed coordinates); the filters on multi-values run on the rows left.

use sqlx::Row;

use super::schema::Schema;
use crate::db::Db;

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

#[derive(Debug, Clone)]
pub struct Hit {
    pub row_id: i64,
    pub values: Vec<String>,
    pub distance_km: Option<f64>,
    pub open: Option<bool>,
}

impl Hit {
    pub fn get(&self, field: &str) -> &str {
        Schema::standard()
            .fields
            .iter()
            .position(|f| f.name == field)
            .and_then(|i| self.values.get(i))
            .map(String::as_str)
            .unwrap_or("")
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

struct Row_ {
    id: i64,
    lat: Option<f64>,
    lon: Option<f64>,
    data: String,
}

async fn rows(db: &Db, sql: &str, binds: &[Bind<'_>]) -> Result<Vec<Row_>, sqlx::Error> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(*t),
            Bind::Real(x) => q.bind(*x),
        };
    }
    q.fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(Row_ {
                id: r.try_get("id")?,
                lat: r.try_get("latitude")?,
                lon: r.try_get("longitude")?,
                data: r.try_get("data")?,
            })
        })
        .collect()
}

enum Bind<'a> {
    Text(&'a str),
    Real(f64),
}

const COLUMNS: &str = "SELECT id, latitude, longitude, data FROM lieux";

/// Runs a search; returns every hit sorted by distance (then name).
pub async fn search(db: &Db, q: &Query, now: i64) -> Result<Vec<Hit>, sqlx::Error> {
    let text = q.text.trim();
    let radius = if q.radius_km > 0.0 {
        q.radius_km.min(200.0)
    } else {
        10.0
    };
    let mut centre = q.near;
    let mut named: Vec<Row_> = Vec::new();
    if !text.is_empty() {
        named = if text.len() == 5 && text.bytes().all(|b| b.is_ascii_digit()) {
            rows(
                db,
                &format!("{COLUMNS} WHERE code_postal = $1"),
                &[Bind::Text(text)],
            )
            .await?
        } else {
            let key = crate::mandats::search_key(text);
            rows(
                db,
                &format!("{COLUMNS} WHERE commune_key = $1 OR commune_key LIKE $2"),
                &[Bind::Text(&key), Bind::Text(&format!("{key} %"))],
            )
            .await?
        };
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
    }
    let named_ids: std::collections::HashSet<i64> = named.iter().map(|r| r.id).collect();
    let mut candidates = named;
    if let Some((lat, lon)) = centre {
        let dlat = radius / KM_PER_DEGREE;
        let dlon = radius / (KM_PER_DEGREE * lat.to_radians().cos().abs().max(0.01));
        let around = rows(
            db,
            &format!("{COLUMNS} WHERE latitude BETWEEN $1 AND $2 AND longitude BETWEEN $3 AND $4"),
            &[
                Bind::Real(lat - dlat),
                Bind::Real(lat + dlat),
                Bind::Real(lon - dlon),
                Bind::Real(lon + dlon),
            ],
        )
        .await?;
        for r in around {
            if !candidates.iter().any(|c| c.id == r.id) {
                candidates.push(r);
            }
        }
    }
    let schema = Schema::standard();
    let index = |name: &str| schema.fields.iter().position(|f| f.name == name);
    let hours_i = index("horaires");
    let mut hits = Vec::new();
    for r in candidates {
        let distance = match (centre, r.lat, r.lon) {
            (Some(c), Some(la), Some(lo)) => Some(distance_km(c, (la, lo))),
            _ => None,
        };
        // Places named by the text are kept whatever the distance; the others must
        // be within the radius.
        if !named_ids.contains(&r.id) && distance.is_none_or(|d| d > radius) {
            continue;
        }
        let Ok(values) = serde_json::from_str::<Vec<String>>(&r.data) else {
            continue;
        };
        let matches = q.filters.iter().all(|(field, wanted)| {
            index(field)
                .and_then(|i| values.get(i))
                .is_some_and(|v| v.split('|').any(|x| x == wanted))
        });
        if !matches {
            continue;
        }
        let open = hours_i
            .and_then(|i| values.get(i))
            .and_then(|h| super::hours::is_open(h, now));
        if q.open_now && open != Some(true) {
            continue;
        }
        hits.push(Hit {
            row_id: r.id,
            values,
            distance_km: distance,
            open,
        });
    }
    hits.sort_by(|a, b| {
        a.distance_km
            .unwrap_or(f64::MAX)
            .total_cmp(&b.distance_km.unwrap_or(f64::MAX))
            .then_with(|| a.get("nom").cmp(b.get("nom")))
    });
    Ok(hits)
}

/// One place by its row id.
pub async fn find(db: &Db, row_id: i64) -> Result<Option<Vec<String>>, sqlx::Error> {
    match sqlx::query("SELECT data FROM lieux WHERE id = $1")
        .bind(row_id)
        .fetch_optional(db.pool())
        .await?
    {
        Some(r) => Ok(serde_json::from_str(&r.try_get::<String, _>("data")?).ok()),
        None => Ok(None),
    }
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
