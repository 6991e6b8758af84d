//! `urna export`: results in exchange formats (NIST SP 1500-100 v2 JSON, CSV).

use std::process::ExitCode;

use anyhow::Result;

/// `urna export` arguments.
#[derive(clap::Args)]
pub(crate) struct ExportArgs {}

/// Runs `urna export`.
pub(crate) fn run(_args: ExportArgs) -> Result<ExitCode> {
    anyhow::bail!("urna export is not built yet")
}
