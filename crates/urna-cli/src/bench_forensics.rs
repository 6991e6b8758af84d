//! `urna bench forensics`: every forensic screen over a simulated election of N stations
//! (runtime, and the Monte Carlo's share of it), and with `--power` each screen's detection
//! rate on simulations with injected fraud at a 5 % false-alarm rate on clean simulations.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use urna_forensics::eft::{
    BENFORD_SECOND_DIGIT_MEAN, BENFORD_SECOND_DIGIT_SD, UNIFORM_05_SHARE, UNIFORM_LAST_DIGIT_MEAN,
    UNIFORM_LAST_DIGIT_SD,
};
use urna_forensics::integer::IntegerConfig;
use urna_forensics::{Input, Options, Report, Station, analyze};
use urna_sim::{Fraud, FraudKind, SimConfig, Simulation};

/// `urna bench forensics` arguments.
#[derive(clap::Args)]
pub(crate) struct BenchForensicsArgs {
    /// Stations of the timed election.
    #[arg(long, default_value_t = 1_000_000)]
    stations: u32,
    /// Monte Carlo repetitions of the integer-percentage screen.
    #[arg(long, default_value_t = 1000)]
    reps: u32,
    /// Also measure each screen's power (simulations of 5,200 stations).
    #[arg(long)]
    power: bool,
    /// Simulations per fraud kind and rate, and clean ones, for --power.
    #[arg(long, default_value_t = 40)]
    runs: u32,
}

/// The screens scored in the power table, each as one number per election (higher: more
/// suspicious).
const SCREENS: [&str; 9] = [
    "2BL", "LastC", "C05s", "P05s", "integer", "stuffing", "outliers", "centre", "flags",
];

/// Room for municipalities per district in the centre index (the simulation makes at most
/// 2,000 per district).
const CENTRES_PER_UNIT: usize = 2_000;

