//! A validator driven by the national Table Schema of digital-mediation places
//! (v1.0.2, `standard-mediation-num-1.0.2.schema.json`, Licence Ouverte etalab-2.0,
//! embedded unchanged): field order, types, `required`, `pattern` (the controlled
//! vocabularies are patterns over `|`-separated multi-values), `maxLength`, `unique`.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

const SCHEMA_JSON: &str = include_str!("standard-mediation-num-1.0.2.schema.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Integer,
    Date,
}

#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub title: String,
    pub kind: FieldType,
    pub required: bool,
    pub unique: bool,
    pub pattern: Option<Regex>,
    pub max_length: Option<usize>,
    /// The allowed values, when the pattern is a vocabulary over `|` multi-values.
    pub vocabulary: Vec<String>,
}

impl Field {
    /// A vocabulary field (multi-values separated by `|`).
    pub fn is_vocabulary(&self) -> bool {
        !self.vocabulary.is_empty()
    }
}

#[derive(Debug)]
pub struct Schema {
    pub version: String,
    pub fields: Vec<Field>,
    /// Values that stand for « no value » (Table Schema `missingValues`).
    pub missing_values: Vec<String>,
}

fn default_missing() -> Vec<String> {
    vec![String::new()]
}

#[derive(Deserialize)]
struct RawSchema {
    version: String,
    fields: Vec<RawField>,
    #[serde(default = "default_missing", rename = "missingValues")]
    missing_values: Vec<String>,
}

#[derive(Deserialize)]
struct RawField {
    name: String,
    #[serde(default)]
    title: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    constraints: RawConstraints,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawConstraints {
    #[serde(default)]
    required: bool,
    #[serde(default)]
    unique: bool,
    pattern: Option<String>,
    max_length: Option<usize>,
}

/// The values of a vocabulary pattern `(?:(?:^|\|)(A|B|C))+$`, unescaped.
fn vocabulary(pattern: &str) -> Vec<String> {
    let Some(inner) = pattern
        .strip_prefix("(?:(?:^|\\|)(")
        .and_then(|p| p.strip_suffix("))+$"))
    else {
        return Vec::new();
    };
    inner
        .split('|')
        .map(|v| v.replace("\\(", "(").replace("\\)", ")"))
        .collect()
}

impl Schema {
    pub fn parse(json: &str) -> Result<Schema, String> {
        let raw: RawSchema = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut fields = Vec::new();
        for f in raw.fields {
            // Table Schema patterns must match the whole value.
            let pattern = match &f.constraints.pattern {
                Some(p) => Some(
                    Regex::new(&format!("^(?:{p})$")).map_err(|e| format!("{} : {e}", f.name))?,
                ),
                None => None,
            };
            fields.push(Field {
                vocabulary: f
                    .constraints
                    .pattern
                    .as_deref()
                    .map(vocabulary)
                    .unwrap_or_default(),
                kind: match f.kind.as_str() {
                    "number" => FieldType::Number,
                    "integer" => FieldType::Integer,
                    "date" => FieldType::Date,
                    _ => FieldType::String,
                },
                name: f.name,
                title: f.title,
                required: f.constraints.required,
                unique: f.constraints.unique,
                pattern,
                max_length: f.constraints.max_length,
            });
        }
        Ok(Schema {
            version: raw.version,
            fields,
            missing_values: raw.missing_values,
        })
    }

    /// The embedded standard.
    pub fn standard() -> &'static Schema {
        static SCHEMA: LazyLock<Schema> = LazyLock::new(|| match Schema::parse(SCHEMA_JSON) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(cause = %e, "schéma des lieux illisible");
                Schema {
                    version: String::new(),
                    fields: Vec::new(),
                    missing_values: default_missing(),
                }
            }
        });
        &SCHEMA
    }

    pub fn names(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.name.as_str()).collect()
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks one value; `None` when valid, else the reason in French.
    pub fn check(&self, field: &Field, value: &str) -> Option<String> {
        if value.is_empty() || self.missing_values.iter().any(|m| m == value) {
            return field
                .required
                .then(|| "valeur obligatoire manquante".to_owned());
        }
        match field.kind {
            FieldType::Number => {
                if value.parse::<f64>().map_or(true, |v| !v.is_finite()) {
                    return Some(format!("« {value} » n'est pas un nombre"));
                }
            }
            FieldType::Integer => {
                if value.parse::<i64>().is_err() {
                    return Some(format!("« {value} » n'est pas un nombre entier"));
                }
            }
            FieldType::Date => {
                if value.len() != 10 || crate::time_fr::parse_date(value).is_none() {
                    return Some(format!("« {value} » n'est pas une date AAAA-MM-JJ"));
                }
            }
            FieldType::String => {}
        }
        if let Some(max) = field.max_length
            && value.chars().count() > max
        {
            return Some(format!("{max} caractères au plus"));
        }
        if let Some(re) = &field.pattern
            && !re.is_match(value)
        {
            if field.is_vocabulary() {
                let unknown: Vec<&str> = value
                    .split('|')
                    .filter(|v| !field.vocabulary.iter().any(|a| a == v))
                    .collect();
                return Some(format!(
                    "valeur hors vocabulaire : « {} » (valeurs permises : {})",
                    unknown.join("|"),
                    field.vocabulary.join(", ")
                ));
            }
            return Some(format!("« {value} » ne respecte pas le format attendu"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_is_read() {
        let s = Schema::standard();
        assert_eq!(s.version, "v1.0.2");
        assert_eq!(s.fields.len(), 32);
        assert_eq!(s.names()[..3], ["id", "pivot", "nom"]);
        let services = s.field("services").unwrap();
        assert_eq!(services.vocabulary.len(), 9);
        let pec = s.field("prise_en_charge_specifique").unwrap();
        assert!(
            pec.vocabulary
                .iter()
                .any(|v| v == "Langues étrangères (anglais)")
        );
    }

    #[test]
    fn values_are_checked() {
        let s = Schema::standard();
        let cp = s.field("code_postal").unwrap();
        assert!(s.check(cp, "89000").is_none());
        assert!(s.check(cp, "8900").is_some());
        assert!(s.check(cp, "").is_some(), "required");
        let services = s.field("services").unwrap();
        assert!(
            s.check(
                services,
                "Aide aux démarches administratives|Loisirs et créations numériques"
            )
            .is_none()
        );
        let e = s
            .check(services, "Aide aux démarches administratives|Cuisine")
            .unwrap();
        assert!(e.contains("« Cuisine »"), "{e}");
        let e = s
            .check(services, "Cuisine|Aide aux démarches administratives")
            .unwrap();
        assert!(e.contains("« Cuisine »"), "whole value matched: {e}");
        let lat = s.field("latitude").unwrap();
        assert!(s.check(lat, "47.8").is_none());
        assert!(s.check(lat, "nord").is_some());
        let date = s.field("date_maj").unwrap();
        assert!(s.check(date, "2022-10-10").is_none());
        assert!(s.check(date, "10/10/2022").is_some());
        let resume = s.field("presentation_resume").unwrap();
        assert!(s.check(resume, &"x".repeat(281)).is_some());
    }
}
