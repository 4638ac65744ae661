//! The activity form as typed (repeated checkboxes, so read from the raw body) and
//! its checks: every error is tied to its field, in plain French.

use super::{COUNTER_MAX, Counters, Kind, Report, vocab};
use crate::web::forms::FormErrors;

/// The form's values as submitted (kept to show the form again with its errors).
#[derive(Debug, Clone, Default)]
pub struct Raw {
    pub date: String,
    pub duree: String,
    pub duree_h: String,
    pub duree_min: String,
    pub lieu_type: String,
    pub lieu: String,
    pub commune: String,
    pub materiel: Vec<String>,
    pub thematiques: Vec<String>,
    pub thematiques_admin: Vec<String>,
    pub precisions: String,
    pub tags: String,
    pub notes: String,
    pub autonomie: String,
    pub oriente: String,
    pub orientation: String,
    pub titre: String,
    pub niveau: String,
    pub beneficiaire: String,
    pub participants: Vec<String>,
    pub mandat: String,
    pub anon_total: String,
    pub anon_deja: String,
    /// Individual anonymous person: one value each.
    pub anon_genre: String,
    pub anon_age: String,
    pub anon_statut: String,
    /// Collective counters, by slug.
    pub counts: Vec<(String, String)>,
}

impl Raw {
    pub fn parse(body: &[u8]) -> Raw {
        let mut f = Raw::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "date" => f.date = v,
                "duree" => f.duree = v,
                "duree_h" => f.duree_h = v,
                "duree_min" => f.duree_min = v,
                "lieu_type" => f.lieu_type = v,
                "lieu" => f.lieu = v,
                "commune" => f.commune = v,
                "materiel" => f.materiel.push(v),
                "thematique" => f.thematiques.push(v),
                "thematique_admin" => f.thematiques_admin.push(v),
                "precisions" => f.precisions = v,
                "tags" => f.tags = v,
                "notes" => f.notes = v,
                "autonomie" => f.autonomie = v,
                "oriente" => f.oriente = v,
                "orientation" => f.orientation = v,
                "titre" => f.titre = v,
                "niveau" => f.niveau = v,
                "beneficiaire" => f.beneficiaire = v,
                "participant" => f.participants.push(v),
                "mandat" => f.mandat = v,
                "anon_total" => f.anon_total = v,
                "anon_deja" => f.anon_deja = v,
                "anon_genre" => f.anon_genre = v,
                "anon_age" => f.anon_age = v,
                "anon_statut" => f.anon_statut = v,
                other => {
                    let known = ["genre_", "age_", "statut_"]
                        .iter()
                        .any(|p| other.starts_with(p));
                    if known && f.counts.len() < 64 {
                        f.counts.push((other.to_owned(), v));
                    }
                }
            }
        }
        f
    }

    /// The form of a stored report (to edit it).
    pub fn from_report(r: &Report) -> Raw {
        let preset = vocab::DUREES.contains(&r.duree);
        let mut counts = Vec::new();
        if r.kind == Kind::Collectif {
            for (prefix, list, values) in [
                ("genre_", vocab::GENRES, &r.anonymes.genre),
                ("age_", vocab::AGES, &r.anonymes.age),
                ("statut_", vocab::STATUTS, &r.anonymes.statut),
            ] {
                for ((slug, _), n) in list.iter().zip(values.iter()) {
                    counts.push((format!("{prefix}{slug}"), n.to_string()));
                }
            }
        }
        let single = |list: &[vocab::Term], values: &[i64]| -> String {
            list.iter()
                .zip(values.iter())
                .find(|(_, n)| **n > 0)
                .map(|((k, _), _)| (*k).to_owned())
                .unwrap_or_else(|| vocab::NON_COMMUNIQUE.0.to_owned())
        };
        let individual_anon = r.kind == Kind::Individuel && r.participants.is_empty();
        Raw {
            date: super::date_iso(r.date),
            duree: if preset {
                r.duree.to_string()
            } else {
                "autre".into()
            },
            duree_h: if preset {
                String::new()
            } else {
                (r.duree / 60).to_string()
            },
            duree_min: if preset {
                String::new()
            } else {
                (r.duree % 60).to_string()
            },
            lieu_type: r.lieu_type.clone(),
            lieu: r.lieu_id.map(|l| l.to_string()).unwrap_or_default(),
            commune: if r.commune_insee.is_empty() || r.lieu_type == "lieu_activite" {
                String::new()
            } else {
                crate::territoires::get().label(&r.commune_insee)
            },
            materiel: r.materiel.clone(),
            thematiques: r.thematiques.clone(),
            thematiques_admin: r.thematiques_admin.clone(),
            precisions: r.precisions.clone(),
            tags: r.tags.join(", "),
            notes: r.notes.clone(),
            autonomie: r.autonomie.clone(),
            oriente: if r.kind == Kind::Individuel {
                if r.orientation.is_empty() {
                    "non".into()
                } else {
                    "oui".into()
                }
            } else {
                String::new()
            },
            orientation: r.orientation.clone(),
            titre: r.titre.clone(),
            niveau: r.niveau.clone(),
            beneficiaire: r
                .participants
                .first()
                .filter(|_| r.kind == Kind::Individuel)
                .map(|b| b.to_string())
                .unwrap_or_default(),
            participants: if r.kind == Kind::Collectif {
                r.participants.iter().map(i64::to_string).collect()
            } else {
                Vec::new()
            },
            mandat: r.mandat_id.map(|m| m.to_string()).unwrap_or_default(),
            anon_total: if r.kind == Kind::Collectif {
                r.anonymes.total.to_string()
            } else {
                String::new()
            },
            anon_deja: if r.kind == Kind::Collectif {
                r.anonymes.deja.to_string()
            } else if individual_anon && r.anonymes.deja > 0 {
                "1".into()
            } else {
                String::new()
            },
            anon_genre: if individual_anon {
                single(vocab::GENRES, &r.anonymes.genre)
            } else {
                String::new()
            },
            anon_age: if individual_anon {
                single(vocab::AGES, &r.anonymes.age)
            } else {
                String::new()
            },
            anon_statut: if individual_anon {
                single(vocab::STATUTS, &r.anonymes.statut)
            } else {
                String::new()
            },
            counts,
        }
    }

    pub fn count(&self, name: &str) -> &str {
        self.counts
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub fn has_materiel(&self, k: &str) -> bool {
        self.materiel.iter().any(|m| m == k)
    }
    pub fn has_thematique(&self, k: &str) -> bool {
        self.thematiques.iter().any(|m| m == k)
    }
    pub fn has_thematique_admin(&self, k: &str) -> bool {
        self.thematiques_admin.iter().any(|m| m == k)
    }
    pub fn has_participant(&self, id: &i64) -> bool {
        let id = id.to_string();
        self.participants.contains(&id)
    }
}

