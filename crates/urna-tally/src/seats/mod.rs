//! Seat allocation: exact, explained, driven by rule sets that are data.
//!
//! Implements the seat rules of `shared/ELECTORAL-RULES.md`: D'Hondt, Sainte-Laguë, modified
//! Sainte-Laguë (first divisor 1.4), Hare and Droop largest remainder; national or district
//! thresholds (different for parties and coalitions); district allocation; seats reserved for
//! communities (with a bonus seat for the strongest of a group); pooled minority lists with a seat
//! cap; a single guaranteed seat assigned before the rest; compensatory seats per entity;
//! alliances of lists that pool their votes and split the seats won (apparentments); list
//! exhaustion (a list with fewer candidates than seats); and an explicit tie-break rule, reported
//! whenever it decides a seat.
//!
//! All arithmetic is on integers: quotients are compared by cross-multiplication in `u128`,
//! vote sums are checked and fail with [`SeatError::Overflow`].
//!
//! # Pipeline
//! [`allocate`] runs, in this order: national totals and thresholds; pooling of communities with
//! no list over the threshold; bonus and reserved community seats (set aside whether or not a
//! community has a list to take them, so the ordinary seats never depend on them; a seat no list
//! can take stays unfilled and is reported); the district seats (less any seat set aside, which
//! needs a single district), with a community's guaranteed seat assigned first where none of its
//! lists wins a seat without it, and each alliance's seats split among its lists right after its
//! district; the split of pooled seats; compensatory seats per entity. Each
//! step is a [`Contest`] with its full quotient table.
//!
//! With a largest-remainder method and a tiny electorate, the Droop quota can leave more seats
//! than there are lists; then every list gets one seat per full round before remainders rank.
//! A list with fewer candidates than its quota seats takes one seat per candidate, its remainder
//! does not compete, and the seats it cannot fill go to the other lists' largest remainders (the
//! counterpart of a divisor method passing the seat to the next quotient; a law that instead
//! divides those seats again among the other lists can give another result).
//!
//! # Candidates
//! Where the vote input declares a list's candidates, its seats go to them by the rule set's
//! `[candidates]` rule (list order, preference votes, a preference share, a closed part) and
//! gender quota; see the `candidates` module docs ([`CandidateRules`]).
//!
//! # Out of scope
//! Replacement of members during the term, compensatory seats to candidates (separate
//! compensatory lists), North
//! Macedonia's conditional diaspora seats, Albania's pre-2020 coalition split, reading the store.
//!
//! ```
//! use urna_tally::seats::{RuleSet, VoteInput, allocate};
//! let rules = RuleSet::builtin("generic").unwrap();
//! let votes = VoteInput::from_toml(r#"
//! [lists.A]
//! [lists.B]
//! [districts.all]
//! seats = 5
//! votes = { A = 600, B = 400 }
//! "#).unwrap();
//! let result = allocate(&rules, &votes).unwrap();
//! assert_eq!(result.seats_of("A").0, 3);
//! println!("{}", result.explain_text());
//! ```
#![deny(clippy::float_arithmetic)]

mod candidates;
mod contest;
mod error;
mod explain;
mod input;
mod method;
mod repeat;
mod rules;
mod sensitivity;
mod text;
mod tie;
mod types;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use candidates::{
    Candidate, CandidateRule, CandidateRules, CandidateTie, Gender, GenderQuota, ListCandidates,
    QuotaCheck, RankBasis, RankedCandidate, Replacement,
};
pub use contest::{check_definition, contest_rules, contest_seats};
pub use error::SeatError;
pub use input::{DistrictVotes, ListInfo, ListKind, VoteInput};
pub use method::{Contest, ContestKind, Entry, EntryStatus, MAX_QUOTIENTS, Method, Row, RowStatus};
pub use repeat::{RepeatVote, SeatChange, repeat_vote};
pub use rules::{
    Alliances, BonusSeat, Community, District, Entity, GuaranteedSeat, MAX_CONTEST_SEATS,
    MinimumGuarantee, Pool, RuleSet, Threshold, ThresholdScope, TieBreakRule,
};
pub use sensitivity::{ListMargin, Margin, SeatMargin, Sensitivity};
pub use tie::{TieBreakRecord, TieBreaker, TieDraw, TieRule};
pub use types::{DistrictId, ListId, Seats, Share, Votes};

use method::{Competitor, run_contest};

/// The result of a seat allocation, with everything needed to check it by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    /// The rule set's id.
    pub rule_set: String,
    /// The rule set's title.
    pub title: String,
    /// Seats in the house.
    pub house_seats: Seats,
    /// Seats of the house that no list took (reserved community seats without a list able to
    /// take them); zero in every other case.
    pub unfilled_seats: Seats,
    /// Seats per list (every declared list, zero included).
    pub seats: BTreeMap<ListId, Seats>,
    /// Valid votes per list over all districts.
    pub votes: BTreeMap<ListId, Votes>,
    /// All valid votes (lists plus `other`).
    pub valid_votes: Votes,
    /// The threshold decision for every list.
    pub thresholds: Vec<ThresholdCheck>,
    /// The contests, in the order they were run.
    pub contests: Vec<Contest>,
    /// The tie rule and seed in force.
    pub tie_break: TieBreaker,
    /// The rule that gave the seats to candidates, when any list declares candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_rules: Option<CandidateRules>,
    /// Who takes each list's seats, per district, for the lists that declare candidates.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub candidates: BTreeMap<ListId, Vec<ListCandidates>>,
}

