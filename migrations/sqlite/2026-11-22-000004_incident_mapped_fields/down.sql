ALTER TABLE incidents DROP COLUMN labels;
ALTER TABLE incidents DROP COLUMN dedup_key;
ALTER TABLE incidents DROP COLUMN severity;
