//! The results page's map from the definition's unit shapes: the Albania 2021 import with the
//! 2013 district shapefile, published and verified byte for byte; shapes that do not fit the
//! definition refused at `urna init`.

use std::path::Path;

use serde_json::Value;

use crate::albania::CSV_2021;
use crate::{p, run, shared_data};

/// The districts' shapefile of the Election Forensics Toolkit's Albania 2013 data.
pub(crate) const SHAPEFILE: &str = "albania_2013_eftoolkit/Albania2013_prefectures.shp";

/// `urna import --format albania-2021 --shapes …` into `data`; its output.
pub(crate) fn import_2021_with_shapes(data: &Path) -> String {
    run(
        &[
            "import",
            "--format",
            "albania-2021",
            "--csv",
            p(&shared_data(CSV_2021)),
            "--data",
            p(data),
            "--shapes",
            p(&shared_data(SHAPEFILE)),
        ],
        0,
    )
}

/// Whether the point lies inside the ring (even–odd rule).
fn inside(pt: [f64; 2], ring: &[Value]) -> bool {
    let xy = |v: &Value| [v[0].as_f64().unwrap(), v[1].as_f64().unwrap()];
    let mut inside = false;
    for w in ring.windows(2) {
        let (a, b) = (xy(&w[0]), xy(&w[1]));
        if (a[1] > pt[1]) != (b[1] > pt[1])
            && pt[0] < a[0] + (pt[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0])
        {
            inside = !inside;
        }
    }
    inside
}

/// The units whose shapes hold the point.
fn units_at(geojson: &Value, pt: [f64; 2]) -> Vec<String> {
    geojson["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["geometry"]["coordinates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|poly| inside(pt, poly[0].as_array().unwrap()))
        })
        .map(|f| f["properties"]["unit"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn albania_2021_district_shapes_are_converted_published_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("al");
    import_2021_with_shapes(&data);

    // The shapefile's Gauss–Krüger metres came back to WGS 84 degrees: each city lies in
    // its own district and in no other.
    let geojson: Value =
        serde_json::from_slice(&std::fs::read(data.join("districts.geojson")).unwrap()).unwrap();
    assert_eq!(geojson["features"].as_array().unwrap().len(), 12);
    for (city, lon_lat, district) in [
        ("Tirana", [19.8187, 41.3275], "AL-Tirane"),
        ("Shkodër", [19.5126, 42.0683], "AL-Shkoder"),
        ("Vlorë", [19.4897, 40.4661], "AL-Vlore"),
        ("Korçë", [20.7808, 40.6186], "AL-Korce"),
        ("Kukës", [20.4217, 42.0767], "AL-Kukes"),
    ] {
        assert_eq!(units_at(&geojson, lon_lat), [district], "{city}");
    }
    // Ohrid, across the border, is in none.
    assert!(units_at(&geojson, [20.8016, 41.1231]).is_empty());

    let bundle = dir.path().join("bundle");
    run(&["publish", "--data", p(&data), "--out", p(&bundle)], 0);
    let current = bundle.join("current");
    let election: Value =
        serde_json::from_slice(&std::fs::read(current.join("v1/election.json")).unwrap()).unwrap();
    assert_eq!(election["shapes"], "v1/shapes.json");
    let blob = election["definition"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == "unit shapes")
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        std::fs::read(current.join(&blob)).unwrap(),
        std::fs::read(data.join("districts.geojson")).unwrap()
    );
    let shapes: Value =
        serde_json::from_slice(&std::fs::read(current.join("v1/shapes.json")).unwrap()).unwrap();
    assert_eq!(shapes["format"], "urna/shapes/v1");
    let ids: Vec<&str> = shapes["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    let districts: Vec<&str> = election["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["parent"] == "AL")
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, districts);
    // Albania is about twice as tall as it is wide.
    let h = shapes["height"].as_f64().unwrap();
    assert!((1800.0..2600.0).contains(&h), "{h}");

    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let out = run(&["verify", p(&bundle), "--log-key", &log_key], 0);
    assert!(out.contains("VERIFIED"), "{out}");

    // A map redrawn in a copy is caught, and so is a shapes blob gone missing.
    let copy = dir.path().join("copy");
    assert!(
        std::process::Command::new("cp")
            .arg("-rL")
            .arg(&current)
            .arg(&copy)
            .status()
            .unwrap()
            .success()
    );
    let path = copy.join("v1/shapes.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let first = shapes["units"][0]["path"].as_str().unwrap();
    let moved = first.replacen('M', "M1", 1);
    std::fs::write(&path, text.replacen(first, &moved, 1)).unwrap();
    let out = run(&["verify", p(&copy), "--log-key", &log_key], 1);
    assert!(
        out.contains("[file-mismatch] v1/shapes.json: units[0].path"),
        "{out}"
    );
    std::fs::write(&path, text).unwrap();
    std::fs::remove_file(copy.join(&blob)).unwrap();
    let out = run(&["verify", p(&copy), "--log-key", &log_key], 1);
    assert!(
        out.contains("missing; the definition names it as its unit shapes districts.geojson"),
        "{out}"
    );
}

#[test]
fn init_refuses_shapes_that_do_not_fit_the_definition() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
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
    let toml_path = src.join("election.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    let with_shapes = |geojson: &str| {
        std::fs::write(src.join("units.geojson"), geojson).unwrap();
        let sha = urna_model::protocol::hex(&urna_model::intake::sha256(geojson.as_bytes()));
        std::fs::write(
            &toml_path,
            format!("{toml}\n[shapes]\nfile = \"units.geojson\"\nsha256 = \"{sha}\"\n"),
        )
        .unwrap();
    };
    let init = |data: &str, code| {
        run(
            &[
                "init",
                "--definition",
                p(&toml_path),
                "--data",
                p(&dir.path().join(data)),
            ],
            code,
        )
    };
    let square = r#"[[[19,41],[20,41],[20,42],[19,42],[19,41]]]"#;
    with_shapes(&format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"unit":"NOWHERE"}},"geometry":{{"type":"Polygon","coordinates":{square}}}}}]}}"#
    ));
    let out = init("d1", 2);
    assert!(
        out.contains("feature 0: property \"unit\" = \"NOWHERE\" is not a unit of the definition"),
        "{out}"
    );
    with_shapes(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"unit":"X"},"geometry":{"type":"Point","coordinates":[1,2]}}]}"#,
    );
    let out = init("d2", 2);
    assert!(
        out.contains("geometry must be a Polygon or MultiPolygon, not a Point"),
        "{out}"
    );
    // A shapes file changed after the definition named it.
    std::fs::write(src.join("units.geojson"), "{}").unwrap();
    let out = init("d3", 2);
    assert!(
        out.contains("field `shapes.sha256`: units.geojson: its bytes hash to"),
        "{out}"
    );
}
