//! Totals per unit at every level of the hierarchy, turnout and reporting progress.
//!
//! [`tally`] takes each station's current outcome (counted with its numbers, or quarantined)
//! and adds counted stations into their unit and every unit above it. Quarantined stations are
//! not counted; they are reported. The result depends only on the set of outcomes, never on
//! their order (sums are commutative and a station may appear once).

use urna_model::definition::{ContestIdx, Election, StationIdx, UnitIdx};

/// A station's current outcome in one contest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationOutcome<'a> {
    /// Its current revision passed every error rule.
    Counted {
        /// The station.
        station: StationIdx,
        /// Named counts, in definition order.
        counts: &'a [u64],
        /// Votes per list, in the contest's list order.
        votes: &'a [u64],
    },
    /// Its current revision is quarantined.
    Quarantined {
        /// The station.
        station: StationIdx,
    },
}

impl StationOutcome<'_> {
    fn station(&self) -> StationIdx {
        match self {
            Self::Counted { station, .. } | Self::Quarantined { station } => *station,
        }
    }
}

/// Totals for one unit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Totals {
    /// Stations in the unit.
    pub stations: u64,
    /// Stations counted.
    pub counted: u64,
    /// Stations whose current protocol is quarantined.
    pub quarantined: u64,
    /// Registered voters in all the unit's stations (from the definition).
    pub registered: u64,
    /// Registered voters in the counted stations.
    pub registered_counted: u64,
    /// Sums of the named counts over counted stations, in definition order.
    pub counts: Vec<u64>,
    /// Sums of votes per list over counted stations, in the contest's list order.
    pub votes: Vec<u64>,
}

/// Totals for every unit of one contest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The contest.
    pub contest: ContestIdx,
    /// Totals per unit, indexed like [`Election::units`]; index 0 is the country.
    pub units: Vec<Totals>,
}

/// Why a tally could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TallyError {
    /// A station was given twice.
    #[error("station {0} appears twice in the tally input")]
    DuplicateStation(String),
    /// A sum overflowed `u64` (impossible with the protocol limits; reported, never wrapped).
    #[error("overflow adding the counts of station {0}")]
    Overflow(String),
    /// Counts or votes of the wrong length for the definition.
    #[error("station {0}: counts or votes do not match the definition")]
    Shape(String),
}

/// Adds up a contest's station outcomes into totals per unit.
///
/// # Errors
/// [`TallyError`] if a station appears twice, shapes mismatch, or a sum overflows.
pub fn tally<'a>(
    election: &Election,
    contest: ContestIdx,
    outcomes: impl IntoIterator<Item = StationOutcome<'a>>,
) -> Result<Tally, TallyError> {
    let mut b = TallyBuilder::new(election, contest)?;
    for o in outcomes {
        b.add(&o)?;
    }
    Ok(b.finish())
}

/// Builds a [`Tally`] one station outcome at a time, for inputs too large to hold at once.
#[derive(Debug)]
pub struct TallyBuilder<'e> {
    election: &'e Election,
    n_lists: usize,
    tally: Tally,
    seen: Vec<bool>,
}

impl<'e> TallyBuilder<'e> {
    /// An empty tally of `contest` with every station expected.
    ///
    /// # Errors
    /// [`TallyError::Overflow`] if the registers overflow.
    pub fn new(election: &'e Election, contest: ContestIdx) -> Result<Self, TallyError> {
        let n_lists = election.contests[contest.0 as usize].lists.len();
        let mut units: Vec<Totals> = vec![
            Totals {
                counts: vec![0; election.counts.len()],
                votes: vec![0; n_lists],
                ..Totals::default()
            };
            election.units.len()
        ];
        for s in &election.stations {
            for u in election.ancestry(s.unit) {
                let t = &mut units[u.0 as usize];
                t.stations += 1;
                t.registered = t
                    .registered
                    .checked_add(s.registered)
                    .ok_or_else(|| TallyError::Overflow(s.id.clone()))?;
            }
        }
        Ok(Self {
            election,
            n_lists,
            tally: Tally { contest, units },
            seen: vec![false; election.stations.len()],
        })
    }

    /// Adds one station's outcome.
    ///
    /// # Errors
    /// [`TallyError`] if the station was added before, shapes mismatch, or a sum overflows.
    pub fn add(&mut self, o: &StationOutcome<'_>) -> Result<(), TallyError> {
        let e = self.election;
        let idx = o.station();
        let st = &e.stations[idx.0 as usize];
        if std::mem::replace(&mut self.seen[idx.0 as usize], true) {
            return Err(TallyError::DuplicateStation(st.id.clone()));
        }
        match o {
            StationOutcome::Quarantined { .. } => {
                for u in e.ancestry(st.unit) {
                    self.tally.units[u.0 as usize].quarantined += 1;
                }
            }
            StationOutcome::Counted { counts, votes, .. } => {
                if counts.len() != e.counts.len() || votes.len() != self.n_lists {
                    return Err(TallyError::Shape(st.id.clone()));
                }
                for u in e.ancestry(st.unit) {
                    add(
                        &mut self.tally.units[u.0 as usize],
                        st.registered,
                        counts,
                        votes,
                    )
                    .ok_or_else(|| TallyError::Overflow(st.id.clone()))?;
                }
            }
        }
        Ok(())
    }

    /// The finished tally.
    pub fn finish(self) -> Tally {
        self.tally
    }
}

fn add(t: &mut Totals, registered: u64, counts: &[u64], votes: &[u64]) -> Option<()> {
    t.counted += 1;
    t.registered_counted = t.registered_counted.checked_add(registered)?;
    for (a, b) in t.counts.iter_mut().zip(counts) {
        *a = a.checked_add(*b)?;
    }
    for (a, b) in t.votes.iter_mut().zip(votes) {
        *a = a.checked_add(*b)?;
    }
    Some(())
}

impl Tally {
    /// Totals of one unit.
    pub fn unit(&self, unit: UnitIdx) -> &Totals {
        &self.units[unit.0 as usize]
    }
}

/// `numerator / denominator` as a percentage with two decimals, rounded half up, using integers
/// only (`"48.68"`); `"-"` when the denominator is zero.
pub fn percent(numerator: u64, denominator: u64) -> String {
    if denominator == 0 {
        return "-".to_owned();
    }
    let scaled =
        (u128::from(numerator) * 20_000 + u128::from(denominator)) / (2 * u128::from(denominator));
    format!("{}.{:02}", scaled / 100, scaled % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rounds_half_up_with_integers() {
        assert_eq!(percent(1, 3), "33.33");
        assert_eq!(percent(2, 3), "66.67");
        assert_eq!(percent(1, 8), "12.50");
        assert_eq!(percent(0, 5), "0.00");
        assert_eq!(percent(5, 0), "-");
        assert_eq!(percent(u64::MAX, u64::MAX), "100.00");
    }
}
