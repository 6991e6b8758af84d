//! urna's HTTP side. So far: the transparency-log witness and the log's client for it.
//!
//! Implements:
//! - C2SP tlog-witness `POST /add-checkpoint`, <https://c2sp.org/tlog-witness>, as an axum
//!   router with the spec's statuses ([`witness`]), around the pure
//!   [`urna_tlog::Witness`] state machine, with the witness state persisted atomically before
//!   every cosignature ([`state_file`]).
//! - The witness's key file and `--log ORIGIN=VKEY` arguments ([`witness_key`]).
//! - The log side: ask n witnesses in parallel, verify each C2SP tlog-cosignature, and
//!   assemble the cosigned checkpoint at a quorum of k ([`cosign_client`]), configured from a
//!   small `witnesses.toml`; and publishing a checkpoint once the quorum cosigned it
//!   ([`publish`]).
//!
//! The server is a library with no `main`: [`witness::serve_witness`] takes a listener that
//! is already bound (tests bind port 0 first), and `urna witness serve` is a thin call into
//! [`witness::run_witness_until_signal`].
//!
//! Out of scope (for now): intake, public read and admin endpoints (DESIGN §4 puts them here
//! later); TLS (witnesses are reached over loopback or a private network); the witness
//! monitoring API, which the spec leaves undefined; cosignature algorithms other than
//! Ed25519 `cosignature/v1`.

pub mod cosign_client;
pub mod publish;
pub mod state_file;
pub mod witness;
pub mod witness_key;

pub use cosign_client::{
    CosignReport, PolicyError, WitnessEndpoint, WitnessPolicy, collect_cosignatures,
};
pub use state_file::{StateFile, StateFileError};
pub use witness::{
    AddCheckpointError, MAX_BODY_BYTES, WitnessService, run_witness_until_signal, serve_witness,
    shutdown_signal, witness_router,
};
pub use witness_key::{KeyFileError, WitnessKey, parse_log_arg};
