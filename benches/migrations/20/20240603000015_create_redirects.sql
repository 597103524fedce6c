CREATE TABLE redirects (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint      NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    from_path   text        NOT NULL CHECK (from_path LIKE '/%'),
    to_path     text        NOT NULL,
    status_code smallint    NOT NULL DEFAULT 301 CHECK (status_code IN (301, 302, 307, 308)),
    hits        bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, from_path)
);
