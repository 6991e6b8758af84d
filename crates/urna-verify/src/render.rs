//! Recomputing the derived files on every thread, each compared with the published file as
//! soon as it is rendered (so a million stations' files are never all in memory at once).
//!
//! The files and their order are those of [`urna_tally::public::render`], which renders them
//! one after the other, then the statistical screens ([`urna_forensics::bundle::render`]);
//! here each file is a job. A test checks that the jobs give exactly what these give, so a
//! file added there and not here fails it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use urna_model::definition::{Election, UnitIdx};
use urna_tally::public::{self, CheckpointInfo, DefinitionFiles, RenderError, Replay};

use crate::report::{Discrepancy, Kind};
use crate::source::{Source, SourceError};
use crate::{Progress, Stage, compare_file};

/// One derived file (or, for seats, the files of every contest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Election,
    StationIndex,
    Results,
    Summary,
    Areas,
    Quarantine,
    Seats,
    Unit(UnitIdx),
    StationsCsv,
    UnitsCsv,
    PreferencesCsv,
    Readme,
    Shapes,
    Web,
    Forensics,
}

/// The jobs, in the order [`public::render`] lists the files.
fn jobs(e: &Election, replay: &Replay) -> Vec<Job> {
    let mut jobs = vec![
        Job::Election,
        Job::StationIndex,
        Job::Results,
        Job::Summary,
        Job::Areas,
        Job::Quarantine,
        Job::Seats,
    ];
    jobs.extend(
        public::units_with_files(e, replay)
            .into_iter()
            .map(Job::Unit),
    );
    jobs.extend([
        Job::StationsCsv,
        Job::UnitsCsv,
        Job::PreferencesCsv,
        Job::Readme,
        Job::Shapes,
        Job::Web,
        Job::Forensics,
    ]);
    jobs
}

fn run_job(
    job: Job,
    e: &Election,
    files: &DefinitionFiles,
    replay: &Replay,
    cp: &CheckpointInfo,
) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    let one = |path: &str, bytes| Ok(vec![(path.to_owned(), bytes)]);
    match job {
        Job::Election => one(public::ELECTION_JSON, public::render_election(e, files)?),
        Job::StationIndex => public::render_station_index(e),
        Job::Results => one(public::RESULTS_JSON, public::render_results(e, replay, cp)?),
        Job::Summary => one(public::SUMMARY_JSON, public::render_summary(e, replay, cp)?),
        Job::Areas => public::render_areas(e, replay, cp),
        Job::Quarantine => one(
            public::QUARANTINE_JSON,
            public::render_quarantine(e, replay)?,
        ),
        Job::Seats => public::render_seats(e, replay),
        Job::Unit(u) => one(
            &public::unit_path(&e.units[u.0 as usize].id),
            public::render_unit(e, replay, u)?,
        ),
        Job::StationsCsv => one(
            public::STATIONS_CSV,
            public::render_stations_csv(e, replay)?,
        ),
        Job::UnitsCsv => one(public::UNITS_CSV, public::render_units_csv(e, replay)?),
        // Written only when a contest has preferences.
        Job::PreferencesCsv => Ok(public::render_preferences_csv(e, replay)?
            .map(|csv| (public::PREFERENCES_CSV.to_owned(), csv))
            .into_iter()
            .collect()),
        Job::Readme => one(public::README_TXT, public::render_readme(e, cp)),
        // Written only when the definition names unit shapes.
        Job::Shapes => Ok(urna_tally::shapes::render_shapes(e, files)?
            .map(|json| (urna_tally::shapes::SHAPES_JSON.to_owned(), json))
            .into_iter()
            .collect()),
        Job::Web => Ok(public::web_files().collect()),
        Job::Forensics => urna_forensics::bundle::render(e, replay),
    }
}

/// What the derived files are recomputed from.
pub(crate) struct Inputs<'a> {
    pub(crate) election: &'a Election,
    pub(crate) files: &'a DefinitionFiles,
    pub(crate) replay: &'a Replay,
    pub(crate) checkpoint: &'a CheckpointInfo,
}

/// What comparing the derived files found.
#[derive(Default)]
pub(crate) struct Compared {
    /// Every path recomputed, in order.
    pub(crate) paths: Vec<String>,
    /// Files compared.
    pub(crate) compared: u64,
    /// … of which identical.
    pub(crate) identical: u64,
    /// A discrepancy for each that is not.
    pub(crate) found: Vec<Discrepancy>,
}

/// A job's files, each with the outcome of its comparison.
type JobOutcome = Result<Vec<(String, Result<Option<Discrepancy>, SourceError>)>, RenderError>;

