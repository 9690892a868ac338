DROP TABLE sender_tokens;
DROP TABLE instance_auth;
DELETE FROM credentials WHERE kind = 'signature';
CREATE TABLE credentials_old (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('basic', 'header')),
    username    TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created     TIMESTAMP NOT NULL
);
INSERT INTO credentials_old (id, instance_id, kind, username, secret_hash, created)
    SELECT id, instance_id, kind, username, secret_hash, created FROM credentials;
DROP TABLE credentials;
ALTER TABLE credentials_old RENAME TO credentials;
CREATE INDEX credentials_instance ON credentials(instance_id);
