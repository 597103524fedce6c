-- The public site lists its published pages, newest first; drafts and archived
-- pages (most rows on a busy site) stay out of this index.
CREATE INDEX pages_published_idx
    ON pages (site_id, published_at DESC)
    WHERE status = 'published';