/// Renders every derived file on `source.concurrency()` threads and compares each with the
/// published one, adding a discrepancy for each that differs or is missing.
///
/// # Errors
/// [`SourceError`] if the source fails.
pub(crate) fn render_and_compare(
    source: &dyn Source,
    inputs: &Inputs<'_>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Compared, SourceError> {
    let Inputs {
        election: e,
        files,
        replay,
        checkpoint: cp,
    } = *inputs;
    let jobs = jobs(e, replay);
    // The big files first, so that no thread is left with one at the end.
    let mut schedule: Vec<usize> = (0..jobs.len()).collect();
    schedule.sort_by_key(|&i| match jobs[i] {
        Job::Forensics | Job::StationsCsv => 0,
        Job::Results => 1,
        Job::UnitsCsv | Job::PreferencesCsv => 2,
        _ => 3,
    });
    let slots: Vec<Mutex<Option<JobOutcome>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let total = jobs.len() as u64;
    let threads = source.concurrency().max(1).min(jobs.len());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = schedule.get(k) else { break };
                    if jobs[i] == Job::StationsCsv
                        && let Some(outcome) = stream_stations_csv(source, e, replay)
                    {
                        if let Ok(mut slot) = slots[i].lock() {
                            *slot = Some(Ok(vec![(public::STATIONS_CSV.to_owned(), outcome)]));
                        }
                        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                        progress(Progress {
                            stage: Stage::Files,
                            done: d,
                            total,
                        });
                        continue;
                    }
                    let outcome = run_job(jobs[i], e, files, replay, cp).map(|rendered| {
                        rendered
                            .into_iter()
                            .map(|(path, bytes)| {
                                let r = compare_file(source, &path, &bytes);
                                (path, r)
                            })
                            .collect()
                    });
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(outcome);
                    }
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress(Progress {
                        stage: Stage::Files,
                        done: d,
                        total,
                    });
                }
            });
        }
    });
    let mut out = Compared::default();
    for slot in slots {
        let outcome = slot.into_inner().ok().flatten();
        match outcome {
            None => {}
            Some(Err(err)) => out.found.push(Discrepancy::new(
                Kind::NotRecomputed,
                format!("a derived file cannot be recomputed: {err}"),
            )),
            Some(Ok(list)) => {
                for (path, r) in list {
                    out.compared += 1;
                    match r? {
                        None => out.identical += 1,
                        Some(d) => out.found.push(d),
                    }
                    out.paths.push(public::published_path(&path).into_owned());
                }
            }
        }
    }
    Ok(out)
}

/// `csv/stations.csv` (the largest derived file: a hundred megabytes and more at a million
/// stations) compared with what the published `csv/stations.csv.gz` inflates to as it is
/// rendered, a piece at a time, so that neither is held. `Some(Ok(None))` if they are identical; `None` if they are not, or it is
/// not published, or it cannot be rendered: then the job runs as any other, rendering it whole
/// to name the difference (or the render error).
fn stream_stations_csv(
    source: &dyn Source,
    e: &Election,
    replay: &Replay,
) -> Option<Result<Option<Discrepancy>, SourceError>> {
    // Published only as its gzip (`csv/stations.csv.gz`), inflated as it is compared.
    let gz = public::published_path(public::STATIONS_CSV);
    let reader = match source.reader(&gz) {
        Ok(Some(r)) => r,
        Ok(None) => return None,
        Err(err) => return Some(Err(err)),
    };
    let mut reader = flate2::bufread::GzDecoder::new(std::io::BufReader::new(reader));
    let compare = Compare {
        published: &mut reader,
        scratch: Vec::new(),
        same: true,
        error: None,
    };
    let mut compare = public::write_stations_csv(e, replay, compare).ok()?;
    if let Some(source) = compare.error {
        // Not a gzip stream (or a damaged one): the job names it, as for any other file.
        if matches!(
            source.kind(),
            std::io::ErrorKind::InvalidInput
                | std::io::ErrorKind::InvalidData
                | std::io::ErrorKind::UnexpectedEof
        ) {
            return None;
        }
        return Some(Err(SourceError::Io {
            path: public::STATIONS_CSV.into(),
            source,
        }));
    }
    let mut rest = [0u8; 1];
    let ended = matches!(crate::fill(&mut compare.published, &mut rest), Ok(0));
    let same = compare.same;
    // Nothing may follow the gzip stream either.
    let trailing = std::io::BufRead::fill_buf(reader.get_mut()).map_or(true, |b| !b.is_empty());
    (same && ended && !trailing).then_some(Ok(None))
}

/// A writer that compares what is written with what `published` reads, without keeping it.
struct Compare<R> {
    published: R,
    scratch: Vec<u8>,
    /// Whether everything written so far is what was published.
    same: bool,
    /// Why the published file could not be read, if it could not.
    error: Option<std::io::Error>,
}

impl<R: std::io::Read> std::io::Write for Compare<R> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.same {
            self.scratch.resize(data.len(), 0);
            match crate::fill(&mut self.published, &mut self.scratch) {
                Ok(n) => self.same = n == data.len() && self.scratch[..] == *data,
                Err(e) => {
                    self.same = false;
                    self.error = Some(e);
                }
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) fn render_all(
    e: &Election,
    files: &DefinitionFiles,
    replay: &Replay,
    cp: &CheckpointInfo,
) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    let mut out = Vec::new();
    for job in jobs(e, replay) {
        out.extend(run_job(job, e, files, replay, cp)?);
    }
    Ok(out)
}
