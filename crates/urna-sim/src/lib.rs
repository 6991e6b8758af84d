//! Deterministic synthetic elections for demos, tests, benchmarks and exercises.
//!
//! The same [`SimConfig`] always gives the same definition, keys and signed notes. The default
//! is shaped like Albania: 12 districts, about 5,200 stations and 3.6 million registered voters;
//! `stations` scales it to a million. Turnout and list shares vary by district and station, and
//! a configurable share of protocols carries an arithmetic error of the kinds commissions make
//! (invalid ballots miscounted, a list's votes mistyped, more ballots than voters).
//!
//! With [`SimConfig::candidates`] above 0 the lists are open: that many candidates of each
//! list draw preference votes, voters mark up to [`SimConfig::marks`] of them, and protocols carry `preferences:` lines —
//! a few strong candidates per list and many weak ones. The same share of protocols then also
//! carries a preference error of the kinds counting commissions make: a vote moved from one
//! candidate to another of the same list (the list totals stay right, and no rule can see it),
//! a candidate given more votes than the list, or votes written on a number that is no
//! candidate. Preferences come from a random stream of their own, so everything else (list
//! votes, arithmetic errors, keys) is identical to the closed-list simulation of the same seed,
//! and with 0 candidates (the default) the output is byte for byte what it was before.
//! So that the seat rules can name the elected, a list has as many candidates as the seats it
//! runs for (at least [`SimConfig::candidates`]): with the twelve Albanian districts a list has
//! its own candidates in each district (`unit = "D01"` …), as many as the district's seats;
//! otherwise one list of 100 for the whole country (the generic rule set's house).
//!
//! Station keys are derived from the seed (SHA-256 of seed and station number): a simulation's
//! keys are as secret as its seed, which is fine for exercises and never for a real election.
//!
//! Out of scope: real elections (see `urna import`), attacks on the network.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use urna_model::note::{Note, NoteSigner};
use urna_model::pack::{PACK_EXTENSION, write_note};
use urna_model::protocol::{BodyKind, CandidateVotes, Counted, ListPreferences, ProtocolBody};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of polling stations.
    pub stations: u32,
    /// Number of districts.
    pub districts: u32,
    /// Protocols with an injected arithmetic error, per ten thousand; as many again get a
    /// preference error when lists are open.
    pub error_rate_per_10k: u32,
    /// Candidates per list; 0 for closed lists (no `preferences:` lines).
    pub candidates: u32,
    /// Most candidates a voter may mark within the list (the contest's `preferences.marks`),
    /// for open lists.
    pub marks: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 2025,
            stations: 5_200,
            districts: 12,
            error_rate_per_10k: 200,
            candidates: 0,
            marks: 1,
        }
    }
}

/// A preference error injected into a station's protocol, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferenceError {
    /// Votes moved between two candidates of the same list: every identity still holds.
    Moved,
    /// A candidate given more preference votes than the list has votes.
    AboveList,
    /// Votes written on a number that is no candidate of the list.
    UnknownCandidate,
}

/// Election id of every simulated election.
pub const ELECTION_ID: &str = "sim-2025-assembly";
/// Contest id of every simulated election.
pub const CONTEST_ID: &str = "assembly";
/// Key name of the simulated central commission (the authority that co-signs amendments).
pub const AUTHORITY: &str = "central-commission";

const DISTRICT_NAMES: [&str; 12] = [
    "Berat",
    "Dibër",
    "Durrës",
    "Elbasan",
    "Fier",
    "Gjirokastër",
    "Korçë",
    "Kukës",
    "Lezhë",
    "Shkodër",
    "Tiranë",
    "Vlorë",
];

/// Seats of the twelve districts, in [`DISTRICT_NAMES`] order, as in `urna-tally`'s `albania`
/// rule set (the 2021 magnitudes).
const DISTRICT_SEATS: [u32; 12] = [7, 5, 14, 14, 16, 4, 10, 3, 7, 11, 37, 12];

/// Seats of the generic rule set's house, used when the districts are not Albania's.
const GENERIC_HOUSE: u32 = 100;

/// Lists on the simulated ballot: id, name, national base share in per mille.
const LISTS: [(&str, &str, u32); 7] = [
    ("AP", "Alliance for Progress", 440),
    ("DU", "Democratic Union", 370),
    ("CM", "Civic Movement", 70),
    ("SR", "Social Renewal", 40),
    ("GL", "Green List", 30),
    ("IC", "Independent Citizens", 25),
    ("NV", "New Voice", 25),
];