/// How the threshold treated one list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThresholdCheck {
    /// The list.
    pub list: ListId,
    /// Where the share was measured (`national`, `district X`, `entity Y`).
    pub scope: String,
    /// Its votes in that scope.
    pub votes: Votes,
    /// The base (valid votes in that scope).
    pub base: Votes,
    /// The share required, e.g. `3%`.
    pub threshold: String,
    /// The smallest vote count that reaches the share.
    pub needed: Votes,
    /// The decision.
    pub outcome: ThresholdOutcome,
}

/// A threshold decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ThresholdOutcome {
    /// It reached the share.
    Passed,
    /// It did not.
    Failed,
    /// Its community is exempt (or has reserved seats).
    Exempt,
    /// Below the threshold, it competes in a pooled list.
    Pooled {
        /// The collective list's id.
        pool: ListId,
    },
    /// Below the threshold, it may take its community's guaranteed seat.
    GuaranteedSeat,
}

impl Allocation {
    /// Seats of one list (zero for an unknown id).
    pub fn seats_of(&self, list: &str) -> Seats {
        self.seats
            .get(&ListId::new(list))
            .copied()
            .unwrap_or_default()
    }

    /// Every tie-break that decided a seat, in contest order.
    pub fn tie_breaks(&self) -> impl Iterator<Item = &TieBreakRecord> {
        self.contests.iter().flat_map(|c| c.tie_breaks.iter())
    }

    /// The full explanation as aligned text (see [`explain`](Self::explain_text) for layout).
    pub fn explain_text(&self) -> String {
        explain::render(self, true)
    }

    /// The seat table alone, as aligned text.
    pub fn summary_text(&self) -> String {
        explain::render(self, false)
    }

    /// Names of the elected candidates of one list over all districts, in district then
    /// ranking order (empty when the list declares no candidates).
    pub fn elected_of(&self, list: &str) -> Vec<&str> {
        self.candidates
            .get(&ListId::new(list))
            .into_iter()
            .flatten()
            .flat_map(ListCandidates::elected_names)
            .collect()
    }
}

/// Allocates the seats of `rules` for `input`.
///
/// # Errors
/// A [`SeatError`] naming the field, list or district at fault: inconsistent rules, districts that
/// do not match the rule set, lists naming unknown communities, overflowing sums, or seats that
/// no list can fill.
pub fn allocate(rules: &RuleSet, input: &VoteInput) -> Result<Allocation, SeatError> {
    rules.validate()?;
    candidates::validate_input(input)?;
    let plan = district_plan(rules, input)?;
    if rules.method.is_divisor() {
        for p in &plan {
            let lists = input
                .districts
                .get(&p.id)
                .map_or(0, |d| d.votes.values().filter(|v| v.0 > 0).count());
            let quotients = lists as u64 * u64::from(p.seats);
            if quotients > method::MAX_QUOTIENTS {
                return Err(SeatError::Votes {
                    field: format!("districts.{}.votes", p.id),
                    problem: method::too_many_quotients(
                        &format!("district {}", p.id),
                        lists,
                        p.seats,
                        quotients,
                    ),
                });
            }
        }
    }
    for (id, info) in &input.lists {
        if let Some(prefix) = urna_model::definition::reserved_list_prefix(&id.0) {
            return Err(SeatError::Votes {
                field: format!("lists.{id}"),
                problem: format!(
                    "a list id may not begin with `{prefix}`: the seat rules name their \
                     collective lists and community contests so"
                ),
            });
        }
        if let Some(a) = &info.alliance {
            let field = format!("lists.{id}.alliance");
            if rules.alliances.is_none() {
                return Err(SeatError::Votes {
                    field,
                    problem: format!(
                        "the rule set `{}` has no [alliances] section: its law does not let \
                         lists pool their votes",
                        rules.id
                    ),
                });
            }
            if a.trim().is_empty() {
                return Err(SeatError::Votes {
                    field,
                    problem: "must not be empty".into(),
                });
            }
            if info.community.is_some() {
                return Err(SeatError::Votes {
                    field,
                    problem: "a community's list may not join an alliance: its seats follow its \
                              community's rules"
                        .into(),
                });
            }
        }
        if let Some(c) = &info.community
            && rules.community(c).is_none()
        {
            return Err(SeatError::Votes {
                field: format!("lists.{id}.community"),
                problem: rules.unknown_community(c),
            });
        }
    }
    let tie = TieBreaker {
        rule: rules.tie_break.rule,
        seed: input
            .tie_seed
            .clone()
            .unwrap_or_else(|| rules.tie_break.seed.clone()),
    };
    let mut state = State::new(rules, input, tie, &plan)?;
    state.national_thresholds();
    state.pools();
    state.reserved_seats()?;
    state.district_and_guaranteed_seats(&plan)?;
    state.pool_splits()?;
    state.compensatory_seats(&plan)?;
    let mut allocation = state.finish();
    let districts: Vec<DistrictId> = plan.iter().map(|p| p.id.clone()).collect();
    allocation.candidates = candidates::assign(rules, input, &allocation.contests, &districts)?;
    if !allocation.candidates.is_empty() {
        allocation.candidate_rules = Some(
            rules
                .candidates
                .clone()
                .unwrap_or_else(CandidateRules::closed_list),
        );
    }
    Ok(allocation)
}

