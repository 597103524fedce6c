-- The seed's `HealthCheck` model: a row an operator or a probe can write to
-- prove the database accepts writes, and read back to see when it last did.
CREATE TABLE health_check (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status     text        NOT NULL DEFAULT 'pass',
    note       text,
    checked_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT health_check_status_check CHECK (status IN ('pass', 'warn', 'fail'))
);

-- "When did the last check run?" reads the newest row.
CREATE INDEX health_check_checked_at_idx ON health_check (checked_at DESC);

COMMENT ON TABLE health_check IS 'Write probes: one row per health check that exercised a write.';
