DROP INDEX IF EXISTS incidents_occurred;
CREATE INDEX incidents_occurred ON incidents(occurred);
