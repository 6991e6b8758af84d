//! One ordered story with the real binary: `urna assess init` on a data directory made by
//! `urna init` (with witnesses, a backup and a serve configuration), the operator's answers,
//! `sign`, `cosign` by a partner agency, `verify`, `report` in Macedonian, then a tampered note
//! refused by every signature, and signing refused once the deployment no longer matches what
//! urna's checks said.

use std::path::Path;

use crate::{init, p, run};

fn keygen(dir: &Path, name: &str) -> String {
    run(
        &[
            "keys",
            "generate",
            name,
            "--out",
            p(&dir.join(format!("{name}.key"))),
        ],
        0,
    )
    .lines()
    .next()
    .unwrap()
    .trim()
    .to_owned()
}

fn witness_key(dir: &Path, name: &str) -> String {
    run(
        &[
            "witness",
            "keygen",
            "--name",
            name,
            "--out",
            p(&dir.join(format!("{name}.wkey"))),
        ],
        0,
    )
    .trim()
    .to_owned()
}

#[test]
fn assessment_story_init_sign_cosign_verify_report_and_tamper() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (src, data, backups) = (d.join("src"), d.join("data"), d.join("backups"));
    run(&["sim", "--out", p(&src), "--stations", "20"], 0);
    init(&src, &data);

    // 1. The deployment: two witnesses of two institutions over HTTPS, a routine backup, and
    //    the server's unit listening on loopback behind a proxy.
    let (a, b) = (
        witness_key(d, "data-protection"),
        witness_key(d, "observers"),
    );
    std::fs::write(
        data.join("witnesses.toml"),
        format!(
            "quorum = 2\n\n[[witness]]\nname = \"data-protection\"\nurl = \"https://witness.dpa.example\"\nkey = \"{a}\"\n\n\
             [[witness]]\nname = \"observers\"\nurl = \"https://witness.observers.example:8443\"\nkey = \"{b}\"\n"
        ),
    )
    .unwrap();
    run(
        &[
            "backup",
            "--data",
            p(&data),
            "--out",
            p(&backups.join("night-1")),
        ],
        0,
    );
    let unit = d.join("urna.service");
    std::fs::write(
        &unit,
        format!(
            "[Service]\nExecStart=/usr/bin/urna serve --data {} --listen 127.0.0.1:8080\n",
            p(&data)
        ),
    )
    .unwrap();

    // 2. init: urna's own answers, with their evidence.
    let file = d.join("assessment.toml");
    let args = [
        "assess",
        "init",
        "--data",
        p(&data),
        "--backups",
        p(&backups),
        "--serve-config",
        p(&unit),
        "--date",
        "2026-12-06",
        "--out",
        p(&file),
    ];
    let out = run(&args, 0);
    for expected in [
        "station-keys           pass 20 stations, 20 distinct keys",
        "witness-quorum         pass quorum 2 of 2 witnesses; hosts: witness.dpa.example (data-protection), witness.observers.example (observers)",
        "witness-tls            pass",
        "serve-tls              pass urna serve on 127.0.0.1:8080: plain HTTP on loopback only",
        "backups                pass 1 backup of sim-2025-assembly",
        "backups-without-keys   pass",
        "key-custody            pass",
        "audit-trail            unknown no desk.sqlite",
        "10 controls answered by urna, 21 for the operator",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // It never overwrites.
    assert!(run(&args, 2).contains("exists already"));

    // 3. The operator answers two controls; the rest stay open.
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text
        .replacen(
            "id = \"asset-inventory\"\nanswer = \"open\"\nevidence = \"\"",
            "id = \"asset-inventory\"\nanswer = \"yes\"\nevidence = \"Inventory v3 of 2026-11-30, kept by the IT unit\"",
            1,
        )
        .replacen(
            "id = \"capacity\"\nanswer = \"open\"\nevidence = \"\"",
            "id = \"capacity\"\nanswer = \"partly\"\nevidence = \"urna bench serve measured; no mirror yet\"",
            1,
        );
    std::fs::write(&file, &text).unwrap();

    // 4. The commission signs; a partner agency checks and co-signs.
    let cec = keygen(d, "cec");
    let agency = keygen(d, "cyber-agency");
    let note = d.join("assessment.note");
    let out = run(
        &[
            "assess",
            "sign",
            p(&file),
            "--key",
            p(&d.join("cec.key")),
            "--out",
            p(&note),
        ],
        0,
    );
    assert!(
        out.contains("signed sim-2025-assembly as cec (31 controls, 19 still open)"),
        "{out}"
    );
    let body = std::fs::read_to_string(&note).unwrap();
    assert!(
        body.starts_with("urna/assessment/v1\nelection: sim-2025-assembly\n"),
        "{body}"
    );
    assert!(body.contains("\ncontrol: capacity partly urna bench serve measured; no mirror yet\n"));
    let out = run(
        &[
            "assess",
            "cosign",
            p(&note),
            "--key",
            p(&d.join("cyber-agency.key")),
            "--trust",
            &cec,
        ],
        0,
    );
    assert!(out.contains("as cyber-agency (2 signatures)"), "{out}");
    // The same agency twice is refused.
    run(
        &[
            "assess",
            "cosign",
            p(&note),
            "--key",
            p(&d.join("cyber-agency.key")),
        ],
        2,
    );

    // 5. verify names who signed.
    let out = run(
        &[
            "assess",
            "verify",
            p(&note),
            "--trust",
            &cec,
            "--trust",
            &agency,
        ],
        0,
    );
    assert!(out.contains("signed by: cec, cyber-agency"), "{out}");
    let out = run(&["assess", "verify", p(&note), "--trust", &agency], 0);
    assert!(
        out.contains("signed by: cyber-agency") && out.contains("not checked: cec"),
        "{out}"
    );

    // 6. The report in Macedonian: HTML and PDF.
    let report = d.join("report-mk");
    run(
        &[
            "assess",
            "report",
            p(&note),
            "--lang",
            "mk",
            "--trust",
            &cec,
            "--trust",
            &agency,
            "--out",
            p(&report),
        ],
        0,
    );
    let page = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(
        page.contains("<html lang=\"mk\">") && page.contains("Самопроценка според стандардите")
    );
    assert!(page.contains("cec, cyber-agency"));
    let pdf = std::fs::read(report.join("assessment.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-") && pdf.windows(9).any(|w| w == b"/FontFile"));
    assert!(
        run(
            &[
                "assess",
                "report",
                p(&note),
                "--lang",
                "de",
                "--out",
                p(&report)
            ],
            2
        )
        .contains("must be en, sq, mk or sr-Latn")
    );

    // 7. A changed answer breaks every signature.
    let tampered = d.join("tampered.note");
    let signed = std::fs::read_to_string(&note).unwrap();
    std::fs::write(
        &tampered,
        signed.replacen("capacity partly", "capacity yes", 1),
    )
    .unwrap();
    for key in [&cec, &agency] {
        let out = run(&["assess", "verify", p(&tampered), "--trust", key], 1);
        assert!(out.contains("does not verify"), "{out}");
    }

    // 8. The deployment changed (no witnesses any more): the file no longer signs.
    std::fs::remove_file(data.join("witnesses.toml")).unwrap();
    let out = run(
        &[
            "assess",
            "sign",
            p(&file),
            "--key",
            p(&d.join("cec.key")),
            "--out",
            p(&d.join("again.note")),
        ],
        2,
    );
    assert!(
        out.contains("answer witness-quorum") && out.contains("now says `fail"),
        "{out}"
    );
}

