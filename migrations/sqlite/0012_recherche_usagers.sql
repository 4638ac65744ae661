-- Searching a structure's usagers by name reads only the rows that match: a trigram
-- index (FTS5, `trigram` tokenizer) of the accent-free key answers `LIKE '%dubois%'`
-- without reading the structure's other usagers (28–49 ms at 200,000 before).
-- Its rowid is the pair (usager, structure) packed as usager_id * 2^24 + structure_id:
-- stable (a `VACUUM` renumbers the implicit rowids of usager_structures, not these).
-- The search reads the key again from usager_structures, so the index only ever
-- narrows the candidates.
CREATE VIRTUAL TABLE usager_search USING fts5(search_key, tokenize = 'trigram');
INSERT INTO usager_search (rowid, search_key)
    SELECT usager_id * 16777216 + structure_id, search_key FROM usager_structures;
CREATE TRIGGER usager_search_insert AFTER INSERT ON usager_structures BEGIN
    INSERT INTO usager_search (rowid, search_key)
        VALUES (new.usager_id * 16777216 + new.structure_id, new.search_key);
END;
CREATE TRIGGER usager_search_update AFTER UPDATE OF search_key ON usager_structures BEGIN
    UPDATE usager_search SET search_key = new.search_key
        WHERE rowid = new.usager_id * 16777216 + new.structure_id;
END;
CREATE TRIGGER usager_search_delete AFTER DELETE ON usager_structures BEGIN
    DELETE FROM usager_search WHERE rowid = old.usager_id * 16777216 + old.structure_id;
END;
