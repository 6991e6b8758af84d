//! Totals per unit at every level of the hierarchy, turnout and reporting progress.
//!
//! [`tally`] takes each station's current outcome (counted with its numbers, or quarantined)
//! and adds counted stations into their unit and every unit above it. Quarantined stations are
//! not counted; they are reported. The result depends only on the set of outcomes, never on
//! their order (sums are commutative and a station may appear once).

use urna_model::decision::DecisionKind;
use urna_model::definition::{CandidateIdx, ContestIdx, Election, StationIdx, UnitIdx};
use urna_model::intake::Submission;

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
        /// Preference votes of candidates (open lists; empty for closed lists).
        preferences: &'a [(CandidateIdx, u64)],
    },
    /// Its current revision is quarantined.
    Quarantined {
        /// The station.
        station: StationIdx,
    },
}

impl<'a> StationOutcome<'a> {
    /// The outcome of an admitted submission: counted with its numbers, or quarantined.
    pub fn of(sub: &'a Submission) -> Self {
        if sub.is_quarantined() {
            Self::Quarantined {
                station: sub.station,
            }
        } else {
            Self::Counted {
                station: sub.station,
                counts: &sub.counts,
                votes: &sub.votes,
                preferences: &sub.preferences,
            }
        }
    }

    /// The outcome of a station's current submission under the commission's latest decision
    /// on it, if any: `accept` counts it as it stands, `recount` and `annul` keep it out of
    /// the totals (reported with the quarantined stations).
    pub fn decided(sub: &'a Submission, decision: Option<DecisionKind>) -> Self {
        match decision {
            None => Self::of(sub),
            Some(DecisionKind::Accept) => Self::Counted {
                station: sub.station,
                counts: &sub.counts,
                votes: &sub.votes,
                preferences: &sub.preferences,
            },
            Some(DecisionKind::Recount | DecisionKind::Annul) => Self::Quarantined {
                station: sub.station,
            },
        }
    }

    /// Whether the outcome counts in the totals.
    pub fn is_counted(&self) -> bool {
        matches!(self, Self::Counted { .. })
    }

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
    /// Sums of preference votes per candidate over counted stations, indexed by
    /// [`CandidateIdx`] (every candidate of the election; empty when it has none).
    pub preferences: Vec<u64>,
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
    /// A sum overflowed `u64`, or a removal went below zero (impossible with the protocol
    /// limits and consistent use; reported, never wrapped).
    #[error("overflow adding or removing the counts of station {0}")]
    Overflow(String),
    /// Counts or votes of the wrong length for the definition.
    #[error("station {0}: counts or votes do not match the definition")]
    Shape(String),
    /// An outcome removed that was never added.
    #[error("station {0}: removing an outcome that was never added")]
    NotAdded(String),
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
        b.add(election, &o)?;
    }
    Ok(b.finish())
}

/// Builds a [`Tally`] one station outcome at a time, and keeps it current as outcomes are
/// replaced (an amendment removes the superseded outcome and adds the new one). The result is
/// the same as [`tally`] over the final set of outcomes, whatever the order of changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyBuilder {
    n_lists: usize,
    tally: Tally,
    seen: Vec<bool>,
}

impl TallyBuilder {
    /// An empty tally of `contest` with every station expected.
    ///
    /// # Errors
    /// [`TallyError::Overflow`] if the registers overflow.
    pub fn new(election: &Election, contest: ContestIdx) -> Result<Self, TallyError> {
        let n_lists = election.contests[contest.0 as usize].lists.len();
        let mut units: Vec<Totals> = vec![
            Totals {
                counts: vec![0; election.counts.len()],
                votes: vec![0; n_lists],
                preferences: vec![0; election.candidates.len()],
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
            n_lists,
            tally: Tally { contest, units },
            seen: vec![false; election.stations.len()],
        })
    }

    /// Adds one station's outcome.
    ///
    /// # Errors
    /// [`TallyError`] if the station was added before, shapes mismatch, or a sum overflows.
    pub fn add(&mut self, e: &Election, o: &StationOutcome<'_>) -> Result<(), TallyError> {
        let idx = o.station();
        let st = &e.stations[idx.0 as usize];
        if std::mem::replace(&mut self.seen[idx.0 as usize], true) {
            return Err(TallyError::DuplicateStation(st.id.clone()));
        }
        self.apply(e, o, true)
    }

