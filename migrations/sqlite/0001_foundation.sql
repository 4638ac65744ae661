-- Foundation: structures, accounts, memberships, single-use account tokens,
-- database-backed sessions, authentication throttling.
-- Timestamps are Unix seconds (INTEGER here, BIGINT on PostgreSQL).

CREATE TABLE structures (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    siret TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    commune_insee TEXT NOT NULL,
    kind TEXT NOT NULL,
    is_demo INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    password_hash TEXT,
    totp_secret TEXT,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    is_admin INTEGER NOT NULL DEFAULT 0,
    disabled_at INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    role TEXT NOT NULL CHECK (role IN ('aidant', 'referent')),
    deactivated_at INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, structure_id)
);
CREATE INDEX memberships_structure ON memberships(structure_id);

CREATE TABLE account_tokens (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    purpose TEXT NOT NULL CHECK (purpose IN ('invitation', 'password_reset', 'totp_enrolment')),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    pending_totp_secret TEXT,
    created_by INTEGER REFERENCES accounts(id),
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX account_tokens_account ON account_tokens(account_id);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    structure_id INTEGER REFERENCES structures(id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    mfa_at INTEGER NOT NULL,
    reauth_required INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE auth_failures (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL CHECK (scope IN ('account', 'ip')),
    key_hash TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX auth_failures_key ON auth_failures(scope, key_hash, at);
