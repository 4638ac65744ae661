//! Import of a mediator's history from the previous tool's v1 reports (CSV export):
//! every line is checked first (errors per line, the first 200 kept); with any
//! error nothing is written; otherwise the whole file in one transaction. A line
//! already imported (same v1 `id`) is skipped, so importing a file twice writes
//! nothing the second time. Each report keeps its source: `source = 'v1'`, the v1
//! id and the line as read, shown on the report's page.
//!
//! The v1 values map onto today's vocabulary where the meaning is the same; what
//! has no exact equivalent is counted « non communiqué » (age bands 18–35, 35–60
//! and 60+ straddle today's bands; « hétérogène » status), and stays readable in
//! the kept line. Columns (header required, `,` or `;`): `id`, `date`, `activite`
//! (collectif, ponctuel, individuel), `canal` (rattachement, domicile, distance,
//! autre lieu), `participants`, `themes` (separated by `|` or `,`), `duree`
//! (« 0-30 », « 30-60 », « 60-120 », « 120+ » or minutes); optional:
//! `participants_recurrents`, `age_moins_12`, `age_12_18`, `age_18_35`,
//! `age_35_60`, `age_plus_60`, `statut_etudiant`, `statut_sans_emploi`,
//! `statut_en_emploi`, `statut_retraite`, `statut_heterogene`, `code_postal`,
//! `commune`, `code_insee`, `organismes`, `annotation`.

use super::{COUNTER_MAX, Counters, Kind, Report, Source, vocab};
use crate::csv_import::{Capped, LineError};
use crate::db::Db;
use crate::db::exec::Exec;

/// The most lines one file may hold.
pub const MAX_LINES: usize = 100_000;

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub written: usize,
    pub already: usize,
}

/// v1 themes → today's thématiques.
const THEMES: &[(&str, &str)] = &[
    ("equipement informatique", "prendre_en_main_du_materiel"),
    ("smartphone", "prendre_en_main_du_materiel"),
    ("internet", "navigation_sur_internet"),
    ("courriel", "email"),
    ("contenus numeriques", "gere_ses_contenus_numeriques"),
    ("vocabulaire", "culture_numerique"),
    ("culture numerique", "culture_numerique"),
    ("divertissement", "culture_numerique"),
    ("autre", "culture_numerique"),
    ("traitement texte", "bureautique"),
    ("echanger", "reseaux_sociaux"),
    ("trouver emploi", "insertion_professionnelle"),
    ("accompagner enfant", "parentalite"),
    ("scolarite", "scolarite_et_numerique"),
    ("tpe/pme", "entrepreneuriat"),
    ("demarche en ligne", "aide_aux_demarches_administratives"),
    ("securite", "securite_numerique"),
    ("fraude et harcelement", "securite_numerique"),
    ("sante", "sante"),
    ("espace-marchand", "banque_et_achats_en_ligne"),
    ("budget", "banque_et_achats_en_ligne"),
    ("diagnostic", "diagnostic_numerique"),
];

const OPTIONAL: [&str; 16] = [
    "participants_recurrents",
    "age_moins_12",
    "age_12_18",
    "age_18_35",
    "age_35_60",
    "age_plus_60",
    "statut_etudiant",
    "statut_sans_emploi",
    "statut_en_emploi",
    "statut_retraite",
    "statut_heterogene",
    "code_postal",
    "commune",
    "code_insee",
    "organismes",
    "annotation",
];

