//! Plain-text rendering of an [`Allocation`]: the seat table and, with explanation, every contest's
//! quotient table, threshold decisions, tie-breaks and vote margins.
//!
//! The text shows every winning quotient and, below the cut, each list's next quotient (the one
//! that would win its next seat), then struck and capped quotients. The JSON form
//! (`serde_json::to_string(&allocation)`) carries every quotient.

use std::fmt::Write as _;

use super::candidates::{
    CandidateRule, CandidateRules, ListCandidates, RankBasis, RankedCandidate,
};
use super::method::{Contest, EntryStatus, Row, RowStatus};
use super::{Allocation, ThresholdOutcome};

pub(super) fn render(a: &Allocation, explain: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (rule set `{}`)", a.title, a.rule_set);
    let _ = writeln!(
        out,
        "house: {} seats; valid votes: {}; tie-break: {:?} with seed \"{}\"",
        a.house_seats, a.valid_votes, a.tie_break.rule, a.tie_break.seed
    );
    out.push('\n');
    let mut table = vec![vec![
        "list".to_owned(),
        "votes".to_owned(),
        "share".to_owned(),
        "seats".to_owned(),
    ]];
    // Most votes first; equal votes by list id, so the order never depends on anything else.
    let mut rows: Vec<_> = a
        .seats
        .iter()
        .map(|(list, seats)| (list, seats, a.votes.get(list).copied().unwrap_or_default()))
        .collect();
    rows.sort_by(|x, y| y.2.cmp(&x.2).then_with(|| x.0.cmp(y.0)));
    for (list, seats, votes) in rows {
        table.push(vec![
            list.to_string(),
            votes.to_string(),
            percent(votes.0, a.valid_votes.0),
            seats.to_string(),
        ]);
    }
    let total: u32 = a.seats.values().map(|s| s.0).sum();
    if a.unfilled_seats.0 > 0 {
        table.push(vec![
            "unfilled".into(),
            String::new(),
            String::new(),
            a.unfilled_seats.to_string(),
        ]);
    }
    table.push(vec![
        "total".into(),
        String::new(),
        String::new(),
        total.to_string(),
    ]);
    if a.candidates.is_empty() {
        push_table(&mut out, &table, &[false, true, true, true]);
    } else {
        // The elected of each list under its row.
        let lines = table_lines(&table, &[false, true, true, true]);
        for (i, line) in lines.iter().enumerate() {
            out.push_str(line);
            out.push('\n');
            let Some(list) = table.get(i).and_then(|r| r.first()) else {
                continue;
            };
            if i == 0 {
                continue;
            }
            if let Some(per_district) = a.candidates.get(&super::ListId::new(list.clone())) {
                for lc in per_district.iter().filter(|lc| !lc.elected.is_empty()) {
                    let label = if per_district.len() == 1 {
                        "elected".to_owned()
                    } else {
                        lc.district.to_string()
                    };
                    let _ = writeln!(out, "    {label}: {}", elected_line(lc));
                }
            }
        }
    }
    if !explain {
        return out;
    }
    if !a.thresholds.is_empty() {
        out.push_str("\nthresholds\n");
        let mut t = vec![vec![
            "list".to_owned(),
            "scope".to_owned(),
            "votes".to_owned(),
            "of base".to_owned(),
            "share".to_owned(),
            "needed".to_owned(),
            "outcome".to_owned(),
        ]];
        for c in &a.thresholds {
            t.push(vec![
                c.list.to_string(),
                c.scope.clone(),
                c.votes.to_string(),
                c.base.to_string(),
                percent(c.votes.0, c.base.0),
                format!("{} = {}", c.threshold, c.needed),
                outcome(&c.outcome),
            ]);
        }
        push_table(&mut out, &t, &[false, false, true, true, true, true, false]);
    }
    for c in &a.contests {
        out.push('\n');
        contest(&mut out, c);
    }
    if let Some(rules) = &a.candidate_rules {
        for (list, per_district) in &a.candidates {
            let compensatory: u32 = a
                .contests
                .iter()
                .filter(|c| c.kind == super::ContestKind::Compensatory)
                .flat_map(|c| c.seats_by_list())
                .filter(|(l, _)| l == list)
                .map(|(_, s)| s.0)
                .sum();
            for lc in per_district {
                out.push('\n');
                candidates(&mut out, list, lc, rules);
            }
            if compensatory > 0 {
                let _ = writeln!(
                    out,
                    "  note: {list}'s {compensatory} compensatory seat(s) go to its compensatory \
                     list, which is not modelled: not assigned to candidates"
                );
            }
        }
    }
    out
}

