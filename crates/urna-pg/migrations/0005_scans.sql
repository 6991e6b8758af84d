-- urna on PostgreSQL, schema 5: scans of paper protocols.

-- The bytes of each scan a stored note names (`scan: sha256:<hex>` in a protocol or an
-- amendment), keyed by their SHA-256. Any node takes one at `PUT /v1/scans/<sha256>` and
-- answers only after its row committed, so every node's bundle and `urna publish --store`
-- publish it (`blob/sha256/<hex>`) whichever node took it. Checked at open: each row's bytes
-- hash to its key and are a PDF, JPEG or PNG file of at most 8 MiB, and a stored note names
-- the key.
CREATE TABLE scans (
    sha256 bytea PRIMARY KEY CHECK (length(sha256) = 32),
    data   bytea NOT NULL
);
