//! Unit shapes for the results page's map: the definition's GeoJSON file in, the bundle's
//! `v1/shapes.json` out.
//!
//! One job: turn the shapes a definition names (`[shapes] file`, an RFC 7946 GeoJSON
//! `FeatureCollection` in WGS 84 longitude/latitude, each feature naming its unit in a
//! property) into what a browser draws without any geometry code: one SVG path per unit in a
//! fixed view box ([`render_web`]). The steps, all deterministic so that a verifier renders
//! the same bytes:
//! 1. [`read`] parses the file with the `geojson` crate and checks every feature: the
//!    property is a string, the geometry a `Polygon` or `MultiPolygon`, every ring closed
//!    with at least four positions, every position finite and on the globe, no unit twice;
//! 2. [`project`] maps longitude/latitude to the plane: equirectangular about the middle
//!    latitude of all shapes (x = longitude × cos(middle latitude), y = −latitude), which at a
//!    country's size distorts less than the page's pixels show, scaled so the box is
//!    [`WIDTH`] units wide;
//! 3. [`simplify_ring`] drops points with Douglas–Peucker at [`TOLERANCE`] view-box units
//!    (one pixel on a map drawn [`WIDTH`] pixels wide; the page draws it at most 340 px
//!    wide), each ring on its own;
//! 4. coordinates are rounded to whole units, repeated points dropped, and rings that
//!    collapse below three points left out (a unit keeps at least its largest ring).
//!
//! Also here, because converting a commission's projected shapefile into the definition's
//! GeoJSON needs it: the inverse Gauss–Krüger (transverse Mercator) projection
//! ([`TransverseMercator`]).
//!
//! Out of scope: reading shapefiles (the importer does), unit ids (the caller passes the
//! definition's units and gets an error naming a feature whose unit is not one), drawing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use geojson::{GeoJson, GeometryValue};
use serde::Serialize;

/// Width of the view box of `v1/shapes.json`, in its units.
pub const WIDTH: f64 = 1000.0;
/// Most height of the view box, in its units: twenty times its width, room for Chile's
/// 1 : 10 outline, while a sliver cannot stretch the box without bound.
pub const MAX_HEIGHT: f64 = 20.0 * WIDTH;
/// Douglas–Peucker tolerance, in view-box units.
pub const TOLERANCE: f64 = 1.0;

/// A point in the plane (or longitude, latitude in degrees).
pub type Point = [f64; 2];
/// A closed ring: its last point equals its first.
pub type Ring = Vec<Point>;
/// A polygon: its outer ring, then its holes.
pub type Polygon = Vec<Ring>;

/// The shape of one unit, as read from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitShape {
    /// The unit id, from the feature's property.
    pub unit: String,
    /// Its polygons (one for a `Polygon`, several for a `MultiPolygon`).
    pub polygons: Vec<Polygon>,
}

/// Why a shapes file cannot be used. Every variant names the feature (0-based, in file order).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    /// Not GeoJSON, or not a `FeatureCollection`.
    #[error("not a GeoJSON FeatureCollection: {0}")]
    NotCollection(String),
    /// A feature breaks a rule.
    #[error("feature {index}: {rule}")]
    Feature {
        /// The feature's position in `features`.
        index: usize,
        /// The rule broken, with the value.
        rule: String,
    },
}

