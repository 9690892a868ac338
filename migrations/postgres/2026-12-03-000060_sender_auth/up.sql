-- Sender authentication beyond Basic and header rules.

-- Credentials gain kind 'signature': `username` holds the scheme (`hmac-sha256:<Header>` for
-- the generic one) and `secret_hash` the signing secret sealed with the server's secret key
-- (an HMAC needs the secret itself, so it is encrypted rather than hashed).
ALTER TABLE credentials DROP CONSTRAINT IF EXISTS credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check
    CHECK (kind IN ('basic', 'header', 'signature'));

-- Per-instance sender-authentication settings; an instance without a row has the defaults.
CREATE TABLE instance_auth (
    instance_id           INTEGER PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
    token_ttl             INTEGER NOT NULL DEFAULT 3600,
    signature_tolerance_s INTEGER NOT NULL DEFAULT 300,
    rate_limit            DOUBLE PRECISION,
    rate_burst            INTEGER
);

-- Bearer tokens from the token endpoint, by SHA-256 of the token (never the token itself).
-- A token dies with the credential it was issued for.
CREATE TABLE sender_tokens (
    token_hash    TEXT PRIMARY KEY,
    instance_id   INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    credential_id INTEGER NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    created       TIMESTAMP NOT NULL,
    expires       TIMESTAMP NOT NULL
);
CREATE INDEX sender_tokens_expires ON sender_tokens(expires);
CREATE INDEX sender_tokens_credential ON sender_tokens(credential_id);
