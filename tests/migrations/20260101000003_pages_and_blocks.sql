CREATE TABLE pages (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    slug    text   NOT NULL,
    title   text   NOT NULL,
    UNIQUE (site_id, slug)
);

-- The unique position is deferred: a test that breaks it fails only when the harness checks
-- the constraints before it rolls the test back.
CREATE TABLE blocks (
    id       bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id  bigint  NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    position integer NOT NULL,
    kind     text    NOT NULL,
    CONSTRAINT blocks_page_id_position_key UNIQUE (page_id, position) DEFERRABLE INITIALLY DEFERRED
);
