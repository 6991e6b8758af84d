//! urna-store
