//! List colours: a definition's `colour = "#rrggbb"`, checked for contrast against the results
//! page's background, and the fallback palette for lists that declare none.
//!
//! Charts draw a list's bars and seats in its colour, so a colour must stand out from the page:
//! at least 3:1 against the white background, the contrast WCAG 2.1 asks of graphical objects
//! (success criterion 1.4.11, contrast as defined for 1.4.3). A colour that fails is refused
//! when the definition loads, naming the list and the contrast it has. Lists without a colour
//! take [`FALLBACK`] in definition order: Paul Tol's "bright" qualitative scheme (designed to be
//! told apart with any common colour-vision deficiency), with its three lightest colours darkened
//! to pass 3:1 as well. The page always writes a list's name beside its colour, so colour is
//! never the only way to tell lists apart (WCAG 1.4.1), even when more than seven lists repeat
//! the palette.

use std::fmt;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub [u8; 3]);

/// The results page's background (`--bg` in `web/style.css`).
pub const PAGE_BACKGROUND: Rgb = Rgb([0xff, 0xff, 0xff]);

/// Least contrast of a list colour against [`PAGE_BACKGROUND`] (WCAG 2.1 SC 1.4.11).
pub const MIN_CONTRAST: f64 = 3.0;

/// Colours of lists that declare none, by position in the definition's `[[lists]]`: Paul Tol's
/// "bright" scheme (<https://personal.sron.nl/~pault/#sec:qualitative>), blue, red, green,
/// yellow, cyan, purple, grey, with yellow, cyan and grey darkened (same hue) to 3:1 on white.
pub const FALLBACK: [Rgb; 7] = [
    Rgb([0x44, 0x77, 0xaa]),
    Rgb([0xee, 0x66, 0x77]),
    Rgb([0x22, 0x88, 0x33]),
    Rgb([0xa2, 0x94, 0x36]),
    Rgb([0x4e, 0x9d, 0xb7]),
    Rgb([0xaa, 0x33, 0x77]),
    Rgb([0x93, 0x93, 0x93]),
];

impl Rgb {
    /// Parses `#rrggbb` (hex digits of either case); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Self([byte(0)?, byte(2)?, byte(4)?]))
    }

    /// WCAG 2.1 relative luminance (0 for black, 1 for white).
    pub fn luminance(self) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }

    /// WCAG 2.1 contrast ratio between two colours (1 to 21).
    pub fn contrast(self, other: Self) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// The fallback colour of the list at `index` in the definition.
    pub fn fallback(index: usize) -> Self {
        FALLBACK[index % FALLBACK.len()]
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

/// Checks a definition's `colour` value: its rule when it is refused.
pub fn check(value: &str) -> Result<Rgb, String> {
    let c = Rgb::parse(value)
        .ok_or_else(|| format!("{value:?}: must be a colour written #rrggbb (six hex digits)"))?;
    let ratio = c.contrast(PAGE_BACKGROUND);
    if ratio < MIN_CONTRAST {
        return Err(format!(
            "{value}: contrast {ratio:.2}:1 against the results page's background {PAGE_BACKGROUND}; \
             charts need at least {MIN_CONTRAST}:1 (WCAG 2.1 success criterion 1.4.11), so choose a darker shade"
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests;
