-- The schema of the macro's tests.
CREATE TABLE users (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE sites (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL);
