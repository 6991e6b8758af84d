//! The results page's view of the statistical screens (web/forensics.js) in a real browser,
//! against the bundle `urna serve` writes: the warning, one row per flag and per unit of
//! `v1/forensics.json`, every plot loaded and described, the view of a district reached from
//! the district's own view, and the words in another language; a screenshot goes with the
//! page's others. Needs Chromium and chromedriver, like the tests of web.rs.

use serde_json::{Value, json};

use crate::server::Server;
use crate::web::{Browser, Tools, fetch_json, screenshot_dir};
use crate::{init, p, run};

#[test]
fn web_page_shows_the_statistical_screens() {
    let Some(tools) = Tools::find("web_page_shows_the_statistical_screens", false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("sim"), dir.path().join("data"));
    run(
        &[
            "sim",
            "--out",
            p(&src),
            "--stations",
            "300",
            "--stuffing",
            "0.2",
        ],
        0,
    );
    init(&src, &data);
    run(
        &[
            "ingest",
            "--data",
            p(&data),
            p(&src.join("protocols.notes")),
        ],
        0,
    );
    let server = Server::start(&data, &["--publish-ms", "100"]);
    server.wait_bundle(301);
    let doc = fetch_json(&server.addr, "/v1/forensics.json");
    assert_eq!(doc["screened"], true, "{doc}");
    let flags = doc["flags"].as_array().unwrap().len();
    assert!(
        flags > 0,
        "ballot stuffing at a fifth of the stations raises no flag: {doc}"
    );
    let plots = doc["plots"].as_array().unwrap().len();

    let b = Browser::start(&tools, (1280, 1000));
    let base = format!("http://{}/", server.addr);
    b.goto(&base);
    b.wait_ready();
    b.set_lang("en");
    assert_eq!(
        b.js(
            "return document.querySelector('nav a[href=\"#/forensics\"]')?.textContent || null;",
            &[]
        ),
        json!("Statistical screens")
    );
    // A log with no audit: the bundle has no v1/audit.json, and the page offers no audit view.
    assert_eq!(
        crate::server::get(&server.addr, "/v1/audit.json").status,
        404
    );
    assert_eq!(
        b.js("return document.getElementById('nav-audit').hidden;", &[]),
        json!(true)
    );
    b.goto(&format!("{base}#/forensics"));
    let seen = b.wait_for(
        "the forensics view with its warning, flags, units and loaded plots",
        "const w = document.querySelector('[data-testid=fx-warning]'); if (!w) return null; \
         const imgs = [...document.querySelectorAll('[data-testid=fx-plot] img')]; \
         imgs.forEach(i => i.loading = 'eager'); \
         if (imgs.some(i => !i.complete || i.naturalWidth === 0)) return null; \
         return {warning: w.textContent, \
           flags: document.querySelectorAll('[data-testid=fx-flags] tbody tr').length, \
           units: document.querySelectorAll('[data-testid=fx-units] tbody tr').length, \
           plots: imgs.length, alts: imgs.filter(i => i.alt.length > 20).length, \
           heading: document.activeElement?.tagName};",
        &[],
    );
    assert!(
        seen["warning"]
            .as_str()
            .unwrap()
            .contains("reason to look, not proof"),
        "{seen}"
    );
    assert_eq!(seen["flags"], json!(flags), "{seen}");
    assert_eq!(seen["units"], json!(doc["units"].as_array().unwrap().len()));
    assert_eq!(seen["plots"], json!(plots));
    assert_eq!(seen["alts"], json!(plots), "every plot described: {seen}");
    assert_eq!(
        seen["heading"],
        json!("H2"),
        "focus moves to the view's heading"
    );
    // The variable tables hold the JSON's numbers: the whole election's whole percentages.
    let all = |v: &Value| v["units"].as_array().unwrap().last().unwrap().clone();
    let turnout = all(&doc["variables"][0]);
    let cell = b.js(
        "return document.querySelector('[data-testid=fx-variable][data-variable=turnout] tr[data-unit=all] td:nth-of-type(7)')?.textContent || null;",
        &[],
    );
    assert_eq!(
        cell,
        json!(format!(
            "{} / {}",
            turnout["integer"]["observed"], turnout["integer"]["included"]
        ))
    );

    // For people to look at, with the page's other screenshots.
    let out = screenshot_dir();
    std::fs::create_dir_all(&out).unwrap();
    b.screenshot_full(&out.join("en-forensics.png"));

    // From a district's own view to its screens.
    let district = doc["units"][0]["id"].as_str().unwrap().to_owned();
    b.goto(&format!("{base}#/unit/{district}"));
    let link = b.wait_for(
        "the district view's link to its screens",
        "return document.querySelector('[data-testid=fx-link]')?.getAttribute('href') || null;",
        &[],
    );
    assert_eq!(link, json!(format!("#/forensics/{district}")));
    b.js(
        "document.querySelector('[data-testid=fx-link]').click(); return true;",
        &[],
    );
    let current = b.wait_for(
        "the district's row marked in the forensics view",
        "return document.querySelector('[data-testid=fx-units] tr[aria-current=true]')?.dataset.unit || null;",
        &[],
    );
    assert_eq!(current, json!(district));

    // In Albanian.
    b.set_lang("sq");
    b.wait_for(
        "the forensics view in Albanian",
        "const h = document.querySelector('#view h2'); \
         return h && h.textContent === 'Kontrollet statistikore të rezultateve' || null;",
        &[],
    );
    b.report_console("web_page_shows_the_statistical_screens");
    drop(b);
    assert!(server.stop().success());
}
