-- A schema of its own, for tests that pass `migrations = "tests/migrations_custom"`.
CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);
