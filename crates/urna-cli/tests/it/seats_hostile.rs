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