fn text(
    errors: &mut FormErrors,
    field: &'static str,
    v: &str,
    max: usize,
    multiline: bool,
) -> String {
    let v = v.trim();
    let bad = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t'));
    if v.chars().count() > max || v.chars().any(bad) {
        errors.add(
            field,
            format!(
                "Ce texte est trop long ou contient des caractères non autorisés ({max} caractères au plus)."
            ),
        );
    }
    v.to_owned()
}

fn number(errors: &mut FormErrors, field: &'static str, v: &str, what: &str) -> i64 {
    let v = v.trim();
    if v.is_empty() {
        return 0;
    }
    match v.parse::<i64>() {
        Ok(n) if (0..=COUNTER_MAX).contains(&n) => n,
        _ => {
            errors.add(
                field,
                format!("{what} : saisissez un nombre entier entre 0 et {COUNTER_MAX}."),
            );
            0
        }
    }
}

fn slugs(
    errors: &mut FormErrors,
    field: &'static str,
    raw: &[String],
    list: &[vocab::Term],
    message: &'static str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, _) in list {
        if raw.iter().any(|r| r == k) {
            out.push((*k).to_owned());
        }
    }
    if raw.iter().any(|r| vocab::find(list, r).is_none()) {
        errors.add(field, message);
    }
    out
}

