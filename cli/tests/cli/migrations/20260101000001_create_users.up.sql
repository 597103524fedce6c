-- The CLI tests' own small schema: users who write blogs of posts, each post with its
-- revisions. Enough for every page of the studio (foreign keys both ways, a unique and a
-- check constraint, NULLs, jsonb) and for the migrate and generate commands.
CREATE TABLE users (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text   NOT NULL,
    display_name text   NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);
