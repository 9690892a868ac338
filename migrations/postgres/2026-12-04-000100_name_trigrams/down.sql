DROP INDEX IF EXISTS incidents_name_trigrams;
