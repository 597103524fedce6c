CREATE TABLE audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id    bigint      REFERENCES users (id) ON DELETE SET NULL,
    site_id     bigint      REFERENCES sites (id) ON DELETE CASCADE,
    action      text        NOT NULL,
    target_type text        NOT NULL,
    target_id   bigint,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_actor_id_idx ON audit_log (actor_id);
CREATE INDEX audit_log_site_id_created_at_idx ON audit_log (site_id, created_at DESC);
CREATE INDEX audit_log_created_at_brin ON audit_log USING brin (created_at);
