-- Inclusion equipment kits: campaigns with a budget and eligible structures,
-- structures' applications (what, how many, for which places and uses), the
-- administrators' allocation within the budget, deliveries (supplier, date,
-- serial numbers), each device's state in the structure's inventory, and loans
-- to a mediator or a person with their return date and reminder.

CREATE TABLE equipement_campagnes (
    id INTEGER PRIMARY KEY,
    nom TEXT NOT NULL UNIQUE,
    budget_centimes INTEGER NOT NULL,
    -- Applications accepted until this day (Unix seconds, end of the Paris day).
    cloture_le INTEGER NOT NULL,
    -- Eligible structure kinds and départements as `,mairie,association,`; '' = all.
    types_structures TEXT NOT NULL,
    departements TEXT NOT NULL,
    created_by INTEGER REFERENCES accounts(id),
    created_at INTEGER NOT NULL
);

CREATE TABLE equipement_demandes (
    id INTEGER PRIMARY KEY,
    campagne_id INTEGER NOT NULL REFERENCES equipement_campagnes(id),
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    statut TEXT NOT NULL CHECK (statut IN ('deposee', 'allouee', 'refusee', 'livree')),
    usages TEXT NOT NULL,
    motif TEXT,
    montant_centimes INTEGER NOT NULL DEFAULT 0,
    deposee_le INTEGER NOT NULL,
    decidee_le INTEGER,
    decidee_par INTEGER REFERENCES accounts(id),
    UNIQUE (campagne_id, structure_id)
);

CREATE TABLE equipement_lignes (
    id INTEGER PRIMARY KEY,
    demande_id INTEGER NOT NULL REFERENCES equipement_demandes(id),
    type TEXT NOT NULL,
    quantite INTEGER NOT NULL,
    quantite_allouee INTEGER NOT NULL DEFAULT 0,
    prix_unitaire_centimes INTEGER NOT NULL DEFAULT 0,
    livres INTEGER NOT NULL DEFAULT 0,
    UNIQUE (demande_id, type)
);

CREATE TABLE equipements (
    id INTEGER PRIMARY KEY,
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    ligne_id INTEGER REFERENCES equipement_lignes(id),
    type TEXT NOT NULL,
    numero_serie TEXT NOT NULL,
    fournisseur TEXT NOT NULL,
    origine TEXT NOT NULL CHECK (origine IN ('reconditionne', 'neuf')),
    livre_le INTEGER NOT NULL,
    etat TEXT NOT NULL CHECK (etat IN ('en_service', 'en_panne', 'prete', 'reforme')),
    created_at INTEGER NOT NULL,
    UNIQUE (fournisseur, numero_serie)
);
CREATE INDEX equipements_structure ON equipements (structure_id, id);

CREATE TABLE equipement_prets (
    id INTEGER PRIMARY KEY,
    equipement_id INTEGER NOT NULL REFERENCES equipements(id),
    -- A mediator of the structure, or a person (first name only; NULL once
    -- deleted, three months after the return).
    account_id INTEGER REFERENCES accounts(id),
    personne TEXT,
    debut INTEGER NOT NULL,
    retour_prevu INTEGER NOT NULL,
    rendu_le INTEGER,
    rappel_le INTEGER
);
CREATE INDEX equipement_prets_en_cours ON equipement_prets (rendu_le, retour_prevu);
