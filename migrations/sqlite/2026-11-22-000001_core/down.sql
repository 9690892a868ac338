DROP TABLE samples;
DROP TABLE incidents;
DROP TABLE credentials;
DROP TABLE instances;
DROP TABLE meta;
