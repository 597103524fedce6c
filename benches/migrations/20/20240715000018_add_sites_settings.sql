ALTER TABLE sites
    ADD COLUMN settings    jsonb NOT NULL DEFAULT '{"theme": "default", "analytics": false}'::jsonb,
    ADD COLUMN archived_at timestamptz;

ALTER TABLE sites ADD CONSTRAINT sites_settings_is_object CHECK (jsonb_typeof(settings) = 'object');
