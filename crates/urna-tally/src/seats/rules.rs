//! Rule sets: the seat rules of one electoral system, as data.
//!
//! A rule set is a TOML file (unknown fields are rejected) that cites its legal source. The
//! built-in ones live in `crates/urna-tally/rules/` and are compiled into the binary; see
//! `rules/README.md` there for the schema with every field explained.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::candidates::CandidateRules;
use super::error::SeatError;
use super::method::Method;
use super::tie::TieRule;
use super::types::{DistrictId, Share, Votes};

/// The seat rules of one electoral system.
///
/// Build one with [`RuleSet::builtin`] or [`RuleSet::from_toml`]; both validate it.
///
/// ```
/// use urna_tally::seats::RuleSet;
/// let rules = RuleSet::builtin("north-macedonia").unwrap();
/// assert_eq!(rules.house_seats, Some(120));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Short name, e.g. `albania`.
    pub id: String,
    /// One-line description.
    pub title: String,
    /// The laws and articles the rules come from. At least one.
    pub legal_source: Vec<String>,
    /// Remarks: choices made where the law is unclear, what is not modelled.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Total seats. Required when districts are listed (it must equal their seats plus the
    /// compensatory seats); without districts the vote input gives each district's seats.
    pub house_seats: Option<u32>,
    /// The method for district seats (and, unless overridden, for everything else).
    pub method: Method,
    /// How ties are broken.
    pub tie_break: TieBreakRule,
    /// The legal threshold for ordinary lists, if any.
    pub threshold: Option<Threshold>,
    /// The districts, in the order the law lists them. Empty: taken from the vote input.
    #[serde(default, rename = "district")]
    pub districts: Vec<District>,
    /// Communities with special rules (reserved seats, pooling, a guaranteed seat, exemption).
    #[serde(default, rename = "community")]
    pub communities: Vec<Community>,
    /// Extra reserved seats for whichever community of a group has the most votes.
    #[serde(default, rename = "bonus_seat")]
    pub bonus_seats: Vec<BonusSeat>,
    /// Entities with compensatory (levelling) seats over their districts.
    #[serde(default, rename = "entity")]
    pub entities: Vec<Entity>,
    /// How a list's seats go to its candidates; absent: list order (closed lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<CandidateRules>,
    /// Reserved community seats that the law makes a minimum of what the community wins in an
    /// open division, not seats set aside whatever it wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_guarantee: Option<MinimumGuarantee>,
    /// Lists may pool their votes in alliances (apparentments): absent, a list naming an
    /// alliance is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alliances: Option<Alliances>,
}

/// Alliances of lists (apparentments, such as Israel's surplus-vote agreements): in each
/// district the lists of one alliance that passed the threshold on their own compete as one
/// list with their votes added, and the seats it wins are split among them.
///
/// A list names its alliance in the vote input (`[lists.X] alliance = "A"`). An alliance left
/// with one list over the threshold is no alliance: that list competes alone (an agreement with
/// a list below the threshold has no effect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alliances {
    /// The method that splits an alliance's seats among its lists (default: the rule set's).
    pub method: Option<Method>,
    /// The law and article that let lists pool their votes.
    pub source: String,
}

/// Where the law makes the reserved seats a minimum: a community keeps every seat its lists win
/// in an open division of `open_seats` among the lists over the threshold and the exempt ones,
/// and only a community that wins fewer is brought up to its reserved seats.
///
/// The rule set computes the reserved seats as seats set aside. That gives the law's result
/// exactly while no community's lists win more than its reserved seats (with any bonus seat it
/// took) in the open division; [`allocate`](super::allocate) checks this on every run and
/// refuses the case it does not model ([`SeatError::NotModelled`](super::SeatError)) rather
/// than give a community fewer seats than the law does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinimumGuarantee {
    /// Seats of the open division the law names.
    pub open_seats: u32,
    /// The article that makes the guarantee a minimum.
    pub source: String,
}

/// The tie-break rule of a rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TieBreakRule {
    /// The rule.
    pub rule: TieRule,
    /// Default published seed of the draw by lot (the vote input's `tie_seed` overrides it).
    pub seed: String,
    /// Where the law states the rule.
    pub source: Option<String>,
}

/// Where a threshold is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdScope {
    /// Share of all valid votes in the country.
    National,
    /// Share of the valid votes of each district, applied district by district.
    District,
}

