//! Validation rules as data: linear (in)equalities over a protocol's named counts, its lists'
//! votes and its candidates' preference votes.
//!
//! A rule's `check` is `<sum> <op> <sum>`, where a sum is terms joined by ` + ` or ` - `, a term
//! is `<name>`, `<integer> * <name>`, `marks * <name>`, `<integer> * marks * <name>` or
//! `<integer>`, and `<op>` is one of `==`, `!=`, `<=`, `<`, `>=`, `>`. Tokens are separated by
//! spaces, because count names may contain `-` (`ballots-cast`). The names are:
//! - the named counts of the definition, `sum(votes)` (all `votes:` lines added) and
//!   `station.registered` (the register in the election definition);
//! - `votes(list)` and `sum(preferences(list))` (the list's preference votes added): a rule
//!   using them, or `marks`, holds **for each list** on the contest's ballot and is checked
//!   once per list;
//! - `preferences(candidate)`: a rule using it holds **for each candidate** with preference
//!   votes on the `preferences:` line of a list on the ballot, and `votes(list)` then means that candidate's
//!   list;
//! - `marks`, only as a factor: how many candidates a voter may mark within the list (the
//!   contest's `preferences.marks`; for `"all"` the list's candidates standing at the station;
//!   0 for a closed-list contest).
//!
//! So `sum(preferences(list)) <= marks * votes(list)` reads "for each list, its preference votes
//! are at most its votes times the marks a voter may give", and a failure names the list (or the
//! list and candidate) and the numbers.
//!
//! Three checks of preference lines are not arithmetic and are built in ([`Builtin`]): a line
//! for a list not on the contest's ballot, votes for a number that is no candidate of the list
//! standing at the station, and a withdrawn candidate with preference votes. They always run; a
//! definition may restate one in `[[rules]]` without a `check` to change its message, and, for
//! the withdrawn candidate only, its severity.
//!
//! A rule states what must hold. An `error` rule that fails quarantines the protocol; a
//! `warning` rule that fails flags it for a human and changes nothing. Arithmetic is exact
//! (`i128`, where no sum of [`crate::protocol::MAX_COUNT`]-sized values can overflow).

use std::fmt;

use serde::Deserialize;

/// Errors quarantine; warnings only flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A broken identity: the protocol is quarantined.
    Error,
    /// An implausible value: the protocol is counted and flagged.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// A rule as written in the definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    /// Stable identifier, shown with every violation.
    pub id: String,
    /// Error or warning.
    pub severity: Severity,
    /// The condition that must hold.
    pub check: String,
    /// What a violation means, for a person.
    pub message: String,
}

/// The rules used when a definition names none.
pub fn default_rules() -> Vec<RuleSource> {
    let r = |id: &str, severity, check: &str, message: &str| RuleSource {
        id: id.to_owned(),
        severity,
        check: check.to_owned(),
        message: message.to_owned(),
    };
    vec![
        r(
            "valid-plus-invalid",
            Severity::Error,
            "valid + invalid == ballots-cast",
            "valid + invalid ≠ ballots cast",
        ),
        r(
            "votes-sum-to-valid",
            Severity::Error,
            "sum(votes) == valid",
            "the votes for the lists do not add up to the valid ballots",
        ),
        r(
            "cast-within-registered",
            Severity::Error,
            "ballots-cast <= registered",
            "more ballots cast than voters registered",
        ),
        r(
            "registered-matches-register",
            Severity::Error,
            "registered == station.registered",
            "registered voters on the protocol differ from the station's register",
        ),
        r(
            "preference-within-list-votes",
            Severity::Error,
            "preferences(candidate) <= votes(list)",
            "a candidate has more preference votes than the list has votes",
        ),
        r(
            "preferences-within-marks",
            Severity::Error,
            "sum(preferences(list)) <= marks * votes(list)",
            "a list's preference votes exceed its votes times the candidates a voter may mark",
        ),
        r(
            "invalid-share",
            Severity::Warning,
            "100 * invalid <= 3 * ballots-cast",
            "invalid ballots are more than 3 % of ballots cast",
        ),
        r(
            "turnout-high",
            Severity::Warning,
            "100 * ballots-cast <= 95 * registered",
            "turnout is above 95 %",
        ),
    ]
}

