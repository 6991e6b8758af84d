//! The results page's map on the Albania 2021 import with its district shapes, in headless
//! Chromium (see `web.rs` for the browser and its tools):
//!
//! 1. the national view draws the twelve districts, each filled with its leading list's
//!    colour, named with its numbers for screen readers and focusable from the keyboard, and
//!    the map's table holds the same numbers as `v1/areas/AL.json`; the share of a chosen list
//!    fills each district with the bin of the page's one-hue scale its share falls in;
//! 2. in every language, and at 320, 390 and 1400 px, nothing is wider than the viewport;
//!    screenshots of the map are written to `$CARGO_TARGET_DIR/web-screenshots/`;
//! 3. axe-core (the npm package `.ci/run` installs under `$CARGO_TARGET_DIR/axe/`), run inside
//!    the page, finds no serious or critical violation on the national view with its map, a
//!    district, a municipality and a station.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::server::Server;
use crate::web::{Browser, LANGS, Tools, fetch_json, screenshot_dir};

/// The page's one-hue scale (web/map.js `SCALE`).
const SCALE: [&str; 5] = ["#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c"];

/// Entries of the import's log: the genesis and one protocol per station.
const ENTRIES: u64 = 5200;

/// axe-core's browser build, as `.ci/run` installs it (`npm install --prefix target/axe`).
pub(crate) fn axe_js() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root.join("target"), |t| root.join(t));
    let path = target.join("axe/node_modules/axe-core/axe.min.js");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing; .ci/run must install axe-core",
        path.display()
    );
    eprintln!(
        "\n*** SKIPPED the accessibility check: {} is missing (npm install --prefix target/axe axe-core@4); CI runs it ***\n",
        path.display()
    );
    None
}

/// The share as the page writes it in English: two decimals, a no-break space, `%`.
fn en_pct(s: &Value) -> String {
    format!("{}\u{a0}%", s.as_str().unwrap())
}

/// The list with the most votes in a totals object (first in ballot order on a tie).
fn leading(tot: &Value, order: &[String]) -> String {
    let votes = |id: &str| tot["votes"][id].as_u64().unwrap_or(0);
    order
        .iter()
        .fold(None::<&String>, |best, id| match best {
            Some(b) if votes(b) >= votes(id) => Some(b),
            _ if votes(id) > 0 => Some(id),
            _ => best,
        })
        .unwrap()
        .clone()
}

/// What the map draws: per area [unit, fill, aria-label, tabIndex].
const AREAS_JS: &str = "return [...document.querySelectorAll('[data-testid=map] svg a')]\
    .map(a => [a.dataset.unit, a.querySelector('path').getAttribute('fill'), \
      a.getAttribute('aria-label'), a.tabIndex]);";

/// The map's table: per row, the text of each cell.
const TABLE_JS: &str = "return [...document.querySelectorAll('[data-testid=map-table] tbody tr')]\
    .map(tr => [tr.dataset.unit, ...[...tr.children].map(c => c.textContent.trim())]);";

/// Picks a value in one of the map's selects as a person would (the `change` event) and waits
/// for the map to show it.
fn choose(b: &Browser, which: &str, value: &str) {
    b.js(
        "const s = document.querySelector('select[data-map=' + arguments[0] + ']'); \
         s.value = arguments[1]; s.dispatchEvent(new Event('change', {bubbles: true}));",
        &[json!(which), json!(value)],
    );
    b.wait_for(
        &format!("the map showing {which} {value}"),
        "return document.querySelector('[data-testid=map]')?.dataset[arguments[0]] === arguments[1] || null;",
        &[json!(which), json!(value)],
    );
}

