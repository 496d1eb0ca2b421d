-- Problems, their versioned test cases, submissions and the outbox of unpublished submissions.

CREATE TABLE problems (
    id              BIGSERIAL PRIMARY KEY,
    title           TEXT        NOT NULL,
    time_limit_ms   INTEGER     NOT NULL,
    memory_limit_mb INTEGER     NOT NULL,
    version         INTEGER     NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every version is kept and never changes: the worker caches by (problem_id, version), and a
-- submission judged against version N stays reproducible after version N+1 is uploaded.
CREATE TABLE problem_testcases (
    problem_id BIGINT      NOT NULL REFERENCES problems (id),
    version    INTEGER     NOT NULL,
    testcases  JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (problem_id, version)
);

CREATE TABLE submissions (
    id                UUID PRIMARY KEY,
    problem_id        BIGINT REFERENCES problems (id),
    problem_version   INTEGER,
    language          TEXT             NOT NULL,
    source            TEXT             NOT NULL,
    time_limit_ms     INTEGER          NOT NULL,
    memory_limit_mb   INTEGER          NOT NULL,
    inline_testcases  JSONB,
    status            TEXT             NOT NULL CHECK (status IN ('queued', 'judging', 'done')),
    verdict           TEXT,
    compile_output    TEXT,
    results           JSONB,
    error             TEXT,
    worker_id         TEXT,
    trace_id          TEXT             NOT NULL,
    accepted_at       TIMESTAMPTZ      NOT NULL,
    published_at      TIMESTAMPTZ,
    consumed_at       TIMESTAMPTZ,
    judged_at         TIMESTAMPTZ,
    stored_at         TIMESTAMPTZ,
    queue_wait_ms     DOUBLE PRECISION,
    testcase_fetch_ms DOUBLE PRECISION,
    compile_ms        DOUBLE PRECISION,
    run_ms            DOUBLE PRECISION
);

CREATE INDEX submissions_problem_idx ON submissions (problem_id);

-- A row per submission not yet confirmed by the broker. Written in the same transaction as the
-- submission; deleted once the broker confirms the message. `claimed_until` keeps the request
-- that wrote the row and the relay from publishing it at the same time; a row whose claim
-- expired (a crash, a broker outage) is published by the relay.
CREATE TABLE outbox (
    submission_id UUID PRIMARY KEY REFERENCES submissions (id),
    payload       JSONB       NOT NULL,
    trace_context JSONB       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_until TIMESTAMPTZ NOT NULL,
    attempts      INTEGER     NOT NULL DEFAULT 0,
    last_error    TEXT
);

CREATE INDEX outbox_claimed_until_idx ON outbox (claimed_until);
