-- The version a page shows. `pages` and `page_versions` now reference each other;
-- the constraint is deferred so both rows can be written in either order inside
-- one transaction (and a version can be replaced before the pointer moves).
-- The composite key makes sure the current version belongs to this very page.
-- No extra index: the key's leading column is `pages.id`, served by `pages_pkey`.
ALTER TABLE pages ADD COLUMN current_version_id bigint;

ALTER TABLE pages
    ADD CONSTRAINT pages_current_version_fkey
    FOREIGN KEY (id, current_version_id) REFERENCES page_versions (page_id, id)
    DEFERRABLE INITIALLY DEFERRED;
