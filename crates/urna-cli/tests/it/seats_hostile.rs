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
