//! The starter set: twelve practical fiches written for Relais (for aidants who
//! are not mediation professionals), loaded in the demonstration with a
//! collection « Kit de l'aidant : premiers pas ». Their text is ours, licensed
//! under the Licence Ouverte 2.0.

use crate::db::Db;

/// (title, summary, Markdown body, audiences, thématiques, format).
pub type Fiche = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static str,
);

pub const FICHES: &[Fiche] = &[
    (
        "Créer une adresse e-mail avec une personne",
        "Pas à pas pour ouvrir une boîte e-mail que la personne saura utiliser seule : choix du service, de l'adresse, du mot de passe, et ce qu'elle doit garder.",
        "## Avant de commencer\n\n- Vérifiez que la personne n'a pas **déjà** une adresse (une box internet en crée souvent une).\n- Ayez son téléphone portable à portée : le service enverra un code.\n\n## Pas à pas\n\n1. Choisissez ensemble un service gratuit et connu.\n2. Proposez une adresse simple : prénom.nom, sans chiffre si possible.\n3. Laissez la personne **taper elle-même** le mot de passe ; vous ne le notez pas.\n4. Ajoutez son numéro de portable pour retrouver l'accès.\n5. Envoyez-lui un premier message, et faites-lui le lire.\n\n## À lui laisser\n\nSur un papier qu'elle garde chez elle : l'adresse e-mail et le nom du service. Jamais le mot de passe écrit par vous.\n\n## À ne pas faire\n\n- Créer l'adresse à votre nom ou avec votre numéro.\n- Garder une copie de ses identifiants.",
        &["aidants", "mediateurs"],
        &["email", "securite_numerique"],
        "fiche",
    ),
    (
        "Ce qu'un mandat Aidants Connect permet et ce qu'il interdit",
        "Le mandat vous autorise à faire certaines démarches pour une personne, pour une durée choisie avec elle. Ce qu'il couvre, ce qu'il ne couvre pas, et comment il s'arrête.",
        "## Ce que le mandat permet\n\n- Faire **les démarches cochées** (par exemple : social, logement, travail) en ligne, à la place de la personne.\n- Vous connecter à un service public **en son nom** avec Relais, sans connaître ses mots de passe.\n- Pendant la durée choisie : une seule fois, un jour, un mois, six mois ou un an.\n\n## Ce qu'il interdit\n\n- Toute démarche qui n'est pas cochée.\n- Garder ses identifiants, ses codes ou ses papiers.\n- Agir après la fin du mandat ou après sa révocation.\n\n## Comment il s'arrête\n\n- À la date prévue.\n- Quand la personne le demande (auprès de vous ou depuis son espace « Mes mandats »).\n\nChaque utilisation est inscrite dans le journal de votre structure, que la personne peut consulter.",
        &["aidants", "usagers"],
        &["aide_aux_demarches_administratives"],
        "fiche",
    ),
    (
        "Reconnaître un message d'hameçonnage",
        "Un faux message imite une banque, la CAF ou un transporteur pour voler des codes ou de l'argent. Cinq signes pour le repérer, et quoi faire.",
        "## Cinq signes\n\n1. **L'urgence** : « votre compte sera bloqué dans 24 heures ».\n2. **Une demande de code**, de mot de passe ou de numéro de carte : un vrai service ne le demande jamais par message.\n3. **L'adresse de l'expéditeur** ou du lien ne correspond pas au vrai site (regardez la fin : `.fr-securite.com` n'est pas `.fr`).\n4. **Un petit montant à payer** (frais de livraison, amende).\n5. Des fautes, ou un ton inhabituel.\n\n## Que faire\n\n- Ne pas cliquer, ne pas répondre.\n- Aller sur le site officiel en le tapant soi-même.\n- Signaler le SMS au **33700**, et le message sur le site de signalement des escroqueries.\n- Si des codes ont été donnés : appeler tout de suite la banque, changer le mot de passe.",
        &["aidants", "mediateurs", "usagers"],
        &["securite_numerique", "email", "banque_et_achats_en_ligne"],
        "fiche",
    ),
    (
        "Choisir et retenir un mot de passe solide",
        "Une phrase facile à retenir vaut mieux qu'un mot compliqué noté partout. Comment aider la personne à en choisir un, et à ne pas le réutiliser.",
        "## La méthode de la phrase\n\nProposez à la personne de choisir **quatre mots** sans lien entre eux qu'elle retiendra : `citron-velo-nuage-Lyon`. C'est long, donc solide, et facile à retenir.\n\n## Trois règles\n\n- Un mot de passe **différent** pour l'e-mail : c'est la clé de tous les autres comptes.\n- Jamais son nom, sa date de naissance, celle d'un enfant.\n- Ne jamais le dire à quelqu'un, même à vous.\n\n## Pour s'en souvenir\n\n- Un carnet rangé chez elle, pas dans le portefeuille.\n- Ou un gestionnaire de mots de passe si elle est à l'aise.\n\n## Votre rôle\n\nVous expliquez, elle choisit et tape. Tournez l'écran ou regardez ailleurs pendant qu'elle le saisit.",
        &["aidants", "mediateurs", "usagers"],
        &["securite_numerique"],
        "fiche",
    ),
    (
        "Se connecter avec FranceConnect",
        "FranceConnect permet d'entrer sur plus de mille services publics avec un compte qu'on a déjà (impots.gouv, Ameli, La Poste…). Comment l'expliquer et l'utiliser.",
        "## Le principe\n\nAu lieu de créer un compte de plus, la personne choisit un compte qu'elle a déjà : impots.gouv.fr, ameli.fr, l'Identité Numérique La Poste, MSA…\n\n## Pas à pas\n\n1. Sur le site du service, cliquer sur le bouton **« S'identifier avec FranceConnect »**.\n2. Choisir le compte que la personne connaît le mieux.\n3. Elle saisit **elle-même** son identifiant et son mot de passe.\n4. Elle revient connectée sur le service.\n\n## Si elle n'a aucun compte\n\nLe plus simple est souvent le compte des impôts (numéro fiscal sur l'avis d'imposition) ou Ameli (numéro de sécurité sociale).\n\n## Si vous faites la démarche pour elle\n\nUtilisez un mandat : avec Relais, c'est vous qui vous connectez, pour elle, sans ses mots de passe.",
        &["aidants", "mediateurs", "usagers"],
        &[
            "aide_aux_demarches_administratives",
            "navigation_sur_internet",
        ],
        "fiche",
    ),
    (
        "Accompagner sans faire à la place",
        "Aider quelqu'un à devenir autonome demande de la patience : laisser les mains sur la souris, expliquer le pourquoi, revenir sur les mêmes gestes.",
        "## Les mains de la personne\n\nLa souris et le clavier restent devant elle. Vous montrez du doigt, vous ne cliquez pas.\n\n## Une étape à la fois\n\n- Dites ce qu'on va faire avant de le faire.\n- Une seule consigne à la fois : « cliquez sur le bouton bleu en bas ».\n- Faites-lui répéter : « qu'est-ce qu'on vient de faire ? ».\n\n## Le bon vocabulaire\n\nÉvitez le jargon (« navigateur », « onglet ») ou expliquez-le avec un geste.\n\n## Savoir faire à la place\n\nQuand la personne ne peut pas apprendre tout de suite (urgence, handicap, fatigue), faites la démarche pour elle **avec un mandat**, et proposez-lui un atelier ou un lieu de médiation pour plus tard.",
        &["aidants", "mediateurs"],
        &["prendre_en_main_du_materiel", "culture_numerique"],
        "guide",
    ),
    (
        "Scanner et envoyer un justificatif avec un téléphone",
        "Photographier un document lisible, le transformer en PDF et l'envoyer en pièce jointe, sans imprimante ni scanner.",
        "## Bien photographier\n\n1. Posez le document à plat, sur une surface sombre, près d'une fenêtre.\n2. Tenez le téléphone **au-dessus**, bien parallèle.\n3. Vérifiez que les quatre coins sont visibles et le texte net.\n\n## En faire un PDF\n\nLa plupart des téléphones ont un mode « numériser un document » dans l'appareil photo ou dans l'application de fichiers : il recadre et redresse la page.\n\n## L'envoyer\n\n- Sur un site : bouton « ajouter un fichier », puis choisir le PDF.\n- Par e-mail : trombone, puis le fichier.\n\n## Attention\n\nSupprimez ensuite la photo si elle est sur **votre** téléphone : c'est un document personnel de la personne.",
        &["aidants", "mediateurs", "usagers"],
        &[
            "prendre_en_main_du_materiel",
            "aide_aux_demarches_administratives",
        ],
        "fiche",
    ),
    (
        "Protéger les données de la personne pendant un accompagnement",
        "Ce que vous voyez pendant une démarche appartient à la personne. Les gestes simples pour ne rien laisser derrière vous.",
        "## Pendant la démarche\n\n- Ne notez pas ses mots de passe ni ses codes.\n- Tournez l'écran vers elle quand elle tape un code.\n- N'utilisez pas votre téléphone pour ses documents.\n\n## Après\n\n- **Déconnectez-vous** de chaque site.\n- Fermez le navigateur ; sur un poste partagé, videz l'historique.\n- Supprimez les fichiers téléchargés (dossier « Téléchargements »).\n- Rendez les papiers, ne gardez pas de photocopie.\n\n## Ce que vous pouvez garder\n\nAvec Relais, le mandat et le journal gardent la trace de ce qui a été fait, sans les identifiants de la personne. C'est suffisant.",
        &["aidants", "mediateurs"],
        &["securite_numerique", "gere_ses_contenus_numeriques"],
        "fiche",
    ),
    (
        "Orienter vers un lieu de médiation numérique",
        "Quand la personne veut apprendre, l'orienter vers un lieu proche : comment le trouver dans l'annuaire, quoi lui dire, et ce qu'elle y trouvera.",
        "## Trouver le lieu\n\nDans Relais, « Trouver un lieu » : tapez sa commune ou son code postal. Filtrez sur ce qu'elle veut apprendre, les horaires, la gratuité.\n\n## Quoi lui remettre\n\n- Le nom et l'adresse du lieu, les horaires.\n- Le téléphone pour prendre rendez-vous.\n- Si vous en avez : un **pass numérique**, pour des ateliers payés d'avance.\n\n## Ce qu'elle y trouvera\n\nDes conseillers numériques et des médiateurs, des ateliers en groupe ou individuels, du matériel en libre accès.\n\n## Et si elle ne peut pas se déplacer\n\nSolidarité Numérique la rappelle au téléphone : formulaire « Être rappelé » ou 01 70 772 372.",
        &["aidants", "mediateurs", "collectivites"],
        &["diagnostic_numerique", "culture_numerique"],
        "fiche",
    ),
    (
        "Le pass numérique : à qui le remettre, comment l'utiliser",
        "Un carnet de pass numériques paie des ateliers dans des lieux qualifiés. Qui peut en recevoir, comment le remettre, et ce que la personne en fait.",
        "## À qui\n\nAux personnes qui veulent apprendre et pour qui le coût est un frein, repérées par un prescripteur (France Services, CCAS, Pôle emploi…).\n\n## Le remettre\n\n1. Dans Relais, « Remettre un carnet » : scannez ou tapez le code du carnet.\n2. Indiquez seulement la tranche d'âge et le critère : **rien qui permette d'identifier la personne**.\n3. Donnez-lui la liste des lieux qui acceptent le pass près de chez elle.\n\n## Ce qu'elle en fait\n\nElle présente un pass au lieu choisi ; le médiateur le scanne ; l'atelier est payé par le financeur. Les pass ont une date de validité imprimée.",
        &["aidants", "mediateurs"],
        &["diagnostic_numerique"],
        "fiche",
    ),
    (
        "Aider à prendre un rendez-vous médical en ligne",
        "Trouver un praticien, choisir un créneau, recevoir la confirmation et le rappel : les étapes et les pièges des plateformes de rendez-vous.",
        "## Avant\n\n- La personne a-t-elle une adresse e-mail et un portable ? Ils servent à confirmer le rendez-vous.\n- Préparez sa carte Vitale et sa mutuelle.\n\n## Pas à pas\n\n1. Cherchez la spécialité et la commune.\n2. Vérifiez le **secteur** et les tarifs affichés.\n3. Choisissez un créneau avec elle (transport, horaires).\n4. Créez ou ouvrez son compte ; elle tape son mot de passe.\n5. Vérifiez la confirmation par e-mail ou SMS.\n\n## Après\n\nMontrez-lui comment **annuler** si elle ne peut pas venir : un rendez-vous manqué pénalise d'autres patients.",
        &["aidants", "mediateurs", "usagers"],
        &["sante", "navigation_sur_internet"],
        "fiche",
    ),
    (
        "Mot de passe oublié : retrouver l'accès à un compte",
        "La procédure « mot de passe oublié » marche presque toujours, à condition d'avoir accès à l'e-mail ou au téléphone du compte. Comment la mener, et quand s'arrêter.",
        "## La procédure\n\n1. Sur la page de connexion, lien **« Mot de passe oublié »**.\n2. Saisir l'adresse e-mail (ou l'identifiant) du compte.\n3. Ouvrir l'e-mail reçu (vérifier les indésirables) et cliquer sur le lien, **rapidement** : il expire.\n4. La personne choisit un nouveau mot de passe et le tape elle-même.\n\n## Si elle n'a plus accès à l'e-mail\n\n- Essayez d'abord de retrouver l'e-mail (même procédure chez le fournisseur de l'adresse).\n- Sinon, le service propose souvent une vérification par courrier ou au guichet.\n\n## Quand s'arrêter\n\nNe répondez jamais aux questions secrètes à sa place, et n'inventez rien : orientez vers le guichet du service.",
        &["aidants", "mediateurs", "usagers"],
        &["securite_numerique", "email"],
        "fiche",
    ),
];

