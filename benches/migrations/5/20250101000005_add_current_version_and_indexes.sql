ALTER TABLE pages
    ADD COLUMN current_version_id bigint
    REFERENCES page_versions (id) DEFERRABLE INITIALLY DEFERRED;

CREATE INDEX pages_current_version_id_idx ON pages (current_version_id);

CREATE INDEX pages_published_idx ON pages (site_id, published_at DESC) WHERE status = 'published';
