ALTER TABLE page_versions ADD CONSTRAINT page_versions_page_id_id_key UNIQUE (page_id, id);

ALTER TABLE pages ADD COLUMN current_version_id bigint;
ALTER TABLE pages
    ADD CONSTRAINT pages_current_version_fkey
    FOREIGN KEY (id, current_version_id) REFERENCES page_versions (page_id, id)
    DEFERRABLE INITIALLY DEFERRED;
