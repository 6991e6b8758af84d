//! The election definition: what is being elected, where, by whom, and which rules a protocol
//! must satisfy.
//!
//! It lives in two human-editable files in a data directory:
//! - `election.toml`: the election, contests, lists (with their candidates, for open lists), the
//!   unit hierarchy (country → district → municipality), authority keys, the named counts on a
//!   protocol and the validation rules.
//! - the stations file it names (CSV: `id,unit,registered,key`), one row per polling station
//!   with its registered voters and its C2SP verifier key. A million stations are a million
//!   rows; a CSV keeps that fast to load and easy to produce from a commission's registry.
//!   It may add `name,address` columns (`id,unit,registered,key,name,address`, RFC 4180
//!   quoting, an empty field for none), shown with the station on the results page, and
//!   `name:<lang>` and `address:<lang>` columns for other languages and scripts (any order
//!   after the first four, each at most once, tags [`NAME_LANGUAGES`]).
//! - Lists and units may give their name in other languages and scripts
//!   (`names = { sq = "…", mk = "…", "sr-Cyrl" = "…" }`, tags [`NAME_LANGUAGES`]).
//! - optionally, the GeoJSON file of unit shapes for the results page's map (`[shapes] file`,
//!   beside `election.toml`), named with its SHA-256 (`sha256`) so that the definition, and
//!   through it the genesis, commits to its bytes; `property` names the feature property
//!   holding the unit id (default `unit`). Its geometry is read by `urna-geo`.
//!
//! Loading checks everything a later step relies on: unknown fields, duplicate ids, dangling
//! references, malformed keys and rules all fail with the file, line, field and rule.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::colour::{self, Rgb};
use crate::note::{KeyId, NoteVerifier};
use crate::rules::{BuiltinRule, Rule, RuleSource, Severity, builtin_rules, default_rules};

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

/// Index of a candidate in [`Election::candidates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CandidateIdx(pub u32);

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
    /// Candidates of every list, in definition order (see [`List::candidates`]).
    pub candidates: Vec<Candidate>,
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
    /// The built-in checks of preference votes, with the severity and message the definition
    /// gives them (see [`crate::rules::Builtin`]).
    pub builtin_rules: Vec<BuiltinRule>,
    /// The stations file, as named in `[stations] file` (relative to the definition).
    pub stations_file: String,
    /// The unit shapes for the results page's map (`[shapes]`), if the definition names them.
    pub shapes: Option<ShapesRef>,
    /// SHA-256 over `election.toml` ‖ stations file, as loaded: what a genesis entry commits to.
    pub digest: [u8; 32],
    station_index: station_index::StationIndex,
    /// Per list, indexed by ballot number: the position in [`List::candidates`] of the first
    /// candidate with that number, or [`NO_CANDIDATE`]. Intake binds every `preferences:`
    /// line through it in constant time instead of a binary search per line.
    candidate_positions: Vec<Vec<u32>>,
}

/// [`Election::candidate_positions`]'s mark for a number no candidate of the list has.
const NO_CANDIDATE: u32 = u32::MAX;

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
    /// The preference rule of its ballot (`preferences = { marks = … }`); `None` for closed
    /// lists, where a voter marks no candidate.
    pub preferences: Option<PreferenceRule>,
}

/// How voters mark candidates on an open-list ballot: only candidates of the list they vote
/// for, at most `marks` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreferenceRule {
    /// How many candidates a voter may mark.
    pub marks: Marks,
}

/// The most candidates one voter may mark (`marks = 10` or `marks = "all"`). This is ballot
/// data, set per contest from the law. For example:
/// - Kosovo: one to ten candidates of the voted list under Law 08/L-228 on General Elections,
///   Art. 110.4 (`marks = 10`); one under Law 03/L-073 as adopted in 2008, Art. 110.4.
///   Sources: <https://www.te.gob.mx/vota_elections/thesaurus/article/62645/16718/175> (Law on
///   General Elections in the Republic of Kosovo, Art. 110) and
///   <https://www.te.gob.mx/vota_elections/thesaurus/article/32158/16375/175> (Law No. 03/L-073,
///   Art. 110).
/// - Albania: the voter marks the list and/or "the preferred candidate" of the list, Electoral
///   Code Art. 106 as amended (`marks = 1`). Source: <https://www.idea.int/node/158303>
///   (International IDEA, Albania, citing the Electoral Code last amended February 2025).
/// - Bosnia and Herzegovina: candidates of the one voted list, without a fixed number
///   (`marks = "all"`); check the Election Law's current text before relying on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marks {
    /// At most this many (at least 1).
    AtMost(u32),
    /// Any number of the list's candidates (Bosnia and Herzegovina).
    All,
}

