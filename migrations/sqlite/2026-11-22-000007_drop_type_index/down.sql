CREATE INDEX incidents_type_id ON incidents(type, id);
