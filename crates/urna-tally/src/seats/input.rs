//! The vote input of a seat allocation: votes per district and list, and the lists' attributes.
//!
//! # File format (`urna seats --votes FILE`)
//! ```toml
//! tie_seed = "2025-04-30 public draw"   # optional: overrides the rule set's seed
//!
//! [lists.PS]                # every list that receives votes must be declared
//! kind = "party"            # "party" (default) or "coalition": picks the threshold
//! community = "serb"        # optional: a community id of the rule set
//! name = "Partia Socialiste e Shqipërisë"   # optional display name
//! alliance = "A"            # optional: pools its votes with the other lists of alliance A
//!                           # (only under a rule set with an [alliances] section)
//!
//! [districts.Berat]
//! seats = 7                 # optional; required when the rule set lists no districts
//! other = 120               # optional: valid votes for no list (independents, aggregated)
//! votes = { PS = 81000, PD = 52000 }
//! candidates = { PS = 9 }   # optional: candidates on the list; a list that runs out passes
//!                           # its next seat to the next quotient
//! preferences.PS = { 1 = 420, 2 = 130 }   # optional: preference votes per candidate number
//! ```
//! Open lists: a list declares its candidates, in the list or per district (a list running in
//! several districts has different candidates in each, so it declares them per district):
//! ```toml
//! [lists.PS]
//! candidates = [ { number = 1, name = "Arta", gender = "f" }, { number = 2, name = "Besnik", gender = "m", withdrawn = true } ]
//! [districts.Berat]
//! candidates.PD = [ { number = 1, name = "Gent" } ]   # instead of a count
//! ```
//! Declared candidates replace the count: a list's candidates left are its candidates not
//! withdrawn. Preference votes name candidates by ballot number.
//! Counts must be non-negative integers. Valid votes in a district are the sum of `votes` and
//! `other`; thresholds are shares of valid votes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use urna_model::definition::{self, Election};

use super::candidates::{self, Candidate};
use super::error::SeatError;
use super::rules::RuleSet;
use super::text;
use super::types::{DistrictId, ListId, Seats, Votes};
use crate::totals::Tally;

/// Whether a list is a party or a coalition (thresholds may differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// A single party, group of citizens or list of independents.
    #[default]
    Party,
    /// A coalition running as one list.
    Coalition,
    /// One independent candidate standing alone: at most one seat in a district, thresholds
    /// as a party's, and no compensatory seats (they go to parties and coalitions, e.g.
    /// Bosnia and Herzegovina's Election Law art. 9.6).
    Independent,
}

/// Attributes of a list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListInfo {
    /// Party or coalition.
    #[serde(default)]
    pub kind: ListKind,
    /// The community it represents, as named in the rule set.
    pub community: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// The alliance it pools its votes with (an apparentment, e.g. Israel's surplus-vote
    /// agreements): allowed only by a rule set with an `[alliances]` section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alliance: Option<String>,
    /// Its candidates, where the list is the same in every district it runs in (one district).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
}

/// The votes of one district.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DistrictVotes {
    /// Seats of the district, when the rule set does not list them.
    pub seats: Option<Seats>,
    /// Valid votes for no list: they count towards thresholds' bases only.
    pub other: Votes,
    /// Votes per list.
    pub votes: BTreeMap<ListId, Votes>,
    /// Candidates per list, where known (a count; see `candidate_lists` for declared ones).
    pub candidates: BTreeMap<ListId, u32>,
    /// Declared candidates per list in this district.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub candidate_lists: BTreeMap<ListId, Vec<Candidate>>,
    /// Preference votes per list, by candidate ballot number.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub preferences: BTreeMap<ListId, BTreeMap<u32, Votes>>,
}

/// Everything seat allocation needs from the tally.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct VoteInput {
    /// Seed for draws by lot, overriding the rule set's.
    pub tie_seed: Option<String>,
    /// The lists and their attributes.
    pub lists: BTreeMap<ListId, ListInfo>,
    /// Votes per district.
    pub districts: BTreeMap<DistrictId, DistrictVotes>,
}

