//! The Albania import's district shapes: the 2013 prefecture shapefile (ESRI `.shp`, `.dbf`,
//! `.prj`, as the Election Forensics Toolkit ships it) converted to the GeoJSON file a
//! definition names in `[shapes]`.
//!
//! The shapefile is read with the `shapefile` crate (its `dbase` companion reads the
//! attribute table). Its `.prj` must say `Albanian_1987_GK_Zone_4` (Gauss–Krüger on the
//! Krasovsky ellipsoid, central meridian 21°E, false easting 4 500 000 m): every point is
//! taken back to longitude/latitude with `urna-geo`'s inverse projection, rounded to six
//! decimals (about 0.1 m), and every ring is reversed, since a shapefile's outer rings run
//! clockwise and RFC 7946's counter-clockwise. No datum shift is applied (about 150 m, far
//! below what a results map shows). The prefecture in the `Level` field (`BERAT`, …,
//! `VLORE`) becomes the unit of the district with that name.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use geojson::{Feature, FeatureCollection, Geometry, GeometryValue, JsonObject};
use shapefile::dbase::FieldValue;
use urna_geo::TransverseMercator;

/// The attribute holding the prefecture's name in plain ASCII capitals.
const NAME_FIELD: &str = "Level";

/// What the `.prj` must name, piece by piece.
const PRJ_PARTS: [&str; 5] = [
    "Albanian_1987_GK_Zone_4",
    "Krasovsky_1940",
    "PARAMETER[\"False_Easting\",4500000.0]",
    "PARAMETER[\"Central_Meridian\",21.0]",
    "PARAMETER[\"Scale_Factor\",1.0]",
];

/// The districts' GeoJSON, one feature per district with its unit id in `unit`, from the
/// shapefile `shp` (its `.dbf` and `.prj` beside it). `districts` maps unit id to name, as the
/// import builds them from the CSV; every shape must be one of them and every one must have
/// a shape.
pub(crate) fn districts_geojson(
    shp: &Path,
    districts: &BTreeMap<String, String>,
    unit_id: impl Fn(&str) -> String,
) -> Result<String> {
    let prj_path = shp.with_extension("prj");
    let prj = std::fs::read_to_string(&prj_path)
        .with_context(|| format!("{}: the projection of the shapes", prj_path.display()))?;
    if let Some(missing) = PRJ_PARTS.iter().find(|p| !prj.contains(*p)) {
        bail!(
            "{}: expected Albania's Gauss–Krüger zone 4 (Albanian_1987_GK_Zone_4), but {missing} is not in it",
            prj_path.display()
        );
    }
    let tm = TransverseMercator::ALBANIA_1987_GK_ZONE_4;
    let mut reader = shapefile::Reader::from_path(shp)
        .with_context(|| format!("{}: reading the shapefile", shp.display()))?;
    let mut features: BTreeMap<String, Feature> = BTreeMap::new();
    for (i, item) in reader.iter_shapes_and_records().enumerate() {
        let (shape, record) = item.with_context(|| format!("{}: shape {i}", shp.display()))?;
        let name = match record.get(NAME_FIELD) {
            Some(FieldValue::Character(Some(n))) if !n.trim().is_empty() => n.trim().to_owned(),
            other => bail!(
                "{}: shape {i}: field {NAME_FIELD:?} must hold the prefecture's name, not {other:?}",
                shp.display()
            ),
        };
        let title: String = name
            .chars()
            .enumerate()
            .map(|(k, c)| {
                if k == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        let id = unit_id(&title);
        if !districts.contains_key(&id) {
            bail!(
                "{}: shape {i}: prefecture {name:?} is not a district of the results (unit {id:?})",
                shp.display()
            );
        }
        let shapefile::Shape::Polygon(polygon) = shape else {
            bail!(
                "{}: shape {i} ({name}): a {} where a polygon was expected",
                shp.display(),
                shape.shapetype()
            );
        };
        let mut polygons: Vec<Vec<Vec<geojson::Position>>> = Vec::new();
        for ring in polygon.rings() {
            let mut points: Vec<geojson::Position> = ring
                .points()
                .iter()
                .map(|p| {
                    let [lon, lat] = tm.inverse([p.x, p.y]);
                    let round = |v: f64| (v * 1e6).round() / 1e6;
                    geojson::Position::from([round(lon), round(lat)])
                })
                .collect();
            points.reverse();
            match ring {
                shapefile::PolygonRing::Outer(_) => polygons.push(vec![points]),
                shapefile::PolygonRing::Inner(_) => match polygons.last_mut() {
                    Some(p) => p.push(points),
                    None => bail!(
                        "{}: shape {i} ({name}): a hole before any outer ring",
                        shp.display()
                    ),
                },
            }
        }
        let mut properties = JsonObject::new();
        properties.insert("unit".into(), id.clone().into());
        properties.insert("name".into(), districts[&id].clone().into());
        let feature = Feature {
            bbox: None,
            geometry: Some(Geometry::new(GeometryValue::new_multi_polygon(polygons))),
            id: None,
            properties: Some(properties),
            foreign_members: None,
        };
        if features.insert(id.clone(), feature).is_some() {
            bail!(
                "{}: shape {i}: district {id:?} appears twice",
                shp.display()
            );
        }
    }
    if let Some(missing) = districts.keys().find(|d| !features.contains_key(*d)) {
        bail!("{}: no shape for district {missing:?}", shp.display());
    }
    Ok(format!(
        "{}\n",
        FeatureCollection::new(features.into_values())
    ))
}