/// Reads a shapes file: every feature names its unit in `property`.
///
/// # Errors
/// [`GeoError`] naming the feature and the rule it breaks.
pub fn read(text: &str, property: &str) -> Result<Vec<UnitShape>, GeoError> {
    let geo: GeoJson = text
        .parse()
        .map_err(|e: geojson::Error| GeoError::NotCollection(e.to_string()))?;
    let GeoJson::FeatureCollection(fc) = geo else {
        return Err(GeoError::NotCollection(
            "the top-level object must have \"type\": \"FeatureCollection\"".into(),
        ));
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(fc.features.len());
    for (index, f) in fc.features.iter().enumerate() {
        let bad = |rule: String| GeoError::Feature { index, rule };
        let unit = match f.properties.as_ref().and_then(|p| p.get(property)) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => {
                return Err(bad(format!(
                    "property {property:?} must be a unit id (a non-empty string), not {other}"
                )));
            }
            None => {
                return Err(bad(format!(
                    "property {property:?} (the unit id) is missing"
                )));
            }
        };
        if let Some(first) = seen.insert(unit.clone(), index) {
            return Err(bad(format!(
                "unit {unit:?} already has a shape (feature {first}); join its parts into one MultiPolygon"
            )));
        }
        let polygons: Vec<&Vec<Vec<geojson::Position>>> =
            match f.geometry.as_ref().map(|g| &g.value) {
                Some(GeometryValue::Polygon { coordinates }) => vec![coordinates],
                Some(GeometryValue::MultiPolygon { coordinates }) => coordinates.iter().collect(),
                Some(other) => {
                    return Err(bad(format!(
                        "unit {unit:?}: geometry must be a Polygon or MultiPolygon, not a {}",
                        other.type_name()
                    )));
                }
                None => return Err(bad(format!("unit {unit:?}: no geometry"))),
            };
        let mut shape = UnitShape {
            unit: unit.clone(),
            polygons: Vec::with_capacity(polygons.len()),
        };
        for (pi, rings) in polygons.into_iter().enumerate() {
            if rings.is_empty() {
                return Err(bad(format!("unit {unit:?}: polygon {pi} has no ring")));
            }
            let mut polygon = Vec::with_capacity(rings.len());
            for (ri, ring) in rings.iter().enumerate() {
                let at = format!("unit {unit:?}: polygon {pi}, ring {ri}");
                let mut points = Vec::with_capacity(ring.len());
                for (k, p) in ring.iter().enumerate() {
                    let (lon, lat) = match p.as_slice() {
                        [lon, lat, ..] => (*lon, *lat),
                        _ => {
                            return Err(bad(format!(
                                "{at}: position {k} has fewer than 2 numbers"
                            )));
                        }
                    };
                    if !(lon.is_finite()
                        && lat.is_finite()
                        && (-180.0..=180.0).contains(&lon)
                        && (-90.0..=90.0).contains(&lat))
                    {
                        return Err(bad(format!(
                            "{at}: position {k} [{lon}, {lat}] is not a WGS 84 longitude and latitude (RFC 7946)"
                        )));
                    }
                    points.push([lon, lat]);
                }
                if points.len() < 4 || points.first() != points.last() {
                    return Err(bad(format!(
                        "{at}: a ring needs at least 4 positions and must end where it starts"
                    )));
                }
                // A ring whose positions lie on one line encloses nothing and draws nothing
                // (real boundary files have such slivers): it is left out, and a polygon
                // whose outer ring is one is left out whole.
                if ring_area(&points) == 0.0 {
                    if ri == 0 {
                        break;
                    }
                    continue;
                }
                polygon.push(points);
            }
            if !polygon.is_empty() {
                shape.polygons.push(polygon);
            }
        }
        if shape.polygons.is_empty() {
            return Err(bad(format!(
                "unit {unit:?}: the MultiPolygon is empty, or none of its polygons encloses an area"
            )));
        }
        out.push(shape);
    }
    if out.is_empty() {
        return Err(GeoError::NotCollection("it has no features".into()));
    }
    Ok(out)
}

/// The plane the shapes are drawn in: their projected points and the view box's height.
#[derive(Debug, Clone, PartialEq)]
pub struct Projected {
    /// The shapes, in view-box units (x right, y down), in the order given.
    pub shapes: Vec<UnitShape>,
    /// The view box's height ([`WIDTH`] wide).
    pub height: f64,
}

/// Projects longitude/latitude shapes to a view box [`WIDTH`] units wide (see the crate docs).
pub fn project(shapes: &[UnitShape]) -> Projected {
    let all = || {
        shapes
            .iter()
            .flat_map(|s| s.polygons.iter().flatten().flatten())
    };
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in all() {
        for i in 0..2 {
            lo[i] = lo[i].min(p[i]);
            hi[i] = hi[i].max(p[i]);
        }
    }
    let k = ((lo[1] + hi[1]) / 2.0).to_radians().cos();
    let span_x = ((hi[0] - lo[0]) * k).max(f64::MIN_POSITIVE);
    let span_y = (hi[1] - lo[1]).max(f64::MIN_POSITIVE);
    // A sliver (a narrow band of longitude, or shapes near a pole, where `k` tends to 0) would
    // otherwise stretch the view box, and every coordinate in it, without bound.
    let scale = (WIDTH / span_x).min(MAX_HEIGHT / span_y);
    let height = ((hi[1] - lo[1]) * scale).max(1.0);
    let to = |p: &Point| [(p[0] - lo[0]) * k * scale, (hi[1] - p[1]) * scale];
    Projected {
        shapes: shapes
            .iter()
            .map(|s| UnitShape {
                unit: s.unit.clone(),
                polygons: s
                    .polygons
                    .iter()
                    .map(|poly| poly.iter().map(|r| r.iter().map(to).collect()).collect())
                    .collect(),
            })
            .collect(),
        height,
    }
}

