CREATE TABLE posts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    blog_id      bigint      NOT NULL REFERENCES blogs (id) ON DELETE CASCADE,
    slug         text        NOT NULL,
    title        text        NOT NULL,
    status       text        NOT NULL DEFAULT 'draft',
    published_at timestamptz,
    CONSTRAINT posts_blog_id_slug_key UNIQUE (blog_id, slug),
    CONSTRAINT posts_status_check CHECK (status IN ('draft', 'published'))
);
