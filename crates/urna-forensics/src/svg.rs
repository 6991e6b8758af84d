//! Plots as self-contained SVG documents (no scripts, no external resources): histograms,
//! the turnout × share fingerprint, and digit charts against their expectation.

use std::fmt::Write as _;

const W: f64 = 640.0;
const H: f64 = 360.0;
const L: f64 = 56.0;
const R: f64 = 16.0;
const T: f64 = 36.0;
const B: f64 = 44.0;

/// Escapes text for SVG and HTML.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn open(title: &str, x_label: &str, y_label: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="12"><title>{t}</title><rect width="{W}" height="{H}" fill="#fff"/><text x="{cx}" y="20" text-anchor="middle" font-size="14">{t}</text><text x="{cx}" y="{yb}" text-anchor="middle">{xl}</text><text transform="translate(14 {cy}) rotate(-90)" text-anchor="middle">{yl}</text>"##,
        t = escape(title),
        cx = W / 2.0,
        cy = H / 2.0,
        yb = H - 8.0,
        xl = escape(x_label),
        yl = escape(y_label),
    );
    s
}

fn axes(s: &mut String, x_ticks: &[(f64, String)], y_max: f64) {
    let (x0, y0, x1, y1) = (L, H - B, W - R, T);
    let _ = write!(
        s,
        r##"<path d="M{x0} {y1}V{y0}H{x1}" stroke="#333" fill="none"/>"##
    );
    for (x, label) in x_ticks {
        let _ = write!(
            s,
            r##"<text x="{x:.1}" y="{ty}" text-anchor="middle">{l}</text>"##,
            ty = y0 + 16.0,
            l = escape(label)
        );
    }
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let y = y0 - (y0 - y1) * f64::from(i) / 4.0;
        let _ = write!(
            s,
            r##"<text x="{tx}" y="{y:.1}" text-anchor="end" dominant-baseline="middle">{v}</text><path d="M{x0} {y:.1}H{x1}" stroke="#eee"/>"##,
            tx = x0 - 4.0,
            v = tick(v)
        );
    }
}