/// Checks the form of a `kind` report; `today` is `YYYYMMDD`.
pub fn check(raw: &Raw, kind: Kind, today: i64, errors: &mut FormErrors) -> Option<Report> {
    let before = errors.len();
    // Date: not in the future, not before the programme (2019).
    let date = match crate::time_fr::parse_date(&raw.date) {
        _ if raw.date.trim().is_empty() => {
            errors.add("date", "Saisissez la date de l'activité.");
            0
        }
        Some(_) => {
            let digits: String = raw
                .date
                .trim()
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let d = digits.parse::<i64>().unwrap_or(0);
            if d > today {
                errors.add(
                    "date",
                    "La date est dans le futur : saisissez la date du jour où l'activité a eu lieu.",
                );
            } else if d < 20_190_101 {
                errors.add("date", "Saisissez une date à partir du 1er janvier 2019.");
            }
            d
        }
        None => {
            errors.add(
                "date",
                "Cette date n'est pas valide : saisissez-la sous la forme jj/mm/aaaa, par exemple 04/12/2026.",
            );
            0
        }
    };
    // Duration: a preset, a frequent one, or hours and minutes.
    let duree = match raw.duree.as_str() {
        "" => {
            errors.add("duree", "Choisissez la durée de l'activité.");
            0
        }
        "autre" => {
            let h = raw.duree_h.trim();
            let m = raw.duree_min.trim();
            match (
                if h.is_empty() {
                    Ok(0)
                } else {
                    h.parse::<i64>()
                },
                if m.is_empty() {
                    Ok(0)
                } else {
                    m.parse::<i64>()
                },
            ) {
                (Ok(h), Ok(m))
                    if (0..=23).contains(&h) && (0..=59).contains(&m) && h * 60 + m > 0 =>
                {
                    h * 60 + m
                }
                _ => {
                    errors.add(
                        "duree",
                        "Saisissez une durée entre 1 minute et 23 h 59 : les heures de 0 à 23, les minutes de 0 à 59.",
                    );
                    0
                }
            }
        }
        v => match v.parse::<i64>() {
            Ok(n) if (1..=vocab::DUREE_MAX).contains(&n) => n,
            _ => {
                errors.add("duree", "Choisissez la durée dans la liste.");
                0
            }
        },
    };
    // Where.
    let lieu_type = match vocab::find(vocab::LIEU_TYPES, &raw.lieu_type) {
        Some(k) => k.to_owned(),
        None => {
            errors.add("lieu_type", "Choisissez où l'activité a eu lieu.");
            String::new()
        }
    };
    let mut lieu_id = None;
    let mut commune_insee = String::new();
    match lieu_type.as_str() {
        "lieu_activite" => match raw.lieu.trim().parse::<i64>() {
            Ok(id) if id > 0 => lieu_id = Some(id),
            _ => errors.add("lieu", "Choisissez le lieu d'activité dans la liste."),
        },
        "domicile" | "autre" => {
            if raw.commune.trim().is_empty() {
                errors.add(
                    "commune",
                    "Saisissez la commune (son nom ou son code postal) où l'activité a eu lieu.",
                );
            } else {
                match crate::territoires::get().resolve(&raw.commune) {
                    Ok(c) => commune_insee = c.code.clone(),
                    Err(m) => errors.add("commune", m),
                }
            }
        }
        _ => {}
    }
    let materiel = slugs(
        errors,
        "materiel",
        &raw.materiel,
        vocab::MATERIELS,
        "Choisissez le matériel dans la liste.",
    );
    let thematiques = slugs(
        errors,
        "thematiques",
        &raw.thematiques,
        vocab::THEMATIQUES,
        "Choisissez les thématiques dans la liste.",
    );
    if thematiques.is_empty() && errors.get("thematiques").is_none() {
        errors.add("thematiques", "Cochez au moins une thématique.");
    }
    let admin_on = thematiques
        .iter()
        .any(|t| t == vocab::DEMARCHES_ADMINISTRATIVES);
    let thematiques_admin = slugs(
        errors,
        "thematiques_admin",
        &raw.thematiques_admin,
        vocab::THEMATIQUES_ADMIN,
        "Choisissez les démarches dans la liste.",
    );
    if !admin_on && !thematiques_admin.is_empty() {
        errors.add(
            "thematiques_admin",
            "Vous avez précisé une démarche administrative : cochez aussi la thématique « Aide aux démarches administratives », ou décochez la démarche.",
        );
    }
    let precisions = text(errors, "precisions", &raw.precisions, 500, false);
    let precisions = if admin_on { precisions } else { String::new() };
    let mut tags = Vec::new();
    for t in raw.tags.split(',') {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > 40 || t.chars().any(char::is_control) || tags.len() >= 10 {
            errors.add(
                "tags",
                "Saisissez au plus 10 étiquettes de 40 caractères, séparées par des virgules.",
            );
            break;
        }
        let t = t.to_lowercase();
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let notes = text(errors, "notes", &raw.notes, 5_000, true);
    let mandat_id = match raw.mandat.trim() {
        "" => None,
        v => match v.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                errors.add("mandat", "Choisissez le mandat dans la liste.");
                None
            }
        },
    };
    let mut autonomie = String::new();
    let mut orientation = String::new();
    let mut titre = String::new();
    let mut niveau = String::new();
    let mut participants = Vec::new();
    let mut anonymes = Counters::none();
    match kind {
        Kind::Individuel => {
            if !raw.autonomie.is_empty() {
                match vocab::find(vocab::AUTONOMIES, &raw.autonomie) {
                    Some(a) => autonomie = a.to_owned(),
                    None => errors.add(
                        "autonomie",
                        "Choisissez le niveau d'autonomie dans la liste.",
                    ),
                }
            }
            match raw.oriente.as_str() {
                "" | "non" => {}
                "oui" => match vocab::find(vocab::ORIENTATIONS, &raw.orientation) {
                    Some(o) => orientation = o.to_owned(),
                    None => errors.add(
                        "orientation",
                        "Choisissez vers quel type de structure la personne a été orientée.",
                    ),
                },
                _ => errors.add("oriente", "Répondez oui ou non."),
            }
            match raw.beneficiaire.trim() {
                "" => {
                    anonymes.total = 1;
                    anonymes.deja = i64::from(raw.anon_deja == "1");
                    for (field, list, slot) in [
                        ("anon_genre", vocab::GENRES, &mut anonymes.genre),
                        ("anon_age", vocab::AGES, &mut anonymes.age),
                        ("anon_statut", vocab::STATUTS, &mut anonymes.statut),
                    ] {
                        let v = match field {
                            "anon_genre" => &raw.anon_genre,
                            "anon_age" => &raw.anon_age,
                            _ => &raw.anon_statut,
                        };
                        if v.is_empty() || v == vocab::NON_COMMUNIQUE.0 {
                            continue;
                        }
                        match list.iter().position(|(k, _)| k == v) {
                            Some(i) => {
                                if let Some(s) = slot.get_mut(i) {
                                    *s = 1;
                                }
                            }
                            None => errors.add(field, "Choisissez une valeur de la liste."),
                        }
                    }
                }
                v => match v.parse::<i64>() {
                    Ok(id) if id > 0 => participants.push(id),
                    _ => errors.add(
                        "beneficiaire",
                        "Choisissez la personne dans la liste, ou « Personne anonyme ».",
                    ),
                },
            }
        }
        Kind::Collectif => {
            titre = text(errors, "titre", &raw.titre, 200, false);
            if titre.is_empty() && errors.get("titre").is_none() {
                errors.add("titre", "Saisissez le titre de l'atelier.");
            }
            if !raw.niveau.is_empty() {
                match vocab::find(vocab::NIVEAUX, &raw.niveau) {
                    Some(n) => niveau = n.to_owned(),
                    None => errors.add("niveau", "Choisissez le niveau dans la liste."),
                }
            }
            for p in &raw.participants {
                match p.trim().parse::<i64>() {
                    Ok(id) if id > 0 => {
                        if !participants.contains(&id) {
                            participants.push(id);
                        }
                    }
                    _ => {
                        errors.add("participants", "Choisissez les participants dans la liste.");
                        break;
                    }
                }
            }
            anonymes.total = number(
                errors,
                "anon_total",
                &raw.anon_total,
                "Participants anonymes",
            );
            anonymes.deja = number(errors, "anon_deja", &raw.anon_deja, "Déjà accompagnés");
            if anonymes.deja > anonymes.total {
                errors.add(
                    "anon_deja",
                    format!(
                        "Les participants déjà accompagnés ({}) ne peuvent pas dépasser le nombre de participants anonymes ({}).",
                        anonymes.deja, anonymes.total
                    ),
                );
            }
            for (prefix, field, what, list) in [
                ("genre_", "genre", "genre", vocab::GENRES),
                ("age_", "age", "tranche d'âge", vocab::AGES),
                ("statut_", "statut", "statut", vocab::STATUTS),
            ] {
                let mut values = Vec::with_capacity(list.len());
                for (slug, label) in list {
                    values.push(number(
                        errors,
                        field,
                        raw.count(&format!("{prefix}{slug}")),
                        label,
                    ));
                }
                let sum: i64 = values.iter().sum();
                if sum > anonymes.total {
                    errors.add(
                        field,
                        format!(
                            "La répartition par {what} compte {sum} personnes, plus que les {} participants anonymes : corrigez les nombres (le reste est compté « non communiqué »).",
                            anonymes.total
                        ),
                    );
                }
                match field {
                    "genre" => anonymes.genre = values,
                    "age" => anonymes.age = values,
                    _ => anonymes.statut = values,
                }
            }
            if participants.is_empty() && anonymes.total == 0 && errors.get("anon_total").is_none()
            {
                errors.add(
                    "anon_total",
                    "Indiquez au moins un participant : choisissez des personnes suivies ou saisissez le nombre de participants anonymes.",
                );
            }
        }
    }
    (errors.len() == before).then_some(Report {
        kind,
        date,
        duree,
        lieu_type,
        lieu_id,
        commune_insee,
        materiel,
        thematiques,
        thematiques_admin,
        precisions,
        tags,
        notes,
        autonomie,
        orientation,
        titre,
        niveau,
        participants,
        anonymes,
        mandat_id,
        pass_code: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(body: &str) -> Raw {
        Raw::parse(body.as_bytes())
    }

    #[test]
    fn a_frequent_individual_accompaniment_passes() {
        let mut e = FormErrors::default();
        let r = check(
            &raw("date=2026-12-03&duree=30&lieu_type=a_distance&materiel=telephone&thematique=email&thematique=aide_aux_demarches_administratives&thematique_admin=social&autonomie=autonome&oriente=non"),
            Kind::Individuel,
            20_261_204,
            &mut e,
        )
        .unwrap();
        assert!(e.is_empty());
        assert_eq!(r.date, 20_261_203);
        assert_eq!(
            r.thematiques,
            ["aide_aux_demarches_administratives", "email"]
        );
        assert_eq!(r.anonymes.total, 1);
        assert_eq!(r.accompagnements(), 1);
    }

    #[test]
    fn each_rule_has_its_field() {
        let cases = [
            ("date=2027-01-01", "date"),
            ("date=2026-02-30", "date"),
            ("duree=autre&duree_h=24", "duree"),
            ("duree=autre&duree_h=0&duree_min=0", "duree"),
            ("lieu_type=lune", "lieu_type"),
            ("lieu_type=domicile", "commune"),
            ("lieu_type=lieu_activite", "lieu"),
            ("thematique=inconnue", "thematiques"),
            (
                "thematique=email&thematique_admin=social",
                "thematiques_admin",
            ),
            ("oriente=oui", "orientation"),
        ];
        for (body, field) in cases {
            let mut e = FormErrors::default();
            assert!(check(&raw(body), Kind::Individuel, 20_261_204, &mut e).is_none());
            assert!(e.get(field).is_some(), "{body}: {:?}", e.list());
        }
    }

    #[test]
    fn no_breakdown_exceeds_the_total() {
        let base = "date=2026-12-01&duree=120&lieu_type=a_distance&thematique=email&titre=Atelier";
        let mut e = FormErrors::default();
        let ok = check(
            &raw(&format!("{base}&anon_total=10&anon_deja=4&genre_feminin=6&genre_masculin=3&age_soixante_soixante_neuf=10")),
            Kind::Collectif,
            20_261_204,
            &mut e,
        )
        .unwrap();
        assert_eq!(ok.anonymes.remainder(&ok.anonymes.genre), 1);
        assert_eq!(ok.anonymes.remainder(&ok.anonymes.age), 0);
        for (extra, field) in [
            ("&anon_total=10&genre_feminin=6&genre_masculin=5", "genre"),
            ("&anon_total=3&age_moins_de_douze=4", "age"),
            ("&anon_total=3&anon_deja=4", "anon_deja"),
            ("&anon_total=10001", "anon_total"),
            ("", "anon_total"),
        ] {
            let mut e = FormErrors::default();
            assert!(
                check(
                    &raw(&format!("{base}{extra}")),
                    Kind::Collectif,
                    20_261_204,
                    &mut e
                )
                .is_none()
            );
            assert!(e.get(field).is_some(), "{extra}: {:?}", e.list());
        }
    }
}
