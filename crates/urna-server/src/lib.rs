//! urna's HTTP side: the commission's service, its static public bundle, the stations'
//! submission client, and the transparency-log witness.
//!
//! Implements:
//! - `urna serve` ([`serve`]): `POST /v1/protocols` (intake authenticated by the notes' own
//!   signatures, acknowledged with the log's signed receipt only after commit, `503` past the
//!   intake bound), the public bundle's files, inclusion proofs, `/healthz`, Prometheus
//!   metrics on a separate listener, and an OpenAPI document (`openapi.json`).
//! - The static bundle ([`bundle`]): checkpoint, tiles, definition blobs, results JSON and CSV,
//!   written as atomic generations that any web server, mirror or CDN can serve.
//! - `urna submit` ([`submit`]): retries, a durable store-and-forward queue, receipt checks.
//! - C2SP tlog-witness `POST /add-checkpoint`, <https://c2sp.org/tlog-witness>, as an axum
//!   router with the spec's statuses ([`witness`]), around the pure
//!   [`urna_tlog::Witness`] state machine, with the witness state persisted atomically before
//!   every cosignature ([`state_file`]); its key file and `--log ORIGIN=VKEY` arguments
//!   ([`witness_key`]).
//! - The log side: ask n witnesses in parallel, verify each C2SP tlog-cosignature, and
//!   assemble the cosigned checkpoint at a quorum of k ([`cosign_client`]), configured from a
//!   small `witnesses.toml`; and publishing a checkpoint once the quorum cosigned it
//!   ([`publish`]).
//!
//! Servers are library functions with no `main`: they take listeners that are already bound
//! (tests bind port 0 first); the CLI is a thin call into them. Both servers bound their
//! connections, close a client that does not finish its request head in time, and derive the
//! bound from the open-file limit ([`conn`]).
//!
//! Every server serves HTTPS from a PEM certificate and key ([`tls`], rustls with ring) and
//! refuses plain HTTP outside loopback.
//!
//! Out of scope: the witness monitoring API, which the spec leaves
//! undefined; cosignature algorithms other than Ed25519 `cosignature/v1`.

mod audit_bundle;
pub mod bundle;
pub mod conn;
pub mod cosign_client;
pub mod deadline;
pub mod gzip;
pub mod pg_bundle;
pub mod pg_serve;
pub mod publish;
pub mod sendfile;
pub mod serve;
pub mod state_file;
pub mod submit;
pub mod tls;
pub mod witness;
pub mod witness_key;

/// Trust in the TLS servers urna's clients talk to: CA files and pinned keys; the crate
/// `urna_pin`, re-exported here for the clients of this crate.
pub mod pin {
    pub use urna_pin::{
        PinError, ServerTrust, SpkiPin, TrustError, agent, agent_with_roots, ca_certificates,
        is_loopback_authority,
    };
}

pub use conn::{ConnLimits, FileBudget, FileLimit, raise_open_file_limit};
pub use cosign_client::{
    CosignReport, PolicyError, WitnessEndpoint, WitnessPolicy, collect_cosignatures,
};
pub use state_file::{StateFile, StateFileError, StateLock};
pub use witness::{
    AddCheckpointError, MAX_BODY_BYTES, WitnessService, run_witness_until_signal, serve_witness,
    shutdown_signal, witness_router,
};
pub use witness_key::{KeyFileError, WitnessKey, parse_log_arg};
