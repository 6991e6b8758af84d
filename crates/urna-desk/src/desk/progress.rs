//! Progress per municipality: the centre's protocols counted by what has happened to them,
//! for each unit that holds the centre's stations.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;
use serde_json::{Value, json};

use super::{Desk, Refusal};

/// Counts of one unit (or of the whole centre).
#[derive(Default)]
struct Counts {
    protocols: u64,
    entered_once: u64,
    entered_twice: u64,
    differences: u64,
    resolved: u64,
    signed: u64,
    delivered: u64,
}

impl Counts {
    fn json(&self, id: &str, name: &str) -> Value {
        json!({
            "unit": id,
            "name": name,
            "protocols": self.protocols,
            "entered_once": self.entered_once,
            "entered_twice": self.entered_twice,
            "differences": self.differences,
            "resolved": self.resolved,
            "signed": self.signed,
            "delivered": self.delivered,
        })
    }
}

impl Desk {
    /// For every unit holding stations of the centre (its municipalities), in definition
    /// order: protocols (stations × contests), entered once (one entry of the current round
    /// finished), entered twice (both entries of a round finished, at any time), in
    /// difference, resolved by a coordinator, signed, delivered to the log.
    pub(super) fn progress_units(&self, conn: &Connection) -> Result<Vec<Value>, Refusal> {
        let e = &self.election;
        let mut units: BTreeMap<u32, Counts> = BTreeMap::new();
        for st in e
            .stations
            .iter()
            .filter(|st| e.unit_within(st.unit, self.centre))
        {
            units.entry(st.unit.0).or_default().protocols += e.contests.len() as u64;
        }
        let unit_of = |station: &str| e.station(station).map(|s| e.stations[s.0 as usize].unit.0);
        let mut q = conn.prepare(
            "SELECT p.contest, p.station, p.state, \
               (SELECT COUNT(*) FROM entries e WHERE e.contest = p.contest AND e.station = p.station \
                  AND e.round = p.round AND e.done = 1) \
             FROM protocols p",
        )?;
        let rows: Vec<(String, String, String, i64)> = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        let twice: BTreeSet<(String, String)> = {
            let mut q = conn.prepare(
                "SELECT contest, station FROM entries GROUP BY contest, station, round HAVING SUM(done) = 2",
            )?;
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        // Resolved: a coordinator kept an entry or ordered new ones (the audit trail says so).
        let resolved: BTreeSet<String> = {
            let mut q = conn.prepare(
                "SELECT DISTINCT subject FROM audit WHERE action = 'reenter' OR (action = 'signed' AND actor <> '-')",
            )?;
            q.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        for (contest, station, state, finished) in rows {
            let Some(c) = unit_of(&station).and_then(|u| units.get_mut(&u)) else {
                continue;
            };
            match state.as_str() {
                "entering" if finished == 1 => c.entered_once += 1,
                "difference" => c.differences += 1,
                "signed" => c.signed += 1,
                "delivered" => {
                    c.signed += 1;
                    c.delivered += 1;
                }
                "refused" => c.signed += 1,
                _ => {}
            }
            if twice.contains(&(contest.clone(), station.clone())) {
                c.entered_twice += 1;
            }
            if resolved.contains(&format!("{contest}/{station}")) {
                c.resolved += 1;
            }
        }
        Ok(units
            .iter()
            .map(|(u, c)| {
                let unit = &e.units[*u as usize];
                c.json(&unit.id, &unit.name)
            })
            .collect())
    }
}
