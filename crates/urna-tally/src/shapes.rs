//! `v1/shapes.json`: the unit shapes of the results page's map, rendered from the GeoJSON file
//! the definition names (`[shapes]`) by `urna-geo` (projected, simplified, one SVG path per
//! unit). A pure function of the definition's files, like the station index: the publisher
//! and a verifier that fetched the same blob produce the same bytes.
//!
//! A definition without `[shapes]` gets no file, so its bundle is what it was before.

use urna_model::definition::Election;
use urna_model::protocol::hex;

use crate::public::{DefinitionFiles, RenderError};

/// Path of `v1/shapes.json`.
pub const SHAPES_JSON: &str = "v1/shapes.json";

/// `v1/shapes.json`, or `None` if the definition names no shapes.
///
/// # Errors
/// [`RenderError::Shapes`] if the definition names shapes but `files` lacks their bytes, or
/// they break a rule of [`render_shapes_from`].
pub fn render_shapes(
    e: &Election,
    files: &DefinitionFiles,
) -> Result<Option<Vec<u8>>, RenderError> {
    let Some(shapes) = &e.shapes else {
        return Ok(None);
    };
    let bytes = files.shapes.as_deref().ok_or_else(|| RenderError::Shapes {
        file: shapes.file.clone(),
        reason: "the definition names it, but its bytes were not given".into(),
    })?;
    render_shapes_from(e, bytes).map(Some)
}

/// `v1/shapes.json` from the bytes of the shapes file the definition names.
///
/// # Errors
/// [`RenderError::Shapes`] if the definition names no shapes, the bytes are not the file it
/// names (SHA-256), or the file breaks a rule of `urna-geo` (naming the feature and the rule,
/// e.g. a feature whose unit is not in the definition).
pub fn render_shapes_from(e: &Election, bytes: &[u8]) -> Result<Vec<u8>, RenderError> {
    let Some(shapes) = &e.shapes else {
        return Err(RenderError::Shapes {
            file: String::new(),
            reason: "the definition names no shapes file".into(),
        });
    };
    let bad = |reason: String| RenderError::Shapes {
        file: shapes.file.clone(),
        reason,
    };
    shapes.check(bytes).map_err(bad)?;
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8: {e}")))?;
    let units: Vec<&str> = e.units.iter().map(|u| u.id.as_str()).collect();
    let sha = hex(&shapes.sha256);
    urna_geo::render_web(
        text,
        urna_geo::Source {
            file: &shapes.file,
            sha256: &sha,
            property: &shapes.property,
        },
        &units,
    )
    .map_err(|e| bad(e.to_string()))
}
