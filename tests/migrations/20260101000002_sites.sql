-- A second table, referencing the first: what a reset must empty in the right order.
CREATE TABLE sites (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id bigint NOT NULL REFERENCES users (id),
    slug     text   NOT NULL UNIQUE,
    name     text   NOT NULL
);
