DROP INDEX IF EXISTS incidents_facets;
