CREATE TABLE pages (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      bigint      NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    slug         text        NOT NULL,
    title        text        NOT NULL,
    status       text        NOT NULL DEFAULT 'draft',
    published_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, slug),
    CONSTRAINT pages_status_check CHECK (status IN ('draft', 'published', 'archived')),
    CONSTRAINT pages_published_at_check CHECK (status <> 'published' OR published_at IS NOT NULL)
);
