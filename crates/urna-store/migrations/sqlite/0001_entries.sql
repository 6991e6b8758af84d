-- urna store, schema 1. Migrations are append-only: add a new file, never edit this one.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One row per accepted note (protocols, amendments; quarantined ones too), in log order.
-- Rows are never updated or deleted: an amendment is a new row with a higher revision.
CREATE TABLE entries (
    idx         INTEGER PRIMARY KEY,  -- log index, 0-based, in acceptance order
    hash        BLOB NOT NULL,        -- SHA-256 of the note bytes
    text_hash   BLOB NOT NULL,        -- SHA-256 of the note text (what signatures cover)
    contest     TEXT NOT NULL,
    station     TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    status      INTEGER NOT NULL,     -- 0 accepted, 1 quarantined
    received_ms INTEGER NOT NULL,     -- commission clock, Unix milliseconds
    note        BLOB NOT NULL         -- the exact bytes submitted
) STRICT;
