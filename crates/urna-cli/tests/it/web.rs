//! The public results page (`index.html` and `web/` of every bundle) in a real browser:
//! headless Chromium driven over W3C WebDriver by chromedriver, against the bundle as nginx
//! and `urna serve` serve it. The page is tested only through its DOM contract (`data-*`
//! attributes and `data-testid`s):
//!
//! 1. it loads, verifies the checkpoint, shows the totals, the reporting progress and the
//!    quarantine exactly as `v1/results.json` and `v1/quarantine.json` say, in all four
//!    languages; a station found by the search box verifies in the browser;
//! 2. a station whose entry was altered in a copied bundle fails to verify, with a reason;
//! 3. with `urna serve` publishing new checkpoints, the open page follows them without a
//!    reload;
//! 4. screenshots of the main views in every language, and of the national view on a phone,
//!    are written to `$CARGO_TARGET_DIR/web-screenshots/` for people to look at;
//! 5. open lists: every list's candidates, at the national level, in a district and at a
//!    station, hold exactly the bundle's preference votes and shares, the elected marked as the
//!    seats say; a station verifies, and a unit file showing one preference number otherwise
//!    is refused, naming the list and ballot number.
//!
//! Needs Chromium and chromedriver (Debian packages `chromium` and `chromium-driver`), and
//! nginx for 1 and 2. Without them the tests fail when `CI` is set, and otherwise say loudly
//! that they were skipped. Every wait polls the page against a deadline and fails with the
//! page's state; none is a fixed sleep.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use urna_model::pack::{PackReader, write_note};

use crate::log_story::{Witness, start_witness};
use crate::nginx::{Nginx, find_nginx};
use crate::server::{Server, get, post_note, read_response};
use crate::{init, p, run};

/// Entry 0 of every log is the genesis `urna init` writes.
const GENESIS: u64 = 1;
/// How long any one wait on the page may take.
const DEADLINE: Duration = Duration::from_secs(30);
/// The page's languages, as `select#lang` names them.
pub(crate) const LANGS: [&str; 4] = ["en", "sq", "mk", "sr-Latn"];
/// The two witnesses (quorum 2) whose names the page must show as co-signers.
const WITNESSES: [&str; 2] = ["cyber-security-agency", "observer-mission"];
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn web_page_shows_and_verifies_results_from_nginx_and_urna_serve() {
    let Some(tools) = Tools::find("web_page_shows_and_verifies_results", true) else {
        return;
    };
    let e = Election::new();
    e.ingest(&[
        &e.src.join("protocols.notes"),
        &e.src.join("amendments.notes"),
    ]);
    let server = Server::start(&e.data, &["--publish-ms", "100"]);
    server.wait_bundle(e.size());
    let nginx = Nginx::start(
        tools.nginx.as_deref().unwrap(),
        &e.dir.path().join("nginx"),
        &server.bundle.join("current"),
    );
    let b = Browser::start(&tools, (1280, 1000));
    for (who, addr) in [("nginx", &nginx.addr), ("urna serve", &server.addr)] {
        let t = Instant::now();
        check_site(&b, who, addr);
        eprintln!(
            "web: the page served by {who} checked in {:.1?}",
            t.elapsed()
        );
    }
    b.report_console("web_page_shows_and_verifies_results");
    drop(b);
    drop(nginx);
    assert!(server.stop().success());
}

