//! urna-model