fn date_of(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    // jj/mm/aaaa (a French spreadsheet) or aaaa-mm-jj, an optional time after.
    let day = raw.split([' ', 'T']).next().unwrap_or("");
    let iso = match day.split('/').collect::<Vec<_>>().as_slice() {
        [d, m, y] => format!("{y}-{m:0>2}-{d:0>2}"),
        _ => day.to_owned(),
    };
    crate::time_fr::parse_date(&iso)?;
    iso.chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

fn duration_of(raw: &str) -> Option<i64> {
    match raw.trim() {
        "0-30" => Some(15),
        "30-60" => Some(45),
        "60-120" => Some(90),
        "120+" | "120-" | "plus de 120" => Some(150),
        v => v
            .parse::<i64>()
            .ok()
            .filter(|m| (1..=vocab::DUREE_MAX).contains(m)),
    }
}

fn themes_of(raw: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in raw.split(['|', ',']) {
        let key = crate::mandats::search_key(t);
        if key.is_empty() {
            continue;
        }
        match THEMES
            .iter()
            .find(|(k, _)| crate::mandats::search_key(k) == key)
        {
            Some((_, v)) => {
                if !out.iter().any(|o| o == v) {
                    out.push((*v).to_owned());
                }
            }
            None => {
                return Err(format!(
                    "thème « {} » inconnu de la v1 (thèmes reconnus : {})",
                    t.trim(),
                    THEMES
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    if out.is_empty() {
        return Err("aucun thème : la colonne themes doit en contenir au moins un".into());
    }
    // Today's order of the thématiques.
    out.sort_by_key(|t| vocab::THEMATIQUES.iter().position(|(k, _)| k == t));
    Ok(out)
}

/// Checks a v1 file and, when every line is right, writes it for `mediateur_id`
/// working for `structure_id`.
pub async fn import(
    db: &Db,
    mediateur_id: i64,
    structure_id: i64,
    bytes: &[u8],
    now: i64,
) -> Result<Result<Imported, Vec<LineError>>, super::ActivityError> {
    let (mut reader, cols) = match crate::csv_import::open(
        bytes,
        [
            "id",
            "date",
            "activite",
            "canal",
            "participants",
            "themes",
            "duree",
        ],
    ) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let optional: Vec<Option<usize>> = OPTIONAL
        .iter()
        .map(|c| crate::csv_import::column(&mut reader, c))
        .collect();
    let header: Vec<String> = reader
        .headers()
        .map(|h| h.iter().map(str::to_owned).collect())
        .unwrap_or_default();
    let [c_id, c_date, c_act, c_canal, c_part, c_themes, c_duree] = cols;
    let today = super::today(now);
    let t = crate::territoires::get();
    let mut errors: Capped<LineError> = Capped::default();
    let mut planned: Vec<(Report, Source)> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for item in crate::csv_import::lines(&mut reader) {
        let (line, rec) = match item {
            Ok(x) => x,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if line > MAX_LINES + 1 {
            errors.push(LineError::new(
                line,
                format!(
                    "le fichier dépasse {MAX_LINES} lignes : découpez-le en plusieurs fichiers"
                ),
            ));
            break;
        }
        let get = |c: usize| crate::csv_import::field(&rec, c);
        let opt = |i: usize| {
            optional
                .get(i)
                .copied()
                .flatten()
                .map(|c| crate::csv_import::field(&rec, c))
                .unwrap_or_default()
        };
        let mut why: Vec<String> = Vec::new();
        let v1_id = get(c_id);
        if v1_id.is_empty() || v1_id.chars().count() > 64 {
            why.push("id manquant (l'identifiant de la ligne dans l'ancien outil)".into());
        } else if !ids.insert(v1_id.clone()) {
            why.push(format!("l'id {v1_id} figure deux fois dans le fichier"));
        }
        let date = match date_of(&get(c_date)) {
            Some(d) if d <= today && d >= 20_190_101 => d,
            _ => {
                why.push(format!(
                    "date « {} » invalide : jj/mm/aaaa, entre 2019 et aujourd'hui",
                    get(c_date)
                ));
                0
            }
        };
        let kind = match crate::mandats::search_key(&get(c_act)).as_str() {
            "collectif" => Kind::Collectif,
            "ponctuel" | "individuel" => Kind::Individuel,
            other => {
                why.push(format!(
                    "activite « {other} » inconnue : collectif, ponctuel ou individuel"
                ));
                Kind::Individuel
            }
        };
        let number = |why: &mut Vec<String>, name: &str, v: String| -> i64 {
            if v.is_empty() {
                return 0;
            }
            match v.parse::<i64>() {
                Ok(n) if (0..=COUNTER_MAX).contains(&n) => n,
                _ => {
                    why.push(format!("{name} « {v} » : un entier de 0 à {COUNTER_MAX}"));
                    0
                }
            }
        };
        let participants = number(&mut why, "participants", get(c_part));
        let recurrents = number(&mut why, "participants_recurrents", opt(0));
        if participants == 0 {
            why.push("participants : au moins 1".into());
        }
        if kind == Kind::Individuel && participants > 1 {
            why.push(format!(
                "un accompagnement individuel compte une personne, pas {participants} : indiquez « collectif »"
            ));
        }
        if recurrents > participants {
            why.push("participants_recurrents dépasse participants".into());
        }
        let mut anonymes = Counters::none();
        anonymes.total = participants;
        anonymes.deja = recurrents;
        // Exact equivalents only; the others are « non communiqué ».
        let ages = [
            number(&mut why, "age_moins_12", opt(1)),
            number(&mut why, "age_12_18", opt(2)),
            number(&mut why, "age_18_35", opt(3)),
            number(&mut why, "age_35_60", opt(4)),
            number(&mut why, "age_plus_60", opt(5)),
        ];
        if ages.iter().sum::<i64>() > participants {
            why.push("la somme des âges dépasse participants".into());
        }
        if let Some(a) = anonymes.age.get_mut(0) {
            *a = ages[0];
        }
        if let Some(a) = anonymes.age.get_mut(1) {
            *a = ages[1];
        }
        let statuts = [
            number(&mut why, "statut_etudiant", opt(6)),
            number(&mut why, "statut_sans_emploi", opt(7)),
            number(&mut why, "statut_en_emploi", opt(8)),
            number(&mut why, "statut_retraite", opt(9)),
            number(&mut why, "statut_heterogene", opt(10)),
        ];
        if statuts.iter().sum::<i64>() > participants {
            why.push("la somme des statuts dépasse participants".into());
        }
        for (i, n) in statuts.iter().take(4).enumerate() {
            if let Some(s) = anonymes.statut.get_mut(i) {
                *s = *n;
            }
        }
        let thematiques = themes_of(&get(c_themes)).unwrap_or_else(|e| {
            why.push(e);
            Vec::new()
        });
        let duree = duration_of(&get(c_duree)).unwrap_or_else(|| {
            why.push(format!(
                "duree « {} » : 0-30, 30-60, 60-120, 120+ ou un nombre de minutes",
                get(c_duree)
            ));
            0
        });
        let lieu_type = match crate::mandats::search_key(&get(c_canal)).as_str() {
            "rattachement" | "autre lieu" => "autre",
            "domicile" => "domicile",
            "distance" | "a distance" => "a_distance",
            other => {
                why.push(format!(
                    "canal « {other} » inconnu : rattachement, domicile, distance ou autre lieu"
                ));
                "a_distance"
            }
        };
        let mut commune_insee = String::new();
        if lieu_type != "a_distance" {
            let code = opt(13);
            let found = if !code.is_empty() && t.commune(&code).is_some() {
                Ok(code)
            } else {
                let text = match (opt(12), opt(11)) {
                    (c, _) if !c.is_empty() => c,
                    (_, p) => p,
                };
                if text.is_empty() {
                    Err("commune manquante : code_insee, commune ou code_postal".to_owned())
                } else {
                    t.resolve(&text).map(|c| c.code.clone())
                }
            };
            match found {
                Ok(c) => commune_insee = c,
                Err(m) => why.push(m),
            }
        }
        let organismes = opt(14);
        let annotation = opt(15);
        if annotation.chars().count() > 5_000 || organismes.chars().count() > 500 {
            why.push("annotation ou organismes trop longs".into());
        }
        if !why.is_empty() {
            errors.push(LineError::new(line, why.join(" ; ")));
            continue;
        }
        let data: serde_json::Map<String, serde_json::Value> = header
            .iter()
            .zip(rec.iter())
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(h, v)| (h.clone(), serde_json::Value::String(v.trim().to_owned())))
            .collect();
        let notes = if organismes.is_empty() {
            annotation
        } else {
            format!("{annotation}\nOrienté vers : {organismes}")
                .trim()
                .to_owned()
        };
        planned.push((
            Report {
                kind,
                date,
                duree,
                lieu_type: lieu_type.to_owned(),
                lieu_id: None,
                commune_insee,
                materiel: Vec::new(),
                thematiques,
                thematiques_admin: Vec::new(),
                precisions: String::new(),
                tags: Vec::new(),
                notes,
                autonomie: String::new(),
                orientation: if kind == Kind::Individuel && !organismes.is_empty() {
                    "autre".to_owned()
                } else {
                    String::new()
                },
                titre: if kind == Kind::Collectif {
                    "Atelier (importé de la v1)".to_owned()
                } else {
                    String::new()
                },
                niveau: String::new(),
                participants: Vec::new(),
                anonymes,
                mandat_id: None,
                pass_code: String::new(),
            },
            Source {
                tool: "v1",
                id: v1_id,
                data: serde_json::Value::Object(data).to_string(),
            },
        ));
    }
    if planned.is_empty() && errors.is_empty() {
        errors.push(LineError::new(1, "le fichier ne contient aucune ligne"));
    }
    if !errors.is_empty() {
        return Ok(Err(errors.into_lines()));
    }
    let mut tx = db.begin().await?;
    let mut done = Imported {
        written: 0,
        already: 0,
    };
    for (report, source) in &planned {
        let known = tx
            .fetch_optional(
                "SELECT id FROM activites WHERE mediateur_id = $1 AND source = 'v1' AND source_id = $2",
                crate::args![mediateur_id, &source.id],
            )
            .await?
            .is_some();
        if known {
            done.already += 1;
            continue;
        }
        super::record_in(
            &mut tx,
            mediateur_id,
            structure_id,
            report,
            Some(source),
            now,
        )
        .await?;
        done.written += 1;
    }
    tx.commit().await?;
    Ok(Ok(done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_values() {
        assert_eq!(date_of("05/03/2021"), Some(20_210_305));
        assert_eq!(date_of("2021-03-05T10:00:00"), Some(20_210_305));
        assert_eq!(date_of("31/02/2021"), None);
        assert_eq!(duration_of("0-30"), Some(15));
        assert_eq!(duration_of("120+"), Some(150));
        assert_eq!(duration_of("1500"), None);
        assert_eq!(
            themes_of("Courriel|securite|démarche en ligne|TPE/PME").unwrap(),
            [
                "aide_aux_demarches_administratives",
                "email",
                "securite_numerique",
                "entrepreneuriat"
            ]
        );
        assert!(themes_of("astrologie").is_err());
        for (_, v) in THEMES {
            assert!(vocab::find(vocab::THEMATIQUES, v).is_some(), "{v}");
        }
    }
}
