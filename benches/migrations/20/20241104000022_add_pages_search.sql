ALTER TABLE pages
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(meta_description, '')), 'B')
    ) STORED;

CREATE INDEX pages_search_idx ON pages USING gin (search);