/// Distance from `p` to the segment `a`–`b`.
fn segment_distance(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (qx, qy) = (a[0] + t * dx, a[1] + t * dy);
    ((p[0] - qx).powi(2) + (p[1] - qy).powi(2)).sqrt()
}

/// Douglas–Peucker on an open line: marks in `keep` the points of `line[from..=to]` to keep.
/// Iterative (a stack), so a long coastline cannot overflow the call stack.
fn douglas_peucker(line: &[Point], tolerance: f64, keep: &mut [bool]) {
    let mut stack = vec![(0, line.len().saturating_sub(1))];
    while let Some((from, to)) = stack.pop() {
        keep[from] = true;
        keep[to] = true;
        if to <= from + 1 {
            continue;
        }
        let (mut far, mut dist) = (from, -1.0);
        for i in from + 1..to {
            let d = segment_distance(line[i], line[from], line[to]);
            if d > dist {
                (far, dist) = (i, d);
            }
        }
        if dist > tolerance {
            stack.push((from, far));
            stack.push((far, to));
        }
    }
}

/// Simplifies a closed ring with Douglas–Peucker: every point dropped lies within `tolerance`
/// of the simplified outline, and the ring keeps its first point and the point farthest from
/// it, so it never collapses to a line. A ring of fewer than 4 points is returned as is.
pub fn simplify_ring(ring: &[Point], tolerance: f64) -> Ring {
    if ring.len() < 4 {
        return ring.to_vec();
    }
    let first = ring[0];
    let far = (1..ring.len() - 1)
        .max_by(|&a, &b| {
            let d = |i: usize| (ring[i][0] - first[0]).powi(2) + (ring[i][1] - first[1]).powi(2);
            d(a).total_cmp(&d(b))
        })
        .unwrap_or(1);
    let mut keep = vec![false; ring.len()];
    douglas_peucker(&ring[..=far], tolerance, &mut keep[..=far]);
    douglas_peucker(&ring[far..], tolerance, &mut keep[far..]);
    ring.iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(*p))
        .collect()
}

/// A ring rounded to whole units without repeated points, closing point left off; `None` if
/// fewer than three distinct points remain.
fn rounded(ring: &[Point]) -> Option<Vec<[i64; 2]>> {
    let mut out: Vec<[i64; 2]> = Vec::with_capacity(ring.len());
    for p in ring {
        // In range: the view box is a few thousand units at most.
        #[allow(clippy::cast_possible_truncation)]
        let q = [p[0].round() as i64, p[1].round() as i64];
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    (out.len() >= 3).then_some(out)
}

/// The SVG path of one unit: its simplified, rounded rings (outer rings and holes alike; the
/// page fills with `fill-rule="evenodd"`).
pub fn svg_path(shape: &UnitShape, tolerance: f64) -> String {
    let rings: Vec<&Ring> = shape.polygons.iter().flatten().collect();
    let mut kept: Vec<Vec<[i64; 2]>> = rings
        .iter()
        .filter_map(|r| rounded(&simplify_ring(r, tolerance)))
        .collect();
    if kept.is_empty() {
        // A unit smaller than the tolerance still gets a mark where it is: its largest ring
        // as a triangle of whole units at least one unit wide.
        let largest = rings
            .iter()
            .max_by(|a, b| ring_area(a).total_cmp(&ring_area(b)))
            .and_then(|r| r.first());
        if let Some(p) = largest {
            #[allow(clippy::cast_possible_truncation)]
            let (x, y) = (p[0].round() as i64, p[1].round() as i64);
            kept.push(vec![[x, y], [x + 1, y], [x, y + 1]]);
        }
    }
    let mut d = String::new();
    for ring in kept {
        for (i, [x, y]) in ring.iter().enumerate() {
            let cmd = match i {
                0 => "M",
                1 => "L",
                _ => " ",
            };
            let _ = write!(d, "{cmd}{x},{y}");
        }
        d.push('Z');
    }
    d
}

/// The absolute area of a ring (shoelace).
pub fn ring_area(ring: &[Point]) -> f64 {
    ring.windows(2)
        .map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1])
        .sum::<f64>()
        .abs()
        / 2.0
}

