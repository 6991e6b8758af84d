//! The apportionment methods and the contest engine that runs one of them over one set of seats.
//!
//! Quotients are never computed as numbers: `v₁ / d₁` and `v₂ / d₂` are compared as
//! `v₁ × d₂` against `v₂ × d₁` in `u128`, which cannot overflow for `u64` votes and divisors.
//! Divisors are scaled by ten so that modified Sainte-Laguë's 1.4 is the integer 14.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::SeatError;
use super::sensitivity::{self, Sensitivity};
use super::tie::{TieBreakRecord, TieBreaker, TieCandidate};
use super::types::{ListId, Seats, Votes, format_fraction};

/// An apportionment method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Highest averages with divisors 1, 2, 3, … (Jefferson).
    Dhondt,
    /// Highest averages with divisors 1, 3, 5, … (Webster).
    SainteLague,
    /// Sainte-Laguë with the first divisor 1.4: 1.4, 3, 5, ….
    ModifiedSainteLague,
    /// Largest remainder with the Hare quota `V / S`.
    Hare,
    /// Largest remainder with the Droop quota `⌊V / (S + 1)⌋ + 1`.
    Droop,
}

/// Most quotients one divisor-method contest may rank: a row per list with votes and seat (and
/// struck quotient). A row takes a few hundred bytes, so this bounds a contest's table to a
/// few hundred megabytes; real contests rank thousands (150 seats among 40 lists: 6,000).
pub const MAX_QUOTIENTS: u64 = 1_000_000;

/// Why a contest of `lists` lists with votes and `seats` seats is refused: its `quotients`.
pub(crate) fn too_many_quotients(
    contest: &str,
    lists: usize,
    seats: u32,
    quotients: u64,
) -> String {
    format!(
        "{contest}: {lists} lists with votes for {seats} seats make {quotients} quotients, more \
         than the {MAX_QUOTIENTS} one contest may rank"
    )
}

/// Divisors are stored multiplied by this, so that every divisor is an integer.
pub(crate) const DIVISOR_SCALE: u64 = 10;

impl Method {
    /// The divisor for quotient `index` (0-based), scaled by ten, or `None` for largest
    /// remainder methods.
    pub fn scaled_divisor(self, index: u32) -> Option<u64> {
        let k = u64::from(index);
        match self {
            Self::Dhondt => Some((k + 1) * DIVISOR_SCALE),
            Self::SainteLague => Some((2 * k + 1) * DIVISOR_SCALE),
            Self::ModifiedSainteLague if k == 0 => Some(14),
            Self::ModifiedSainteLague => Some((2 * k + 1) * DIVISOR_SCALE),
            Self::Hare | Self::Droop => None,
        }
    }

    /// True for highest-averages (divisor) methods.
    pub fn is_divisor(self) -> bool {
        self.scaled_divisor(0).is_some()
    }

    /// The rule-set spelling of the method.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dhondt => "dhondt",
            Self::SainteLague => "sainte_lague",
            Self::ModifiedSainteLague => "modified_sainte_lague",
            Self::Hare => "hare",
            Self::Droop => "droop",
        }
    }
}

/// What kind of step of the allocation a contest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContestKind {
    /// The ordinary seats of one district (or of the whole country as one district).
    District,
    /// A single seat guaranteed to a community and assigned before the rest.
    GuaranteedSeat,
    /// Seats reserved for one community, shared among that community's lists.
    Reserved,
    /// An extra reserved seat given to the community with the most votes in a group.
    Bonus,
    /// Seats won by a pooled (collective) list, split among its members.
    PoolSplit,
    /// Seats won in one district by an alliance of lists (an apparentment), split among its
    /// lists; named `alliance <name> in district <id>`.
    AllianceSplit,
    /// Compensatory (levelling) seats of one entity.
    Compensatory,
}

impl ContestKind {
    /// True for seats the law sets aside for a community: with no list of that community able to
    /// take them they stay unfilled (reported as such) rather than fail the whole allocation.
    pub fn may_stay_unfilled(self) -> bool {
        matches!(self, Self::Reserved | Self::Bonus)
    }
}

