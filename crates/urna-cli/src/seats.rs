//! `urna seats`: seat allocation from a vote file or from a data directory's current tally.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use urna_model::definition::ContestIdx;
use urna_tally::seats::{self, Allocation, RuleSet, SeatError, VoteInput};

/// Loads a built-in rule set by name, or a rule-set file by path (one with a `/` or ending in
/// `.toml`).
pub(crate) fn load_rules(rules: &str) -> Result<RuleSet> {
    if rules.contains('/') || rules.ends_with(".toml") {
        let text =
            std::fs::read_to_string(rules).with_context(|| format!("--rules: reading {rules}"))?;
        RuleSet::from_toml(&text).with_context(|| format!("--rules: rule set {rules}"))
    } else {
        // The error names the built-in rule sets; saying them again here would list them twice.
        RuleSet::builtin(rules).context("--rules")
    }
}

/// Runs `urna seats`.
#[allow(clippy::too_many_arguments)] // one parameter per documented flag
pub(crate) fn run(
    rules: Option<&str>,
    votes: Option<&Path>,
    data: Option<&Path>,
    seats: Option<u32>,
    seed: Option<String>,
    explain: bool,
    json: bool,
    repeat_vote: Option<&str>,
    list_rules: bool,
    show_rules: Option<&str>,
) -> Result<ExitCode> {
    if list_rules {
        for name in RuleSet::builtin_names() {
            let r = RuleSet::builtin(name)?;
            out!("{name:<20} {}", r.title);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = show_rules {
        let text = RuleSet::builtin_text(name).with_context(|| {
            format!(
                "--show-rules: no built-in rule set named `{name}` (known: {})",
                RuleSet::builtin_names().join(", ")
            )
        })?;
        outp!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let (rules, mut input) = match (votes, data) {
        (Some(f), None) => {
            let Some(rules) = rules else {
                bail!("--rules is required with --votes (see --list-rules)");
            };
            let rules = load_rules(rules)?;
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            let input = VoteInput::from_toml(&text)
                .with_context(|| format!("vote file {}", f.display()))?;
            (rules, input)
        }
        (None, Some(dir)) => {
            let mut reading = crate::reading::Reading::open(dir)?;
            let report = reading
                .tallies()?
                .into_iter()
                .next()
                .context("the definition has no contest")?;
            let e = reading.election();
            match rules {
                Some(r) => {
                    let rules = load_rules(r)?;
                    let input = VoteInput::from_tally(e, report.tally(), &rules, seats)?;
                    (rules, input)
                }
                // Without --rules: the rule set the definition names, with its seats and seed.
                None => {
                    let Some(rules) = seats::contest_rules(e, ContestIdx(0))? else {
                        bail!(
                            "the definition names no seat rules for contest {:?}; give --rules (see --list-rules)",
                            e.contests[0].id
                        );
                    };
                    let config = e.contests[0].seats.as_ref();
                    let house = seats.or_else(|| config.and_then(|c| c.house));
                    let mut input = VoteInput::from_tally(e, report.tally(), &rules, house)?;
                    input.tie_seed = config.and_then(|c| c.tie_seed.clone());
                    (rules, input)
                }
            }
        }
        _ => bail!("give exactly one of --votes FILE or --data DIR"),
    };
    if let Some(s) = &seed {
        // Printed with the seat table, as the vote file's `tie_seed` is: the same rule.
        urna_model::definition::check_one_line(s)
            .map_err(|rule| anyhow::anyhow!("--seed: {rule}"))?;
    }
    if seed.is_some() {
        input.tie_seed = seed;
    }
    if let Some(arg) = repeat_vote {
        let (district, voters) = arg
            .split_once('=')
            .and_then(|(d, v)| Some((d.trim(), v.trim().parse::<u64>().ok()?)))
            .filter(|(d, _)| !d.is_empty())
            .with_context(|| {
                format!(
                    "--repeat-vote {arg:?}: expected DISTRICT=VOTERS (a district of the vote input, and a whole number of voters)"
                )
            })?;
        let answer = match seats::repeat_vote(
            &rules,
            &input,
            &seats::DistrictId::new(district),
            seats::Votes(voters),
        ) {
            Ok(a) => a,
            Err(e @ (SeatError::Unfillable { .. } | SeatError::Overflow { .. })) => {
                eprintln!("urna: seats: {e}");
                return Ok(ExitCode::from(1));
            }
            Err(e) => return Err(e.into()),
        };
        if json {
            out!("{}", serde_json::to_string_pretty(&answer)?);
        } else {
            outp!("{}", answer.text());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let allocation = match seats::allocate(&rules, &input) {
        Ok(a) => a,
        Err(e @ (SeatError::Unfillable { .. } | SeatError::Overflow { .. })) => {
            eprintln!("urna: seats: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    print_allocation(&allocation, explain, json)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints an allocation as a table, a full explanation, or JSON.
pub(crate) fn print_allocation(a: &Allocation, explain: bool, json: bool) -> Result<()> {
    if json {
        out!("{}", serde_json::to_string_pretty(a)?);
    } else if explain {
        outp!("{}", a.explain_text());
    } else {
        outp!("{}", a.summary_text());
    }
    Ok(())
}
