ALTER TABLE pages DROP CONSTRAINT pages_current_version_fkey;
ALTER TABLE pages DROP COLUMN current_version_id;
