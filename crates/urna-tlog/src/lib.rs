//! urna-tlog (crate doc written below)

pub mod hash;
pub mod proof;
pub mod storage;
pub mod tree;
