//! Human and JSON reports of a tally.

use std::io::Write;

use anyhow::Result;
use urna_model::definition::{Election, UnitIdx};
use urna_model::rules::Severity;
use urna_store::{IngestReport, TallyReport};
use urna_tally::totals::{Totals, percent};

/// One line summing up an intake.
pub(crate) fn ingest_line(r: &IngestReport) -> String {
    format!(
        "{} notes read: {} accepted, {} quarantined, {} duplicates, {} rejected ({} commits, {} checkpoints signed{})",
        r.read,
        r.accepted,
        r.quarantined,
        r.duplicates,
        r.rejected,
        r.commits,
        r.checkpoints.len(),
        r.first_ack
            .map(|d| format!(
                ", first acknowledgment after {:.1} ms",
                d.as_secs_f64() * 1000.0
            ))
            .unwrap_or_default()
    )
}

fn count(e: &Election, t: &Totals, name: &str) -> u64 {
    e.count_position(name).map_or(0, |k| t.counts[k])
}

/// Thousands separated by a thin space-free comma, for reading large totals.
fn n(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The text summary: national totals, per district, quarantine list, warnings.
pub(crate) fn write_summary(out: &mut impl Write, e: &Election, r: &TallyReport) -> Result<()> {
    write_summary_with(out, e, r, None)
}

/// [`write_summary`], listing at most `candidates_per_list` candidates of each list (those
/// with the most preference votes) and how many more have votes; every one with `None`.
pub(crate) fn write_summary_with(
    out: &mut impl Write,
    e: &Election,
    r: &TallyReport,
    candidates_per_list: Option<usize>,
) -> Result<()> {
    let t = r.tally();
    let contest = &e.contests[t.contest.0 as usize];
    let nat = t.unit(UnitIdx(0));
    writeln!(
        out,
        "{} ({}), contest {} ({})",
        e.name, e.id, contest.name, contest.id
    )?;
    if let Some(p) = &e.provenance {
        writeln!(out, "Provenance: {p}")?;
    }
    writeln!(
        out,
        "Reporting: {} of {} stations counted ({} %), {} quarantined, {} not reported",
        n(nat.counted),
        n(nat.stations),
        percent(nat.counted, nat.stations),
        n(nat.quarantined),
        n(nat.stations - nat.counted - nat.quarantined)
    )?;
    let cast = count(e, nat, "ballots-cast");
    writeln!(
        out,
        "Turnout: {} ballots cast of {} registered in counted stations ({} %); {} invalid ({} %)",
        n(cast),
        n(nat.registered_counted),
        percent(cast, nat.registered_counted),
        n(count(e, nat, "invalid")),
        percent(count(e, nat, "invalid"), cast)
    )?;
    writeln!(out, "\nNational totals ({})", e.units[0].name)?;
    let valid: u64 = nat.votes.iter().sum();
    let mut order: Vec<usize> = (0..contest.lists.len()).collect();
    order.sort_by(|&a, &b| nat.votes[b].cmp(&nat.votes[a]).then(a.cmp(&b)));
    for &i in &order {
        let l = &e.lists[contest.lists[i]];
        writeln!(
            out,
            "  {:<8} {:<34} {:>12} {:>7} %",
            l.id,
            l.name,
            n(nat.votes[i]),
            percent(nat.votes[i], valid)
        )?;
    }
    if contest.preferences.is_some() {
        // Every candidate with votes, by list (as above) then ballot number; the share is of
        // the list's votes where the candidate stands (the country, or their district).
        writeln!(
            out,
            "\nPreference votes ({}; share of the list's votes where the candidate stands)",
            e.units[0].name
        )?;
        for &i in &order {
            let l = &e.lists[contest.lists[i]];
            // (position in the list, candidate, votes) of every candidate with votes.
            let mut voted: Vec<(usize, usize, u64)> = l
                .candidates
                .iter()
                .enumerate()
                .map(|(pos, ci)| {
                    let ci = ci.0 as usize;
                    (pos, ci, nat.preferences.get(ci).copied().unwrap_or(0))
                })
                .filter(|&(_, _, votes)| votes > 0)
                .collect();
            let more = match candidates_per_list {
                Some(limit) if voted.len() > limit => {
                    // The most voted, shown in list order as every candidate is.
                    voted.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
                    let more = voted.len() - limit;
                    voted.truncate(limit);
                    voted.sort_unstable();
                    more
                }
                _ => 0,
            };
            for (_, ci, votes) in voted {
                let c = &e.candidates[ci];
                let (unit, list_votes) = match c.unit {
                    Some(u) => (
                        format!(" [{}]", e.units[u.0 as usize].id),
                        t.unit(u).votes[i],
                    ),
                    None => (String::new(), nat.votes[i]),
                };
                writeln!(
                    out,
                    "  {:<8} {:>4} {:<50} {:>12} {:>7} %",
                    l.id,
                    c.number,
                    format!("{}{unit}", c.name),
                    n(votes),
                    percent(votes, list_votes)
                )?;
            }
            if more > 0 {
                writeln!(
                    out,
                    "  {:<8}      … and {more} more candidate(s) with votes (urna tally lists every one)",
                    l.id
                )?;
            }
        }
    }
    // Per unit at depth 1 (districts).
    let districts: Vec<usize> = (0..e.units.len())
        .filter(|&u| e.units[u].depth == 1)
        .collect();
    if !districts.is_empty() {
        let level = &e.units[districts[0]].level;
        writeln!(out, "\nBy {level}")?;
        write!(
            out,
            "  {:<16} {:>9} {:>9} {:>6} {:>8}",
            level, "stations", "counted", "quar.", "turnout"
        )?;
        for &i in &order {
            write!(out, " {:>8}", e.lists[contest.lists[i]].id)?;
        }
        writeln!(out)?;
        for u in districts {
            let d = &t.units[u];
            write!(
                out,
                "  {:<16} {:>9} {:>9} {:>6} {:>7}%",
                e.units[u].name,
                n(d.stations),
                n(d.counted),
                n(d.quarantined),
                percent(count(e, d, "ballots-cast"), d.registered_counted)
            )?;
            let dv: u64 = d.votes.iter().sum();
            for &i in &order {
                write!(out, " {:>7}%", percent(d.votes[i], dv))?;
            }
            writeln!(out)?;
        }
    }
    let quarantined = &r.quarantined;
    writeln!(
        out,
        "\nQuarantined stations ({}): not counted until an amendment fixes them",
        quarantined.len()
    )?;
    for (s, sub) in quarantined {
        let st = &e.stations[s.0 as usize];
        for v in sub
            .violations
            .iter()
            .filter(|v| v.severity == Severity::Error)
        {
            writeln!(
                out,
                "  {:<12} {:<14} rev {} [{}] {}: {}",
                st.id, e.units[st.unit.0 as usize].id, sub.revision, v.rule, v.message, v.detail
            )?;
        }
    }
    let warnings = &r.warnings;
    if !warnings.is_empty() {
        writeln!(out, "\nPlausibility warnings (counted, flagged for review)")?;
        for (rule, (k, msg)) in warnings {
            writeln!(out, "  {rule}: {} stations: {msg}", n(*k))?;
        }
    }
    Ok(())
}

/// A list's preference votes in `t` by ballot number, numbers with votes only: (number,
/// votes). Where one number names candidates of different districts (above the districts),
/// their votes are summed, as in the bundle's totals.
fn preference_totals(e: &Election, list: usize, t: &Totals) -> Vec<(u32, u64)> {
    let mut rows: Vec<(u32, u64)> = Vec::new();
    for ci in &e.lists[list].candidates {
        let v = t.preferences.get(ci.0 as usize).copied().unwrap_or(0);
        let number = e.candidates[ci.0 as usize].number;
        match rows.last_mut() {
            Some(last) if last.0 == number => last.1 = last.1.saturating_add(v),
            _ => rows.push((number, v)),
        }
    }
    rows.retain(|r| r.1 > 0);
    rows
}

/// The tally as JSON (units in definition order; stations of the quarantine list in id order).
pub(crate) fn write_json(out: &mut impl Write, e: &Election, r: &TallyReport) -> Result<()> {
    let t = r.tally();
    let contest = &e.contests[t.contest.0 as usize];
    let units: Vec<serde_json::Value> = e
        .units
        .iter()
        .zip(&t.units)
        .map(|(u, tot)| {
            let mut unit = serde_json::json!({
                "id": u.id,
                "name": u.name,
                "level": u.level,
                "parent": u.parent.map(|p| e.units[p.0 as usize].id.clone()),
                "stations": tot.stations,
                "counted": tot.counted,
                "quarantined": tot.quarantined,
                "registered": tot.registered,
                "registered_counted": tot.registered_counted,
                "counts": e.counts.iter().zip(&tot.counts).map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
                "votes": contest.lists.iter().zip(&tot.votes).map(|(&l, v)| (e.lists[l].id.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            });
            if contest.preferences.is_some() {
                // The shape of the bundle's totals: list → ballot number → votes.
                let prefs: serde_json::Map<_, _> = contest
                    .lists
                    .iter()
                    .filter_map(|&l| {
                        let rows = preference_totals(e, l, tot);
                        (!rows.is_empty()).then(|| {
                            let numbers: serde_json::Map<_, _> = rows
                                .into_iter()
                                .map(|(number, v)| (number.to_string(), serde_json::json!(v)))
                                .collect();
                            (e.lists[l].id.clone(), serde_json::Value::Object(numbers))
                        })
                    })
                    .collect();
                unit["preferences"] = serde_json::Value::Object(prefs);
            }
            unit
        })
        .collect();
    let quarantine: Vec<serde_json::Value> = r
        .quarantined
        .iter()
        .map(|(s, sub)| {
            serde_json::json!({
                "station": e.stations[s.0 as usize].id,
                "revision": sub.revision,
                "violations": sub.violations.iter().filter(|v| v.severity == Severity::Error).map(|v| serde_json::json!({
                    "rule": v.rule, "message": v.message, "detail": v.detail,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "election": e.id,
        "contest": contest.id,
        "units": units,
        "quarantine": quarantine,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}