/// The checks of preference lines that are not arithmetic, built into intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `preference-list-on-ballot`: a `preferences:` line for a list that is not on the
    /// contest's ballot. Always an error: its votes belong to no one that can be counted.
    ListOnBallot,
    /// `preference-candidate-known`: preference votes for a number that is no candidate of
    /// the list standing at the station. Always an error, for the same reason.
    CandidateKnown,
    /// `preference-withdrawn`: preference votes for a withdrawn candidate. A warning by
    /// default: the name is still on the printed ballot, voters may mark it, and a protocol
    /// that reports those marks is correct; the votes count for the list, the candidate takes
    /// no seat. A definition may make it an error where the law voids such marks.
    Withdrawn,
}

impl Builtin {
    /// Every built-in check, in the order they are reported.
    pub const ALL: [Self; 3] = [Self::ListOnBallot, Self::CandidateKnown, Self::Withdrawn];

    /// The rule id.
    pub fn id(self) -> &'static str {
        match self {
            Self::ListOnBallot => "preference-list-on-ballot",
            Self::CandidateKnown => "preference-candidate-known",
            Self::Withdrawn => "preference-withdrawn",
        }
    }
}

/// A built-in check with the severity and message it has in this election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinRule {
    /// Which check.
    pub kind: Builtin,
    /// Error or warning.
    pub severity: Severity,
    /// Message for a person.
    pub message: String,
}

impl BuiltinRule {
    /// Its rule id.
    pub fn id(&self) -> &'static str {
        self.kind.id()
    }

    /// Gives it the severity and message a definition states.
    ///
    /// # Errors
    /// The rule broken, when a check that must quarantine is made a warning.
    pub fn regrade(&mut self, severity: Severity, message: &str) -> Result<(), &'static str> {
        if self.kind != Builtin::Withdrawn && severity != Severity::Error {
            return Err(
                "a preference for a list or candidate that is not on the ballot cannot be counted, so this rule is always an error",
            );
        }
        self.severity = severity;
        message.clone_into(&mut self.message);
        Ok(())
    }

    /// A violation of this check, with the line's numbers and what is wrong.
    pub fn violation(&self, detail: String) -> Violation {
        Violation {
            rule: self.id().to_owned(),
            severity: self.severity,
            message: self.message.clone(),
            detail,
        }
    }
}

/// The built-in checks with their default severity and message.
pub fn builtin_rules() -> Vec<BuiltinRule> {
    Builtin::ALL
        .iter()
        .map(|&kind| BuiltinRule {
            kind,
            severity: match kind {
                Builtin::ListOnBallot | Builtin::CandidateKnown => Severity::Error,
                Builtin::Withdrawn => Severity::Warning,
            },
            message: match kind {
                Builtin::ListOnBallot => "preference votes for a list that is not on the ballot",
                Builtin::CandidateKnown => {
                    "preference votes for a number that is no candidate of the list"
                }
                Builtin::Withdrawn => "preference votes for a withdrawn candidate",
            }
            .to_owned(),
        })
        .collect()
}

/// What a rule quantifies over, from the names it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Checked once per protocol.
    Station,
    /// Checked once per list on the contest's ballot.
    List,
    /// Checked once per candidate on the `preferences:` line of a list on the ballot.
    Candidate,
}

/// A compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Identifier.
    pub id: String,
    /// Error or warning.
    pub severity: Severity,
    /// The check as written.
    pub check: String,
    /// Message for a person.
    pub message: String,
    /// What it quantifies over.
    pub scope: Scope,
    lhs: Sum,
    op: Op,
    rhs: Sum,
}

/// The numbers a rule is evaluated over.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// The named counts, in definition order.
    pub counts: &'a [u64],
    /// Sum of all `votes:` lines.
    pub sum_votes: u64,
    /// The station's register from the definition.
    pub station_registered: u64,
    /// The list, for rules of [`Scope::List`] and [`Scope::Candidate`].
    pub list: Option<ListValues<'a>>,
    /// The candidate, for rules of [`Scope::Candidate`]: its number and preference votes.
    pub candidate: Option<(u32, u64)>,
}

/// One list's numbers on a protocol.
#[derive(Debug, Clone, Copy)]
pub struct ListValues<'a> {
    /// List id.
    pub id: &'a str,
    /// Its `votes:` line.
    pub votes: u64,
    /// Its candidates' preference votes added.
    pub sum_preferences: u64,
    /// Candidates a voter may mark within it.
    pub marks: u64,
}

