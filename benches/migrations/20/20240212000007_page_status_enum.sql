-- The status column becomes an enum; the CHECK constraint it replaces goes away.
CREATE TYPE page_status AS ENUM ('draft', 'published', 'archived');

ALTER TABLE pages DROP CONSTRAINT pages_status_check;
ALTER TABLE pages ALTER COLUMN status DROP DEFAULT;
ALTER TABLE pages ALTER COLUMN status TYPE page_status USING status::page_status;
ALTER TABLE pages ALTER COLUMN status SET DEFAULT 'draft';
ALTER TABLE pages
    ADD CONSTRAINT pages_published_at_check CHECK (status <> 'published' OR published_at IS NOT NULL);
