CREATE TABLE page_versions (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id    bigint      NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    version    integer     NOT NULL CHECK (version > 0),
    content    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    author_id  bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (page_id, version)
);

CREATE INDEX page_versions_author_id_idx ON page_versions (author_id);

CREATE TABLE blocks (
    id              bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_version_id bigint  NOT NULL REFERENCES page_versions (id) ON DELETE CASCADE,
    position        integer NOT NULL CHECK (position >= 0),
    kind            text    NOT NULL,
    props           jsonb   NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT blocks_position_key UNIQUE (page_version_id, position) DEFERRABLE INITIALLY DEFERRED
);
