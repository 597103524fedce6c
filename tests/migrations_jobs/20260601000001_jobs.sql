-- A queue of jobs, as a worker library keeps one: the runtime and worker tests run on it.
CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    payload text NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 2
);