/// The demonstration's resources: the fiches published by `curator`, and the
/// collection « Kit de l'aidant : premiers pas ». Only into an empty centre.
pub async fn seed(db: &Db, curator: i64, now: i64) -> Result<(), crate::db::Error> {
    let existing = db
        .fetch_one("SELECT COUNT(*) AS n FROM ressources", crate::args![])
        .await?
        .int("n")?;
    if existing > 0 {
        return Ok(());
    }
    let auteur = super::Auteur {
        account_id: curator,
        structure_id: None,
    };
    let mut ids = Vec::new();
    for (titre, resume, corps, publics, thematiques, format) in FICHES {
        let contenu = super::Contenu {
            titre: (*titre).to_owned(),
            resume: (*resume).to_owned(),
            corps: (*corps).to_owned(),
            publics: publics.iter().map(|s| (*s).to_owned()).collect(),
            thematiques: thematiques.iter().map(|s| (*s).to_owned()).collect(),
            format: (*format).to_owned(),
            licence: "etalab-2.0".to_owned(),
            liens: Vec::new(),
        };
        let Ok(id) = super::save(db, auteur, None, &contenu, now).await? else {
            continue;
        };
        let _ = super::submit(db, auteur, id, now).await?;
        let _ = super::decide(db, curator, id, &super::Decision::Publier, now).await?;
        ids.push(id);
    }
    if let Ok(cid) = super::collections::create(
        db,
        auteur,
        "Kit de l'aidant : premiers pas",
        "Les six fiches à lire avant son premier accompagnement.",
        now,
    )
    .await?
    {
        for id in [1usize, 5, 0, 2, 7, 11] {
            if let Some(rid) = ids.get(id) {
                let _ = super::collections::set_item(db, cid, *rid, true, now).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fiches_pass_the_checks() {
        for (titre, resume, corps, publics, thematiques, format) in super::FICHES {
            let f = super::super::Form {
                titre: (*titre).into(),
                resume: (*resume).into(),
                corps: (*corps).into(),
                publics: publics.iter().map(|s| (*s).to_owned()).collect(),
                thematiques: thematiques.iter().map(|s| (*s).to_owned()).collect(),
                format: (*format).into(),
                licence: "etalab-2.0".into(),
                liens: String::new(),
            };
            let c = super::super::check(&f).unwrap_or_else(|e| panic!("{titre}: {e:?}"));
            assert_eq!(c.publics.len(), publics.len(), "{titre}");
            assert_eq!(c.thematiques.len(), thematiques.len(), "{titre}");
        }
        assert_eq!(super::FICHES.len(), 12);
    }
}
