-- Whether the submission's trace is recorded at all: a caller whose traceparent is not
-- sampled gets its trace id continued, but no spans are kept, so there is no trace to link to.
ALTER TABLE submissions ADD COLUMN trace_sampled BOOLEAN NOT NULL DEFAULT TRUE;
