//! Integration tests for urna-tlog, in one binary to save link time.

mod vectors;
