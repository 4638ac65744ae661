//! Older files brought to the standard v1.0.2 (the mapping is documented in
//! `docs/LIEUX.md`):
//! - [`read_v01`]: the v0.1 JSON of the conseillers numériques' places (services as
//!   comma-separated older labels, `labels_nationaux`, `conditions_access`);
//! - [`read_france_services`]: the France Services GeoJSON (per-day hours such as
//!   `9:00 - 12:00 / 13:30 - 17:00`, turned into OpenStreetMap `opening_hours`).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::schema::Schema;
use super::{FileError, Read, Record, Rejection};

/// v0.1 service labels → v1.0.2 services.
const SERVICES_V01: &[(&str, &str)] = &[
    (
        "Prendre en main un smartphone ou une tablette",
        "Maîtrise des outils numériques du quotidien",
    ),
    (
        "Prendre en main un ordinateur",
        "Maîtrise des outils numériques du quotidien",
    ),
    (
        "Utiliser le numérique au quotidien",
        "Maîtrise des outils numériques du quotidien",
    ),
    (
        "Approfondir ma culture numérique",
        "Compréhension du monde numérique",
    ),
    (
        "Accéder à une connexion internet",
        "Accès internet et matériel informatique",
    ),
    (
        "Accéder à du matériel",
        "Accès internet et matériel informatique",
    ),
    (
        "Équiper mon entreprise",
        "Acquisition de matériel informatique à prix solidaire",
    ),
    (
        "Réaliser des démarches en ligne",
        "Aide aux démarches administratives",
    ),
    (
        "Accompagner les démarches de santé",
        "Aide aux démarches administratives",
    ),
    (
        "Trouver un emploi",
        "Insertion professionnelle via le numérique",
    ),
    (
        "Créer et développer mon entreprise",
        "Insertion professionnelle via le numérique",
    ),
    (
        "Promouvoir la citoyenneté numérique",
        "Compréhension du monde numérique",
    ),
    (
        "Soutenir la parentalité et l'éducation avec le numérique",
        "Parentalité et éducation avec le numérique",
    ),
    (
        "Échanger avec mes proches",
        "Maîtrise des outils numériques du quotidien",
    ),
    ("Créer avec le numérique", "Loisirs et créations numériques"),
];

/// v0.1 national labels → v1.0.2 national programmes.
const LABELS_V01: &[(&str, &str)] = &[
    ("CNFS", "Conseillers numériques"),
    ("France Services", "France Services"),
    ("Aidants Connect", "Aidants Connect"),
    ("APTIC", ""),
];

/// Converted data keeps its places: unreadable hours are left out, with a notice
/// naming the line (a file of the standard itself gets them refused instead); the
/// record is then checked and kept if valid.
fn push_converted(read: &mut Read, mut r: Record) {
    // Converted text starting like a formula (« - Avenue… », « @telier… ») loses
    // those first characters, noted: the standard's file would refuse it.
    for (f, v) in Schema::standard().fields.iter().zip(r.values.iter_mut()) {
        if super::formula_start(f, v).is_some() {
            let kept = v
                .trim_start_matches(|c: char| {
                    super::FORMULA_STARTS.contains(&c) || c.is_whitespace()
                })
                .to_owned();
            read.notices.push(format!(
                "ligne {}, champ « {} » : « {v} » commençait comme une formule de tableur ; importé comme « {kept} »",
                r.line, f.name
            ));
            *v = kept;
        }
    }
    if let Some(i) = Schema::standard()
        .fields
        .iter()
        .position(|f| f.name == "horaires")
        && let Some(h) = r.values.get_mut(i)
        && !h.is_empty()
        && super::hours::parse(h).is_err()
    {
        read.notices.push(format!(
            "ligne {} : horaires « {h} » illisibles, laissés de côté (le lieu est importé sans horaires)",
            r.line
        ));
        h.clear();
    }
    read.push(r);
}

/// Builds a record in schema order from (field, value) pairs.
fn record(line: usize, pairs: &[(&str, String)]) -> Record {
    let schema = Schema::standard();
    let values = schema
        .fields
        .iter()
        .map(|f| {
            pairs
                .iter()
                .find(|(n, _)| *n == f.name)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        })
        .collect();
    Record { line, values }
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Maps a comma-separated list through a table; unknown labels are reported.
fn map_list(raw: &str, table: &[(&str, &str)], unknown: &mut Vec<String>) -> String {
    let mut out: Vec<&str> = Vec::new();
    for label in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match table.iter().find(|(old, _)| *old == label) {
            Some((_, "")) => {}
            Some((_, new)) => {
                if !out.contains(new) {
                    out.push(new);
                }
            }
            None => unknown.push(label.to_owned()),
        }
    }
    out.join("|")
}

