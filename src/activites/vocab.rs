//! The vocabularies of activity reports (domain.md §7), kept compatible with the
//! tool mediators use today: each value is a slug (stored, exported) and a French
//! label (shown). The order of each list is the order of the forms.

/// One value of a vocabulary.
pub type Term = (&'static str, &'static str);

pub const TYPES: &[Term] = &[
    ("individuel", "Individuel"),
    ("collectif", "Collectif (atelier)"),
];

/// Durations offered as one choice (minutes).
pub const DUREES: &[i64] = &[15, 30, 45, 60, 90, 120];
/// The longest duration a report may have: 23 h 59.
pub const DUREE_MAX: i64 = 23 * 60 + 59;

pub const LIEU_TYPES: &[Term] = &[
    ("lieu_activite", "Dans un de mes lieux d'activité"),
    ("domicile", "Au domicile de la personne"),
    ("autre", "Dans un autre lieu"),
    ("a_distance", "À distance"),
];

pub const MATERIELS: &[Term] = &[
    ("ordinateur", "Ordinateur"),
    ("telephone", "Téléphone"),
    ("tablette", "Tablette"),
    ("autre", "Autre matériel"),
    ("aucun", "Pas de matériel"),
];

/// The key that unlocks the administrative thématiques.
pub const DEMARCHES_ADMINISTRATIVES: &str = "aide_aux_demarches_administratives";

/// The 19 thématiques, in the order of the form (the most frequent first).
pub const THEMATIQUES: &[Term] = &[
    (
        DEMARCHES_ADMINISTRATIVES,
        "Aide aux démarches administratives",
    ),
    ("prendre_en_main_du_materiel", "Prendre en main du matériel"),
    ("navigation_sur_internet", "Navigation sur internet"),
    ("email", "E-mail"),
    ("securite_numerique", "Sécurité numérique"),
    (
        "gere_ses_contenus_numeriques",
        "Gérer ses contenus numériques",
    ),
    ("bureautique", "Bureautique"),
    ("sante", "Santé"),
    ("banque_et_achats_en_ligne", "Banque et achats en ligne"),
    ("insertion_professionnelle", "Insertion professionnelle"),
    ("reseaux_sociaux", "Réseaux sociaux"),
    ("diagnostic_numerique", "Diagnostic numérique"),
    ("maintenance_de_materiel", "Maintenance de matériel"),
    ("parentalite", "Parentalité"),
    ("scolarite_et_numerique", "Scolarité et numérique"),
    ("creer_avec_le_numerique", "Créer avec le numérique"),
    ("culture_numerique", "Culture numérique"),
    ("intelligence_artificielle", "Intelligence artificielle"),
    ("entrepreneuriat", "Accompagner un professionnel"),
];

/// The administrative thématiques: the ten démarches of Aidants Connect plus
/// associations.
pub const THEMATIQUES_ADMIN: &[Term] = &[
    ("papiers", "Papiers - Citoyenneté - Élections"),
    ("famille", "Famille - Scolarité"),
    ("social", "Social - Santé"),
    ("travail", "Travail - Formation"),
    ("logement", "Logement"),
    ("transports", "Transports - Mobilité"),
    ("argent", "Argent - Impôts - Consommation"),
    ("justice", "Justice"),
    ("etranger", "Étranger - Europe"),
    ("loisirs", "Loisirs - Sport - Culture"),
    ("associations", "Associations"),
];

pub const AUTONOMIES: &[Term] = &[
    ("entierement_accompagne", "Avec guidage"),
    (
        "partiellement_autonome",
        "Autonome avec guidage en cas de besoin",
    ),
    ("autonome", "Autonome"),
];

pub const ORIENTATIONS: &[Term] = &[
    ("administration", "Une administration"),
    ("mediation_numerique", "Un lieu de médiation numérique"),
    (
        "operateur_ou_organisme_en_charge",
        "L'opérateur ou l'organisme en charge de la démarche",
    ),
    ("aide_sociale", "Une structure d'aide sociale"),
    (
        "insertion_professionnelle",
        "Une structure d'insertion professionnelle",
    ),
    (
        "aide_aux_demarches_administratives",
        "Une structure d'aide aux démarches administratives",
    ),
    ("autre", "Autre"),
];