    /// Removes a station's outcome that was added before (it was superseded).
    ///
    /// # Errors
    /// [`TallyError::NotAdded`] if it was not added; [`TallyError::Shape`] on a shape
    /// mismatch.
    pub fn remove(&mut self, e: &Election, o: &StationOutcome<'_>) -> Result<(), TallyError> {
        let idx = o.station();
        let st = &e.stations[idx.0 as usize];
        if !std::mem::replace(&mut self.seen[idx.0 as usize], false) {
            return Err(TallyError::NotAdded(st.id.clone()));
        }
        self.apply(e, o, false)
    }

    fn apply(
        &mut self,
        e: &Election,
        o: &StationOutcome<'_>,
        plus: bool,
    ) -> Result<(), TallyError> {
        let st = &e.stations[o.station().0 as usize];
        match o {
            StationOutcome::Quarantined { .. } => {
                for u in e.ancestry(st.unit) {
                    let q = &mut self.tally.units[u.0 as usize].quarantined;
                    *q = if plus {
                        q.checked_add(1)
                    } else {
                        q.checked_sub(1)
                    }
                    .ok_or_else(|| TallyError::Overflow(st.id.clone()))?;
                }
            }
            StationOutcome::Counted {
                counts,
                votes,
                preferences,
                ..
            } => {
                if counts.len() != e.counts.len()
                    || votes.len() != self.n_lists
                    || preferences
                        .iter()
                        .any(|(c, _)| c.0 as usize >= e.candidates.len())
                {
                    return Err(TallyError::Shape(st.id.clone()));
                }
                let station = Station {
                    registered: st.registered,
                    counts,
                    votes,
                    preferences,
                };
                for u in e.ancestry(st.unit) {
                    let t = &mut self.tally.units[u.0 as usize];
                    let done = if plus {
                        add(t, &station)
                    } else {
                        subtract(t, &station)
                    };
                    done.ok_or_else(|| TallyError::Overflow(st.id.clone()))?;
                }
            }
        }
        Ok(())
    }

    /// The tally so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The finished tally.
    pub fn finish(self) -> Tally {
        self.tally
    }
}

/// One counted station's numbers, as added to (or removed from) each unit above it.
struct Station<'a> {
    registered: u64,
    counts: &'a [u64],
    votes: &'a [u64],
    preferences: &'a [(CandidateIdx, u64)],
}

fn subtract(t: &mut Totals, s: &Station<'_>) -> Option<()> {
    t.counted = t.counted.checked_sub(1)?;
    t.registered_counted = t.registered_counted.checked_sub(s.registered)?;
    for (a, b) in t.counts.iter_mut().zip(s.counts) {
        *a = a.checked_sub(*b)?;
    }
    for (a, b) in t.votes.iter_mut().zip(s.votes) {
        *a = a.checked_sub(*b)?;
    }
    for (c, v) in s.preferences {
        let a = &mut t.preferences[c.0 as usize];
        *a = a.checked_sub(*v)?;
    }
    Some(())
}

fn add(t: &mut Totals, s: &Station<'_>) -> Option<()> {
    t.counted += 1;
    t.registered_counted = t.registered_counted.checked_add(s.registered)?;
    for (a, b) in t.counts.iter_mut().zip(s.counts) {
        *a = a.checked_add(*b)?;
    }
    for (a, b) in t.votes.iter_mut().zip(s.votes) {
        *a = a.checked_add(*b)?;
    }
    for (c, v) in s.preferences {
        let a = &mut t.preferences[c.0 as usize];
        *a = a.checked_add(*v)?;
    }
    Some(())
}

impl Tally {
    /// Totals of one unit.
    pub fn unit(&self, unit: UnitIdx) -> &Totals {
        &self.units[unit.0 as usize]
    }
}