/// One list's part in a contest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The list.
    pub list: ListId,
    /// Its votes in this contest.
    pub votes: Votes,
    /// Whether it competed, and why not otherwise.
    pub status: EntryStatus,
    /// Seats won in this contest.
    pub seats: Seats,
    /// Seats a largest-remainder quota gave before remainders were ranked.
    pub quota_seats: Seats,
    /// Quotients struck out before ranking (compensatory: one per seat already won).
    pub struck: u32,
    /// At most this many seats (candidates left, or a pool's cap), if limited.
    pub cap: Option<u32>,
}

/// Whether a list took part in a contest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum EntryStatus {
    /// It competed for the seats.
    Competing,
    /// It was cut by a threshold.
    BelowThreshold {
        /// The threshold that applied, e.g. `1%`.
        threshold: String,
        /// The votes it needed.
        needed: Votes,
        /// The base the threshold is a share of, e.g. `national valid votes`.
        base: String,
    },
    /// It had no votes.
    NoVotes,
    /// It may not take these seats, for `reason` (e.g. an independent candidate in a
    /// compensatory contest).
    Ineligible {
        /// Why, in words.
        reason: String,
    },
}

/// What became of one quotient (or one remainder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum RowStatus {
    /// It won the seat with this 1-based number in the contest.
    Won {
        /// Seat number.
        seat: u32,
    },
    /// It ranked below the last seat.
    Lost,
    /// It was struck out before ranking (compensatory seats).
    Struck,
    /// The list had reached its cap (no candidates left, or a pool's seat limit).
    Capped,
}

/// One quotient of the table: `votes / divisor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The list.
    pub list: ListId,
    /// 1-based quotient index (0 for a largest-remainder remainder).
    pub index: u32,
    /// The divisor, as written by the law (`1.4`, `3`), or `quota` for a remainder.
    pub divisor: String,
    /// The dividend: the list's votes (or its remainder).
    pub dividend: u128,
    /// The quotient rounded down to four decimals, for reading only; ranking is exact.
    pub quotient: String,
    /// What became of it.
    pub status: RowStatus,
    /// Whether a tie-break decided its place relative to an equal quotient at the cut.
    pub tie_break: bool,
    #[serde(skip)]
    pub(crate) numerator: u128,
    #[serde(skip)]
    pub(crate) denominator: u128,
}

/// One contest: a set of seats allocated by one method among one set of lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contest {
    /// Human-readable name, e.g. `district Berat`; also the context of any draw by lot.
    pub name: String,
    /// What step of the allocation this is.
    pub kind: ContestKind,
    /// The method used.
    pub method: Method,
    /// Seats allocated.
    pub seats: Seats,
    /// Every list considered, sorted by list id.
    pub entries: Vec<Entry>,
    /// The largest-remainder quota as text, if any.
    pub quota: Option<String>,
    /// The full quotient table, best first (ranked quotients, then struck and capped ones).
    pub rows: Vec<Row>,
    /// Tie-breaks that decided a seat.
    pub tie_breaks: Vec<TieBreakRecord>,
    /// Vote margins that would move a seat (divisor methods without struck quotients).
    pub sensitivity: Option<Sensitivity>,
    /// Seats no list could take: only reserved and bonus seats may stay unfilled (a community
    /// without lists, votes or candidates), and they are never given to anyone else.
    pub unfilled: Seats,
    /// Facts the rule applied that the quotient table alone does not show.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Contest {
    /// Seats won per list in this contest (lists with seats only).
    pub fn seats_by_list(&self) -> BTreeMap<ListId, Seats> {
        self.entries
            .iter()
            .filter(|e| e.seats.0 > 0)
            .map(|e| (e.list.clone(), e.seats))
            .collect()
    }
}

/// A list that takes part in a contest.
#[derive(Debug, Clone)]
pub(crate) struct Competitor {
    pub(crate) list: ListId,
    pub(crate) votes: Votes,
    pub(crate) struck: u32,
    pub(crate) cap: Option<u32>,
}

