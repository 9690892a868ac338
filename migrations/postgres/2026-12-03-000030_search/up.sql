-- Search (docs/decisions.md, "Search"): a free-text index and labels as rows, kept in step
-- with the incidents in the same transaction. Existing incidents are indexed here.

-- Free text: the name and the string values of raw_json as words ('simple': lower-cased,
-- no stemming, no stop words). The writer computes it from the text it extracts in Rust
-- (src/incidents/search.rs); this backfill is kept identical to PG_INDEX_MISSING there.
ALTER TABLE incidents ADD COLUMN search tsvector;
UPDATE incidents i SET search = to_tsvector('simple',
    left(i.name || ' ' || coalesce((SELECT string_agg(v #>> '{}', ' ')
        FROM jsonb_path_query(i.raw_json::jsonb, 'strict $.**') v
        WHERE jsonb_typeof(v) = 'string'), ''), 262144));
CREATE INDEX incidents_search ON incidents USING gin (search);

-- Labels, one row each, so label=key:value is an index lookup.
CREATE TABLE incident_labels (
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    incident_id BIGINT NOT NULL,
    PRIMARY KEY (key, value, incident_id)
);
INSERT INTO incident_labels (key, value, incident_id)
SELECT j.key, j.value, i.id FROM incidents i, jsonb_each_text(i.labels::jsonb) j
WHERE i.labels IS NOT NULL AND jsonb_typeof(i.labels::jsonb) = 'object'
ON CONFLICT DO NOTHING;

CREATE FUNCTION incidents_index_labels() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.labels IS NOT NULL
        AND jsonb_typeof(OLD.labels::jsonb) = 'object' THEN
        DELETE FROM incident_labels l USING jsonb_each_text(OLD.labels::jsonb) j
        WHERE l.key = j.key AND l.value = j.value AND l.incident_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.labels IS NOT NULL
        AND jsonb_typeof(NEW.labels::jsonb) = 'object' THEN
        INSERT INTO incident_labels (key, value, incident_id)
        SELECT j.key, j.value, NEW.id FROM jsonb_each_text(NEW.labels::jsonb) j
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER incidents_labels_insert AFTER INSERT ON incidents
FOR EACH ROW WHEN (NEW.labels IS NOT NULL) EXECUTE FUNCTION incidents_index_labels();
CREATE TRIGGER incidents_labels_update AFTER UPDATE OF labels ON incidents
FOR EACH ROW WHEN (OLD.labels IS DISTINCT FROM NEW.labels) EXECUTE FUNCTION incidents_index_labels();
CREATE TRIGGER incidents_labels_delete AFTER DELETE ON incidents
FOR EACH ROW WHEN (OLD.labels IS NOT NULL) EXECUTE FUNCTION incidents_index_labels();

-- A dedup key is looked up across instances too (dedup_key=…); only incidents that have
-- one pay for this index.
CREATE INDEX incidents_dedup_key ON incidents(dedup_key, id) WHERE dedup_key IS NOT NULL;

-- Time ranges (occurred_after/before) read this instead of scanning newest-first: the
-- incidents of one day 45 days back are found in milliseconds, not by skipping 45 days.
-- occurred is mostly "now", so new entries land at the index's right edge.
CREATE INDEX incidents_occurred ON incidents(occurred);
