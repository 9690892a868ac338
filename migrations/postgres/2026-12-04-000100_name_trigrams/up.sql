-- name_contains is a substring test (ILIKE '%part%') that no b-tree answers: without an index
-- a rare part reads names newest first until it has a page, which can be the whole table.
-- pg_trgm's GIN index finds the names holding every three-letter piece of the part
-- (docs/decisions.md, "Substrings of names on PostgreSQL"). pg_trgm ships with PostgreSQL's
-- contrib package and is trusted (a database owner may create it); where it is missing or
-- may not be created, the migration leaves name_contains as it was instead of failing.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX IF NOT EXISTS incidents_name_trigrams ON incidents
            USING gin (name gin_trgm_ops);
    ELSE
        RAISE NOTICE 'pg_trgm is not available: name_contains reads names without an index';
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pg_trgm may not be created here: name_contains reads names without an index';
END
$$;
