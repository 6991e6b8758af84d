//! The seats of a contest whose definition names its rule set (`seats = { rules = … }` in
//! `election.toml`): the rule set, looked up and checked against the definition when the
//! definition is loaded into a store, and applied to the tally when results are published.

use urna_model::definition::{ContestIdx, Election};

use super::{Allocation, RuleSet, SeatError, VoteInput, allocate};
use crate::totals::{Tally, TallyBuilder};

/// The rule set a contest names, checked to fit the definition: it exists, its districts are
/// units of the definition, and every list's community is one it knows. `None` if the contest
/// names no rule set.
///
/// # Errors
/// [`SeatError`] naming the contest's field (`contests.seats.rules`, `…house`) or the
/// district or list at fault.
pub fn contest_rules(e: &Election, contest: ContestIdx) -> Result<Option<RuleSet>, SeatError> {
    let c = &e.contests[contest.0 as usize];
    let Some(config) = &c.seats else {
        return Ok(None);
    };
    let field = |name: &str, problem: String| SeatError::Rules {
        field: format!("contests.{}.seats.{name}", c.id),
        problem,
    };
    let rules = RuleSet::builtin(&config.rules).map_err(|err| field("rules", err.to_string()))?;
    if rules.districts.is_empty() && config.house.is_none() {
        return Err(field(
            "house",
            format!(
                "rule set `{}` names no districts: give the seats to fill (house = N)",
                rules.id
            ),
        ));
    }
    if let Some(house) = config.house
        && !(1..=super::MAX_CONTEST_SEATS).contains(&house)
    {
        return Err(field(
            "house",
            format!(
                "{house}: the seats to fill must be between 1 and {}",
                super::MAX_CONTEST_SEATS
            ),
        ));
    }
    if !rules.districts.is_empty() && config.house.is_some() {
        return Err(field(
            "house",
            format!(
                "rule set `{}` fixes the seats of its districts; remove house",
                rules.id
            ),
        ));
    }
    for &l in &c.lists {
        if let Some(community) = &e.lists[l].community
            && rules.community(community).is_none()
        {
            return Err(SeatError::Votes {
                field: format!("lists.{}.community", e.lists[l].id),
                problem: rules.unknown_community(community),
            });
        }
    }
    // The districts must be units of the definition: map an empty tally.
    let empty = TallyBuilder::new(e, contest)
        .map_err(|err| field("rules", err.to_string()))?
        .finish();
    input(e, &empty, &rules)?;
    Ok(Some(rules))
}

/// Checks every contest's seat rules ([`contest_rules`]).
///
/// # Errors
/// The first contest's [`SeatError`].
pub fn check_definition(e: &Election) -> Result<(), SeatError> {
    for c in 0..e.contests.len() {
        // Definitions hold at most u16::MAX contests (checked at load).
        contest_rules(e, ContestIdx(u16::try_from(c).unwrap_or(u16::MAX)))?;
    }
    Ok(())
}

/// The seat allocation of a contest from its tally, under the rule set its definition names
/// (`None` if it names none). `Some(Err(_))` when seats cannot be allocated yet, e.g. when no
/// list has passed the threshold before any station has reported.
pub fn contest_seats(
    e: &Election,
    tally: &Tally,
) -> Option<Result<(RuleSet, Allocation), SeatError>> {
    let rules = match contest_rules(e, tally.contest) {
        Ok(None) => return None,
        Ok(Some(rules)) => rules,
        Err(err) => return Some(Err(err)),
    };
    Some(input(e, tally, &rules).and_then(|input| {
        let allocation = allocate(&rules, &input)?;
        Ok((rules, allocation))
    }))
}

fn input(e: &Election, tally: &Tally, rules: &RuleSet) -> Result<VoteInput, SeatError> {
    let config = e.contests[tally.contest.0 as usize].seats.as_ref();
    let mut input = VoteInput::from_tally(e, tally, rules, config.and_then(|c| c.house))?;
    input.tie_seed = config.and_then(|c| c.tie_seed.clone());
    Ok(input)
}
