//! The reported results of a contest in the audit's terms: from the replayed log (the current
//! protocol of every station, as `urna_tally::public::Replay` keeps it) and a seat rule set to
//! the [`AuditInput`] the assertions and the sample are computed from.
//!
//! Stations that do not count in the published totals (a quarantined protocol, a recount
//! ordered, an annulment) are not part of the reported outcome and are left out (counted in
//! [`Reported::quarantined`]). Each station's ballots in the box are its protocol's
//! `ballots-cast` (never fewer than its valid votes); lists of kind `other` are pooled into the
//! `other` class. Districts: a rule set naming districts maps each to the unit of depth 1 whose
//! id or name is the district's; one naming none makes the whole contest one district with the
//! seats given.

use std::collections::HashMap;

use urna_model::definition::{self, ContestIdx, Election, StationIdx, UnitIdx};
use urna_tally::public::Replay;
use urna_tally::seats::{DistrictId, ListId, ListKind, RuleSet};

use crate::{AuditDistrict, AuditError, AuditInput, AuditList, Batch};

/// A contest's reported results, ready to audit.
#[derive(Debug, Clone)]
pub struct Reported {
    /// The rule set.
    pub rules: RuleSet,
    /// The audit's input: lists that can win seats, districts, one batch per counted station.
    pub input: AuditInput,
    /// The station of each batch.
    pub stations: Vec<StationIdx>,
    /// For each list of the contest in ballot order: its index among the input's lists, or
    /// `None` for a list of kind `other`.
    pub list_class: Vec<Option<usize>>,
    /// Stations that do not count (quarantined, recount ordered, annulled): not in the reported
    /// results.
    pub quarantined: usize,
    /// The counted results of each batch's station as published: its votes per list of the
    /// contest in ballot order, then its named counts in definition order. Two results of the
    /// same contest are compared on these ([`Reported::changed`]).
    pub results: Vec<Vec<u64>>,
}

