//! Election forensics: statistical screens of per-station results, and their plots.
//!
//! One job: given each station's registered voters, ballots cast, votes per list and intake
//! history (quarantined, amended), compute the screens that show where results look unlike
//! honest counting, per unit and nationally, and draw them as SVG. A flag is a reason to
//! look, never proof: each screen has known innocent causes (see `docs/forensics.md`).
//!
//! Screens:
//! - distributions of turnout and of each major list's share, and the turnout × share
//!   histogram of the leading list (the "fingerprint", Klimek et al. 2012);
//! - integer percentages against a seeded binomial Monte Carlo ([`integer`]);
//! - the Election Forensics Toolkit's digit and moment statistics ([`eft`]);
//! - per-station robust z-scores of turnout and shares against the stations of the same unit,
//!   and the median of them over each counting centre (a centre that moved votes);
//! - concentration of quarantined and amended protocols per unit;
//! - the Sobyanin–Sukhovolsky ballot-stuffing slope and the turnout–share correlation.
//!
//! The public bundle's `v1/forensics.json` and plots are rendered here too ([`bundle`]), from
//! the definition and the replayed entries, so that the bundle writer and the verifier agree.
//!
//! Out of scope: reading data (the caller builds [`Input`] or gives a replay), writing files
//! (the caller writes [`report::files`] or [`bundle::render`]), and model fits beyond the
//! linear stuffing slope.

pub mod bundle;
pub mod eft;
pub mod integer;
pub mod report;
pub mod shape;
pub mod svg;

use std::borrow::Cow;

use eft::{EftStats, capped_share, eft_stats};
use integer::{IntegerConfig, IntegerResult, integer_percentages};

/// A station's published numbers. Its identifier and votes are borrowed where the caller
/// already holds them (a replay of a million stations: about 90 MB not copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Station<'a> {
    /// Station identifier.
    pub id: Cow<'a, str>,
    /// Index of its unit in [`Input::units`].
    pub unit: usize,
    /// Index of its counting centre or municipality (within its unit) in [`Input::centres`].
    pub centre: Option<usize>,
    /// Registered voters.
    pub registered: u64,
    /// Ballots cast.
    pub cast: u64,
    /// Votes per list, in the order of [`Input::lists`].
    pub votes: Cow<'a, [u64]>,
    /// Whether its current protocol is counted (reported and not quarantined).
    pub counted: bool,
    /// Whether its current protocol is quarantined.
    pub quarantined: bool,
    /// Whether it was amended (more than one protocol).
    pub amended: bool,
}

/// What the screens run over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input<'a> {
    /// Units the stations are grouped by (their names).
    pub units: Vec<String>,
    /// Counting centres or municipalities, smaller than units (their names; may be empty).
    pub centres: Vec<String>,
    /// Lists (their names).
    pub lists: Vec<String>,
    /// Stations.
    pub stations: Vec<Station<'a>>,
}

/// Input that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A station names a unit that does not exist.
    #[error("station {station}: unit index {unit} is out of range (there are {units} units)")]
    Unit {
        /// Station identifier.
        station: String,
        /// The index it gives.
        unit: usize,
        /// Number of units.
        units: usize,
    },
    /// A station names a counting centre that does not exist.
    #[error(
        "station {station}: centre index {centre} is out of range (there are {centres} centres)"
    )]
    Centre {
        /// Station identifier.
        station: String,
        /// The index it gives.
        centre: usize,
        /// Number of centres.
        centres: usize,
    },
    /// A station has a different number of list votes than there are lists.
    #[error("station {station}: {got} list votes, but the election has {lists} lists")]
    Votes {
        /// Station identifier.
        station: String,
        /// Votes given.
        got: usize,
        /// Lists.
        lists: usize,
    },
    /// No station is counted.
    #[error("no counted station: nothing to screen")]
    Empty,
}

/// Settings of the screens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// The integer-percentage Monte Carlo.
    pub integer: IntegerConfig,
    /// |robust z| from which a station is listed as an outlier.
    pub outlier_z: f64,
    /// |z| from which a digit statistic or a concentration is flagged.
    pub flag_z: f64,
    /// One-sided p-value below which an integer-percentage excess is flagged.
    pub flag_p: f64,
    /// |median robust z| of a centre's stations from which the centre is flagged.
    pub centre_z: f64,
    /// Lists with at least this share of all votes are screened.
    pub major_share: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            integer: IntegerConfig::default(),
            outlier_z: 5.0,
            flag_z: 3.0,
            flag_p: 0.001,
            centre_z: 3.0,
            major_share: 0.05,
        }
    }
}

