//! `urna verify`: a thin wrapper over `urna_verify`; the logic and its tests live there.

use std::process::ExitCode;

use anyhow::Result;

/// `urna verify` arguments.
#[derive(clap::Args)]
pub(crate) struct VerifyArgs {}

/// Runs `urna verify`.
pub(crate) fn run(_args: VerifyArgs) -> Result<ExitCode> {
    anyhow::bail!("urna verify is not built yet")
}