/// A legal threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Where it is measured.
    pub scope: ThresholdScope,
    /// The share a party list needs.
    pub party: Share,
    /// The share a coalition list needs (default: the party share).
    pub coalition: Option<Share>,
    /// True where the law says "more than" the share: a list exactly at the share fails
    /// (Bosnia and Herzegovina, Election Law art. 9.5(3)). Default false: "at least".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
}

impl Threshold {
    /// True when `votes` out of `base` pass `share` under this threshold's comparison.
    pub fn passes(&self, share: Share, votes: Votes, base: Votes) -> bool {
        if self.strict {
            share.exceeded_by(votes, base)
        } else {
            share.reached_by(votes, base)
        }
    }

    /// The smallest vote count that passes `share` of `base` under this threshold's comparison.
    pub fn needed(&self, share: Share, base: Votes) -> Votes {
        if self.strict {
            share.minimum_votes_exceeding(base)
        } else {
            share.minimum_votes(base)
        }
    }

    /// How the share reads in explanations: `3%`, or `more than 3%` for a strict threshold.
    pub fn describe(&self, share: Share) -> String {
        if self.strict {
            format!("more than {share}")
        } else {
            share.to_string()
        }
    }
}

/// A district and its seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct District {
    /// Identifier used in vote inputs.
    pub id: DistrictId,
    /// Display name.
    pub name: Option<String>,
    /// Seats elected in it.
    pub seats: u32,
    /// The entity whose compensatory seats it counts towards.
    pub entity: Option<String>,
}

/// A community with special seat rules; lists name it in their `community` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Community {
    /// Identifier used in vote inputs.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Its lists need not pass the threshold.
    #[serde(default)]
    pub threshold_exempt: bool,
    /// Seats set aside for it, shared among its lists only; its lists then take no part in the
    /// ordinary seats (Kosovo as applied in 2021 and 2025).
    pub reserved_seats: Option<u32>,
    /// Method for its reserved seats (default: the rule set's method).
    pub method: Option<Method>,
    /// Pooling of its lists when none passes the threshold.
    pub pool: Option<Pool>,
    /// One seat for its best list when none passes the threshold or pools.
    pub guaranteed_seat: Option<GuaranteedSeat>,
}

/// Pooling: lists of one community that each reach `min_share` but none the threshold compete
/// as one collective list capped at `max_seats`; its seats are then split among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Share of national valid votes each member needs.
    pub min_share: Share,
    /// Most seats the collective list can win.
    pub max_seats: u32,
    /// Method that splits the collective list's seats (default: D'Hondt).
    pub method: Option<Method>,
}

/// A single seat assigned before the rest to the best list of a community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuaranteedSeat {
    /// Share of national valid votes the list needs.
    pub min_share: Share,
}

/// Extra reserved seats for the community with most votes among `communities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BonusSeat {
    /// The competing communities (each must have reserved seats).
    pub communities: Vec<String>,
    /// Seats given.
    pub seats: u32,
}

/// An entity with compensatory seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    /// Identifier referenced by districts.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Compensatory seats of the entity.
    pub compensatory_seats: u32,
    /// Share of the entity's valid votes a list needs for compensatory seats.
    pub threshold: Share,
    /// Method for entity-wide quotients (default: the rule set's method).
    pub method: Option<Method>,
}

