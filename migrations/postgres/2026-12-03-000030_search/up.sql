-- Search (docs/decisions.md, "Search"): a free-text index and a labels index, kept in step
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

-- Labels: label=key:value is a containment test (labels::jsonb @> '{"key":"value"}') that
-- this index answers. Smaller than a row per label (PostgreSQL's 24-byte tuple headers made
-- such a table ~350 MB per million incidents of 3 labels) and with no trigger per insert.
CREATE INDEX incidents_labels ON incidents USING gin ((labels::jsonb) jsonb_path_ops);

-- A dedup key is looked up across instances too (dedup_key=…); only incidents that have
-- one pay for this index.
CREATE INDEX incidents_dedup_key ON incidents(dedup_key, id) WHERE dedup_key IS NOT NULL;

-- Time ranges (occurred_after/before) read this instead of scanning newest-first: the
-- incidents of one day 45 days back are found in milliseconds, not by skipping 45 days.
-- occurred is mostly "now", so new entries land at the index's right edge.
CREATE INDEX incidents_occurred ON incidents(occurred);
