//! A [`Report`] as a terminal summary and as a folder of files (an HTML page and its SVG
//! plots), returned as names and contents for the caller to write.

use std::fmt::Write as _;

use crate::eft::EftStats;
use crate::shape::Shape;
use crate::svg::{self, escape};
use crate::{Report, VariableScreens};

/// The warning every rendering carries.
pub const WARNING: &str = "A flag is a reason to look, not proof: every screen has innocent causes (small or unusual stations, institutions, real local swings).";

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

/// Plot file name of a variable (`turnout` or `list-<index>`).
fn slug(v: &VariableScreens) -> String {
    match v.variable {
        crate::Variable::Turnout => "turnout".to_owned(),
        crate::Variable::List(i) => format!("list-{i}"),
    }
}

/// The terminal summary: national statistics per variable, then the flags.
pub fn summary(r: &Report) -> String {
    let nu = r.units.len();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Forensic screens over {} counted stations in {} units (leading list: {})",
        r.counted[nu], nu, r.leader_name
    );
    let _ = writeln!(
        s,
        "{:<24} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7}  integer % (obs / expected, p)",
        "variable", "2BL", "LastC", "C05s", "P05s", "Skew", "Kurt"
    );
    for v in &r.variables {
        let e = &v.eft[nu];
        let i = &v.integer[nu];
        let _ = writeln!(
            s,
            "{:<24} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7}  {} / {:.1}, p = {:.3}",
            v.name,
            opt(e.second_digit_mean),
            opt(e.last_digit_mean),
            opt(e.c05s),
            opt(e.p05s),
            opt(e.skew),
            opt(e.kurt),
            i.observed,
            i.expected,
            i.p_value
        );
    }
    let st = &r.stuffing[nu];
    let _ = writeln!(
        s,
        "turnout × {}: correlation {}, Sobyanin–Sukhovolsky {}",
        r.leader_name,
        opt(st.correlation),
        opt(st.sobyanin)
    );
    let _ = writeln!(
        s,
        "{} station outliers (|robust z| ≥ {} against their unit)",
        r.outliers.len(),
        r.options.outlier_z
    );
    for o in r.outliers.iter().take(5) {
        let _ = writeln!(
            s,
            "  {} in {}: {} {:.1} % against a median of {:.1} % (z = {:.1})",
            o.station,
            r.units.get(o.unit).map_or("?", String::as_str),
            o.variable,
            o.percent,
            o.median,
            o.z
        );
    }
    if let Some(c) = r.centres.first() {
        let _ = writeln!(
            s,
            "largest centre shift: {} in {} ({} stations), {}: median robust z {:.1}",
            c.centre,
            r.units.get(c.unit).map_or("?", String::as_str),
            c.stations,
            c.variable,
            c.median_z
        );
    }
    let _ = writeln!(s, "{} flags", r.flags.len());
    for f in &r.flags {
        let _ = writeln!(
            s,
            "  [{}] {} {}: {}",
            f.screen, f.unit, f.variable, f.detail
        );
    }
    let _ = writeln!(s, "{WARNING}");
    s
}

fn eft_row(h: &mut String, name: &str, e: &EftStats) {
    let _ = write!(
        h,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(name),
        opt(e.second_digit_mean),
        opt(e.last_digit_mean),
        opt(e.c05s),
        opt(e.p05s),
        opt(e.skew),
        opt(e.kurt),
        e.obs
    );
}

/// A name for matching: ASCII letters and digits, upper case, Albanian `ë`/`ç` as `E`/`C`.
fn fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'ë' | 'Ë' | 'é' | 'è' => Some('E'),
            'ç' | 'Ç' => Some('C'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_uppercase()),
            _ => None,
        })
        .collect()
}

/// The map of flags per unit: each shape is the unit whose name equals (letters and digits,
/// case and Albanian diacritics aside) one of its attribute values.
pub fn flags_map(r: &Report, shapes: &[Shape]) -> String {
    let names: Vec<String> = r.units.iter().map(|u| fold(u)).collect();
    let regions: Vec<svg::Region<'_>> = shapes
        .iter()
        .map(|s| {
            let unit = s
                .attributes
                .iter()
                .find_map(|(_, v)| names.iter().position(|n| *n == fold(v)));
            let label = unit.map_or_else(
                || {
                    s.attributes
                        .first()
                        .map(|a| a.1.clone())
                        .unwrap_or_default()
                },
                |u| r.units[u].clone(),
            );
            #[allow(clippy::cast_precision_loss)]
            let value =
                unit.map(|u| r.flags.iter().filter(|f| f.unit == r.units[u]).count() as f64);
            svg::Region {
                rings: &s.rings,
                label,
                value,
            }
        })
        .collect();
    svg::map("Flags per unit", &regions)
}

