//! The tally kept current as notes are stored, so results are ready the moment they are
//! durable. It equals the tally re-derived from the stored notes (a test checks both agree):
//! a new protocol adds its outcome; an amendment removes the superseded outcome and adds the
//! new one; a decision on a station's current entry changes how that entry counts
//! ([`StationOutcome::decided`]) until an amendment supersedes it.

use std::collections::BTreeMap;

use urna_model::decision::DecisionKind;
use urna_model::definition::{ContestIdx, Election, StationIdx};
use urna_model::intake::Submission;
use urna_tally::public::count_warnings;
use urna_tally::totals::{StationOutcome, TallyBuilder};

use crate::{StoreError, TallyReport};

/// Live tallies of every contest.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    contests: Vec<LiveContest>,
}

#[derive(Debug, Clone)]
struct LiveContest {
    builder: TallyBuilder,
    quarantined: BTreeMap<StationIdx, Submission>,
    /// The latest decision on each station's current entry.
    decided: BTreeMap<StationIdx, DecisionKind>,
    warnings: BTreeMap<String, (u64, String)>,
}

impl Live {
    /// Empty tallies: nothing reported yet.
    pub(crate) fn new(e: &Election) -> Result<Self, StoreError> {
        let contests = (0..e.contests.len())
            .map(|c| {
                let c = ContestIdx(
                    u16::try_from(c).map_err(|_| StoreError::Setup("too many contests".into()))?,
                );
                Ok(LiveContest {
                    builder: TallyBuilder::new(e, c)?,
                    quarantined: BTreeMap::new(),
                    decided: BTreeMap::new(),
                    warnings: BTreeMap::new(),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self { contests })
    }

    /// Adds a station's current submission.
    pub(crate) fn add(&mut self, e: &Election, sub: &Submission) -> Result<(), StoreError> {
        let c = &mut self.contests[sub.contest.0 as usize];
        c.builder.add(e, &StationOutcome::of(sub))?;
        count_warnings(&mut c.warnings, sub, true);
        if sub.is_quarantined() {
            c.quarantined.insert(sub.station, sub.clone());
        }
        Ok(())
    }

    /// Removes a station's superseded submission.
    pub(crate) fn remove(&mut self, e: &Election, sub: &Submission) -> Result<(), StoreError> {
        let c = &mut self.contests[sub.contest.0 as usize];
        let decided = c.decided.remove(&sub.station);
        c.builder
            .remove(e, &StationOutcome::decided(sub, decided))?;
        count_warnings(&mut c.warnings, sub, false);
        c.quarantined.remove(&sub.station);
        Ok(())
    }

    /// Applies a decision on a station's current submission `sub`.
    pub(crate) fn decide(
        &mut self,
        e: &Election,
        sub: &Submission,
        kind: DecisionKind,
    ) -> Result<(), StoreError> {
        let c = &mut self.contests[sub.contest.0 as usize];
        let before = c.decided.insert(sub.station, kind);
        c.builder.remove(e, &StationOutcome::decided(sub, before))?;
        let now = StationOutcome::decided(sub, Some(kind));
        c.builder.add(e, &now)?;
        if now.is_counted() {
            c.quarantined.remove(&sub.station);
        } else {
            c.quarantined.insert(sub.station, sub.clone());
        }
        Ok(())
    }

    /// The report of one contest.
    pub(crate) fn report(&self, contest: ContestIdx) -> TallyReport {
        let c = &self.contests[contest.0 as usize];
        TallyReport {
            tally: Some(c.builder.tally().clone()),
            quarantined: c
                .quarantined
                .iter()
                .map(|(s, sub)| (*s, sub.clone()))
                .collect(),
            warnings: c.warnings.clone(),
        }
    }
}
