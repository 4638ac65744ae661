-- Reports imported from another tool keep their source: the tool, their id there
-- (a second import of the same file writes nothing twice), the line as read.
ALTER TABLE activites ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE activites ADD COLUMN source_id TEXT;
ALTER TABLE activites ADD COLUMN source_data TEXT;
CREATE UNIQUE INDEX activites_source ON activites(mediateur_id, source, source_id) WHERE source_id IS NOT NULL;
