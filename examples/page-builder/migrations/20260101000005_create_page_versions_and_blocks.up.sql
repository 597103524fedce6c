-- Every save of a page is a new, numbered version; a version is a list of blocks.
CREATE TABLE page_versions (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id    bigint      NOT NULL
        CONSTRAINT page_versions_page_id_fkey REFERENCES pages (id) ON DELETE CASCADE,
    version    integer     NOT NULL,
    -- Page-level settings of this version (SEO, layout, theme overrides).
    content    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- The history outlives the account of a collaborator who wrote it.
    author_id  bigint
        CONSTRAINT page_versions_author_id_fkey REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Also serves as the index on the foreign key `page_id`.
    CONSTRAINT page_versions_page_id_version_key UNIQUE (page_id, version),
    -- Lets `pages.current_version_id` require that the version belongs to the page.
    CONSTRAINT page_versions_page_id_id_key UNIQUE (page_id, id),
    CONSTRAINT page_versions_version_positive CHECK (version > 0),
    CONSTRAINT page_versions_content_is_object CHECK (jsonb_typeof(content) = 'object')
);

CREATE INDEX page_versions_author_id_idx ON page_versions (author_id);

CREATE TABLE blocks (
    id              bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_version_id bigint  NOT NULL
        CONSTRAINT blocks_page_version_id_fkey REFERENCES page_versions (id) ON DELETE CASCADE,
    position        integer NOT NULL,
    kind            text    NOT NULL,
    props           jsonb   NOT NULL DEFAULT '{}'::jsonb,
    -- Deferred so that blocks can be reordered inside a transaction
    -- (`UPDATE blocks SET position = ...` swaps positions freely and is checked at COMMIT).
    -- It also serves as the index on the foreign key `page_version_id`.
    -- Note: a deferrable constraint cannot be the arbiter of `INSERT ... ON CONFLICT`.
    CONSTRAINT blocks_page_version_id_position_key UNIQUE (page_version_id, position)
        DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT blocks_position_non_negative CHECK (position >= 0),
    CONSTRAINT blocks_kind_format CHECK (kind ~ '^[a-z][a-z0-9_-]*$'),
    CONSTRAINT blocks_props_is_object CHECK (jsonb_typeof(props) = 'object')
);
