-- Back to jsonb: fails, changing nothing, while any stored payload holds \u0000.
DROP TRIGGER incidents_keep_first_delivery ON incidents;
ALTER TABLE incidents ALTER COLUMN raw_json TYPE JSONB USING raw_json::jsonb;
CREATE TRIGGER incidents_keep_first_delivery
BEFORE UPDATE OF raw_json ON incidents
FOR EACH ROW EXECUTE FUNCTION incidents_keep_first_delivery();
