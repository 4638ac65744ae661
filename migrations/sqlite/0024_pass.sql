-- Pass numérique: funders and their people, orders (restrictions, payment, the
-- expiry workflow's dates), carnets (allocation to a prescripteur, hand-out),
-- pass (unguessable codes), qualified places (once per SIRET), redemptions (at
-- most one that is not cancelled per pass: a partial unique index, so concurrent
-- scans on several servers cannot both succeed), monthly statements per place,
-- and per-month counters kept in the redemption's transaction for dashboards.
CREATE TABLE pass_financeurs (
    id INTEGER PRIMARY KEY,
    nom TEXT NOT NULL,
    type TEXT NOT NULL,
    siret TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE pass_financeur_membres (
    financeur_id INTEGER NOT NULL REFERENCES pass_financeurs(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (financeur_id, account_id)
);
CREATE INDEX pass_financeur_membres_account ON pass_financeur_membres(account_id);
CREATE TABLE pass_prescripteurs (
    structure_id INTEGER PRIMARY KEY REFERENCES structures(id),
    created_at INTEGER NOT NULL
);
CREATE TABLE pass_commandes (
    id INTEGER PRIMARY KEY,
    financeur_id INTEGER NOT NULL REFERENCES pass_financeurs(id),
    carnets INTEGER NOT NULL,
    pass_par_carnet INTEGER NOT NULL CHECK (pass_par_carnet IN (5, 10)),
    valeur_centimes INTEGER NOT NULL,
    territoire_type TEXT NOT NULL CHECK (territoire_type IN ('communes', 'epci', 'departements')),
    territoire TEXT NOT NULL,
    debut INTEGER NOT NULL,
    fin INTEGER NOT NULL,
    publics TEXT NOT NULL DEFAULT '',
    services TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES accounts(id),
    paiement_le INTEGER,
    paiement_reference TEXT NOT NULL DEFAULT '',
    alerte_le INTEGER,
    blocage_le INTEGER,
    rappel_le INTEGER,
    accuse_le INTEGER,
    bilan_le INTEGER,
    bilan_financeur_le INTEGER,
    bilan_operateur_le INTEGER,
    avoir_centimes INTEGER,
    avoir_le INTEGER
);
CREATE INDEX pass_commandes_financeur ON pass_commandes(financeur_id);
CREATE TABLE pass_carnets (
    id INTEGER PRIMARY KEY,
    commande_id INTEGER NOT NULL REFERENCES pass_commandes(id),
    numero INTEGER NOT NULL,
    prescripteur_id INTEGER REFERENCES structures(id),
    alloue_le INTEGER,
    remis_le INTEGER,
    remis_date INTEGER,
    remis_par INTEGER REFERENCES accounts(id),
    tranche_age TEXT NOT NULL DEFAULT '',
    critere TEXT NOT NULL DEFAULT '',
    utilises INTEGER NOT NULL DEFAULT 0,
    UNIQUE (commande_id, numero)
);
CREATE INDEX pass_carnets_prescripteur ON pass_carnets(prescripteur_id);
CREATE TABLE pass (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    carnet_id INTEGER NOT NULL REFERENCES pass_carnets(id),
    commande_id INTEGER NOT NULL REFERENCES pass_commandes(id),
    rang INTEGER NOT NULL
);
CREATE INDEX pass_carnet ON pass(carnet_id);
CREATE TABLE pass_lieux (
    id INTEGER PRIMARY KEY,
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    siret TEXT NOT NULL UNIQUE,
    lieu_id INTEGER REFERENCES lieux(id),
    commune_insee TEXT NOT NULL,
    services TEXT NOT NULL,
    reponses TEXT NOT NULL,
    iban TEXT NOT NULL,
    bic TEXT NOT NULL,
    titulaire TEXT NOT NULL,
    statut TEXT NOT NULL CHECK (statut IN ('demande', 'qualifie', 'refuse')),
    motif TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES accounts(id),
    decide_le INTEGER,
    decide_par INTEGER REFERENCES accounts(id)
);
CREATE INDEX pass_lieux_structure ON pass_lieux(structure_id);
CREATE TABLE pass_utilisations (
    id INTEGER PRIMARY KEY,
    pass_id INTEGER NOT NULL REFERENCES pass(id),
    commande_id INTEGER NOT NULL,
    carnet_id INTEGER NOT NULL,
    pass_lieu_id INTEGER NOT NULL REFERENCES pass_lieux(id),
    structure_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    date INTEGER NOT NULL,
    mois INTEGER NOT NULL,
    prestation TEXT NOT NULL,
    service TEXT NOT NULL,
    valeur_centimes INTEGER NOT NULL,
    annulee_le INTEGER,
    annulation_motif TEXT NOT NULL DEFAULT '',
    releve_id INTEGER
);
CREATE UNIQUE INDEX pass_utilisations_une ON pass_utilisations(pass_id) WHERE annulee_le IS NULL;
CREATE INDEX pass_utilisations_lieu ON pass_utilisations(pass_lieu_id, mois);
CREATE INDEX pass_utilisations_commande ON pass_utilisations(commande_id, mois);
CREATE TABLE pass_releves (
    id INTEGER PRIMARY KEY,
    pass_lieu_id INTEGER NOT NULL REFERENCES pass_lieux(id),
    mois INTEGER NOT NULL,
    nombre INTEGER NOT NULL,
    montant_centimes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    paye_le INTEGER,
    paiement_reference TEXT NOT NULL DEFAULT '',
    UNIQUE (pass_lieu_id, mois)
);
-- Per order, month and département: carnets handed out, pass redeemed (net of
-- cancellations); what the dashboards read.
CREATE TABLE pass_mois (
    commande_id INTEGER NOT NULL,
    mois INTEGER NOT NULL,
    departement TEXT NOT NULL,
    remis INTEGER NOT NULL DEFAULT 0,
    utilises INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (commande_id, mois, departement)
);