fn tick(v: f64) -> String {
    if v >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A histogram of `bins` spread evenly over `[lo, hi]` on the x axis.
pub fn histogram(title: &str, x_label: &str, bins: &[u64], lo: f64, hi: f64) -> String {
    let mut s = open(title, x_label, "stations");
    #[allow(clippy::cast_precision_loss)]
    let max = bins.iter().copied().max().unwrap_or(0).max(1) as f64;
    let ticks: Vec<(f64, String)> = (0..=5)
        .map(|i| {
            let f = f64::from(i) / 5.0;
            (L + (W - L - R) * f, tick(lo + (hi - lo) * f))
        })
        .collect();
    axes(&mut s, &ticks, max);
    #[allow(clippy::cast_precision_loss)]
    let bw = (W - L - R) / bins.len().max(1) as f64;
    for (i, &c) in bins.iter().enumerate() {
        if c == 0 {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let h = (H - B - T) * c as f64 / max;
        #[allow(clippy::cast_precision_loss)]
        let x = L + bw * i as f64;
        let _ = write!(
            s,
            r##"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="#4a7ab5"><title>{c}</title></rect>"##,
            y = H - B - h,
            w = (bw - 0.5).max(0.5)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A `rows × cols` heatmap (row 0 at the bottom) of counts, on a logarithmic grey-to-red
/// scale; both axes run 0–100 %.
pub fn heatmap(
    title: &str,
    x_label: &str,
    y_label: &str,
    counts: &[u64],
    rows: usize,
    cols: usize,
) -> String {
    let mut s = open(title, x_label, y_label);
    let ticks: Vec<(f64, String)> = (0..=5)
        .map(|i| {
            let f = f64::from(i) / 5.0;
            (L + (W - L - R) * f, format!("{}", i * 20))
        })
        .collect();
    axes(&mut s, &ticks, 100.0);
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    #[allow(clippy::cast_precision_loss)]
    let lmax = (max as f64 + 1.0).ln();
    #[allow(clippy::cast_precision_loss)]
    let (cw, ch) = (
        (W - L - R) / cols.max(1) as f64,
        (H - B - T) / rows.max(1) as f64,
    );
    for r in 0..rows {
        for c in 0..cols {
            let v = counts.get(r * cols + c).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            let f = (v as f64 + 1.0).ln() / lmax;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let (red, gb) = (
                (255.0 - 75.0 * f) as u8,
                (230.0 * (1.0 - f)).clamp(0.0, 255.0) as u8,
            );
            #[allow(clippy::cast_precision_loss)]
            let (x, y) = (L + cw * c as f64, H - B - ch * (r as f64 + 1.0));
            let _ = write!(
                s,
                r##"<rect x="{x:.2}" y="{y:.2}" width="{cw:.2}" height="{ch:.2}" fill="#{red:02x}{gb:02x}{gb:02x}"><title>{v}</title></rect>"##
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Bars of observed shares per digit 0–9, with the expected share per digit as a line.
pub fn digits(title: &str, counts: &[u64; 10], expected: &[f64; 10]) -> String {
    let total: u64 = counts.iter().sum();
    #[allow(clippy::cast_precision_loss)]
    let shares: Vec<f64> = counts
        .iter()
        .map(|&c| {
            if total == 0 {
                0.0
            } else {
                c as f64 / total as f64
            }
        })
        .collect();
    let max = shares
        .iter()
        .chain(expected.iter())
        .copied()
        .fold(0.0, f64::max)
        .max(0.01)
        * 1.1;
    let mut s = open(title, "digit", "share");
    let bw = (W - L - R) / 10.0;
    let ticks: Vec<(f64, String)> = (0..10)
        .map(|d| (L + bw * (f64::from(d) + 0.5), d.to_string()))
        .collect();
    axes(&mut s, &ticks, max);
    let y = |v: f64| H - B - (H - B - T) * v / max;
    let mut line = String::new();
    for (d, (&sh, &ex)) in shares.iter().zip(expected).enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = L + bw * d as f64;
        let _ = write!(
            s,
            r##"<rect x="{x:.2}" y="{yy:.2}" width="{w:.2}" height="{h:.2}" fill="#4a7ab5"><title>{sh:.3}</title></rect>"##,
            yy = y(sh),
            w = bw - 4.0,
            h = H - B - y(sh)
        );
        let _ = write!(
            line,
            "{}{:.2} {:.2}",
            if d == 0 { "M" } else { "L" },
            x + bw / 2.0 - 2.0,
            y(ex)
        );
    }
    let _ = write!(
        s,
        r##"<path d="{line}" stroke="#c0392b" stroke-width="2" fill="none"/></svg>"##
    );
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_single_svg_documents_with_escaped_titles() {
        let h = histogram("a < b & c", "x", &[1, 0, 3], 0.0, 1.0);
        assert!(h.starts_with("<svg") && h.trim_end().ends_with("</svg>"));
        assert!(h.contains("a &lt; b &amp; c"));
        assert_eq!(
            h.matches("<rect x=").count(),
            2,
            "one bar per non-empty bin"
        );
        let m = heatmap("f", "t", "s", &[0, 1, 2, 0], 2, 2);
        assert_eq!(m.matches("<rect x=").count(), 2);
        let d = digits("d", &[1; 10], &[0.1; 10]);
        assert_eq!(d.matches("<rect x=").count(), 10);
    }
}

/// A region of a map: its rings, its label and its value (`None`: no value).
#[derive(Debug, Clone, PartialEq)]
pub struct Region<'a> {
    /// Rings of `(x, y)` points.
    pub rings: &'a [Vec<(f64, f64)>],
    /// Label in the tooltip.
    pub label: String,
    /// Value that colours it.
    pub value: Option<f64>,
}

/// A choropleth: each region's rings filled white to red by its value (grey without one),
/// with its label and value in a tooltip. Coordinates are fitted to the picture, y up.
pub fn map(title: &str, regions: &[Region<'_>]) -> String {
    let mut s = open(title, "", "");
    let pts = || regions.iter().flat_map(|r| r.rings.iter().flatten());
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in pts() {
        if x.is_finite() && y.is_finite() {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    if x0 > x1 || y0 > y1 {
        s.push_str("</svg>\n");
        return s;
    }
    let scale = ((W - 2.0 * R) / (x1 - x0).max(1e-9)).min((H - T - R) / (y1 - y0).max(1e-9));
    // Centred horizontally.
    let left = (W - (x1 - x0) * scale) / 2.0;
    let max = regions
        .iter()
        .filter_map(|r| r.value)
        .fold(0.0, f64::max)
        .max(1e-9);
    for Region {
        rings,
        label,
        value,
    } in regions
    {
        let mut d = String::new();
        for ring in *rings {
            // Points closer than half a pixel to the last one drawn are skipped.
            let mut last: Option<(f64, f64)> = None;
            for &(x, y) in ring {
                let p = (left + (x - x0) * scale, T + (y1 - y) * scale);
                if last.is_some_and(|l| (l.0 - p.0).abs() < 0.5 && (l.1 - p.1).abs() < 0.5) {
                    continue;
                }
                let _ = write!(
                    d,
                    "{}{:.1} {:.1}",
                    if last.is_none() { "M" } else { "L" },
                    p.0,
                    p.1
                );
                last = Some(p);
            }
            d.push('Z');
        }
        let fill = value.map_or_else(
            || "#ddd".to_owned(),
            |v| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let gb = (255.0 * (1.0 - (v / max).clamp(0.0, 1.0) * 0.8)) as u8;
                format!("#ff{gb:02x}{gb:02x}")
            },
        );
        let _ = write!(
            s,
            r##"<path d="{d}" fill="{fill}" stroke="#555" stroke-width="0.7"><title>{l}: {v}</title></path>"##,
            l = escape(label),
            v = value.map_or_else(|| "-".to_owned(), |v| format!("{v}"))
        );
    }
    s.push_str("</svg>\n");
    s
}
