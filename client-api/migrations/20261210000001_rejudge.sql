-- Rejudging: a submission is judged again under the same id. `judging` counts its judgings
-- (1 for the first, one more per rejudge); the judge echoes it, and a result or started event
-- for another judging than the current one is stale and dropped. Every earlier judging is kept
-- in `submission_judgings`, so a verdict is never lost to a rejudge.
ALTER TABLE submissions
    ADD COLUMN judging           INTEGER NOT NULL DEFAULT 1,
    -- The worker served the compile step from its cache (NULL: not judged yet, or a worker
    -- that does not say).
    ADD COLUMN compile_cached    BOOLEAN,
    -- Needed to send the submission again; rows from before this migration judged with the
    -- default (later test cases Skipped after a failure) unless asked otherwise, which was
    -- not recorded.
    ADD COLUMN run_all_testcases BOOLEAN NOT NULL DEFAULT FALSE,
    -- The W3C traceparent of the span that requested the current judging (the submit or the
    -- rejudge), so a rejudge's trace can link to it; trace_id alone cannot make a link.
    ADD COLUMN traceparent       TEXT,
    -- When the current judging was requested: accepted_at for the first judging, the
    -- rejudge request's time after that. End-to-end and API times are measured from it.
    ADD COLUMN requested_at      TIMESTAMPTZ;
UPDATE submissions SET requested_at = accepted_at;
ALTER TABLE submissions ALTER COLUMN requested_at SET NOT NULL;

-- One row per judging that a rejudge superseded: its verdict (NULL when it was superseded
-- before its verdict arrived, with the status it had), results, timings, worker and trace.
CREATE TABLE submission_judgings (
    submission_id        UUID             NOT NULL REFERENCES submissions (id),
    judging              INTEGER          NOT NULL,
    status               TEXT             NOT NULL CHECK (status IN ('queued', 'judging', 'done')),
    problem_version      INTEGER,
    verdict              TEXT,
    compile_output       TEXT,
    results              JSONB,
    error                TEXT,
    worker_id            TEXT,
    trace_id             TEXT             NOT NULL,
    trace_sampled        BOOLEAN          NOT NULL,
    traceparent          TEXT,
    requested_at         TIMESTAMPTZ      NOT NULL,
    published_at         TIMESTAMPTZ,
    consumed_at          TIMESTAMPTZ,
    judged_at            TIMESTAMPTZ,
    stored_at            TIMESTAMPTZ,
    queue_wait_ms        DOUBLE PRECISION,
    queue_wait_precision TEXT,
    testcase_fetch_ms    DOUBLE PRECISION,
    compile_ms           DOUBLE PRECISION,
    run_ms               DOUBLE PRECISION,
    compile_cached       BOOLEAN,
    superseded_at        TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (submission_id, judging)
);
