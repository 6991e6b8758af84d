//! `urna keys`: signed-note keys for stations and institutions, and the pin of a server's
//! TLS key for clients (`--pin`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use urna_model::note::NoteSigner;
use urna_server::pin::SpkiPin;

/// `urna keys` subcommands.
#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate an Ed25519 key: writes the private key to a file (mode 0600) and prints the
    /// public verifier key for the election definition.
    Generate {
        /// Key name (a station id, or an institution's name without spaces).
        name: String,
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the pin of a server's TLS key, `sha256/<base64>`: the SHA-256 of the
    /// certificate's SubjectPublicKeyInfo (HPKP's pin-sha256, curl's --pinnedpubkey
    /// sha256//), for clients' `--pin` and a witness's `pins` in witnesses.toml.
    Pin {
        /// The server's certificate (PEM); in a chain file, the first certificate (the leaf).
        #[arg(long, value_name = "FILE.pem")]
        cert: PathBuf,
    },
}

/// Runs `urna keys …`.
pub(crate) fn run(command: KeysCommand) -> Result<ExitCode> {
    match command {
        KeysCommand::Generate { name, out } => {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
            let signer = NoteSigner::from_seed(&name, &seed)?;
            urna_store::write_secret(&out, &signer.to_skey())?;
            out!("{}", signer.verifier().to_vkey());
        }
        KeysCommand::Pin { cert } => {
            let pem =
                std::fs::read(&cert).with_context(|| format!("reading {}", cert.display()))?;
            let pins =
                SpkiPin::of_pem(&pem).map_err(|e| anyhow!("--cert {}: {e}", cert.display()))?;
            out!("{}", pins[0]);
        }
    }
    Ok(ExitCode::SUCCESS)
}
