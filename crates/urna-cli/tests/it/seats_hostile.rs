//! Hostile rule sets and vote files given to the real binary (`urna seats --rules FILE --votes
//! FILE`): each is refused with exit 2 and an error naming the field and the rule, promptly,
//! never a panic, a hang or memory sized by an untrusted number.

use std::time::{Duration, Instant};

use crate::{p, run};

const NO_DISTRICTS: &str = "id = \"t\"\ntitle = \"t\"\nlegal_source = [\"x\"]\n\
    method = \"dhondt\"\ntie_break = { rule = \"lot\", seed = \"s\" }\n";

const VOTES: &str = "[lists.A]\ncommunity = \"c1\"\n[lists.B]\n[districts.d]\nseats = 10\n\
    votes = { A = 100, B = 200 }\n";

/// Runs `urna seats` on a rule set and a vote file; returns its output, which must come with
/// exit code `code` within ten seconds.
fn seats(dir: &std::path::Path, rules: &str, votes: &str, code: i32) -> String {
    let (r, v) = (dir.join("rules.toml"), dir.join("votes.toml"));
    std::fs::write(&r, rules).unwrap();
    std::fs::write(&v, votes).unwrap();
    let start = Instant::now();
    let out = run(&["seats", "--rules", p(&r), "--votes", p(&v)], code);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    out
}

#[test]
fn a_community_seat_count_of_2_pow_32_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let rules = format!("{NO_DISTRICTS}[[community]]\nid = \"c1\"\nreserved_seats = 4294967295\n");
    let out = seats(dir.path(), &rules, VOTES, 2);
    assert!(out.contains("`community.c1.reserved_seats`"), "{out}");
    let rules = format!(
        "{NO_DISTRICTS}minimum_guarantee = {{ open_seats = 4294967295, source = \"x\" }}\n\
         [[community]]\nid = \"c1\"\nreserved_seats = 1\n"
    );
    let out = seats(dir.path(), &rules, VOTES, 2);
    assert!(out.contains("`minimum_guarantee.open_seats`"), "{out}");
}

/// A definition's seats to fill (`seats = { rules = "generic", house = N }`) outside 1 to the
/// most one contest may hold is refused by `urna init` by field, before anything is created:
/// accepted, no seat could ever be allocated for the election it commits to.
#[test]
fn init_refuses_a_house_of_0_or_2_pow_32_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sim");
    run(
        &[
            "sim",
            "--out",
            p(&src),
            "--stations",
            "20",
            "--districts",
            "2",
        ],
        0,
    );
    let clean = std::fs::read_to_string(src.join("election.toml")).unwrap();
    assert!(
        clean.contains("house = 100"),
        "the simulation names no house"
    );
    for house in ["0", "10001", "4294967295"] {
        let definition = src.join(format!("house-{house}.toml"));
        std::fs::write(
            &definition,
            clean.replacen("house = 100", &format!("house = {house}"), 1),
        )
        .unwrap();
        let data = dir.path().join(format!("data-{house}"));
        let out = run(
            &["init", "--definition", p(&definition), "--data", p(&data)],
            2,
        );
        assert!(
            out.contains("`contests.assembly.seats.house`") && out.contains("10000"),
            "house = {house}: {out}"
        );
        assert!(
            !data.exists(),
            "house = {house}: {} was created",
            data.display()
        );
    }
}

/// Under a rule set that lists its districts, every unit below the country that holds stations
/// must be one of them: a definition with a thirteenth Albanian district of two stations was
/// initialised, and `urna seats --data` left that district's votes out of every seat and of
/// the national threshold's base without a word. `urna init` refuses it, naming the unit.
#[test]
fn init_refuses_a_unit_with_stations_that_is_no_district_of_the_rule_set() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sim");
    run(
        &[
            "sim",
            "--out",
            p(&src),
            "--stations",
            "60",
            "--districts",
            "12",
        ],
        0,
    );
    let toml = std::fs::read_to_string(src.join("election.toml")).unwrap();
    assert!(
        toml.contains("seats = { rules = \"albania\" }"),
        "not Albania's rules"
    );
    let toml = toml.replacen(
        "[[units]]\nid = \"D01\"\n",
        "[[units]]\nid = \"D13\"\nname = \"Elsewhere\"\nparent = \"SIM\"\n\n\
         [[units]]\nid = \"D13-M001\"\nname = \"Elsewhere 1\"\nparent = \"D13\"\n\n\
         [[units]]\nid = \"D01\"\n",
        1,
    );
    let stations = std::fs::read_to_string(src.join("stations.csv"))
        .unwrap()
        .replacen("PS-0000001,D01-M001", "PS-0000001,D13-M001", 1)
        .replacen("PS-0000002,D01-M001", "PS-0000002,D13-M001", 1);
    let extra = dir.path().join("extra");
    std::fs::create_dir(&extra).unwrap();
    std::fs::write(extra.join("election.toml"), toml).unwrap();
    std::fs::write(extra.join("stations.csv"), stations).unwrap();
    let data = dir.path().join("data");
    let out = run(
        &[
            "init",
            "--definition",
            p(&extra.join("election.toml")),
            "--data",
            p(&data),
        ],
        2,
    );
    assert!(
        out.contains("`D13`") && out.contains("albania") && out.contains("2 station"),
        "{out}"
    );
    assert!(!data.exists(), "{} was created", data.display());
}
