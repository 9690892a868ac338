-- The time-range index also holds each incident's instance, so a range narrowed by instance
-- is counted and read from the index alone: the incidents of one instance on one day are
-- found without reading the other instances' rows of that day (docs/decisions.md, "Time
-- ranges narrowed by instance").
DROP INDEX IF EXISTS incidents_occurred;
CREATE INDEX incidents_occurred ON incidents(occurred, instance);
