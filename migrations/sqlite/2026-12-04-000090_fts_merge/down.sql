INSERT INTO incident_text (incident_text, rank) VALUES ('automerge', 4);
