-- Search (docs/decisions.md, "Search"): a free-text index, labels as rows, and counts per
-- (instance, type, status, severity), each kept in step with the incidents in the same
-- transaction. Existing incidents are indexed here.

-- Free text: each incident's name and the string values of its raw_json (the writer
-- extracts them; see src/incidents/search.rs). Contentless: the words are indexed, the text
-- is not stored again. rowid = incidents.id.
CREATE VIRTUAL TABLE incident_text USING fts5(
    body, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);
-- Same text as search_text() in Rust; kept identical to SQLITE_INDEX_MISSING there.
INSERT INTO incident_text (rowid, body)
SELECT i.id, substr(i.name || ' ' || coalesce((SELECT group_concat(t.value, ' ')
    FROM json_tree(i.raw_json) t WHERE t.type = 'text'), ''), 1, 262144)
FROM incidents i WHERE json_valid(i.raw_json);

CREATE TRIGGER incidents_text_delete AFTER DELETE ON incidents
BEGIN
    DELETE FROM incident_text WHERE rowid = old.id;
END;

-- Labels, one row each, so label=key:value is an index lookup, newest first.
CREATE TABLE incident_labels (
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    incident_id INTEGER NOT NULL,
    PRIMARY KEY (key, value, incident_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO incident_labels (key, value, incident_id)
SELECT j.key, j.value, i.id FROM incidents i, json_each(i.labels) j
WHERE i.labels IS NOT NULL AND json_valid(i.labels) AND json_type(i.labels) = 'object';

CREATE TRIGGER incidents_labels_insert AFTER INSERT ON incidents
WHEN new.labels IS NOT NULL AND json_valid(new.labels) AND json_type(new.labels) = 'object'
BEGIN
    INSERT OR IGNORE INTO incident_labels (key, value, incident_id)
    SELECT key, value, new.id FROM json_each(new.labels);
END;
CREATE TRIGGER incidents_labels_update AFTER UPDATE OF labels ON incidents
WHEN old.labels IS NOT new.labels
BEGIN
    DELETE FROM incident_labels WHERE (key, value, incident_id) IN
        (SELECT key, value, old.id FROM json_each(CASE WHEN json_valid(old.labels)
            AND json_type(old.labels) = 'object' THEN old.labels ELSE '{}' END));
    INSERT OR IGNORE INTO incident_labels (key, value, incident_id)
    SELECT key, value, new.id FROM json_each(CASE WHEN json_valid(new.labels)
        AND json_type(new.labels) = 'object' THEN new.labels ELSE '{}' END);
END;
CREATE TRIGGER incidents_labels_delete AFTER DELETE ON incidents
WHEN old.labels IS NOT NULL
BEGIN
    DELETE FROM incident_labels WHERE (key, value, incident_id) IN
        (SELECT key, value, old.id FROM json_each(CASE WHEN json_valid(old.labels)
            AND json_type(old.labels) = 'object' THEN old.labels ELSE '{}' END));
END;

-- Exact facet counts without a scan: incidents per (instance, type, status, severity),
-- '' standing for no type / no severity.
CREATE TABLE incident_counts (
    instance TEXT NOT NULL,
    type     TEXT NOT NULL,
    status   TEXT NOT NULL,
    severity TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (instance, type, status, severity)
) WITHOUT ROWID;
INSERT INTO incident_counts (instance, type, status, severity, n)
SELECT instance, coalesce(type, ''), status, coalesce(severity, ''), count(*)
FROM incidents GROUP BY 1, 2, 3, 4;

CREATE TRIGGER incidents_count_insert AFTER INSERT ON incidents
BEGIN
    INSERT INTO incident_counts (instance, type, status, severity, n)
    VALUES (new.instance, coalesce(new.type, ''), new.status, coalesce(new.severity, ''), 1)
    ON CONFLICT (instance, type, status, severity) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER incidents_count_update AFTER UPDATE OF instance, type, status, severity ON incidents
WHEN old.instance IS NOT new.instance OR old.type IS NOT new.type
    OR old.status IS NOT new.status OR old.severity IS NOT new.severity
BEGIN
    UPDATE incident_counts SET n = n - 1
    WHERE instance = old.instance AND type = coalesce(old.type, '') AND status = old.status
        AND severity = coalesce(old.severity, '');
    INSERT INTO incident_counts (instance, type, status, severity, n)
    VALUES (new.instance, coalesce(new.type, ''), new.status, coalesce(new.severity, ''), 1)
    ON CONFLICT (instance, type, status, severity) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER incidents_count_delete AFTER DELETE ON incidents
BEGIN
    UPDATE incident_counts SET n = n - 1
    WHERE instance = old.instance AND type = coalesce(old.type, '') AND status = old.status
        AND severity = coalesce(old.severity, '');
END;

-- A dedup key is looked up across instances too (dedup_key=…); only incidents that have
-- one pay for this index.
CREATE INDEX incidents_dedup_key ON incidents(dedup_key, id) WHERE dedup_key IS NOT NULL;

-- Time ranges (occurred_after/before) read this instead of scanning newest-first: the
-- incidents of one day 45 days back are found in milliseconds, not by skipping 45 days.
-- occurred is mostly "now", so new entries land at the index's right edge.
CREATE INDEX incidents_occurred ON incidents(occurred);
