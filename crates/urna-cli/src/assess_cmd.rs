//! `urna assess`: the standards self-assessment (NIST IR 8310, EU Compendium). A thin wrapper
//! over `urna_assess`; the checks, formats and their tests live there.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use urna_assess::Lang;
use urna_assess::assessment::{Assessment, date_of_ms};
use urna_assess::check::Inputs;
use urna_assess::note;
use urna_assess::pdf::{Font, pdf};
use urna_assess::report::{Signers, html};
use urna_model::note::{NoteSigner, NoteVerifier};
use urna_store::{Clock as _, SystemClock};

/// The font the PDF uses when `--font` is not given, if the system has it (Debian's
/// fonts-dejavu-core): it covers all four languages' scripts.
const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// `urna assess` subcommands.
#[derive(clap::Subcommand)]
pub(crate) enum AssessCommand {
    /// Write an assessment file: urna's own checks of the data directory answered (pass,
    /// fail, unknown, with the evidence seen), every other control left open for the operator.
    Init {
        /// Data directory (`urna init`); read only, also while `urna serve` runs on it.
        #[arg(long)]
        data: PathBuf,
        /// Directory holding the backups (`urna backup --out DIR/<name>`).
        #[arg(long)]
        backups: Option<PathBuf>,
        /// File with the servers' command lines (a systemd unit or a shell script running
        /// `urna serve`, `urna witness serve` or `urna desk`): their TLS flags are checked.
        #[arg(long, value_name = "FILE")]
        serve_config: Option<PathBuf>,
        /// Directory holding the counting centre's `desk.sqlite` (default: --data).
        #[arg(long)]
        desk: Option<PathBuf>,
        /// Date of the assessment, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        date: Option<String>,
        /// Output file (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check the completed assessment (urna's answers checked again on the same inputs) and
    /// sign it: an `urna/assessment/v1` signed note.
    Sign {
        /// The completed assessment file.
        #[arg(default_value = "assessment.toml")]
        assessment: PathBuf,
        /// The commission's key file (`urna keys generate`).
        #[arg(long)]
        key: PathBuf,
        /// Output file of the signed note.
        #[arg(long, default_value = "assessment.note")]
        out: PathBuf,
    },
    /// Co-sign a signed assessment as a partner agency: adds one signature line, over the
    /// same bytes. Give --trust to check the earlier signatures first.
    Cosign {
        /// The signed assessment (rewritten in place).
        note: PathBuf,
        /// The agency's key file (`urna keys generate`).
        #[arg(long)]
        key: PathBuf,
        /// A verifier key (`name+id+key`) whose signature must be there before co-signing;
        /// repeatable.
        #[arg(long = "trust", value_name = "VKEY")]
        trust: Vec<String>,
    },
    /// Verify a signed assessment: every --trust key must have signed it; names who did.
    ///
    /// Exit codes: 0 every trusted key signed; 1 a signature is missing or does not verify
    /// (a changed body breaks every one); 2 usage or I/O error.
    Verify {
        /// The signed assessment.
        note: PathBuf,
        /// A verifier key that must have signed; repeatable, at least one.
        #[arg(long = "trust", value_name = "VKEY", required = true)]
        trust: Vec<String>,
    },
    /// The report of a signed assessment: index.html (accessible, printable) and
    /// assessment.pdf, in one of the four languages.
    Report {
        /// The signed assessment.
        note: PathBuf,
        /// Language: en, sq, mk or sr-Latn.
        #[arg(long, default_value = "en")]
        lang: String,
        /// Verifier keys whose signatures the report names as checked; repeatable.
        #[arg(long = "trust", value_name = "VKEY")]
        trust: Vec<String>,
        /// TrueType font to embed in the PDF (default: DejaVu Sans where installed; without
        /// one, Courier, which cannot show Cyrillic nor č, ć, đ).
        #[arg(long, value_name = "FILE.ttf")]
        font: Option<PathBuf>,
        /// Output directory (created).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `urna assess`.
pub(crate) fn run(command: AssessCommand) -> Result<ExitCode> {
    match command {
        AssessCommand::Init {
            data,
            backups,
            serve_config,
            desk,
            date,
            out,
        } => {
            let date = date.unwrap_or_else(|| date_of_ms(SystemClock.now_ms()));
            let inputs = Inputs {
                data: absolute(&data)?,
                backups: backups.as_deref().map(absolute).transpose()?,
                serve_config: serve_config.as_deref().map(absolute).transpose()?,
                desk: desk.as_deref().map(absolute).transpose()?,
            };
            let a = Assessment::init(inputs, &date)?;
            write_new(&out, a.to_toml().as_bytes())?;
            let mut automatic = 0;
            for x in a.answers.iter().filter(|x| x.answer.is_automatic()) {
                automatic += 1;
                println!(
                    "{:<22} {:<7} {}",
                    x.id,
                    x.answer,
                    x.evidence.as_deref().unwrap_or("")
                );
            }
            println!(
                "wrote {}: {automatic} controls answered by urna, {} for the operator",
                out.display(),
                a.answers.len() - automatic
            );
            Ok(ExitCode::SUCCESS)
        }
        AssessCommand::Sign {
            assessment,
            key,
            out,
        } => {
            let text = std::fs::read_to_string(&assessment)
                .with_context(|| format!("reading {}", assessment.display()))?;
            let a =
                Assessment::from_toml(&text).with_context(|| assessment.display().to_string())?;
            let body = a
                .recheck_into_body()
                .with_context(|| assessment.display().to_string())?;
            let signer = signer(&key)?;
            let signed = note::sign(&body, &signer)?;
            write_new(&out, &signed.to_bytes())?;
            let open = body
                .answers
                .iter()
                .filter(|x| x.answer == note::Answer::Open)
                .count();
            println!(
                "signed {} as {} ({} controls, {open} still open): {}",
                body.election,
                signer.name(),
                body.answers.len(),
                out.display()
            );
            println!("verifier key: {}", signer.verifier().to_vkey());
            Ok(ExitCode::SUCCESS)
        }
        AssessCommand::Cosign {
            note: path,
            key,
            trust,
        } => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            if !trust.is_empty() {
                note::verify(&bytes, &verifiers(&trust)?)
                    .with_context(|| format!("{}: before co-signing", path.display()))?;
            }
            let signer = signer(&key)?;
            let signed =
                note::cosign(&bytes, &signer).with_context(|| path.display().to_string())?;
            std::fs::write(&path, signed.to_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "co-signed {} as {} ({} signatures)",
                path.display(),
                signer.name(),
                signed.signatures().len()
            );
            println!("verifier key: {}", signer.verifier().to_vkey());
            Ok(ExitCode::SUCCESS)
        }
        AssessCommand::Verify { note: path, trust } => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            match note::verify(&bytes, &verifiers(&trust)?) {
                Ok((body, signed, unchecked)) => {
                    println!(
                        "assessment of {} ({}, {} controls) signed by: {}",
                        body.election,
                        body.date,
                        body.answers.len(),
                        signed.join(", ")
                    );
                    if !unchecked.is_empty() {
                        println!("also signed by keys not checked: {}", unchecked.join(", "));
                    }
                    if body.controls != urna_assess::controls::catalogue_sha256() {
                        println!(
                            "note: it answers another version of the controls than this urna's"
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ note::SignedError::Signature(_)) => {
                    eprintln!("urna assess verify: {}: {e}", path.display());
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e).with_context(|| path.display().to_string()),
            }
        }
        AssessCommand::Report {
            note: path,
            lang,
            trust,
            font,
            out,
        } => {
            let lang = Lang::from_code(&lang)
                .with_context(|| format!("--lang {lang:?}: must be en, sq, mk or sr-Latn"))?;
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let (body, verified, unchecked) = if trust.is_empty() {
                let (n, body) = note::open(&bytes).with_context(|| path.display().to_string())?;
                let names = n.signatures().iter().map(|s| s.name.clone()).collect();
                (body, Vec::new(), names)
            } else {
                note::verify(&bytes, &verifiers(&trust)?)
                    .with_context(|| path.display().to_string())?
            };
            let signers = Signers {
                verified,
                unchecked,
            };
            let font = match font {
                Some(f) => Font::TrueType(
                    std::fs::read(&f).with_context(|| format!("--font {}", f.display()))?,
                ),
                None => match std::fs::read(DEFAULT_FONT) {
                    Ok(b) => Font::TrueType(b),
                    Err(_) => Font::Courier,
                },
            };
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let page = out.join("index.html");
            std::fs::write(&page, html(&body, &signers, lang))
                .with_context(|| format!("writing {}", page.display()))?;
            let doc = pdf(&body, &signers, lang, &font).context("the PDF report")?;
            let file = out.join("assessment.pdf");
            std::fs::write(&file, doc).with_context(|| format!("writing {}", file.display()))?;
            println!("wrote {} and {} ({lang})", page.display(), file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn signer(key: &Path) -> Result<NoteSigner> {
    let skey =
        std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    NoteSigner::from_skey(skey.trim()).with_context(|| format!("--key {}", key.display()))
}

fn verifiers(trust: &[String]) -> Result<Vec<NoteVerifier>> {
    trust
        .iter()
        .map(|v| NoteVerifier::from_vkey(v.trim()).with_context(|| format!("--trust {v:?}")))
        .collect()
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("{}", p.display()))
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    if path.exists() {
        bail!(
            "{}: exists already; refusing to overwrite it",
            path.display()
        );
    }
    let mut f =
        std::fs::File::create_new(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