/// A kind of fraud injected into the honest counts, to measure what the forensic screens
/// detect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FraudKind {
    /// Ballots added for the first list: 30–80 % of the station's non-voters.
    Stuffing,
    /// Turnout written as a round percentage: ballots cast raised (or lowered) to the next
    /// multiple of 5 % of the register, the difference given to (or taken from) the first
    /// list.
    Rounding,
    /// A counting centre moving votes: in the manipulated municipalities, 30 % of the second
    /// list's votes are counted for the first.
    Moving,
}

/// Fraud at a share of stations (for [`FraudKind::Moving`], of municipalities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fraud {
    /// What is done.
    pub kind: FraudKind,
    /// Share of stations manipulated, per ten thousand.
    pub rate_per_10k: u32,
}

/// Ballots and votes of a station before any error is injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationCounts {
    /// Registered voters.
    pub registered: u64,
    /// Ballots cast.
    pub cast: u64,
    /// Invalid ballots.
    pub invalid: u64,
    /// Valid ballots.
    pub valid: u64,
    /// Votes per list.
    pub votes: Vec<u64>,
    /// Whether fraud was injected.
    pub manipulated: bool,
}

/// A simulated election: its definition files and the means to sign its notes.
#[derive(Debug, Clone)]
pub struct Simulation {
    config: SimConfig,
    districts: Vec<District>,
    authority: NoteSigner,
    fraud: Option<Fraud>,
}

#[derive(Debug, Clone)]
struct District {
    turnout_permille: u32,
    shares: Vec<u32>,
}

/// One station's simulated protocol.
#[derive(Debug, Clone)]
pub struct SimStation {
    /// Station id.
    pub id: String,
    /// Municipality (unit) id.
    pub unit: String,
    /// Registered voters.
    pub registered: u64,
    /// Its key.
    pub signer: NoteSigner,
    /// The protocol body.
    pub body: ProtocolBody,
    /// Whether an error (arithmetic or preference) was injected.
    pub erroneous: bool,
    /// The preference error injected, if any.
    pub preference_error: Option<PreferenceError>,
    /// The correct body, when an error was injected.
    pub correct: Option<ProtocolBody>,
}