/// `numerator / denominator` as a percentage with two decimals (`"48.68"`); `"-"` when the
/// denominator is zero. The one share function of urna: `urna tally`, `urna seats`, the public
/// bundle (and so the results page) all print shares through it.
///
/// Exact rational rounding on integers only: the share is rounded to the nearest hundredth of a
/// percent, and a share exactly halfway between two hundredths is rounded **half up** (to the
/// larger one; shares are never negative, so this is also away from zero): 2/3 → `"66.67"`,
/// 1/20000 = 0.005 % (exactly half a hundredth) → `"0.01"`, 1/30000 = 0.0033… % → `"0.00"`.
/// The results page (`web/i18n.js`, `pct`) applies the same rule to any longer decimal string.
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
    use proptest::prelude::*;
    use urna_model::definition::STATIONS_HEADER;
    use urna_model::note::NoteSigner;

    use super::*;

    /// Country → 2 districts → 4 municipalities → 12 stations; one contest with 3 lists.
    fn election() -> Election {
        let mut toml = String::from(
            "[election]\nid = \"t\"\nname = \"T\"\n[stations]\nfile = \"s.csv\"\n\
             [[contests]]\nid = \"c\"\nname = \"C\"\nlists = [\"A\", \"B\", \"C\"]\n\
             [[lists]]\nid = \"A\"\nname = \"A\"\n[[lists]]\nid = \"B\"\nname = \"B\"\n\
             [[lists]]\nid = \"C\"\nname = \"C\"\n[[units]]\nid = \"X\"\nname = \"X\"\n",
        );
        for d in 0..2 {
            toml.push_str(&format!(
                "[[units]]\nid = \"D{d}\"\nname = \"D{d}\"\nparent = \"X\"\n"
            ));
            for m in 0..2 {
                toml.push_str(&format!(
                    "[[units]]\nid = \"M{d}{m}\"\nname = \"M\"\nparent = \"D{d}\"\n"
                ));
            }
        }
        let mut csv = format!("{STATIONS_HEADER}\n");
        for i in 0..12u8 {
            let id = format!("S{i}");
            let key = NoteSigner::from_seed(&id, &[i + 1; 32])
                .unwrap()
                .verifier()
                .to_vkey();
            csv.push_str(&format!(
                "{id},M{}{},{},{key}\n",
                i % 2,
                (i / 2) % 2,
                100 + u64::from(i)
            ));
        }
        Election::from_texts("e.toml", &toml, "s.csv", &csv).unwrap()
    }

    fn outcome(station: u32, q: bool, n: u64) -> (u32, bool, Vec<u64>, Vec<u64>) {
        (
            station,
            q,
            vec![100, n + 3, 3, n],
            vec![n / 2, n / 3, n - n / 2 - n / 3],
        )
    }

    fn as_outcome(o: &(u32, bool, Vec<u64>, Vec<u64>)) -> StationOutcome<'_> {
        if o.1 {
            StationOutcome::Quarantined {
                station: StationIdx(o.0),
            }
        } else {
            StationOutcome::Counted {
                station: StationIdx(o.0),
                counts: &o.2,
                votes: &o.3,
                preferences: &[],
            }
        }
    }

    proptest! {
        /// Keeping a tally current through any sequence of replacements (amendments) gives the
        /// tally of the final outcomes; the sum over units at every level is consistent.
        #[test]
        fn replacements_give_the_tally_of_the_final_outcomes(
            steps in proptest::collection::vec((0u32..12, any::<bool>(), 0u64..50), 1..60)
        ) {
            let e = election();
            let mut b = TallyBuilder::new(&e, ContestIdx(0)).unwrap();
            let mut current: std::collections::BTreeMap<u32, (u32, bool, Vec<u64>, Vec<u64>)> = Default::default();
            for (station, q, n) in steps {
                let new = outcome(station, q, n);
                if let Some(old) = current.get(&station) {
                    b.remove(&e, &as_outcome(old)).unwrap();
                }
                b.add(&e, &as_outcome(&new)).unwrap();
                current.insert(station, new);
            }
            let direct = tally(&e, ContestIdx(0), current.values().map(as_outcome)).unwrap();
            prop_assert_eq!(b.tally(), &direct);
            let nat = &direct.units[0];
            let districts: u64 = direct.units.iter().zip(&e.units).filter(|(_, u)| u.depth == 1).map(|(t, _)| t.votes.iter().sum::<u64>()).sum();
            prop_assert_eq!(nat.votes.iter().sum::<u64>(), districts);
        }
    }

    #[test]
    fn removing_what_was_never_added_is_an_error() {
        let e = election();
        let mut b = TallyBuilder::new(&e, ContestIdx(0)).unwrap();
        let o = outcome(3, false, 10);
        assert!(matches!(
            b.remove(&e, &as_outcome(&o)),
            Err(TallyError::NotAdded(_))
        ));
        b.add(&e, &as_outcome(&o)).unwrap();
        assert!(matches!(
            b.add(&e, &as_outcome(&o)),
            Err(TallyError::DuplicateStation(_))
        ));
    }

    #[test]
    fn percent_rounds_half_up_with_integers() {
        assert_eq!(percent(1, 3), "33.33");
        assert_eq!(percent(2, 3), "66.67");
        assert_eq!(percent(1, 8), "12.50");
        assert_eq!(
            percent(1, 20_000),
            "0.01",
            "exactly half a hundredth rounds up"
        );
        assert_eq!(percent(1, 30_000), "0.00");
        assert_eq!(percent(0, 5), "0.00");
        assert_eq!(percent(5, 0), "-");
        assert_eq!(percent(u64::MAX, u64::MAX), "100.00");
    }
}
