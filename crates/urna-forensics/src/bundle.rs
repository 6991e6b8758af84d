//! The screens as files of the public bundle: `v1/forensics.json` and the plots
//! `v1/forensics/*.svg`, a pure function of the definition and the replayed entries, so that
//! the bundle writer and an independent verifier render the same bytes.
//!
//! Stations are those of the first contest, grouped by the level just below the root (e.g.
//! districts); a station's own unit, when it lies below that level, is its counting centre.
//! The Monte Carlo runs [`BUNDLE_REPS`] repetitions from [`BUNDLE_SEED`], on as many threads
//! as there are cores (its results do not depend on them). Every number in the JSON is
//! rounded to [`DECIMALS`] decimals, so the file is the same on every platform that computes
//! the same doubles. When nothing can be screened yet (no counted station), the JSON says why
//! and no plot is written.
//!
//! The JSON (`urna/forensics/v1`): the warning; the grouping level; counted stations; the
//! leading list; the Monte Carlo's repetitions and seed and the inclusion criteria; the
//! thresholds of the flags; per unit (then `all`): counted stations, the stuffing slope and
//! correlation, quarantined and amended protocols; per screened variable and unit, the Election
//! Forensics Toolkit's statistics and the integer-percentage count against its expectation;
//! the flags with their numbers; the largest station outliers and counting-centre shifts (at
//! most [`MAX_LISTED`], with their totals); and the plots with a title and a description.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_tally::public::{RenderError, Replay};

use crate::integer::IntegerConfig;
use crate::report::{self, WARNING};
use crate::svg::escape;
use crate::{Input, InputError, Options, Report, Station, Variable, analyze};

/// Path of the screens' JSON in a bundle generation.
pub const FORENSICS_JSON: &str = "v1/forensics.json";
/// Directory of the plots in a bundle generation.
pub const FORENSICS_DIR: &str = "v1/forensics";
/// Format of [`FORENSICS_JSON`].
pub const FORMAT: &str = "urna/forensics/v1";
/// Monte Carlo repetitions in the bundle: the fewest that let the integer-percentage screen
/// reach its flag level (p < 0.001 needs at least 1,000).
pub const BUNDLE_REPS: u32 = 1000;
/// Seed of the bundle's Monte Carlo.
pub const BUNDLE_SEED: u64 = 2016;
/// Decimals of every number in the JSON.
pub const DECIMALS: i32 = 4;
/// Station outliers and centre shifts listed (the largest first).
pub const MAX_LISTED: usize = 100;

/// Why the stations could not be grouped into units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The definition has no contest.
    #[error("the definition has no contest")]
    NoContest,
    /// The definition has no unit.
    #[error("the definition has no units")]
    NoUnits,
    /// No unit has the level asked for.
    #[error("--unit {level}: no unit has that level (levels: {levels})")]
    Level {
        /// The level asked for.
        level: String,
        /// The definition's levels, root first.
        levels: String,
    },
    /// The definition has no `ballots-cast` count.
    #[error("the definition has no count named ballots-cast")]
    NoBallotsCast,
    /// A station lies outside every unit of the level.
    #[error("--unit {level}: station {station} lies in no unit of that level")]
    Outside {
        /// The level.
        level: String,
        /// The station.
        station: String,
    },
    /// More stations than an index holds.
    #[error("too many stations")]
    TooMany,
}

/// The stations of the first contest grouped by a level, with the units' ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouped<'a> {
    /// The screens' input, borrowing the stations' identifiers and votes from the definition
    /// and the replay.
    pub input: Input<'a>,
    /// The id of each unit of [`Input::units`].
    pub unit_ids: Vec<String>,
    /// The level grouped by.
    pub level: String,
}