impl Simulation {
    /// Sets up a simulation.
    pub fn new(config: SimConfig) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        let districts = (0..config.districts.max(1))
            .map(|_| District {
                turnout_permille: rng.gen_range(380..560),
                shares: LISTS
                    .iter()
                    .map(|(_, _, base)| base * rng.gen_range(60..140) / 100 + 1)
                    .collect(),
            })
            .collect();
        let authority =
            NoteSigner::from_seed(AUTHORITY, &derive_seed(config.seed, b"authority", 0))
                .unwrap_or_else(|_| unreachable!("the authority name is a valid key name"));
        Self {
            config,
            districts,
            authority,
            fraud: None,
        }
    }

    /// The same simulation with fraud injected into the counts of a share of its stations
    /// (chosen from a stream of their own, so the honest numbers and the injected errors
    /// stay those of the fraud-free simulation).
    #[must_use]
    pub fn with_fraud(mut self, fraud: Fraud) -> Self {
        self.fraud = Some(fraud);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The authority's key (secret: for exercises only).
    pub fn authority(&self) -> &NoteSigner {
        &self.authority
    }

    fn district_of(&self, station: u32) -> u32 {
        (u64::from(station) * u64::from(self.districts.len() as u32)
            / u64::from(self.config.stations.max(1))) as u32
    }

    fn municipalities_per_district(&self) -> u32 {
        // Albania has about 5 municipalities per district and 85 stations per municipality.
        (self.config.stations / self.config.districts.max(1) / 85).clamp(1, 2_000)
    }

    /// Unit id of a station's municipality.
    fn unit_of(&self, station: u32) -> String {
        let d = self.district_of(station);
        let first = self.first_of_district(d);
        let in_district = self.stations_in_district(d).max(1);
        let m = (station - first) * self.municipalities_per_district() / in_district;
        format!("D{:02}-M{:03}", d + 1, m + 1)
    }

    /// First station of district `d`: the least `i` with `i·k/n ≥ d`, i.e. `⌈d·n/k⌉`.
    fn first_of_district(&self, d: u32) -> u32 {
        let n = u64::from(self.config.stations);
        let k = self.districts.len() as u64;
        (u64::from(d) * n).div_ceil(k) as u32
    }

    fn stations_in_district(&self, d: u32) -> u32 {
        self.first_of_district(d + 1) - self.first_of_district(d)
    }

    /// Whether each district has its own candidates (Albania's districts and rule set).
    fn candidates_per_district(&self) -> bool {
        self.districts.len() == DISTRICT_NAMES.len()
    }

    /// Candidates of each list in district `d` (0 for closed lists): enough for every seat it
    /// can win there, and at least [`SimConfig::candidates`].
    fn list_length(&self, d: u32) -> u32 {
        if self.config.candidates == 0 {
            return 0;
        }
        let seats = if self.candidates_per_district() {
            DISTRICT_SEATS[d as usize]
        } else {
            GENERIC_HOUSE
        };
        self.config.candidates.max(seats)
    }

    /// The contest's seat rules: twelve districts are named as Albania's, so Albania's rule
    /// set (140 seats) applies; any other number gets the generic rule set, D'Hondt over the
    /// whole country, 100 seats.
    fn seat_rules(&self) -> &'static str {
        if self.candidates_per_district() {
            "seats = { rules = \"albania\" }\n"
        } else {
            "seats = { rules = \"generic\", house = 100 }\n"
        }
    }

    /// `election.toml` text; the stations file is `stations.csv`.
    pub fn definition_toml(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "# Synthetic election generated by `urna sim` (seed {}). Not a real election.\n\n\
             [election]\nid = \"{ELECTION_ID}\"\nname = \"Synthetic Assembly election\"\ndate = \"2025-05-11\"\n\
             provenance = \"synthetic: generated by urna sim with seed {}; station keys derived from the seed\"\n\n\
             [stations]\nfile = \"stations.csv\"\n\n\
             [[contests]]\nid = \"{CONTEST_ID}\"\nname = \"Assembly\"\nlists = [{}]\n{}\n",
            self.config.seed,
            self.config.seed,
            LISTS
                .iter()
                .map(|(id, _, _)| format!("\"{id}\""))
                .collect::<Vec<_>>()
                .join(", "),
            self.seat_rules(),
        );
        if self.config.candidates > 0 {
            // Inside the contest's table, before the next one starts.
            let at = s.len() - 1;
            s.insert_str(
                at,
                &format!("preferences = {{ marks = {} }}\n", self.config.marks.max(1)),
            );
        }
        for (id, name, _) in LISTS {
            let _ = write!(s, "[[lists]]\nid = \"{id}\"\nname = \"{name}\"\n\n");
            let per_district = self.candidates_per_district();
            let districts = if per_district {
                self.districts.len() as u32
            } else {
                1
            };
            for d in 0..districts {
                let (unit, suffix) = if per_district {
                    (
                        format!("unit = \"D{:02}\"\n", d + 1),
                        format!(" ({})", DISTRICT_NAMES[d as usize]),
                    )
                } else {
                    (String::new(), String::new())
                };
                for n in 1..=self.list_length(d) {
                    let gender = if n % 3 == 0 { "f" } else { "m" };
                    let _ = write!(
                        s,
                        "[[lists.candidates]]\nnumber = {n}\nname = \"{name} candidate {n}{suffix}\"\ngender = \"{gender}\"\n{unit}\n"
                    );
                }
            }
        }
        let _ = write!(s, "[[units]]\nid = \"SIM\"\nname = \"Simland\"\n\n");
        for d in 0..self.districts.len() as u32 {
            let name = DISTRICT_NAMES
                .get(d as usize)
                .map_or_else(|| format!("District {}", d + 1), |n| (*n).to_owned());
            let _ = write!(
                s,
                "[[units]]\nid = \"D{:02}\"\nname = \"{name}\"\nparent = \"SIM\"\n\n",
                d + 1
            );
        }
        for d in 0..self.districts.len() as u32 {
            let in_d = self.stations_in_district(d);
            let per = self.municipalities_per_district().min(in_d.max(1));
            for m in 0..per {
                let _ = write!(
                    s,
                    "[[units]]\nid = \"D{:02}-M{:03}\"\nname = \"Municipality {}-{}\"\nparent = \"D{:02}\"\n\n",
                    d + 1,
                    m + 1,
                    d + 1,
                    m + 1,
                    d + 1
                );
            }
        }
        let _ = write!(
            s,
            "[[authorities]]\nname = \"Central Election Commission\"\nscope = \"SIM\"\nkey = \"{}\"\n",
            self.authority.verifier().to_vkey()
        );
        s
    }

    /// Municipality (unit) id of station `i`.
    pub fn station_unit(&self, i: u32) -> String {
        self.unit_of(i)
    }

    /// District number (0-based) of station `i`.
    pub fn station_district(&self, i: u32) -> u32 {
        self.district_of(i)
    }

    /// Station number `i`'s ballots and votes (with fraud, if any), as in its protocol
    /// before an error is injected; no key is made.
    pub fn station_counts(&self, i: u32) -> StationCounts {
        let mut rng = ChaCha20Rng::seed_from_u64(self.config.seed ^ (u64::from(i) << 20) ^ 0x5eed);
        self.counts(i, &mut rng)
    }

    fn counts(&self, i: u32, rng: &mut ChaCha20Rng) -> StationCounts {
        let d = &self.districts[self.district_of(i) as usize];
        let registered: u64 = rng.gen_range(380..1000);
        let turnout =
            (i64::from(d.turnout_permille) + rng.gen_range(-90..90)).clamp(150, 900) as u64;
        let cast = registered * turnout / 1000;
        let invalid = cast * rng.gen_range(10..45) / 1000;
        let valid = cast - invalid;
        let weights: Vec<u64> = d
            .shares
            .iter()
            .map(|&w| u64::from(w) * rng.gen_range(70..130))
            .collect();
        let total: u64 = weights.iter().sum::<u64>().max(1);
        let mut votes: Vec<u64> = weights.iter().map(|w| valid * w / total).collect();
        let assigned: u64 = votes.iter().sum();
        votes[0] += valid - assigned;
        let (mut cast, mut valid) = (cast, valid);
        let manipulated = self.fraud.is_some_and(|f| self.manipulated(i, f));
        if let (Some(f), true) = (self.fraud, manipulated) {
            let mut frng = ChaCha20Rng::seed_from_u64(
                self.config.seed ^ (u64::from(i) << 20) ^ 0x00f4_a0d0_0000_0000,
            );
            match f.kind {
                FraudKind::Stuffing => {
                    let extra = (registered - cast) * frng.gen_range(30..80) / 100;
                    cast += extra;
                    valid += extra;
                    votes[0] += extra;
                }
                FraudKind::Rounding => {
                    // The count nearest to the next multiple of 5 % of the register at or
                    // above the turnout.
                    let percent = (cast * 20).div_ceil(registered).min(20) * 5;
                    let target = (registered * percent + 50) / 100;
                    if target >= cast {
                        let extra = target - cast;
                        cast += extra;
                        valid += extra;
                        votes[0] += extra;
                    } else {
                        let less = (cast - target).min(votes[0]);
                        cast -= less;
                        valid -= less;
                        votes[0] -= less;
                    }
                }
                FraudKind::Moving => {
                    let moved = votes[1] * 30 / 100;
                    votes[1] -= moved;
                    votes[0] += moved;
                }
            }
        }
        StationCounts {
            registered,
            cast,
            invalid,
            valid,
            votes,
            manipulated,
        }
    }

    /// Whether station `i` is manipulated: a draw per station, or per municipality for a
    /// counting centre moving votes.
    fn manipulated(&self, i: u32, f: Fraud) -> bool {
        let key = match f.kind {
            FraudKind::Moving => {
                let mut h = Sha256::new();
                h.update(self.unit_of(i).as_bytes());
                let d = h.finalize();
                u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
            }
            FraudKind::Stuffing | FraudKind::Rounding => u64::from(i),
        };
        let mut r = ChaCha20Rng::seed_from_u64(self.config.seed ^ key ^ 0x0f4a_0d5e_1ec7_0000);
        r.gen_range(0..10_000) < f.rate_per_10k
    }

    /// Station number `i` (0-based) with its key and protocol.
    pub fn station(&self, i: u32) -> SimStation {
        let mut rng = ChaCha20Rng::seed_from_u64(self.config.seed ^ (u64::from(i) << 20) ^ 0x5eed);
        let id = format!("PS-{:07}", i + 1);
        let signer = NoteSigner::from_seed(&id, &derive_seed(self.config.seed, b"station", i))
            .unwrap_or_else(|_| unreachable!("station ids are valid key names"));
        let StationCounts {
            registered,
            cast,
            invalid,
            valid,
            votes,
            ..
        } = self.counts(i, &mut rng);
        let mut correct = body(&id, 1, registered, cast, invalid, valid, &votes);
        // Preferences draw from their own stream: the rest stays as without candidates.
        let mut prng = ChaCha20Rng::seed_from_u64(
            self.config.seed ^ (u64::from(i) << 20) ^ 0x00b5_e1ec_7ed0_0000,
        );
        correct.preferences = self.preferences(&mut prng, &votes);
        let erroneous = rng.gen_range(0..10_000) < self.config.error_rate_per_10k;
        let (body, correct) = if erroneous {
            let mut bad = correct.clone();
            match rng.gen_range(0..3) {
                // Invalid ballots miscounted: valid + invalid ≠ ballots cast.
                0 => bad.counts[2].value += rng.gen_range(1..12),
                // A list's votes mistyped: sum(votes) ≠ valid.
                1 => bad.votes[1].value += rng.gen_range(1..40),
                // Ballots cast above the register.
                _ => {
                    bad.counts[1].value = registered + rng.gen_range(1..30);
                    bad.counts[3].value = bad.counts[1].value - bad.counts[2].value;
                    let extra = bad.counts[3].value - valid;
                    bad.votes[0].value += extra;
                }
            }
            (bad, Some(correct))
        } else {
            (correct, None)
        };
        let mut preference_error = None;
        let (body, correct) = match correct {
            None if self.config.candidates > 0
                && prng.gen_range(0..10_000) < self.config.error_rate_per_10k =>
            {
                let mut bad = body.clone();
                let length = self.list_length(self.district_of(i));
                preference_error = self.preference_error(&mut prng, &mut bad, &votes, length);
                if preference_error.is_some() {
                    (bad, Some(body))
                } else {
                    (body, None)
                }
            }
            c => (body, c),
        };
        SimStation {
            unit: self.unit_of(i),
            id,
            registered,
            signer,
            body,
            erroneous: correct.is_some(),
            preference_error,
            correct,
        }
    }

    /// A station's preference votes: in each list, some voters mark candidates, each marking
    /// between one and `marks` of them; a few candidates (the list's leaders, the same in
    /// every station) draw most marks, the rest a few each. No candidate gets more marks than
    /// the list's voters who mark, so every identity holds.
    fn preferences(&self, rng: &mut ChaCha20Rng, votes: &[u64]) -> Vec<ListPreferences> {
        let n = self.config.candidates;
        if n == 0 {
            return Vec::new();
        }
        let marks = u64::from(self.config.marks.clamp(1, n));
        let mut out: Vec<ListPreferences> = Vec::new();
        for (k, &v) in votes.iter().enumerate() {
            let markers = v * rng.gen_range(40..90) / 100;
            let total = markers * rng.gen_range(100..=100 * marks) / 100;
            // Popularity by ballot number, rotated per list so leaders are not always number 1.
            let weights: Vec<u64> = (0..n)
                .map(|c| {
                    let rank = u64::from((c + k as u32 * 3) % n);
                    (1_000_000 / ((rank + 1) * (rank + 1)) + 20_000) * rng.gen_range(70..130)
                })
                .collect();
            let sum: u64 = weights.iter().sum::<u64>().max(1);
            let candidates: Vec<CandidateVotes> = weights
                .iter()
                .enumerate()
                .map(|(c, w)| CandidateVotes {
                    number: c as u32 + 1,
                    votes: (total * w / sum).min(markers),
                    line: 0,
                })
                .filter(|c| c.votes > 0)
                .collect();
            if !candidates.is_empty() {
                out.push(ListPreferences {
                    list: LISTS[k].0.to_owned(),
                    candidates,
                });
            }
        }
        out.sort_by(|a, b| a.list.cmp(&b.list));
        out
    }

    /// Injects one preference error into `body`; `None` if the station has no preference
    /// votes to err on.
    fn preference_error(
        &self,
        rng: &mut ChaCha20Rng,
        body: &mut ProtocolBody,
        votes: &[u64],
        list_length: u32,
    ) -> Option<PreferenceError> {
        let li = rng.gen_range(0..body.preferences.len().max(1));
        let lp = body.preferences.get_mut(li)?;
        let list_votes = LISTS
            .iter()
            .position(|(id, _, _)| *id == lp.list)
            .map_or(0, |k| votes[k]);
        let kind = match rng.gen_range(0..3) {
            0 if lp.candidates.len() > 1 => PreferenceError::Moved,
            0 | 1 => PreferenceError::AboveList,
            _ => PreferenceError::UnknownCandidate,
        };
        match kind {
            PreferenceError::Moved => {
                // Votes of one candidate written in the next candidate's box.
                let from = rng.gen_range(0..lp.candidates.len() - 1);
                let moved = rng.gen_range(1..=lp.candidates[from].votes.min(5));
                lp.candidates[from].votes -= moved;
                lp.candidates[from + 1].votes += moved;
                lp.candidates.retain(|c| c.votes > 0);
            }
            PreferenceError::AboveList => {
                // The list's total written in a candidate's box, plus a slip.
                let c = rng.gen_range(0..lp.candidates.len());
                lp.candidates[c].votes = list_votes + rng.gen_range(1..20);
            }
            PreferenceError::UnknownCandidate => {
                // The last candidate's votes written one row below the list's end.
                let last = lp.candidates.len() - 1;
                lp.candidates[last].number = list_length + 1;
            }
        }
        Some(kind)
    }

    /// Whether the simulation amends a station: every other station with an injected error
    /// gets a corrected amendment; the rest stay quarantined.
    pub fn is_amended(&self, s: &SimStation) -> bool {
        s.erroneous && s.id.bytes().last().is_some_and(|b| b % 2 == 0)
    }

    /// The first station that gets an amendment, if any.
    pub fn first_amended(&self) -> Option<SimStation> {
        (0..self.config.stations)
            .map(|i| self.station(i))
            .find(|s| self.is_amended(s))
    }

    /// Writes `election.toml`, `stations.csv`, `protocols.notes` and `amendments.notes` into
    /// `out` (created if needed) and returns their paths. Key derivation and signing run on
    /// every core in order-preserving blocks; `progress` is told how many stations each block
    /// wrote.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_files(
        &self,
        out: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(out)?;
        let definition = out.join("election.toml");
        std::fs::write(&definition, self.definition_toml())?;
        let stations_path = out.join("stations.csv");
        let protocols_path = out.join(format!("protocols.{PACK_EXTENSION}"));
        let amendments_path = out.join(format!("amendments.{PACK_EXTENSION}"));
        let mut stations = BufWriter::new(File::create(&stations_path)?);
        let mut protocols = BufWriter::new(File::create(&protocols_path)?);
        let mut amendments = BufWriter::new(File::create(&amendments_path)?);
        writeln!(stations, "{STATIONS_HEADER}")?;
        let n = self.config.stations;
        let threads = std::thread::available_parallelism().map_or(2, |t| t.get() as u32);
        let block = 4096u32;
        let mut start = 0u32;
        while start < n {
            let end = (start + block * threads).min(n);
            let parts: Vec<io::Result<Vec<SignedStation>>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let lo = (start + t * block).min(end);
                        let hi = (lo + block).min(end);
                        s.spawn(move || {
                            (lo..hi)
                                .map(|i| {
                                    let st = self.station(i);
                                    let note = self.protocol_note(&st);
                                    let amendment = if self.is_amended(&st) {
                                        self.amendment_note(&st, &note)
                                    } else {
                                        None
                                    };
                                    (self.station_row(&st), note, amendment)
                                })
                                .collect()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .map_err(|_| io::Error::other("signing thread panicked"))
                    })
                    .collect()
            });
            for part in parts {
                let part = part?;
                let count = part.len() as u64;
                for (row, note, amendment) in part {
                    writeln!(stations, "{row}")?;
                    write_note(&mut protocols, &note)?;
                    if let Some(a) = amendment {
                        write_note(&mut amendments, &a)?;
                    }
                }
                progress(count);
            }
            start = end;
        }
        stations.into_inner()?.sync_all()?;
        protocols.into_inner()?.sync_all()?;
        amendments.into_inner()?.sync_all()?;
        Ok(vec![
            definition,
            stations_path,
            protocols_path,
            amendments_path,
        ])
    }

    /// The stations file row of a station: `id,unit,registered,key`.
    pub fn station_row(&self, s: &SimStation) -> String {
        format!(
            "{},{},{},{}",
            s.id,
            s.unit,
            s.registered,
            s.signer.verifier().to_vkey()
        )
    }

    /// The signed protocol note of a station.
    pub fn protocol_note(&self, s: &SimStation) -> Vec<u8> {
        s.signer.sign_text(&s.body.to_text()).to_bytes()
    }

    /// For a station with an injected error, an amendment with the correct numbers, signed by
    /// the station and co-signed by the central commission, superseding `superseded`.
    pub fn amendment_note(&self, s: &SimStation, superseded: &[u8]) -> Option<Vec<u8>> {
        let mut body = s.correct.clone()?;
        body.revision = 2;
        body.kind = BodyKind::Amendment {
            supersedes: Sha256::digest(superseded).into(),
            reason: "recount by the municipal commission corrected the protocol".into(),
        };
        let mut note = Note::unsigned(&body.to_text()).ok()?;
        note.sign(&s.signer);
        note.sign(&self.authority);
        Some(note.to_bytes())
    }

    /// Submissions that intake must refuse, each with what it tries: a protocol signed by
    /// another station's key, a protocol altered after signing, and a replayed revision 1
    /// of the first amended station (after its amendment is in).
    pub fn attacks(&self) -> Vec<(String, Vec<u8>)> {
        let amended = self.first_amended();
        let amended = amended.as_ref();
        let a = self.station(0);
        let b = self.station(1.min(self.config.stations.saturating_sub(1)));
        let mut out = Vec::new();
        // Station B's numbers signed with station A's key.
        let mut forged = b.body.clone();
        forged.votes[0].value += 50;
        forged.counts[3].value += 50;
        out.push((
            format!("protocol for {} signed with the key of {}", b.id, a.id),
            a.signer.sign_text(&forged.to_text()).to_bytes(),
        ));
        // A's protocol with one number changed after signing.
        let genuine = String::from_utf8(self.protocol_note(&a)).unwrap_or_default();
        let v = &a.body.votes[0];
        let tampered = genuine.replacen(
            &format!("votes: {} {}\n", v.name, v.value),
            &format!("votes: {} {}\n", v.name, v.value + 100),
            1,
        );
        out.push((
            format!("protocol of {} altered after signing", a.id),
            tampered.into_bytes(),
        ));
        if let Some(s) = amended {
            out.push((
                format!(
                    "replay of {}'s superseded revision 1 with a new signature line",
                    s.id
                ),
                {
                    let mut n = Note::unsigned(&s.body.to_text())
                        .unwrap_or_else(|_| s.signer.sign_text(&s.body.to_text()));
                    n.sign(&s.signer);
                    n.sign(&self.authority);
                    n.to_bytes()
                },
            ));
        }
        out
    }
}

