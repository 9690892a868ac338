-- Sender authentication beyond Basic and header rules.

-- Credentials gain kind 'signature': `username` holds the scheme (`hmac-sha256:<Header>` for
-- the generic one) and `secret_hash` the signing secret sealed with the server's secret key
-- (an HMAC needs the secret itself, so it is encrypted rather than hashed). SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt with the same rows and ids.
CREATE TABLE credentials_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('basic', 'header', 'signature')),
    username    TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created     TIMESTAMP NOT NULL
);
INSERT INTO credentials_new (id, instance_id, kind, username, secret_hash, created)
    SELECT id, instance_id, kind, username, secret_hash, created FROM credentials;
DROP TABLE credentials;
ALTER TABLE credentials_new RENAME TO credentials;
CREATE INDEX credentials_instance ON credentials(instance_id);

-- Per-instance sender-authentication settings; an instance without a row has the defaults.
CREATE TABLE instance_auth (
    instance_id           INTEGER PRIMARY KEY NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    token_ttl             INTEGER NOT NULL DEFAULT 3600,
    signature_tolerance_s INTEGER NOT NULL DEFAULT 300,
    rate_limit            DOUBLE PRECISION,
    rate_burst            INTEGER
);

-- Bearer tokens from the token endpoint, by SHA-256 of the token (never the token itself).
-- A token dies with the credential it was issued for.
CREATE TABLE sender_tokens (
    token_hash    TEXT PRIMARY KEY NOT NULL,
    instance_id   INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    credential_id INTEGER NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    created       TIMESTAMP NOT NULL,
    expires       TIMESTAMP NOT NULL
);
CREATE INDEX sender_tokens_expires ON sender_tokens(expires);
CREATE INDEX sender_tokens_credential ON sender_tokens(credential_id);