/// The stations of the first contest, grouped by their ancestor at `level` (default: the level
/// just below the root). Registered voters are the protocol's `registered` count when it has
/// one, else the definition's.
///
/// # Errors
/// [`GroupError`] naming what the definition lacks.
pub fn grouped<'a>(
    e: &'a Election,
    replay: &'a Replay,
    level: Option<&str>,
) -> Result<Grouped<'a>, GroupError> {
    let Some(contest) = e.contests.first() else {
        return Err(GroupError::NoContest);
    };
    let levels: Vec<&str> = {
        let mut l: Vec<(u32, &str)> = e
            .units
            .iter()
            .map(|u| (u.depth, u.level.as_str()))
            .collect();
        l.sort_unstable();
        l.dedup();
        l.into_iter().map(|(_, n)| n).collect()
    };
    let level = match level {
        Some(l) => l.to_owned(),
        None => e
            .units
            .iter()
            .find(|u| u.depth == 1)
            .or_else(|| e.units.first())
            .map(|u| u.level.clone())
            .ok_or(GroupError::NoUnits)?,
    };
    if !levels.contains(&level.as_str()) {
        return Err(GroupError::Level {
            level,
            levels: levels.join(", "),
        });
    }
    let cast_at = e
        .count_position("ballots-cast")
        .ok_or(GroupError::NoBallotsCast)?;
    let registered_at = e.count_position("registered");
    let mut unit_of = BTreeMap::new();
    let (mut units, mut unit_ids): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut centre_of = BTreeMap::new();
    let mut centres: Vec<String> = Vec::new();
    let mut stations = Vec::with_capacity(e.stations.len());
    for (i, st) in e.stations.iter().enumerate() {
        let mut u = Some(st.unit);
        while let Some(x) = u {
            if e.units[x.0 as usize].level == level {
                break;
            }
            u = e.units[x.0 as usize].parent;
        }
        let Some(u) = u else {
            return Err(GroupError::Outside {
                level,
                station: st.id.clone(),
            });
        };
        let g = *unit_of.entry(u.0).or_insert_with(|| {
            units.push(e.units[u.0 as usize].name.clone());
            unit_ids.push(e.units[u.0 as usize].id.clone());
            units.len() - 1
        });
        // The station's own (leaf) unit is its centre when it lies below the grouping level.
        let centre = (st.unit != u).then(|| {
            *centre_of.entry(st.unit.0).or_insert_with(|| {
                centres.push(e.units[st.unit.0 as usize].name.clone());
                centres.len() - 1
            })
        });
        let idx = StationIdx(u32::try_from(i).map_err(|_| GroupError::TooMany)?);
        let state = replay.station(ContestIdx(0), idx);
        // The counts are read in place and the votes borrowed: a copy of each station's would
        // hold (or, freed at once, leave holes of) tens of megabytes at a million stations.
        let (counts, votes, quarantined, amended) = match state {
            Some(s) => (
                s.current().counts.as_slice(),
                Cow::Borrowed(s.current().votes.as_slice()),
                // Not counted: quarantined, or annulled or awaiting a recount by decision.
                !s.is_counted(),
                s.history_len() > 1,
            ),
            None => (
                &[][..],
                Cow::Owned(vec![0; contest.lists.len()]),
                false,
                false,
            ),
        };
        stations.push(Station {
            id: Cow::Borrowed(st.id.as_str()),
            unit: g,
            centre,
            registered: registered_at
                .and_then(|k| counts.get(k).copied())
                .unwrap_or(st.registered),
            cast: counts.get(cast_at).copied().unwrap_or(0),
            votes,
            counted: state.is_some() && !quarantined,
            quarantined,
            amended,
        });
    }
    Ok(Grouped {
        input: Input {
            units,
            centres,
            lists: contest
                .lists
                .iter()
                .map(|&l| e.lists[l].name.clone())
                .collect(),
            stations,
        },
        unit_ids,
        level,
    })
}

/// The options of the bundle's screens.
pub fn bundle_options() -> Options {
    Options {
        integer: IntegerConfig {
            reps: BUNDLE_REPS,
            seed: BUNDLE_SEED,
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            ..IntegerConfig::default()
        },
        ..Options::default()
    }
}

/// `v1/forensics.json` and the plots, as `(path, bytes)` in path order of the JSON's `plots`
/// after the JSON itself.
///
/// # Errors
/// [`RenderError::Write`] if the JSON writer fails.
pub fn render(e: &Election, replay: &Replay) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    let options = bundle_options();
    let outcome = grouped(e, replay, None).map_err(|err| err.to_string());
    let analysed = outcome.and_then(|g| match analyze(&g.input, &options) {
        Ok(r) => Ok((g, r)),
        Err(InputError::Empty) => Err(format!("{}", InputError::Empty)),
        Err(err) => Err(err.to_string()),
    });
    let contest = e.contests.first().map(|c| c.id.clone()).unwrap_or_default();
    let (doc, plots) = match analysed {
        Ok((g, r)) => {
            let plots = plots(&r);
            (document(e, &contest, &g, &r, &plots), plots)
        }
        Err(reason) => (
            Doc {
                format: FORMAT,
                warning: WARNING,
                contest,
                screened: false,
                reason: Some(reason),
                ..Doc::default()
            },
            Vec::new(),
        ),
    };
    let mut json = serde_json::to_vec_pretty(&doc).map_err(|err| RenderError::Write {
        file: FORENSICS_JSON,
        reason: err.to_string(),
    })?;
    json.push(b'\n');
    let mut out = vec![(FORENSICS_JSON.to_owned(), json)];
    out.extend(plots.into_iter().map(|p| (p.path, p.svg.into_bytes())));
    Ok(out)
}

