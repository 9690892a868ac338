DROP TABLE sender_tokens;
DROP TABLE instance_auth;
DELETE FROM credentials WHERE kind = 'signature';
ALTER TABLE credentials DROP CONSTRAINT IF EXISTS credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check CHECK (kind IN ('basic', 'header'));