fn candidate_label(c: &RankedCandidate) -> String {
    match c.gender {
        Some(g) => format!("{} {} ({g})", c.number, c.name),
        None => format!("{} {}", c.number, c.name),
    }
}

fn elected_line(lc: &ListCandidates) -> String {
    lc.elected
        .iter()
        .filter_map(|n| lc.candidate(*n))
        .map(candidate_label)
        .collect::<Vec<_>>()
        .join(", ")
}

fn candidates(out: &mut String, list: &super::ListId, lc: &ListCandidates, rules: &CandidateRules) {
    let _ = writeln!(
        out,
        "== candidates {list}, district {}: {} seat(s), {} ==",
        lc.district,
        lc.seats,
        lc.rule.name()
    );
    let _ = writeln!(out, "  rule: {}", rules.source);
    match lc.rule {
        CandidateRule::ClosedList => {
            let _ = writeln!(out, "  by ballot number");
        }
        CandidateRule::PreferenceRanking => {
            let _ = writeln!(
                out,
                "  by preference votes; equal votes by ballot number{}",
                ties_source(rules)
            );
        }
        CandidateRule::PreferenceShare => {
            let share = rules.share.map(|s| s.to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "  first, by preference votes, candidates with {}{share} of the list's {} votes = {} \
                 preference votes; then the others by ballot number{}",
                if rules.strict {
                    "more than "
                } else {
                    "at least "
                },
                lc.list_votes,
                lc.share_needed.unwrap_or_default(),
                ties_source(rules)
            );
        }
        CandidateRule::PreferenceQuotient => {
            let cap = rules
                .quotient_cap
                .map(|c| format!(", at most {c}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  first, by preference votes, candidates with more than the list's {} votes per \
                 seat won ({}{cap}): {} preference votes or more; then the others by ballot \
                 number{}",
                lc.list_votes,
                lc.seats,
                lc.share_needed.unwrap_or_default(),
                ties_source(rules)
            );
        }
        CandidateRule::ClosedPart => {
            let k = lc.closed_seats.unwrap_or(0);
            let _ = writeln!(
                out,
                "  closed part: the first {k} seat(s) to ballot numbers 1-{k} in order; then by \
                 preference votes; equal votes by ballot number{}",
                ties_source(rules)
            );
        }
    }
    if let (Some(q), Some(g)) = (&lc.quota, &rules.gender_quota) {
        let counts = |m: &std::collections::BTreeMap<super::Gender, u32>| {
            m.iter()
                .map(|(g, n)| format!("{n} {g}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(out, "  gender quota: {}", g.source);
        if q.needed == 0 {
            let _ = writeln!(
                out,
                "  not applied: {} of {} seat(s) cannot hold for both genders",
                q.share,
                lc.elected.len()
            );
        } else {
            let _ = writeln!(
                out,
                "  at least {} of each gender among the {} elected = {} each; the ranking gave \
                 {}; elected {}",
                q.share,
                lc.elected.len(),
                q.needed,
                counts(&q.before),
                counts(&q.after)
            );
        }
    }
    let first_out = lc.ranking.iter().find(|c| !c.elected && !c.withdrawn);
    let mut t = vec![vec![
        "rank".to_owned(),
        "no.".to_owned(),
        "name".to_owned(),
        "gender".to_owned(),
        "preferences".to_owned(),
        "by".to_owned(),
        "status".to_owned(),
        "margin".to_owned(),
    ]];
    let replaced_out: Vec<u32> = lc.replacements.iter().map(|r| r.out).collect();
    let replaced_in: Vec<u32> = lc.replacements.iter().map(|r| r.into).collect();
    for c in &lc.ranking {
        let status = if c.withdrawn {
            "withdrawn"
        } else if c.elected && replaced_in.contains(&c.number) {
            "elected (quota)"
        } else if c.elected {
            "elected"
        } else if replaced_out.contains(&c.number) {
            "replaced (quota)"
        } else {
            "-"
        };
        t.push(vec![
            c.rank.map(|r| r.to_string()).unwrap_or_default(),
            c.number.to_string(),
            c.name.clone(),
            c.gender.map(|g| g.to_string()).unwrap_or_default(),
            c.preferences.map(|p| p.to_string()).unwrap_or_default(),
            if c.withdrawn {
                String::new()
            } else {
                c.basis.text().to_owned()
            },
            status.to_owned(),
            c.margin
                .map(|m| {
                    if m > 0 {
                        format!("+{m}")
                    } else {
                        m.to_string()
                    }
                })
                .unwrap_or_default(),
        ]);
    }
    push_table(
        out,
        &t,
        &[true, true, false, false, true, false, false, true],
    );
    for r in &lc.replacements {
        let show = |n: u32| {
            lc.candidate(n).map_or(n.to_string(), |c| {
                let gender = c.gender.map(|g| g.to_string());
                let prefs = c.preferences.map(|p| p.to_string());
                let detail: Vec<String> = gender.into_iter().chain(prefs).collect();
                format!("{} {} ({})", c.number, c.name, detail.join(", "))
            })
        };
        let _ = writeln!(
            out,
            "  quota: {} replaces {}: {}",
            show(r.into),
            show(r.out),
            r.reason
        );
    }
    if let Some(q) = &lc.quota {
        for (g, n) in &q.after {
            if *n < q.needed {
                let _ = writeln!(
                    out,
                    "  quota not met: {n} {g} elected of {} needed, no {g} candidate left",
                    q.needed
                );
            }
        }
    }
    // Equal preference votes across the cut: decided by ballot number.
    if let Some(c) = first_out
        && matches!(
            c.basis,
            RankBasis::Preferences | RankBasis::OverShare | RankBasis::OverQuotient
        )
    {
        let tied: Vec<&RankedCandidate> = lc
            .ranking
            .iter()
            .filter(|x| {
                !x.withdrawn
                    && x.basis == c.basis
                    && x.preferences == c.preferences
                    && x.elected
                    && !lc.replacements.iter().any(|r| r.into == x.number)
            })
            .collect();
        if !tied.is_empty() {
            let names: Vec<String> = tied
                .iter()
                .map(|x| format!("{} {}", x.number, x.name))
                .collect();
            let _ = writeln!(
                out,
                "  tie: {} and {} {} have {} preference votes each; decided by ballot number",
                names.join(", "),
                c.number,
                c.name,
                c.preferences.unwrap_or_default()
            );
        }
    }
    if let Some(c) = first_out
        && lc.ranking.iter().any(|c| c.margin.is_some())
    {
        let _ = writeln!(
            out,
            "  margin: preference votes over {}, the first not elected ({})",
            candidate_label(c),
            c.preferences.unwrap_or_default()
        );
    }
    if lc.without_candidate.0 > 0 {
        let _ = writeln!(
            out,
            "  note: {} seat(s) without a candidate left on the list",
            lc.without_candidate
        );
    }
}

fn ties_source(rules: &CandidateRules) -> String {
    rules
        .ties_source
        .as_ref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

fn contest(out: &mut String, c: &Contest) {
    let _ = writeln!(
        out,
        "== {}: {} seat(s), {} ==",
        c.name,
        c.seats,
        c.method.name()
    );
    if let Some(q) = &c.quota {
        let _ = writeln!(out, "{q}");
    }
    for n in &c.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    if c.unfilled.0 > 0 {
        let _ = writeln!(
            out,
            "  unfilled: {} seat(s): no list of the community with votes and candidates left",
            c.unfilled
        );
    }
    for e in &c.entries {
        match &e.status {
            EntryStatus::Competing => {}
            EntryStatus::BelowThreshold {
                threshold,
                needed,
                base,
            } => {
                let _ = writeln!(
                    out,
                    "  cut by threshold: {} with {} votes (needs {threshold} of {base} = {needed})",
                    e.list, e.votes
                );
            }
            EntryStatus::NoVotes => {
                let _ = writeln!(out, "  no votes: {}", e.list);
            }
            EntryStatus::Ineligible { reason } => {
                let _ = writeln!(
                    out,
                    "  not eligible: {} with {} votes: {reason}",
                    e.list, e.votes
                );
            }
        }
    }
    let mut t = vec![vec![
        "seat".to_owned(),
        "list".to_owned(),
        "votes".to_owned(),
        "divisor".to_owned(),
        "quotient".to_owned(),
        "status".to_owned(),
    ]];
    let won: Vec<&Row> = c
        .rows
        .iter()
        .filter(|r| matches!(r.status, RowStatus::Won { .. }))
        .collect();
    for r in &won {
        t.push(row(r));
    }
    t.push(vec!["----".into(), "cut".into()]);
    let mut seen = std::collections::BTreeSet::new();
    for r in c.rows.iter().filter(|r| r.status == RowStatus::Lost) {
        if seen.insert(&r.list) {
            t.push(row(r));
        }
    }
    for r in c
        .rows
        .iter()
        .filter(|r| matches!(r.status, RowStatus::Struck))
    {
        t.push(row(r));
    }
    // A capped quotient is shown only where the cap stopped the list: one that won fewer seats
    // than its cap was stopped by the cut, and its next quotient is already shown above.
    let at_cap = |list: &super::ListId| {
        c.entries
            .iter()
            .any(|e| &e.list == list && e.cap.is_some_and(|cap| e.seats.0 >= cap))
    };
    let mut capped = std::collections::BTreeSet::new();
    for r in c
        .rows
        .iter()
        .filter(|r| r.status == RowStatus::Capped && at_cap(&r.list))
    {
        if capped.insert(&r.list) {
            t.push(row(r));
        }
    }
    push_table(out, &t, &[true, false, true, true, true, false]);
    for tb in &c.tie_breaks {
        let _ = writeln!(
            out,
            "  tie-break ({:?}, seed \"{}\") decided {} seat(s):",
            tb.rule, tb.seed, tb.seats_decided
        );
        for d in &tb.ranking {
            let _ = writeln!(
                out,
                "    {} quotient {} ({} votes) digest {} -> {}",
                d.list,
                d.index,
                d.votes,
                d.digest,
                if d.won { "won" } else { "lost" }
            );
        }
    }
    if let Some(s) = &c.sensitivity {
        out.push_str("  margins (votes, others fixed):\n");
        for m in &s.lists {
            let lose = m.lose_one_seat.as_ref().map_or("-".to_owned(), |x| {
                format!("lose {} -> seat to {}", x.votes, x.other)
            });
            let gain = m.gain_one_seat.as_ref().map_or("-".to_owned(), |x| {
                format!("gain {} -> seat from {}", x.votes, x.other)
            });
            let _ = writeln!(out, "    {}: {} seat(s); {lose}; {gain}", m.list, m.seats);
        }
    }
}

fn row(r: &Row) -> Vec<String> {
    let (seat, status) = match r.status {
        RowStatus::Won { seat } => (seat.to_string(), "won".to_owned()),
        RowStatus::Lost => (String::new(), "next".to_owned()),
        RowStatus::Struck => (String::new(), "struck".to_owned()),
        RowStatus::Capped => (String::new(), "no candidates left / cap".to_owned()),
    };
    let status = if r.tie_break {
        format!("{status} (tie-break)")
    } else {
        status
    };
    let divisor = if r.index == 0 {
        "remainder".to_owned()
    } else {
        r.divisor.clone()
    };
    vec![
        seat,
        r.list.to_string(),
        r.dividend.to_string(),
        divisor,
        r.quotient.clone(),
        status,
    ]
}

fn outcome(o: &ThresholdOutcome) -> String {
    match o {
        ThresholdOutcome::Passed => "passed".into(),
        ThresholdOutcome::Failed => "cut".into(),
        ThresholdOutcome::Exempt => "exempt".into(),
        ThresholdOutcome::Pooled { pool } => format!("pooled in {pool}"),
        ThresholdOutcome::GuaranteedSeat => "guaranteed-seat candidate".into(),
    }
}

fn percent(part: u64, whole: u64) -> String {
    format!("{}%", crate::totals::percent(part, whole))
}

fn push_table(out: &mut String, rows: &[Vec<String>], right: &[bool]) {
    for line in table_lines(rows, right) {
        out.push_str(&line);
        out.push('\n');
    }
}

fn table_lines(rows: &[Vec<String>], right: &[bool]) -> Vec<String> {
    let mut lines = Vec::new();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::from(" ");
        for (i, cell) in r.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            line.push_str(if i == 0 { " " } else { "  " });
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}
