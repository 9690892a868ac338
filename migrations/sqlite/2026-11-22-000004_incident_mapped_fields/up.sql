-- Fields a mapping can derive (SPEC 5). dedup_key is what correlation will group by.
ALTER TABLE incidents ADD COLUMN severity TEXT;
ALTER TABLE incidents ADD COLUMN dedup_key TEXT;
-- A JSON object of label name -> value, or NULL.
ALTER TABLE incidents ADD COLUMN labels TEXT;
