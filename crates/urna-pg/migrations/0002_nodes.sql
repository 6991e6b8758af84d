-- urna on PostgreSQL, schema 2: the intake nodes' heartbeats, for `urna status` and
-- `GET /v1/status`. Each `urna serve` node upserts its own row about once a second; a row is
-- never read by intake or the sequencer (it is monitoring only, not part of the log).
CREATE TABLE nodes (
    name       text PRIMARY KEY,
    listen     text NOT NULL,             -- the node's API address, as it printed it
    started    timestamptz NOT NULL,      -- when this run of the node started
    last_seen  timestamptz NOT NULL,      -- the database's clock at the last heartbeat
    intake     bigint NOT NULL,           -- notes stored through this node in this run
    rate       double precision NOT NULL, -- notes stored per second over the last heartbeat
    sequencing boolean NOT NULL           -- it held the sequencer's lease at the heartbeat
);
