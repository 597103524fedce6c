-- Every save of a post; `content` holds its settings as a JSON object.
CREATE TABLE revisions (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    content jsonb  NOT NULL DEFAULT '{}'
);
