CREATE VIEW published_pages AS
SELECT p.id,
       p.site_id,
       s.slug AS site_slug,
       p.slug,
       p.title,
       coalesce(p.meta_title, p.title) AS meta_title,
       p.meta_description,
       p.published_at
FROM pages p
JOIN sites s ON s.id = p.site_id
WHERE p.status = 'published' AND NOT p.noindex;

CREATE INDEX pages_published_idx ON pages (site_id, published_at DESC) WHERE status = 'published';
