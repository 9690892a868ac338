DROP INDEX IF EXISTS incidents_occurred;
DROP INDEX IF EXISTS incidents_dedup_key;
DROP TRIGGER IF EXISTS incidents_labels_delete ON incidents;
DROP TRIGGER IF EXISTS incidents_labels_update ON incidents;
DROP TRIGGER IF EXISTS incidents_labels_insert ON incidents;
DROP FUNCTION IF EXISTS incidents_index_labels();
DROP TABLE IF EXISTS incident_labels;
DROP INDEX IF EXISTS incidents_search;
ALTER TABLE incidents DROP COLUMN IF EXISTS search;