/// A plot of the bundle.
struct Plot {
    path: String,
    /// `fingerprint`, `histogram`, `last-digit` or `second-digit`.
    kind: &'static str,
    /// The variable's index in the report, for all but the fingerprint.
    variable: Option<usize>,
    title: String,
    desc: String,
    svg: String,
}

/// The report's plots with a `<desc>` each, saying in words what the plot shows.
fn plots(r: &Report) -> Vec<Plot> {
    let nu = r.units.len();
    let mut out = Vec::new();
    for (name, svg) in report::files(r, "", None) {
        let Some(stem) = name.strip_suffix(".svg") else {
            continue;
        };
        let variable = r.variables.iter().position(|v| {
            let slug = match v.variable {
                Variable::Turnout => "turnout".to_owned(),
                Variable::List(i) => format!("list-{i}"),
            };
            stem.strip_prefix(slug.as_str())
                .is_some_and(|rest| rest.starts_with('-'))
        });
        let (kind, title, desc) = match (stem, variable.map(|i| &r.variables[i])) {
            ("fingerprint", _) => {
                let st = &r.stuffing[nu];
                (
                    "fingerprint",
                    format!("Turnout × {} share (stations)", r.leader_name),
                    format!(
                        "Counted stations by turnout (across, whole percentage points) and the share of {} (up, whole points); darker cells hold more stations. A smear towards high turnout and high share is what ballot stuffing leaves. Correlation of turnout and share: {}; Sobyanin–Sukhovolsky slope: {}.",
                        r.leader_name,
                        fixed(st.correlation),
                        fixed(st.sobyanin)
                    ),
                )
            }
            (s, Some(v)) if s.ends_with("-hist") => (
                "histogram",
                format!("{} (% of stations' ballots)", v.name),
                format!(
                    "Counted stations by {} in whole percentage points, over {} stations. Integer percentages: {} observed, {:.1} expected.",
                    v.name, r.counted[nu], v.integer[nu].observed, v.integer[nu].expected
                ),
            ),
            (s, Some(v)) if s.ends_with("-last") => (
                "last-digit",
                format!("{}: last digit of counts", v.name),
                format!(
                    "Share of stations whose count of {} ends in each digit 0 to 9, against an even tenth each. Mean last digit (LastC): {}; share ending in 0 or 5 (C05s): {}.",
                    v.name,
                    fixed(v.eft[nu].last_digit_mean),
                    fixed(v.eft[nu].c05s)
                ),
            ),
            (s, Some(v)) if s.ends_with("-second") => (
                "second-digit",
                format!("{}: second digit of counts (Benford line)", v.name),
                format!(
                    "Share of stations whose count of {} has each second digit 0 to 9, against Benford's law (the line). Mean second digit (2BL): {}, against 4.187.",
                    v.name,
                    fixed(v.eft[nu].second_digit_mean)
                ),
            ),
            _ => continue,
        };
        let svg = with_desc(&svg, &desc);
        out.push(Plot {
            path: format!("{FORENSICS_DIR}/{name}"),
            kind,
            variable,
            title,
            desc,
            svg,
        });
    }
    out
}

/// `svg` with `role="img"` and a `<desc>` after its `<title>`.
fn with_desc(svg: &str, desc: &str) -> String {
    let svg = svg.replacen("<svg ", "<svg role=\"img\" ", 1);
    match svg.find("</title>") {
        Some(at) => {
            let at = at + "</title>".len();
            format!("{}<desc>{}</desc>{}", &svg[..at], escape(desc), &svg[at..])
        }
        None => svg,
    }
}

