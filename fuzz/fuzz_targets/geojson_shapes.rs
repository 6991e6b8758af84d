//! Fuzzes the unit shapes reader and the results map's renderer (`urna-geo`): any text is a
//! GeoJSON file of shapes or an error naming the feature; never a panic, and every path the
//! page would draw starts with a move and closes its rings.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(shapes) = urna_geo::read(text, "unit") else {
        return;
    };
    let units: Vec<&str> = shapes.iter().map(|s| s.unit.as_str()).collect();
    let source = urna_geo::Source {
        file: "fuzz.geojson",
        sha256: "00",
        property: "unit",
    };
    let out = urna_geo::render_web(text, source, &units).expect("read accepted it");
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    for u in doc["units"].as_array().expect("units") {
        let path = u["path"].as_str().expect("path");
        assert!(path.starts_with('M') && path.ends_with('Z'), "{path}");
    }
});