fn body(
    id: &str,
    revision: u32,
    registered: u64,
    cast: u64,
    invalid: u64,
    valid: u64,
    votes: &[u64],
) -> ProtocolBody {
    let c = |name: &str, value| Counted {
        name: name.to_owned(),
        value,
        line: 0,
    };
    ProtocolBody {
        kind: BodyKind::Protocol,
        election: ELECTION_ID.to_owned(),
        contest: CONTEST_ID.to_owned(),
        station: id.to_owned(),
        revision,
        counts: vec![
            c("registered", registered),
            c("ballots-cast", cast),
            c("invalid", invalid),
            c("valid", valid),
        ],
        votes: LISTS
            .iter()
            .zip(votes)
            .map(|((l, _, _), &v)| c(l, v))
            .collect(),
        preferences: Vec::new(),
        scan: None,
    }
}

/// One station's row, signed protocol and amendment (if it gets one), as written to files.
type SignedStation = (String, Vec<u8>, Option<Vec<u8>>);

/// A 32-byte key seed derived from the simulation seed, a purpose and a number.
fn derive_seed(seed: u64, purpose: &[u8], n: u32) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"urna-sim-key\n");
    h.update(seed.to_be_bytes());
    h.update(purpose);
    h.update(n.to_be_bytes());
    h.finalize().into()
}

/// Header line of the stations file.
pub use urna_model::definition::STATIONS_HEADER;