fn fixed(x: Option<f64>) -> String {
    x.map_or_else(|| "none".to_owned(), |v| format!("{v:.3}"))
}

/// `x` rounded to [`DECIMALS`] decimals (never `-0`).
fn round(x: f64) -> f64 {
    let scale = 10f64.powi(DECIMALS);
    let r = (x * scale).round() / scale;
    if r == 0.0 { 0.0 } else { r }
}

fn round_opt(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite()).map(round)
}

#[derive(Serialize, Default)]
struct Doc {
    format: &'static str,
    warning: &'static str,
    contest: String,
    screened: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<String>,
    counted: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    leader: Option<Leader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    monte_carlo: Option<MonteCarlo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thresholds: Option<Thresholds>,
    units: Vec<UnitDoc>,
    variables: Vec<VariableDoc>,
    flags: Vec<FlagDoc>,
    outliers_total: usize,
    outliers: Vec<OutlierDoc>,
    centres_total: usize,
    centres: Vec<CentreDoc>,
    plots: Vec<PlotDoc>,
}

#[derive(Serialize)]
struct Leader {
    list: String,
    name: String,
}

#[derive(Serialize)]
struct MonteCarlo {
    repetitions: u32,
    seed: u64,
    generator: &'static str,
    min_denominator: u64,
    inclusion: &'static str,
}

#[derive(Serialize)]
struct Thresholds {
    digits_z: f64,
    digits_min_stations: u64,
    integer_p: f64,
    stuffing_correlation: f64,
    outlier_z: f64,
    centre_z: f64,
    centre_min_stations: u64,
    concentration_z: f64,
    major_share: f64,
}

#[derive(Serialize)]
struct UnitDoc {
    /// Unit id, or `all`.
    id: String,
    name: String,
    counted: u64,
    stuffing: StuffingDoc,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocols: Option<ProtocolsDoc>,
}

#[derive(Serialize)]
struct StuffingDoc {
    stations: usize,
    correlation: Option<f64>,
    sobyanin: Option<f64>,
}

#[derive(Serialize)]
struct ProtocolsDoc {
    reported: u64,
    quarantined: u64,
    quarantined_z: Option<f64>,
    amended: u64,
    amended_z: Option<f64>,
}

#[derive(Serialize)]
struct VariableDoc {
    /// `turnout` or the list's id.
    id: String,
    name: String,
    /// Per unit, in the order of `units`.
    units: Vec<ScreenDoc>,
}

#[derive(Serialize)]
struct ScreenDoc {
    obs: usize,
    #[serde(rename = "2BL")]
    second_digit_mean: Option<f64>,
    #[serde(rename = "LastC")]
    last_digit_mean: Option<f64>,
    #[serde(rename = "C05s")]
    c05s: Option<f64>,
    #[serde(rename = "P05s")]
    p05s: Option<f64>,
    #[serde(rename = "Skew")]
    skew: Option<f64>,
    #[serde(rename = "Kurt")]
    kurt: Option<f64>,
    integer: IntegerDoc,
}

#[derive(Serialize)]
struct IntegerDoc {
    included: u64,
    observed: u64,
    expected: f64,
    sd: f64,
    p: f64,
}

#[derive(Serialize)]
struct FlagDoc {
    /// Unit id, or `all`.
    unit: String,
    screen: &'static str,
    variable: String,
    detail: String,
}

#[derive(Serialize)]
struct OutlierDoc {
    station: String,
    unit: String,
    variable: String,
    percent: f64,
    median: f64,
    z: f64,
}

#[derive(Serialize)]
struct CentreDoc {
    centre: String,
    unit: String,
    variable: String,
    stations: usize,
    median_z: f64,
}

#[derive(Serialize)]
struct PlotDoc {
    file: String,
    kind: &'static str,
    /// `turnout` or the list's id; none for the fingerprint.
    variable: Option<String>,
    title: String,
    desc: String,
}

