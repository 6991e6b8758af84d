//! Names with line breaks, control characters and terminal escape sequences, handed to the real
//! binary in the files that decide seats: `urna init` refuses them in a definition, naming the
//! file, line and field, and creates nothing; what it prints never carries them raw.

use std::path::Path;

use crate::{p, run, urna};

/// A definition of `urna sim` (open lists, so it has candidates) in `dir/sim`.
fn sim(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("sim");
    run(
        &[
            "sim",
            "--out",
            p(&src),
            "--stations",
            "20",
            "--districts",
            "2",
            "--candidates",
            "2",
        ],
        0,
    );
    src
}

#[test]
fn init_refuses_control_characters_in_every_name_by_field_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = sim(dir.path());
    let clean = std::fs::read_to_string(src.join("election.toml")).unwrap();
    // (field, text in the simulated definition, the same with control characters in it)
    let cases = [
        (
            "election.name",
            r#"name = "Synthetic Assembly election""#,
            r#"name = "Synthetic\nFORGED: all stations counted""#,
        ),
        (
            "contests.name",
            r#"name = "Assembly""#,
            r#"name = "Assem\u0007bly""#,
        ),
        (
            "lists.name",
            r#"name = "Alliance for Progress""#,
            r#"name = "Alliance \u001b[31mfor\u001b[0m Progress""#,
        ),
        (
            "lists.candidates.name",
            r#"name = "Alliance for Progress candidate 1""#,
            r#"name = "Alliance\r\nfor Progress candidate 1""#,
        ),
        (
            "units.name",
            r#"name = "Simland""#,
            r#"name = "Sim\u001b]0;title\u0007land""#,
        ),
        (
            "authorities.name",
            r#"name = "Central Election Commission""#,
            r#"name = "Central \u009b2J Election Commission""#,
        ),
    ];
    for (i, (field, from, to)) in cases.iter().enumerate() {
        assert!(
            clean.contains(from),
            "{field}: the simulation has no {from}"
        );
        let hostile = clean.replacen(from, to, 1);
        let line = hostile[..hostile.find(to).unwrap()].matches('\n').count() + 1;
        let definition = src.join(format!("hostile-{i}.toml"));
        std::fs::write(&definition, hostile).unwrap();
        let data = dir.path().join(format!("data-{i}"));
        let out = urna()
            .args(["init", "--definition", p(&definition), "--data", p(&data)])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field}: {stdout}\n{stderr}");
        assert!(
            stderr.contains(&format!("hostile-{i}.toml:{line}: field `{field}`"))
                && stderr.contains("control characters"),
            "{field}: {stderr}"
        );
        assert!(
            !stderr.chars().any(|c| c.is_control() && c != '\n') && stderr.lines().count() == 1,
            "{field}: printed raw: {stderr:?}"
        );
        assert!(stdout.is_empty(), "{field}: {stdout}");
        assert!(!data.exists(), "{field}: {} was created", data.display());
    }
    // The simulated definition itself is clean and initialises.
    let out = run(
        &[
            "init",
            "--definition",
            p(&src.join("election.toml")),
            "--data",
            p(&dir.path().join("data")),
        ],
        0,
    );
    assert!(out.contains("initialised"), "{out}");
}

/// `urna seats --votes FILE`: a list id, name or candidate name with an escape sequence, or a
/// district id with a line break, is refused by field (exit 2), never printed raw.
#[test]
fn seats_refuses_control_characters_in_a_vote_file_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let votes = dir.path().join("votes.toml");
    let cases = [
        (
            "[lists.\"A\\u001b[31mRED\"]\n[lists.B]\n[districts.d]\nseats = 3\n\
             votes = { \"A\\u001b[31mRED\" = 600, B = 250 }\n",
            "districts.d.votes.\"A\\u{1b}[31mRED\"",
        ),
        (
            "[lists.A]\ncandidates = [ { number = 1, name = \"Ar\\u001b[1mta\" } ]\n[lists.B]\n\
             [districts.d]\nseats = 3\nvotes = { A = 600, B = 250 }\n",
            "lists.A.candidates[0].name",
        ),
        (
            "[lists.A]\n[lists.B]\n[districts.\"d\\nFORGED\"]\nseats = 3\n\
             votes = { A = 600, B = 250 }\n",
            "districts.\"d\\nFORGED\"",
        ),
    ];
    for (text, field) in cases {
        std::fs::write(&votes, text).unwrap();
        let out = urna()
            .args([
                "seats",
                "--rules",
                "generic",
                "--votes",
                p(&votes),
                "--explain",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field}: {stdout}\n{stderr}");
        assert!(
            stderr.contains(&format!("votes field `{field}`")),
            "{field}: {stderr}"
        );
        assert!(
            !stderr.chars().any(|c| c.is_control() && c != '\n') && stderr.lines().count() == 1,
            "{field}: printed raw: {stderr:?}"
        );
        assert!(stdout.is_empty(), "{field}: {stdout}");
    }
}

/// `urna seats --seed TEXT`: the seed is printed with the seat table, so a seed with an escape
/// sequence is refused as the vote file's `tie_seed` is.
#[test]
fn seats_refuses_a_seed_with_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let votes = dir.path().join("votes.toml");
    std::fs::write(
        &votes,
        "[lists.A]\n[lists.B]\n[districts.d]\nseats = 3\nvotes = { A = 600, B = 250 }\n",
    )
    .unwrap();
    let out = urna()
        .args(["seats", "--rules", "generic", "--votes", p(&votes)])
        .args(["--seed", "draw\u{1b}[2J"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("--seed"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && stdout.is_empty(),
        "{stderr:?}"
    );
}
