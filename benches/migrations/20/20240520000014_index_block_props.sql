CREATE INDEX blocks_kind_idx ON blocks (kind);
CREATE INDEX blocks_props_gin_idx ON blocks USING gin (props jsonb_path_ops);
