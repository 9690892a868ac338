DROP INDEX IF EXISTS incidents_occurred;
DROP INDEX IF EXISTS incidents_dedup_key;
DROP INDEX IF EXISTS incidents_labels;
DROP INDEX IF EXISTS incidents_search;
ALTER TABLE incidents DROP COLUMN IF EXISTS search;
