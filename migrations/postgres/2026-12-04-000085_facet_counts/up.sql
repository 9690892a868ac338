-- Exact facet counts without a scan (docs/decisions.md, "Facet counts on PostgreSQL"):
-- incidents per (instance, type, status, severity), '' standing for no type / no severity,
-- kept as signed deltas. Each statement that writes incidents appends one aggregated row per
-- combination it touched (insert-only, so concurrent writers never wait on a counter row);
-- the server folds the deltas together every few seconds (src/incidents/counts.rs). A count
-- is the sum of its combination's rows.
CREATE TABLE incident_count_deltas (
    instance TEXT NOT NULL,
    type     TEXT NOT NULL,
    status   TEXT NOT NULL,
    severity TEXT NOT NULL,
    n        BIGINT NOT NULL
);
INSERT INTO incident_count_deltas (instance, type, status, severity, n)
SELECT instance, coalesce(type, ''), status, coalesce(severity, ''), count(*)
FROM incidents GROUP BY 1, 2, 3, 4;

CREATE FUNCTION incident_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incident_count_deltas (instance, type, status, severity, n)
    SELECT instance, coalesce(type, ''), status, coalesce(severity, ''), count(*)
    FROM new_rows GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;

CREATE FUNCTION incident_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incident_count_deltas (instance, type, status, severity, n)
    SELECT instance, t, status, s, sum(n) FROM (
        SELECT instance, coalesce(type, '') AS t, status, coalesce(severity, '') AS s, -1 AS n
        FROM old_rows
        UNION ALL
        SELECT instance, coalesce(type, ''), status, coalesce(severity, ''), 1 FROM new_rows
    ) moved GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0;
    RETURN NULL;
END $$;

CREATE FUNCTION incident_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incident_count_deltas (instance, type, status, severity, n)
    SELECT instance, coalesce(type, ''), status, coalesce(severity, ''), -count(*)
    FROM old_rows GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;

CREATE TRIGGER incidents_count_insert AFTER INSERT ON incidents
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION incident_counts_inserted();
CREATE TRIGGER incidents_count_update AFTER UPDATE ON incidents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION incident_counts_updated();
CREATE TRIGGER incidents_count_delete AFTER DELETE ON incidents
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION incident_counts_deleted();
