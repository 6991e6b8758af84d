//! The election definition: what is being elected, where, by whom, and which rules a protocol
//! must satisfy.
//!
//! It lives in two human-editable files in a data directory:
//! - `election.toml`: the election, contests, lists, the unit hierarchy (country → district →
//!   municipality), authority keys, the named counts on a protocol and the validation rules.
//! - the stations file it names (CSV: `id,unit,registered,key`), one row per polling station
//!   with its registered voters and its C2SP verifier key. A million stations are a million
//!   rows; a CSV keeps that fast to load and easy to produce from a commission's registry.
//!
//! Loading checks everything a later step relies on: unknown fields, duplicate ids, dangling
//! references, malformed keys and rules all fail with the file, line, field and rule.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::note::{KeyId, NoteVerifier};
use crate::rules::{Rule, RuleSource, Severity, default_rules};

/// Counts a protocol carries when the definition names none.
pub const DEFAULT_COUNTS: [&str; 4] = ["registered", "ballots-cast", "invalid", "valid"];

/// Level names by depth in the unit tree, used when a unit names no level.
const DEFAULT_LEVELS: [&str; 3] = ["country", "district", "municipality"];

/// Index of a station in [`Election::stations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StationIdx(pub u32);

/// Index of a unit in [`Election::units`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitIdx(pub u32);

/// Index of a contest in [`Election::contests`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContestIdx(pub u16);

/// A loaded, checked election definition.
#[derive(Debug, Clone)]
pub struct Election {
    /// Election identifier, written in every protocol (`election:`).
    pub id: String,
    /// Human name.
    pub name: String,
    /// Election day, as written (ISO 8601 date).
    pub date: Option<String>,
    /// Where the data came from and how keys were made, e.g. for imported historical results.
    pub provenance: Option<String>,
    /// Contests, in definition order.
    pub contests: Vec<Contest>,
    /// Lists (parties, coalitions, candidates), in definition order.
    pub lists: Vec<List>,
    /// Units; parents always come before their children.
    pub units: Vec<Unit>,
    /// Polling stations.
    pub stations: Vec<Station>,
    /// Authorities that may co-sign amendments for the units under their scope.
    pub authorities: Vec<Authority>,
    /// Named counts on every protocol, in definition order.
    pub counts: Vec<String>,
    /// Validation rules, errors and warnings.
    pub rules: Vec<Rule>,
    /// The stations file, as named in `[stations] file` (relative to the definition).
    pub stations_file: String,
    /// SHA-256 over `election.toml` ‖ stations file, as loaded: what a genesis entry commits to.
    pub digest: [u8; 32],
    station_index: HashMap<String, StationIdx>,
}

/// One contest (e.g. the Assembly), with the lists on its ballot.
#[derive(Debug, Clone)]
pub struct Contest {
    /// Identifier, written in every protocol (`contest:`).
    pub id: String,
    /// Human name.
    pub name: String,
    /// Indices into [`Election::lists`], in ballot order.
    pub lists: Vec<usize>,
    /// How its seats are allocated, if the definition says (`seats = { rules = … }`).
    pub seats: Option<SeatConfig>,
}

/// The seat rules a contest names: a rule set of `urna-tally` (built-in name), the seats to
/// fill for rule sets that name no districts, and the published seed of draws by lot.
/// The definition only names them; `urna-tally` checks that they exist and fit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatConfig {
    /// The rule set, e.g. `albania` (see `urna seats --list-rules`).
    pub rules: String,
    /// Seats to fill, for rule sets without districts (e.g. `generic`).
    pub house: Option<u32>,
    /// The published seed for draws by lot, overriding the rule set's.
    pub tie_seed: Option<String>,
}

/// A list on the ballot.
#[derive(Debug, Clone)]
pub struct List {
    /// Identifier used in `votes:` lines.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Party, coalition (thresholds may differ), or other (votes for no list, e.g. independent
    /// candidates: counted in the valid votes, never given list seats).
    pub kind: ListKind,
    /// The community (national minority) it represents, as named in seat rule sets.
    pub community: Option<String>,
}

/// What kind of contestant a list is, for seat allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    /// A party or a group of citizens.
    #[default]
    Party,
    /// A coalition of parties running as one list.
    Coalition,
    /// Votes for no list (independent candidates and the like).
    Other,
}

