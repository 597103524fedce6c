CREATE TABLE custom_domains (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint      NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    hostname    text        NOT NULL,
    verified_at timestamptz,
    is_primary  boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT custom_domains_hostname_format CHECK (hostname = lower(hostname) AND hostname ~ '^[a-z0-9.-]+$')
);

CREATE UNIQUE INDEX custom_domains_hostname_key ON custom_domains (hostname);
CREATE INDEX custom_domains_site_id_idx ON custom_domains (site_id);
-- At most one primary domain per site.
CREATE UNIQUE INDEX custom_domains_one_primary_idx ON custom_domains (site_id) WHERE is_primary;
