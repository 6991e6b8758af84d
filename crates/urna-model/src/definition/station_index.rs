//! The stations by id: an open-addressing hash table of station indices, each slot 4 bytes.
//!
//! A `HashMap<String, StationIdx>` holds a second copy of every id and a 32-byte bucket per
//! station (about 90 MB at a million stations); this holds only the indices, at most half
//! full (8 MB at a million), and compares a probed id with the station's own.

use std::hash::{BuildHasher, RandomState};

use super::{Station, StationIdx};

/// An empty slot.
const EMPTY: u32 = u32::MAX;

/// Station id → index, over the definition's `stations`.
#[derive(Debug, Clone, Default)]
pub(super) struct StationIndex {
    /// A power of two of slots, at least twice the stations; linear probing.
    slots: Vec<u32>,
    /// Keyed per process, so that ids chosen to collide cannot be found in advance.
    hasher: RandomState,
}

impl StationIndex {
    /// Indexes `stations`; `Err(i)` names the first station whose id an earlier one has.
    /// At most `u32::MAX - 1` stations (the caller checks).
    pub(super) fn new(stations: &[Station]) -> Result<Self, usize> {
        let n = stations.len().max(1).saturating_mul(2).next_power_of_two();
        let mut index = Self {
            slots: vec![EMPTY; n],
            hasher: RandomState::new(),
        };
        for (i, s) in stations.iter().enumerate() {
            let mut slot = index.home(&s.id);
            loop {
                match index.slots[slot] {
                    EMPTY => {
                        // i < u32::MAX: checked by the caller.
                        index.slots[slot] = i as u32;
                        break;
                    }
                    j if stations[j as usize].id == s.id => return Err(i),
                    _ => slot = (slot + 1) & (n - 1),
                }
            }
        }
        Ok(index)
    }

    /// The station with this id, among the `stations` the index was made of.
    pub(super) fn get(&self, stations: &[Station], id: &str) -> Option<StationIdx> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = self.home(id);
        loop {
            match self.slots[slot] {
                EMPTY => return None,
                j if stations.get(j as usize).is_some_and(|s| s.id == id) => {
                    return Some(StationIdx(j));
                }
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    fn home(&self, id: &str) -> usize {
        // Truncating the hash to the table's width is the point.
        (self.hasher.hash_one(id) as usize) & (self.slots.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::UnitIdx;
    use crate::note::KeyId;

    fn station(id: &str) -> Station {
        Station {
            id: id.to_owned(),
            unit: UnitIdx(0),
            registered: 0,
            public_key: [0; 32],
            key_id: KeyId([0; 4]),
            about: None,
        }
    }

    #[test]
    fn every_station_is_found_and_nothing_else() {
        let stations: Vec<Station> = (0..5000).map(|i| station(&format!("PS-{i:05}"))).collect();
        let index = StationIndex::new(&stations).unwrap();
        for (i, s) in stations.iter().enumerate() {
            assert_eq!(index.get(&stations, &s.id), Some(StationIdx(i as u32)));
        }
        for id in ["PS-5000", "PS-0000", "", "ps-00001", "PS-00001 "] {
            assert_eq!(index.get(&stations, id), None, "{id:?}");
        }
        let none = StationIndex::new(&[]).unwrap();
        assert_eq!(none.get(&[], "PS-00001"), None);
        assert_eq!(StationIndex::default().get(&stations, "PS-00001"), None);
    }

    #[test]
    fn a_duplicate_id_is_named() {
        let stations = [station("A"), station("B"), station("C"), station("B")];
        assert_eq!(StationIndex::new(&stations).err(), Some(3));
    }
}
