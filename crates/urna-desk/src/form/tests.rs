use proptest::prelude::*;
use urna_model::definition::STATIONS_HEADER;
use urna_model::note::NoteSigner;

use super::*;

/// Contest `assembly` with open lists A (candidates 1, 2) and B (1, and 5 standing in MB
/// only); stations S0 in MA and S1 in MB.
fn election() -> Election {
    let toml = r#"[election]
id = "t"
name = "Test"

[stations]
file = "stations.csv"

[[contests]]
id = "assembly"
name = "Assembly"
lists = ["B", "A"]
preferences = { marks = 2 }

[[lists]]
id = "A"
name = "List A"
candidates = [{ number = 1, name = "Ana" }, { number = 2, name = "Besa" }]

[[lists]]
id = "B"
name = "List B"
candidates = [{ number = 1, name = "Era" }, { number = 5, name = "Gent", unit = "MB" }]

[[units]]
id = "C"
name = "Country"

[[units]]
id = "MA"
name = "A"
parent = "C"

[[units]]
id = "MB"
name = "B"
parent = "C"
"#;
    let mut csv = format!("{STATIONS_HEADER}\n");
    for (i, unit) in ["MA", "MB"].iter().enumerate() {
        let k = NoteSigner::from_seed(&format!("S{i}"), &[i as u8 + 1; 32]).unwrap();
        csv.push_str(&format!("S{i},{unit},1000,{}\n", k.verifier().to_vkey()));
    }
    Election::from_texts("election.toml", toml, "stations.csv", &csv).unwrap()
}

fn idx(e: &Election, station: &str) -> (ContestIdx, StationIdx) {
    (e.contest("assembly").unwrap(), e.station(station).unwrap())
}

fn good() -> BTreeMap<String, u64> {
    [
        ("count:registered", 1000),
        ("count:ballots-cast", 500),
        ("count:invalid", 10),
        ("count:valid", 490),
        ("votes:A", 300),
        ("votes:B", 190),
        ("pref:A:1", 120),
        ("pref:B:1", 40),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[test]
fn the_form_follows_the_paper_and_the_station() {
    let e = election();
    let (c, s0) = idx(&e, "S0");
    let keys: Vec<String> = lines(&e, c, s0).into_iter().map(|l| l.key).collect();
    assert_eq!(
        keys,
        [
            "count:registered",
            "count:ballots-cast",
            "count:invalid",
            "count:valid",
            "votes:B",
            "votes:A",
            "pref:A:1",
            "pref:A:2",
            "pref:B:1",
        ]
    );
    // B 5 stands in MB only.
    let (_, s1) = idx(&e, "S1");
    assert!(lines(&e, c, s1).iter().any(|l| l.key == "pref:B:5"));
}

#[test]
fn values_make_the_canonical_protocol_and_rules_are_checked() {
    let e = election();
    let (c, s) = idx(&e, "S0");
    let b = body(&e, c, s, &good()).unwrap();
    let text = b.to_text();
    assert!(
        text.contains("preferences: A 1:120\npreferences: B 1:40\n"),
        "{text}"
    );
    assert_eq!(
        ProtocolBody::parse(&text).unwrap(),
        ProtocolBody::parse(&b.to_text()).unwrap()
    );
    assert!(!has_error(&violations(&e, &b)));
    let mut bad = good();
    bad.insert("votes:A".into(), 301);
    let v = violations(&e, &body(&e, c, s, &bad).unwrap());
    assert!(has_error(&v), "{v:?}");
    assert!(v.iter().all(|v| !v.rule.is_empty()));
    // A missing required line, a line not on the form, a value that is not a count.
    let mut missing = good();
    missing.remove("count:valid");
    assert_eq!(
        body(&e, c, s, &missing),
        Err(FormError::Missing("count:valid".into()))
    );
    let mut unknown = good();
    unknown.insert("pref:B:5".into(), 1);
    assert_eq!(
        body(&e, c, s, &unknown),
        Err(FormError::UnknownLine("pref:B:5".into()))
    );
    assert_eq!(parse_value("votes:A", " 007 "), Ok(7));
    for bad in ["", "-1", "1e3", "1000000000000", "12 3", "٣"] {
        assert!(parse_value("votes:A", bad).is_err(), "{bad:?}");
    }
}

#[test]
fn equal_entries_sign_different_or_invalid_ones_do_not() {
    let e = election();
    let (c, s) = idx(&e, "S0");
    let a = good();
    // An empty preference box and a 0 are the same entry.
    let mut zero = good();
    zero.insert("pref:A:2".into(), 0);
    assert_eq!(
        decide(&e, c, s, &a, &zero),
        Decision::Sign(body(&e, c, s, &a).unwrap().to_text())
    );
    let mut other = good();
    other.insert("pref:A:1".into(), 121);
    assert_eq!(decide(&e, c, s, &a, &other), Decision::Differ);
    assert_eq!(
        differing_lines(&lines(&e, c, s), &a, &other),
        ["pref:A:1".to_owned()]
    );
    let mut invalid = good();
    invalid.insert("count:valid".into(), 491);
    assert_eq!(decide(&e, c, s, &invalid, &invalid), Decision::Invalid);
}

fn entry() -> impl Strategy<Value = BTreeMap<String, u64>> {
    // Small values, so that random pairs are often equal or nearly so.
    proptest::collection::vec(0u64..12, 9).prop_map(|v| {
        let mut m = good();
        let keys = [
            "count:registered",
            "count:ballots-cast",
            "count:invalid",
            "count:valid",
            "votes:A",
            "votes:B",
            "pref:A:1",
            "pref:A:2",
            "pref:B:1",
        ];
        for (k, d) in keys.iter().zip(v) {
            // Mostly the paper's value; 10 and 11 are typos, 9 keys an empty box as 0.
            match d {
                10 | 11 => {
                    let x = m.get(*k).copied().unwrap_or(0);
                    m.insert((*k).to_owned(), x + d - 9);
                }
                9 if k.starts_with("pref:") && !m.contains_key(*k) => {
                    m.insert((*k).to_owned(), 0);
                }
                _ => {}
            }
        }
        m
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever two entries are typed, a protocol is signed only if both state it, it passes
    /// every error rule, and the signed text is that protocol.
    #[test]
    fn double_entry_never_signs_unequal_entries(a in entry(), b in entry(), copy in any::<bool>()) {
        // Half the time the second typist keys what the first did.
        let b = if copy { a.clone() } else { b };
        let e = election();
        let (c, s) = idx(&e, "S0");
        match decide(&e, c, s, &a, &b) {
            Decision::Sign(text) => {
                let ba = body(&e, c, s, &a).unwrap();
                let bb = body(&e, c, s, &b).unwrap();
                prop_assert_eq!(&ba, &bb);
                prop_assert_eq!(text, ba.to_text());
                prop_assert!(differing_lines(&lines(&e, c, s), &a, &b).is_empty());
                prop_assert!(!has_error(&violations(&e, &ba)));
            }
            Decision::Differ => {
                prop_assert!(!differing_lines(&lines(&e, c, s), &a, &b).is_empty());
            }
            Decision::Invalid => {
                prop_assert!(differing_lines(&lines(&e, c, s), &a, &b).is_empty());
            }
        }
    }
}
