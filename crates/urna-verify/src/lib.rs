//! The independent verifier of an urna election: from a public bundle (a directory or a web
//! server), with trust given explicitly, it re-checks the log and recomputes every number.
//!
//! It depends on `urna-model`, `urna-tlog` and `urna-tally` only, never on the commission's
//! storage or server code, so what it checks does not lean on what it checks.