/// The v0.1 JSON (an array of places).
pub fn read_v01(bytes: &[u8]) -> Result<Read, FileError> {
    let mut read = Read::default();
    let mut unknown = Vec::new();
    super::json::each_element(bytes, None, &mut |line, item| {
        let get = |k: &str| text(item.get(k));
        let pivot = match get("pivot") {
            p if p.is_empty() => "00000000000000".to_owned(),
            p => p,
        };
        let frais = match get("conditions_access").as_str() {
            "Gratuit" => "Gratuit",
            "Payant" => "Payant",
            "Gratuit sous condition" => "Gratuit sous condition",
            _ => "",
        }
        .to_owned();
        let r = record(
            line,
            &[
                ("id", get("id")),
                ("pivot", pivot),
                ("nom", get("nom")),
                ("commune", get("commune")),
                ("code_postal", get("code_postal")),
                ("code_insee", get("code_insee")),
                ("adresse", get("adresse")),
                ("latitude", get("latitude")),
                ("longitude", get("longitude")),
                ("telephone", phone(&get("telephone"))),
                ("courriels", get("courriel")),
                ("site_web", get("site_web")),
                ("horaires", get("horaires")),
                ("source", get("source")),
                ("date_maj", get("date_maj")),
                (
                    "services",
                    map_list(&get("services"), SERVICES_V01, &mut unknown),
                ),
                ("frais_a_charge", frais),
                (
                    "dispositif_programmes_nationaux",
                    map_list(&get("labels_nationaux"), LABELS_V01, &mut unknown),
                ),
            ],
        );
        push_converted(&mut read, r);
        unknown.sort();
        unknown.dedup();
    })?;
    unknown.sort();
    unknown.dedup();
    if !unknown.is_empty() {
        read.notices.push(format!(
            "libellés v0.1 sans équivalent dans le standard v1.0.2, ignorés : {}",
            unknown.join(", ")
        ));
    }
    read.notices
        .push("format v0.1 converti vers le standard v1.0.2 (voir docs/LIEUX.md)".into());
    Ok(read)
}

static RANGE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(\d{1,2})\s*[:h]\s*(\d{2})\s*(?:-|–|:|à)\s*(\d{1,2})\s*[:h]\s*(\d{2})").ok()
});

/// The time ranges written in a France Services day text, as `HH:MM-HH:MM`.
pub fn day_ranges(raw: &str) -> Vec<String> {
    let Some(re) = RANGE.as_ref() else {
        return Vec::new();
    };
    let cleaned = raw.replace('\u{a0}', " ");
    re.captures_iter(&cleaned)
        .filter_map(|c| {
            let n = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
            let (h1, m1, h2, m2) = (n(1)?, n(2)?, n(3)?, n(4)?);
            (h1 < 24 && h2 <= 24 && m1 < 60 && m2 < 60 && (h1, m1) < (h2, m2))
                .then(|| format!("{h1:02}:{m1:02}-{h2:02}:{m2:02}"))
        })
        .collect()
}

/// Per-day texts (Monday first) → OpenStreetMap `opening_hours`, consecutive days
/// with the same hours grouped: `Mo-Fr 09:00-12:00,13:30-17:00; Sa 09:00-12:00`.
pub fn osm_hours(days: &[String]) -> String {
    const NAMES: [&str; 7] = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];
    let ranges: Vec<Vec<String>> = days.iter().map(|d| day_ranges(d)).collect();
    let mut rules = Vec::new();
    let mut i = 0;
    while i < ranges.len() {
        let Some(r) = ranges.get(i) else { break };
        if r.is_empty() {
            i += 1;
            continue;
        }
        let mut j = i;
        while ranges.get(j + 1).is_some_and(|n| n == r) {
            j += 1;
        }
        let (a, b) = (
            NAMES.get(i).copied().unwrap_or(""),
            NAMES.get(j).copied().unwrap_or(""),
        );
        let days = if i == j {
            a.to_owned()
        } else if j == i + 1 {
            format!("{a},{b}")
        } else {
            format!("{a}-{b}")
        };
        rules.push(format!("{days} {}", r.join(",")));
        i = j + 1;
    }
    rules.join("; ")
}

