ALTER TABLE pages
    ADD COLUMN meta_title       text,
    ADD COLUMN meta_description text CHECK (length(meta_description) <= 320),
    ADD COLUMN og_image_id      bigint REFERENCES media_assets (id) ON DELETE SET NULL,
    ADD COLUMN noindex          boolean NOT NULL DEFAULT false;

CREATE INDEX pages_og_image_id_idx ON pages (og_image_id);
