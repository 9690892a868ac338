-- Idempotency-Key (SPEC 6): the first response to a key, replayed for retries within the
-- retention window. Written in the same transaction as the incidents it describes.
CREATE TABLE idempotency_keys (
    instance TEXT NOT NULL,
    key      TEXT NOT NULL,
    response TEXT NOT NULL,
    created  TIMESTAMP NOT NULL,
    PRIMARY KEY (instance, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created);