/// The report's HTML in each of the four languages, loaded in Chromium: axe-core finds no
/// serious or critical violation, and the page names its language.
#[test]
fn assessment_report_passes_axe_in_every_language() {
    use crate::web::{Browser, Tools};
    use crate::web_map::{axe, axe_js};

    let Some(tools) = Tools::find("assessment_report_passes_axe_in_every_language", false) else {
        return;
    };
    let Some(source) = axe_js().map(|p| std::fs::read_to_string(p).unwrap()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (src, data) = (d.join("src"), d.join("data"));
    run(&["sim", "--out", p(&src), "--stations", "5"], 0);
    init(&src, &data);
    let file = d.join("assessment.toml");
    run(
        &[
            "assess",
            "init",
            "--data",
            p(&data),
            "--date",
            "2026-12-06",
            "--out",
            p(&file),
        ],
        0,
    );
    let cec = keygen(d, "cec");
    let note = d.join("assessment.note");
    run(
        &[
            "assess",
            "sign",
            p(&file),
            "--key",
            p(&d.join("cec.key")),
            "--out",
            p(&note),
        ],
        0,
    );
    let b = Browser::start(&tools, (1000, 800));
    for lang in ["en", "sq", "mk", "sr-Latn"] {
        let out = d.join(format!("report-{lang}"));
        run(
            &[
                "assess",
                "report",
                p(&note),
                "--lang",
                lang,
                "--trust",
                &cec,
                "--out",
                p(&out),
            ],
            0,
        );
        b.goto(&format!("file://{}", p(&out.join("index.html"))));
        let page_lang = b.js("return document.documentElement.lang;", &[]);
        assert_eq!(page_lang.as_str(), Some(lang));
        let found = axe(&b, &source);
        assert!(
            found.is_empty(),
            "axe-core, assessment report ({lang}): {} serious or critical violations:\n{}",
            found.len(),
            found.join("\n")
        );
    }
}
