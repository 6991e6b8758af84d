//! Integration tests of urna-tally.
