-- Version 2: records of a newer schema version, kept whole to be replayed after
-- an upgrade (a rolling upgrade of the edges loses nothing); indexes for the
-- retention job (raw rows older than N days are deleted, the rollup is kept).
CREATE TABLE parked (
    id bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    version text NOT NULL,
    topic text NOT NULL,
    payload bytea NOT NULL
);
CREATE INDEX person_events_at ON person_events (at);
CREATE INDEX content_periods_end_at ON content_periods (end_at);
