CREATE TYPE member_role AS ENUM ('viewer', 'editor', 'admin');

CREATE TABLE site_members (
    site_id    bigint      NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       member_role NOT NULL DEFAULT 'editor',
    invited_by bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, user_id)
);

CREATE INDEX site_members_user_id_idx ON site_members (user_id);
CREATE INDEX site_members_invited_by_idx ON site_members (invited_by);