/// A unit of the hierarchy (country, district, municipality…).
#[derive(Debug, Clone)]
pub struct Unit {
    /// Identifier.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Level name (`country`, `district`, `municipality` by default).
    pub level: String,
    /// Parent unit; `None` for the root.
    pub parent: Option<UnitIdx>,
    /// Depth from the root (0 for the country).
    pub depth: u32,
}

/// A polling station.
#[derive(Debug, Clone)]
pub struct Station {
    /// Identifier, written in its protocols (`station:`) and used as its key name.
    pub id: String,
    /// The unit it belongs to (a leaf of the hierarchy).
    pub unit: UnitIdx,
    /// Voters on its register.
    pub registered: u64,
    /// Its public key (raw Ed25519), checked against `key_id` at load.
    pub public_key: [u8; 32],
    /// Its signed-note key ID.
    pub key_id: KeyId,
}

/// A higher commission whose key co-signs amendments and decisions.
#[derive(Debug, Clone)]
pub struct Authority {
    /// Human name of the institution.
    pub name: String,
    /// The unit it has authority over (and everything below it).
    pub scope: UnitIdx,
    /// Its key.
    pub key: NoteVerifier,
}

/// Why a definition could not be loaded. Every variant names the file and line.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// File name.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML syntax or shape error (unknown field, wrong type…), as reported by the TOML parser.
    #[error("{file}: {message}")]
    Toml {
        /// File name.
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A semantic rule is broken at a place in a file.
    #[error("{file}:{line}: field `{field}`: {rule}")]
    Invalid {
        /// File name.
        file: String,
        /// Line (1-based).
        line: usize,
        /// The field.
        field: String,
        /// The rule broken, with the offending value.
        rule: String,
    },
}