/// A screened quantity: turnout or a list's share of ballots cast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variable {
    /// Ballots cast / registered.
    Turnout,
    /// A list's votes / ballots cast (index into [`Input::lists`]).
    List(usize),
}

/// Per-unit statistics of one variable. Index `units.len()` of each vector is the whole
/// election.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableScreens {
    /// The variable.
    pub variable: Variable,
    /// Its name (`turnout` or the list's name).
    pub name: String,
    /// The toolkit's statistics per unit, then nationally.
    pub eft: Vec<EftStats>,
    /// Integer percentages per unit, then nationally.
    pub integer: Vec<IntegerResult>,
    /// Histogram of the percentage in 100 bins of one point, nationally.
    pub histogram: Vec<u64>,
    /// Counts per last digit of the counts, nationally.
    pub last_digits: [u64; 10],
    /// Counts per second digit of the counts (two digits or more), nationally.
    pub second_digits: [u64; 10],
}

/// Turnout against the leading list's share per unit, then nationally.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stuffing {
    /// Stations with both defined.
    pub n: usize,
    /// Sobyanin–Sukhovolsky: OLS slope of share on turnout minus the mean share.
    pub sobyanin: Option<f64>,
    /// Pearson correlation of turnout and share.
    pub correlation: Option<f64>,
}

/// Quarantined and amended protocols in one unit against the election-wide rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Concentration {
    /// Reported stations in the unit.
    pub reported: u64,
    /// Quarantined among them.
    pub quarantined: u64,
    /// Amended among them.
    pub amended: u64,
    /// Binomial z of the quarantined count against the national rate.
    pub quarantined_z: Option<f64>,
    /// Binomial z of the amended count against the national rate.
    pub amended_z: Option<f64>,
}

/// A station far from its unit's peers.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlier {
    /// Station identifier.
    pub station: String,
    /// Its unit's index.
    pub unit: usize,
    /// The variable's name.
    pub variable: String,
    /// Its percentage.
    pub percent: f64,
    /// The unit's median percentage.
    pub median: f64,
    /// Robust z: (x − median) / (1.4826 · MAD).
    pub z: f64,
}

/// A counting centre's stations against the other stations of its unit: the median of
/// their robust z-scores (a centre that moved votes shifts all its stations together, which
/// per-station outliers miss).
#[derive(Debug, Clone, PartialEq)]
pub struct CentreShift {
    /// The centre's name.
    pub centre: String,
    /// Its unit's index.
    pub unit: usize,
    /// The variable's name.
    pub variable: String,
    /// Its counted stations with a defined share.
    pub stations: usize,
    /// Median robust z of its stations.
    pub median_z: f64,
}

/// A reason to look.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// The unit's name, or `all` for the whole election.
    pub unit: String,
    /// The screen (`2BL`, `LastC`, `C05s`, `P05s`, `integer`, `stuffing`, `quarantine`,
    /// `amendments`).
    pub screen: &'static str,
    /// The variable screened (`turnout`, a list name, or `protocols`).
    pub variable: String,
    /// What was seen, with the numbers.
    pub detail: String,
}

/// Every screen's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Unit names.
    pub units: Vec<String>,
    /// Counted stations per unit, then nationally.
    pub counted: Vec<u64>,
    /// The leading list (most votes over counted stations).
    pub leader: usize,
    /// Its name.
    pub leader_name: String,
    /// Turnout, then each major list.
    pub variables: Vec<VariableScreens>,
    /// Stuffing screen per unit, then nationally.
    pub stuffing: Vec<Stuffing>,
    /// Fingerprint: 100 × 100 counts, row = leader's share in whole points, column = turnout.
    pub fingerprint: Vec<u64>,
    /// Quarantine and amendment concentration per unit.
    pub concentration: Vec<Concentration>,
    /// Stations with |robust z| ≥ the threshold, largest first.
    pub outliers: Vec<Outlier>,
    /// Centres with at least 10 stations, per variable, largest |median z| first.
    pub centres: Vec<CentreShift>,
    /// Flags, in unit then screen order.
    pub flags: Vec<Flag>,
    /// The settings used.
    pub options: Options,
}