impl RuleSet {
    /// Names of the built-in rule sets.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(name, _)| *name).collect()
    }

    /// The TOML text of a built-in rule set.
    pub fn builtin_text(name: &str) -> Option<&'static str> {
        BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// Loads a built-in rule set by name.
    ///
    /// # Errors
    /// [`SeatError::UnknownRuleSet`] for an unknown name; any validation error (a bug).
    pub fn builtin(name: &str) -> Result<Self, SeatError> {
        let text = Self::builtin_text(name).ok_or_else(|| SeatError::UnknownRuleSet {
            name: name.to_owned(),
            known: Self::builtin_names().join(", "),
        })?;
        Self::from_toml(text)
    }

    /// Parses and validates a rule set.
    ///
    /// # Errors
    /// [`SeatError::RulesSyntax`] (naming the field and line) or [`SeatError::Rules`] (a key
    /// or string holding a line break or control character, or an inconsistency).
    pub fn from_toml(text: &str) -> Result<Self, SeatError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| SeatError::RulesSyntax(super::text::syntax(&e)))?;
        super::text::check(&table)
            .map_err(|(field, problem)| SeatError::Rules { field, problem })?;
        let rules: Self =
            toml::from_str(text).map_err(|e| SeatError::RulesSyntax(super::text::syntax(&e)))?;
        rules.validate()?;
        Ok(rules)
    }

    /// Checks the rule set for consistency.
    ///
    /// # Errors
    /// [`SeatError::Rules`] naming the first offending field.
    pub fn validate(&self) -> Result<(), SeatError> {
        let bad = |field: String, problem: String| Err(SeatError::Rules { field, problem });
        if self.id.trim().is_empty() {
            return bad("id".into(), "must not be empty".into());
        }
        if self.legal_source.iter().all(|s| s.trim().is_empty()) {
            return bad(
                "legal_source".into(),
                "cite at least one legal source".into(),
            );
        }
        let mut ids = BTreeSet::new();
        for d in &self.districts {
            if !ids.insert(&d.id) {
                return bad(format!("district.{}", d.id), "listed twice".into());
            }
            if d.seats == 0 {
                return bad(
                    format!("district.{}.seats", d.id),
                    "must be at least 1".into(),
                );
            }
        }
        let district_seats: u64 = self.districts.iter().map(|d| u64::from(d.seats)).sum();
        if district_seats > u64::from(super::MAX_HOUSE_SEATS) {
            return bad(
                "district".into(),
                format!(
                    "the districts' seats add up to {district_seats}, more than the {} one \
                     allocation may hold",
                    super::MAX_HOUSE_SEATS
                ),
            );
        }
        let entity_ids: BTreeSet<&str> = self.entities.iter().map(|e| e.id.as_str()).collect();
        if entity_ids.len() != self.entities.len() {
            return bad("entity".into(), "an entity id is listed twice".into());
        }
        for d in &self.districts {
            if let Some(e) = &d.entity
                && !entity_ids.contains(e.as_str())
            {
                return bad(
                    format!("district.{}.entity", d.id),
                    format!("unknown entity `{e}`"),
                );
            }
        }
        let mut direct: u64 = 0;
        for d in &self.districts {
            direct += u64::from(d.seats);
        }
        let mut compensatory: u64 = 0;
        for e in &self.entities {
            if !self
                .districts
                .iter()
                .any(|d| d.entity.as_deref() == Some(&e.id))
            {
                return bad(
                    format!("entity.{}", e.id),
                    "no district belongs to it".into(),
                );
            }
            if !e.method.unwrap_or(self.method).is_divisor() {
                return bad(
                    format!("entity.{}.method", e.id),
                    "compensatory seats need a divisor method".into(),
                );
            }
            if e.compensatory_seats > MAX_CONTEST_SEATS {
                return bad(
                    format!("entity.{}.compensatory_seats", e.id),
                    format!("at most {MAX_CONTEST_SEATS}"),
                );
            }
            compensatory += u64::from(e.compensatory_seats);
        }
        match (self.districts.is_empty(), self.house_seats) {
            (false, None) => {
                return bad(
                    "house_seats".into(),
                    "required when districts are listed".into(),
                );
            }
            (false, Some(house)) if u64::from(house) != direct + compensatory => {
                return bad(
                    "house_seats".into(),
                    format!(
                        "{house} differs from the districts' {direct} seats plus {compensatory} \
                         compensatory seats"
                    ),
                );
            }
            (true, _) if !self.entities.is_empty() => {
                return bad(
                    "entity".into(),
                    "compensatory seats need listed districts".into(),
                );
            }
            _ => {}
        }
        let single = self.districts.len() <= 1;
        let mut set_aside: u64 = 0;
        let house = self.house_seats.map(u64::from);
        let mut community_ids = BTreeSet::new();
        for c in &self.communities {
            if !community_ids.insert(c.id.as_str()) {
                return bad(format!("community.{}", c.id), "listed twice".into());
            }
            let needs_single =
                c.reserved_seats.is_some() || c.pool.is_some() || c.guaranteed_seat.is_some();
            if needs_single && !single {
                return bad(
                    format!("community.{}", c.id),
                    "reserved, pooled and guaranteed seats are supported with one district only"
                        .into(),
                );
            }
            if c.reserved_seats.is_some() && (c.pool.is_some() || c.guaranteed_seat.is_some()) {
                return bad(
                    format!("community.{}", c.id),
                    "a community with reserved seats cannot also pool or have a guaranteed seat"
                        .into(),
                );
            }
            if let Some(p) = &c.pool
                && !(1..=MAX_CONTEST_SEATS).contains(&p.max_seats)
            {
                return bad(
                    format!("community.{}.pool.max_seats", c.id),
                    format!("must be between 1 and {MAX_CONTEST_SEATS}"),
                );
            }
            if let Some(r) = c.reserved_seats {
                if r > MAX_CONTEST_SEATS {
                    return bad(
                        format!("community.{}.reserved_seats", c.id),
                        format!("{r}: at most {MAX_CONTEST_SEATS}"),
                    );
                }
                set_aside += u64::from(r);
                if house.is_some_and(|h| set_aside >= h) {
                    return bad(
                        format!("community.{}.reserved_seats", c.id),
                        format!(
                            "reserved seats add up to {set_aside}, which leaves no ordinary seat \
                             in a house of {}",
                            house.unwrap_or_default()
                        ),
                    );
                }
            }
            if c.guaranteed_seat.is_some() {
                set_aside += 1;
            }
        }
        for (i, b) in self.bonus_seats.iter().enumerate() {
            if b.communities.len() < 2 {
                return bad(
                    format!("bonus_seat[{i}].communities"),
                    "name at least two".into(),
                );
            }
            for c in &b.communities {
                let known = self.communities.iter().find(|x| &x.id == c);
                if known.is_none_or(|x| x.reserved_seats.is_none()) {
                    return bad(
                        format!("bonus_seat[{i}].communities"),
                        format!("`{c}` is not a community with reserved seats"),
                    );
                }
            }
            if b.seats > MAX_CONTEST_SEATS {
                return bad(
                    format!("bonus_seat[{i}].seats"),
                    format!("{}: at most {MAX_CONTEST_SEATS}", b.seats),
                );
            }
            set_aside += u64::from(b.seats);
            if house.is_some_and(|h| set_aside >= h) {
                return bad(
                    format!("bonus_seat[{i}].seats"),
                    format!("set-aside seats add up to {set_aside}, more than the house holds"),
                );
            }
        }
        if let Some(a) = &self.alliances {
            if a.source.trim().is_empty() {
                return bad("alliances.source".into(), "cite the article".into());
            }
            if !self.entities.is_empty() {
                return bad(
                    "alliances".into(),
                    "alliances with compensatory seats are not modelled (which of an alliance's \
                     lists a constituency seat counts against)"
                        .into(),
                );
            }
        }
        if let Some(g) = &self.minimum_guarantee {
            let most = house.unwrap_or(u64::from(MAX_CONTEST_SEATS));
            if g.open_seats == 0 || u64::from(g.open_seats) > most {
                let whose = if house.is_some() {
                    "the house's"
                } else {
                    "a contest's most"
                };
                return bad(
                    "minimum_guarantee.open_seats".into(),
                    format!(
                        "{}: must be between 1 and {whose} {most} seats",
                        g.open_seats
                    ),
                );
            }
            if self.communities.iter().all(|c| c.reserved_seats.is_none()) {
                return bad(
                    "minimum_guarantee".into(),
                    "no community has reserved seats to guarantee".into(),
                );
            }
            if g.source.trim().is_empty() {
                return bad(
                    "minimum_guarantee.source".into(),
                    "cite the article that makes the guarantee a minimum".into(),
                );
            }
        }
        if let Some(c) = &self.candidates {
            let districts: Vec<&DistrictId> = self.districts.iter().map(|d| &d.id).collect();
            c.validate(&districts)?;
        }
        Ok(())
    }

    /// The community with this id.
    pub fn community(&self, id: &str) -> Option<&Community> {
        self.communities.iter().find(|c| c.id == id)
    }

    /// Seats set aside before the ordinary allocation: reserved, bonus and guaranteed seats.
    pub fn set_aside_seats(&self) -> u32 {
        let reserved: u64 = self
            .communities
            .iter()
            .filter_map(|c| c.reserved_seats)
            .map(u64::from)
            .sum();
        let guaranteed = self
            .communities
            .iter()
            .filter(|c| c.guaranteed_seat.is_some())
            .count() as u64;
        let bonus: u64 = self.bonus_seats.iter().map(|b| u64::from(b.seats)).sum();
        u32::try_from(reserved + bonus + guaranteed).unwrap_or(u32::MAX)
    }

    /// The field of the last rule that sets seats aside whatever the votes (a bonus seat or a
    /// community's reserved seats), for errors about their sum.
    pub(crate) fn set_aside_field(&self) -> String {
        if let Some(i) = self.bonus_seats.len().checked_sub(1) {
            return format!("bonus_seat[{i}].seats");
        }
        self.communities
            .iter()
            .rev()
            .find(|c| c.reserved_seats.is_some())
            .map_or_else(
                || "community".into(),
                |c| format!("community.{}.reserved_seats", c.id),
            )
    }

    /// Districts by id with their seats and entity.
    pub(crate) fn district_map(&self) -> BTreeMap<&DistrictId, &District> {
        self.districts.iter().map(|d| (&d.id, d)).collect()
    }

    /// Why `community` is refused: the rule set has no such community, and the ones it has
    /// (an input names them exactly as the rule set does, e.g. `bosniak`, not `bosnian`).
    pub(crate) fn unknown_community(&self, community: &str) -> String {
        let ids: Vec<&str> = self.communities.iter().map(|c| c.id.as_str()).collect();
        let known = if ids.is_empty() {
            "it has none".to_owned()
        } else {
            format!("its communities: {}", ids.join(", "))
        };
        format!(
            "the rule set `{}` has no community `{community}` ({known})",
            self.id
        )
    }

    /// Why `district` is refused: not one of the rule set's districts, and the ones it has.
    pub(crate) fn unknown_district(&self) -> String {
        let ids: Vec<&str> = self.districts.iter().map(|d| d.id.as_str()).collect();
        format!(
            "not a district of rule set `{}` (its districts: {})",
            self.id,
            ids.join(", ")
        )
    }
}

