CREATE TABLE media_assets (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint      NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    uploaded_by bigint      REFERENCES users (id) ON DELETE SET NULL,
    storage_key text        NOT NULL UNIQUE,
    mime_type   text        NOT NULL,
    byte_size   bigint      NOT NULL CHECK (byte_size >= 0),
    width       integer     CHECK (width > 0),
    height      integer     CHECK (height > 0),
    alt_text    text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX media_assets_site_id_created_at_idx ON media_assets (site_id, created_at DESC);
CREATE INDEX media_assets_uploaded_by_idx ON media_assets (uploaded_by);
