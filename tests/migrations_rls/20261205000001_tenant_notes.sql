-- Notes of two tenants, each seeing only its own through a row-level security policy, and an
-- audit table the application role was never granted. The role is made here if it does not
-- exist yet (as a production migration would), so that a test as the superuser runs these
-- migrations too; a test with `role = "tenant_app"` finds it made by the harness.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenant_app') THEN
        CREATE ROLE tenant_app;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    -- Made at the same moment by another template's migrations or by the harness.
    NULL;
END
$$;

CREATE TABLE notes (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL,
    body text NOT NULL
);

INSERT INTO notes (tenant, body) VALUES
    ('acme', 'acme''s first note'),
    ('acme', 'acme''s second note'),
    ('globex', 'globex''s only note');

ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes
    USING (tenant = current_setting('app.tenant', true));

GRANT SELECT, INSERT ON notes TO tenant_app;
GRANT USAGE ON SEQUENCE notes_id_seq TO tenant_app;

-- Never granted to tenant_app: reading it as the role must fail.
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    entry text NOT NULL
);
