//! The results page's audit view (web/audit.js) in headless Chromium (see `web.rs` for the
//! browser and its tools), on the Albania 2021 import with an audit of which list came first
//! logged by `urna audit start | seed | sample | count | verdict`, one sampled box's hand count
//! differing from its protocol:
//!
//! 1. the navigation offers the view, and it shows what `v1/audit.json` says: the audited
//!    checkpoint, rules and risk limit, the seed and its signer, round 1's stations with their
//!    draw numbers and how often each was drawn, which are counted and which differ, the risk
//!    per assertion and the verdict;
//! 2. the same in Albanian and Macedonian;
//! 3. axe-core finds no serious or critical violation on the view.

use serde_json::{Value, json};

use crate::audit::{SEED, counts_file, logged_sample, source_rows};
use crate::server::Server;
use crate::web::{Browser, Tools, fetch_json, screenshot_dir};
use crate::web_map::{axe, axe_js};
use crate::{p, run};

/// The view's rows per sampled station: [id, state, times drawn, draws cell text].
const ROWS_JS: &str = "return [...document.querySelectorAll('[data-testid=au-sample] tbody tr')]\
    .map(tr => [tr.dataset.station, tr.dataset.state, Number(tr.dataset.times), \
      tr.children[2].textContent]);";

#[test]
fn web_page_shows_the_audit() {
    let Some(tools) = Tools::find("web_page_shows_the_audit", false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("al");
    crate::albania::import_2021(&data);
    let key = data.join("secrets/central-commission.key");
    let rows = source_rows();
    let log = ["--data", p(&data), "--key", p(&key)];
    let step = |cmd: &str, extra: &[&str]| run(&[&["audit", cmd][..], &log, extra].concat(), 0);
    step("start", &["--rules", "generic", "--seats", "1"]);
    step("seed", &["--seed", SEED]);
    let stations = logged_sample(&step("sample", &[]));
    // The first sampled box's paper holds five PS ballots that its protocol gave PD.
    let counts = dir.path().join("counts.csv");
    counts_file(&counts, &rows, &stations, |s, row| {
        if s == stations[0] {
            *row.get_mut("PS").unwrap() -= 5;
            *row.get_mut("PD").unwrap() += 5;
        }
    });
    step("count", &["--counts", p(&counts)]);
    let verdict = urna_verdict(&log);

    let server = Server::start(&data, &["--publish-ms", "100"]);
    let size = 5203 + stations.len() as u64 + 1;
    server.wait_bundle(size);
    let doc = fetch_json(&server.addr, "/v1/audit.json");
    let audit = &doc["audits"][0];
    assert_eq!(audit["status"], verdict, "{audit}");
    let sample = &audit["samples"][0];
    let want: Vec<Value> = sample["stations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let draws = s["draws"].as_array().unwrap();
            let differs = s["counted"] != s["reported"];
            json!([
                s["id"],
                if differs { "discrepancy" } else { "match" },
                draws.len(),
                draws
                    .iter()
                    .map(|d| d.as_u64().unwrap().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ])
        })
        .collect();
    assert_eq!(want.len(), stations.len());
    assert_eq!(want[0][1], "discrepancy");

    let b = Browser::start(&tools, (1280, 1000));
    let base = format!("http://{}/", server.addr);
    b.goto(&base);
    b.wait_ready();
    b.set_lang("en");
    let link = b.wait_for(
        "the audit's navigation link, shown",
        "const li = document.getElementById('nav-audit'); \
         return li && !li.hidden ? li.textContent.trim() : null;",
        &[],
    );
    assert_eq!(link, json!("Audit"));
    b.js(
        "document.querySelector('#nav-audit a').click(); return true;",
        &[],
    );
    let seen = b.wait_for(
        "the audit view",
        "const a = document.querySelector('[data-testid=au-audit]'); if (!a) return null; \
         return {status: a.dataset.status, \
           statusText: document.querySelector('[data-testid=au-status]').textContent, \
           checkpoint: document.querySelector('[data-testid=au-checkpoint]').textContent, \
           rules: document.querySelector('[data-testid=au-rules]').textContent, \
           limit: document.querySelector('[data-testid=au-limit]').textContent, \
           seed: document.querySelector('[data-testid=au-seed]').textContent, \
           progress: document.querySelector('[data-testid=au-progress]').textContent, \
           assertions: document.querySelectorAll('[data-testid=au-assertions] tbody tr').length, \
           verdicts: [...document.querySelectorAll('[data-testid=au-verdicts] tbody tr')] \
             .map(tr => tr.dataset.verdict), \
           otherRules: document.querySelector('[data-testid=au-other-rules]')?.textContent ?? null, \
           covers: document.querySelector('[data-testid=au-coverage]')?.dataset.covers ?? null, \
           heading: document.activeElement?.tagName};",
        &[],
    );
    assert_eq!(seen["status"], verdict, "{seen}");
    assert_eq!(seen["heading"], "H2", "focus moves to the view's heading");
    assert!(
        seen["checkpoint"]
            .as_str()
            .unwrap()
            .contains("the first 5,200 entries of the log"),
        "{seen}"
    );
    assert!(
        seen["checkpoint"]
            .as_str()
            .unwrap()
            .contains(audit["checkpoint_root"].as_str().unwrap()),
        "{seen}"
    );
    assert_eq!(seen["rules"], "generic, seats: 1");
    // An audit of who came first says it confirms no seats of the contest; nothing changed
    // after its checkpoint, so it covers the results.
    assert!(
        seen["otherRules"]
            .as_str()
            .is_some_and(|t| t.contains("confirms no seats")),
        "{seen}"
    );
    assert_eq!(seen["covers"], "true", "{seen}");
    assert_eq!(seen["limit"], "0.05");
    // The commission's key, as the definition names it.
    assert_eq!(audit["seed"]["signer"], "KQZ");
    assert_eq!(
        seen["seed"],
        json!(format!("{SEED} (signed by KQZ, entry 5201)"))
    );
    assert!(
        seen["progress"].as_str().unwrap().starts_with(&format!(
            "{n} of {n} stations counted by hand, 1 of them differing from the protocol.",
            n = stations.len()
        )),
        "{seen}"
    );
    assert_eq!(
        seen["assertions"],
        json!(audit["assertions"].as_array().unwrap().len())
    );
    assert_eq!(seen["verdicts"], json!([verdict]));
    assert_eq!(b.js(ROWS_JS, &[]), json!(want));
    // The differing box says what differs.
    let diff = b.js(
        "return document.querySelector('[data-testid=au-sample] tbody tr[data-state=discrepancy] td:last-child').textContent;",
        &[],
    );
    let reported = &sample["stations"][0]["reported"];
    let counted = &sample["stations"][0]["counted"];
    assert_eq!(
        (&audit["lists"][0], &audit["lists"][1]),
        (&json!("PS"), &json!("PD"))
    );
    let diff = diff.as_str().unwrap();
    for k in 0..2 {
        let change = format!("{} → {}", fmt(&reported[k]), fmt(&counted[k]));
        assert!(diff.contains(&change), "{change} not in {diff}");
    }
    assert_eq!(diff.matches('→').count(), 2, "{diff}");
    let out = screenshot_dir();
    std::fs::create_dir_all(&out).unwrap();
    b.screenshot_full(&out.join("en-audit.png"));

    // In Albanian and Macedonian: other words, the same rows.
    for (lang, title, progress) in [
        (
            "sq",
            "Auditimi me kufi rreziku i mandateve",
            format!(
                "{n} nga {n} qendra të numëruara me dorë",
                n = stations.len()
            ),
        ),
        (
            "mk",
            "Контролно броење на мандатите со ограничен ризик",
            format!("{n} од {n} места изброени рачно", n = stations.len()),
        ),
    ] {
        b.set_lang(lang);
        let seen = b.wait_for(
            &format!("the audit view in {lang}"),
            "const h = document.querySelector('#view h2'); \
             return h && h.textContent === arguments[0] ? \
               [document.querySelector('#nav-audit').textContent.trim(), \
                document.querySelector('[data-testid=au-progress]').textContent] : null;",
            &[json!(title)],
        );
        assert!(
            seen[1].as_str().unwrap().starts_with(&progress),
            "{lang}: {seen}"
        );
        assert_ne!(seen[0], "Audit", "{lang}: the link is translated");
        assert_eq!(b.js(ROWS_JS, &[]).as_array().unwrap().len(), want.len());
    }
    b.screenshot_full(&out.join("mk-audit.png"));

    if let Some(source) = axe_js().map(|p| std::fs::read_to_string(p).unwrap()) {
        for lang in ["en", "sq"] {
            b.goto(&format!("{base}?lang={lang}#/audit"));
            b.wait_for(
                "the audit view, rendered",
                "return document.body.dataset.ready === '1' \
                 && document.querySelector('[data-testid=au-audit]') !== null || null;",
                &[],
            );
            let found = axe(&b, &source);
            assert!(
                found.is_empty(),
                "axe-core, audit view ({lang}): {} serious or critical violations:\n{}",
                found.len(),
                found.join("\n")
            );
        }
    }
    b.report_console("web_page_shows_the_audit");
    drop(b);
    assert!(server.stop().success());
}

/// Logs the verdict; the status `v1/audit.json` gives after it.
fn urna_verdict(log: &[&str]) -> &'static str {
    let out = crate::urna()
        .args([&["audit", "verdict"][..], log].concat())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("risk limit met") {
        "risk-limit-met"
    } else if text.contains("escalate") {
        "escalate"
    } else {
        assert_eq!(out.status.code(), Some(1), "{text}");
        "full-hand-count"
    }
}

/// A count as the page writes it in English.
fn fmt(v: &Value) -> String {
    let n = v.as_u64().unwrap();
    if n >= 1000 {
        format!("{},{:03}", n / 1000, n % 1000)
    } else {
        n.to_string()
    }
}
