#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

fn square(unit: &str, x: f64, y: f64, side: f64) -> String {
    format!(
        r#"{{"type":"Feature","properties":{{"unit":"{unit}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x2},{y}],[{x2},{y2}],[{x},{y2}],[{x},{y}]]]}}}}"#,
        x2 = x + side,
        y2 = y + side
    )
}

fn collection(features: &[String]) -> String {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
}

#[test]
fn reads_polygons_and_multipolygons() {
    let multi = r#"{"type":"Feature","properties":{"unit":"B"},"geometry":{"type":"MultiPolygon","coordinates":[[[[1,1],[2,1],[2,2],[1,1]]],[[[3,3],[4,3],[4,4],[3,3]]]]}}"#;
    let text = collection(&[square("A", 19.0, 40.0, 1.0), multi.to_owned()]);
    let shapes = read(&text, "unit").unwrap();
    assert_eq!(shapes.len(), 2);
    assert_eq!(shapes[0].unit, "A");
    assert_eq!(shapes[0].polygons[0][0].len(), 5);
    assert_eq!(shapes[1].polygons.len(), 2);
}

#[test]
fn every_broken_rule_names_the_feature_and_the_rule() {
    let cases: Vec<(String, &str)> = vec![
        ("[1,2]".into(), "FeatureCollection"),
        (r#"{"type":"Point","coordinates":[1,2]}"#.into(), "FeatureCollection"),
        (collection(&[]), "no features"),
        (
            collection(&[square("A", 0.0, 0.0, 1.0).replace("\"unit\"", "\"name\"")]),
            "feature 0: property \"unit\" (the unit id) is missing",
        ),
        (
            collection(&[square("A", 0.0, 0.0, 1.0).replace("\"A\"", "7")]),
            "must be a unit id",
        ),
        (
            collection(&[square("A", 0.0, 0.0, 1.0), square("A", 5.0, 5.0, 1.0)]),
            "feature 1: unit \"A\" already has a shape (feature 0)",
        ),
        (
            collection(&[square("A", 179.5, 0.0, 1.0)]),
            "position 1 [180.5, 0] is not a WGS 84",
        ),
        (
            collection(&[r#"{"type":"Feature","properties":{"unit":"A"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}}"#.into()]),
            "ring 0: a ring needs at least 4 positions and must end where it starts",
        ),
        (
            collection(&[r#"{"type":"Feature","properties":{"unit":"A"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[2,2],[0,0]]]}}"#.into()]),
            "unit \"A\": the MultiPolygon is empty, or none of its polygons encloses an area",
        ),
        (
            collection(&[r#"{"type":"Feature","properties":{"unit":"A"},"geometry":{"type":"LineString","coordinates":[[0,0],[1,0]]}}"#.into()]),
            "not a LineString",
        ),
        (
            collection(&[r#"{"type":"Feature","properties":{"unit":"A"},"geometry":null}"#.into()]),
            "no geometry",
        ),
    ];
    for (text, want) in cases {
        let err = read(&text, "unit").unwrap_err().to_string();
        assert!(
            err.contains(want),
            "{text}\n  gave {err:?}\n  expected {want:?}"
        );
    }
}

#[test]
fn render_web_keeps_definition_order_and_refuses_unknown_units() {
    let text = collection(&[square("B", 20.0, 41.0, 0.5), square("A", 19.0, 40.0, 1.0)]);
    let src = Source {
        file: "s.geojson",
        sha256: "00",
        property: "unit",
    };
    let out = render_web(&text, src, &["AL", "A", "B"]).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["format"], "urna/shapes/v1");
    assert_eq!(doc["width"], 1000);
    let ids: Vec<&str> = doc["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["A", "B"]);
    // A spans x 0..667 (1° of 1.5° of longitude), and its top is the box's bottom minus 1°.
    let a = doc["units"][0]["path"].as_str().unwrap();
    assert!(a.starts_with("M0,"), "{a}");
    assert!(a.ends_with('Z'));
    assert!(out.ends_with(b"}\n"));
    assert_eq!(render_web(&text, src, &["AL", "A", "B"]).unwrap(), out);
    let err = render_web(&text, src, &["A"]).unwrap_err().to_string();
    assert_eq!(
        err,
        "feature 0: property \"unit\" = \"B\" is not a unit of the definition"
    );
}

#[test]
fn a_unit_below_the_tolerance_keeps_a_mark() {
    let text = collection(&[square("A", 19.0, 40.0, 1.0), square("B", 19.5, 40.5, 1e-6)]);
    let src = Source {
        file: "s",
        sha256: "00",
        property: "unit",
    };
    let doc: serde_json::Value =
        serde_json::from_slice(&render_web(&text, src, &["A", "B"]).unwrap()).unwrap();
    let b = doc["units"][1]["path"].as_str().unwrap();
    assert_eq!(b.matches('Z').count(), 1, "{b}");
    assert_eq!(b.matches(',').count(), 3, "{b}");
}

/// Tirana, about 19.8187°E 41.3275°N, 1.18° west of zone 4's central meridian: the easting
/// is within 0.1 % of the first-order term N·cos φ·Δλ west of the false easting, the northing
/// a few hundred metres above the meridian arc, and the inverse gives the degrees back.
#[test]
fn gauss_kruger_zone_4_near_tirana() {
    let tm = TransverseMercator::ALBANIA_1987_GK_ZONE_4;
    let (lon, lat) = (19.8187f64, 41.3275f64);
    let [x, y] = tm.forward([lon, lat]);
    let e2 = tm.e2();
    let n = tm.a / (1.0 - e2 * lat.to_radians().sin().powi(2)).sqrt();
    let first_order = n * lat.to_radians().cos() * (lon - 21.0).to_radians();
    assert!(((x - 4_500_000.0) / first_order - 1.0).abs() < 1e-3, "{x}");
    let arc = tm.meridian(lat.to_radians());
    assert!(y > arc && y - arc < 1000.0, "{y} vs {arc}");
    let [lo, la] = tm.inverse([x, y]);
    assert!((lo - lon).abs() < 1e-8 && (la - lat).abs() < 1e-8);
    // On the central meridian the easting is the false easting.
    assert!((tm.forward([21.0, 41.0])[0] - 4_500_000.0).abs() < 1e-6);
}

fn ring_strategy() -> impl Strategy<Value = Ring> {
    // A star-shaped ring around the origin: sorted angles, radii 10..500.
    prop::collection::vec((0.0f64..std::f64::consts::TAU, 10.0f64..500.0), 3..200).prop_map(
        |mut pts| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut ring: Ring = pts
                .into_iter()
                .map(|(a, r)| [500.0 + r * a.cos(), 500.0 + r * a.sin()])
                .collect();
            ring.push(ring[0]);
            ring
        },
    )
}

proptest! {
    /// Douglas–Peucker's promise: the simplified ring is a subsequence of the original that
    /// keeps its ends, and every dropped point lies within the tolerance of the simplified
    /// outline.
    #[test]
    fn simplified_rings_stay_within_the_tolerance(ring in ring_strategy(), tol in 0.1f64..50.0) {
        let s = simplify_ring(&ring, tol);
        prop_assert!(s.len() >= 3 && s.len() <= ring.len());
        prop_assert_eq!(s.first(), ring.first());
        prop_assert_eq!(s.last(), ring.last());
        let mut it = ring.iter();
        for p in &s {
            prop_assert!(it.any(|q| q == p), "not a subsequence");
        }
        for p in &ring {
            let d = s
                .windows(2)
                .map(|w| segment_distance(*p, w[0], w[1]))
                .fold(f64::INFINITY, f64::min);
            prop_assert!(d <= tol + 1e-9, "point {:?} is {} from the outline", p, d);
        }
    }

    /// A larger tolerance never keeps more points.
    #[test]
    fn larger_tolerance_keeps_no_more_points(ring in ring_strategy(), tol in 0.1f64..20.0) {
        prop_assert!(simplify_ring(&ring, tol * 2.0).len() <= simplify_ring(&ring, tol).len());
    }

    /// The inverse projection undoes the forward one within a millimetre, across Albania.
    #[test]
    fn gauss_kruger_round_trips(lon in 18.5f64..21.5, lat in 39.5f64..43.0) {
        let tm = TransverseMercator::ALBANIA_1987_GK_ZONE_4;
        let [lo, la] = tm.inverse(tm.forward([lon, lat]));
        prop_assert!((lo - lon).abs() < 1e-8 && (la - lat).abs() < 1e-8, "{lo} {la}");
    }

    /// Every path the page gets starts with a move, closes every ring and stays in the box.
    #[test]
    fn web_paths_stay_in_the_view_box(ring in ring_strategy()) {
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"u":"X"}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}}]}}"#,
            serde_json::to_string(&ring.iter().map(|p| [p[0] / 100.0, p[1] / 100.0]).collect::<Vec<_>>()).unwrap()
        );
        let src = Source { file: "f", sha256: "0", property: "u" };
        let doc: serde_json::Value = serde_json::from_slice(&render_web(&text, src, &["X"]).unwrap()).unwrap();
        let h = doc["height"].as_i64().unwrap();
        let path = doc["units"][0]["path"].as_str().unwrap();
        prop_assert!(path.starts_with('M') && path.ends_with('Z'));
        for pair in path.split(['M', 'L', ' ', 'Z']).filter(|s| !s.is_empty()) {
            let (x, y) = pair.split_once(',').unwrap();
            let (x, y): (i64, i64) = (x.parse().unwrap(), y.parse().unwrap());
            prop_assert!((0..=1000).contains(&x) && (0..=h).contains(&y), "{} {}", x, y);
        }
    }
}

/// A thin sliver near the pole is drawn within a bounded view box, not stretched without end.
#[test]
fn a_sliver_at_the_pole_keeps_the_view_box_bounded() {
    let sliver = r#"{"type":"Feature","properties":{"unit":"A"},"geometry":{"type":"Polygon","coordinates":[[[10,80],[10.000001,80],[10.000001,90],[10,90],[10,80]]]}}"#;
    let shapes = read(&collection(&[sliver.to_owned()]), "unit").unwrap();
    let p = project(&shapes);
    assert!(p.height <= MAX_HEIGHT, "{}", p.height);
    for q in p
        .shapes
        .iter()
        .flat_map(|s| s.polygons.iter().flatten().flatten())
    {
        assert!(
            (0.0..=WIDTH).contains(&q[0]) && (0.0..=MAX_HEIGHT).contains(&q[1]),
            "{q:?}"
        );
    }
    let src = Source {
        file: "f",
        sha256: "0",
        property: "unit",
    };
    let bytes = render_web(&collection(&[sliver.to_owned()]), src, &["A"]).unwrap();
    assert!(bytes.len() < 10_000, "{} bytes", bytes.len());
}

/// A ring that encloses nothing (a hole or part of one line, as real boundary files have) is
/// left out; the unit keeps its other rings.
#[test]
fn rings_that_enclose_nothing_are_left_out() {
    let f = r#"{"type":"Feature","properties":{"unit":"A"},"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[2,2],[3,3],[1,1]]],[[[5,5],[6,6],[7,7],[5,5]]]]}}"#;
    let shapes = read(&collection(&[f.to_owned()]), "unit").unwrap();
    assert_eq!(shapes[0].polygons.len(), 1);
    assert_eq!(shapes[0].polygons[0].len(), 1);
    assert_eq!(shapes[0].polygons[0][0].len(), 5);
}