impl VoteInput {
    /// Parses the TOML vote file described in the module docs.
    ///
    /// ```
    /// use urna_tally::seats::VoteInput;
    /// let input = VoteInput::from_toml(r#"
    /// [lists.A]
    /// [districts.all]
    /// votes = { A = 10 }
    /// "#).unwrap();
    /// assert_eq!(input.lists.len(), 1);
    /// ```
    ///
    /// # Errors
    /// [`SeatError::VotesSyntax`] for malformed TOML or unknown fields, [`SeatError::Votes`] for
    /// a key or string holding a line break or control character, or negative counts (naming
    /// the field), [`SeatError::UnknownList`] for votes for an
    /// undeclared list.
    pub fn from_toml(text: &str) -> Result<Self, SeatError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| SeatError::VotesSyntax(text::syntax(&e)))?;
        text::check(&table).map_err(|(field, problem)| SeatError::Votes { field, problem })?;
        let file: VoteFile =
            toml::from_str(text).map_err(|e| SeatError::VotesSyntax(text::syntax(&e)))?;
        let mut input = Self {
            tie_seed: file.tie_seed,
            lists: file
                .lists
                .into_iter()
                .map(|(id, info)| (ListId(id), info))
                .collect(),
            districts: BTreeMap::new(),
        };
        for (district, d) in file.districts {
            let path = format!("districts.{district}");
            let district = DistrictId(district);
            let mut out = DistrictVotes {
                seats: d
                    .seats
                    .map(|s| count_u32(s, &format!("{path}.seats")).map(Seats))
                    .transpose()?,
                other: Votes(
                    d.other
                        .map_or(Ok(0), |o| count(o, &format!("{path}.other")))?,
                ),
                ..DistrictVotes::default()
            };
            for (list, v) in d.votes {
                let votes = Votes(count(v, &format!("{path}.votes.{list}"))?);
                let list = ListId(list);
                if !input.lists.contains_key(&list) {
                    return Err(SeatError::UnknownList { district, list });
                }
                out.votes.insert(list, votes);
            }
            for (list, c) in d.candidates {
                let field = format!("{path}.candidates.{list}");
                let list = ListId(list);
                if !input.lists.contains_key(&list) {
                    return Err(SeatError::Votes {
                        field,
                        problem: format!("unknown list `{list}` (declare it under [lists])"),
                    });
                }
                match c {
                    toml::Value::Integer(n) => {
                        out.candidates.insert(list, count_u32(n, &field)?);
                    }
                    toml::Value::Array(_) => {
                        let cands: Vec<Candidate> =
                            c.try_into()
                                .map_err(|e: toml::de::Error| SeatError::Votes {
                                    field: field.clone(),
                                    problem: e.message().to_owned(),
                                })?;
                        out.candidate_lists.insert(list, cands);
                    }
                    other => {
                        return Err(SeatError::Votes {
                            field,
                            problem: format!(
                                "expected a count or a list of candidates, found {}",
                                other.type_str()
                            ),
                        });
                    }
                }
            }
            for (list, prefs) in d.preferences {
                let field = format!("{path}.preferences.{list}");
                let list = ListId(list);
                let mut table = BTreeMap::new();
                for (number, v) in prefs {
                    let f = format!("{field}.{number}");
                    let n: u32 =
                        number
                            .parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| SeatError::Votes {
                                field: f.clone(),
                                problem: format!("`{number}` is not a candidate's ballot number"),
                            })?;
                    table.insert(n, Votes(count(v, &f)?));
                }
                out.preferences.insert(list, table);
            }
            input.districts.insert(district, out);
        }
        candidates::validate_input(&input)?;
        Ok(input)
    }

    /// The declared candidates of `list` in `district` (the district's declaration, else the
    /// list's) and the field that declares them; `None` when none are declared.
    pub fn candidates_of(
        &self,
        district: &DistrictId,
        list: &ListId,
    ) -> Option<(&[Candidate], String)> {
        if let Some(c) = self
            .districts
            .get(district)
            .and_then(|d| d.candidate_lists.get(list))
        {
            return Some((c, format!("districts.{district}.candidates.{list}")));
        }
        let info = self.lists.get(list)?;
        (!info.candidates.is_empty()).then(|| {
            (
                info.candidates.as_slice(),
                format!("lists.{list}.candidates"),
            )
        })
    }

    /// The most seats `list` can take in `district`: its declared candidates not withdrawn, or
    /// the district's candidate count; `None` when neither is given.
    pub fn candidate_cap(&self, district: &DistrictId, list: &ListId) -> Option<u32> {
        let cap = match self.candidates_of(district, list) {
            Some((c, _)) => {
                let left = c.iter().filter(|c| !c.withdrawn).count();
                Some(u32::try_from(left).unwrap_or(u32::MAX))
            }
            None => self
                .districts
                .get(district)
                .and_then(|d| d.candidates.get(list).copied()),
        };
        // An independent candidate is one person: one seat at most.
        if self
            .lists
            .get(list)
            .is_some_and(|l| l.kind == ListKind::Independent)
        {
            return Some(cap.map_or(1, |c| c.min(1)));
        }
        cap
    }

    /// Declares the candidates of `list` in `district` (replacing earlier ones).
    pub fn declare_candidates(
        &mut self,
        district: &DistrictId,
        list: &ListId,
        candidates: Vec<Candidate>,
    ) {
        let d = self.districts.entry(district.clone()).or_default();
        d.candidate_lists.insert(list.clone(), candidates);
    }

    /// Adds preference votes for candidate `number` of `list` in `district`.
    ///
    /// # Errors
    /// [`SeatError::Overflow`] if the sum does not fit.
    pub fn add_preferences(
        &mut self,
        district: &DistrictId,
        list: &ListId,
        number: u32,
        votes: Votes,
    ) -> Result<(), SeatError> {
        let d = self.districts.entry(district.clone()).or_default();
        let slot = d
            .preferences
            .entry(list.clone())
            .or_default()
            .entry(number)
            .or_default();
        *slot = slot.checked_add(
            votes,
            &format!("preference votes of `{list}` {number} in district `{district}`"),
        )?;
        Ok(())
    }

    /// Declares a list (replacing earlier attributes).
    pub fn declare_list(&mut self, list: ListId, info: ListInfo) {
        self.lists.insert(list, info);
    }

    /// Adds votes for a declared list in a district (summing, e.g. over polling stations).
    ///
    /// # Errors
    /// [`SeatError::UnknownList`] for an undeclared list, [`SeatError::Overflow`] if the sum
    /// does not fit.
    pub fn add_votes(
        &mut self,
        district: &DistrictId,
        list: &ListId,
        votes: Votes,
    ) -> Result<(), SeatError> {
        if !self.lists.contains_key(list) {
            return Err(SeatError::UnknownList {
                district: district.clone(),
                list: list.clone(),
            });
        }
        let d = self.districts.entry(district.clone()).or_default();
        let slot = d.votes.entry(list.clone()).or_default();
        *slot = slot.checked_add(
            votes,
            &format!("votes of `{list}` in district `{district}`"),
        )?;
        Ok(())
    }

    /// Adds valid votes for no list in a district.
    ///
    /// # Errors
    /// [`SeatError::Overflow`] if the sum does not fit.
    pub fn add_other(&mut self, district: &DistrictId, votes: Votes) -> Result<(), SeatError> {
        let d = self.districts.entry(district.clone()).or_default();
        d.other = d
            .other
            .checked_add(votes, &format!("other votes in district `{district}`"))?;
        Ok(())
    }

    /// The votes of a contest's tally, for a rule set: each rule-set district is matched to
    /// the unit one level below the country with the same id or name; with a rule set that
    /// names no districts, the whole country is one district of `seats` seats. Lists of kind
    /// `other` (votes for no list) count as `other` votes.
    ///
    /// Open lists: a list with candidates declares, in each district, the candidates standing
    /// there (those without a unit, and those whose unit is the district's unit, above it or
    /// below it), and when the contest has preferences each of them gets the district's
    /// preference votes, so the rule set's `[candidates]` rule names the elected.
    ///
    /// # Errors
    /// [`SeatError::District`] if a rule-set district matches no unit, or if the rule set names
    /// no districts and `seats` is `None`; [`SeatError::Overflow`] on a sum overflow.
    pub fn from_tally(
        e: &Election,
        tally: &Tally,
        rules: &RuleSet,
        seats: Option<u32>,
    ) -> Result<Self, SeatError> {
        let contest = &e.contests[tally.contest.0 as usize];
        let mut input = Self::default();
        for &l in &contest.lists {
            let list = &e.lists[l];
            let kind = match list.kind {
                definition::ListKind::Party => ListKind::Party,
                definition::ListKind::Coalition => ListKind::Coalition,
                definition::ListKind::Independent => ListKind::Independent,
                definition::ListKind::Other => continue,
            };
            input.declare_list(
                ListId::new(list.id.clone()),
                ListInfo {
                    kind,
                    community: list.community.clone(),
                    name: Some(list.name.clone()),
                    alliance: None,
                    candidates: Vec::new(),
                },
            );
        }
        let open = contest.preferences.is_some();
        let mut add = |district: &DistrictId, unit: usize| -> Result<(), SeatError> {
            let totals = &tally.units[unit];
            let here = definition::UnitIdx(u32::try_from(unit).unwrap_or(u32::MAX));
            for &l in &contest.lists {
                let list = &e.lists[l];
                if list.kind == definition::ListKind::Other || list.candidates.is_empty() {
                    continue;
                }
                let id = ListId::new(list.id.clone());
                let standing: Vec<_> = list
                    .candidates
                    .iter()
                    .filter(|&&ci| {
                        e.candidates[ci.0 as usize]
                            .unit
                            .is_none_or(|u| e.unit_within(here, u) || e.unit_within(u, here))
                    })
                    .collect();
                input.declare_candidates(
                    district,
                    &id,
                    standing
                        .iter()
                        .map(|&&ci| {
                            let c = &e.candidates[ci.0 as usize];
                            Candidate {
                                number: c.number,
                                name: c.name.clone(),
                                gender: c.gender.map(|g| match g {
                                    definition::Gender::Female => candidates::Gender::Female,
                                    definition::Gender::Male => candidates::Gender::Male,
                                }),
                                withdrawn: c.withdrawn,
                            }
                        })
                        .collect(),
                );
                if open {
                    for &&ci in &standing {
                        let votes = totals.preferences.get(ci.0 as usize).copied().unwrap_or(0);
                        let number = e.candidates[ci.0 as usize].number;
                        input.add_preferences(district, &id, number, Votes(votes))?;
                    }
                }
            }
            for (&l, &v) in contest.lists.iter().zip(&totals.votes) {
                let list = &e.lists[l];
                if list.kind == definition::ListKind::Other {
                    input.add_other(district, Votes(v))?;
                } else {
                    input.add_votes(district, &ListId::new(list.id.clone()), Votes(v))?;
                }
            }
            Ok(())
        };
        if rules.districts.is_empty() {
            let country = DistrictId::new(e.units[0].id.clone());
            let Some(seats) = seats else {
                return Err(SeatError::District {
                    district: country,
                    problem: format!(
                        "rule set {:?} names no districts: give the number of seats to fill",
                        rules.id
                    ),
                });
            };
            add(&country, 0)?;
            if let Some(dv) = input.districts.get_mut(&country) {
                dv.seats = Some(Seats(seats));
            }
            return Ok(input);
        }
        for d in &rules.districts {
            let unit = district_unit(e, d).ok_or_else(|| SeatError::District {
                district: d.id.clone(),
                problem: format!(
                    "rule set {:?}: matches no unit below {} (by id or name)",
                    rules.id, e.units[0].name
                ),
            })?;
            add(&d.id, unit)?;
        }
        every_unit_is_a_district(e, rules)?;
        Ok(input)
    }
}