/// Runs `method` over `seats` among `competitors`; `excluded` entries are reported only.
pub(crate) fn run_contest(
    name: String,
    kind: ContestKind,
    method: Method,
    seats: u32,
    competitors: Vec<Competitor>,
    excluded: Vec<Entry>,
    tie: &TieBreaker,
) -> Result<Contest, SeatError> {
    let mut entries = excluded;
    let mut active = Vec::new();
    for c in competitors {
        if c.votes.0 == 0 {
            entries.push(entry(&c, EntryStatus::NoVotes));
        } else {
            active.push(c);
        }
    }
    let mut contest = Contest {
        name,
        kind,
        method,
        seats: Seats(seats),
        entries: Vec::new(),
        quota: None,
        rows: Vec::new(),
        tie_breaks: Vec::new(),
        sensitivity: None,
        unfilled: Seats(0),
        notes: Vec::new(),
    };
    if active.is_empty() && kind.may_stay_unfilled() {
        contest.unfilled = Seats(seats);
    } else if method.is_divisor() {
        highest_averages(&mut contest, &active, tie)?;
    } else {
        largest_remainder(&mut contest, &active, tie)?;
    }
    // One pass over the rows for every list's count: a scan per list is quadratic in lists.
    let mut won: BTreeMap<&ListId, u32> = BTreeMap::new();
    let mut first_won: BTreeMap<&ListId, bool> = BTreeMap::new();
    for r in &contest.rows {
        let is_won = matches!(r.status, RowStatus::Won { .. });
        if is_won {
            *won.entry(&r.list).or_default() += 1;
        }
        first_won.entry(&r.list).or_insert(is_won);
    }
    for c in &active {
        let mut e = entry(c, EntryStatus::Competing);
        e.seats = Seats(won.get(&c.list).copied().unwrap_or(0));
        if !method.is_divisor() {
            // The first row of a largest-remainder list is its remainder.
            let remainder = u32::from(first_won.get(&c.list).copied().unwrap_or(false));
            e.quota_seats = Seats(e.seats.0 - remainder);
        }
        entries.push(e);
    }
    entries.sort_by(|a, b| a.list.cmp(&b.list));
    contest.entries = entries;
    Ok(contest)
}

fn entry(c: &Competitor, status: EntryStatus) -> Entry {
    Entry {
        list: c.list.clone(),
        votes: c.votes,
        status,
        seats: Seats(0),
        quota_seats: Seats(0),
        struck: c.struck,
        cap: c.cap,
    }
}

/// Exact comparison of two quotients, larger first.
pub(crate) fn cmp_desc(a: &Row, b: &Row) -> Ordering {
    (b.numerator * a.denominator).cmp(&(a.numerator * b.denominator))
}

fn quotient_row(list: &ListId, index: u32, votes: Votes, scaled_divisor: u64) -> Row {
    let numerator = u128::from(votes.0) * u128::from(DIVISOR_SCALE);
    let denominator = u128::from(scaled_divisor);
    Row {
        list: list.clone(),
        index: index + 1,
        divisor: format_divisor(scaled_divisor),
        dividend: u128::from(votes.0),
        quotient: format_fraction(numerator, denominator, 4),
        status: RowStatus::Lost,
        tie_break: false,
        numerator,
        denominator,
    }
}

fn format_divisor(scaled: u64) -> String {
    if scaled.is_multiple_of(DIVISOR_SCALE) {
        (scaled / DIVISOR_SCALE).to_string()
    } else {
        format!("{}.{}", scaled / DIVISOR_SCALE, scaled % DIVISOR_SCALE)
    }
}

fn highest_averages(
    contest: &mut Contest,
    active: &[Competitor],
    tie: &TieBreaker,
) -> Result<(), SeatError> {
    let seats = contest.seats.0;
    let quotients: u64 = active
        .iter()
        .map(|c| u64::from(c.struck.saturating_add(seats)))
        .sum();
    if quotients > MAX_QUOTIENTS {
        return Err(SeatError::Votes {
            field: "lists".into(),
            problem: too_many_quotients(&contest.name, active.len(), seats, quotients),
        });
    }
    let mut ranked = Vec::new();
    let mut set_aside = Vec::new();
    for c in active {
        let shown = c.struck.saturating_add(seats);
        for k in 0..shown {
            let Some(d) = contest.method.scaled_divisor(k) else {
                continue;
            };
            let mut row = quotient_row(&c.list, k, c.votes, d);
            if k < c.struck {
                row.status = RowStatus::Struck;
                set_aside.push(row);
            } else if c.cap.is_some_and(|cap| k - c.struck >= cap) {
                row.status = RowStatus::Capped;
                set_aside.push(row);
            } else {
                ranked.push(row);
            }
        }
    }
    // Stable order for equal quotients before any tie-break: by list id, then index.
    ranked.sort_by(|a, b| {
        cmp_desc(a, b)
            .then_with(|| a.list.cmp(&b.list))
            .then_with(|| a.index.cmp(&b.index))
    });
    let votes_of: BTreeMap<&ListId, Votes> = active.iter().map(|c| (&c.list, c.votes)).collect();
    let available = u32::try_from(ranked.len()).unwrap_or(u32::MAX);
    let seats = if contest.kind.may_stay_unfilled() && available < seats {
        contest.unfilled = Seats(seats - available);
        available
    } else {
        seats
    };
    select(contest, &mut ranked, seats, tie, &votes_of)?;
    if contest.kind != ContestKind::Compensatory {
        contest.sensitivity = Some(sensitivity::divisor_margins(&ranked, seats, &votes_of));
    }
    set_aside.sort_by(|a, b| a.list.cmp(&b.list).then_with(|| a.index.cmp(&b.index)));
    ranked.extend(set_aside);
    contest.rows = ranked;
    Ok(())
}

