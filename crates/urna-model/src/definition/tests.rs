use super::*;
use crate::note::NoteSigner;

const TOML: &str = r#"[election]
id = "e1"
name = "E"

[stations]
file = "stations.csv"

[[contests]]
id = "c"
name = "C"
lists = ["A"]

[[lists]]
id = "A"
name = "A"

[[units]]
id = "R"
name = "Root"

[[units]]
id = "M"
name = "Municipality"
parent = "R"
"#;

fn csv() -> String {
    let k = NoteSigner::from_seed("S1", &[1; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    format!("{STATIONS_HEADER}\nS1,M,100,{k}\n")
}

fn load(toml: &str, csv: &str) -> Result<Election, DefinitionError> {
    Election::from_texts("election.toml", toml, "stations.csv", csv)
}

#[test]
fn definition_loads_with_default_counts_and_rules() {
    let e = load(TOML, &csv()).unwrap();
    assert_eq!(e.counts, DEFAULT_COUNTS);
    assert_eq!(e.rules.len(), 6);
    assert_eq!(e.units[1].level, "district");
    assert_eq!(e.station("S1"), Some(StationIdx(0)));
}

#[test]
fn definition_errors_name_file_line_field_and_rule() {
    let cases: Vec<(String, String, &str)> = vec![
        (
            TOML.replace("name = \"E\"", "name = \"E\"\ncolour = 1"),
            csv(),
            "unknown field `colour`",
        ),
        (
            TOML.replace("lists = [\"A\"]", "lists = [\"A\", \"Z\"]"),
            csv(),
            "election.toml:11: field `contests.lists`: list \"Z\" is not defined",
        ),
        (
            TOML.replace("parent = \"R\"", "parent = \"Q\""),
            csv(),
            "election.toml:24: field `units.parent`: parent \"Q\" is not a unit",
        ),
        (
            format!("{TOML}\n[[lists]]\nid = \"A\"\nname = \"again\"\n"),
            csv(),
            "election.toml:27: field `lists.id`: duplicate list id \"A\"",
        ),
        (
            format!(
                "{TOML}\n[[rules]]\nid = \"r\"\nseverity = \"error\"\ncheck = \"valid == turnout\"\nmessage = \"m\"\n"
            ),
            csv(),
            "field `rules.check`: rule \"r\": unknown name `turnout`",
        ),
        (
            TOML.into(),
            csv().replace(",M,", ",R,"),
            "stations.csv:2: field `unit`: unit \"R\" has sub-units",
        ),
        (
            TOML.into(),
            csv().replace(",100,", ",01,"),
            "stations.csv:2: field `registered`: must not have leading zeros",
        ),
        (
            TOML.into(),
            csv().replace("S1,", "S2,"),
            "stations.csv:2: field `key`: key name \"S1\" must equal the station id \"S2\"",
        ),
        (
            TOML.into(),
            format!("{}{}", csv(), csv().lines().nth(1).unwrap()),
            "stations.csv:3: field `id`: duplicate station id \"S1\"",
        ),
        (
            TOML.into(),
            "id,unit\n".into(),
            "stations.csv:1: field `header`",
        ),
    ];
    for (toml, csv, want) in cases {
        let got = load(&toml, &csv).unwrap_err().to_string();
        assert!(got.contains(want), "got {got:?}, want {want:?}");
    }
}
