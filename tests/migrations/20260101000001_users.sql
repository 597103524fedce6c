-- The tables the library's own tests write to (not the example application's schema): just
-- enough for transactions, isolation, fixtures, resets and the errors they report.
CREATE TABLE users (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text   NOT NULL,
    display_name text   NOT NULL
);

-- Unique regardless of case. The fixture error tests quote this index's name.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