/// Runs every screen.
///
/// # Errors
/// [`InputError`] naming the station and the rule it breaks.
pub fn analyze(input: &Input<'_>, options: &Options) -> Result<Report, InputError> {
    let nu = input.units.len();
    for s in &input.stations {
        if s.unit >= nu {
            return Err(InputError::Unit {
                station: s.id.clone().into_owned(),
                unit: s.unit,
                units: nu,
            });
        }
        if let Some(c) = s.centre
            && c >= input.centres.len()
        {
            return Err(InputError::Centre {
                station: s.id.clone().into_owned(),
                centre: c,
                centres: input.centres.len(),
            });
        }
        if s.votes.len() != input.lists.len() {
            return Err(InputError::Votes {
                station: s.id.clone().into_owned(),
                got: s.votes.len(),
                lists: input.lists.len(),
            });
        }
    }
    let counted: Vec<&Station<'_>> = input.stations.iter().filter(|s| s.counted).collect();
    if counted.is_empty() {
        return Err(InputError::Empty);
    }
    let mut per_unit = vec![0u64; nu + 1];
    for s in &counted {
        per_unit[s.unit] += 1;
        per_unit[nu] += 1;
    }
    let mut totals = vec![0u128; input.lists.len()];
    for s in &counted {
        for (t, v) in totals.iter_mut().zip(s.votes.iter()) {
            *t += u128::from(*v);
        }
    }
    let all: u128 = totals.iter().sum();
    let leader = totals
        .iter()
        .enumerate()
        .max_by_key(|(i, t)| (**t, std::cmp::Reverse(*i)))
        .map_or(0, |(i, _)| i);
    let mut vars = vec![Variable::Turnout];
    for (i, t) in totals.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let share = if all == 0 {
            0.0
        } else {
            *t as f64 / all as f64
        };
        if share >= options.major_share || i == leader {
            vars.push(Variable::List(i));
        }
    }
    // (count, denominator) of a variable at a station.
    let pair = |v: &Variable, s: &Station<'_>| match v {
        Variable::Turnout => (s.cast, s.registered),
        Variable::List(i) => (s.votes[*i], s.cast),
    };
    let name = |v: &Variable| match v {
        Variable::Turnout => "turnout".to_owned(),
        Variable::List(i) => input.lists[*i].clone(),
    };
    let mut variables = Vec::new();
    let mut outliers = Vec::new();
    let mut centres = Vec::new();
    for v in &vars {
        // Each unit's vectors at their exact size (a million stations' grow by doubling).
        let sized = |g: usize| usize::try_from(per_unit[g]).unwrap_or(0);
        let mut counts: Vec<Vec<u64>> = (0..=nu).map(|g| Vec::with_capacity(sized(g))).collect();
        let mut shares: Vec<Vec<Option<f64>>> =
            (0..=nu).map(|g| Vec::with_capacity(sized(g))).collect();
        let mut histogram = vec![0u64; 100];
        let (mut last_digits, mut second_digits) = ([0u64; 10], [0u64; 10]);
        for s in &counted {
            let (k, n) = pair(v, s);
            last_digits[usize::from(eft::last_digit(k) % 10)] += 1;
            if let Some(d) = eft::second_digit(k) {
                second_digits[usize::from(d % 10)] += 1;
            }
            let share = capped_share(k, n);
            for g in [s.unit, nu] {
                counts[g].push(k);
                shares[g].push(share);
            }
            if let Some(x) = share {
                histogram[bin(x)] += 1;
            }
        }
        let eft = (0..=nu)
            .map(|g| eft_stats(&counts[g], &shares[g]))
            .collect();
        // Each step's per-station vectors are freed before the next one's are made: at a
        // million stations each is tens of megabytes, and they were all held to the end of
        // the variable.
        drop((counts, shares));
        let items: Vec<(u64, u64, usize)> = counted
            .iter()
            .map(|s| {
                let (k, n) = pair(v, s);
                (k, n, s.unit)
            })
            .collect();
        let integer = integer_percentages(&items, nu, &options.integer);
        drop(items);
        // Robust z against the unit's peers.
        let mut by_unit: Vec<Vec<(usize, f64)>> =
            (0..nu).map(|g| Vec::with_capacity(sized(g))).collect();
        for (i, s) in counted.iter().enumerate() {
            let (k, n) = pair(v, s);
            if let Some(x) = capped_share(k, n) {
                by_unit[s.unit].push((i, x));
            }
        }
        let mut by_centre: Vec<Vec<f64>> = vec![Vec::new(); input.centres.len()];
        let mut centre_unit = vec![0; input.centres.len()];
        for (u, xs) in by_unit.iter().enumerate() {
            let vals: Vec<f64> = xs.iter().map(|(_, x)| *x).collect();
            let med = median(&vals).unwrap_or(0.0) * 100.0;
            for ((i, x), z) in xs.iter().zip(robust_z(&vals)) {
                if let (Some(c), Some(z)) = (counted[*i].centre, z) {
                    by_centre[c].push(z);
                    centre_unit[c] = u;
                }
                if let Some(z) = z
                    && z.abs() >= options.outlier_z
                {
                    outliers.push(Outlier {
                        station: counted[*i].id.clone().into_owned(),
                        unit: u,
                        variable: name(v),
                        percent: x * 100.0,
                        median: med,
                        z,
                    });
                }
            }
        }
        for (c, zs) in by_centre.iter().enumerate() {
            if zs.len() >= 10 {
                centres.push(CentreShift {
                    centre: input.centres[c].clone(),
                    unit: centre_unit[c],
                    variable: name(v),
                    stations: zs.len(),
                    median_z: median(zs).unwrap_or(0.0),
                });
            }
        }
        variables.push(VariableScreens {
            variable: v.clone(),
            name: name(v),
            eft,
            integer,
            histogram,
            last_digits,
            second_digits,
        });
    }
    outliers.sort_by(|a, b| b.z.abs().total_cmp(&a.z.abs()));
    centres.sort_by(|a, b| b.median_z.abs().total_cmp(&a.median_z.abs()));
    // Stuffing and fingerprint over the leader.
    let mut pts: Vec<Vec<(f64, f64)>> = vec![Vec::new(); nu + 1];
    let mut fingerprint = vec![0u64; 100 * 100];
    for s in &counted {
        if let (Some(t), Some(x)) = (
            capped_share(s.cast, s.registered),
            capped_share(s.votes[leader], s.cast),
        ) {
            pts[s.unit].push((t, x));
            pts[nu].push((t, x));
            fingerprint[bin(x) * 100 + bin(t)] += 1;
        }
    }
    let stuffing = pts.iter().map(|p| stuffing(p)).collect();
    let concentration = concentration(input, nu);
    let mut report = Report {
        units: input.units.clone(),
        counted: per_unit,
        leader,
        leader_name: input.lists.get(leader).cloned().unwrap_or_default(),
        variables,
        stuffing,
        fingerprint,
        concentration,
        outliers,
        centres,
        flags: Vec::new(),
        options: *options,
    };
    report.flags = flags(&report);
    Ok(report)
}

