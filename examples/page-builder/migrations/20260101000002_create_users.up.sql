-- Accounts of the page builder.
CREATE TABLE users (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text        NOT NULL,
    display_name text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    CONSTRAINT users_display_name_not_blank CHECK (btrim(display_name) <> '')
);

-- E-mail addresses are unique regardless of case: `Ada@Example.com` and
-- `ada@example.com` are one account. Look-ups must use `lower(email)` to hit it.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