#[test]
fn web_page_refuses_a_tampered_entry() {
    let Some(tools) = Tools::find("web_page_refuses_a_tampered_entry", true) else {
        return;
    };
    let e = Election::new();
    e.ingest(&[&e.src.join("protocols.notes")]);
    let server = Server::start(&e.data, &["--publish-ms", "100"]);
    server.wait_bundle(GENESIS + e.notes("protocols.notes").len() as u64);

    // Two counted stations whose only entry is in the first entry bundle: one stays as it
    // is, the other gets one vote digit changed (same length: the 2-byte length prefixes of
    // the entry bundle stay valid).
    let picks = counted_stations(&server.addr, 2, |s| {
        s["current"]["index"].as_u64().is_some_and(|i| i < 256) && s.get("history").is_none()
    });
    let (honest, victim) = (&picks[0], &picks[1]);
    let copy = e.dir.path().join("tampered");
    let status = Command::new("cp")
        .arg("-rL")
        .arg(server.bundle.join("current"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let index = victim.1;
    let (before, after) = tamper_entry(&copy.join("tile/entries/000"), index, &victim.0);
    eprintln!(
        "web: entry {index} of {} altered: {before:?} -> {after:?}",
        victim.0
    );
    drop(server);

    let nginx = Nginx::start(
        tools.nginx.as_deref().unwrap(),
        &e.dir.path().join("nginx"),
        &copy,
    );
    let b = Browser::start(&tools, (1280, 1000));
    let base = format!("http://{}/", nginx.addr);
    b.goto(&base);
    b.wait_ready();

    // The honest station still verifies: what the page says then is not a reason to fail.
    let (state, honest_text, _) = b.verify_station(&base, &honest.0);
    assert_eq!(
        state,
        "verified",
        "station {} (untouched) did not verify: {honest_text:?}\n{}",
        honest.0,
        b.state()
    );
    let (state, text, running) = b.verify_station(&base, &victim.0);
    assert_eq!(
        state,
        "failed",
        "station {} (entry {index} altered: {before:?} -> {after:?}) was not refused: {text:?}\n{}",
        victim.0,
        b.state()
    );
    assert!(
        text.chars().filter(|c| c.is_alphanumeric()).count() >= 8,
        "the refusal gives no reason: {text:?}"
    );
    assert_ne!(text, honest_text, "the refusal reads like the success");
    if let Some(running) = running {
        assert_ne!(text, running, "the refusal reads like the loading text");
    }
    eprintln!("web: the tampered station was refused: {text:?}");
    b.report_console("web_page_refuses_a_tampered_entry");
}

#[test]
fn web_page_follows_new_checkpoints_without_reloading() {
    let Some(tools) = Tools::find("web_page_follows_new_checkpoints", false) else {
        return;
    };
    let e = Election::new();
    let protocols = e.notes("protocols.notes");
    let first = protocols.len() / 2;
    let half = e.dir.path().join("half.notes");
    let mut w = std::fs::File::create(&half).unwrap();
    for n in &protocols[..first] {
        write_note(&mut w, n).unwrap();
    }
    drop(w);
    e.ingest(&[&half]);
    let server = Server::start(&e.data, &["--publish-ms", "100"]);
    let size0 = GENESIS + first as u64;
    server.wait_bundle(size0);

    let b = Browser::start(&tools, (1280, 1000));
    let base = format!("http://{}/", server.addr);
    b.goto(&base);
    b.wait_ready();
    let results0 = fetch_json(&server.addr, "/v1/results.json");
    b.wait_checkpoint(&results0);
    b.wait_totals(&results0);
    b.js("window.__noReload = 1; return null;", &[]);

    let mut size = size0;
    for n in protocols[first..]
        .iter()
        .chain(&e.notes("amendments.notes"))
    {
        let r = post_note(&server.addr, n);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        size += 1;
    }
    server.wait_bundle(size);
    let results = fetch_json(&server.addr, "/v1/results.json");
    assert_eq!(results["checkpoint"]["size"].as_u64(), Some(size));
    let t = Instant::now();
    b.wait_checkpoint(&results);
    b.wait_totals(&results);
    b.wait_progress(&results);
    assert_eq!(
        b.js("return window.__noReload === 1;", &[]),
        json!(true),
        "the page reloaded to show checkpoint {size}\n{}",
        b.state()
    );
    eprintln!(
        "web: the open page went from checkpoint {size0} to {size} without a reload, {:.1?} after it was published",
        t.elapsed()
    );
    b.report_console("web_page_follows_new_checkpoints");
    drop(b);
    assert!(server.stop().success());
}

#[test]
fn web_page_screenshots() {
    let Some(tools) = Tools::find("web_page_screenshots", false) else {
        return;
    };
    let e = Election::new();
    e.ingest(&[
        &e.src.join("protocols.notes"),
        &e.src.join("amendments.notes"),
    ]);
    let server = Server::start(&e.data, &["--publish-ms", "100"]);
    server.wait_bundle(e.size());
    let quarantine = fetch_json(&server.addr, "/v1/quarantine.json");
    let station = counted_stations(&server.addr, 1, |_| true).remove(0).0;
    let election = fetch_json(&server.addr, "/v1/election.json");
    let unit = election["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["file"].is_string())
        .unwrap()
        .clone();
    let unit_id = unit["id"].as_str().unwrap();
    let unit_name = unit["name"].as_str().unwrap();

    let out = screenshot_dir();
    std::fs::create_dir_all(&out).unwrap();
    let b = Browser::start(&tools, (1280, 1000));
    let base = format!("http://{}/", server.addr);
    b.goto(&base);
    b.wait_ready();
    for lang in LANGS {
        b.set_lang(lang);
        b.goto(&format!("{base}#/"));
        b.wait_for(
            "the national view",
            "return location.hash.replace(/^#\\/?$/, '') === '' && \
             document.querySelector('table[data-testid=totals]') !== null \
             && document.body.dataset.ready === '1' || null;",
            &[],
        );
        b.screenshot_full(&out.join(format!("{lang}-national.png")));

        b.goto(&format!("{base}#/unit/{unit_id}"));
        b.wait_for(
            &format!("the view of unit {unit_id} ({unit_name})"),
            "return location.hash === '#/unit/' + arguments[0] && \
             document.body.innerText.includes(arguments[1]) || null;",
            &[json!(unit_id), json!(unit_name)],
        );
        b.screenshot_full(&out.join(format!("{lang}-unit.png")));

        let (state, text, _) = b.verify_station(&base, &station);
        assert_eq!(
            state,
            "verified",
            "{lang}: {station}: {text:?}\n{}",
            b.state()
        );
        b.screenshot_full(&out.join(format!("{lang}-station.png")));

        b.goto(&format!("{base}#/quarantine"));
        b.wait_quarantine(&quarantine);
        b.screenshot_full(&out.join(format!("{lang}-quarantine.png")));
    }

    // Phones: nothing wider than the screen at 320 and 390 CSS pixels, and on a 390 x 844
    // phone the first screen shows the status, reporting, turnout and the three leading lists.
    drop(b);
    let results = fetch_json(&server.addr, "/v1/results.json");
    for (width, height) in [(320, 640), (390, 844)] {
        let b = Browser::phone(&tools, (width, height));
        b.goto(&base);
        b.wait_ready();
        b.set_lang("en");
        b.wait_totals(&results);
        let widths = b.js(
            "return [window.innerWidth, document.documentElement.scrollWidth];",
            &[],
        );
        assert!(
            widths[1].as_u64() <= widths[0].as_u64(),
            "web: at {width} px the page is {} px wide and scrolls sideways",
            widths[1]
        );
        if width == 390 {
            b.screenshot(&out.join("en-national-phone.png"));
            b.screenshot_full(&out.join("en-national-phone-full.png"));
            let below = b.js(
                "const h = window.innerHeight; const out = []; \
                 const check = (name, e) => { if (!e) out.push(name + ' missing'); \
                   else if (e.getBoundingClientRect().bottom > h) \
                     out.push(name + ' ends at ' + Math.round(e.getBoundingClientRect().bottom)); }; \
                 check('status', document.getElementById('status')); \
                 const facts = document.querySelectorAll('.facts .fact'); \
                 check('reporting', facts[0]); check('turnout', facts[1]); \
                 const bars = document.querySelectorAll('svg.chart rect.bar'); \
                 check('third list', bars[Math.min(2, bars.length - 1)]); \
                 return out;",
                &[],
            );
            assert_eq!(
                below,
                json!([]),
                "web: below the first screen of a {width} x {height} phone"
            );
        }
        b.report_console("web_page_screenshots");
    }
    eprintln!("web: screenshots in {}", out.display());
    assert!(server.stop().success());
}

#[test]
fn web_page_shows_open_lists() {
    let Some(tools) = Tools::find("web_page_shows_open_lists", true) else {
        return;
    };
    // Three districts: the sim's lists then stand for the whole country (100 candidates each,
    // 40 of whom draw preference votes) under the generic rule set, so every candidate is one
    // row at every level.
    let e = Election::with(&["--districts", "3", "--candidates", "40"]);
    e.ingest(&[
        &e.src.join("protocols.notes"),
        &e.src.join("amendments.notes"),
    ]);
    let server = Server::start(&e.data, &["--publish-ms", "100"]);
    server.wait_bundle(e.size());
    let addr = &server.addr;
    let election = fetch_json(addr, "/v1/election.json");
    let results = fetch_json(addr, "/v1/results.json");
    let def = &election["contests"][0];
    let contest = &results["contests"][0];
    let seats = &contest["seats"];
    assert!(
        seats["lists"][0]["elected"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "no candidate elected: {seats}"
    );
    let units = election["units"].as_array().unwrap();
    let root = units[0]["id"].as_str().unwrap();
    let district = units.iter().find(|u| u["parent"] == root).unwrap()["id"]
        .as_str()
        .unwrap();
    let totals_of = |unit: &str| {
        contest["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["unit"] == unit)
            .unwrap_or_else(|| panic!("no totals of {unit} in v1/results.json"))
            .clone()
    };

    let b = Browser::start(&tools, (1280, 1000));
    let base = format!("http://{addr}/");
    b.goto(&base);
    b.wait_ready();
    b.set_lang("en");
    b.wait_candidates(def, &contest["national"], seats, root);
    b.goto(&format!("{base}#/unit/{district}"));
    b.wait_candidates(def, &totals_of(district), seats, district);

    // A station with preference votes: its numbers, then its verification.
    let (file, station) = station_with_preferences(addr);
    let id = station["id"].as_str().unwrap().to_owned();
    b.goto(&format!("{base}#/station/{id}"));
    b.wait_candidates(def, &station["current"], seats, &format!("station:{id}"));
    let (state, text, _) = b.verify_station(&base, &id);
    assert_eq!(state, "verified", "station {id}: {text:?}\n{}", b.state());

    // Screenshots, a list opened, in every language.
    let out = screenshot_dir();
    std::fs::create_dir_all(&out).unwrap();
    for lang in LANGS {
        b.set_lang(lang);
        for (view, hash) in [
            ("national", "#/".to_owned()),
            ("station", format!("#/station/{id}")),
        ] {
            b.goto(&format!("{base}{hash}"));
            b.wait_for(
                &format!("the candidates of the {view} view"),
                "const d = document.querySelector('[data-testid=candidates] details'); \
                 if (!d) return null; d.open = true; return true;",
                &[],
            );
            b.screenshot_full(&out.join(format!("{lang}-open-lists-{view}.png")));
        }
    }
    // A list opened stays open when the view is redrawn (here by a change of language).
    b.set_lang("en");
    b.wait_for(
        "the opened list to stay open after the redraw",
        "return document.querySelector('[data-testid=candidates] details')?.open || null;",
        &[],
    );

    // A copy whose unit file shows one of the station's preference numbers one higher: the
    // totals still match, so the page shows it, and the verification names it.
    let copy = e.dir.path().join("altered");
    let status = Command::new("cp")
        .arg("-rL")
        .arg(server.bundle.join("current"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    drop(server);
    // Edited as text: the unit file's totals must stay byte for byte (the page compares them).
    // The unit file is published only as its gzip: inflated, edited, compressed again.
    let path = copy.join(&file);
    let mut text = String::from_utf8(crate::gunzip(&std::fs::read(&path).unwrap())).unwrap();
    let at = text.find(&format!("\"id\":\"{id}\"")).unwrap();
    let at = at + text[at..].find("\"current\":{").unwrap();
    let at = at + text[at..].find("\"preferences\":{").unwrap() + "\"preferences\":{".len();
    let quoted = |from: usize| {
        let a = from + text[from..].find('"').unwrap() + 1;
        let b = a + text[a..].find('"').unwrap();
        (a, b)
    };
    let (la, lb) = quoted(at);
    let (na, nb) = quoted(lb + 1);
    let va = nb + "\":".len();
    let vb = va + text[va..].find([',', '}']).unwrap();
    let (list, n) = (text[la..lb].to_owned(), text[na..nb].to_owned());
    let signed: u64 = text[va..vb].parse().unwrap();
    let named = format!(
        "preferences {list} {n}: signed {signed}, shown {}",
        signed + 1
    );
    text.replace_range(va..vb, &(signed + 1).to_string());
    std::fs::write(&path, crate::gzip(text.as_bytes())).unwrap();
    let nginx = Nginx::start(
        tools.nginx.as_deref().unwrap(),
        &e.dir.path().join("nginx"),
        &copy,
    );
    let base = format!("http://{}/", nginx.addr);
    b.goto(&base);
    b.wait_ready();
    let (state, text, _) = b.verify_station(&base, &id);
    assert_eq!(
        state,
        "failed",
        "station {id} ({named}): {text:?}\n{}",
        b.state()
    );
    assert!(
        text.contains(&named),
        "station {id}: {named:?} not in {text:?}"
    );
    eprintln!("web: the altered preference number was refused: {text:?}");
    b.report_console("web_page_shows_open_lists");
}

/// Everything test 1 checks, on one server.
fn check_site(b: &Browser, who: &str, addr: &str) {
    let results = fetch_json(addr, "/v1/results.json");
    let quarantine = fetch_json(addr, "/v1/quarantine.json");
    let base = format!("http://{addr}/");
    b.goto(&base);
    b.wait_ready();
    b.wait_for(
        &format!("{who}: #status verified"),
        "const s = document.getElementById('status'); \
         return s && s.dataset.state !== 'loading' ? s.dataset.state : null;",
        &[],
    );
    let state = b.js(
        "return document.getElementById('status').dataset.state;",
        &[],
    );
    assert_eq!(state, json!("verified"), "{who}: {}", b.state());
    b.wait_checkpoint(&results);
    let status = b.js("return document.getElementById('status').textContent;", &[]);
    let status = status.as_str().unwrap();
    let size = results["checkpoint"]["size"].as_u64().unwrap().to_string();
    assert!(
        status.contains(&size),
        "{who}: #status does not show the checkpoint {size}: {status:?}"
    );
    for w in WITNESSES {
        assert!(
            status.contains(w),
            "{who}: #status does not name the co-signer {w}: {status:?}"
        );
    }
    b.wait_totals(&results);
    b.wait_progress(&results);
    check_hemicycle(b, who, &results, &fetch_json(addr, "/v1/election.json"));
    check_table_sort_and_filter(b, who);

    // Every language: `lang` follows, the headings change.
    let mut headings: BTreeMap<&str, String> = BTreeMap::new();
    for lang in LANGS {
        b.set_lang(lang);
        let h2 = b.wait_for(
            &format!("{who}: headings in {lang}"),
            "const h = [...document.querySelectorAll('h2')].map(e => e.textContent.trim()) \
             .filter(t => t); return h.length ? h.join(' | ') : null;",
            &[],
        );
        headings.insert(lang, h2.as_str().unwrap().to_owned());
        b.wait_totals(&results);
    }
    for (i, a) in LANGS.iter().enumerate() {
        for c in &LANGS[i + 1..] {
            assert_ne!(
                headings[a], headings[c],
                "{who}: the headings are the same in {a} and {c}"
            );
        }
    }
    b.set_lang("en");

    // The quarantine view lists exactly the quarantined stations.
    b.goto(&format!("{base}#/quarantine"));
    b.wait_quarantine(&quarantine);

    // The search box finds a station by its id (typed, then Enter); it verifies.
    let station = counted_stations(addr, 3, |_| true).remove(2).0;
    b.goto(&format!("{base}#/"));
    b.wait_ready();
    let input = b.find("form[data-testid=search] input[name=q]");
    b.click(&input);
    b.js("arguments[0].value = ''; return null;", &[elem(&input)]);
    b.send_keys(&input, &format!("{station}\u{E007}"));
    b.wait_for(
        &format!("{who}: the search for {station} to open its view"),
        "return location.hash === '#/station/' + arguments[0] && \
         document.querySelector('[data-testid=station][data-station=\"' + arguments[0] + '\"]') \
         !== null || null;",
        &[json!(station)],
    );
    let (state, text, _) = b.verify_station(&base, &station);
    assert_eq!(
        state,
        "verified",
        "{who}: station {station}: {text:?}\n{}",
        b.state()
    );

    // An amended station: its current entry is an amendment, co-signed by an authority.
    let amended = counted_stations(addr, 1, |s| s["current"]["revision"] == 2)
        .remove(0)
        .0;
    let (state, text, _) = b.verify_station(&base, &amended);
    assert_eq!(
        state,
        "verified",
        "{who}: amended station {amended}: {text:?}\n{}",
        b.state()
    );
    assert!(
        text.contains("co-signed by Central Election Commission"),
        "{who}: amended station {amended}: no authority co-signature step in {text:?}"
    );
}

/// The areas table on the national view: a click on "Turnout" sorts it by turnout (ascending,
/// then descending, aria-sort following), and the filter box keeps only matching rows.
fn check_table_sort_and_filter(b: &Browser, who: &str) {
    // Turnout per row; `None` for an area with nothing counted yet ("-"), which sorts after
    // every number.
    let turnouts = |b: &Browser| -> Vec<Option<f64>> {
        let v = b.js(
            "return [...document.querySelectorAll('table.units tbody tr')] \
               .map(r => { const n = Number(r.cells[2].dataset.sort); \
                           return r.cells[2].dataset.sort && Number.isFinite(n) ? n : null; });",
            &[],
        );
        serde_json::from_value(v).unwrap()
    };
    let ordered = |v: &[Option<f64>], up: bool| {
        let nums: Vec<f64> = v.iter().flatten().copied().collect();
        let first_none = v.iter().position(Option::is_none).unwrap_or(v.len());
        v[first_none..].iter().all(Option::is_none)
            && nums
                .windows(2)
                .all(|w| if up { w[0] <= w[1] } else { w[0] >= w[1] })
    };
    let before = turnouts(b);
    assert!(
        before.len() > 2,
        "{who}: areas table has {} rows",
        before.len()
    );
    let header = b.find("table.units thead th:nth-child(3) button.sort");
    b.click(&header);
    let asc = turnouts(b);
    assert!(ordered(&asc, true), "{who}: not ascending: {asc:?}");
    let sort = b.js(
        "return document.querySelector('table.units thead th:nth-child(3)').getAttribute('aria-sort');",
        &[],
    );
    assert_eq!(sort, json!("ascending"), "{who}");
    let header = b.find("table.units thead th:nth-child(3) button.sort");
    b.click(&header);
    let desc = turnouts(b);
    // Descending reverses the whole order: areas without a turnout come first.
    let mut rev = desc.clone();
    rev.reverse();
    assert!(ordered(&rev, true), "{who}: not descending: {desc:?}");
    let (mut a, mut c) = (before.clone(), asc);
    a.sort_by(|x, y| x.partial_cmp(y).unwrap());
    c.sort_by(|x, y| x.partial_cmp(y).unwrap());
    assert_eq!(a, c, "{who}: sorting lost or added rows");

    let name = b.js(
        "return document.querySelector('table.units tbody tr th').textContent;",
        &[],
    );
    let name = name.as_str().unwrap().to_owned();
    let input = b.find("input[data-filter-for^='units|']");
    b.click(&input);
    b.send_keys(&input, &name);
    let shown = b.js(
        "return [...document.querySelectorAll('table.units tbody tr')].filter(r => !r.hidden) \
           .map(r => r.querySelector('th').textContent);",
        &[],
    );
    let shown: Vec<String> = serde_json::from_value(shown).unwrap();
    assert!(
        !shown.is_empty() && shown.iter().all(|s| s.contains(&name)),
        "{who}: filter {name:?} shows {shown:?}"
    );
    assert!(
        shown.len() < before.len(),
        "{who}: filter {name:?} hid nothing"
    );
    b.js(
        "const i = document.querySelector(\"input[data-filter-for^='units|']\"); \
         i.value = ''; i.dispatchEvent(new Event('input')); return null;",
        &[],
    );
}

/// The parliament chart on the national view: one circle per seat of each list with seats, in the
/// list's colour as `v1/election.json` gives it, and that colour also on the list's bar.
fn check_hemicycle(b: &Browser, who: &str, results: &Value, election: &Value) {
    let contest = &results["contests"][0];
    let def = election["contests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == contest["id"])
        .unwrap();
    let colour = |list: &str| {
        def["lists"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == list)
            .unwrap()["colour"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut want: Vec<(String, String, u64)> = contest["seats"]["lists"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["seats"].as_u64().unwrap() > 0)
        .map(|l| {
            let id = l["list"].as_str().unwrap();
            (id.to_owned(), colour(id), l["seats"].as_u64().unwrap())
        })
        .collect();
    want.sort();
    assert!(!want.is_empty(), "{who}: no list has seats");
    let drawn = b.wait_for(
        &format!("{who}: the hemicycle"),
        "const s = document.querySelector('[data-testid=hemicycle]'); if (!s) return null; \
         return [...s.querySelectorAll('g[data-list]')] \
           .map(g => [g.dataset.list, g.getAttribute('fill'), g.querySelectorAll('circle').length]);",
        &[],
    );
    let mut got: Vec<(String, String, u64)> = serde_json::from_value(drawn).unwrap();
    got.sort();
    assert_eq!(got, want, "{who}: hemicycle groups (list, colour, circles)");
    let bars = b.js(
        "return [...document.querySelectorAll('svg.chart rect.bar')].map(r => r.style.fill);",
        &[],
    );
    let first = &want[0];
    let [r, g, bl] = [1, 3, 5].map(|i| u8::from_str_radix(&first.1[i..i + 2], 16).unwrap());
    assert!(
        bars.as_array()
            .unwrap()
            .iter()
            .any(|f| f == &json!(format!("rgb({r}, {g}, {bl})"))),
        "{who}: no bar in {}'s colour {}: {bars}",
        first.0,
        first.1
    );
}

// ---------------------------------------------------------------------------------------------
// The election behind the page.

/// A simulated election of 300 stations with two witnesses (quorum 2), initialised but with
/// nothing ingested.
struct Election {
    dir: tempfile::TempDir,
    src: PathBuf,
    data: PathBuf,
    _witnesses: Vec<Witness>,
}

impl Election {
    fn new() -> Self {
        Self::with(&[])
    }

    /// Like [`Self::new`], with more `urna sim` arguments.
    fn with(sim: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("sim");
        let data = dir.path().join("data");
        let mut args = vec!["sim", "--out", p(&src), "--stations", "300"];
        args.extend(sim);
        run(&args, 0);
        init(&src, &data);
        let status = run(&["status", "--data", p(&data)], 0);
        let log_vkey = status
            .lines()
            .find_map(|l| l.strip_prefix("log key:"))
            .unwrap_or_else(|| panic!("no log key in `urna status`:\n{status}"))
            .trim();
        let log_arg = format!("urna/sim-2025-assembly={log_vkey}");
        let mut policy = String::from("quorum = 2\n");
        let mut witnesses = Vec::new();
        for name in WITNESSES {
            let key = dir.path().join(format!("{name}.key"));
            let vkey = run(&["witness", "keygen", "--name", name, "--out", p(&key)], 0);
            let w = start_witness(dir.path(), name, &log_arg, true);
            policy.push_str(&format!(
                "\n[[witness]]\nname = \"{name}\"\nurl = \"{}\"\nkey = \"{}\"\n",
                w.url,
                vkey.trim()
            ));
            witnesses.push(w);
        }
        std::fs::write(data.join("witnesses.toml"), policy).unwrap();
        Self {
            dir,
            src,
            data,
            _witnesses: witnesses,
        }
    }

    /// `urna ingest --strict` of note packs (the witnesses cosign the checkpoint).
    fn ingest(&self, packs: &[&Path]) {
        let mut args = vec!["ingest", "--data", p(&self.data)];
        args.extend(packs.iter().map(|x| p(x)));
        run(&args, 0);
    }

    /// The notes of one of the simulation's packs.
    fn notes(&self, pack: &str) -> Vec<Vec<u8>> {
        PackReader::new(std::fs::File::open(self.src.join(pack)).unwrap())
            .map(Result::unwrap)
            .collect()
    }

    /// The log's size once every protocol and amendment is stored.
    fn size(&self) -> u64 {
        GENESIS
            + (self.notes("protocols.notes").len() + self.notes("amendments.notes").len()) as u64
    }
}

/// `GET path` as JSON, status 200; a `.gz` file (a unit file, published only as its gzip)
/// inflated first, as the page does.
pub(crate) fn fetch_json(addr: &str, path: &str) -> Value {
    let r = get(addr, path);
    assert_eq!(r.status, 200, "GET {path} from {addr}");
    if path.ends_with(".gz") {
        return serde_json::from_slice(&crate::gunzip(&r.body)).unwrap();
    }
    r.json()
}

/// `n` counted stations (id, current entry index) that `keep` accepts, from the unit files.
fn counted_stations(addr: &str, n: usize, keep: impl Fn(&Value) -> bool) -> Vec<(String, u64)> {
    let election = fetch_json(addr, "/v1/election.json");
    let mut out = Vec::new();
    for unit in election["units"].as_array().unwrap() {
        let Some(file) = unit["file"].as_str() else {
            continue;
        };
        let doc = fetch_json(addr, &format!("/{file}"));
        for c in doc["contests"].as_array().unwrap() {
            for s in c["stations"].as_array().unwrap() {
                if s["status"] == "accepted" && keep(s) && !out.iter().any(|(id, _)| s["id"] == *id)
                {
                    out.push((
                        s["id"].as_str().unwrap().to_owned(),
                        s["current"]["index"].as_u64().unwrap(),
                    ));
                    if out.len() == n {
                        return out;
                    }
                }
            }
        }
    }
    panic!("fewer than {n} fitting counted stations: {out:?}");
}

/// A counted station with preference votes: its unit file's path and its entry there.
fn station_with_preferences(addr: &str) -> (String, Value) {
    let election = fetch_json(addr, "/v1/election.json");
    for unit in election["units"].as_array().unwrap() {
        let Some(file) = unit["file"].as_str() else {
            continue;
        };
        let doc = fetch_json(addr, &format!("/{file}"));
        for c in doc["contests"].as_array().unwrap() {
            for s in c["stations"].as_array().unwrap() {
                let has = s["current"]["preferences"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty());
                if s["status"] == "accepted" && has {
                    return (file.to_owned(), s.clone());
                }
            }
        }
    }
    panic!("no counted station with preference votes");
}

/// Changes the last digit of the first `votes:` line of entry `index` (a protocol of
/// `station`) in a full entry bundle, in place; returns the line before and after.
fn tamper_entry(path: &Path, index: u64, station: &str) -> (String, String) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut at = 0;
    for _ in 0..index % 256 {
        let len = usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
        at += 2 + len;
    }
    let len = usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
    let entry = &mut bytes[at + 2..at + 2 + len];
    let text = String::from_utf8(entry.to_vec()).unwrap();
    assert!(
        text.contains(&format!("\nstation: {station}\n")),
        "entry {index} is not {station}'s protocol:\n{text}"
    );
    let start = text.find("\nvotes: ").unwrap() + 1;
    let end = start + text[start..].find('\n').unwrap();
    let before = text[start..end].to_owned();
    let digit = &mut entry[end - 1];
    assert!(digit.is_ascii_digit(), "{before:?}");
    *digit = if *digit == b'9' { b'8' } else { *digit + 1 };
    let after = String::from_utf8(entry[start..end].to_vec()).unwrap();
    std::fs::write(path, &bytes).unwrap();
    (before, after)
}

/// `$CARGO_TARGET_DIR/web-screenshots`, or `target/web-screenshots` of the workspace.
pub(crate) fn screenshot_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root.join("target"), |t| root.join(t));
    target.join("web-screenshots")
}

// ---------------------------------------------------------------------------------------------
// The tools: Chromium, chromedriver, nginx.

/// Where the browser (and, when asked for, nginx) are.
pub(crate) struct Tools {
    nginx: Option<PathBuf>,
}

impl Tools {
    /// The tools, or `None` after saying loudly that `test` is skipped (never when `CI` is
    /// set: then a missing tool fails the test).
    pub(crate) fn find(test: &str, need_nginx: bool) -> Option<Self> {
        let nginx = find_nginx();
        let mut missing = Vec::new();
        if !Path::new(CHROMIUM).is_file() {
            missing.push("chromium (apt-get install chromium)");
        }
        if !Path::new(CHROMEDRIVER).is_file() {
            missing.push("chromedriver (apt-get install chromium-driver)");
        }
        if need_nginx && nginx.is_none() {
            missing.push("nginx (apt-get install nginx)");
        }
        if missing.is_empty() {
            return Some(Self { nginx });
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: not installed: {}; .ci/run must install them",
            missing.join(", ")
        );
        eprintln!(
            "\n*** SKIPPED {test}: not installed: {}; CI runs it ***\n",
            missing.join(", ")
        );
        None
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// A small W3C WebDriver client.

/// The W3C name of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The page's state, for failure messages.
const STATE_JS: &str = "const s = document.getElementById('status'); \
    const v = document.querySelector('[data-testid=verify-result]'); \
    return JSON.stringify({url: location.href, readyState: document.readyState, \
      lang: document.documentElement.lang, \
      dataset: document.body ? Object.assign({}, document.body.dataset) : null, \
      status: s ? {state: s.dataset.state, text: s.textContent.trim().slice(0, 400)} : null, \
      verify: v ? {state: v.dataset.state, text: v.textContent.trim().slice(0, 400)} : null, \
      noReload: window.__noReload === undefined ? null : window.__noReload});";

/// `[data-testid=verify-result]`: [data-state, text], or null.
const VERIFY_RESULT_JS: &str = "const v = document.querySelector('[data-testid=verify-result]'); \
    return v ? [v.dataset.state || '', v.textContent.trim()] : null;";

/// chromedriver on a free loopback port, with one session of headless Chromium; the session
/// is deleted and chromedriver killed when dropped.
pub(crate) struct Browser {
    driver: Child,
    addr: String,
    session: String,
    _dir: tempfile::TempDir,
}

impl Browser {
    pub(crate) fn start(tools: &Tools, (width, height): (u32, u32)) -> Self {
        Self::start_with(tools, (width, height), None)
    }

    /// A phone: `width` x `height` CSS pixels at device pixel ratio 2, touch, mobile
    /// viewport (headless Chromium's windows are never narrower than 500 pixels).
    pub(crate) fn phone(tools: &Tools, (width, height): (u32, u32)) -> Self {
        let emulation = json!({"deviceMetrics": {
            "width": width, "height": height, "pixelRatio": 2.0, "mobile": true, "touch": true,
        }});
        Self::start_with(tools, (width.max(500), height), Some(emulation))
    }

    fn start_with(_tools: &Tools, (width, height): (u32, u32), mobile: Option<Value>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("chromedriver.log");
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        let t = Instant::now();
        loop {
            if let Some(status) = driver.try_wait().unwrap() {
                panic!(
                    "chromedriver exited ({status}) before it was ready:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if TcpStream::connect(&addr).is_ok() {
                let (code, v) = http(&addr, "GET", "/status", None);
                if code == 200 && v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                t.elapsed() < DEADLINE,
                "chromedriver did not get ready on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let profile = dir.path().join("profile");
        let mut caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": 30_000, "script": 30_000, "implicit": 0},
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // The page picks its first language from the browser's: English, whatever
                // the machine's locale.
                "prefs": {"intl.accept_languages": "en-US,en"},
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let phone = mobile.is_some();
        if let Some(m) = mobile {
            caps["capabilities"]["alwaysMatch"]["goog:chromeOptions"]["mobileEmulation"] = m;
        }
        let (code, v) = http(&addr, "POST", "/session", Some(&caps));
        assert_eq!(
            code,
            200,
            "WebDriver new session: {v}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let session = v["value"]["sessionId"].as_str().unwrap().to_owned();
        let version = v["value"]["capabilities"]["browserVersion"].clone();
        let b = Self {
            driver,
            addr,
            session,
            _dir: dir,
        };
        eprintln!(
            "web: headless Chromium {} ({width}x{height} window{}) via chromedriver on {}",
            version.as_str().unwrap_or("?"),
            if phone { ", phone emulation" } else { "" },
            b.addr
        );
        b
    }

    /// A session command; panics unless it answers 200. Returns `value`.
    pub(crate) fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (code, v) = self.cmd_raw(method, path, body);
        assert_eq!(
            code,
            200,
            "WebDriver {method} {path} {}: {}",
            body.map(Value::to_string).unwrap_or_default(),
            v
        );
        v["value"].clone()
    }

    fn cmd_raw(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        http(
            &self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
    }

    /// Navigates (a fragment change on the same document does not reload it).
    pub(crate) fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs a synchronous script (its body; arguments as `arguments[i]`).
    pub(crate) fn js(&self, script: &str, args: &[Value]) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// The page's state, as JSON text, for failure messages.
    pub(crate) fn state(&self) -> String {
        match self.cmd_raw(
            "POST",
            "/execute/sync",
            Some(&json!({"script": STATE_JS, "args": []})),
        ) {
            (200, v) => format!(
                "page state: {}\nbrowser console:\n{}",
                v["value"].as_str().unwrap_or("?"),
                self.console().join("\n")
            ),
            (code, v) => format!("page state unavailable ({code}): {v}"),
        }
    }

    /// The browser console's messages since the last call.
    fn console(&self) -> Vec<String> {
        let (code, v) = self.cmd_raw("POST", "/se/log", Some(&json!({"type": "browser"})));
        if code != 200 {
            return vec![format!("(no console log: {code} {v})")];
        }
        v["value"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|m| format!("  {} {}", m["level"], m["message"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Prints the console's warnings and errors, if any.
    pub(crate) fn report_console(&self, test: &str) {
        let lines: Vec<String> = self
            .console()
            .into_iter()
            .filter(|l| l.contains("SEVERE") || l.contains("WARNING"))
            // The page names no icon, so the browser asks for /favicon.ico, not in a bundle.
            .filter(|l| !l.contains("/favicon.ico"))
            .collect();
        if !lines.is_empty() {
            eprintln!("web: {test}: browser console:\n{}", lines.join("\n"));
        }
    }

    /// Polls `script` until it returns something other than null/false; panics with the
    /// page's state after [`DEADLINE`].
    pub(crate) fn wait_for(&self, what: &str, script: &str, args: &[Value]) -> Value {
        let t = Instant::now();
        loop {
            let v = self.js(script, args);
            if !v.is_null() && v != json!(false) {
                return v;
            }
            assert!(
                t.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for {what}\n{}",
                self.state()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn wait_ready(&self) {
        self.wait_for(
            "the first results (body[data-ready=1])",
            "return document.body && document.body.dataset.ready === '1' || null;",
            &[],
        );
    }

    /// Until the page shows the checkpoint `results.json` was computed at.
    fn wait_checkpoint(&self, results: &Value) {
        let size = results["checkpoint"]["size"].as_u64().unwrap().to_string();
        self.wait_for(
            &format!("body[data-checkpoint={size}]"),
            "return document.body.dataset.checkpoint === arguments[0] || null;",
            &[json!(size)],
        );
    }

    /// Until every contest's national totals table holds exactly `results.json`'s votes.
    fn wait_totals(&self, results: &Value) {
        let mut want: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for c in results["contests"].as_array().unwrap() {
            let votes = c["national"]["votes"].as_object().unwrap();
            want.insert(
                c["id"].as_str().unwrap().to_owned(),
                votes
                    .iter()
                    .map(|(l, v)| (l.clone(), v.as_u64().unwrap().to_string()))
                    .collect(),
            );
        }
        let want = serde_json::to_value(&want).unwrap();
        let t = Instant::now();
        loop {
            let shown = self.js(
                "const out = {}; \
                 for (const t of document.querySelectorAll('table[data-testid=totals]')) { \
                   const c = {}; \
                   for (const tr of t.querySelectorAll('tr[data-list]')) { \
                     const td = tr.querySelector('td[data-votes]'); \
                     c[tr.dataset.list] = td ? td.dataset.votes : null; } \
                   out[t.dataset.contest] = c; } \
                 return out;",
                &[],
            );
            if shown == want {
                return;
            }
            assert!(
                t.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for the totals of checkpoint {}:\nresults.json: {want}\npage:         {shown}\n{}",
                results["checkpoint"]["size"],
                self.state()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Until the candidates shown for `unit` (`station:<id>` for a station) are exactly those
    /// of `totals` (any object with `votes` and `preferences`): per list, every candidate of
    /// the definition with its preference votes (zero when absent), most votes first, its
    /// share of the list's votes, and elected as `seats` says.
    fn wait_candidates(&self, contest: &Value, totals: &Value, seats: &Value, unit: &str) {
        let mut want: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for list in contest["lists"].as_array().unwrap() {
            let id = list["id"].as_str().unwrap();
            let prefs = &totals["preferences"][id];
            let list_votes = totals["votes"][id].as_u64().unwrap_or(0);
            let elected: BTreeSet<(u64, &str)> = seats["lists"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["list"] == id)
                .flat_map(|l| l["elected"].as_array().unwrap())
                .map(|c| (c["number"].as_u64().unwrap(), c["name"].as_str().unwrap()))
                .collect();
            let mut rows: Vec<(u64, u64, bool)> = list["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let n = c["number"].as_u64().unwrap();
                    let v = prefs[n.to_string()].as_u64().unwrap_or(0);
                    (n, v, elected.contains(&(n, c["name"].as_str().unwrap())))
                })
                .collect();
            rows.sort_by_key(|&(n, v, _)| (std::cmp::Reverse(v), n));
            let share = |v: u64| match urna_tally::totals::percent(v, list_votes) {
                s if s == "-" => "–".to_owned(),
                s => format!("{s} %"),
            };
            want.insert(
                id.to_owned(),
                rows.into_iter()
                    .map(|(n, v, el)| json!([n, v, share(v), el]))
                    .collect(),
            );
        }
        let want = serde_json::to_value(&want).unwrap();
        let t = Instant::now();
        loop {
            let shown = self.js(
                "const box = [...document.querySelectorAll('[data-testid=candidates]')] \
                   .find(b => b.dataset.unit === arguments[0]); \
                 if (!box) return null; const out = {}; \
                 for (const d of box.querySelectorAll('details[data-list]')) \
                   out[d.dataset.list] = [...d.querySelectorAll('tr[data-number]')].map(tr => [ \
                     Number(tr.dataset.number), Number(tr.querySelector('[data-pref]').dataset.pref), \
                     tr.cells[3].textContent, tr.classList.contains('elected')]); \
                 return out;",
                &[json!(unit)],
            );
            if shown == want {
                return;
            }
            assert!(
                t.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for the candidates of {unit}:\nwant: {want}\npage: {shown}\n{}",
                self.state()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Until the reporting progress is `results.json`'s: stations reported of the total.
    fn wait_progress(&self, results: &Value) {
        let contests: BTreeMap<String, (u64, u64)> = results["contests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let s = &c["national"]["stations"];
                (
                    c["id"].as_str().unwrap().to_owned(),
                    (
                        s["reported"].as_u64().unwrap(),
                        s["total"].as_u64().unwrap(),
                    ),
                )
            })
            .collect();
        let first = contests.values().next().copied().unwrap();
        let t = Instant::now();
        loop {
            let shown = self.js(
                "return [...document.querySelectorAll('[data-testid=progress]')].map(e => \
                 [e.dataset.contest || null, e.dataset.reported, e.dataset.expected]);",
                &[],
            );
            let rows = shown.as_array().unwrap();
            let ok = !rows.is_empty()
                && rows.iter().all(|r| {
                    let (rep, exp) = r[0]
                        .as_str()
                        .and_then(|c| contests.get(c).copied())
                        .unwrap_or(first);
                    r[1] == json!(rep.to_string()) && r[2] == json!(exp.to_string())
                });
            if ok {
                return;
            }
            assert!(
                t.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for the progress (reported, expected) of results.json {contests:?}; \
                 the page's [data-testid=progress] (contest, data-reported, data-expected): {shown}\n{}",
                self.state()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Until the quarantine view lists exactly the stations of `quarantine.json`.
    fn wait_quarantine(&self, quarantine: &Value) {
        let want: BTreeSet<String> = quarantine["contests"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["stations"].as_array().unwrap())
            .map(|s| s["station"].as_str().unwrap().to_owned())
            .collect();
        assert!(!want.is_empty(), "nothing is quarantined: {quarantine}");
        let t = Instant::now();
        loop {
            let shown = self.js(
                "return location.hash === '#/quarantine' ? [...document.querySelectorAll(\
                 '[data-testid=quarantine] tr[data-station]')].map(e => e.dataset.station) : null;",
                &[],
            );
            let got: BTreeSet<String> = shown
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if got == want {
                return;
            }
            assert!(
                t.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for the quarantine view to list {want:?}; it lists {got:?}\n{}",
                self.state()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Selects a language as a person would (the `change` event) and waits for the page to
    /// follow it.
    pub(crate) fn set_lang(&self, lang: &str) {
        let set = self.js(
            "const s = document.querySelector('select#lang'); if (!s) return null; \
             s.value = arguments[0]; s.dispatchEvent(new Event('change', {bubbles: true})); \
             return s.value;",
            &[json!(lang)],
        );
        assert_eq!(
            set,
            json!(lang),
            "select#lang has no option {lang}\n{}",
            self.state()
        );
        self.wait_for(
            &format!("<html lang={lang}>"),
            "return document.documentElement.lang === arguments[0] || null;",
            &[json!(lang)],
        );
    }

    /// Opens a station's view, clicks its verify button and waits for the outcome: (final
    /// `data-state`, its text, the text seen while `running` if it was seen).
    pub(crate) fn verify_station(
        &self,
        base: &str,
        station: &str,
    ) -> (String, String, Option<String>) {
        self.goto(&format!("{base}#/station/{station}"));
        self.wait_for(
            &format!("the view of station {station} and its verify button"),
            "return document.querySelector('[data-testid=station][data-station=\"' + \
             arguments[0] + '\"]') !== null \
             && document.querySelector('[data-testid=verify]') !== null || null;",
            &[json!(station)],
        );
        let before = self.js(VERIFY_RESULT_JS, &[]);
        assert!(
            !matches!(
                before[0].as_str(),
                Some("verified" | "failed" | "unsupported")
            ),
            "station {station}: [data-testid=verify-result] says {before} before the click\n{}",
            self.state()
        );
        let button = self.find("[data-testid=verify]");
        self.click(&button);
        let t = Instant::now();
        let mut running = None;
        loop {
            let v = self.js(VERIFY_RESULT_JS, &[]);
            if let Some([state, text]) = v.as_array().map(Vec::as_slice) {
                let (state, text) = (state.as_str().unwrap(), text.as_str().unwrap());
                match state {
                    "verified" | "failed" | "unsupported" => {
                        return (state.to_owned(), text.to_owned(), running);
                    }
                    "running" => running = Some(text.to_owned()),
                    _ => {}
                }
            }
            assert!(
                t.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for station {station}'s verification to end\n{}",
                self.state()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first element matching a CSS selector.
    pub(crate) fn find(&self, css: &str) -> String {
        let (code, v) = self.cmd_raw(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        );
        assert_eq!(code, 200, "no element {css}: {v}\n{}", self.state());
        v["value"][ELEMENT].as_str().unwrap().to_owned()
    }

    pub(crate) fn click(&self, element: &str) {
        self.cmd(
            "POST",
            &format!("/element/{element}/click"),
            Some(&json!({})),
        );
    }

    fn send_keys(&self, element: &str, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{element}/value"),
            Some(&json!({ "text": text })),
        );
    }

    /// A PNG of the viewport (W3C), as a person sees the page before scrolling.
    pub(crate) fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None);
        write_png(path, &b64);
    }

    /// A PNG of the whole page (up to 8000 CSS pixels down), through chromedriver's
    /// DevTools passthrough. Chromium resizes the viewport's height for such a capture; the
    /// page redraws only when its width changes, and keeps a finished verification when it
    /// does.
    pub(crate) fn screenshot_full(&self, path: &Path) {
        let size = self.js(
            "return [document.documentElement.scrollWidth, \
             Math.min(document.documentElement.scrollHeight, 8000)];",
            &[],
        );
        let shot = self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(&json!({"cmd": "Page.captureScreenshot", "params": {
                "format": "png", "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
            }})),
        );
        write_png(path, &shot["data"]);
    }
}

/// Writes a base64 PNG.
fn write_png(path: &Path, b64: &Value) {
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64.as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", path.display());
    std::fs::write(path, png).unwrap();
}

/// An element reference as a script argument.
fn elem(id: &str) -> Value {
    json!({ ELEMENT: id })
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.cmd_raw("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One HTTP/1.1 request with a JSON body to chromedriver; (status, JSON body or null).
fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let r = read_response(&mut s);
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}
