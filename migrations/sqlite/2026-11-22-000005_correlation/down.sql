DROP TRIGGER incidents_keep_first_delivery;
DROP TABLE incident_events;
DROP INDEX incidents_open_dedup;
ALTER TABLE incidents DROP COLUMN last_seen;
ALTER TABLE incidents DROP COLUMN occurrences;
ALTER TABLE incidents DROP COLUMN status;