/// The percentage bin (0..=99) of a share in [0, 1].
fn bin(x: f64) -> usize {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let b = (x * 100.0).floor().clamp(0.0, 99.0) as usize;
    b
}

/// The median of `xs` (`None` if empty).
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        f64::midpoint(v[m - 1], v[m])
    })
}

/// Robust z-scores (x − median) / (1.4826 · MAD); `None` for every value when the MAD is 0.
pub fn robust_z(xs: &[f64]) -> Vec<Option<f64>> {
    let Some(med) = median(xs) else {
        return Vec::new();
    };
    let dev: Vec<f64> = xs.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&dev).unwrap_or(0.0) * 1.4826;
    xs.iter()
        .map(|x| (mad > 0.0).then(|| (x - med) / mad))
        .collect()
}

/// Sobyanin–Sukhovolsky slope and correlation of `(turnout, share)` points.
pub fn stuffing(points: &[(f64, f64)]) -> Stuffing {
    let n = points.len();
    if n < 3 {
        return Stuffing {
            n,
            sobyanin: None,
            correlation: None,
        };
    }
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    let mt = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let ms = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let (mut stt, mut sss, mut sts) = (0.0, 0.0, 0.0);
    for (t, s) in points {
        stt += (t - mt) * (t - mt);
        sss += (s - ms) * (s - ms);
        sts += (t - mt) * (s - ms);
    }
    Stuffing {
        n,
        sobyanin: (stt > 0.0).then(|| sts / stt - ms),
        correlation: (stt > 0.0 && sss > 0.0).then(|| sts / (stt * sss).sqrt()),
    }
}

