-- The free-text index merges its segments 16 at a time instead of FTS5's default 4
-- (docs/decisions.md, "Free-text segments merged 16 at a time"): every group commit writes a
-- new segment, and merging them 4 at a time was much of the writer's work.
INSERT INTO incident_text (incident_text, rank) VALUES ('automerge', 16);
