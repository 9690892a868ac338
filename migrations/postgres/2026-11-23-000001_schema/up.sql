-- The PostgreSQL schema: the same tables, columns and constraints as SQLite has after
-- migrations/sqlite/…000001 to …000007 (read those for why each exists). Differences:
-- raw_json is created as jsonb here and becomes TEXT, as on SQLite, in …000002_raw_json_text;
-- ids come from sequences (so replicas never collide), and the first-delivery trigger is a
-- PL/pgSQL function.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('config_version', 1);

CREATE TABLE instances (
    id              SERIAL PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    incident_type   TEXT,
    store_samples   BOOLEAN NOT NULL DEFAULT false,
    sample_limit    INTEGER NOT NULL DEFAULT 20,
    allow_anonymous BOOLEAN NOT NULL DEFAULT false,
    enabled         BOOLEAN NOT NULL DEFAULT true,
    mapping         TEXT,
    preset          TEXT,
    created         TIMESTAMP NOT NULL,
    updated         TIMESTAMP NOT NULL,
    listen_port     INTEGER,
    tls_cert        TEXT,
    tls_key         TEXT
);
CREATE UNIQUE INDEX instances_listen_port ON instances(listen_port) WHERE listen_port IS NOT NULL;

CREATE TABLE credentials (
    id          SERIAL PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('basic', 'header')),
    username    TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created     TIMESTAMP NOT NULL
);
CREATE INDEX credentials_instance ON credentials(instance_id);

CREATE TABLE incidents (
    id          BIGSERIAL PRIMARY KEY,
    instance    TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT,
    occurred    TIMESTAMP NOT NULL,
    created     TIMESTAMP NOT NULL,
    raw_json    JSONB NOT NULL,
    severity    TEXT,
    dedup_key   TEXT,
    labels      TEXT,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    occurrences INTEGER NOT NULL DEFAULT 1,
    last_seen   TIMESTAMP
);
CREATE INDEX incidents_instance_id ON incidents(instance, id);
CREATE UNIQUE INDEX incidents_open_dedup ON incidents(instance, dedup_key)
    WHERE dedup_key IS NOT NULL AND status <> 'resolved';

CREATE TABLE samples (
    id          BIGSERIAL PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    received    TIMESTAMP NOT NULL,
    body        TEXT NOT NULL,
    headers     TEXT NOT NULL,
    body_hash   TEXT NOT NULL,
    UNIQUE (instance_id, body_hash)
);
CREATE INDEX samples_instance_received ON samples(instance_id, received);

CREATE TABLE api_tokens (
    id         SERIAL PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'analyst')),
    token_hash TEXT NOT NULL UNIQUE,
    created    TIMESTAMP NOT NULL
);

CREATE TABLE incident_events (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'updated')),
    received    TIMESTAMP NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events(incident_id, id);

-- The first delivery, saved only when an incident is first updated (see SQLite's 000005).
CREATE FUNCTION incidents_keep_first_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM incident_events WHERE incident_id = OLD.id) THEN
        INSERT INTO incident_events (incident_id, kind, received, body)
        VALUES (OLD.id, 'created', OLD.created, OLD.raw_json::text);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER incidents_keep_first_delivery
BEFORE UPDATE OF raw_json ON incidents
FOR EACH ROW EXECUTE FUNCTION incidents_keep_first_delivery();

CREATE TABLE idempotency_keys (
    instance TEXT NOT NULL,
    key      TEXT NOT NULL,
    response TEXT NOT NULL,
    created  TIMESTAMP NOT NULL,
    PRIMARY KEY (instance, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created);
