-- Physical TOTP cards (60-second codes): imported by administrators, linked to an
-- aidant by a référent who validates the card with a current code.

CREATE TABLE totp_cards (
    id INTEGER PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    -- base32 secret, as delivered by the manufacturer
    seed TEXT NOT NULL,
    step_seconds INTEGER NOT NULL DEFAULT 60,
    -- steps between the card's clock and ours, set only by a référent's resynchronisation
    drift INTEGER NOT NULL DEFAULT 0,
    -- the last step used (no code is accepted twice)
    last_step INTEGER NOT NULL DEFAULT 0,
    account_id INTEGER UNIQUE REFERENCES accounts(id),
    structure_id INTEGER REFERENCES structures(id),
    linked_at INTEGER,
    imported_at INTEGER NOT NULL,
    imported_by INTEGER REFERENCES accounts(id)
);
CREATE INDEX totp_cards_structure ON totp_cards(structure_id);
