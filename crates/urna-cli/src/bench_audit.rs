//! `urna bench audit`: simulated batch-comparison audits of a D'Hondt seat outcome.
//!
//! Each run generates an election (stations in districts, five lists, a 5 % national
//! threshold, D'Hondt). A correct run audits the true protocols: the audit should stop early. A flipped
//! run alters the protocols of one district, moving votes from the list holding the closest seat
//! to its rival until the reported seats differ from the true ones (then three times as many
//! votes, so the altered result does not look like a near-tie), then audits the altered
//! protocols against true hand counts: the audit must end in a full hand count (at least
//! 1 − α of the time).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use urna_audit::{
    AssertionKind, AuditDistrict, AuditInput, AuditList, Batch, BatchAudit, Verdict, assertions,
};
use urna_tally::seats::{DistrictId, ListId, ListKind, RuleSet};

/// `urna bench audit` options. Exit code 1 when flipped seats reach a full hand count less
/// often than `1 − risk limit` of the time.
#[derive(clap::Args)]
pub(crate) struct BenchAuditArgs {
    /// Polling stations per simulated election.
    #[arg(long, default_value_t = 2000)]
    stations: u32,
    /// Runs of each kind (correct outcome, flipped seat).
    #[arg(long, default_value_t = 20)]
    runs: u32,
    /// Districts (the default is a municipal council: one district of 21 seats; Albania's
    /// assembly is 12 districts and 140 seats).
    #[arg(long, default_value_t = 1)]
    districts: u32,
    /// Seats in the house, split evenly over the districts.
    #[arg(long, default_value_t = 21)]
    seats: u32,
    /// Risk limit.
    #[arg(long, default_value_t = 0.05)]
    risk_limit: f64,
    /// Seed of the simulation (the audits' seeds are drawn from it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// National shares of the five lists, then `other` (per mille).
const SHARES: [u32; 6] = [400, 330, 120, 80, 40, 30];
/// Rounds before a full hand count.
const ROUNDS: u32 = 4;

pub(crate) fn run(a: &BenchAuditArgs) -> Result<ExitCode> {
    if a.districts == 0 || a.stations < a.districts {
        bail!("--stations must be at least --districts (at least one station per district)");
    }
    out!(
        "urna bench audit: {} stations in {} district(s), {} runs of each kind, risk limit {}",
        a.stations,
        a.districts,
        a.runs,
        a.risk_limit
    );
    if a.seats < a.districts {
        bail!("--seats must be at least --districts (one seat per district)");
    }
    let rules = rule_set(a.districts, a.seats)?;
    let mut margins = Vec::new();
    let mut first = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let t = Instant::now();
    let (mut stopped, mut counted_ok, mut draws_ok) = (0u32, 0usize, 0u64);
    let (mut full, mut counted_bad, mut flipped_runs) = (0u32, 0usize, 0u32);
    for _ in 0..a.runs {
        let truth = election(&mut rng, a.stations, a.districts);
        let seed = dice(&mut rng);
        // Correct outcome: the protocols are the truth.
        let outcome = assertions::assertions(&rules, &truth)?;
        let audit = BatchAudit::new(&outcome, &truth, a.risk_limit, ROUNDS)?;
        margins.push(
            outcome
                .assertions
                .iter()
                .map(|x| x.diluted_margin)
                .fold(f64::INFINITY, f64::min),
        );
        first.push(audit.first_round_draws());
        let report = audit.evaluate(&outcome, &truth, &seed, &|i| {
            Some(truth.classes(&truth.batches[i]))
        });
        if report.verdict == Verdict::RiskLimitMet {
            stopped += 1;
            counted_ok += report.stations;
            draws_ok += report.draws;
        }
        // Flipped seat: altered protocols, true hand counts.
        let Some(reported) = flip(&rules, &truth)? else {
            continue;
        };
        flipped_runs += 1;
        let outcome = assertions::assertions(&rules, &reported)?;
        let audit = BatchAudit::new(&outcome, &reported, a.risk_limit, ROUNDS)?;
        let report = audit.evaluate(&outcome, &reported, &seed, &|i| {
            Some(truth.classes(&truth.batches[i]))
        });
        if matches!(report.verdict, Verdict::FullHandCount { .. }) {
            full += 1;
        }
        counted_bad += report.stations;
    }
    let secs = t.elapsed().as_secs_f64();
    margins.sort_by(f64::total_cmp);
    first.sort_unstable();
    if let (Some(m), Some(n)) = (margins.get(margins.len() / 2), first.get(first.len() / 2)) {
        let over = first
            .iter()
            .filter(|&&f| f >= u64::from(a.stations))
            .count();
        out!(
            "correct outcomes: median smallest diluted margin {:.4}%, median first-round draws {n}; {over} run(s) needed more draws than stations (straight to a full hand count)",
            m * 100.0
        );
    }
    let pct = |k: u32, n: u32| {
        if n == 0 {
            0.0
        } else {
            100.0 * f64::from(k) / f64::from(n)
        }
    };
    #[allow(clippy::cast_precision_loss)]
    let avg = |k: usize, n: u32| if n == 0 { 0.0 } else { k as f64 / f64::from(n) };
    out!(
        "correct outcomes: {stopped}/{} audits met the risk limit ({:.1}%); those hand counted {:.1} stations on average ({:.2}% of {}), {:.1} draws",
        a.runs,
        pct(stopped, a.runs),
        avg(counted_ok, stopped),
        avg(counted_ok, stopped) * 100.0 / f64::from(a.stations),
        a.stations,
        avg(usize::try_from(draws_ok).unwrap_or(usize::MAX), stopped)
    );
    out!(
        "flipped seat:     {full}/{flipped_runs} audits went to a full hand count ({:.1}%, required ≥ {:.1}%), {:.1} stations counted before that on average",
        pct(full, flipped_runs),
        100.0 * (1.0 - a.risk_limit),
        avg(counted_bad, flipped_runs)
    );
    out!(
        "time: {secs:.2} s for {} audits ({:.1} ms each)",
        a.runs + flipped_runs,
        1000.0 * secs / f64::from((a.runs + flipped_runs).max(1))
    );
    // The risk limit is the promise: fewer full hand counts of wrong outcomes than 1 − α fails.
    if f64::from(full) < (1.0 - a.risk_limit) * f64::from(flipped_runs) {
        out!("FAILED: wrong outcomes escaped the audit more often than the risk limit allows");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn rule_set(districts: u32, house: u32) -> Result<RuleSet> {
    let mut text = format!(
        "id = \"bench\"\ntitle = \"bench\"\nlegal_source = [\"simulation\"]\nhouse_seats = {house}\n\
         method = \"dhondt\"\n[tie_break]\nrule = \"lot\"\nseed = \"bench\"\n\
         [threshold]\nscope = \"national\"\nparty = \"5%\"\n"
    );
    for d in 0..districts {
        let seats = house / districts + u32::from(d < house % districts);
        text.push_str(&format!("[[district]]\nid = \"D{d}\"\nseats = {seats}\n"));
    }
    Ok(RuleSet::from_toml(&text)?)
}

/// Twenty random digits, as a dice roll would give.
fn dice(rng: &mut ChaCha8Rng) -> String {
    (0..20)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

fn election(rng: &mut ChaCha8Rng, stations: u32, districts: u32) -> AuditInput {
    let lists = (0..5)
        .map(|i| AuditList {
            id: ListId::new(format!("L{}", i + 1)),
            kind: ListKind::Party,
        })
        .collect();
    // Each district leans its own way; each station a little more.
    let lean: Vec<Vec<f64>> = (0..districts)
        .map(|_| SHARES.iter().map(|_| rng.gen_range(0.7..1.3)).collect())
        .collect();
    let batches = (0..stations)
        .map(|s| {
            let district = (s % districts) as usize;
            let ballots: u64 = rng.gen_range(200..800);
            let weights: Vec<f64> = SHARES
                .iter()
                .zip(&lean[district])
                .map(|(&sh, &l)| f64::from(sh) * l * rng.gen_range(0.85..1.15))
                .collect();
            let total: f64 = weights.iter().sum();
            #[allow(clippy::cast_precision_loss)]
            let valid = ballots as f64 * rng.gen_range(0.94..0.99);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let mut counts: Vec<u64> = weights.iter().map(|w| (valid * w / total) as u64).collect();
            let other = counts.pop().unwrap_or(0);
            Batch {
                id: format!("S{s:06}"),
                district,
                ballots,
                votes: counts,
                other,
            }
        })
        .collect();
    AuditInput {
        lists,
        districts: (0..districts)
            .map(|d| AuditDistrict {
                id: DistrictId::new(format!("D{d}")),
                seats: None,
            })
            .collect(),
        batches,
    }
}

/// The truth with one district's protocols altered so that the closest seat changes hands:
/// votes move from that seat's holder to its rival, spread over the district's stations.
/// `None` if no seat assertion exists.
fn flip(rules: &RuleSet, truth: &AuditInput) -> Result<Option<AuditInput>> {
    let outcome = assertions::assertions(rules, truth)?;
    let Some(closest) = outcome
        .assertions
        .iter()
        .filter(|a| matches!(a.kind, AssertionKind::Seat { .. }))
        .min_by(|x, y| x.diluted_margin.total_cmp(&y.diluted_margin))
    else {
        return Ok(None);
    };
    let AssertionKind::Seat { winner, loser, .. } = &closest.kind else {
        return Ok(None);
    };
    let w = truth
        .lists
        .iter()
        .position(|l| &l.id == winner)
        .unwrap_or(0);
    let l = truth.lists.iter().position(|x| &x.id == loser).unwrap_or(0);
    let Some(d) = closest.scope else {
        return Ok(None);
    };
    let weight = closest.weights[w] + closest.weights[l].abs();
    let mut shift = u64::try_from(closest.margin / i128::from(weight.max(1))).unwrap_or(0) + 1;
    let mut extra = false;
    for _ in 0..60 {
        let mut reported = truth.clone();
        let in_district: Vec<usize> = (0..reported.batches.len())
            .filter(|&i| reported.batches[i].district == d)
            .collect();
        let mut left = shift;
        for &i in in_district.iter().cycle().take(in_district.len() * 1000) {
            if left == 0 {
                break;
            }
            let b = &mut reported.batches[i];
            if b.votes[w] > 0 {
                b.votes[w] -= 1;
                b.votes[l] += 1;
                left -= 1;
            }
        }
        if assertions::district_seats(rules, &reported)? != outcome.seats {
            if extra {
                return Ok(Some(reported));
            }
            // Alter three times what the flip needs, so the altered protocols show a
            // comfortable margin instead of a near-tie (which no sample could confirm anyway).
            extra = true;
            shift *= 3;
            continue;
        }
        shift += shift / 10 + 1;
    }
    Ok(None)
}
