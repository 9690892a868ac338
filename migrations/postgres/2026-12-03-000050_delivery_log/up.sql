-- The delivery log: the newest refused requests of each instance (the recorder trims it to
-- `delivery_log_limit` per instance). Never a body, a secret or an Authorization value.
CREATE TABLE deliveries (
    id            BIGSERIAL PRIMARY KEY,
    instance_id   INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    received      TIMESTAMP NOT NULL,
    remote_addr   TEXT NOT NULL,
    forwarded_for TEXT,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        INTEGER NOT NULL,
    error         TEXT NOT NULL,
    reason        TEXT,
    message       TEXT NOT NULL,
    body_bytes    BIGINT,
    user_agent    TEXT
);
CREATE INDEX deliveries_instance_id ON deliveries(instance_id, id);

-- Accepted and refused deliveries per instance and hour (`hour` = Unix time / 3600), added to
-- by every server; the row with hour 0 holds the totals and the last accepted time.
CREATE TABLE delivery_activity (
    instance_id   INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    hour          BIGINT NOT NULL,
    accepted      BIGINT NOT NULL DEFAULT 0,
    refused       BIGINT NOT NULL DEFAULT 0,
    last_accepted TIMESTAMP,
    PRIMARY KEY (instance_id, hour)
);