pub const NIVEAUX: &[Term] = &[
    ("debutant", "Débutant"),
    ("intermediaire", "Intermédiaire"),
    ("avance", "Avancé"),
];

pub const NON_COMMUNIQUE: Term = ("non_communique", "Non communiqué");

/// Genres, without « non communiqué » (the remainder of a counter).
pub const GENRES: &[Term] = &[("masculin", "Masculin"), ("feminin", "Féminin")];

/// Age bands, without « non communiqué ».
pub const AGES: &[Term] = &[
    ("moins_de_douze", "Moins de 12 ans"),
    ("douze_dix_huit", "12 à 18 ans"),
    ("dix_huit_vingt_quatre", "18 à 24 ans"),
    ("vingt_cinq_trente_neuf", "25 à 39 ans"),
    ("quarante_cinquante_neuf", "40 à 59 ans"),
    ("soixante_soixante_neuf", "60 à 69 ans"),
    ("soixante_dix_plus", "70 ans et plus"),
];

/// Social statuses, without « non communiqué ».
pub const STATUTS: &[Term] = &[
    ("scolarise", "Scolarisé"),
    ("sans_emploi", "Sans emploi"),
    ("en_emploi", "En emploi"),
    ("retraite", "Retraité"),
];

/// Duration buckets of the statistics.
pub const DUREE_TRANCHES: &[Term] = &[
    ("moins_30", "Moins de 30 min"),
    ("30_60", "30 min à 1 h"),
    ("60_120", "1 h à 2 h"),
    ("plus_120", "2 h et plus"),
];

pub fn duree_tranche(minutes: i64) -> &'static str {
    match minutes {
        m if m < 30 => "moins_30",
        m if m < 60 => "30_60",
        m if m < 120 => "60_120",
        _ => "plus_120",
    }
}

/// The age band of someone born in `birth_year`, at the year of the activity.
pub fn age_band(birth_year: i64, at_year: i64) -> &'static str {
    match at_year - birth_year {
        a if a < 12 => "moins_de_douze",
        a if a < 18 => "douze_dix_huit",
        a if a < 25 => "dix_huit_vingt_quatre",
        a if a < 40 => "vingt_cinq_trente_neuf",
        a if a < 60 => "quarante_cinquante_neuf",
        a if a < 70 => "soixante_soixante_neuf",
        _ => "soixante_dix_plus",
    }
}

/// The label of `slug` in `list` (« non communiqué » included), or the slug itself.
pub fn label(list: &[Term], slug: &str) -> &'static str {
    list.iter()
        .chain(std::iter::once(&NON_COMMUNIQUE))
        .find(|(k, _)| *k == slug)
        .map(|(_, l)| *l)
        .unwrap_or("Autre")
}

/// The slug of `raw` if `list` has it.
pub fn find(list: &[Term], raw: &str) -> Option<&'static str> {
    list.iter().find(|(k, _)| *k == raw).map(|(k, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_are_complete_and_unique() {
        assert_eq!(THEMATIQUES.len(), 19);
        assert_eq!(THEMATIQUES_ADMIN.len(), 11);
        for list in [
            THEMATIQUES,
            THEMATIQUES_ADMIN,
            MATERIELS,
            LIEU_TYPES,
            AGES,
            STATUTS,
        ] {
            let mut keys: Vec<_> = list.iter().map(|(k, _)| *k).collect();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), list.len());
        }
        // The administrative thématiques are the démarches of Aidants Connect.
        for d in crate::mandats::Demarche::ALL {
            assert_eq!(label(THEMATIQUES_ADMIN, d.key()), d.title(), "{}", d.key());
        }
        assert_eq!(age_band(2000, 2026), "vingt_cinq_trente_neuf");
        assert_eq!(age_band(2015, 2026), "moins_de_douze");
        assert_eq!(age_band(1950, 2026), "soixante_dix_plus");
        assert_eq!(duree_tranche(29), "moins_30");
        assert_eq!(duree_tranche(120), "plus_120");
    }
}