impl Reported {
    /// The results of `contest` in `replay` under `rules` (`seats` for a rule set that names no
    /// districts).
    ///
    /// # Errors
    /// [`AuditError::Input`] naming the rule set, the district or the seats at fault.
    pub fn new(
        e: &Election,
        contest: ContestIdx,
        rules: RuleSet,
        seats: Option<u32>,
        replay: &Replay,
    ) -> Result<Self, AuditError> {
        let c = &e.contests[contest.0 as usize];
        let mut lists = Vec::new();
        let mut list_class = Vec::new();
        for &l in &c.lists {
            let list = &e.lists[l];
            if list.kind == definition::ListKind::Other {
                list_class.push(None);
                continue;
            }
            list_class.push(Some(lists.len()));
            lists.push(AuditList {
                id: ListId::new(list.id.clone()),
                kind: match list.kind {
                    definition::ListKind::Coalition => ListKind::Coalition,
                    definition::ListKind::Independent => ListKind::Independent,
                    _ => ListKind::Party,
                },
            });
        }
        let mut districts = Vec::new();
        let mut unit_district: HashMap<u32, usize> = HashMap::new();
        if rules.districts.is_empty() {
            let house = seats
                .or_else(|| c.seats.as_ref().and_then(|s| s.house))
                .ok_or_else(|| AuditError::Input {
                    field: "seats".into(),
                    problem: format!(
                        "rule set {:?} names no districts: give the seats to fill",
                        rules.id
                    ),
                })?;
            districts.push(AuditDistrict {
                id: DistrictId::new(e.units.first().map_or("all", |u| u.id.as_str())),
                seats: Some(house),
            });
        } else {
            if seats.is_some() {
                return Err(AuditError::Input {
                    field: "seats".into(),
                    problem: format!(
                        "rule set {:?} fixes the seats of its districts; give no seats",
                        rules.id
                    ),
                });
            }
            for (k, d) in rules.districts.iter().enumerate() {
                let unit = e
                    .units
                    .iter()
                    .position(|u| {
                        u.depth == 1
                            && (u.id == d.id.0
                                || u.name == d.id.0
                                || d.name.as_deref() == Some(u.name.as_str()))
                    })
                    .ok_or_else(|| AuditError::Input {
                        field: "rules".into(),
                        problem: format!(
                            "rule set {:?}: district {} matches no unit",
                            rules.id, d.id
                        ),
                    })?;
                unit_district.insert(u32::try_from(unit).unwrap_or(u32::MAX), k);
                districts.push(AuditDistrict {
                    id: d.id.clone(),
                    seats: None,
                });
            }
        }
        let whole = rules.districts.is_empty();
        let district_of = |mut u: UnitIdx| -> Option<usize> {
            if whole {
                return Some(0);
            }
            loop {
                let unit = &e.units[u.0 as usize];
                if unit.depth <= 1 {
                    return unit_district.get(&u.0).copied();
                }
                u = unit.parent?;
            }
        };
        let ballots_count = e.counts.iter().position(|n| n == "ballots-cast");
        let mut batches = Vec::new();
        let mut stations = Vec::new();
        let mut results = Vec::new();
        let mut quarantined = 0;
        for (i, station) in e.stations.iter().enumerate() {
            let s = StationIdx(u32::try_from(i).unwrap_or(u32::MAX));
            let Some(state) = replay.station(contest, s) else {
                continue;
            };
            // As the published totals count it: a decision on the current entry (accept,
            // recount, annul) overrides its quarantine.
            if !state.is_counted() {
                quarantined += 1;
                continue;
            }
            let sub = state.current();
            let Some(district) = district_of(station.unit) else {
                continue;
            };
            let mut votes = vec![0u64; lists.len()];
            let mut other = 0u64;
            for (class, &v) in list_class.iter().zip(&sub.votes) {
                match class {
                    Some(k) => votes[*k] = v,
                    None => other = other.saturating_add(v),
                }
            }
            let valid = votes.iter().fold(other, |a, &v| a.saturating_add(v));
            let cast = ballots_count
                .and_then(|k| sub.counts.get(k).copied())
                .unwrap_or(0);
            batches.push(Batch {
                id: station.id.clone(),
                district,
                ballots: cast.max(valid),
                votes,
                other,
            });
            stations.push(s);
            results.push(sub.votes.iter().chain(&sub.counts).copied().collect());
        }
        Ok(Self {
            rules,
            input: AuditInput {
                lists,
                districts,
                batches,
            },
            stations,
            list_class,
            quarantined,
            results,
        })
    }

    /// The stations whose counted results differ between `self` and `now` (the same contest,
    /// later): counted in one and not the other (a new station, an annulment, a recount
    /// ordered, a revocation, a quarantine lifted) or counted in both with other numbers (an
    /// amendment). In station order.
    pub fn changed(&self, now: &Self) -> Vec<StationIdx> {
        let then: std::collections::BTreeMap<StationIdx, &Vec<u64>> =
            self.stations.iter().copied().zip(&self.results).collect();
        let later: std::collections::BTreeMap<StationIdx, &Vec<u64>> =
            now.stations.iter().copied().zip(&now.results).collect();
        let mut out: Vec<StationIdx> = then
            .iter()
            .filter(|(s, r)| later.get(s) != Some(r))
            .map(|(s, _)| *s)
            .chain(later.keys().filter(|s| !then.contains_key(s)).copied())
            .collect();
        out.sort_unstable();
        out
    }

    /// The batch (index into the input's batches) of a station, if it is counted.
    pub fn batch_of(&self, station: StationIdx) -> Option<usize> {
        self.stations.binary_search(&station).ok()
    }

    /// A hand count given per list of the contest in ballot order, then invalid ballots, as
    /// the audit's ballot classes (lists that can win seats, `other`, invalid).
    pub fn classes(&self, hand: &[u64]) -> Vec<u64> {
        let mut classes = vec![0u64; self.input.lists.len() + 2];
        let other = self.input.lists.len();
        for (class, &v) in self.list_class.iter().zip(hand) {
            let k = class.unwrap_or(other);
            classes[k] = classes[k].saturating_add(v);
        }
        classes[other + 1] = hand.get(self.list_class.len()).copied().unwrap_or(0);
        classes
    }
}
