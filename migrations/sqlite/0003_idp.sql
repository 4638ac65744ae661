-- Relais as an OpenID Connect identity provider (acting on a usager's behalf):
-- signing keys, pending authorization requests, codes and access tokens.
-- Timestamps are Unix seconds (INTEGER here, BIGINT on PostgreSQL).

-- Signing keys. The private key is never stored: it is derived from the server secret
-- and `seed`. status: next (published, not signing yet), current (signing),
-- previous (published until `retire_after`), retired.
CREATE TABLE idp_keys (
    id INTEGER PRIMARY KEY,
    kid TEXT NOT NULL UNIQUE,
    alg TEXT NOT NULL,
    seed TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('next', 'current', 'previous', 'retired')),
    created_at INTEGER NOT NULL,
    activated_at INTEGER,
    retire_after INTEGER
);

-- An authorization request while the aidant signs in and chooses the usager and démarche.
CREATE TABLE idp_requests (
    id INTEGER PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_challenge TEXT,
    rep_scope TEXT,
    prompt_login INTEGER NOT NULL DEFAULT 0,
    session_hash TEXT,
    confirmed_at INTEGER,
    usager_id INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE idp_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_challenge TEXT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    usager_id INTEGER NOT NULL,
    autorisation_id INTEGER NOT NULL,
    demarche TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);

CREATE TABLE idp_tokens (
    token_hash TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    structure_id INTEGER NOT NULL,
    usager_id INTEGER NOT NULL,
    autorisation_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX idp_tokens_code ON idp_tokens(code_hash);
