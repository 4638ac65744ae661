-- A code gives one access token: the token endpoint inserts it only if the code
-- has none (`ON CONFLICT (code_hash) DO NOTHING`), which replaces marking the code
-- used in a transaction. `idp_codes.used_at` is no longer written; it stays for a
-- server of the previous version during a rolling upgrade and goes in a later
-- migration.
DROP INDEX idp_tokens_code;
CREATE UNIQUE INDEX idp_tokens_code ON idp_tokens(code_hash);