/// A failed rule, with the numbers that made it fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule's id.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// Its message.
    pub message: String,
    /// The check with the numbers filled in, e.g.
    /// `valid + invalid == ballots-cast: 253 + 23 = 276, ballots-cast = 277`.
    pub detail: String,
}

/// Why a rule's `check` could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// No comparison operator, or more than one.
    #[error("expected exactly one of == != <= < >= > between two sums")]
    Comparison,
    /// A name that is neither a count nor a built-in.
    #[error(
        "unknown name `{0}`; use a count from `counts`, sum(votes), station.registered, votes(list), sum(preferences(list)) or preferences(candidate)"
    )]
    UnknownName(String),
    /// A token out of place.
    #[error(
        "unexpected `{0}`; tokens are separated by spaces, e.g. `valid + invalid == ballots-cast`"
    )]
    Unexpected(String),
    /// A number too large for a coefficient.
    #[error("coefficient `{0}` is not a whole number up to 1000000")]
    Coefficient(String),
    /// `marks` not used as a factor of a name.
    #[error("`marks` is a factor: write `marks * <name>`, e.g. `marks * votes(list)`")]
    Marks,
}

impl Rule {
    /// Compiles a rule over the definition's count names.
    ///
    /// # Errors
    /// [`RuleError`] naming the token at fault.
    pub fn compile(src: &RuleSource, counts: &[String]) -> Result<Self, RuleError> {
        let tokens: Vec<&str> = src.check.split_whitespace().collect();
        let ops: Vec<usize> = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| Op::parse(t).is_some())
            .map(|(i, _)| i)
            .collect();
        let [at] = ops[..] else {
            return Err(RuleError::Comparison);
        };
        let op = Op::parse(tokens[at]).ok_or(RuleError::Comparison)?;
        let lhs = Sum::parse(&tokens[..at], counts)?;
        let rhs = Sum::parse(&tokens[at + 1..], counts)?;
        let scope = lhs
            .0
            .iter()
            .chain(&rhs.0)
            .map(|t| match t.atom {
                Atom::PreferencesCandidate => Scope::Candidate,
                Atom::VotesList | Atom::SumPreferencesList => Scope::List,
                _ if t.by_marks => Scope::List,
                _ => Scope::Station,
            })
            .max()
            .unwrap_or(Scope::Station);
        Ok(Self {
            id: src.id.clone(),
            severity: src.severity,
            check: src.check.clone(),
            message: src.message.clone(),
            scope,
            lhs,
            op,
            rhs,
        })
    }

    /// Evaluates the rule; `Some` with the numbers if it fails. A rule of [`Scope::List`] needs
    /// `values.list`, one of [`Scope::Candidate`] also `values.candidate`; a missing one counts
    /// as zero.
    pub fn evaluate(&self, values: Values<'_>, counts: &[String]) -> Option<Violation> {
        let l = self.lhs.value(values);
        let r = self.rhs.value(values);
        if self.op.holds(l, r) {
            return None;
        }
        let detail = format!(
            "{}: {} {} {}",
            self.check,
            self.lhs.explain(values, counts, l),
            self.op.negated(),
            self.rhs.explain(values, counts, r)
        );
        Some(Violation {
            rule: self.id.clone(),
            severity: self.severity,
            message: self.message.clone(),
            detail,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Le,
    Lt,
    Ge,
    Gt,
}

impl Op {
    fn parse(t: &str) -> Option<Self> {
        Some(match t {
            "==" => Self::Eq,
            "!=" => Self::Ne,
            "<=" => Self::Le,
            "<" => Self::Lt,
            ">=" => Self::Ge,
            ">" => Self::Gt,
            _ => return None,
        })
    }

    fn holds(self, l: i128, r: i128) -> bool {
        match self {
            Self::Eq => l == r,
            Self::Ne => l != r,
            Self::Le => l <= r,
            Self::Lt => l < r,
            Self::Ge => l >= r,
            Self::Gt => l > r,
        }
    }

    /// The relation that holds instead, for the explanation.
    fn negated(self) -> &'static str {
        match self {
            Self::Eq => "≠",
            Self::Ne => "=",
            Self::Le => ">",
            Self::Lt => "≥",
            Self::Ge => "<",
            Self::Gt => "≤",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom {
    One,
    Count(usize),
    SumVotes,
    StationRegistered,
    VotesList,
    SumPreferencesList,
    PreferencesCandidate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    coefficient: i64,
    /// Multiplied by the list's `marks` as well.
    by_marks: bool,
    atom: Atom,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sum(Vec<Term>);

/// Largest coefficient allowed; keeps every evaluation far inside `i128`.
const MAX_COEFFICIENT: i64 = 1_000_000;

impl Sum {
    fn parse(tokens: &[&str], counts: &[String]) -> Result<Self, RuleError> {
        let mut terms = Vec::new();
        let mut i = 0;
        let mut sign = 1;
        if tokens.is_empty() {
            return Err(RuleError::Comparison);
        }
        loop {
            // term := INT | INT * NAME | NAME | [INT *] marks * NAME
            let t = tokens.get(i).ok_or(RuleError::Comparison)?;
            let term = if *t == "marks"
                || (t.bytes().all(|b| b.is_ascii_digit()) && tokens.get(i + 2) == Some(&"marks"))
            {
                let (c, at) = if *t == "marks" {
                    (1, i)
                } else {
                    if tokens.get(i + 1) != Some(&"*") {
                        return Err(RuleError::Unexpected("marks".into()));
                    }
                    let c: i64 = t
                        .parse()
                        .ok()
                        .filter(|c| *c <= MAX_COEFFICIENT)
                        .ok_or_else(|| RuleError::Coefficient((*t).to_owned()))?;
                    (c, i + 2)
                };
                if tokens.get(at + 1) != Some(&"*") {
                    return Err(RuleError::Marks);
                }
                let name = tokens.get(at + 2).ok_or(RuleError::Marks)?;
                i = at + 3;
                Term {
                    coefficient: sign * c,
                    by_marks: true,
                    atom: atom(name, counts)?,
                }
            } else if t.bytes().all(|b| b.is_ascii_digit()) {
                let c: i64 = t
                    .parse()
                    .ok()
                    .filter(|c| *c <= MAX_COEFFICIENT)
                    .ok_or_else(|| RuleError::Coefficient((*t).to_owned()))?;
                if tokens.get(i + 1) == Some(&"*") {
                    let name = tokens
                        .get(i + 2)
                        .ok_or_else(|| RuleError::Unexpected("*".into()))?;
                    i += 3;
                    Term {
                        coefficient: sign * c,
                        by_marks: false,
                        atom: atom(name, counts)?,
                    }
                } else {
                    i += 1;
                    Term {
                        coefficient: sign * c,
                        by_marks: false,
                        atom: Atom::One,
                    }
                }
            } else {
                i += 1;
                Term {
                    coefficient: sign,
                    by_marks: false,
                    atom: atom(t, counts)?,
                }
            };
            terms.push(term);
            match tokens.get(i) {
                None => break,
                Some(&"+") => sign = 1,
                Some(&"-") => sign = -1,
                Some(other) => return Err(RuleError::Unexpected((*other).to_owned())),
            }
            i += 1;
        }
        Ok(Self(terms))
    }

    fn value(&self, v: Values<'_>) -> i128 {
        self.0
            .iter()
            .map(|t| i128::from(t.coefficient) * marks_factor(t, v) * atom_value(t.atom, v))
            .sum()
    }

    fn explain(&self, v: Values<'_>, counts: &[String], total: i128) -> String {
        let mut s = String::new();
        for (i, t) in self.0.iter().enumerate() {
            let sign = if t.coefficient < 0 { "-" } else { "+" };
            if i > 0 || t.coefficient < 0 {
                s.push_str(if i > 0 { " " } else { "" });
                s.push_str(sign);
                s.push(' ');
            }
            let c = t.coefficient.unsigned_abs();
            let list = v.list.map_or("", |l| l.id);
            let name = match t.atom {
                Atom::One => String::new(),
                Atom::Count(k) => counts[k].clone(),
                Atom::SumVotes => "sum(votes)".into(),
                Atom::StationRegistered => "station.registered".into(),
                Atom::VotesList => format!("votes {list}"),
                Atom::SumPreferencesList => format!("sum(preferences {list})"),
                Atom::PreferencesCandidate => {
                    format!("preferences {list} {}", v.candidate.map_or(0, |c| c.0))
                }
            };
            if c != 1 || t.atom == Atom::One {
                s.push_str(&c.to_string());
                if t.atom != Atom::One || t.by_marks {
                    s.push_str(" × ");
                }
            }
            if t.by_marks {
                s.push_str(&format!("marks {} × ", marks_factor(t, v)));
            }
            if t.atom != Atom::One {
                s.push_str(&format!("{name} {}", atom_value(t.atom, v)));
            }
        }
        if self.0.len() > 1
            || self
                .0
                .first()
                .is_some_and(|t| t.coefficient != 1 || t.by_marks)
        {
            s.push_str(&format!(" = {total}"));
        }
        s
    }
}

fn atom(name: &str, counts: &[String]) -> Result<Atom, RuleError> {
    match name {
        "sum(votes)" => Ok(Atom::SumVotes),
        "station.registered" => Ok(Atom::StationRegistered),
        "votes(list)" => Ok(Atom::VotesList),
        "sum(preferences(list))" => Ok(Atom::SumPreferencesList),
        "preferences(candidate)" => Ok(Atom::PreferencesCandidate),
        "marks" => Err(RuleError::Marks),
        "+" | "-" | "*" => Err(RuleError::Unexpected(name.to_owned())),
        _ => counts
            .iter()
            .position(|c| c == name)
            .map(Atom::Count)
            .ok_or_else(|| RuleError::UnknownName(name.to_owned())),
    }
}

fn atom_value(a: Atom, v: Values<'_>) -> i128 {
    match a {
        Atom::One => 1,
        Atom::Count(k) => v.counts.get(k).copied().map_or(0, i128::from),
        Atom::SumVotes => i128::from(v.sum_votes),
        Atom::StationRegistered => i128::from(v.station_registered),
        Atom::VotesList => v.list.map_or(0, |l| i128::from(l.votes)),
        Atom::SumPreferencesList => v.list.map_or(0, |l| i128::from(l.sum_preferences)),
        Atom::PreferencesCandidate => v.candidate.map_or(0, |c| i128::from(c.1)),
    }
}

fn marks_factor(t: &Term, v: Values<'_>) -> i128 {
    if t.by_marks {
        v.list.map_or(0, |l| i128::from(l.marks))
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> Vec<String> {
        crate::definition::DEFAULT_COUNTS
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    fn compile(check: &str) -> Result<Rule, RuleError> {
        Rule::compile(
            &RuleSource {
                id: "t".into(),
                severity: Severity::Error,
                check: check.into(),
                message: "m".into(),
            },
            &counts(),
        )
    }

    #[test]
    fn default_rules_compile_over_default_counts() {
        for r in default_rules() {
            Rule::compile(&r, &counts()).unwrap();
        }
    }

    #[test]
    fn failing_identity_reports_the_numbers() {
        let rule = compile("valid + invalid == ballots-cast").unwrap();
        let v = Values {
            counts: &[739, 277, 23, 253],
            sum_votes: 253,
            station_registered: 739,
            list: None,
            candidate: None,
        };
        let violation = rule.evaluate(v, &counts()).unwrap();
        assert_eq!(
            violation.detail,
            "valid + invalid == ballots-cast: valid 253 + invalid 23 = 276 ≠ ballots-cast 277"
        );
    }

    #[test]
    fn holding_rule_gives_no_violation() {
        let rule = compile("100 * invalid <= 3 * ballots-cast").unwrap();
        let v = Values {
            counts: &[100, 100, 3, 97],
            sum_votes: 97,
            station_registered: 100,
            list: None,
            candidate: None,
        };
        assert!(rule.evaluate(v, &counts()).is_none());
    }

    #[test]
    fn bad_checks_are_refused_with_the_token() {
        let cases = [
            ("valid + invalid", RuleError::Comparison),
            ("valid == invalid == valid", RuleError::Comparison),
            ("valid == turnout", RuleError::UnknownName("turnout".into())),
            (
                "valid+invalid == ballots-cast",
                RuleError::UnknownName("valid+invalid".into()),
            ),
            (
                "valid invalid == ballots-cast",
                RuleError::Unexpected("invalid".into()),
            ),
            (
                "99999999 * valid == 1",
                RuleError::Coefficient("99999999".into()),
            ),
            ("== valid", RuleError::Comparison),
        ];
        for (check, want) in cases {
            assert_eq!(compile(check).unwrap_err(), want, "{check}");
        }
    }
}