impl Election {
    /// Loads `election.toml` (or another file) and the stations file it names, relative to it.
    ///
    /// # Errors
    /// [`DefinitionError`] naming file, line, field and rule.
    pub fn load(path: &Path) -> Result<Self, DefinitionError> {
        let file = path.display().to_string();
        let toml_text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Io {
            file: file.clone(),
            source,
        })?;
        let raw = parse_raw(&file, &toml_text)?;
        let stations_name = raw.stations.file.get_ref().clone();
        let stations_path = path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(&stations_name);
        let stations_text =
            std::fs::read_to_string(&stations_path).map_err(|source| DefinitionError::Io {
                file: stations_path.display().to_string(),
                source,
            })?;
        Self::from_raw(
            &file,
            &toml_text,
            raw,
            &stations_path.display().to_string(),
            &stations_text,
        )
    }

    /// Builds a definition from the texts of the two files; names are used in errors only.
    ///
    /// # Errors
    /// [`DefinitionError`] naming file, line, field and rule.
    pub fn from_texts(
        toml_name: &str,
        toml_text: &str,
        stations_name: &str,
        stations_text: &str,
    ) -> Result<Self, DefinitionError> {
        let raw = parse_raw(toml_name, toml_text)?;
        Self::from_raw(toml_name, toml_text, raw, stations_name, stations_text)
    }

    /// Checks a parsed `election.toml` (whose text is kept for line numbers) and its stations.
    fn from_raw(
        toml_name: &str,
        toml_text: &str,
        raw: RawDefinition,
        stations_name: &str,
        stations_text: &str,
    ) -> Result<Self, DefinitionError> {
        let at =
            |span: std::ops::Range<usize>, field: &str, rule: String| DefinitionError::Invalid {
                file: toml_name.to_owned(),
                line: line_at(toml_text, span.start),
                field: field.to_owned(),
                rule,
            };
        check_ident(&raw.election.id, "election.id")
            .map_err(|r| at(raw.election.id.span(), "election.id", r))?;

        // Lists.
        let mut list_index: HashMap<&str, usize> = HashMap::new();
        let mut lists = Vec::new();
        for l in &raw.lists {
            check_ident(&l.id, "lists.id").map_err(|r| at(l.id.span(), "lists.id", r))?;
            if list_index.insert(l.id.get_ref(), lists.len()).is_some() {
                return Err(at(
                    l.id.span(),
                    "lists.id",
                    format!("duplicate list id {:?}", l.id.get_ref()),
                ));
            }
            lists.push(List {
                id: l.id.get_ref().clone(),
                name: l.name.clone(),
                kind: l.kind,
                community: l.community.clone(),
            });
        }

        // Contests.
        let mut contests = Vec::new();
        let mut contest_ids: HashMap<&str, ()> = HashMap::new();
        for c in &raw.contests {
            check_ident(&c.id, "contests.id").map_err(|r| at(c.id.span(), "contests.id", r))?;
            if contest_ids.insert(c.id.get_ref(), ()).is_some() {
                return Err(at(
                    c.id.span(),
                    "contests.id",
                    format!("duplicate contest id {:?}", c.id.get_ref()),
                ));
            }
            let mut idx = Vec::new();
            for l in &c.lists {
                let i = *list_index.get(l.get_ref().as_str()).ok_or_else(|| {
                    at(
                        l.span(),
                        "contests.lists",
                        format!("list {:?} is not defined in [[lists]]", l.get_ref()),
                    )
                })?;
                if idx.contains(&i) {
                    return Err(at(
                        l.span(),
                        "contests.lists",
                        format!("list {:?} appears twice", l.get_ref()),
                    ));
                }
                idx.push(i);
            }
            if idx.is_empty() {
                return Err(at(
                    c.id.span(),
                    "contests.lists",
                    "a contest needs at least one list".into(),
                ));
            }
            contests.push(Contest {
                id: c.id.get_ref().clone(),
                name: c.name.clone(),
                lists: idx,
                seats: c.seats.clone(),
            });
        }
        if contests.is_empty() {
            return Err(at(
                raw.election.id.span(),
                "contests",
                "at least one [[contests]] is required".into(),
            ));
        }
        if contests.len() > usize::from(u16::MAX) {
            return Err(at(
                raw.election.id.span(),
                "contests",
                "too many contests".into(),
            ));
        }

        // Units: parents must be defined before children, exactly one root.
        let mut unit_index: HashMap<&str, UnitIdx> = HashMap::new();
        let mut units: Vec<Unit> = Vec::new();
        for u in &raw.units {
            check_ident(&u.id, "units.id").map_err(|r| at(u.id.span(), "units.id", r))?;
            let (parent, depth) = match &u.parent {
                None => {
                    if !units.is_empty() {
                        return Err(at(
                            u.id.span(),
                            "units.parent",
                            format!(
                                "unit {:?} has no parent, but only the first unit (the country) may be the root",
                                u.id.get_ref()
                            ),
                        ));
                    }
                    (None, 0)
                }
                Some(p) => {
                    let pi = *unit_index.get(p.get_ref().as_str()).ok_or_else(|| {
                        at(
                            p.span(),
                            "units.parent",
                            format!(
                                "parent {:?} is not a unit defined above this one",
                                p.get_ref()
                            ),
                        )
                    })?;
                    (Some(pi), units[pi.0 as usize].depth + 1)
                }
            };
            if units.is_empty() && parent.is_some() {
                return Err(at(
                    u.id.span(),
                    "units.parent",
                    "the first unit must be the root (no parent)".into(),
                ));
            }
            let idx = UnitIdx(
                u32::try_from(units.len())
                    .map_err(|_| at(u.id.span(), "units", "too many units".into()))?,
            );
            if unit_index.insert(u.id.get_ref(), idx).is_some() {
                return Err(at(
                    u.id.span(),
                    "units.id",
                    format!("duplicate unit id {:?}", u.id.get_ref()),
                ));
            }
            let level = u.level.clone().unwrap_or_else(|| {
                DEFAULT_LEVELS
                    .get(depth as usize)
                    .map_or_else(|| format!("level-{depth}"), |s| (*s).to_owned())
            });
            units.push(Unit {
                id: u.id.get_ref().clone(),
                name: u.name.clone(),
                level,
                parent,
                depth,
            });
        }
        if units.is_empty() {
            return Err(at(
                raw.election.id.span(),
                "units",
                "at least one unit (the country) is required".into(),
            ));
        }
        let mut has_children = vec![false; units.len()];
        for u in &units {
            if let Some(p) = u.parent {
                has_children[p.0 as usize] = true;
            }
        }

        // Counts.
        let counts: Vec<String> = match &raw.counts {
            None => DEFAULT_COUNTS.iter().map(|s| (*s).to_owned()).collect(),
            Some(c) => {
                let mut seen = Vec::new();
                for n in c {
                    crate::protocol::check_count_name(n.get_ref())
                        .map_err(|r| at(n.span(), "counts", r.to_owned()))?;
                    if seen.contains(n.get_ref()) {
                        return Err(at(
                            n.span(),
                            "counts",
                            format!("duplicate count {:?}", n.get_ref()),
                        ));
                    }
                    seen.push(n.get_ref().clone());
                }
                seen
            }
        };

        // Rules.
        let rule_sources: Vec<(RuleSource, Option<std::ops::Range<usize>>)> = match &raw.rules {
            None => default_rules().into_iter().map(|r| (r, None)).collect(),
            Some(rs) => rs
                .iter()
                .map(|r| {
                    (
                        RuleSource {
                            id: r.id.get_ref().clone(),
                            severity: r.severity,
                            check: r.check.get_ref().clone(),
                            message: r.message.clone(),
                        },
                        Some(r.check.span()),
                    )
                })
                .collect(),
        };
        let mut rules: Vec<Rule> = Vec::new();
        for (src, span) in rule_sources {
            let span = span.unwrap_or(0..0);
            if rules.iter().any(|r| r.id == src.id) {
                return Err(at(
                    span,
                    "rules.id",
                    format!("duplicate rule id {:?}", src.id),
                ));
            }
            let rule = Rule::compile(&src, &counts).map_err(|e| {
                at(
                    span.clone(),
                    "rules.check",
                    format!("rule {:?}: {e}", src.id),
                )
            })?;
            rules.push(rule);
        }

        // Authorities.
        let mut authorities = Vec::new();
        for a in &raw.authorities {
            let key = NoteVerifier::from_vkey(a.key.get_ref())
                .map_err(|e| at(a.key.span(), "authorities.key", e.to_string()))?;
            let scope = match &a.scope {
                None => UnitIdx(0),
                Some(s) => *unit_index.get(s.get_ref().as_str()).ok_or_else(|| {
                    at(
                        s.span(),
                        "authorities.scope",
                        format!("unit {:?} is not defined", s.get_ref()),
                    )
                })?,
            };
            if authorities
                .iter()
                .any(|o: &Authority| o.key.name() == key.name())
            {
                return Err(at(
                    a.key.span(),
                    "authorities.key",
                    format!("duplicate authority key name {:?}", key.name()),
                ));
            }
            authorities.push(Authority {
                name: a.name.clone(),
                scope,
                key,
            });
        }

        // Stations.
        let stations = parse_stations(stations_name, stations_text, &unit_index, &has_children)?;
        let mut station_index = HashMap::with_capacity(stations.len());
        for (i, s) in stations.iter().enumerate() {
            let idx = StationIdx(u32::try_from(i).map_err(|_| DefinitionError::Invalid {
                file: stations_name.to_owned(),
                line: i + 2,
                field: "id".into(),
                rule: "too many stations".into(),
            })?);
            if station_index.insert(s.id.clone(), idx).is_some() {
                return Err(DefinitionError::Invalid {
                    file: stations_name.to_owned(),
                    line: i + 2,
                    field: "id".into(),
                    rule: format!("duplicate station id {:?}", s.id),
                });
            }
        }
        if authorities
            .iter()
            .any(|a| station_index.contains_key(a.key.name()))
        {
            return Err(at(
                raw.election.id.span(),
                "authorities.key",
                "an authority key name equals a station id; key names must be distinct".into(),
            ));
        }

        let mut h = Sha256::new();
        h.update(toml_text.as_bytes());
        h.update(stations_text.as_bytes());

        Ok(Self {
            id: raw.election.id.get_ref().clone(),
            name: raw.election.name,
            date: raw.election.date,
            provenance: raw.election.provenance,
            contests,
            lists,
            units,
            stations,
            authorities,
            counts,
            rules,
            stations_file: raw.stations.file.get_ref().clone(),
            digest: h.finalize().into(),
            station_index,
        })
    }

    /// The origin line of this election's transparency log: `urna/<election id>`. The log
    /// signs its checkpoints under this name, and a verifier expects it.
    pub fn log_origin(&self) -> String {
        format!("urna/{}", self.id)
    }

    /// The station with this id.
    pub fn station(&self, id: &str) -> Option<StationIdx> {
        self.station_index.get(id).copied()
    }

    /// The contest with this id.
    pub fn contest(&self, id: &str) -> Option<ContestIdx> {
        self.contests
            .iter()
            .position(|c| c.id == id)
            .and_then(|i| u16::try_from(i).ok())
            .map(ContestIdx)
    }

    /// The units from `unit` up to the root, starting with `unit` itself.
    pub fn ancestry(&self, unit: UnitIdx) -> impl Iterator<Item = UnitIdx> + '_ {
        std::iter::successors(Some(unit), |u| self.units[u.0 as usize].parent)
    }

    /// Whether unit `inner` is `outer` or lies below it.
    pub fn unit_within(&self, inner: UnitIdx, outer: UnitIdx) -> bool {
        self.ancestry(inner).any(|u| u == outer)
    }

    /// Position of a named count in [`Election::counts`].
    pub fn count_position(&self, name: &str) -> Option<usize> {
        self.counts.iter().position(|c| c == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    election: RawElection,
    #[serde(default)]
    contests: Vec<RawContest>,
    #[serde(default)]
    lists: Vec<RawList>,
    #[serde(default)]
    units: Vec<RawUnit>,
    stations: RawStations,
    #[serde(default)]
    authorities: Vec<RawAuthority>,
    counts: Option<Vec<Spanned<String>>>,
    rules: Option<Vec<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElection {
    id: Spanned<String>,
    name: String,
    date: Option<String>,
    provenance: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContest {
    id: Spanned<String>,
    name: String,
    lists: Vec<Spanned<String>>,
    seats: Option<SeatConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    id: Spanned<String>,
    name: String,
    #[serde(default)]
    kind: ListKind,
    community: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    id: Spanned<String>,
    name: String,
    level: Option<String>,
    parent: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStations {
    file: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthority {
    name: String,
    scope: Option<Spanned<String>>,
    key: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    severity: Severity,
    check: Spanned<String>,
    message: String,
}

fn parse_raw(file: &str, text: &str) -> Result<RawDefinition, DefinitionError> {
    toml::from_str(text).map_err(|e| DefinitionError::Toml {
        file: file.to_owned(),
        message: e.to_string(),
    })
}

/// Header of the stations file.
pub const STATIONS_HEADER: &str = "id,unit,registered,key";

fn parse_stations(
    file: &str,
    text: &str,
    units: &HashMap<&str, UnitIdx>,
    has_children: &[bool],
) -> Result<Vec<Station>, DefinitionError> {
    let err = |line: usize, field: &str, rule: String| DefinitionError::Invalid {
        file: file.to_owned(),
        line,
        field: field.to_owned(),
        rule,
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim_end() == STATIONS_HEADER => {}
        _ => {
            return Err(err(
                1,
                "header",
                format!("the first line must be `{STATIONS_HEADER}`"),
            ));
        }
    }
    let mut stations = Vec::new();
    for (i, l) in lines {
        let line = i + 1;
        if l.is_empty() {
            continue;
        }
        let mut f = l.split(',');
        let (Some(id), Some(unit), Some(registered), Some(key), None) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            return Err(err(
                line,
                "row",
                "expected 4 comma-separated fields: id,unit,registered,key".into(),
            ));
        };
        crate::protocol::check_id(id).map_err(|r| err(line, "id", r.to_owned()))?;
        let unit_idx = *units.get(unit).ok_or_else(|| {
            err(
                line,
                "unit",
                format!("unit {unit:?} is not defined in [[units]]"),
            )
        })?;
        if has_children[unit_idx.0 as usize] {
            return Err(err(
                line,
                "unit",
                format!("unit {unit:?} has sub-units; stations belong to the lowest level"),
            ));
        }
        let registered = crate::protocol::parse_count(registered)
            .map_err(|r| err(line, "registered", r.to_owned()))?;
        let verifier =
            crate::note::parse_vkey_parts(key).map_err(|e| err(line, "key", e.to_string()))?;
        if verifier.0 != id {
            return Err(err(
                line,
                "key",
                format!("key name {:?} must equal the station id {id:?}", verifier.0),
            ));
        }
        stations.push(Station {
            id: id.to_owned(),
            unit: unit_idx,
            registered,
            public_key: verifier.2,
            key_id: verifier.1,
        });
    }
    Ok(stations)
}

fn check_ident(s: &Spanned<String>, _field: &str) -> Result<(), String> {
    crate::protocol::check_id(s.get_ref()).map_err(|r| format!("{:?}: {r}", s.get_ref()))
}

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests;