/// Marks the first `seats` rows of `ranked` as won, breaking a tie that straddles the cut.
fn select(
    contest: &mut Contest,
    ranked: &mut [Row],
    seats: u32,
    tie: &TieBreaker,
    votes_of: &BTreeMap<&ListId, Votes>,
) -> Result<(), SeatError> {
    let n = seats as usize;
    if ranked.len() < n {
        let filled = u32::try_from(ranked.len()).unwrap_or(u32::MAX);
        return Err(SeatError::Unfillable {
            contest: contest.name.clone(),
            seats: seats - filled,
            reason: "no list left with votes, a passed threshold and candidates".into(),
        });
    }
    if n > 0 && n < ranked.len() && cmp_desc(&ranked[n - 1], &ranked[n]) == Ordering::Equal {
        let start = ranked[..n]
            .iter()
            .position(|r| cmp_desc(r, &ranked[n - 1]) == Ordering::Equal)
            .unwrap_or(n - 1);
        let end = n + ranked[n..]
            .iter()
            .take_while(|r| cmp_desc(r, &ranked[n - 1]) == Ordering::Equal)
            .count();
        let group: Vec<Row> = ranked[start..end].to_vec();
        let candidates: Vec<TieCandidate> = group
            .iter()
            .map(|r| TieCandidate {
                list: r.list.clone(),
                index: r.index,
                votes: votes_of.get(&r.list).copied().unwrap_or_default(),
            })
            .collect();
        let need = u32::try_from(n - start).unwrap_or(u32::MAX);
        let (order, record) = tie.decide(&contest.name, &candidates, need);
        for (slot, &i) in order.iter().enumerate() {
            ranked[start + slot] = group[i].clone();
            ranked[start + slot].tie_break = true;
        }
        contest.tie_breaks.push(record);
    }
    for (i, row) in ranked.iter_mut().enumerate() {
        if i < n {
            row.status = RowStatus::Won {
                seat: u32::try_from(i + 1).unwrap_or(u32::MAX),
            };
        }
    }
    Ok(())
}

