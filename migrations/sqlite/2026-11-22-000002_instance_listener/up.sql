-- A dedicated listener per instance (XSOAR's per-instance listen port): served at POST /
-- on listen_port, over HTTPS when tls_cert and tls_key (PEM file paths) are set.
ALTER TABLE instances ADD COLUMN listen_port INTEGER;
ALTER TABLE instances ADD COLUMN tls_cert TEXT;
ALTER TABLE instances ADD COLUMN tls_key TEXT;
CREATE UNIQUE INDEX instances_listen_port ON instances(listen_port) WHERE listen_port IS NOT NULL;
