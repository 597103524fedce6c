CREATE TABLE form_submissions (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id      bigint      NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    block_id     bigint      REFERENCES blocks (id) ON DELETE SET NULL,
    payload      jsonb       NOT NULL,
    submitter_ip inet,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    handled_at   timestamptz
);

CREATE INDEX form_submissions_page_id_submitted_at_idx ON form_submissions (page_id, submitted_at DESC);
CREATE INDEX form_submissions_block_id_idx ON form_submissions (block_id);
CREATE INDEX form_submissions_unhandled_idx ON form_submissions (submitted_at) WHERE handled_at IS NULL;