fn largest_remainder(
    contest: &mut Contest,
    active: &[Competitor],
    tie: &TieBreaker,
) -> Result<(), SeatError> {
    let seats = contest.seats.0;
    if let Some(c) = active.iter().find(|c| c.struck > 0) {
        return Err(SeatError::Unfillable {
            contest: contest.name.clone(),
            seats,
            reason: format!(
                "list `{}` has struck quotients, which largest remainder methods do not support",
                c.list
            ),
        });
    }
    let mut total = Votes(0);
    for c in active {
        total = total.checked_add(c.votes, &format!("votes in {}", contest.name))?;
    }
    if total.0 == 0 {
        return Err(SeatError::Unfillable {
            contest: contest.name.clone(),
            seats,
            reason: "no list has votes".into(),
        });
    }
    let s = u128::from(seats);
    let v = u128::from(total.0);
    // Each list's share is votes × S / V seats (Hare) or votes / q seats (Droop): integer part
    // first, then the remainders (all over the same denominator) are ranked.
    let (denominator, quota_text) = match contest.method {
        Method::Droop => {
            let q = v / (s + 1) + 1;
            (q, format!("Droop quota ⌊{v} / {}⌋ + 1 = {q}", s + 1))
        }
        _ => (
            v,
            format!("Hare quota {v} / {s} = {}", format_fraction(v, s.max(1), 4)),
        ),
    };
    contest.quota = Some(quota_text);
    let mut automatic: BTreeMap<&ListId, u32> = BTreeMap::new();
    let mut ranked = Vec::new();
    let mut full = Vec::new();
    let mut given: u128 = 0;
    for c in active {
        let dividend = match contest.method {
            Method::Droop => u128::from(c.votes.0),
            _ => u128::from(c.votes.0) * s,
        };
        let mut whole = dividend / denominator;
        let rest = dividend % denominator;
        let mut row = Row {
            list: c.list.clone(),
            index: 0,
            divisor: "quota".into(),
            dividend: rest,
            quotient: format_fraction(rest, denominator, 4),
            status: RowStatus::Lost,
            tie_break: false,
            numerator: rest,
            denominator,
        };
        // A list with no more candidates than its quota seats takes only those; its remainder
        // does not compete, and the seats it cannot fill go to the largest other remainders
        // (as a divisor method passes the seat to the next quotient).
        if let Some(cap) = c.cap
            && whole >= u128::from(cap)
        {
            whole = u128::from(cap);
            row.status = RowStatus::Capped;
            full.push(row);
        } else {
            ranked.push(row);
        }
        given += whole;
        automatic.insert(&c.list, u32::try_from(whole).unwrap_or(u32::MAX));
    }
    let mut left = u32::try_from(s.saturating_sub(given)).unwrap_or(0);
    // With a tiny electorate the Droop quota can leave more seats than lists (or a cap can):
    // give one to every list still competing per full round (documented in the module docs of
    // `seats`); a list that reaches its cap leaves the rounds.
    let cap_of: BTreeMap<&ListId, Option<u32>> = active.iter().map(|c| (&c.list, c.cap)).collect();
    loop {
        let n = u32::try_from(ranked.len()).unwrap_or(u32::MAX);
        if n == 0 || left < n {
            break;
        }
        for row in &ranked {
            if let Some(a) = automatic.get_mut(&row.list) {
                *a += 1;
            }
        }
        left -= n;
        let (still, capped): (Vec<Row>, Vec<Row>) = ranked.into_iter().partition(|r| {
            let cap = cap_of.get(&r.list).copied().flatten();
            cap.is_none_or(|cap| automatic.get(&r.list).copied().unwrap_or(0) < cap)
        });
        ranked = still;
        for mut r in capped {
            r.status = RowStatus::Capped;
            full.push(r);
        }
    }
    ranked.sort_by(|a, b| cmp_desc(a, b).then_with(|| a.list.cmp(&b.list)));
    let votes_of: BTreeMap<&ListId, Votes> = active.iter().map(|c| (&c.list, c.votes)).collect();
    select(contest, &mut ranked, left, tie, &votes_of)?;
    // Automatic seats are reported as `quota_seats`; give them seat numbers after the
    // remainder seats so that every seat has a row.
    let mut seat_no = left;
    let mut extra = Vec::new();
    for (list, count) in &automatic {
        for _ in 0..*count {
            seat_no += 1;
            extra.push(Row {
                list: (*list).clone(),
                index: 0,
                divisor: "quota".into(),
                dividend: denominator,
                quotient: "1.0000".into(),
                status: RowStatus::Won { seat: seat_no },
                tie_break: false,
                numerator: denominator,
                denominator,
            });
        }
    }
    contest.rows = ranked;
    full.sort_by(|a, b| a.list.cmp(&b.list));
    contest.rows.extend(full);
    contest.rows.extend(extra);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seats::tie::TieRule;

    fn tie() -> TieBreaker {
        TieBreaker {
            rule: TieRule::Lot,
            seed: "test".into(),
        }
    }

    fn run(method: Method, seats: u32, votes: &[(&str, u64)]) -> BTreeMap<String, u32> {
        let competitors = votes
            .iter()
            .map(|(l, v)| Competitor {
                list: ListId::new(*l),
                votes: Votes(*v),
                struck: 0,
                cap: None,
            })
            .collect();
        let c = run_contest(
            "t".into(),
            ContestKind::District,
            method,
            seats,
            competitors,
            vec![],
            &tie(),
        )
        .unwrap();
        c.entries
            .iter()
            .map(|e| (e.list.0.clone(), e.seats.0))
            .collect()
    }

    fn seats_of(m: &BTreeMap<String, u32>) -> Vec<u32> {
        m.values().copied().collect()
    }

    #[test]
    fn dhondt_matches_a_textbook_example() {
        // 8 seats; A 100000, B 80000, C 30000, D 20000 → 4, 3, 1, 0.
        let got = run(
            Method::Dhondt,
            8,
            &[("A", 100_000), ("B", 80_000), ("C", 30_000), ("D", 20_000)],
        );
        assert_eq!(seats_of(&got), [4, 3, 1, 0]);
    }

    #[test]
    fn sainte_lague_favours_small_lists_more_than_dhondt() {
        let votes = [("A", 53_000), ("B", 24_000), ("C", 23_000)];
        assert_eq!(seats_of(&run(Method::Dhondt, 7, &votes)), [4, 2, 1]);
        assert_eq!(seats_of(&run(Method::SainteLague, 7, &votes)), [3, 2, 2]);
    }

    #[test]
    fn modified_sainte_lague_first_divisor_1_4_holds_back_a_small_list() {
        // C's first quotient is 12 under Sainte-Laguë (wins the 5th seat) but 12 / 1.4 = 8.57
        // under the modified method, below B's second quotient 31 / 3 = 10.33.
        let votes = [("A", 70), ("B", 31), ("C", 12)];
        assert_eq!(seats_of(&run(Method::SainteLague, 5, &votes)), [3, 1, 1]);
        assert_eq!(
            seats_of(&run(Method::ModifiedSainteLague, 5, &votes)),
            [3, 2, 0]
        );
    }

    #[test]
    fn hare_and_droop_give_remainders_to_the_largest() {
        let votes = [
            ("A", 47_000),
            ("B", 16_000),
            ("C", 15_800),
            ("D", 12_000),
            ("E", 6_100),
            ("F", 3_100),
        ];
        assert_eq!(seats_of(&run(Method::Hare, 10, &votes)), [5, 2, 1, 1, 1, 0]);
        assert_eq!(
            seats_of(&run(Method::Droop, 10, &votes)),
            [5, 2, 2, 1, 0, 0]
        );
    }

    #[test]
    fn exact_tie_at_the_cut_is_decided_and_reported() {
        let competitors = vec![
            Competitor {
                list: ListId::new("A"),
                votes: Votes(100),
                struck: 0,
                cap: None,
            },
            Competitor {
                list: ListId::new("B"),
                votes: Votes(100),
                struck: 0,
                cap: None,
            },
        ];
        let c = run_contest(
            "t".into(),
            ContestKind::District,
            Method::Dhondt,
            1,
            competitors,
            vec![],
            &tie(),
        )
        .unwrap();
        assert_eq!(c.tie_breaks.len(), 1);
        assert_eq!(c.tie_breaks[0].ranking.len(), 2);
        let total: u32 = c.entries.iter().map(|e| e.seats.0).sum();
        assert_eq!(total, 1);
    }

    #[test]
    fn tie_inside_the_winners_needs_no_tie_break() {
        let got = run(Method::Dhondt, 2, &[("A", 100), ("B", 100), ("C", 1)]);
        assert_eq!(seats_of(&got), [1, 1, 0]);
    }

    #[test]
    fn capped_list_passes_its_seat_to_the_next_quotient() {
        let competitors = vec![
            Competitor {
                list: ListId::new("A"),
                votes: Votes(1000),
                struck: 0,
                cap: Some(1),
            },
            Competitor {
                list: ListId::new("B"),
                votes: Votes(10),
                struck: 0,
                cap: None,
            },
        ];
        let c = run_contest(
            "t".into(),
            ContestKind::District,
            Method::Dhondt,
            3,
            competitors,
            vec![],
            &tie(),
        )
        .unwrap();
        assert_eq!(c.seats_by_list().get(&ListId::new("B")), Some(&Seats(2)));
        assert!(c.rows.iter().any(|r| r.status == RowStatus::Capped));
    }

    fn run_capped(method: Method, seats: u32, votes: &[(&str, u64, Option<u32>)]) -> Contest {
        let competitors = votes
            .iter()
            .map(|(l, v, cap)| Competitor {
                list: ListId::new(*l),
                votes: Votes(*v),
                struck: 0,
                cap: *cap,
            })
            .collect();
        run_contest(
            "t".into(),
            ContestKind::District,
            method,
            seats,
            competitors,
            vec![],
            &tie(),
        )
        .unwrap()
    }

    /// A list with fewer candidates than its Hare seats takes only its candidates' seats; the
    /// others go to the largest remainders of the other lists, as Montenegro's art. 97 passes
    /// such a seat to the next quotient under D'Hondt. Until now the contest failed.
    #[test]
    fn hare_passes_the_seats_of_a_list_out_of_candidates_to_the_next_remainders() {
        // 10 seats, V = 1000: A 6.3, B 2.4, C 1.3 seats. A has 4 candidates, so A 4; of the 6
        // others B and C take 2 and 1 by quota, one more each in a full round, and the last
        // goes to B's larger remainder (.4 against .3).
        let c = run_capped(
            Method::Hare,
            10,
            &[("A", 630, Some(4)), ("B", 240, None), ("C", 130, None)],
        );
        let got: Vec<u32> = c.entries.iter().map(|e| e.seats.0).collect();
        assert_eq!(got, [4, 4, 2]);
        assert_eq!(got.iter().sum::<u32>(), 10);
        assert!(
            c.rows
                .iter()
                .any(|r| r.list == ListId::new("A") && r.status == RowStatus::Capped)
        );
        // Without the cap the result is the plain Hare one.
        let plain = run_capped(
            Method::Hare,
            10,
            &[("A", 630, None), ("B", 240, None), ("C", 130, None)],
        );
        let got: Vec<u32> = plain.entries.iter().map(|e| e.seats.0).collect();
        assert_eq!(got, [6, 3, 1]);
    }

    /// Droop: a list whose quota seats reach its cap does not compete with its remainder, the
    /// largest remainder, which would have given it a third seat.
    #[test]
    fn droop_remainder_of_a_list_at_its_cap_does_not_compete() {
        // 5 seats, V = 1000, Droop quota 167: A 499 = 2 r 165, B 301 = 1 r 134, C 200 = 1 r 33.
        let plain = run_capped(
            Method::Droop,
            5,
            &[("A", 499, None), ("B", 301, None), ("C", 200, None)],
        );
        let got: Vec<u32> = plain.entries.iter().map(|e| e.seats.0).collect();
        assert_eq!(got, [3, 1, 1]);
        let c = run_capped(
            Method::Droop,
            5,
            &[("A", 499, Some(2)), ("B", 301, None), ("C", 200, None)],
        );
        let got: Vec<u32> = c.entries.iter().map(|e| e.seats.0).collect();
        assert_eq!(got, [2, 2, 1]);
    }

    /// Every list out of candidates before the seats are filled: the contest fails, naming it.
    #[test]
    fn hare_with_too_few_candidates_for_the_seats_is_an_error() {
        let competitors = vec![Competitor {
            list: ListId::new("A"),
            votes: Votes(5),
            struck: 0,
            cap: Some(1),
        }];
        let err = run_contest(
            "district X".into(),
            ContestKind::District,
            Method::Hare,
            2,
            competitors,
            vec![],
            &tie(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("district X"), "{err}");
    }

    #[test]
    fn struck_quotients_do_not_compete() {
        // Entity-level: A already won 2 seats, so its quotients 1 and 2 are struck.
        let competitors = vec![
            Competitor {
                list: ListId::new("A"),
                votes: Votes(600),
                struck: 2,
                cap: None,
            },
            Competitor {
                list: ListId::new("B"),
                votes: Votes(400),
                struck: 0,
                cap: None,
            },
        ];
        let c = run_contest(
            "t".into(),
            ContestKind::Compensatory,
            Method::SainteLague,
            1,
            competitors,
            vec![],
            &tie(),
        )
        .unwrap();
        // A's third quotient 600/5 = 120 < B's 400/1.
        assert_eq!(c.seats_by_list().get(&ListId::new("B")), Some(&Seats(1)));
    }

    #[test]
    fn too_few_quotients_to_fill_the_seats_is_an_error() {
        let competitors = vec![Competitor {
            list: ListId::new("A"),
            votes: Votes(5),
            struck: 0,
            cap: Some(1),
        }];
        let err = run_contest(
            "district X".into(),
            ContestKind::District,
            Method::Dhondt,
            2,
            competitors,
            vec![],
            &tie(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("district X"), "{err}");
    }
}
