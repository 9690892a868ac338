DROP TRIGGER incidents_count_delete ON incidents;
DROP TRIGGER incidents_count_update ON incidents;
DROP TRIGGER incidents_count_insert ON incidents;
DROP FUNCTION incident_counts_deleted();
DROP FUNCTION incident_counts_updated();
DROP FUNCTION incident_counts_inserted();
DROP TABLE incident_count_deltas;
