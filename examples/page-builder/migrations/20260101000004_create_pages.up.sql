-- Pages of a site. Deleting a site deletes its pages.
CREATE TABLE pages (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      bigint      NOT NULL
        CONSTRAINT pages_site_id_fkey REFERENCES sites (id) ON DELETE CASCADE,
    slug         text        NOT NULL,
    title        text        NOT NULL,
    status       text        NOT NULL DEFAULT 'draft',
    published_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Also serves as the index on the foreign key `site_id` (leading column).
    CONSTRAINT pages_site_id_slug_key UNIQUE (site_id, slug),
    CONSTRAINT pages_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    CONSTRAINT pages_status_check CHECK (status IN ('draft', 'published', 'archived')),
    CONSTRAINT pages_published_at_check CHECK (status <> 'published' OR published_at IS NOT NULL)
);
