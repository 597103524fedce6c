ALTER TABLE users
    ADD COLUMN avatar_url text,
    ADD COLUMN locale     text NOT NULL DEFAULT 'en';