/// Runs axe-core in the page; the serious and critical violations, one line each.
pub(crate) fn axe(b: &Browser, source: &str) -> Vec<String> {
    b.js(&format!("{source}\nreturn typeof window.axe;"), &[]);
    let out = b.cmd(
        "POST",
        "/execute/async",
        Some(
            &json!({"script": "const done = arguments[arguments.length - 1]; \
            axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations \
              .filter(v => v.impact === 'serious' || v.impact === 'critical') \
              .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' + \
                v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))) \
            .catch(e => done(['axe failed: ' + e]));", "args": []}),
        ),
    );
    out.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Waits until the view shows an element matching `css` and the page has rendered.
fn wait_view(b: &Browser, css: &str) {
    b.wait_for(
        css,
        "return document.body.dataset.ready === '1' \
         && document.querySelector(arguments[0]) !== null || null;",
        &[json!(css)],
    );
}

/// Nothing on the page is wider than the viewport: [scroll width, viewport width].
fn widths(b: &Browser) -> (u64, u64) {
    let v = b.js(
        "return [document.documentElement.scrollWidth, window.innerWidth];",
        &[],
    );
    (v[0].as_u64().unwrap(), v[1].as_u64().unwrap())
}

#[test]
fn web_map_of_albania_2021_districts() {
    let Some(tools) = Tools::find("web_map_of_albania_2021_districts", false) else {
        return;
    };
    let axe_source = axe_js().map(|p| std::fs::read_to_string(p).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("al");
    crate::map::import_2021_with_shapes(&data);
    let server = Server::start(&data, &["--publish-ms", "100"]);
    server.wait_bundle(ENTRIES);
    let base = format!("http://{}/", server.addr);
    let election = fetch_json(&server.addr, "/v1/election.json");
    let area = fetch_json(&server.addr, "/v1/areas/AL.json");
    let contest = &election["contests"][0];
    let order: Vec<String> = contest["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let colour = |id: &str| {
        contest["lists"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id)
            .unwrap()["colour"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let name = |id: &str| {
        contest["lists"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id)
            .unwrap()["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let unit_name = |id: &str| {
        election["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .unwrap()["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let kids = area["contests"][0]["children"].as_array().unwrap();
    assert_eq!(kids.len(), 12);

    // 1. The national view's map: leading lists, names, keyboard, and its table.
    let b = Browser::start(&tools, (1400, 1000));
    b.goto(&format!("{base}?lang=en"));
    wait_view(&b, "[data-testid=map]");
    let areas = b.js(AREAS_JS, &[]);
    let areas = areas.as_array().unwrap();
    assert_eq!(areas.len(), 12, "{areas:?}");
    let table = b.js(TABLE_JS, &[]);
    let table = table.as_array().unwrap();
    assert_eq!(table.len(), 12);
    for (k, (a, row)) in kids.iter().zip(areas.iter().zip(table)) {
        let unit = k["unit"].as_str().unwrap();
        let lead = leading(k, &order);
        assert_eq!(a[0], unit);
        assert_eq!(a[1], json!(colour(&lead)), "{unit}: fill of {lead}");
        assert_eq!(
            a[2],
            json!(format!(
                "{}: {} leads with {}",
                unit_name(unit),
                name(&lead),
                en_pct(&k["percent"][&lead])
            ))
        );
        assert_eq!(a[3], json!(0), "{unit} is reached with the Tab key");
        assert_eq!(row[0], unit);
        assert_eq!(row[1], json!(unit_name(unit)));
        assert_eq!(
            row[2],
            json!(format!(
                "{} ({})",
                name(&lead),
                en_pct(&k["percent"][&lead])
            ))
        );
        assert_eq!(row[3], json!(en_pct(&k["turnout"]["percent"])));
        assert_eq!(row[5], json!(en_pct(&k["stations"]["percent_counted"])));
    }
    // Four districts of the north lead for the PD, the other eight for the PS.
    let pd = kids.iter().filter(|k| leading(k, &order) == "PD").count();
    assert_eq!(pd, 4);
    let focused = b.js(
        "const a = document.querySelector('[data-testid=map] svg a[data-unit=AL-Tirane]'); \
         a.focus(); return document.activeElement === a;",
        &[],
    );
    assert_eq!(focused, json!(true));

    // The share of the PD: each district in the bin of its share between the smallest and
    // the largest.
    choose(&b, "measure", "share");
    choose(&b, "list", "PD");
    let shares: Vec<f64> = kids
        .iter()
        .map(|k| k["percent"]["PD"].as_str().unwrap().parse().unwrap())
        .collect();
    let (lo, hi) = shares
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let areas = b.js(AREAS_JS, &[]);
    let table = b.js(TABLE_JS, &[]);
    for (i, (k, v)) in kids.iter().zip(&shares).enumerate() {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bin = (((v - lo) / (hi - lo) * 5.0).floor() as usize).min(4);
        assert_eq!(areas[i][1], json!(SCALE[bin]), "{}", k["unit"]);
        assert_eq!(table[i][4], json!(en_pct(&k["percent"]["PD"])));
    }
    choose(&b, "measure", "leading");

    // 2. Every language, every width: screenshots of the map, nothing wider than the screen.
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let scroll_to_map =
        "document.querySelector('[data-testid=map]').scrollIntoView(); return true;";
    for lang in LANGS {
        b.set_lang(lang);
        wait_view(&b, "[data-testid=map]");
        let title = b.js(
            "return document.querySelector('[data-testid=map] h4').textContent;",
            &[],
        );
        assert!(
            lang == "en" || title != json!("Map"),
            "{lang}: the map's title is not translated"
        );
        b.js(scroll_to_map, &[]);
        b.screenshot(&shots.join(format!("map-{lang}-1400.png")));
    }
    b.report_console("web_map_of_albania_2021_districts");
    drop(b);
    for width in [320, 390] {
        let phone = Browser::phone(&tools, (width, 844));
        for lang in LANGS {
            phone.goto(&format!("{base}?lang={lang}"));
            wait_view(&phone, "[data-testid=map]");
            let (scroll, view) = widths(&phone);
            assert!(
                scroll <= view,
                "{lang} at {width} px: the page is {scroll} px wide"
            );
            phone.js(scroll_to_map, &[]);
            phone.screenshot(&shots.join(format!("map-{lang}-{width}.png")));
        }
    }

    // 3. Accessibility: axe-core in the page, on every kind of view.
    let Some(source) = axe_source else {
        assert!(server.stop().success());
        return;
    };
    let b = Browser::start(&tools, (1400, 1000));
    let station = kids
        .first()
        .and_then(|_| {
            let idx = fetch_json(&server.addr, "/v1/stations/00.json");
            idx["stations"][0]["id"].as_str().map(str::to_owned)
        })
        .unwrap();
    let municipality = election["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["parent"] == "AL-Tirane")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (view, hash, css) in [
        (
            "national view with its map",
            String::new(),
            "[data-testid=map]",
        ),
        (
            "district",
            "#/unit/AL-Tirane".to_owned(),
            "[data-testid=totals][data-unit=AL-Tirane]",
        ),
        (
            "municipality",
            format!("#/unit/{municipality}"),
            "table.stations",
        ),
        (
            "station",
            format!("#/station/{station}"),
            "[data-testid=verify]",
        ),
    ] {
        for lang in ["en", "mk"] {
            b.goto(&format!("{base}?lang={lang}{hash}"));
            wait_view(&b, css);
            let found = axe(&b, &source);
            assert!(
                found.is_empty(),
                "axe-core, {view} ({lang}): {} serious or critical violations:\n{}",
                found.len(),
                found.join("\n")
            );
        }
    }
    // The check can fail: an image without a text alternative is a critical violation.
    b.js(
        "document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"data:,\">'); return true;",
        &[],
    );
    let found = axe(&b, &source);
    assert!(
        found.iter().any(|v| v.starts_with("critical image-alt")),
        "{found:?}"
    );
    drop(b);
    assert!(server.stop().success());
}

/// The text of the first element matching `css`, or null.
fn text_of(b: &Browser, css: &str) -> Value {
    b.js(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;",
        &[json!(css)],
    )
}

/// Names in each language with the stated fallback (web/names.js), a station's name and
/// address from the stations file, and an amendment's reason and authority read from its
/// log entry, in the browser, on a small simulated election.
#[test]
fn web_page_names_in_every_language_station_place_and_amendment() {
    let Some(tools) = Tools::find("web_page_names_in_every_language", false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sim");
    let data = dir.path().join("data");
    crate::run(
        &[
            "sim",
            "--out",
            crate::p(&src),
            "--stations",
            "30",
            "--districts",
            "2",
        ],
        0,
    );
    let toml = std::fs::read_to_string(src.join("election.toml"))
        .unwrap()
        .replacen(
            "id = \"D01\"\nname = \"Berat\"\n",
            "id = \"D01\"\nname = \"Berat\"\nnames = { sq = \"Berati\", mk = \"Берат\", \"sr-Cyrl\" = \"Берат (ср)\", bs = \"Berat (bs)\", en = \"Berat (en)\" }\n",
            1,
        )
        .replacen(
            "id = \"D02\"\nname = \"Dibër\"\n",
            "id = \"D02\"\nname = \"Dibër\"\nnames = { \"sr-Cyrl\" = \"Дибра\" }\n",
            1,
        )
        .replacen(
            "id = \"AP\"\nname = \"Alliance for Progress\"\n",
            "id = \"AP\"\nname = \"Alliance for Progress\"\nnames = { sq = \"Aleanca për Progres\", mk = \"Алијанса за прогрес\", hr = \"Savez za napredak\" }\n",
            1,
        );
    assert_eq!(
        toml.matches("names = ").count(),
        3,
        "the simulation's names changed"
    );
    std::fs::write(src.join("election.toml"), toml).unwrap();
    let csv = std::fs::read_to_string(src.join("stations.csv")).unwrap();
    // Optional columns in any order: the first station's name in Macedonian Cyrillic and
    // Serbian Latin, its address in Macedonian.
    let mut named =
        String::from("id,unit,registered,key,name,name:mk,address,address:mk,name:sr-Latn\n");
    for (i, line) in csv.lines().skip(1).enumerate() {
        let extra = if i == 0 {
            ",\"Shkolla \"\"Naim Frashëri\"\"\",Училиште „Наим Фрашери“,\"Rruga e Durrësit 5, Berat\",\"Улица Драч 5, Берат\",Škola „Naim Frašeri“"
        } else {
            ",,,,,"
        };
        named.push_str(&format!("{line}{extra}\n"));
    }
    std::fs::write(src.join("stations.csv"), named).unwrap();
    crate::init(&src, &data);
    crate::run(
        &[
            "ingest",
            "--data",
            crate::p(&data),
            crate::p(&src.join("protocols.notes")),
            crate::p(&src.join("amendments.notes")),
        ],
        0,
    );
    let status = crate::run(&["status", "--data", crate::p(&data)], 0);
    let size: u64 = status
        .lines()
        .find_map(|l| l.trim().strip_prefix("entries:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no entry count in `urna status`:\n{status}"));
    let server = Server::start(&data, &["--publish-ms", "100"]);
    server.wait_bundle(size);
    let base = format!("http://{}/", server.addr);
    let b = Browser::start(&tools, (1280, 1000));

    // Fallback: en → en; sq → sq; mk → mk, then sr-Cyrl; sr-Latn → sr-Latn, bs, hr, cnr;
    // then the definition's name.
    for (lang, d01, d02, ap) in [
        ("en", "Berat (en)", "Dibër", "Alliance for Progress"),
        ("sq", "Berati", "Dibër", "Aleanca për Progres"),
        ("mk", "Берат", "Дибра", "Алијанса за прогрес"),
        ("sr-Latn", "Berat (bs)", "Dibër", "Savez za napredak"),
    ] {
        b.goto(&format!("{base}?lang={lang}"));
        wait_view(&b, "table.units");
        assert_eq!(
            text_of(&b, "table.units tr[data-unit=D01] th"),
            json!(d01),
            "{lang}"
        );
        assert_eq!(
            text_of(&b, "table.units tr[data-unit=D02] th"),
            json!(d02),
            "{lang}"
        );
        let lists = b.js(
            "return [...document.querySelectorAll('[data-testid=totals] tbody th')].map(t => t.textContent.trim());",
            &[],
        );
        assert!(
            lists.as_array().unwrap().contains(&json!(ap)),
            "{lang}: {lists}"
        );
        b.goto(&format!("{base}?lang={lang}#/unit/D01"));
        wait_view(&b, "[data-testid=totals][data-unit=D01]");
        assert_eq!(text_of(&b, "#view h2"), json!(d01), "{lang}");
    }

    // The first station's name and address, quoted in the stations file.
    let first = csv.lines().nth(1).unwrap().split(',').next().unwrap();
    b.goto(&format!("{base}?lang=en#/station/{first}"));
    wait_view(
        &b,
        &format!("[data-testid=station][data-station=\"{first}\"]"),
    );
    assert_eq!(
        text_of(&b, "[data-testid=station-name]"),
        json!("Shkolla \"Naim Frashëri\"")
    );
    assert_eq!(
        text_of(&b, "[data-testid=station-address]"),
        json!("Rruga e Durrësit 5, Berat")
    );
    // The same station in Macedonian and in Serbian Latin (no Serbian Latin address: the
    // plain one), each marked with the language tag picked.
    for (lang, name, name_tag, address, address_tag) in [
        (
            "mk",
            "Училиште „Наим Фрашери“",
            json!("mk"),
            "Улица Драч 5, Берат",
            json!("mk"),
        ),
        (
            "sr-Latn",
            "Škola „Naim Frašeri“",
            json!("sr-Latn"),
            "Rruga e Durrësit 5, Berat",
            json!(null),
        ),
    ] {
        b.goto(&format!("{base}?lang={lang}#/station/{first}"));
        wait_view(
            &b,
            &format!("[data-testid=station][data-station=\"{first}\"]"),
        );
        assert_eq!(
            text_of(&b, "[data-testid=station-name]"),
            json!(name),
            "{lang}"
        );
        assert_eq!(
            text_of(&b, "[data-testid=station-address]"),
            json!(address),
            "{lang}"
        );
        let tags = b.js(
            "return ['name', 'address'].map(f => document.querySelector(`[data-testid=station-${f}]`).getAttribute('lang'));",
            &[],
        );
        assert_eq!(tags, json!([name_tag, address_tag]), "{lang}");
    }

    // An amended station: the reason its amendment gives and the commission that signed it.
    let note = urna_model::pack::PackReader::new(
        std::fs::File::open(src.join("amendments.notes")).unwrap(),
    )
    .next()
    .unwrap()
    .unwrap();
    let note = String::from_utf8(note).unwrap();
    let field = |name: &str| {
        note.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_owned()
    };
    assert!(note.contains("\n— central-commission "), "{note}");
    for lang in ["en", "mk"] {
        b.goto(&format!("{base}?lang={lang}#/station/{}", field("station")));
        wait_view(
            &b,
            &format!(
                "[data-testid=station][data-station=\"{}\"] [data-testid=amendment-reason]",
                field("station")
            ),
        );
        assert_eq!(
            text_of(&b, "[data-testid=amendment-reason]"),
            json!(field("reason"))
        );
        assert_eq!(
            text_of(&b, "[data-testid=amendment-authority]"),
            json!("Central Election Commission")
        );
    }
    b.report_console("web_page_names_in_every_language");
    drop(b);
    assert!(server.stop().success());
}