/// Most seats one contest may allocate. The quotient table of a contest holds up to
/// `lists × seats` rows, so this bounds memory on hostile input; the largest real chamber
/// elected in one district (Israel's Knesset, Netherlands' Tweede Kamer) has 150 seats.
pub const MAX_CONTEST_SEATS: u32 = 10_000;

/// The built-in rule sets, by name.
const BUILTIN: &[(&str, &str)] = &[
    ("albania", include_str!("../../rules/albania.toml")),
    (
        "albania-2021",
        include_str!("../../rules/albania-2021.toml"),
    ),
    ("kosovo", include_str!("../../rules/kosovo.toml")),
    ("kosovo-2021", include_str!("../../rules/kosovo-2021.toml")),
    ("montenegro", include_str!("../../rules/montenegro.toml")),
    (
        "north-macedonia",
        include_str!("../../rules/north-macedonia.toml"),
    ),
    (
        "bosnia-herzegovina",
        include_str!("../../rules/bosnia-herzegovina.toml"),
    ),
    ("generic", include_str!("../../rules/generic.toml")),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_rule_set_loads_and_cites_a_source() {
        for name in RuleSet::builtin_names() {
            let rules = RuleSet::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(rules.id, name);
            assert!(!rules.legal_source.is_empty());
        }
    }

    #[test]
    fn unknown_builtin_lists_the_known_names() {
        let err = RuleSet::builtin("atlantis").unwrap_err();
        assert!(err.to_string().contains("albania"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected_by_name() {
        let text = format!("{}\nbogus = 1\n", minimal());
        let err = RuleSet::from_toml(&text).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn reserved_seats_beyond_the_house_name_the_field() {
        let text = format!(
            "{}\n[[community]]\nid = \"serb\"\nreserved_seats = 10\n",
            minimal()
        );
        let err = RuleSet::from_toml(&text).unwrap_err();
        assert!(
            err.to_string().contains("community.serb.reserved_seats"),
            "{err}"
        );
    }

    #[test]
    fn house_seats_must_match_the_districts() {
        let text = minimal().replace("house_seats = 5", "house_seats = 6");
        let err = RuleSet::from_toml(&text).unwrap_err();
        assert!(err.to_string().contains("`house_seats`"), "{err}");
    }

    #[test]
    fn bad_percentage_names_the_field() {
        let text = format!(
            "{}\n[threshold]\nscope = \"national\"\nparty = \"5\"\n",
            minimal()
        );
        let err = RuleSet::from_toml(&text).unwrap_err();
        assert!(err.to_string().contains("party"), "{err}");
    }

    fn minimal() -> String {
        r#"id = "t"
title = "test"
legal_source = ["none"]
house_seats = 5
method = "dhondt"
tie_break = { rule = "lot", seed = "s" }
[[district]]
id = "d"
seats = 5
"#
        .to_owned()
    }
}
