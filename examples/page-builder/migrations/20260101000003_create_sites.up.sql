-- A site belongs to one user; its slug is global because it names the site's
-- sub-domain (`<slug>.pages.example`).
CREATE TABLE sites (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id   bigint      NOT NULL
        CONSTRAINT sites_owner_id_fkey REFERENCES users (id) ON DELETE RESTRICT,
    slug       text        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sites_slug_key UNIQUE (slug),
    CONSTRAINT sites_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 63),
    CONSTRAINT sites_name_not_blank CHECK (btrim(name) <> '')
);

CREATE INDEX sites_owner_id_idx ON sites (owner_id);
