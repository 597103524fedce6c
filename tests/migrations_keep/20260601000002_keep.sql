-- A schema of its own for the kept-database tests: the bound on kept databases is per
-- template, so no other test's kept databases count against theirs.
CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);