/// A simulated election as the screens' input, grouped by district, its municipalities as
/// the centres.
fn input(sim: &Simulation) -> Input<'static> {
    let n = sim.config().stations;
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let per = n
        .div_ceil(u32::try_from(threads).unwrap_or(1).max(1))
        .max(1);
    let mut stations: Vec<Station<'static>> = Vec::with_capacity(n as usize);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .step_by(per as usize)
            .map(|from| {
                s.spawn(move || {
                    (from..(from + per).min(n))
                        .map(|i| {
                            let c = sim.station_counts(i);
                            let m = sim.station_unit(i);
                            let centre = m
                                .as_bytes()
                                .get(5..8)
                                .and_then(|d| std::str::from_utf8(d).ok()?.parse::<usize>().ok());
                            Station {
                                id: format!("PS-{:07}", i + 1).into(),
                                unit: sim.station_district(i) as usize,
                                // `Dxx-Mmmm`: municipality mmm of district xx.
                                centre: centre.map(|m| {
                                    sim.station_district(i) as usize * CENTRES_PER_UNIT + m - 1
                                }),
                                registered: c.registered,
                                cast: c.cast,
                                votes: c.votes.into(),
                                counted: true,
                                quarantined: false,
                                amended: false,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            stations.extend(h.join().unwrap_or_default());
        }
    });
    Input {
        units: (1..=sim.config().districts)
            .map(|d| format!("D{d:02}"))
            .collect(),
        centres: (0..sim.config().districts as usize * CENTRES_PER_UNIT)
            .map(|c| {
                format!(
                    "D{:02}-M{:03}",
                    c / CENTRES_PER_UNIT + 1,
                    c % CENTRES_PER_UNIT + 1
                )
            })
            .collect(),
        lists: ["AP", "DU", "CM", "SR", "GL", "IC", "NV"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        stations,
    }
}

fn options(reps: u32) -> Options {
    Options {
        integer: IntegerConfig {
            reps,
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            ..IntegerConfig::default()
        },
        ..Options::default()
    }
}

/// Each screen's national score.
fn scores(r: &Report) -> [f64; 9] {
    let g = r.units.len();
    #[allow(clippy::cast_precision_loss)]
    let z = |x: Option<f64>, mean: f64, sd: f64, n: usize| {
        x.map_or(0.0, |x| (x - mean) / (sd / (n as f64).sqrt()))
    };
    let max = |f: &dyn Fn(&urna_forensics::VariableScreens) -> f64| {
        r.variables.iter().map(f).fold(f64::MIN, f64::max)
    };
    #[allow(clippy::cast_precision_loss)]
    let out = [
        max(&|v| {
            let e = &v.eft[g];
            z(
                e.second_digit_mean,
                BENFORD_SECOND_DIGIT_MEAN,
                BENFORD_SECOND_DIGIT_SD,
                e.obs,
            )
            .abs()
        }),
        max(&|v| {
            let e = &v.eft[g];
            z(
                e.last_digit_mean,
                UNIFORM_LAST_DIGIT_MEAN,
                UNIFORM_LAST_DIGIT_SD,
                e.obs,
            )
            .abs()
        }),
        max(&|v| z(v.eft[g].c05s, UNIFORM_05_SHARE, 0.4, v.eft[g].obs)),
        max(&|v| z(v.eft[g].p05s, UNIFORM_05_SHARE, 0.4, v.eft[g].obs)),
        max(&|v| {
            let i = &v.integer[g];
            if i.sd > 0.0 {
                (i.observed as f64 - i.expected) / i.sd
            } else {
                0.0
            }
        }),
        r.stuffing[g].correlation.unwrap_or(0.0),
        r.outliers.len() as f64,
        r.centres.first().map_or(0.0, |c| c.median_z.abs()),
        r.flags.len() as f64,
    ];
    out
}

pub(crate) fn run(args: &BenchForensicsArgs) -> Result<ExitCode> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    out!(
        "urna bench forensics: {} stations, {} Monte Carlo repetitions, {threads} cores",
        args.stations,
        args.reps
    );
    let sim = Simulation::new(SimConfig {
        stations: args.stations,
        ..SimConfig::default()
    });
    let t = Instant::now();
    let data = input(&sim);
    let made = t.elapsed();
    let t = Instant::now();
    let r = analyze(&data, &options(args.reps))?;
    let all = t.elapsed();
    let t = Instant::now();
    analyze(&data, &options(0))?;
    let without = t.elapsed();
    let mc = all.saturating_sub(without);
    out!(
        "simulated in {:.1} s; all screens in {:.2} s ({} variables, {} flags), of which the Monte Carlo {:.2} s ({:.0} %)",
        made.as_secs_f64(),
        all.as_secs_f64(),
        r.variables.len(),
        r.flags.len(),
        mc.as_secs_f64(),
        100.0 * mc.as_secs_f64() / all.as_secs_f64().max(1e-9)
    );
    if args.power {
        power(args)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn power(args: &BenchForensicsArgs) -> Result<()> {
    let runs = args.runs.max(2);
    let reps = args.reps.min(200);
    out!(
        "power: {runs} simulations of 5,200 stations per row ({reps} Monte Carlo repetitions each); threshold of each screen: exceeded by at most 5 % of {runs} clean simulations"
    );
    let run_one = |seed: u64, fraud: Option<Fraud>| -> Result<[f64; 9]> {
        let mut sim = Simulation::new(SimConfig {
            seed,
            ..SimConfig::default()
        });
        if let Some(f) = fraud {
            sim = sim.with_fraud(f);
        }
        Ok(scores(&analyze(&input(&sim), &options(reps))?))
    };
    let clean: Vec<[f64; 9]> = (0..runs)
        .map(|r| run_one(1000 + u64::from(r), None))
        .collect::<Result<_>>()?;
    // The score that at most 5 % of clean runs exceed.
    let allowed = (f64::from(runs) * 0.05).floor() as usize;
    let thresholds: Vec<f64> = (0..SCREENS.len())
        .map(|k| {
            let mut v: Vec<f64> = clean.iter().map(|s| s[k]).collect();
            v.sort_by(|a, b| b.total_cmp(a));
            v[allowed.min(v.len() - 1)]
        })
        .collect();
    outp!("{:<10} {:>5}", "fraud", "rate");
    for s in SCREENS {
        outp!(" {s:>8}");
    }
    out!("");
    for (name, kind) in [
        ("stuffing", FraudKind::Stuffing),
        ("rounding", FraudKind::Rounding),
        ("moving", FraudKind::Moving),
    ] {
        for rate in [100u32, 500, 2000] {
            let mut hits = [0u32; 9];
            for r in 0..runs {
                let s = run_one(
                    1000 + u64::from(r),
                    Some(Fraud {
                        kind,
                        rate_per_10k: rate,
                    }),
                )?;
                for k in 0..SCREENS.len() {
                    hits[k] += u32::from(s[k] > thresholds[k]);
                }
            }
            outp!("{name:<10} {:>4}%", rate / 100);
            for h in hits {
                outp!(" {:>7.0}%", 100.0 * f64::from(h) / f64::from(runs));
            }
            out!("");
        }
    }
    Ok(())
}
