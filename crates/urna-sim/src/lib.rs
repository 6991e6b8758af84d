//! urna-sim
