//! `urna forensics`: the statistical screens of `urna-forensics` over a data directory's
//! published results (or a per-station CSV in the Election Forensics Toolkit's layout), as a
//! terminal summary and an HTML/SVG report folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use urna_forensics::integer::IntegerConfig;
use urna_forensics::{Input, Options, Station, analyze, report};
use urna_model::definition::Election;
use urna_tally::public::Replay;

use crate::export_cmd::Published;

/// `urna forensics` arguments.
#[derive(clap::Args)]
pub(crate) struct ForensicsArgs {
    /// Data directory: the results of its published checkpoint are screened (first contest).
    #[arg(long, required_unless_present = "eft_csv", conflicts_with = "eft_csv")]
    data: Option<PathBuf>,
    /// A per-station CSV in the Election Forensics Toolkit's layout instead (columns
    /// Registered, Ballots, the unit column, and one column per list named `C<digits>` or
    /// `P<digits>`; `NA` counts as 0).
    #[arg(long)]
    eft_csv: Option<PathBuf>,
    /// Unit level to compare stations within (a level of the definition, e.g. `district` or
    /// `municipality`; default: the level just below the root). With --eft-csv, the unit
    /// column (default `Prefectures`).
    #[arg(long)]
    unit: Option<String>,
    /// Report folder to write (index.html and its SVG plots; created if missing).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Unit shapes for a map of the flags per unit: an ESRI shapefile (.shp, with its .dbf
    /// beside it) whose records name the units in an attribute.
    #[arg(long, requires = "out")]
    shapes: Option<PathBuf>,
    /// Monte Carlo repetitions of the integer-percentage screen.
    #[arg(long, default_value_t = 1000)]
    reps: u32,
    /// Seed of the Monte Carlo (published in the report).
    #[arg(long, default_value_t = 2016)]
    seed: u64,
}

/// Runs `urna forensics`. Flags do not change the exit code: they are reasons to look.
pub(crate) fn run(args: &ForensicsArgs) -> Result<ExitCode> {
    // The input borrows the stations' identifiers and votes from the replay.
    let published;
    let (input, title) = match (&args.data, &args.eft_csv) {
        (Some(data), None) => {
            published = Published::open(data)?;
            let input = from_replay(&published.election, &published.replay, args.unit.as_deref())?;
            (input, published.election.name.clone())
        }
        (None, Some(csv)) => (
            from_eft_csv(csv, args.unit.as_deref().unwrap_or("Prefectures"))?,
            format!("{}", csv.display()),
        ),
        _ => bail!("give either --data or --eft-csv"),
    };
    let options = Options {
        integer: IntegerConfig {
            reps: args.reps,
            seed: args.seed,
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            ..IntegerConfig::default()
        },
        ..Options::default()
    };
    let shapes = match &args.shapes {
        Some(shp) => {
            let dbf = shp.with_extension("dbf");
            let read =
                |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
            let shapes = urna_forensics::shape::read(&read(shp)?, &read(&dbf)?)
                .with_context(|| format!("reading the shapes of {}", shp.display()))?;
            Some(shapes)
        }
        None => None,
    };
    let r = analyze(&input, &options)?;
    out!("{}", report::summary(&r).trim_end());
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let files = report::files(&r, &format!("Forensic screens: {title}"), shapes.as_deref());
        for (name, text) in &files {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        out!(
            "report: {} ({} files)",
            dir.join("index.html").display(),
            files.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The stations of the first contest, grouped by their ancestor at `level`.
pub(crate) fn from_replay<'a>(
    e: &'a Election,
    replay: &'a Replay,
    level: Option<&str>,
) -> Result<Input<'a>> {
    Ok(urna_forensics::bundle::grouped(e, replay, level)?.input)
}

/// A CSV in the toolkit's layout (its `Albania2013.csv`).
fn from_eft_csv(path: &Path, unit_column: &str) -> Result<Input<'static>> {
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let header = rdr.headers()?.clone();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| h == n)
            .with_context(|| format!("{}: missing column {n:?}", path.display()))
    };
    let (c_unit, c_reg, c_cast) = (col(unit_column)?, col("Registered")?, col("Ballots")?);
    // The toolkit's files name communes within prefectures: they are the centres.
    let c_centre = header.iter().position(|h| h == "Communes");
    let lists: Vec<usize> = (0..header.len())
        .filter(|&i| {
            let h = header[i].as_bytes();
            h.len() > 1 && (h[0] == b'C' || h[0] == b'P') && h[1].is_ascii_digit()
        })
        .collect();
    if lists.is_empty() {
        bail!(
            "{}: no list columns (named C<digits> or P<digits>)",
            path.display()
        );
    }
    let mut units: Vec<String> = Vec::new();
    // By name: a file of a million stations may name as many units.
    let mut unit_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut centre_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut stations = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("{}: line {line}", path.display()))?;
        let num = |c: usize, na_zero: bool| -> Result<u64> {
            let f = rec.get(c).unwrap_or("").trim();
            if na_zero && f == "NA" {
                return Ok(0);
            }
            f.parse().with_context(|| {
                format!(
                    "{}: line {line}, column {}: {f:?} is not a whole number of votes",
                    path.display(),
                    &header[c]
                )
            })
        };
        let unit = rec.get(c_unit).unwrap_or("");
        let g = if let Some(&g) = unit_of.get(unit) {
            g
        } else {
            unit_of.insert(unit.to_owned(), units.len());
            units.push(unit.to_owned());
            units.len() - 1
        };
        let centre = c_centre.and_then(|c| rec.get(c)).map(|name| {
            let n = centre_of.len();
            *centre_of.entry(name.to_owned()).or_insert(n)
        });
        stations.push(Station {
            id: rec
                .get(0)
                .map_or_else(|| line.to_string(), str::to_owned)
                .into(),
            unit: g,
            centre,
            registered: num(c_reg, false)?,
            cast: num(c_cast, false)?,
            votes: lists
                .iter()
                .map(|&c| num(c, true))
                .collect::<Result<Vec<u64>>>()?
                .into(),
            counted: true,
            quarantined: false,
            amended: false,
        });
    }
    let mut centres = vec![String::new(); centre_of.len()];
    for (name, i) in centre_of {
        centres[i] = name;
    }
    Ok(units_sorted(Input {
        units,
        centres,
        lists: lists.iter().map(|&c| header[c].to_owned()).collect(),
        stations,
    }))
}

/// Units in alphabetical order, as the toolkit lists them.
fn units_sorted(mut input: Input<'_>) -> Input<'_> {
    let mut order: Vec<usize> = (0..input.units.len()).collect();
    order.sort_by(|&a, &b| input.units[a].cmp(&input.units[b]));
    let mut new_index = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    for s in &mut input.stations {
        s.unit = new_index[s.unit];
    }
    input.units = order.iter().map(|&i| input.units[i].clone()).collect();
    input
}
