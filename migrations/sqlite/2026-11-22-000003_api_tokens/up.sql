-- API tokens for the admin and analyst interface. Only a SHA-256 of the token is kept:
-- tokens are 256 random bits, so a fast hash is enough (argon2 is for human passwords).
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'analyst')),
    token_hash TEXT NOT NULL UNIQUE,
    created    TIMESTAMP NOT NULL
);
CREATE INDEX incidents_type_id ON incidents(type, id);
