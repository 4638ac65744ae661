//! The official communes and départements, to name places instead of showing
//! codes, and to find a commune from what people type (its name, a postcode or
//! its INSEE code).
//!
//! Source: Etalab's « découpage administratif » (npm `@etalab/decoupage-administratif`
//! 6.0.0, MIT licence, `LICENSE` beside this file), compiled by [`compile`] into the
//! compact `communes.tsv` shipped in the binary (1.7 MB, read once on first use):
//! - `C  code  nom  département  postcodes  population  EPCI` for the 34,969
//!   current communes;
//! - `A  code  nom` for the other names people use: delegated and associated
//!   communes of a merger, and the municipal arrondissements of Paris, Lyon and
//!   Marseille, each leading to the current commune;
//! - `D  code  nom  région` for the départements;
//! - `R  code  nom` for the régions.
//!
//! The test `compact_file_matches_the_official_data` recompiles the file from
//! `../shared/data/territoires` and fails if it differs.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::mandats::search_key;

const COMPACT: &str = include_str!("communes.tsv");

/// A current commune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commune {
    /// INSEE code (`89024`).
    pub code: String,
    pub nom: String,
    /// Département code (`89`, `2A`, `971`).
    pub departement: String,
    pub postcodes: Vec<String>,
    pub population: u32,
    /// SIREN of its EPCI, when it belongs to one.
    pub epci: Option<String>,
}

/// All the communes, indexed.
pub struct Territoires {
    communes: Vec<Commune>,
    by_code: HashMap<String, usize>,
    /// Search key of every name (current or former) → communes.
    by_key: HashMap<String, Vec<usize>>,
    by_postcode: HashMap<String, Vec<usize>>,
    departements: HashMap<String, String>,
    /// Région code → (name, its départements' codes).
    regions: Vec<(String, String, Vec<String>)>,
}

static TERRITOIRES: LazyLock<Territoires> = LazyLock::new(|| Territoires::parse(COMPACT));

/// The shipped communes (parsed on first use).
pub fn get() -> &'static Territoires {
    &TERRITOIRES
}

