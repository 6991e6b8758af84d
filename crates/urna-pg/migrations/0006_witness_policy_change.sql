-- urna on PostgreSQL, schema 6: the witness policy changed on a live cluster
-- (`urna log witnesses --store … --witnesses FILE`).

-- When the policy is replaced, the checkpoint published at that moment was cosigned under the
-- policy before: it stays the published one until the first round under the new policy
-- replaces it (as the SQLite store's DATA/log/checkpoint stays when DATA/witnesses.toml is
-- edited), and it is checked against the policy that cosigned it, kept here with it. Any
-- other note in table `published` is checked against the policy in force, so a note written
-- there outside urna (one cosigned by a witness's replaced key, say) is refused.
ALTER TABLE witness_policy
    ADD COLUMN previous_policy     text,
    ADD COLUMN previous_ca_cert    text,
    ADD COLUMN previous_checkpoint bytea,
    ADD CONSTRAINT previous_whole CHECK ((previous_policy IS NULL) = (previous_checkpoint IS NULL));
