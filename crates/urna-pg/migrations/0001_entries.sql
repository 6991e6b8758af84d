-- urna on PostgreSQL, schema 1. Migrations are append-only: add a new file, never edit this one.
CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- One row per stored note, in log order, as in the SQLite store (crates/urna-store/migrations).
-- Rows are never updated or deleted.
CREATE TABLE entries (
    idx         bigint PRIMARY KEY CHECK (idx >= 0), -- log index, 0-based, in commit order
    hash        bytea NOT NULL UNIQUE,               -- SHA-256 of the note bytes
    text_hash   bytea NOT NULL,                      -- SHA-256 of the note text
    contest     text NOT NULL,
    station     text NOT NULL,
    revision    bigint NOT NULL,
    status      smallint NOT NULL,                   -- 0 accepted, 1 quarantined
    received_ms bigint NOT NULL,                     -- the node's clock, Unix milliseconds
    note        bytea NOT NULL                       -- the exact bytes submitted
);

-- The next log index. Every intake transaction locks this row (SELECT … FOR UPDATE) before it
-- admits, so indices are given in commit order without gaps.
CREATE TABLE intake_head (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    next_idx bigint NOT NULL
);

-- Each station's current protocol or amendment (derived from entries; checked at open).
CREATE TABLE current (
    contest   text NOT NULL,
    station   text NOT NULL,
    revision  bigint NOT NULL,
    hash      bytea NOT NULL,
    text_hash bytea NOT NULL,
    idx       bigint NOT NULL,
    PRIMARY KEY (contest, station)
);

-- Stations whose latest decision ordered a recount, with the entry decided (derived; checked at
-- open).
CREATE TABLE recounts (
    contest text NOT NULL,
    station text NOT NULL,
    decides bytea NOT NULL,
    PRIMARY KEY (contest, station)
);

-- The one sequencer: its lease (holder, expiry on the database's clock), its fencing token
-- (epoch, raised at every takeover and checked in every sequencing transaction), and the log
-- it signed (size, checkpoint).
CREATE TABLE sequencer (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    epoch      bigint NOT NULL,
    holder     text NOT NULL,
    expires    timestamptz NOT NULL,
    size       bigint NOT NULL,
    checkpoint bytea
);

-- C2SP tlog-tiles by path (hash and data tiles, partial ones too), written with the checkpoint
-- that first names them.
CREATE TABLE tiles (
    path text PRIMARY KEY,
    data bytea NOT NULL
);

-- Every checkpoint the log signed.
CREATE TABLE checkpoints (
    size bigint PRIMARY KEY,
    note bytea NOT NULL
);