/// The report folder: `index.html` and one SVG per plot, as `(file name, contents)`; with
/// `shapes`, a map of the flags per unit too.
pub fn files(r: &Report, title: &str, shapes: Option<&[Shape]>) -> Vec<(String, String)> {
    let nu = r.units.len();
    let mut out = Vec::new();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>body{{font-family:sans-serif;max-width:70em;margin:auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}td:first-child{{text-align:left}}.warn{{background:#fff3cd;padding:.5em}}</style></head><body><h1>{t}</h1><p class=\"warn\">{w}</p>",
        t = escape(title),
        w = escape(WARNING)
    );
    let _ = write!(
        h,
        "<p>{} counted stations in {} units. Leading list: {}. Monte Carlo: {} repetitions, seed {}, stations with a denominator of at least {}.</p>",
        r.counted[nu],
        nu,
        escape(&r.leader_name),
        r.options.integer.reps,
        r.options.integer.seed,
        r.options.integer.min_denominator
    );
    let _ = write!(h, "<h2>Flags ({})</h2><ul>", r.flags.len());
    for f in &r.flags {
        let _ = write!(
            h,
            "<li><b>{}</b> {} {}: {}</li>",
            escape(f.screen),
            escape(&f.unit),
            escape(&f.variable),
            escape(&f.detail)
        );
    }
    if let Some(shapes) = shapes {
        h.push_str("</ul><h2>Map</h2><img src=\"map-flags.svg\" alt=\"flags per unit\"><ul>");
        out.push(("map-flags.svg".to_owned(), flags_map(r, shapes)));
    }
    h.push_str("</ul><h2>Fingerprint</h2><img src=\"fingerprint.svg\" alt=\"turnout against the leading list's share\">");
    out.push((
        "fingerprint.svg".to_owned(),
        svg::heatmap(
            &format!("Turnout × {} share (stations)", r.leader_name),
            "turnout %",
            "share %",
            &r.fingerprint,
            100,
            100,
        ),
    ));
    let benford: [f64; 10] = std::array::from_fn(|d| {
        (1..10)
            .map(|k| (1.0 + 1.0 / f64::from(10 * k + u32::try_from(d).unwrap_or(0))).log10())
            .sum()
    });
    for v in &r.variables {
        let slug = slug(v);
        let _ = write!(
            h,
            "<h2>{n}</h2><img src=\"{slug}-hist.svg\" alt=\"histogram\"><img src=\"{slug}-last.svg\" alt=\"last digits\"><img src=\"{slug}-second.svg\" alt=\"second digits\"><table><tr><th>unit</th><th>2BL</th><th>LastC</th><th>C05s</th><th>P05s</th><th>Skew</th><th>Kurt</th><th>Obs</th></tr>",
            n = escape(&v.name)
        );
        for g in 0..=nu {
            let name = r.units.get(g).map_or("all", String::as_str);
            eft_row(&mut h, name, &v.eft[g]);
        }
        h.push_str("</table><table><tr><th>unit</th><th>included</th><th>whole %</th><th>expected</th><th>sd</th><th>p</th></tr>");
        for g in 0..=nu {
            let i = &v.integer[g];
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.4}</td></tr>",
                escape(r.units.get(g).map_or("all", String::as_str)),
                i.included,
                i.observed,
                i.expected,
                i.sd,
                i.p_value
            );
        }
        h.push_str("</table>");
        out.push((
            format!("{slug}-hist.svg"),
            svg::histogram(
                &format!("{} (% of stations' ballots)", v.name),
                "%",
                &v.histogram,
                0.0,
                100.0,
            ),
        ));
        out.push((
            format!("{slug}-last.svg"),
            svg::digits(
                &format!("{}: last digit of counts", v.name),
                &v.last_digits,
                &[0.1; 10],
            ),
        ));
        out.push((
            format!("{slug}-second.svg"),
            svg::digits(
                &format!("{}: second digit of counts (Benford line)", v.name),
                &v.second_digits,
                &benford,
            ),
        ));
    }
    h.push_str("<h2>Protocols quarantined and amended per unit</h2><table><tr><th>unit</th><th>reported</th><th>quarantined</th><th>z</th><th>amended</th><th>z</th></tr>");
    for (g, c) in r.concentration.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.units[g]),
            c.reported,
            c.quarantined,
            opt(c.quarantined_z),
            c.amended,
            opt(c.amended_z)
        );
    }
    let _ = write!(
        h,
        "</table><h2>Station outliers ({})</h2><table><tr><th>station</th><th>unit</th><th>variable</th><th>%</th><th>unit median %</th><th>z</th></tr>",
        r.outliers.len()
    );
    for o in r.outliers.iter().take(200) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            escape(&o.station),
            escape(r.units.get(o.unit).map_or("?", String::as_str)),
            escape(&o.variable),
            o.percent,
            o.median,
            o.z
        );
    }
    h.push_str("</table><h2>Counting centres against their unit</h2><table><tr><th>centre</th><th>unit</th><th>variable</th><th>stations</th><th>median robust z</th></tr>");
    for c in r.centres.iter().take(100) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
            escape(&c.centre),
            escape(r.units.get(c.unit).map_or("?", String::as_str)),
            escape(&c.variable),
            c.stations,
            c.median_z
        );
    }
    h.push_str("</table></body></html>\n");
    out.insert(0, ("index.html".to_owned(), h));
    out
}