/// Under a rule set that lists its districts, every unit one level below the country that
/// holds stations must be one of them: the votes of any other would count for no seat and
/// not in a national threshold's base. [`VoteInput::from_tally`] checks it, so neither `urna init`
/// ([`super::check_definition`]) nor the seats of a store initialised before init checked it
/// leave such a unit's votes out without a word.
fn every_unit_is_a_district(e: &Election, rules: &RuleSet) -> Result<(), SeatError> {
    if rules.districts.is_empty() {
        return Ok(());
    }
    let matched: Vec<usize> = rules
        .districts
        .iter()
        .filter_map(|d| district_unit(e, d))
        .collect();
    // Nearly always every unit below the country is a district: then no station need be read
    // (the publisher asks this at every generation, of a million stations).
    if !e
        .units
        .iter()
        .enumerate()
        .any(|(i, u)| u.depth == 1 && !matched.contains(&i))
    {
        return Ok(());
    }
    let mut stations = vec![0usize; e.units.len()];
    for s in &e.stations {
        if let Some(top) = e
            .ancestry(s.unit)
            .find(|u| e.units[u.0 as usize].depth == 1)
        {
            stations[top.0 as usize] += 1;
        }
    }
    for (i, u) in e.units.iter().enumerate() {
        if u.depth == 1 && stations[i] > 0 && !matched.contains(&i) {
            return Err(SeatError::District {
                district: DistrictId::new(u.id.clone()),
                problem: format!(
                    "unit `{}` ({}) holds {} station(s) but is no district of rule set `{}` \
                     (matched by id or name; its districts: {}): its votes would count for no \
                     seat",
                    u.id,
                    u.name,
                    stations[i],
                    rules.id,
                    rules
                        .districts
                        .iter()
                        .map(|d| d.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The unit one level below the country that a rule set's district is: the first with its
/// id, or with its id or name as the unit's name.
pub(crate) fn district_unit(e: &Election, d: &super::rules::District) -> Option<usize> {
    e.units.iter().position(|u| {
        u.depth == 1
            && (u.id == d.id.0 || u.name == d.id.0 || d.name.as_deref() == Some(u.name.as_str()))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteFile {
    tie_seed: Option<String>,
    #[serde(default)]
    lists: BTreeMap<String, ListInfo>,
    districts: BTreeMap<String, DistrictFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DistrictFile {
    seats: Option<i64>,
    other: Option<i64>,
    #[serde(default)]
    votes: BTreeMap<String, i64>,
    #[serde(default)]
    candidates: BTreeMap<String, toml::Value>,
    #[serde(default)]
    preferences: BTreeMap<String, BTreeMap<String, i64>>,
}

fn count(value: i64, field: &str) -> Result<u64, SeatError> {
    u64::try_from(value).map_err(|_| SeatError::Votes {
        field: field.to_owned(),
        problem: format!("negative count {value}"),
    })
}

fn count_u32(value: i64, field: &str) -> Result<u32, SeatError> {
    u32::try_from(value).map_err(|_| SeatError::Votes {
        field: field.to_owned(),
        problem: format!("{value} is not a count between 0 and {}", u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_votes_name_the_field() {
        let err =
            VoteInput::from_toml("[lists.A]\n[districts.x]\nvotes = { A = -5 }\n").unwrap_err();
        assert_eq!(
            err,
            SeatError::Votes {
                field: "districts.x.votes.A".into(),
                problem: "negative count -5".into()
            }
        );
    }

    #[test]
    fn votes_for_an_undeclared_list_are_rejected() {
        let err =
            VoteInput::from_toml("[lists.A]\n[districts.x]\nvotes = { B = 5 }\n").unwrap_err();
        assert!(matches!(err, SeatError::UnknownList { .. }), "{err}");
        assert!(err.to_string().contains("districts.x.votes.B"), "{err}");
    }

    #[test]
    fn counts_beyond_toml_integers_are_rejected() {
        let err = VoteInput::from_toml(
            "[lists.A]\n[districts.x]\nvotes = { A = 99999999999999999999 }\n",
        )
        .unwrap_err();
        assert!(matches!(err, SeatError::VotesSyntax(_)), "{err}");
    }

    #[test]
    fn unknown_field_in_a_district_is_rejected() {
        let err = VoteInput::from_toml("[lists.A]\n[districts.x]\nvots = { A = 1 }\n").unwrap_err();
        assert!(err.to_string().contains("vots"), "{err}");
    }

    #[test]
    fn add_votes_sums_and_reports_overflow() {
        let mut input = VoteInput::default();
        let (d, a) = (DistrictId::new("x"), ListId::new("A"));
        input.declare_list(a.clone(), ListInfo::default());
        input.add_votes(&d, &a, Votes(u64::MAX - 1)).unwrap();
        input.add_votes(&d, &a, Votes(1)).unwrap();
        let err = input.add_votes(&d, &a, Votes(1)).unwrap_err();
        assert!(matches!(err, SeatError::Overflow { .. }), "{err}");
    }
}