/// `v1/shapes.json` (`urna/shapes/v1`).
#[derive(Serialize)]
struct ShapesDoc<'a> {
    format: &'static str,
    source: SourceDoc<'a>,
    projection: &'static str,
    simplification: String,
    width: u32,
    height: u32,
    units: Vec<UnitDoc<'a>>,
}

#[derive(Serialize)]
struct SourceDoc<'a> {
    file: &'a str,
    sha256: &'a str,
    property: &'a str,
}

#[derive(Serialize)]
struct UnitDoc<'a> {
    id: &'a str,
    path: String,
}

/// Where the shapes came from, as `v1/shapes.json` says.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The file name the definition gives.
    pub file: &'a str,
    /// Its SHA-256, lower-case hex.
    pub sha256: &'a str,
    /// The feature property naming the unit.
    pub property: &'a str,
}

/// Renders `v1/shapes.json` from the shapes file's text: the units in the order of `units`
/// (the definition's unit ids; units without a shape are left out), each with its SVG path in
/// a view box [`WIDTH`] wide; pretty-printed with a final newline.
///
/// # Errors
/// [`GeoError`] if the file breaks a rule of [`read`] or a feature names a unit not in `units`.
pub fn render_web(text: &str, source: Source<'_>, units: &[&str]) -> Result<Vec<u8>, GeoError> {
    let shapes = read(text, source.property)?;
    for (index, s) in shapes.iter().enumerate() {
        if !units.contains(&s.unit.as_str()) {
            return Err(GeoError::Feature {
                index,
                rule: format!(
                    "property {:?} = {:?} is not a unit of the definition",
                    source.property, s.unit
                ),
            });
        }
    }
    let projected = project(&shapes);
    let by_unit: BTreeMap<&str, &UnitShape> = projected
        .shapes
        .iter()
        .map(|s| (s.unit.as_str(), s))
        .collect();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let height = projected.height.ceil() as u32;
    let doc = ShapesDoc {
        format: "urna/shapes/v1",
        source: SourceDoc {
            file: source.file,
            sha256: source.sha256,
            property: source.property,
        },
        projection: "equirectangular about the middle latitude: x = longitude × cos(middle latitude), y = −latitude, scaled to the width",
        simplification: format!(
            "Douglas–Peucker per ring at {TOLERANCE} units, then rounded to whole units"
        ),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        width: WIDTH as u32,
        height,
        units: units
            .iter()
            .filter_map(|id| {
                by_unit.get(id).map(|s| UnitDoc {
                    id,
                    path: svg_path(s, TOLERANCE),
                })
            })
            .collect(),
    };
    let mut out = serde_json::to_vec_pretty(&doc)
        .map_err(|e| GeoError::NotCollection(format!("writing shapes: {e}")))?;
    out.push(b'\n');
    Ok(out)
}

/// A transverse Mercator (Gauss–Krüger) projection on an ellipsoid, for converting a
/// commission's projected coordinates (metres) to longitude/latitude. Series of Snyder,
/// *Map Projections: A Working Manual* (USGS 1395, 1987), §8: millimetre-exact within a
/// few degrees of the central meridian. No datum shift: the result is on the projection's
/// own ellipsoid (for Albania's 1987 datum that is within about 150 m of WGS 84, far below
/// a map pixel).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransverseMercator {
    /// Semi-major axis, metres.
    pub a: f64,
    /// Inverse flattening.
    pub inverse_flattening: f64,
    /// Central meridian, degrees.
    pub central_meridian: f64,
    /// Scale factor on the central meridian.
    pub scale: f64,
    /// False easting, metres.
    pub false_easting: f64,
    /// False northing, metres.
    pub false_northing: f64,
}

impl TransverseMercator {
    /// Albania's `Albanian_1987_GK_Zone_4`: Krasovsky 1940, central meridian 21°E, scale 1,
    /// false easting 4 500 000 m (the `.prj` of the 2013 district shapefile).
    pub const ALBANIA_1987_GK_ZONE_4: Self = Self {
        a: 6_378_245.0,
        inverse_flattening: 298.3,
        central_meridian: 21.0,
        scale: 1.0,
        false_easting: 4_500_000.0,
        false_northing: 0.0,
    };

    fn e2(&self) -> f64 {
        let f = 1.0 / self.inverse_flattening;
        2.0 * f - f * f
    }

