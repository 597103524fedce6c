CREATE TABLE blogs (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id bigint NOT NULL REFERENCES users (id),
    slug     text   NOT NULL,
    name     text   NOT NULL,
    CONSTRAINT blogs_slug_key UNIQUE (slug)
);
