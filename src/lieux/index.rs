//! The columns beside a place's `data` that search and duplicate detection read:
//! `facets` (one bit per filterable vocabulary value), `horaires`, and normalised
//! keys of the name and address.
//!
//! Bits are numbered in the order of the standard's fields and of each field's
//! vocabulary (45 values over 7 fields). If the schema file ever changes a
//! vocabulary, raise [`INDEX_VERSION`]: [`refresh`] then recomputes every row.

use std::sync::OnceLock;

use super::schema::Schema;
use crate::db::Db;
use crate::db::exec::Exec;

/// The version of the computed columns; rows below it are recomputed by [`refresh`].
pub const INDEX_VERSION: i64 = 1;

/// The fields people filter on, in the order of the search form.
pub const FACET_FIELDS: [&str; 7] = [
    "services",
    "publics_specifiquement_adresses",
    "prise_en_charge_specifique",
    "frais_a_charge",
    "modalites_acces",
    "modalites_accompagnement",
    "dispositif_programmes_nationaux",
];

/// (field, value) → bit.
struct Facets {
    bits: Vec<(String, String, u64)>,
}

fn facets() -> &'static Facets {
    static F: OnceLock<Facets> = OnceLock::new();
    F.get_or_init(|| {
        let schema = Schema::standard();
        let mut bits = Vec::new();
        let mut n = 0_u32;
        for name in FACET_FIELDS {
            for value in schema
                .field(name)
                .map(|f| f.vocabulary.as_slice())
                .unwrap_or(&[])
            {
                if n < 63 {
                    bits.push((name.to_owned(), value.clone(), 1_u64 << n));
                }
                n += 1;
            }
        }
        Facets { bits }
    })
}

/// Not a field of the standard: the place is qualified for the pass numérique.
/// Set by the qualification ([`crate::pass::decide`]), kept by imports and
/// refreshes (which recompute the other bits from the record).
pub const PASS_FIELD: &str = "pass_numerique";
pub const PASS_BIT: i64 = 1 << 62;

/// The bit of one vocabulary value; `None` for a value outside the vocabulary.
pub fn bit(field: &str, value: &str) -> Option<u64> {
    if field == PASS_FIELD {
        return (value == "oui").then_some(PASS_BIT.unsigned_abs());
    }
    facets()
        .bits
        .iter()
        .find(|(f, v, _)| f == field && v == value)
        .map(|(_, _, b)| *b)
}

/// The mask of every (field, value) asked; `None` if one is outside the vocabularies
/// (then nothing can match).
pub fn mask(filters: &[(String, String)]) -> Option<i64> {
    let mut m = 0_u64;
    for (f, v) in filters {
        m |= bit(f, v)?;
    }
    i64::try_from(m).ok()
}

/// Text without accents, case or punctuation, words separated by one space.
pub fn key(text: &str) -> String {
    crate::mandats::search_key(text)
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The computed columns of one place.
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    pub facets: i64,
    pub horaires: String,
    pub nom_key: String,
    pub pivot: String,
    pub adresse_key: String,
}

/// Computes the columns from the values in the schema's field order.
pub fn columns(values: &[String]) -> Columns {
    let schema = Schema::standard();
    let get = |name: &str| {
        schema
            .fields
            .iter()
            .position(|f| f.name == name)
            .and_then(|i| values.get(i))
            .map(String::as_str)
            .unwrap_or("")
    };
    let mut m = 0_u64;
    for field in FACET_FIELDS {
        for v in get(field).split('|') {
            m |= bit(field, v).unwrap_or(0);
        }
    }
    Columns {
        facets: i64::try_from(m).unwrap_or(0),
        horaires: get("horaires").to_owned(),
        nom_key: key(get("nom")),
        pivot: get("pivot").trim().to_owned(),
        adresse_key: key(&format!("{} {}", get("adresse"), get("code_postal"))),
    }
}

/// Computes the columns of rows written before them (or before a new
/// [`INDEX_VERSION`]), in one transaction. Returns how many rows were updated.
pub async fn refresh(db: &Db) -> Result<u64, crate::db::Error> {
    let mut tx = db.begin().await?;
    let stale = tx
        .fetch_all(
            "SELECT id, data FROM lieux WHERE index_version < $1",
            crate::args![INDEX_VERSION],
        )
        .await?;
    let mut n = 0;
    for r in &stale {
        let values: Vec<String> =
            serde_json::from_str(&r.text("data")?).map_err(crate::db::Error::data)?;
        let c = columns(&values);
        n += tx
            .execute(
                "UPDATE lieux SET facets = $1 | (facets & 4611686018427387904), horaires = $2,
                     nom_key = $3, pivot = $4,
                     adresse_key = $5, index_version = $6
                 WHERE id = $7",
                crate::args![
                    c.facets,
                    &c.horaires,
                    &c.nom_key,
                    &c.pivot,
                    &c.adresse_key,
                    INDEX_VERSION,
                    r.int("id")?,
                ],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_facet_value_has_its_own_bit() {
        let all = &facets().bits;
        assert_eq!(all.len(), 45, "the standard 1.0.2 has 45 filterable values");
        let mut seen = 0_u64;
        for (_, _, b) in all {
            assert_eq!(seen & b, 0);
            seen |= b;
        }
        assert!(bit("services", "Aide aux démarches administratives").is_some());
        assert!(bit("services", "Inconnu").is_none());
        assert!(bit("frais_a_charge", "Gratuit").is_some());
    }

    #[test]
    fn keys_ignore_accents_case_and_punctuation() {
        assert_eq!(
            key("  Médiathèque  d'Auxerre – Centre "),
            "mediatheque d auxerre centre"
        );
    }
}
