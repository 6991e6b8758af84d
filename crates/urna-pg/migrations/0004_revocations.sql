-- urna on PostgreSQL, schema 4: station key revocations (`urna/revocation/v1`).

-- Every admitted revocation's log index and note hash; the note itself is its row of `entries`
-- (its station, no contest, revision 0). Each batch reads the revocations stored since its
-- node's last read through this table's key, so the station keys are current without a scan
-- of `entries`. Derived from the entries: compared with them at open.
CREATE TABLE revocations (
    idx  bigint PRIMARY KEY REFERENCES entries (idx),
    hash bytea  NOT NULL
);
