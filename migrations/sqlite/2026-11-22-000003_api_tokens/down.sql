DROP INDEX incidents_type_id;
DROP TABLE api_tokens;
