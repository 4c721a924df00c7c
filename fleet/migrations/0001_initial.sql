-- blickfang fleet schema, version 1. Standard SQL of PostgreSQL 15 (no extension).
-- Nothing here identifies a person: no track id, no image, no face; a person is
-- one anonymous `left` event (times, glances, gender, age group) and its shares.

-- One row per screen (a player's camera), as its records report it.
CREATE TABLE screens (
    screen text PRIMARY KEY,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    software_version text,
    model_versions text,
    -- The edge's loss counter (`dropped`) on its latest record that had one.
    last_dropped bigint,
    last_dropped_at timestamptz
);

-- The `left` person events, exactly once per (screen, run, seq).
CREATE TABLE person_events (
    screen text NOT NULL,
    run text NOT NULL,
    seq bigint NOT NULL,
    at timestamptz NOT NULL,
    dwell_us bigint NOT NULL,
    attention_us bigint NOT NULL,
    glances integer NOT NULL,
    gender text,
    age_group text,
    ending text,
    PRIMARY KEY (screen, run, seq)
);

-- Per person event, its time with each content period it saw.
CREATE TABLE person_shares (
    screen text NOT NULL,
    run text NOT NULL,
    seq bigint NOT NULL,
    idx integer NOT NULL,
    content_id text NOT NULL,
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    dwell_us bigint NOT NULL,
    attention_us bigint NOT NULL,
    PRIMARY KEY (screen, run, seq, idx),
    FOREIGN KEY (screen, run, seq) REFERENCES person_events ON DELETE CASCADE
);

-- The content reports: proof of play (content, start, end) and the edge's
-- k-suppressed report fields (absent counts were suppressed at the edge).
CREATE TABLE content_periods (
    screen text NOT NULL,
    run text NOT NULL,
    seq bigint NOT NULL,
    content_id text NOT NULL,
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    ending text,
    min_group_size bigint,
    ots bigint,
    watchers bigint,
    report jsonb NOT NULL,
    PRIMARY KEY (screen, run, seq)
);

-- screen × content × hour, kept up to date by every batch (times in µs).
CREATE TABLE rollup_hourly (
    screen text NOT NULL,
    content_id text NOT NULL,
    hour timestamptz NOT NULL,
    plays bigint NOT NULL DEFAULT 0,
    on_screen_us bigint NOT NULL DEFAULT 0,
    ots bigint NOT NULL DEFAULT 0,
    watchers bigint NOT NULL DEFAULT 0,
    dwell_us bigint NOT NULL DEFAULT 0,
    attention_us bigint NOT NULL DEFAULT 0,
    watcher_attention_us bigint NOT NULL DEFAULT 0,
    dwell_h0 bigint NOT NULL DEFAULT 0,
    dwell_h1 bigint NOT NULL DEFAULT 0,
    dwell_h2 bigint NOT NULL DEFAULT 0,
    dwell_h3 bigint NOT NULL DEFAULT 0,
    dwell_h4 bigint NOT NULL DEFAULT 0,
    dwell_h5 bigint NOT NULL DEFAULT 0,
    attention_h0 bigint NOT NULL DEFAULT 0,
    attention_h1 bigint NOT NULL DEFAULT 0,
    attention_h2 bigint NOT NULL DEFAULT 0,
    attention_h3 bigint NOT NULL DEFAULT 0,
    attention_h4 bigint NOT NULL DEFAULT 0,
    attention_h5 bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (screen, content_id, hour)
);

-- OTS per gender × age group of a rollup cell.
CREATE TABLE rollup_hourly_demographics (
    screen text NOT NULL,
    content_id text NOT NULL,
    hour timestamptz NOT NULL,
    gender text NOT NULL,
    age_group text NOT NULL,
    ots bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (screen, content_id, hour, gender, age_group)
);

-- Messages that are not data: the reason, the topic and the first bytes only (bounded).
CREATE TABLE rejected (
    id bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    reason text NOT NULL,
    topic text NOT NULL,
    head bytea NOT NULL
);
