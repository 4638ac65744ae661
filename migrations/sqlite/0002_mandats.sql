-- Mandates (Aidants Connect): usagers identified through FranceConnect, mandats and their
-- autorisations, signed attestations, mandate drafts (FranceConnect round trip and recap),
-- the tamper-evident journal (append-only, hash-chained per structure), background jobs.
-- Timestamps are Unix seconds (INTEGER here, BIGINT on PostgreSQL).

-- Démarches a structure allows, comma separated keys; NULL = every démarche.
ALTER TABLE structures ADD COLUMN allowed_demarches TEXT;

CREATE TABLE usagers (
    id INTEGER PRIMARY KEY,
    sub_hash TEXT NOT NULL UNIQUE,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    preferred_username TEXT NOT NULL DEFAULT '',
    birthdate TEXT NOT NULL,
    gender TEXT NOT NULL,
    birthplace TEXT NOT NULL DEFAULT '',
    birthcountry TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    search_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE mandats (
    id INTEGER PRIMARY KEY,
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    usager_id INTEGER NOT NULL REFERENCES usagers(id),
    aidant_id INTEGER NOT NULL REFERENCES accounts(id),
    duration_days INTEGER NOT NULL,
    is_remote INTEGER NOT NULL DEFAULT 0,
    template_version TEXT NOT NULL,
    renewed_from INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    expiry_notified_at INTEGER
);
CREATE INDEX mandats_structure_usager ON mandats(structure_id, usager_id);
CREATE INDEX mandats_usager ON mandats(usager_id);
CREATE INDEX mandats_expiry ON mandats(expires_at);

CREATE TABLE autorisations (
    id INTEGER PRIMARY KEY,
    mandat_id INTEGER NOT NULL REFERENCES mandats(id),
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    usager_id INTEGER NOT NULL REFERENCES usagers(id),
    demarche TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_by INTEGER REFERENCES accounts(id)
);
CREATE INDEX autorisations_triple ON autorisations(structure_id, usager_id, demarche);
CREATE INDEX autorisations_mandat ON autorisations(mandat_id);
CREATE INDEX autorisations_usager ON autorisations(usager_id);

-- One row per usager having (had) a mandate with a structure: what the usagers list reads.
-- unrevoked_until = latest expiry among unrevoked autorisations (NULL: all revoked), so
-- active = unrevoked_until > now, expired = unrevoked_until <= now, revoked = NULL.
CREATE TABLE usager_structures (
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    usager_id INTEGER NOT NULL REFERENCES usagers(id),
    sort_name TEXT NOT NULL,
    search_key TEXT NOT NULL,
    unrevoked_until INTEGER,
    last_mandat_at INTEGER NOT NULL,
    PRIMARY KEY (structure_id, usager_id)
);
CREATE INDEX usager_structures_list ON usager_structures(structure_id, sort_name);

CREATE TABLE attestations (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('mandat', 'revocation')),
    mandat_id INTEGER NOT NULL REFERENCES mandats(id),
    autorisation_id INTEGER REFERENCES autorisations(id),
    payload TEXT NOT NULL,
    signature TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX attestations_mandat ON attestations(mandat_id);

-- Public keys that ever signed an attestation, so old attestations stay verifiable.
CREATE TABLE attestation_keys (
    key_id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE mandat_drafts (
    id INTEGER PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    state_hash TEXT UNIQUE,
    nonce TEXT,
    session_hash TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    demarches TEXT NOT NULL,
    duration_days INTEGER NOT NULL,
    is_remote INTEGER NOT NULL DEFAULT 0,
    usager_id INTEGER REFERENCES usagers(id),
    renewed_from INTEGER,
    identity TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX mandat_drafts_session ON mandat_drafts(session_hash);

CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    chain INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    action TEXT NOT NULL,
    account_id INTEGER,
    usager_id INTEGER,
    mandat_id INTEGER,
    autorisation_id INTEGER,
    demarche TEXT,
    details TEXT NOT NULL DEFAULT '',
    personal_hash TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX journal_chain_at ON journal(chain, at);
CREATE INDEX journal_usager ON journal(usager_id);

CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'le journal est en ajout seul'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'le journal est en ajout seul'); END;

-- Personal fields of journal entries, committed by journal.personal_hash; deleted
-- (pseudonymisation) when the usager is deleted, so the chain stays verifiable.
CREATE TABLE journal_personal (
    entry_id INTEGER PRIMARY KEY REFERENCES journal(id),
    usager_id INTEGER,
    salt TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX journal_personal_usager ON journal_personal(usager_id);

CREATE TABLE jobs (
    name TEXT PRIMARY KEY,
    run_after INTEGER NOT NULL,
    locked_until INTEGER,
    last_run_at INTEGER,
    last_result TEXT
);