/// What a typed commune turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<'a> {
    /// Exactly one commune.
    One(&'a Commune),
    /// Several communes share this name or postcode: the person chooses.
    Several(Vec<&'a Commune>),
    /// No commune: the closest names, for « Vouliez-vous dire… ».
    Unknown(Vec<&'a Commune>),
}

impl Territoires {
    fn parse(text: &str) -> Territoires {
        let mut t = Territoires {
            communes: Vec::with_capacity(35_000),
            by_code: HashMap::with_capacity(35_000),
            by_key: HashMap::with_capacity(38_000),
            by_postcode: HashMap::with_capacity(6_500),
            departements: HashMap::with_capacity(110),
            regions: Vec::with_capacity(20),
        };
        let mut region_of = Vec::with_capacity(110);
        let mut aliases = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["C", code, nom, dep, postcodes, population, epci] => {
                    let i = t.communes.len();
                    t.communes.push(Commune {
                        code: (*code).to_owned(),
                        nom: (*nom).to_owned(),
                        departement: (*dep).to_owned(),
                        postcodes: postcodes
                            .split(',')
                            .filter(|p| !p.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        population: population.parse().unwrap_or(0),
                        epci: (!epci.is_empty()).then(|| (*epci).to_owned()),
                    });
                    t.by_code.insert((*code).to_owned(), i);
                    t.by_key.entry(search_key(nom)).or_default().push(i);
                    for p in postcodes.split(',').filter(|p| !p.is_empty()) {
                        t.by_postcode.entry((*p).to_owned()).or_default().push(i);
                    }
                }
                ["A", code, nom] => aliases.push((*code, *nom)),
                ["D", code, nom, region] => {
                    t.departements.insert((*code).to_owned(), (*nom).to_owned());
                    region_of.push(((*region).to_owned(), (*code).to_owned()));
                }
                ["R", code, nom] => {
                    t.regions
                        .push(((*code).to_owned(), (*nom).to_owned(), Vec::new()))
                }
                _ => {}
            }
        }
        for (region, dep) in region_of {
            if let Some(r) = t.regions.iter_mut().find(|r| r.0 == region) {
                r.2.push(dep);
            }
        }
        for (code, nom) in aliases {
            if let Some(&i) = t.by_code.get(code) {
                let list = t.by_key.entry(search_key(nom)).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        t
    }

    /// The current commune of an INSEE code.
    /// Every commune, in the file's order.
    pub fn communes(&self) -> &[Commune] {
        &self.communes
    }

    pub fn commune(&self, code: &str) -> Option<&Commune> {
        self.by_code
            .get(code.trim())
            .and_then(|&i| self.communes.get(i))
    }

    pub fn departement_name(&self, code: &str) -> Option<&str> {
        self.departements.get(code).map(String::as_str)
    }

    /// The régions, in the official order: (code, name, départements' codes).
    pub fn regions(&self) -> &[(String, String, Vec<String>)] {
        &self.regions
    }

    /// A région's name and départements.
    pub fn region(&self, code: &str) -> Option<(&str, &[String])> {
        self.regions
            .iter()
            .find(|r| r.0 == code)
            .map(|r| (r.1.as_str(), r.2.as_slice()))
    }

    /// The région of a département.
    pub fn region_of(&self, departement: &str) -> Option<&str> {
        self.regions
            .iter()
            .find(|r| r.2.iter().any(|d| d == departement))
            .map(|r| r.0.as_str())
    }

    /// « Auxerre (89) », or the code itself when it names no commune.
    pub fn label(&self, code: &str) -> String {
        match self.commune(code) {
            Some(c) => c.label(),
            None => code.to_owned(),
        }
    }

    fn at(&self, ids: &[usize]) -> Vec<&Commune> {
        let mut list: Vec<&Commune> = ids.iter().filter_map(|&i| self.communes.get(i)).collect();
        // The most populated first: the one people most likely mean.
        list.sort_by(|a, b| b.population.cmp(&a.population).then(a.code.cmp(&b.code)));
        list
    }

    /// The commune someone typed: a 5-digit postcode, an INSEE code (`89024`,
    /// `2A004`), or a name (accents, case, hyphens and « St » for « Saint »
    /// ignored).
    pub fn find(&self, text: &str) -> Found<'_> {
        let list = self.matching(text);
        match list.as_slice() {
            [] if is_code(text.trim()) => Found::Unknown(Vec::new()),
            [] => Found::Unknown(self.suggestions(text, 5)),
            [one] => Found::One(one),
            _ => Found::Several(list),
        }
    }

    /// The communes `text` names, the most populated first (what [`find`] decides
    /// from, without looking for close spellings: the places search needs only
    /// these).
    ///
    /// [`find`]: Territoires::find
    pub fn matching(&self, text: &str) -> Vec<&Commune> {
        let text = text.trim();
        if is_code(text) {
            let mut ids: Vec<usize> = Vec::new();
            if text.bytes().all(|b| b.is_ascii_digit())
                && let Some(list) = self.by_postcode.get(text)
            {
                ids.extend(list);
            }
            if let Some(&i) = self.by_code.get(&text.to_uppercase())
                && !ids.contains(&i)
            {
                ids.push(i);
            }
            return self.at(&ids);
        }
        let key = normalise(text);
        // « Perrigny (89) », « Perrigny 89 »: a name followed by its département.
        if let Some((name, dep)) = key.rsplit_once(' ')
            && self.departements.contains_key(&dep.to_uppercase())
            && let Some(list) = self.by_key.get(name)
        {
            let dep = dep.to_uppercase();
            let ids: Vec<usize> = list
                .iter()
                .copied()
                .filter(|&i| self.communes.get(i).is_some_and(|c| c.departement == dep))
                .collect();
            if !ids.is_empty() {
                return self.at(&ids);
            }
        }
        self.by_key
            .get(&key)
            .map_or_else(Vec::new, |list| self.at(list))
    }

    /// The `n` communes whose name is closest to `text` (edit distance on the
    /// search keys; the larger commune first among equals).
    pub fn suggestions(&self, text: &str, n: usize) -> Vec<&Commune> {
        let key = normalise(text);
        if key.is_empty() {
            return Vec::new();
        }
        // A name more than a third wrong is not a spelling mistake.
        let limit = (key.chars().count() / 3).max(1);
        let mut scored: Vec<(usize, u32, &str, usize)> = Vec::new();
        for (name, ids) in &self.by_key {
            let len_gap = name.len().abs_diff(key.len());
            if len_gap > limit {
                continue;
            }
            let d = edit_distance(&key, name);
            if d <= limit {
                for &i in ids {
                    if let Some(c) = self.communes.get(i) {
                        scored.push((d, c.population, c.code.as_str(), i));
                    }
                }
            }
        }
        scored.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
        let mut out: Vec<&Commune> = Vec::new();
        for (_, _, _, i) in scored {
            if let Some(c) = self.communes.get(i)
                && !out.iter().any(|o| o.code == c.code)
            {
                out.push(c);
                if out.len() == n {
                    break;
                }
            }
        }
        out
    }

    /// The commune typed in a form, or what to tell the person (in French): the
    /// choices when several match, the closest names when none does.
    pub fn resolve(&self, text: &str) -> Result<&Commune, String> {
        match self.find(text) {
            Found::One(c) => Ok(c),
            Found::Several(list) => {
                let shown: Vec<String> = list
                    .iter()
                    .take(8)
                    .map(|c| format!("{} (code {})", c.label(), c.code))
                    .collect();
                let more = if list.len() > 8 {
                    format!(" et {} autres", list.len() - 8)
                } else {
                    String::new()
                };
                Err(format!(
                    "Plusieurs communes correspondent : {}{more}. Précisez en ajoutant le département, par exemple « {} », ou saisissez le code INSEE.",
                    shown.join(", "),
                    list.first().map(|c| c.label()).unwrap_or_default()
                ))
            }
            Found::Unknown(suggestions) if !suggestions.is_empty() => Err(format!(
                "Commune inconnue. Vouliez-vous dire : {} ?",
                suggestions
                    .iter()
                    .map(|c| c.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Found::Unknown(_) => Err(
                "Commune inconnue : saisissez son nom, son code postal ou son code INSEE (par exemple « Auxerre », « 89000 » ou « 89024 »)."
                    .to_owned(),
            ),
        }
    }

    /// The current communes of an EPCI (by its SIREN).
    pub fn members_of(&self, epci: &str) -> Vec<&Commune> {
        self.communes
            .iter()
            .filter(|c| c.epci.as_deref() == Some(epci))
            .collect()
    }
}

impl Commune {
    /// « Auxerre (89) ».
    pub fn label(&self) -> String {
        format!("{} ({})", self.nom, self.departement)
    }
}

/// A postcode or an INSEE code (`89000`, `89024`, `2A004`) rather than a name.
fn is_code(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 5
        && (b.iter().all(u8::is_ascii_digit)
            || (b.first() == Some(&b'2')
                && matches!(b.get(1), Some(b'A' | b'B' | b'a' | b'b'))
                && b.iter().skip(2).all(u8::is_ascii_digit)))
}

/// The search key of a commune name, « St » and « Ste » read as « Saint(e) ».
fn normalise(text: &str) -> String {
    search_key(text)
        .split(' ')
        .map(|w| match w {
            "st" => "saint",
            "ste" => "sainte",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Levenshtein distance (characters), one row.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // row[j]: the distance between the prefix of `a` read so far and b[..j].
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = i;
        let mut left = i + 1;
        let mut next = Vec::with_capacity(row.len());
        next.push(left);
        for (cb, up) in b.iter().zip(row.iter().skip(1)) {
            let d = (diagonal + usize::from(ca != *cb))
                .min(up + 1)
                .min(left + 1);
            diagonal = *up;
            left = d;
            next.push(d);
        }
        row = next;
    }
    row.last().copied().unwrap_or(0)
}

/// Compiles the compact file from Etalab's JSON files (`communes.json`,
/// `epci.json`, `departements.json`, `regions.json`).
pub fn compile(
    communes: &str,
    epci: &str,
    departements: &str,
    regions: &str,
) -> Result<String, String> {
    use serde_json::Value;
    let parse = |s: &str| serde_json::from_str::<Vec<Value>>(s).map_err(|e| e.to_string());
    let communes = parse(communes)?;
    let epci = parse(epci)?;
    let departements = parse(departements)?;
    let regions = parse(regions)?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut epci_of: HashMap<String, String> = HashMap::new();
    for e in &epci {
        for m in e
            .get("membres")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            epci_of.insert(text(m, "code"), text(e, "code"));
        }
    }
    let clean = |s: String| s.replace(['\t', '\n', '\r'], " ");
    let mut out = String::with_capacity(1_800_000);
    out.push_str(
        "# Communes, from Etalab's découpage administratif 6.0.0 (MIT licence): see mod.rs\n",
    );
    // The 18 régions (the overseas collectivities have none).
    for r in regions.iter().filter(|r| text(r, "zone") != "com") {
        out.push_str(&format!(
            "R\t{}\t{}\n",
            text(r, "code"),
            clean(text(r, "nom"))
        ));
    }
    for d in &departements {
        out.push_str(&format!(
            "D\t{}\t{}\t{}\n",
            text(d, "code"),
            clean(text(d, "nom")),
            text(d, "region")
        ));
    }
    for c in &communes {
        let code = text(c, "code");
        let nom = clean(text(c, "nom"));
        match text(c, "type").as_str() {
            "commune-actuelle" => {
                let postcodes: Vec<String> = c
                    .get("codesPostaux")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect();
                out.push_str(&format!(
                    "C\t{code}\t{nom}\t{}\t{}\t{}\t{}\n",
                    text(c, "departement"),
                    postcodes.join(","),
                    c.get("population").and_then(Value::as_u64).unwrap_or(0),
                    epci_of.get(&code).map_or("", String::as_str),
                ));
            }
            "commune-deleguee" | "commune-associee" => {
                out.push_str(&format!("A\t{}\t{nom}\n", text(c, "chefLieu")));
            }
            "arrondissement-municipal" => {
                out.push_str(&format!("A\t{}\t{nom}\n", text(c, "commune")));
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_file_matches_the_official_data() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/territoires");
        let read = |f: &str| std::fs::read_to_string(dir.join(f));
        let (Ok(c), Ok(e), Ok(d), Ok(r)) = (
            read("communes.json"),
            read("epci.json"),
            read("departements.json"),
            read("regions.json"),
        ) else {
            assert!(
                std::env::var("CI").is_err(),
                "../shared/data/territoires absent en CI"
            );
            eprintln!("NOTE : ../shared/data/territoires absent, fichier compact non vérifié");
            return;
        };
        let compiled = compile(&c, &e, &d, &r).unwrap();
        if compiled != COMPACT {
            let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/territoires/communes.tsv.new");
            std::fs::write(&out, &compiled).unwrap();
            panic!(
                "communes.tsv diffère des données officielles : nouveau fichier écrit dans {}",
                out.display()
            );
        }
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("auxere", "auxerre"), 1);
        assert_eq!(edit_distance("sens", "sens"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn communes_are_found_by_name_postcode_or_code() {
        let t = get();
        let Found::One(auxerre) = t.find("auxerre") else {
            panic!("Auxerre");
        };
        assert_eq!(auxerre.code, "89024");
        assert_eq!(auxerre.label(), "Auxerre (89)");
        assert!(auxerre.population > 30_000);
        assert_eq!(t.find("89024"), Found::One(auxerre));
        let Found::Several(postcode) = t.find(" 89000 ") else {
            panic!("89000");
        };
        assert_eq!(postcode.first(), Some(&auxerre), "the largest first");
        assert_eq!(t.departement_name("89"), Some("Yonne"));
        // A postcode shared by several communes: all of them, largest first.
        let Found::Several(list) = t.find("89290") else {
            panic!("89290");
        };
        assert!(list.len() > 3 && list.iter().any(|c| c.code == "89024"));
        assert!(list.windows(2).all(|w| w[0].population >= w[1].population));
        // « St » for « Saint », accents and hyphens ignored; homonyms all listed.
        assert!(matches!(t.find("st etienne"), Found::One(c) if c.code == "42218"));
        let Found::Several(saint_martin) = t.find("saint martin") else {
            panic!("homonymes");
        };
        assert!(saint_martin.len() >= 2);
        // Corsica's codes, Paris by an arrondissement's postcode and name.
        assert!(matches!(t.find("2a004"), Found::One(c) if c.nom == "Ajaccio"));
        assert!(matches!(t.find("75011"), Found::One(c) if c.code == "75056"));
        assert!(matches!(t.find("Paris 11e Arrondissement"), Found::One(c) if c.code == "75056"));
        // A misspelt name: unknown, with the right one first among suggestions.
        let Found::Unknown(s) = t.find("Auxere") else {
            panic!("faute de frappe");
        };
        assert_eq!(s.first().map(|c| c.code.as_str()), Some("89024"));
        assert_eq!(t.find("zzzzqqq"), Found::Unknown(Vec::new()));
        assert_eq!(t.find("99999"), Found::Unknown(Vec::new()));
        // A name and its département; the messages of a form.
        assert!(matches!(t.find("Perrigny (89)"), Found::One(c) if c.code == "89295"));
        assert!(
            t.resolve("89000")
                .unwrap_err()
                .contains("Auxerre (89) (code 89024)")
        );
        assert!(
            t.resolve("Auxere")
                .unwrap_err()
                .contains("Vouliez-vous dire : Auxerre (89)")
        );
        assert_eq!(t.resolve("auxerre").map(|c| c.code.as_str()), Ok("89024"));
        // Régions and their départements.
        assert_eq!(t.regions().len(), 18);
        let (nom, deps) = t.region("27").unwrap();
        assert_eq!(nom, "Bourgogne-Franche-Comté");
        assert_eq!(deps.len(), 8);
        assert!(deps.iter().any(|d| d == "89"));
        assert_eq!(t.region_of("2A"), Some("94"));
        assert_eq!(t.region_of("971"), Some("01"));
        // EPCI members.
        let epci = auxerre.epci.clone().unwrap();
        assert!(t.members_of(&epci).iter().any(|c| c.code == "89024"));
    }
}