    /// Meridian distance from the equator to latitude `phi` (radians).
    fn meridian(&self, phi: f64) -> f64 {
        let e2 = self.e2();
        let (e4, e6) = (e2 * e2, e2 * e2 * e2);
        self.a
            * ((1.0 - e2 / 4.0 - 3.0 * e4 / 64.0 - 5.0 * e6 / 256.0) * phi
                - (3.0 * e2 / 8.0 + 3.0 * e4 / 32.0 + 45.0 * e6 / 1024.0) * (2.0 * phi).sin()
                + (15.0 * e4 / 256.0 + 45.0 * e6 / 1024.0) * (4.0 * phi).sin()
                - (35.0 * e6 / 3072.0) * (6.0 * phi).sin())
    }

    /// Longitude/latitude (degrees) to easting/northing (metres).
    pub fn forward(&self, [lon, lat]: Point) -> Point {
        let e2 = self.e2();
        let ep2 = e2 / (1.0 - e2);
        let phi = lat.to_radians();
        let (s, c) = phi.sin_cos();
        let n = self.a / (1.0 - e2 * s * s).sqrt();
        let t = (s / c).powi(2);
        let cc = ep2 * c * c;
        let aa = (lon - self.central_meridian).to_radians() * c;
        let m = self.meridian(phi);
        let x = self.scale
            * n
            * (aa
                + (1.0 - t + cc) * aa.powi(3) / 6.0
                + (5.0 - 18.0 * t + t * t + 72.0 * cc - 58.0 * ep2) * aa.powi(5) / 120.0);
        let y = self.scale
            * (m + n
                * (s / c)
                * (aa * aa / 2.0
                    + (5.0 - t + 9.0 * cc + 4.0 * cc * cc) * aa.powi(4) / 24.0
                    + (61.0 - 58.0 * t + t * t + 600.0 * cc - 330.0 * ep2) * aa.powi(6) / 720.0));
        [x + self.false_easting, y + self.false_northing]
    }

    /// Easting/northing (metres) to longitude/latitude (degrees).
    pub fn inverse(&self, [x, y]: Point) -> Point {
        let e2 = self.e2();
        let ep2 = e2 / (1.0 - e2);
        let m = (y - self.false_northing) / self.scale;
        let mu = m / (self.a * (1.0 - e2 / 4.0 - 3.0 * e2 * e2 / 64.0 - 5.0 * e2.powi(3) / 256.0));
        let e1 = (1.0 - (1.0 - e2).sqrt()) / (1.0 + (1.0 - e2).sqrt());
        let phi1 = mu
            + (3.0 * e1 / 2.0 - 27.0 * e1.powi(3) / 32.0) * (2.0 * mu).sin()
            + (21.0 * e1 * e1 / 16.0 - 55.0 * e1.powi(4) / 32.0) * (4.0 * mu).sin()
            + (151.0 * e1.powi(3) / 96.0) * (6.0 * mu).sin()
            + (1097.0 * e1.powi(4) / 512.0) * (8.0 * mu).sin();
        let (s, c) = phi1.sin_cos();
        let c1 = ep2 * c * c;
        let t1 = (s / c).powi(2);
        let n1 = self.a / (1.0 - e2 * s * s).sqrt();
        let r1 = self.a * (1.0 - e2) / (1.0 - e2 * s * s).powf(1.5);
        let d = (x - self.false_easting) / (n1 * self.scale);
        let lat = phi1
            - (n1 * (s / c) / r1)
                * (d * d / 2.0
                    - (5.0 + 3.0 * t1 + 10.0 * c1 - 4.0 * c1 * c1 - 9.0 * ep2) * d.powi(4) / 24.0
                    + (61.0 + 90.0 * t1 + 298.0 * c1 + 45.0 * t1 * t1
                        - 252.0 * ep2
                        - 3.0 * c1 * c1)
                        * d.powi(6)
                        / 720.0);
        let lon = (d - (1.0 + 2.0 * t1 + c1) * d.powi(3) / 6.0
            + (5.0 - 2.0 * c1 + 28.0 * t1 - 3.0 * c1 * c1 + 8.0 * ep2 + 24.0 * t1 * t1)
                * d.powi(5)
                / 120.0)
            / c;
        [self.central_meridian + lon.to_degrees(), lat.to_degrees()]
    }
}

#[cfg(test)]
mod tests;
