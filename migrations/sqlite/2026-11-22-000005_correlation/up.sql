-- Correlation (SPEC 6): incidents have a lifecycle, repeated deliveries with the same
-- dedup key update the open incident, and every delivery stays as an event.
ALTER TABLE incidents ADD COLUMN status TEXT NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'acknowledged', 'resolved'));
ALTER TABLE incidents ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1;
ALTER TABLE incidents ADD COLUMN last_seen TIMESTAMP;

-- At most one unresolved incident per (instance, dedup key), whatever the concurrency:
-- the writer's upsert targets this index.
CREATE UNIQUE INDEX incidents_open_dedup ON incidents(instance, dedup_key)
    WHERE dedup_key IS NOT NULL AND status <> 'resolved';

-- Deliveries after the first (kind 'updated'), and the first one (kind 'created'), saved
-- by the trigger below only when an incident is first updated: incidents that are never
-- updated cost no extra write.
CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    incident_id BIGINT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'updated')),
    received    TIMESTAMP NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events(incident_id, id);

CREATE TRIGGER incidents_keep_first_delivery
BEFORE UPDATE OF raw_json ON incidents
WHEN NOT EXISTS (SELECT 1 FROM incident_events WHERE incident_id = old.id)
BEGIN
    INSERT INTO incident_events (incident_id, kind, received, body)
    VALUES (old.id, 'created', old.created, old.raw_json);
END;