/// A candidate of an open list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Index of its list in [`Election::lists`].
    pub list: usize,
    /// Its ballot number within the list, used in `preferences:` lines.
    pub number: u32,
    /// Name, as on the ballot.
    pub name: String,
    /// Gender, where the law uses it (quotas).
    pub gender: Option<Gender>,
    /// Withdrawn after the ballots were printed: still on the ballot, takes no seat.
    pub withdrawn: bool,
    /// The unit (electoral district) where the candidate stands, when the list has different
    /// candidates in different districts; `None` for the whole contest.
    pub unit: Option<UnitIdx>,
}

/// A candidate's gender, as the law records it (quotas count it): `"f"` or `"m"` in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
pub enum Gender {
    /// Female (`"f"`).
    #[serde(rename = "f")]
    Female,
    /// Male (`"m"`).
    #[serde(rename = "m")]
    Male,
}

impl Gender {
    /// The other gender.
    pub fn other(self) -> Self {
        match self {
            Self::Female => Self::Male,
            Self::Male => Self::Female,
        }
    }

    /// The one-letter spelling used in files and explanations.
    pub fn letter(self) -> &'static str {
        match self {
            Self::Female => "f",
            Self::Male => "m",
        }
    }
}

impl std::fmt::Display for Gender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.letter())
    }
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
    /// Its candidates (indices into [`Election::candidates`]) by increasing ballot number;
    /// empty for a closed list.
    pub candidates: Vec<CandidateIdx>,
    /// Its colour on the results page: the definition's `colour`, checked for contrast, or the
    /// fallback palette's colour for its position ([`crate::colour`]).
    pub colour: Rgb,
    /// A short name for charts and narrow screens (`short`, at most 16 characters); its id when
    /// none is given.
    pub short: String,
    /// Its name in other languages and scripts (`names`, [`NAME_LANGUAGES`]).
    pub names: Names,
}

/// Prefixes a list id may not begin with: the seat rules name a community's collective list
/// `pool:<community>`, a community in a bonus-seat contest `community:<community>` and lists
/// that pool their votes (an apparentment) `alliance:<name>`, and a list of that name would be
/// taken for them.
pub const RESERVED_LIST_PREFIXES: [&str; 3] = ["pool:", "community:", "alliance:"];

/// Names by language tag (`names = { sq = "…", mk = "…" }`), in tag order.
pub type Names = std::collections::BTreeMap<String, String>;

/// The language tags a name may be given in: Albanian, Macedonian (Cyrillic), Serbian in
/// Cyrillic and Latin script, Bosnian, Croatian, Montenegrin, English. The results page picks
/// one by its own language and falls back to `name` (see `web/names.js`).
pub const NAME_LANGUAGES: [&str; 8] = ["sq", "mk", "sr-Cyrl", "sr-Latn", "bs", "hr", "cnr", "en"];

/// Most characters of a name, a station's name or its address.
const MAX_NAME: usize = 200;

/// Checks a `names` table: known tags, names of 1 to [`MAX_NAME`] characters on one line.
fn check_names(names: &Names) -> Result<(), String> {
    for (tag, name) in names {
        if !NAME_LANGUAGES.contains(&tag.as_str()) {
            return Err(format!(
                "language {tag:?} is not one of {}",
                NAME_LANGUAGES.join(", ")
            ));
        }
        check_text(name).map_err(|r| format!("{tag}: {r}"))?;
    }
    Ok(())
}

/// A name or address: 1 to [`MAX_NAME`] characters, no control characters.
fn check_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty()
        || text.chars().count() > MAX_NAME
        || text.chars().any(char::is_control)
    {
        return Err(format!(
            "{text:?}: must be 1 to {MAX_NAME} characters without line breaks or control characters"
        ));
    }
    Ok(())
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
    /// One independent candidate standing alone: at most one seat, and no compensatory
    /// seats.
    Independent,
    /// Votes for no list (independent candidates no seat is allocated to, and the like).
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
    /// Its name in other languages and scripts (`names`, [`NAME_LANGUAGES`]).
    pub names: Names,
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
    /// Its name and address, from the stations file's optional columns; `None` without any.
    /// Boxed: most stations files have none of these columns, and a million stations would
    /// otherwise carry 96 bytes each for nothing.
    about: Option<Box<station_columns::About>>,
}