fn concentration(input: &Input<'_>, nu: usize) -> Vec<Concentration> {
    let mut c = vec![(0u64, 0u64, 0u64); nu];
    for s in &input.stations {
        if !(s.counted || s.quarantined) {
            continue;
        }
        let e = &mut c[s.unit];
        e.0 += 1;
        e.1 += u64::from(s.quarantined);
        e.2 += u64::from(s.amended);
    }
    let tot = c
        .iter()
        .fold((0, 0, 0), |a, e| (a.0 + e.0, a.1 + e.1, a.2 + e.2));
    #[allow(clippy::cast_precision_loss)]
    let rate = |k: u64| {
        if tot.0 == 0 {
            0.0
        } else {
            k as f64 / tot.0 as f64
        }
    };
    let (pq, pa) = (rate(tot.1), rate(tot.2));
    let z = |k: u64, n: u64, p: f64| {
        #[allow(clippy::cast_precision_loss)]
        let (k, n) = (k as f64, n as f64);
        let var = n * p * (1.0 - p);
        (var > 0.0).then(|| (k - n * p) / var.sqrt())
    };
    c.iter()
        .map(|&(n, q, a)| Concentration {
            reported: n,
            quarantined: q,
            amended: a,
            quarantined_z: z(q, n, pq),
            amended_z: z(a, n, pa),
        })
        .collect()
}

fn flags(r: &Report) -> Vec<Flag> {
    let nu = r.units.len();
    let o = &r.options;
    let mut out = Vec::new();
    let unit_name = |g: usize| {
        if g == nu {
            "all".to_owned()
        } else {
            r.units[g].clone()
        }
    };
    for g in 0..=nu {
        for v in &r.variables {
            let e = &v.eft[g];
            #[allow(clippy::cast_precision_loss)]
            let n = e.obs as f64;
            // Last-digit tests need counts of two digits or more: a unit where over a tenth of
            // the counts are below 10 (a list with few votes there) is not judged on the last
            // digits of its counts or of its percentages (0 votes is 0 %, which ends in 0).
            let few_small = e.small * 10 <= e.obs;
            let mut test = |screen: &'static str, value: Option<f64>, mean: f64, sd: f64| {
                let judged = few_small || !matches!(screen, "LastC" | "C05s" | "P05s");
                if let Some(x) = value
                    && n >= 30.0
                    && judged
                {
                    let z = (x - mean) / (sd / n.sqrt());
                    if z.abs() >= o.flag_z {
                        out.push(Flag {
                            unit: unit_name(g),
                            screen,
                            variable: v.name.clone(),
                            detail: format!("{x:.3} against {mean:.3} expected (z = {z:.1})"),
                        });
                    }
                }
            };
            test(
                "2BL",
                e.second_digit_mean,
                eft::BENFORD_SECOND_DIGIT_MEAN,
                eft::BENFORD_SECOND_DIGIT_SD,
            );
            test(
                "LastC",
                e.last_digit_mean,
                eft::UNIFORM_LAST_DIGIT_MEAN,
                eft::UNIFORM_LAST_DIGIT_SD,
            );
            test("C05s", e.c05s, eft::UNIFORM_05_SHARE, 0.4);
            test("P05s", e.p05s, eft::UNIFORM_05_SHARE, 0.4);
            let i = &v.integer[g];
            if i.p_value < o.flag_p && i.observed > 0 {
                out.push(Flag {
                    unit: unit_name(g),
                    screen: "integer",
                    variable: v.name.clone(),
                    detail: format!(
                        "{} whole percentages among {} stations, {:.1} ± {:.1} expected (p = {:.4})",
                        i.observed, i.included, i.expected, i.sd, i.p_value
                    ),
                });
            }
        }
        let s = &r.stuffing[g];
        if let (Some(b), Some(c)) = (s.sobyanin, s.correlation)
            && s.n >= 30
            && b > 0.0
            && c >= 0.5
        {
            out.push(Flag {
                unit: unit_name(g),
                screen: "stuffing",
                variable: r.leader_name.clone(),
                detail: format!(
                    "share rises with turnout: correlation {c:.2}, Sobyanin–Sukhovolsky {b:.2}"
                ),
            });
        }
        for c in r.centres.iter().filter(|c| c.unit == g) {
            if c.median_z.abs() >= o.centre_z {
                out.push(Flag {
                    unit: unit_name(g),
                    screen: "centre",
                    variable: c.variable.clone(),
                    detail: format!(
                        "{}: its {} stations lie together at a median robust z of {:.1} against the unit",
                        c.centre, c.stations, c.median_z
                    ),
                });
            }
        }
        if let Some(c) = r.concentration.get(g) {
            for (screen, k, z) in [
                ("quarantine", c.quarantined, c.quarantined_z),
                ("amendments", c.amended, c.amended_z),
            ] {
                if let Some(z) = z
                    && z >= o.flag_z
                    && k >= 3
                {
                    out.push(Flag {
                        unit: unit_name(g),
                        screen,
                        variable: "protocols".to_owned(),
                        detail: format!(
                            "{k} of {} reported stations (z = {z:.1} against the national rate)",
                            c.reported
                        ),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
