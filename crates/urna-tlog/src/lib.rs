//! urna-tlog