/// No names in other languages.
static NO_NAMES: Names = Names::new();

impl Station {
    /// Its name, from the stations file's optional `name` column.
    pub fn name(&self) -> Option<&str> {
        self.about.as_ref()?.name.as_deref()
    }

    /// Its address, from the stations file's optional `address` column.
    pub fn address(&self) -> Option<&str> {
        self.about.as_ref()?.address.as_deref()
    }

    /// Its name in other languages and scripts (`name:<lang>` columns, [`NAME_LANGUAGES`]).
    pub fn names(&self) -> &Names {
        self.about.as_ref().map_or(&NO_NAMES, |a| &a.names)
    }

    /// Its address in other languages and scripts (`address:<lang>` columns).
    pub fn addresses(&self) -> &Names {
        self.about.as_ref().map_or(&NO_NAMES, |a| &a.addresses)
    }
}

/// The GeoJSON file of unit shapes a definition names (`[shapes]`): `election.toml` commits
/// to its SHA-256, so the genesis commits to the shapes through the definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapesRef {
    /// The file, relative to the definition, beside it (a file name).
    pub file: String,
    /// The SHA-256 of its bytes.
    pub sha256: [u8; 32],
    /// The feature property holding the unit id (`property`, default `"unit"`).
    pub property: String,
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
        let election = Self::from_raw(
            &file,
            &toml_text,
            raw,
            &stations_path.display().to_string(),
            &stations_text,
        )?;
        if let Some(shapes) = &election.shapes {
            let shapes_path = path
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(&shapes.file);
            let bytes = std::fs::read(&shapes_path).map_err(|source| DefinitionError::Io {
                file: shapes_path.display().to_string(),
                source,
            })?;
            shapes
                .check(&bytes)
                .map_err(|rule| DefinitionError::Invalid {
                    file: file.clone(),
                    line: line_at(&toml_text, toml_text.find("[shapes]").unwrap_or(0)),
                    field: "shapes.sha256".into(),
                    rule,
                })?;
        }
        Ok(election)
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
            if let Some(prefix) = reserved_list_prefix(l.id.get_ref()) {
                return Err(at(
                    l.id.span(),
                    "lists.id",
                    format!(
                        "{:?} begins with {prefix:?}, which is reserved for the seat rules' \
                         collective lists and community contests",
                        l.id.get_ref()
                    ),
                ));
            }
            if list_index.insert(l.id.get_ref(), lists.len()).is_some() {
                return Err(at(
                    l.id.span(),
                    "lists.id",
                    format!("duplicate list id {:?}", l.id.get_ref()),
                ));
            }
            let colour = match &l.colour {
                Some(c) => {
                    colour::check(c.get_ref()).map_err(|r| at(c.span(), "lists.colour", r))?
                }
                None => Rgb::fallback(lists.len()),
            };
            let short = match &l.short {
                Some(s)
                    if s.get_ref().trim().is_empty() || s.get_ref().chars().count() > MAX_SHORT =>
                {
                    return Err(at(
                        s.span(),
                        "lists.short",
                        format!("{:?}: must be 1 to {MAX_SHORT} characters", s.get_ref()),
                    ));
                }
                Some(s) => s.get_ref().clone(),
                None => l.id.get_ref().clone(),
            };
            if let Some(n) = &l.names {
                check_names(n.get_ref()).map_err(|r| at(n.span(), "lists.names", r))?;
            }
            lists.push(List {
                names: l
                    .names
                    .as_ref()
                    .map(|n| n.get_ref().clone())
                    .unwrap_or_default(),
                id: l.id.get_ref().clone(),
                name: l.name.clone(),
                kind: l.kind,
                community: l.community.clone(),
                candidates: Vec::new(),
                colour,
                short,
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
            let preferences = match &c.preferences {
                None => None,
                Some(p) => Some(PreferenceRule {
                    marks: match p.marks.get_ref() {
                        RawMarks::Number(n) if (1..=i64::from(MAX_MARKS)).contains(n) => {
                            Marks::AtMost(u32::try_from(*n).unwrap_or(MAX_MARKS))
                        }
                        RawMarks::Word(w) if w == "all" => Marks::All,
                        other => {
                            return Err(at(
                                p.marks.span(),
                                "contests.preferences.marks",
                                format!(
                                    "{other}: must be a whole number from 1 to {MAX_MARKS}, or \"all\""
                                ),
                            ));
                        }
                    },
                }),
            };
            contests.push(Contest {
                id: c.id.get_ref().clone(),
                name: c.name.clone(),
                lists: idx,
                seats: c.seats.clone(),
                preferences,
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
            if let Some(n) = &u.names {
                check_names(n.get_ref()).map_err(|r| at(n.span(), "units.names", r))?;
            }
            units.push(Unit {
                names: u
                    .names
                    .as_ref()
                    .map(|n| n.get_ref().clone())
                    .unwrap_or_default(),
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

        // Candidates: numbers unique within a list where their units overlap.
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut by_number: HashMap<(usize, u32), Vec<usize>> = HashMap::new();
        for (li, l) in raw.lists.iter().enumerate() {
            for c in &l.candidates {
                let number = *c.number.get_ref();
                if !(1..=i64::from(crate::protocol::MAX_CANDIDATE_NUMBER)).contains(&number) {
                    return Err(at(
                        c.number.span(),
                        "lists.candidates.number",
                        format!(
                            "{number}: must be a whole number from 1 to {}",
                            crate::protocol::MAX_CANDIDATE_NUMBER
                        ),
                    ));
                }
                let number = u32::try_from(number).unwrap_or(0);
                if c.name.trim().is_empty() {
                    return Err(at(
                        c.number.span(),
                        "lists.candidates.name",
                        format!(
                            "candidate {number} of list {:?} has no name",
                            l.id.get_ref()
                        ),
                    ));
                }
                let unit = match &c.unit {
                    None => None,
                    Some(u) => Some(*unit_index.get(u.get_ref().as_str()).ok_or_else(|| {
                        at(
                            u.span(),
                            "lists.candidates.unit",
                            format!("unit {:?} is not defined in [[units]]", u.get_ref()),
                        )
                    })?),
                };
                let same = by_number.entry((li, number)).or_default();
                let overlaps = |o: Option<UnitIdx>| match (o, unit) {
                    (Some(a), Some(b)) => {
                        unit_within_raw(&units, a, b) || unit_within_raw(&units, b, a)
                    }
                    _ => true,
                };
                if same.iter().any(|&o| overlaps(candidates[o].unit)) {
                    return Err(at(
                        c.number.span(),
                        "lists.candidates.number",
                        format!(
                            "duplicate candidate number {number} in list {:?}",
                            l.id.get_ref()
                        ),
                    ));
                }
                same.push(candidates.len());
                let idx = CandidateIdx(u32::try_from(candidates.len()).map_err(|_| {
                    at(
                        c.number.span(),
                        "lists.candidates",
                        "too many candidates".into(),
                    )
                })?);
                lists[li].candidates.push(idx);
                candidates.push(Candidate {
                    list: li,
                    number,
                    name: c.name.clone(),
                    gender: c.gender,
                    withdrawn: c.withdrawn,
                    unit,
                });
            }
            lists[li]
                .candidates
                .sort_by_key(|&c| candidates[c.0 as usize].number);
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
        let mut builtin = builtin_rules();
        let mut restated: Vec<&str> = Vec::new();
        let rule_sources: Vec<(RuleSource, Option<std::ops::Range<usize>>)> = match &raw.rules {
            None => default_rules().into_iter().map(|r| (r, None)).collect(),
            Some(rs) => {
                let mut out = Vec::new();
                for r in rs {
                    let Some(check) = &r.check else {
                        // No `check`: the rule restates a built-in check.
                        let b = builtin
                            .iter_mut()
                            .find(|b| b.id() == r.id.get_ref().as_str())
                            .ok_or_else(|| {
                                at(
                                    r.id.span(),
                                    "rules.check",
                                    format!(
                                        "rule {:?} has no `check`, and only the built-in rules {} may be restated without one",
                                        r.id.get_ref(),
                                        crate::rules::Builtin::ALL
                                            .iter()
                                            .map(|b| format!("{:?}", b.id()))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                )
                            })?;
                        if restated.contains(&r.id.get_ref().as_str()) {
                            return Err(at(
                                r.id.span(),
                                "rules.id",
                                format!("duplicate rule id {:?}", r.id.get_ref()),
                            ));
                        }
                        restated.push(r.id.get_ref());
                        b.regrade(r.severity, &r.message)
                            .map_err(|e| at(r.id.span(), "rules.severity", e.to_owned()))?;
                        continue;
                    };
                    out.push((
                        RuleSource {
                            id: r.id.get_ref().clone(),
                            severity: r.severity,
                            check: check.get_ref().clone(),
                            message: r.message.clone(),
                        },
                        Some(check.span()),
                    ));
                }
                out
            }
        };
        let mut rules: Vec<Rule> = Vec::new();
        for (src, span) in rule_sources {
            let span = span.unwrap_or(0..0);
            if rules.iter().any(|r| r.id == src.id) || builtin.iter().any(|b| b.id() == src.id) {
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
        if stations.len() >= u32::MAX as usize {
            return Err(DefinitionError::Invalid {
                file: stations_name.to_owned(),
                line: stations.len() + 1,
                field: "id".into(),
                rule: "too many stations".into(),
            });
        }
        let station_index =
            station_index::StationIndex::new(&stations).map_err(|i| DefinitionError::Invalid {
                file: stations_name.to_owned(),
                line: i + 2,
                field: "id".into(),
                rule: format!("duplicate station id {:?}", stations[i].id),
            })?;
        if authorities
            .iter()
            .any(|a| station_index.get(&stations, a.key.name()).is_some())
        {
            return Err(at(
                raw.election.id.span(),
                "authorities.key",
                "an authority key name equals a station id; key names must be distinct".into(),
            ));
        }

        let shapes = match &raw.shapes {
            None => None,
            Some(sh) => Some(ShapesRef {
                file: check_shapes_file(sh.file.get_ref())
                    .map_err(|r| at(sh.file.span(), "shapes.file", r))?,
                sha256: parse_sha256(sh.sha256.get_ref())
                    .map_err(|r| at(sh.sha256.span(), "shapes.sha256", r))?,
                property: match &sh.property {
                    None => "unit".to_owned(),
                    Some(p) if p.get_ref().is_empty() => {
                        return Err(at(
                            p.span(),
                            "shapes.property",
                            "must name the feature property holding the unit id".into(),
                        ));
                    }
                    Some(p) => p.get_ref().clone(),
                },
            }),
        };

        let mut h = Sha256::new();
        h.update(toml_text.as_bytes());
        h.update(stations_text.as_bytes());
        let candidate_positions = candidate_positions(&lists, &candidates);

        Ok(Self {
            id: raw.election.id.get_ref().clone(),
            name: raw.election.name,
            date: raw.election.date,
            provenance: raw.election.provenance,
            contests,
            lists,
            candidates,
            units,
            stations,
            authorities,
            counts,
            rules,
            builtin_rules: builtin,
            stations_file: raw.stations.file.get_ref().clone(),
            shapes,
            digest: h.finalize().into(),
            station_index,
            candidate_positions,
        })
    }

    /// The origin line of this election's transparency log: `urna/<election id>`. The log
    /// signs its checkpoints under this name, and a verifier expects it.
    pub fn log_origin(&self) -> String {
        format!("urna/{}", self.id)
    }

    /// The station with this id.
    pub fn station(&self, id: &str) -> Option<StationIdx> {
        self.station_index.get(&self.stations, id)
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

    /// The candidate of list `list` (index into [`Election::lists`]) with ballot number
    /// `number` who stands where the station of `unit` is.
    pub fn candidate(&self, list: usize, number: u32, unit: UnitIdx) -> Option<CandidateIdx> {
        self.candidates_numbered(list, number)
            .iter()
            .copied()
            .find(|c| self.stands_in(*c, unit))
    }

    /// [`Election::candidate`] for the many numbers of one list at one station, as intake
    /// looks them up: `ancestry` is the station's unit and the units above it
    /// ([`Election::ancestry`]), and `hint` the place, among the candidates with the same
    /// number, where the last one was found. A list that runs in every district has one
    /// candidate per district for each number, laid out in the same district order, so the
    /// hint is right for all but the first number.
    pub fn candidate_at(
        &self,
        list: usize,
        number: u32,
        ancestry: &[UnitIdx],
        hint: &mut usize,
    ) -> Option<CandidateIdx> {
        let run = self.candidates_numbered(list, number);
        let stands = |c: &CandidateIdx| {
            self.candidates[c.0 as usize]
                .unit
                .is_none_or(|u| ancestry.contains(&u))
        };
        if let Some(c) = run.get(*hint).filter(|c| stands(c)) {
            return Some(*c);
        }
        let (at, c) = run.iter().enumerate().find(|(_, c)| stands(c))?;
        *hint = at;
        Some(*c)
    }

    /// The candidates of list `list` with ballot number `number`, wherever they stand (empty
    /// if none).
    fn candidates_numbered(&self, list: usize, number: u32) -> &[CandidateIdx] {
        let Some(l) = self.lists.get(list) else {
            return &[];
        };
        let cands = &l.candidates;
        let number_of = |c: &CandidateIdx| self.candidates[c.0 as usize].number;
        let from = match self
            .candidate_positions
            .get(list)
            .and_then(|t| t.get(number as usize))
        {
            Some(&p)
                if p != NO_CANDIDATE && cands.get(p as usize).map(number_of) == Some(number) =>
            {
                p as usize
            }
            // The table is built at load; if the lists were changed since, search.
            _ => cands.partition_point(|c| number_of(c) < number),
        };
        let len = cands[from..]
            .iter()
            .take_while(|c| number_of(c) == number)
            .count();
        &cands[from..from + len]
    }

    /// Whether a candidate stands where the station of `unit` is.
    pub fn stands_in(&self, candidate: CandidateIdx, unit: UnitIdx) -> bool {
        self.candidates[candidate.0 as usize]
            .unit
            .is_none_or(|u| self.unit_within(unit, u))
    }

    /// The most preference votes one voter may give within list `list` at a station of
    /// `unit`: the contest's `marks`, the list's candidates standing there for
    /// `marks = "all"`, and 0 for a closed-list contest.
    pub fn marks(&self, contest: ContestIdx, list: usize, unit: UnitIdx) -> u64 {
        match self.contests[contest.0 as usize].preferences {
            None => 0,
            Some(PreferenceRule {
                marks: Marks::AtMost(n),
            }) => u64::from(n),
            Some(PreferenceRule { marks: Marks::All }) => self.lists[list]
                .candidates
                .iter()
                .filter(|&&c| self.stands_in(c, unit))
                .count() as u64,
        }
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
    shapes: Option<RawShapes>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShapes {
    file: Spanned<String>,
    sha256: Spanned<String>,
    property: Option<Spanned<String>>,
}

impl ShapesRef {
    /// Checks that `bytes` are the file the definition names.
    ///
    /// # Errors
    /// The rule broken, with both hashes.
    pub fn check(&self, bytes: &[u8]) -> Result<(), String> {
        let got: [u8; 32] = Sha256::digest(bytes).into();
        if got == self.sha256 {
            Ok(())
        } else {
            Err(format!(
                "{}: its bytes hash to {}, but the definition says {}",
                self.file,
                crate::protocol::hex(&got),
                crate::protocol::hex(&self.sha256)
            ))
        }
    }
}

/// A shapes file name: beside `election.toml`, so a data directory and a bundle can hold it.
fn check_shapes_file(name: &str) -> Result<String, String> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "{name:?}: must be a file name beside election.toml (letters, digits, `.`, `_`, `-`)"
        ))
    }
}

/// 64 lower-case hex digits.
fn parse_sha256(text: &str) -> Result<[u8; 32], String> {
    let bad = || format!("{text:?}: must be 64 lower-case hex digits (the file's SHA-256)");
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
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
    preferences: Option<RawPreferences>,
}

/// Per list, the position of the first candidate of each ballot number (see
/// [`Election::candidate`]); a list's candidates are sorted by number.
fn candidate_positions(lists: &[List], candidates: &[Candidate]) -> Vec<Vec<u32>> {
    lists
        .iter()
        .map(|l| {
            let top = l
                .candidates
                .iter()
                .map(|c| candidates[c.0 as usize].number as usize)
                .max()
                .map_or(0, |n| n + 1);
            let mut t = vec![NO_CANDIDATE; top];
            for (p, c) in l.candidates.iter().enumerate().rev() {
                t[candidates[c.0 as usize].number as usize] = p as u32;
            }
            t
        })
        .collect()
}

/// Most marks a contest may allow; a larger ballot would say `"all"`.
const MAX_MARKS: u32 = 1000;

/// Most characters of a list's `short` name.
const MAX_SHORT: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreferences {
    marks: Spanned<RawMarks>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawMarks {
    Number(i64),
    Word(String),
}

impl std::fmt::Display for RawMarks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Word(w) => write!(f, "{w:?}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCandidate {
    number: Spanned<i64>,
    name: String,
    gender: Option<Gender>,
    #[serde(default)]
    withdrawn: bool,
    unit: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    id: Spanned<String>,
    name: String,
    #[serde(default)]
    kind: ListKind,
    community: Option<String>,
    colour: Option<Spanned<String>>,
    short: Option<Spanned<String>>,
    names: Option<Spanned<Names>>,
    #[serde(default)]
    candidates: Vec<RawCandidate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    id: Spanned<String>,
    name: String,
    level: Option<String>,
    parent: Option<Spanned<String>>,
    names: Option<Spanned<Names>>,
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
    check: Option<Spanned<String>>,
    message: String,
}

/// The rule every name and text of a new definition keeps (see [`check_new_text`]).
pub const ONE_LINE_RULE: &str = "must not hold line breaks or control characters (U+0000 to \
    U+001F, U+007F to U+009F, such as an escape sequence, or the bidirectional overrides \
    U+202A to U+202E and U+2066 to U+2069), which would reach an operator's terminal raw";

/// True for a character [`ONE_LINE_RULE`] refuses: a control character, or a bidirectional
/// embedding, override or isolate (they reorder what a terminal shows after them).
pub fn is_hidden_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a name or other text shown to people: no line breaks or control characters
/// ([`ONE_LINE_RULE`]); `Err` holds the rule with the value escaped.
///
/// # Errors
/// The rule broken, quoting the value with its control characters escaped.
pub fn check_one_line(text: &str) -> Result<(), String> {
    if text.chars().any(is_hidden_control) {
        return Err(format!("{text:?} {ONE_LINE_RULE}"));
    }
    Ok(())
}

/// `text` with every control character but the line feed escaped (`\u{1b}`): a parser's
/// message quotes the offending line of a file, and a raw escape sequence in it would reach
/// the terminal that prints the message.
pub fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_hidden_control(c) && c != '\n' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Checks the names and texts of a definition that a new store is to be initialised with:
/// the election's name, date and provenance, each contest's name and seat rules, each list's
/// name, short name and community, each candidate's name, each unit's name and level, each
/// authority's name and each rule's message keep [`ONE_LINE_RULE`] (the `names` tables and
/// the stations file's names already do, at every load). `urna init` runs it before it
/// creates anything; loading does not, so that a store initialised before the rule keeps
/// opening.
///
/// # Errors
/// [`DefinitionError::Invalid`] naming the file, line, field and rule of the first text that
/// breaks it; [`DefinitionError::Toml`] if the text is not TOML of the definition's shape.
pub fn check_new_text(file: &str, text: &str) -> Result<(), DefinitionError> {
    let t: TextDefinition = toml::from_str(text).map_err(|e| DefinitionError::Toml {
        file: file.to_owned(),
        message: escape_controls(&e.to_string()),
    })?;
    let check = |v: &Option<Spanned<String>>, field: &str| -> Result<(), DefinitionError> {
        let Some(v) = v else { return Ok(()) };
        check_one_line(v.get_ref()).map_err(|rule| DefinitionError::Invalid {
            file: file.to_owned(),
            line: line_at(text, v.span().start),
            field: field.to_owned(),
            rule,
        })
    };
    check(&t.election.name, "election.name")?;
    check(&t.election.date, "election.date")?;
    check(&t.election.provenance, "election.provenance")?;
    for c in &t.contests {
        check(&c.name, "contests.name")?;
        if let Some(seats) = &c.seats {
            check(&seats.rules, "contests.seats.rules")?;
            check(&seats.tie_seed, "contests.seats.tie_seed")?;
        }
    }
    for l in &t.lists {
        check(&l.name, "lists.name")?;
        check(&l.short, "lists.short")?;
        check(&l.community, "lists.community")?;
        for c in &l.candidates {
            check(&c.name, "lists.candidates.name")?;
        }
    }
    for u in &t.units {
        check(&u.name, "units.name")?;
        check(&u.level, "units.level")?;
    }
    for a in &t.authorities {
        check(&a.name, "authorities.name")?;
    }
    for r in &t.rules {
        check(&r.message, "rules.message")?;
    }
    Ok(())
}

/// The texts of a definition that [`check_new_text`] reads, with their places; every other
/// field is left to [`Election::load`].
#[derive(Deserialize)]
struct TextDefinition {
    election: TextElection,
    #[serde(default)]
    contests: Vec<TextContest>,
    #[serde(default)]
    lists: Vec<TextList>,
    #[serde(default)]
    units: Vec<TextNamed>,
    #[serde(default)]
    authorities: Vec<TextNamed>,
    #[serde(default)]
    rules: Vec<TextRule>,
}

#[derive(Deserialize)]
struct TextElection {
    name: Option<Spanned<String>>,
    date: Option<Spanned<String>>,
    provenance: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct TextContest {
    name: Option<Spanned<String>>,
    seats: Option<TextSeats>,
}

#[derive(Deserialize)]
struct TextSeats {
    rules: Option<Spanned<String>>,
    tie_seed: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct TextList {
    name: Option<Spanned<String>>,
    short: Option<Spanned<String>>,
    community: Option<Spanned<String>>,
    #[serde(default)]
    candidates: Vec<TextNamed>,
}

/// A unit, an authority or a candidate: its name, and a unit's level.
#[derive(Deserialize)]
struct TextNamed {
    name: Option<Spanned<String>>,
    level: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct TextRule {
    message: Option<Spanned<String>>,
}

fn parse_raw(file: &str, text: &str) -> Result<RawDefinition, DefinitionError> {
    toml::from_str(text).map_err(|e| DefinitionError::Toml {
        file: file.to_owned(),
        message: escape_controls(&e.to_string()),
    })
}

/// Header of the stations file.
pub const STATIONS_HEADER: &str = "id,unit,registered,key";

/// Header of a stations file that also names each station and its address (both optional per
/// row: an empty field is none). A field holding a comma or a quote is quoted as in RFC 4180.
/// After the first four, the columns `name`, `address`, `name:<lang>` and `address:<lang>`
/// may come in any order, each at most once.
pub const STATIONS_HEADER_NAMED: &str = "id,unit,registered,key,name,address";

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
    let header = lines.next().map_or("", |(_, h)| h.trim_end());
    // The plain header keeps the fast split; optional columns are read with RFC 4180 quoting.
    let columns = if header == STATIONS_HEADER {
        None
    } else {
        Some(station_columns::parse_header(header).map_err(|r| err(1, "header", r))?)
    };
    let mut stations = Vec::new();
    for (i, l) in lines {
        let line = i + 1;
        if l.is_empty() {
            continue;
        }
        let quoted;
        let mut about = station_columns::About::default();
        let (id, unit, registered, key) = if let Some(columns) = &columns {
            let n = 4 + columns.len();
            quoted = csv_row(l, n).ok_or_else(|| {
                err(
                    line,
                    "row",
                    format!("expected {n} comma-separated fields: {header}"),
                )
            })?;
            about = station_columns::read(columns, &quoted[4..])
                .map_err(|(field, r)| err(line, &field, r))?;
            (
                quoted[0].as_str(),
                quoted[1].as_str(),
                quoted[2].as_str(),
                quoted[3].as_str(),
            )
        } else {
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
            (id, unit, registered, key)
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
            about: (about.name.is_some()
                || about.address.is_some()
                || !about.names.is_empty()
                || !about.addresses.is_empty())
            .then(|| Box::new(about)),
        });
    }
    Ok(stations)
}

/// The `n` fields of a stations file's row (RFC 4180 quoting), or `None`.
fn csv_row(line: &str, n: usize) -> Option<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let rec = r.records().next()?.ok()?;
    (rec.len() == n).then(|| rec.iter().map(str::to_owned).collect())
}

/// Whether unit `inner` is `outer` or below it, over units still being built.
fn unit_within_raw(units: &[Unit], inner: UnitIdx, outer: UnitIdx) -> bool {
    std::iter::successors(Some(inner), |u| units[u.0 as usize].parent).any(|u| u == outer)
}

/// The reserved prefix `id` begins with, if any ([`RESERVED_LIST_PREFIXES`]).
#[must_use]
pub fn reserved_list_prefix(id: &str) -> Option<&'static str> {
    RESERVED_LIST_PREFIXES
        .into_iter()
        .find(|p| id.starts_with(p))
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

mod station_columns;
mod station_index;

#[cfg(test)]
mod tests;
