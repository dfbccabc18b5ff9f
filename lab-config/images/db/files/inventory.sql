-- Sample data for the db role's checks.
CREATE ROLE labuser LOGIN PASSWORD 'labpass';
CREATE DATABASE inventory OWNER labuser;
\connect inventory
SET ROLE labuser;
CREATE TABLE assets (
    id       serial PRIMARY KEY,
    hostname text NOT NULL,
    site     text NOT NULL
);
INSERT INTO assets (hostname, site) VALUES
    ('web', 'hq'),
    ('dns', 'hq'),
    ('db', 'hq'),
    ('file', 'branch-1'),
    ('app', 'hq'),
    ('client', 'hq');