/// One district of the run: id, seats, entity.
struct PlannedDistrict {
    id: DistrictId,
    seats: u32,
    entity: Option<String>,
}

fn district_plan(rules: &RuleSet, input: &VoteInput) -> Result<Vec<PlannedDistrict>, SeatError> {
    let mut plan = Vec::new();
    if rules.districts.is_empty() {
        for (id, d) in &input.districts {
            let seats = d.seats.ok_or_else(|| SeatError::District {
                district: id.clone(),
                problem: format!(
                    "rule set `{}` lists no districts, so `districts.{id}.seats` is required",
                    rules.id
                ),
            })?;
            if seats.0 == 0 || seats.0 > rules::MAX_CONTEST_SEATS {
                return Err(SeatError::Votes {
                    field: format!("districts.{id}.seats"),
                    problem: format!("must be between 1 and {}", rules::MAX_CONTEST_SEATS),
                });
            }
            plan.push(PlannedDistrict {
                id: id.clone(),
                seats: seats.0,
                entity: None,
            });
        }
        if plan.len() > MAX_DISTRICTS {
            return Err(SeatError::Votes {
                field: "districts".into(),
                problem: format!("more than {MAX_DISTRICTS} districts"),
            });
        }
        if plan.is_empty() {
            return Err(SeatError::Votes {
                field: "districts".into(),
                problem: "no district given".into(),
            });
        }
        if !rules.communities.is_empty() && plan.len() > 1 {
            return Err(SeatError::Votes {
                field: "districts".into(),
                problem: "this rule set's community seats need exactly one district".into(),
            });
        }
        // Reserved and bonus seats are set aside whatever the votes (a guaranteed seat only
        // when taken); without `house_seats` only the vote input's one district bounds them.
        let set_aside: u64 = rules
            .communities
            .iter()
            .filter_map(|c| c.reserved_seats)
            .chain(rules.bonus_seats.iter().map(|b| b.seats))
            .map(u64::from)
            .sum();
        if set_aside > 0 && set_aside >= u64::from(plan[0].seats) {
            return Err(SeatError::Rules {
                field: rules.set_aside_field(),
                problem: format!(
                    "the rule set sets {set_aside} seat(s) aside for communities, which leaves \
                     no ordinary seat of the {} in `districts.{}.seats` of the votes",
                    plan[0].seats, plan[0].id
                ),
            });
        }
        let seats: u64 = plan.iter().map(|p| u64::from(p.seats)).sum();
        if let Some(house) = rules.house_seats
            && seats != u64::from(house)
        {
            return Err(SeatError::Votes {
                field: "districts".into(),
                problem: format!(
                    "the districts' seats add up to {seats}, but rule set `{}` fixes \
                     house_seats = {house}",
                    rules.id
                ),
            });
        }
        if seats > u64::from(MAX_HOUSE_SEATS) {
            return Err(SeatError::Votes {
                field: "districts".into(),
                problem: format!(
                    "the districts' seats add up to {seats}, more than the {MAX_HOUSE_SEATS} \
                     one allocation may hold"
                ),
            });
        }
        return Ok(plan);
    }
    let known = rules.district_map();
    for id in input.districts.keys() {
        if !known.contains_key(id) {
            return Err(SeatError::District {
                district: id.clone(),
                problem: rules.unknown_district(),
            });
        }
    }
    for d in &rules.districts {
        let given = input
            .districts
            .get(&d.id)
            .ok_or_else(|| SeatError::District {
                district: d.id.clone(),
                problem: "missing from the votes".into(),
            })?;
        if let Some(s) = given.seats
            && s.0 != d.seats
        {
            return Err(SeatError::Votes {
                field: format!("districts.{}.seats", d.id),
                problem: format!("{s} differs from the rule set's {}", d.seats),
            });
        }
        plan.push(PlannedDistrict {
            id: d.id.clone(),
            seats: d.seats,
            entity: d.entity.clone(),
        });
    }
    Ok(plan)
}

/// Working state of one allocation.
struct State<'a> {
    rules: &'a RuleSet,
    input: &'a VoteInput,
    tie: TieBreaker,
    national: BTreeMap<ListId, Votes>,
    valid: Votes,
    district_valid: BTreeMap<DistrictId, Votes>,
    thresholds: Vec<ThresholdCheck>,
    /// Lists allowed into the ordinary seats (national threshold passed, or no national one).
    eligible: BTreeSet<ListId>,
    /// Pool id → (community, members).
    pools: BTreeMap<ListId, (String, Vec<ListId>)>,
    contests: Vec<Contest>,
    set_aside: u32,
}