fn document(e: &Election, contest: &str, g: &Grouped<'_>, r: &Report, plots: &[Plot]) -> Doc {
    let nu = r.units.len();
    let unit_id = |u: usize| g.unit_ids.get(u).cloned().unwrap_or_else(|| "all".into());
    let id_of_name = |name: &str| {
        r.units
            .iter()
            .position(|n| n == name)
            .map_or_else(|| "all".to_owned(), unit_id)
    };
    let list_ids: Vec<String> = e
        .contests
        .first()
        .map(|c| c.lists.iter().map(|&l| e.lists[l].id.clone()).collect())
        .unwrap_or_default();
    let variable_id = |v: &Variable| match v {
        Variable::Turnout => "turnout".to_owned(),
        Variable::List(i) => list_ids.get(*i).cloned().unwrap_or_default(),
    };
    let o = &r.options;
    Doc {
        format: FORMAT,
        warning: WARNING,
        contest: contest.to_owned(),
        screened: true,
        reason: None,
        level: Some(g.level.clone()),
        counted: r.counted[nu],
        leader: Some(Leader {
            list: list_ids.get(r.leader).cloned().unwrap_or_default(),
            name: r.leader_name.clone(),
        }),
        monte_carlo: Some(MonteCarlo {
            repetitions: o.integer.reps,
            seed: o.integer.seed,
            generator: "ChaCha8, repetition r on stream r",
            min_denominator: o.integer.min_denominator,
            inclusion: "counted stations whose denominator (registered voters for turnout, ballots cast for a share) is at least min_denominator and whose count k satisfies 0 < k < n",
        }),
        thresholds: Some(Thresholds {
            digits_z: o.flag_z,
            digits_min_stations: 30,
            integer_p: o.flag_p,
            stuffing_correlation: 0.5,
            outlier_z: o.outlier_z,
            centre_z: o.centre_z,
            centre_min_stations: 10,
            concentration_z: o.flag_z,
            major_share: o.major_share,
        }),
        units: (0..=nu)
            .map(|u| {
                let st = &r.stuffing[u];
                UnitDoc {
                    id: unit_id(u),
                    name: r.units.get(u).cloned().unwrap_or_else(|| "all".into()),
                    counted: r.counted[u],
                    stuffing: StuffingDoc {
                        stations: st.n,
                        correlation: round_opt(st.correlation),
                        sobyanin: round_opt(st.sobyanin),
                    },
                    protocols: r.concentration.get(u).map(|c| ProtocolsDoc {
                        reported: c.reported,
                        quarantined: c.quarantined,
                        quarantined_z: round_opt(c.quarantined_z),
                        amended: c.amended,
                        amended_z: round_opt(c.amended_z),
                    }),
                }
            })
            .collect(),
        variables: r
            .variables
            .iter()
            .map(|v| VariableDoc {
                id: variable_id(&v.variable),
                name: v.name.clone(),
                units: v
                    .eft
                    .iter()
                    .zip(&v.integer)
                    .map(|(s, i)| ScreenDoc {
                        obs: s.obs,
                        second_digit_mean: round_opt(s.second_digit_mean),
                        last_digit_mean: round_opt(s.last_digit_mean),
                        c05s: round_opt(s.c05s),
                        p05s: round_opt(s.p05s),
                        skew: round_opt(s.skew),
                        kurt: round_opt(s.kurt),
                        integer: IntegerDoc {
                            included: i.included,
                            observed: i.observed,
                            expected: round(i.expected),
                            sd: round(i.sd),
                            p: round(i.p_value),
                        },
                    })
                    .collect(),
            })
            .collect(),
        flags: r
            .flags
            .iter()
            .map(|f| FlagDoc {
                unit: id_of_name(&f.unit),
                screen: f.screen,
                variable: f.variable.clone(),
                detail: f.detail.clone(),
            })
            .collect(),
        outliers_total: r.outliers.len(),
        outliers: r
            .outliers
            .iter()
            .take(MAX_LISTED)
            .map(|x| OutlierDoc {
                station: x.station.clone(),
                unit: unit_id(x.unit),
                variable: x.variable.clone(),
                percent: round(x.percent),
                median: round(x.median),
                z: round(x.z),
            })
            .collect(),
        centres_total: r.centres.len(),
        centres: r
            .centres
            .iter()
            .take(MAX_LISTED)
            .map(|c| CentreDoc {
                centre: c.centre.clone(),
                unit: unit_id(c.unit),
                variable: c.variable.clone(),
                stations: c.stations,
                median_z: round(c.median_z),
            })
            .collect(),
        plots: plots
            .iter()
            .map(|p| PlotDoc {
                file: p.path.clone(),
                kind: p.kind,
                variable: p.variable.map(|i| variable_id(&r.variables[i].variable)),
                title: p.title.clone(),
                desc: p.desc.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
