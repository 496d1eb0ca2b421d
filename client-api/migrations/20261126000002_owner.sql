-- Who submitted: a client reads only its own submissions. An opaque id derived from the
-- client's token (never the token itself).
ALTER TABLE submissions ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX submissions_owner_idx ON submissions (owner);
