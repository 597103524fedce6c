-- Deliberately broken: the harness must name this file when it fails.
ALTER TABLE missing_table ADD COLUMN x int;
