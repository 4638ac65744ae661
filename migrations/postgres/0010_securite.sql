-- Throttling counters: one row per (scope, keyed hash), incremented and read in one
-- atomic upsert, so parallel attempts can never pass the limit together. Replaces
-- auth_failures (left unused so that a server of the previous version keeps working
-- during a rolling upgrade; a later migration drops it).
CREATE TABLE auth_counters (
    scope TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    PRIMARY KEY (scope, key_hash)
);
CREATE INDEX auth_counters_expires ON auth_counters(expires_at);

-- The signed head of each journal chain, rewritten by every append in the same
-- transaction: `signature` is the server's Ed25519 seal of (chain, seq, hash), so
-- someone with the database but without the server secret cannot truncate, delete
-- or rewrite a chain without `relais journal verify` noticing.
CREATE TABLE journal_heads (
    chain BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);
