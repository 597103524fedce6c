CREATE TABLE blocks (
    id              bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_version_id bigint  NOT NULL REFERENCES page_versions (id) ON DELETE CASCADE,
    position        integer NOT NULL CHECK (position >= 0),
    kind            text    NOT NULL,
    props           jsonb   NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT blocks_position_key UNIQUE (page_version_id, position) DEFERRABLE INITIALLY DEFERRED
);