impl<'a> State<'a> {
    fn new(
        rules: &'a RuleSet,
        input: &'a VoteInput,
        tie: TieBreaker,
        plan: &[PlannedDistrict],
    ) -> Result<Self, SeatError> {
        let mut national: BTreeMap<ListId, Votes> =
            input.lists.keys().map(|l| (l.clone(), Votes(0))).collect();
        let mut valid = Votes(0);
        let mut district_valid = BTreeMap::new();
        for p in plan {
            let Some(d) = input.districts.get(&p.id) else {
                continue;
            };
            let mut dv = d.other;
            for (list, v) in &d.votes {
                let slot = national.entry(list.clone()).or_default();
                *slot = slot.checked_add(*v, &format!("national votes of `{list}`"))?;
                dv = dv.checked_add(*v, &format!("valid votes in district `{}`", p.id))?;
            }
            valid = valid.checked_add(dv, "national valid votes")?;
            district_valid.insert(p.id.clone(), dv);
        }
        Ok(Self {
            rules,
            input,
            tie,
            national,
            valid,
            district_valid,
            thresholds: Vec::new(),
            eligible: BTreeSet::new(),
            pools: BTreeMap::new(),
            contests: Vec::new(),
            set_aside: 0,
        })
    }

    fn community_of(&self, list: &ListId) -> Option<&'a Community> {
        let c = self.input.lists.get(list)?.community.as_deref()?;
        self.rules.community(c)
    }

    fn share_for(&self, list: &ListId, t: &Threshold) -> Share {
        match self.input.lists.get(list).map(|i| i.kind) {
            Some(ListKind::Coalition) => t.coalition.unwrap_or(t.party),
            _ => t.party,
        }
    }

    fn national_thresholds(&mut self) {
        for (list, &votes) in &self.national {
            let community = self.community_of(list);
            let exempt =
                community.is_some_and(|c| c.threshold_exempt || c.reserved_seats.is_some());
            let Some(t) = &self.rules.threshold else {
                self.eligible.insert(list.clone());
                continue;
            };
            if t.scope == ThresholdScope::District {
                // Decided district by district; a community exemption still applies there.
                self.eligible.insert(list.clone());
                continue;
            }
            let share = self.share_for(list, t);
            let outcome = if exempt {
                ThresholdOutcome::Exempt
            } else if t.passes(share, votes, self.valid) {
                ThresholdOutcome::Passed
            } else {
                ThresholdOutcome::Failed
            };
            if outcome != ThresholdOutcome::Failed {
                self.eligible.insert(list.clone());
            }
            self.thresholds.push(ThresholdCheck {
                list: list.clone(),
                scope: "national".into(),
                votes,
                base: self.valid,
                threshold: t.describe(share),
                needed: t.needed(share, self.valid),
                outcome,
            });
        }
    }

    fn members(&self, community: &str) -> Vec<ListId> {
        self.input
            .lists
            .iter()
            .filter(|(_, i)| i.community.as_deref() == Some(community))
            .map(|(l, _)| l.clone())
            .collect()
    }

    fn set_outcome(&mut self, list: &ListId, outcome: ThresholdOutcome) {
        if let Some(t) = self.thresholds.iter_mut().find(|t| &t.list == list) {
            t.outcome = outcome;
        }
    }

    fn pools(&mut self) {
        for c in &self.rules.communities {
            let Some(pool) = &c.pool else { continue };
            let members = self.members(&c.id);
            if members.iter().any(|m| self.eligible.contains(m)) {
                continue;
            }
            let joined: Vec<ListId> = members
                .into_iter()
                .filter(|m| {
                    let v = self.national.get(m).copied().unwrap_or_default();
                    v.0 > 0 && pool.min_share.reached_by(v, self.valid)
                })
                .collect();
            if joined.is_empty() {
                continue;
            }
            let id = ListId(format!("pool:{}", c.id));
            for m in &joined {
                self.set_outcome(m, ThresholdOutcome::Pooled { pool: id.clone() });
            }
            self.pools.insert(id, (c.id.clone(), joined));
        }
    }

    /// The district seats, with each community's guaranteed seat where the law gives it.
    ///
    /// A guaranteed seat (Montenegro's Croatian seat, art. 94 para. 2 item 2) goes to the
    /// community only if none of its lists wins a seat under the ordinary rules, a collective
    /// list included. So the district seats are first allocated as if there were no guarantee; a
    /// community whose lists won nothing there, and whose most successful list reaches the
    /// guarantee's share, then takes its seat first, its lists leave the ordinary contest, and
    /// the other seats are allocated again. The guaranteed seat is thus never lost by winning
    /// more votes: a list over the pool share either wins a seat as a collective list or still
    /// takes the guaranteed one.
    fn district_and_guaranteed_seats(&mut self, plan: &[PlannedDistrict]) -> Result<(), SeatError> {
        let guarantees: Vec<&'a Community> = self
            .rules
            .communities
            .iter()
            .filter(|c| c.guaranteed_seat.is_some())
            .collect();
        if guarantees.is_empty() {
            let contests = self.district_seats(plan)?;
            self.contests.extend(contests);
            return Ok(());
        }
        let checks = self.thresholds.len();
        let trial = self.district_seats(plan)?;
        let mut granted = Vec::new();
        for c in guarantees {
            let members = self.members(&c.id);
            let won: u32 = trial
                .iter()
                .flat_map(Contest::seats_by_list)
                .filter(|(l, _)| {
                    members.contains(l)
                        || self
                            .pools
                            .get(l)
                            .is_some_and(|(community, _)| community == &c.id)
                })
                .map(|(_, s)| s.0)
                .sum();
            if won > 0 {
                continue;
            }
            if let Some(contest) = self.guaranteed_seat(c, &trial)? {
                granted.push(contest);
            }
        }
        if granted.is_empty() {
            self.contests.extend(trial);
            return Ok(());
        }
        self.thresholds.truncate(checks);
        self.contests.extend(granted);
        let contests = self.district_seats(plan)?;
        self.contests.extend(contests);
        Ok(())
    }

    /// The guaranteed seat of `c`, whose lists won nothing in `trial`; `None` when no list of
    /// the community reaches the guarantee's share.
    fn guaranteed_seat(
        &mut self,
        c: &'a Community,
        trial: &[Contest],
    ) -> Result<Option<Contest>, SeatError> {
        let Some(g) = &c.guaranteed_seat else {
            return Ok(None);
        };
        let members = self.members(&c.id);
        let mut competitors = Vec::new();
        let mut excluded = Vec::new();
        for m in &members {
            let v = self.national.get(m).copied().unwrap_or_default();
            if v.0 > 0 && g.min_share.reached_by(v, self.valid) {
                // Art. 97: a list without a candidate left passes the seat on, here to the next
                // list of the community.
                competitors.push(Competitor {
                    list: m.clone(),
                    votes: v,
                    struck: 0,
                    cap: self.cap_of(m),
                });
            } else {
                excluded.push(below(m, v, g.min_share, self.valid, "national valid votes"));
            }
        }
        // No list of the community that could take the seat has a candidate: there is no one to
        // give it to, and the seat stays with the ordinary ones.
        if competitors.iter().all(|c| c.cap == Some(0)) {
            return Ok(None);
        }
        // A list with no candidate left takes no seat: its threshold line keeps what it was.
        for m in competitors
            .iter()
            .filter(|c| c.cap != Some(0))
            .map(|c| c.list.clone())
            .collect::<Vec<_>>()
        {
            self.set_outcome(&m, ThresholdOutcome::GuaranteedSeat);
            self.eligible.remove(&m);
        }
        let pool = self
            .pools
            .iter()
            .find(|(_, (community, _))| community == &c.id)
            .map(|(id, _)| id.clone());
        let mut notes = Vec::new();
        let pool_members = pool
            .as_ref()
            .and_then(|p| self.pools.get(p))
            .map(|(_, ms)| {
                ms.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            });
        let stood: Vec<String> = trial
            .iter()
            .flat_map(|t| t.entries.iter())
            .filter(|e| e.status == EntryStatus::Competing)
            .filter_map(|e| {
                if members.contains(&e.list) {
                    Some(e.list.to_string())
                } else if pool.as_ref() == Some(&e.list) {
                    pool_members
                        .as_ref()
                        .map(|ms| format!("{ms} (as one collective list)"))
                } else {
                    None
                }
            })
            .collect();
        let ordinary: u32 = trial.iter().map(|t| t.seats.0).sum();
        if stood.is_empty() {
            notes.push(format!(
                "no list of community `{}` competed for the {ordinary} ordinary seats, so its \
                 guaranteed seat is assigned first and the other {} seats without its lists",
                c.id,
                ordinary.saturating_sub(1)
            ));
        } else {
            let last = trial
                .iter()
                .flat_map(|t| t.rows.iter())
                .rfind(|r| matches!(r.status, RowStatus::Won { .. }))
                .map(|r| format!(" (last seat: {} at {})", r.list, r.quotient))
                .unwrap_or_default();
            notes.push(format!(
                "{} competed for the {ordinary} ordinary seats and won none{last}, so the \
                 community's guaranteed seat is assigned first and the other {} seats without its \
                 lists",
                stood.join(", "),
                ordinary.saturating_sub(1)
            ));
        }
        if let Some(pool) = pool {
            self.pools.remove(&pool);
        }
        let mut contest = run_contest(
            format!("guaranteed seat {}", c.id),
            ContestKind::GuaranteedSeat,
            Method::Dhondt,
            1,
            competitors,
            excluded,
            &self.tie,
        )?;
        contest.notes = notes;
        self.set_aside += 1;
        Ok(Some(contest))
    }

    fn reserved_seats(&mut self) -> Result<(), SeatError> {
        let mut extra: BTreeMap<String, u32> = BTreeMap::new();
        for b in &self.rules.bonus_seats {
            let mut competitors = Vec::new();
            for c in &b.communities {
                let mut total = Votes(0);
                for m in self.members(c) {
                    let v = self.national.get(&m).copied().unwrap_or_default();
                    total = total.checked_add(v, &format!("votes of community `{c}`"))?;
                }
                competitors.push(Competitor {
                    list: ListId(format!("community:{c}")),
                    votes: total,
                    struck: 0,
                    cap: Some(1),
                });
            }
            let contest = run_contest(
                format!("bonus seat {}", b.communities.join("/")),
                ContestKind::Bonus,
                Method::Dhondt,
                b.seats,
                competitors,
                Vec::new(),
                &self.tie,
            )?;
            for (winner, seats) in contest.seats_by_list() {
                let community = winner.0.trim_start_matches("community:").to_owned();
                *extra.entry(community).or_default() += seats.0;
            }
            // Set aside whether or not a community takes it: the ordinary seats never depend
            // on the community seats.
            self.set_aside += b.seats;
            self.contests.push(contest);
        }
        let open = self.open_division(&extra)?;
        for c in &self.rules.communities {
            let Some(reserved) = c.reserved_seats else {
                continue;
            };
            let seats = reserved + extra.get(&c.id).copied().unwrap_or(0);
            let competitors = self
                .members(&c.id)
                .into_iter()
                .map(|m| Competitor {
                    votes: self.national.get(&m).copied().unwrap_or_default(),
                    cap: self.cap_of(&m),
                    list: m,
                    struck: 0,
                })
                .collect();
            let mut contest = run_contest(
                format!("reserved seats {}", c.id),
                ContestKind::Reserved,
                c.method.unwrap_or(self.rules.method),
                seats,
                competitors,
                Vec::new(),
                &self.tie,
            )?;
            if let Some(note) = open.get(&c.id) {
                contest.notes.push(note.clone());
            }
            self.set_aside += reserved;
            self.contests.push(contest);
        }
        Ok(())
    }

    /// Where the reserved seats are a minimum ([`MinimumGuarantee`]): the open division of the
    /// law, and per community a note that its lists win no more there than its reserved seats
    /// (`extra`: the bonus seats it took). A community that wins more is refused.
    fn open_division(
        &self,
        extra: &BTreeMap<String, u32>,
    ) -> Result<BTreeMap<String, String>, SeatError> {
        let mut notes = BTreeMap::new();
        let Some(g) = &self.rules.minimum_guarantee else {
            return Ok(notes);
        };
        let competitors: Vec<Competitor> = self
            .national
            .iter()
            .filter(|(l, v)| self.eligible.contains(*l) && v.0 > 0)
            .map(|(l, &votes)| Competitor {
                list: l.clone(),
                votes,
                struck: 0,
                cap: None,
            })
            .collect();
        if competitors.is_empty() {
            return Ok(notes);
        }
        let open = run_contest(
            "open division".into(),
            ContestKind::District,
            self.rules.method,
            g.open_seats,
            competitors,
            Vec::new(),
            &self.tie,
        )?;
        let won = open.seats_by_list();
        for c in &self.rules.communities {
            let Some(reserved) = c.reserved_seats else {
                continue;
            };
            let guaranteed = reserved + extra.get(&c.id).copied().unwrap_or(0);
            let wins: u32 = self
                .members(&c.id)
                .iter()
                .filter_map(|m| won.get(m))
                .map(|s| s.0)
                .sum();
            let method = self.rules.method.name();
            if wins > guaranteed {
                return Err(SeatError::NotModelled {
                    field: "minimum_guarantee".into(),
                    problem: format!(
                        "community `{}`: its lists win {wins} of the {} seats of an open \
                         division by {method}, more than the {guaranteed} this rule set sets \
                         aside for it; the law gives a community every seat it wins (its \
                         guarantee is a minimum, {}), by a procedure this rule set does not \
                         model, so no seats are allocated",
                        c.id, g.open_seats, g.source
                    ),
                });
            }
            notes.insert(
                c.id.clone(),
                format!(
                    "the guarantee is a minimum ({}): in an open division of {} seats by \
                     {method} this community's lists win {wins}, not more than its {guaranteed}, \
                     so its seats are the guaranteed ones",
                    g.source, g.open_seats
                ),
            );
        }
        Ok(notes)
    }

    /// Candidates of a list in the only district (community rules need a single district).
    fn cap_of(&self, list: &ListId) -> Option<u32> {
        let (id, _) = self.input.districts.iter().next()?;
        self.input.candidate_cap(id, list)
    }

    /// The ordinary seats of every district, less the seats set aside so far.
    fn district_seats(&mut self, plan: &[PlannedDistrict]) -> Result<Vec<Contest>, SeatError> {
        let mut contests = Vec::new();
        for p in plan {
            let seats = if plan.len() == 1 {
                p.seats
                    .checked_sub(self.set_aside)
                    .ok_or_else(|| SeatError::Rules {
                        field: "house_seats".into(),
                        problem: format!(
                            "{} set-aside seats exceed the district's {} seats",
                            self.set_aside, p.seats
                        ),
                    })?
            } else {
                p.seats
            };
            let empty = DistrictVotes::default();
            let d = self.input.districts.get(&p.id).unwrap_or(&empty);
            let base = self.district_valid.get(&p.id).copied().unwrap_or_default();
            let mut competitors = Vec::new();
            let mut excluded = Vec::new();
            let mut alliances: BTreeMap<String, Vec<Competitor>> = BTreeMap::new();
            for (list, &votes) in &d.votes {
                let community = self.community_of(list);
                if community.is_some_and(|c| c.reserved_seats.is_some())
                    || self.pools.values().any(|(_, ms)| ms.contains(list))
                {
                    continue;
                }
                if !self.eligible.contains(list) {
                    if self.rules.threshold.is_some() {
                        let t = self.thresholds.iter().find(|t| &t.list == list);
                        if let Some(t) = t
                            && t.outcome == ThresholdOutcome::GuaranteedSeat
                        {
                            continue;
                        }
                        if let Some(t) = &self.rules.threshold {
                            let share = self.share_for(list, t);
                            excluded.push(below_threshold(
                                list,
                                votes,
                                t,
                                share,
                                self.valid,
                                "national valid votes",
                            ));
                        }
                    }
                    continue;
                }
                if let Some(t) = &self.rules.threshold
                    && t.scope == ThresholdScope::District
                    && !community.is_some_and(|c| c.threshold_exempt)
                {
                    let share = self.share_for(list, t);
                    let passed = t.passes(share, votes, base);
                    self.thresholds.push(ThresholdCheck {
                        list: list.clone(),
                        scope: format!("district {}", p.id),
                        votes,
                        base,
                        threshold: t.describe(share),
                        needed: t.needed(share, base),
                        outcome: if passed {
                            ThresholdOutcome::Passed
                        } else {
                            ThresholdOutcome::Failed
                        },
                    });
                    if !passed {
                        excluded.push(below_threshold(
                            list,
                            votes,
                            t,
                            share,
                            base,
                            "district valid votes",
                        ));
                        continue;
                    }
                }
                let competitor = Competitor {
                    list: list.clone(),
                    votes,
                    struck: 0,
                    cap: self.input.candidate_cap(&p.id, list),
                };
                match self.input.lists.get(list).and_then(|i| i.alliance.as_ref()) {
                    Some(a) if votes.0 > 0 => {
                        alliances.entry(a.clone()).or_default().push(competitor)
                    }
                    _ => competitors.push(competitor),
                }
            }
            // An alliance competes as one list only with two or more lists over the threshold.
            let mut splits = Vec::new();
            for (name, members) in alliances {
                if members.len() < 2 {
                    competitors.extend(members);
                    continue;
                }
                let id = ListId(format!("{ALLIANCE_PREFIX}{name}"));
                let mut votes = Votes(0);
                for m in &members {
                    votes =
                        votes.checked_add(m.votes, &format!("votes of `{id}` in `{}`", p.id))?;
                }
                // Together the lists take no more seats than they have candidates.
                let cap = members
                    .iter()
                    .try_fold(0u32, |sum, m| m.cap.map(|c| sum.saturating_add(c)));
                competitors.push(Competitor {
                    list: id.clone(),
                    votes,
                    struck: 0,
                    cap,
                });
                splits.push((name, id, members));
            }
            for (pool, (community, members)) in &self.pools {
                let mut votes = Votes(0);
                for m in members {
                    let v = d.votes.get(m).copied().unwrap_or_default();
                    votes = votes.checked_add(v, &format!("votes of `{pool}`"))?;
                }
                let max_seats = self
                    .rules
                    .community(community)
                    .and_then(|c| c.pool.as_ref())
                    .map(|p| p.max_seats);
                // Art. 97: a collective list takes no more seats than its lists have candidates;
                // a seat beyond them passes to the next quotient, not to a list out of names.
                let candidates = members.iter().try_fold(0u32, |sum, m| {
                    self.input
                        .candidate_cap(&p.id, m)
                        .map(|c| sum.saturating_add(c))
                });
                let cap = match (max_seats, candidates) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                competitors.push(Competitor {
                    list: pool.clone(),
                    votes,
                    struck: 0,
                    cap,
                });
            }
            let contest = run_contest(
                format!("district {}", p.id),
                ContestKind::District,
                self.rules.method,
                seats,
                competitors,
                excluded,
                &self.tie,
            )?;
            let won = contest.seats_by_list();
            contests.push(contest);
            for (name, id, members) in splits {
                let Some(&seats) = won.get(&id) else { continue };
                let method = self
                    .rules
                    .alliances
                    .as_ref()
                    .and_then(|a| a.method)
                    .unwrap_or(self.rules.method);
                contests.push(run_contest(
                    format!("alliance {name} in district {}", p.id),
                    ContestKind::AllianceSplit,
                    method,
                    seats.0,
                    members,
                    Vec::new(),
                    &self.tie,
                )?);
            }
        }
        Ok(contests)
    }

    fn pool_splits(&mut self) -> Result<(), SeatError> {
        let mut won: BTreeMap<ListId, u32> = BTreeMap::new();
        for c in &self.contests {
            for (list, s) in c.seats_by_list() {
                if self.pools.contains_key(&list) {
                    *won.entry(list).or_default() += s.0;
                }
            }
        }
        for (pool, seats) in won {
            let Some((community, members)) = self.pools.get(&pool) else {
                continue;
            };
            let method = self
                .rules
                .community(community)
                .and_then(|c| c.pool.as_ref())
                .and_then(|p| p.method)
                .unwrap_or(Method::Dhondt);
            let competitors = members
                .iter()
                .map(|m| Competitor {
                    list: m.clone(),
                    votes: self.national.get(m).copied().unwrap_or_default(),
                    struck: 0,
                    cap: self.cap_of(m),
                })
                .collect();
            let contest = run_contest(
                format!("pool split {pool}"),
                ContestKind::PoolSplit,
                method,
                seats,
                competitors,
                Vec::new(),
                &self.tie,
            )?;
            self.contests.push(contest);
        }
        Ok(())
    }

    fn compensatory_seats(&mut self, plan: &[PlannedDistrict]) -> Result<(), SeatError> {
        for e in &self.rules.entities {
            let districts: Vec<&PlannedDistrict> = plan
                .iter()
                .filter(|p| p.entity.as_deref() == Some(&e.id))
                .collect();
            let mut votes: BTreeMap<ListId, Votes> = BTreeMap::new();
            let mut base = Votes(0);
            let mut direct: BTreeMap<ListId, u32> = BTreeMap::new();
            for p in &districts {
                base = base.checked_add(
                    self.district_valid.get(&p.id).copied().unwrap_or_default(),
                    &format!("valid votes of entity `{}`", e.id),
                )?;
                if let Some(d) = self.input.districts.get(&p.id) {
                    for (list, v) in &d.votes {
                        let slot = votes.entry(list.clone()).or_default();
                        *slot =
                            slot.checked_add(*v, &format!("votes of `{list}` in `{}`", e.id))?;
                    }
                }
                let name = format!("district {}", p.id);
                if let Some(c) = self.contests.iter().find(|c| c.name == name) {
                    for (list, s) in c.seats_by_list() {
                        *direct.entry(list).or_default() += s.0;
                    }
                }
            }
            let mut competitors = Vec::new();
            let mut excluded = Vec::new();
            for (list, v) in votes {
                if self
                    .input
                    .lists
                    .get(&list)
                    .is_some_and(|l| l.kind == ListKind::Independent)
                {
                    excluded.push(Entry {
                        list,
                        votes: v,
                        status: EntryStatus::Ineligible {
                            reason: "an independent candidate: compensatory seats go to parties and coalitions".into(),
                        },
                        seats: Seats(0),
                        quota_seats: Seats(0),
                        struck: 0,
                        cap: None,
                    });
                    continue;
                }
                let passed = e.threshold.reached_by(v, base);
                self.thresholds.push(ThresholdCheck {
                    list: list.clone(),
                    scope: format!("entity {}", e.id),
                    votes: v,
                    base,
                    threshold: e.threshold.to_string(),
                    needed: e.threshold.minimum_votes(base),
                    outcome: if passed {
                        ThresholdOutcome::Passed
                    } else {
                        ThresholdOutcome::Failed
                    },
                });
                if passed {
                    competitors.push(Competitor {
                        struck: direct.get(&list).copied().unwrap_or(0),
                        list,
                        votes: v,
                        cap: None,
                    });
                } else {
                    excluded.push(below(&list, v, e.threshold, base, "entity valid votes"));
                }
            }
            let contest = run_contest(
                format!("compensatory {}", e.id),
                ContestKind::Compensatory,
                e.method.unwrap_or(self.rules.method),
                e.compensatory_seats,
                competitors,
                excluded,
                &self.tie,
            )?;
            self.contests.push(contest);
        }
        Ok(())
    }

    fn finish(self) -> Allocation {
        let mut seats: BTreeMap<ListId, Seats> = self
            .input
            .lists
            .keys()
            .map(|l| (l.clone(), Seats(0)))
            .collect();
        for c in &self.contests {
            if c.kind == ContestKind::Bonus {
                continue;
            }
            for (list, s) in c.seats_by_list() {
                if self.pools.contains_key(&list) || list.as_str().starts_with(ALLIANCE_PREFIX) {
                    continue;
                }
                seats.entry(list).or_default().0 += s.0;
            }
        }
        // A bonus seat is counted in the reserved contest of the community that took it, or, left
        // unfilled, in the bonus contest itself.
        let house: u32 = self
            .contests
            .iter()
            .map(|c| match c.kind {
                ContestKind::Bonus => c.unfilled.0,
                ContestKind::PoolSplit | ContestKind::AllianceSplit => 0,
                _ => c.seats.0,
            })
            .sum();
        let unfilled: u32 = self
            .contests
            .iter()
            .filter(|c| !matches!(c.kind, ContestKind::PoolSplit | ContestKind::AllianceSplit))
            .map(|c| c.unfilled.0)
            .sum();
        Allocation {
            rule_set: self.rules.id.clone(),
            title: self.rules.title.clone(),
            house_seats: Seats(house),
            unfilled_seats: Seats(unfilled),
            seats,
            votes: self.national,
            valid_votes: self.valid,
            thresholds: self.thresholds,
            contests: self.contests,
            tie_break: self.tie,
            candidate_rules: None,
            candidates: BTreeMap::new(),
        }
    }
}

