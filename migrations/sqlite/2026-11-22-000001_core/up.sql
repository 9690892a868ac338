-- Core schema. Later features add columns (mapping fields, dedup key, status, occurrences)
-- rather than reshaping these tables.

-- Bumped by every change to instances or credentials, so running servers notice
-- changes made by the CLI or by another replica with one cheap read.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('config_version', 1);

CREATE TABLE instances (
    id              INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name            TEXT NOT NULL UNIQUE,
    incident_type   TEXT,
    store_samples   BOOLEAN NOT NULL DEFAULT 0,
    sample_limit    INTEGER NOT NULL DEFAULT 20,
    allow_anonymous BOOLEAN NOT NULL DEFAULT 0,
    enabled         BOOLEAN NOT NULL DEFAULT 1,
    mapping         TEXT,
    preset          TEXT,
    created         TIMESTAMP NOT NULL,
    updated         TIMESTAMP NOT NULL
);

-- kind 'basic': username + argon2id hash of the password.
-- kind 'header': username holds the header name, secret_hash the argon2id hash of its value.
CREATE TABLE credentials (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('basic', 'header')),
    username    TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created     TIMESTAMP NOT NULL
);
CREATE INDEX credentials_instance ON credentials(instance_id);

-- Incidents keep the instance's name rather than a foreign key: removing an
-- instance must not erase the incidents it produced.
CREATE TABLE incidents (
    id       INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance TEXT NOT NULL,
    name     TEXT NOT NULL,
    type     TEXT,
    occurred TIMESTAMP NOT NULL,
    created  TIMESTAMP NOT NULL,
    raw_json TEXT NOT NULL
);
CREATE INDEX incidents_instance_id ON incidents(instance, id);

-- Newest N received elements per instance. body_hash makes a re-sent identical
-- element refresh its sample instead of adding a duplicate.
CREATE TABLE samples (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    received    TIMESTAMP NOT NULL,
    body        TEXT NOT NULL,
    headers     TEXT NOT NULL,
    body_hash   TEXT NOT NULL,
    UNIQUE (instance_id, body_hash)
);
CREATE INDEX samples_instance_received ON samples(instance_id, received);
