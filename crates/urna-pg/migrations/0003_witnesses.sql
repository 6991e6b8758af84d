-- urna on PostgreSQL, schema 3: witnesses cosigning the log (C2SP tlog-witness), as the SQLite
-- store's DATA/witnesses.toml, DATA/witness-sizes.json and DATA/log/checkpoint.

-- The witness policy (k of n), set by `urna init --store … --witnesses FILE`: in the database,
-- so that every node cosigns and publishes under the same policy. `policy` is the file's TOML;
-- `ca_cert` its `ca_cert` resolved to an absolute path at init (each node reads that file).
CREATE TABLE witness_policy (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    policy  text NOT NULL,
    ca_cert text
);

-- The tree size each witness last cosigned (by its name in the policy): the next request to it
-- carries a consistency proof from this size.
CREATE TABLE witness_sizes (
    name text PRIMARY KEY,
    size bigint NOT NULL CHECK (size >= 0)
);

-- The published checkpoint: the latest one a quorum of the witnesses cosigned (the log's
-- signature and theirs). Empty until the first quorum; without a policy it stays empty and the
-- sequencer's own checkpoint is the published one. Its row lock serialises publication rounds.
CREATE TABLE published (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    size       bigint NOT NULL CHECK (size >= 0),
    checkpoint bytea
);
INSERT INTO published (size) VALUES (0);