/// The id an alliance of lists competes under in a district contest: `alliance:<name>`.
pub(crate) const ALLIANCE_PREFIX: &str = "alliance:";

/// Most districts a vote input may define for a rule set without districts.
pub const MAX_DISTRICTS: usize = 10_000;

/// Most seats the districts of a vote input without rule-set districts may hold together. The
/// quotient tables hold up to `lists × seats` rows, so this bounds time and memory on hostile
/// input; the largest chamber elected anywhere (China's NPC) has under 3,000 seats.
pub const MAX_HOUSE_SEATS: u32 = 10_000;

fn below(list: &ListId, votes: Votes, share: Share, base: Votes, base_name: &str) -> Entry {
    Entry {
        list: list.clone(),
        votes,
        status: EntryStatus::BelowThreshold {
            threshold: share.to_string(),
            needed: share.minimum_votes(base),
            base: format!("{base_name} ({base})"),
        },
        seats: Seats(0),
        quota_seats: Seats(0),
        struck: 0,
        cap: None,
    }
}

/// [`below`] for a list cut by the rule set's legal threshold, honouring a strict comparison.
fn below_threshold(
    list: &ListId,
    votes: Votes,
    t: &Threshold,
    share: Share,
    base: Votes,
    base_name: &str,
) -> Entry {
    let mut entry = below(list, votes, share, base, base_name);
    entry.status = EntryStatus::BelowThreshold {
        threshold: t.describe(share),
        needed: t.needed(share, base),
        base: format!("{base_name} ({base})"),
    };
    entry
}
