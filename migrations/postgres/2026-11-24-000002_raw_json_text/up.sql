-- raw_json becomes TEXT, as on SQLite: the payload exactly as it arrived (jsonb reorders keys,
-- drops duplicate ones and cannot hold \u0000), and no jsonb to build on every insert, which
-- was the largest part of PostgreSQL's CPU under `make bench` (d). Query inside it with a
-- cast: raw_json::jsonb ->> 'field'.
-- The trigger names the column (UPDATE OF raw_json), so it is dropped while the type changes.
DROP TRIGGER incidents_keep_first_delivery ON incidents;
ALTER TABLE incidents ALTER COLUMN raw_json TYPE TEXT USING raw_json::text;
CREATE TRIGGER incidents_keep_first_delivery
BEFORE UPDATE OF raw_json ON incidents
FOR EACH ROW EXECUTE FUNCTION incidents_keep_first_delivery();