/// Telephone numbers in the standard's international form: `04 50 56 87 49` →
/// `+33450568749`, `+33 0556…` → `+33556…`; a lone `+33` is no number. Anything
/// else is kept as written (and checked against the standard).
pub fn phone(raw: &str) -> String {
    let trimmed = raw.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if trimmed.starts_with('+') {
        if digits.len() <= 3 {
            return String::new();
        }
        return match digits.strip_prefix("330") {
            Some(rest) if rest.len() == 9 => format!("+33{rest}"),
            _ => format!("+{digits}"),
        };
    }
    match digits.strip_prefix('0') {
        Some(rest) if digits.len() == 10 => format!("+33{rest}"),
        _ if digits.is_empty() => String::new(),
        _ => trimmed.to_owned(),
    }
}

/// The France Services GeoJSON (a FeatureCollection of points).
pub fn read_france_services(bytes: &[u8]) -> Result<Read, FileError> {
    let mut read = Read::default();
    let mut conditional = 0;
    super::json::each_element(bytes, Some("features"), &mut |line, f| {
        let Some(p) = f.get("properties") else {
            read.refuse(Rejection {
                line,
                field: String::new(),
                reason: "objet sans propriétés".into(),
            });
            return;
        };
        let get = |k: &str| text(p.get(k));
        let days: Vec<String> = [
            "h_lundi",
            "h_mardi",
            "h_mercredi",
            "h_jeudi",
            "h_vendredi",
            "h_samedi",
        ]
        .iter()
        .map(|k| get(k))
        .collect();
        let hours = osm_hours(&days);
        if days.iter().any(|d| {
            d.contains("RDV") || d.contains("semaine") || d.contains("mois") || d.contains("//")
        }) {
            conditional += 1;
        }
        let itinerance = match get("ITINERANCE").as_str() {
            "Oui" => "Itinérant",
            "Non" => "Fixe",
            _ => "",
        }
        .to_owned();
        let postcode = get("code_postal");
        let r = record(
            line,
            &[
                ("id", format!("france-services-{}", get("MATRICULE"))),
                ("pivot", "00000000000000".to_owned()),
                (
                    "nom",
                    format!("France Services {}", get("lib_france_services")),
                ),
                ("commune", get("lib_com")),
                // 4-digit codes lost their leading zero in the source spreadsheet.
                (
                    "code_postal",
                    if postcode.len() == 4 {
                        format!("0{postcode}")
                    } else {
                        postcode
                    },
                ),
                ("code_insee", get("insee_com")),
                ("adresse", get("ADRESSE")),
                ("complement_adresse", get("COMPLEMENT.D.ADRESSE")),
                ("latitude", get("LATITUDE")),
                ("longitude", get("LONGITUDE")),
                ("typologie", "RFS".to_owned()),
                ("telephone", phone(&get("TELEPHONE"))),
                ("courriels", get("CONTACT.MAIL")),
                ("horaires", hours),
                ("source", "france-services".to_owned()),
                ("itinerance", itinerance),
                ("date_maj", "2021-04-01".to_owned()),
                (
                    "dispositif_programmes_nationaux",
                    "France Services".to_owned(),
                ),
                ("services", "Aide aux démarches administratives".to_owned()),
            ],
        );
        push_converted(&mut read, r);
    })?;
    read.notices.push(format!(
        "France Services 2021 converti vers le standard v1.0.2 ; {conditional} lieu(x) ont des horaires conditionnels (sur RDV, certaines semaines…) dont seules les plages horaires sont gardées"
    ));
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn france_services_hours_become_osm() {
        assert_eq!(
            day_ranges("9:00 - 12:00 / 13:30 - 17:00"),
            ["09:00-12:00", "13:30-17:00"]
        );
        assert_eq!(
            day_ranges("9:00– 12:30 / 13:30 - 17:30"),
            ["09:00-12:30", "13:30-17:30"]
        );
        assert_eq!(
            day_ranges("8:30 : 12:00 / 13:30 - 18:00"),
            ["08:30-12:00", "13:30-18:00"]
        );
        assert!(day_ranges("Horaires non communiqués").is_empty());
        assert!(day_ranges("-").is_empty());
        let week: Vec<String> = [
            "9:00 - 12:00 / 13:30 - 17:00",
            "9:00 - 12:00 / 13:30 - 17:00",
            "9:00 - 12:00 / 13:30 - 17:00",
            "9:00 - 12:00 / 13:30 - 17:00",
            "9:00 - 12:00",
            "9:00 - 12:00",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            osm_hours(&week),
            "Mo-Th 09:00-12:00,13:30-17:00; Fr,Sa 09:00-12:00"
        );
        assert_eq!(phone("04 50 56 87 49"), "+33450568749");
        assert_eq!(phone("0243273720"), "+33243273720");
        assert_eq!(phone("+330556498843"), "+33556498843");
        assert_eq!(phone("+33"), "");
        assert_eq!(phone("+33492532673"), "+33492532673");
    }
}
