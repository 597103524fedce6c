CREATE TABLE navigation_menus (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    handle  text   NOT NULL,
    UNIQUE (site_id, handle)
);

CREATE TABLE navigation_items (
    id        bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    menu_id   bigint  NOT NULL REFERENCES navigation_menus (id) ON DELETE CASCADE,
    parent_id bigint  REFERENCES navigation_items (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    label     text    NOT NULL,
    page_id   bigint  REFERENCES pages (id) ON DELETE SET NULL,
    url       text,
    CONSTRAINT navigation_items_target CHECK ((page_id IS NULL) <> (url IS NULL)),
    CONSTRAINT navigation_items_position_key UNIQUE (menu_id, parent_id, position) DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX navigation_items_parent_id_idx ON navigation_items (parent_id);
CREATE INDEX navigation_items_page_id_idx ON navigation_items (page_id);
