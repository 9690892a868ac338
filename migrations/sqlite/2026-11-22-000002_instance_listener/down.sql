DROP INDEX instances_listen_port;
ALTER TABLE instances DROP COLUMN tls_key;
ALTER TABLE instances DROP COLUMN tls_cert;
ALTER TABLE instances DROP COLUMN listen_port;
