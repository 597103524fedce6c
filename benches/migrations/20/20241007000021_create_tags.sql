CREATE TABLE tags (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name    text   NOT NULL,
    slug    text   NOT NULL,
    UNIQUE (site_id, slug)
);

CREATE TABLE page_tags (
    page_id bigint NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    tag_id  bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (page_id, tag_id)
);

CREATE INDEX page_tags_tag_id_idx ON page_tags (tag_id);
