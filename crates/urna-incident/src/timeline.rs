//! Views of an incident log: the institutions' timeline (text or JSON, with sealed details
//! opened where an identity allows), and the public summary (JSON and a static HTML page).
//!
//! The public summary shows, for each incident, who reported it, when, its TLP, its status,
//! who acknowledged it and when it was updated; the details (systems, indicators, summary)
//! only of notes at TLP:CLEAR. Of a sealed note it shows that it is sealed and to whom, never
//! its content, which it does not have: the summary is built from the log alone, without any
//! identity.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::body::{Content, Details, Kind, hex};
use crate::log::{Entry, IncidentLog};
use crate::seal::{Identity, open};

/// The details of one entry as a reader sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// No details (an acknowledgment).
    None,
    /// In the clear (TLP:CLEAR).
    Clear(Details),
    /// Sealed and opened with the reader's identity.
    Opened(Details),
    /// Sealed, and the reader has no identity it is sealed to (or gave none).
    Sealed,
}

/// What `entry`'s details are to a reader holding `identity` (if any).
pub fn shown(entry: &Entry, identity: Option<&Identity>) -> Shown {
    match entry.body.notice.as_ref().map(|n| &n.content) {
        None => Shown::None,
        Some(Content::Clear(d)) => Shown::Clear(d.clone()),
        Some(Content::Sealed(blob)) => match identity.map(|id| open(blob, id)) {
            Some(Ok(d)) => Shown::Opened(d),
            _ => Shown::Sealed,
        },
    }
}

/// The timeline as text: one block per incident (in report order), each note on its own
/// line with its index, time, kind, institution, TLP and status, then its details as the
/// reader may see them.
pub fn timeline_text(log: &IncidentLog, identity: Option<&Identity>) -> String {
    let mut out = String::new();
    if log.incidents().is_empty() {
        out.push_str("no incidents in the log\n");
    }
    for (hash, state) in ordered(log) {
        let _ = writeln!(
            out,
            "incident sha256:{} — {}{}, status {}, reported by {} at {}",
            hex(&hash),
            state.tlp,
            if state.recipients.is_empty() {
                String::new()
            } else {
                format!(" (to {})", state.recipients.join(", "))
            },
            state.status,
            name(log, &state.reporter),
            state.reported
        );
        let mut indices = vec![state.report];
        indices.extend(&state.updates);
        indices.extend(&state.acks);
        indices.sort_unstable();
        for i in indices {
            let e = &log.entries()[usize::try_from(i).unwrap_or(usize::MAX)];
            let b = &e.body;
            let _ = write!(
                out,
                "  #{} {} {:<6} {}",
                e.index, b.time, b.kind, b.institution
            );
            if let Some(n) = &b.notice {
                let _ = write!(out, " {} {}", n.tlp, n.status);
            }
            out.push('\n');
            match shown(e, identity) {
                Shown::None => {}
                Shown::Clear(d) | Shown::Opened(d) => {
                    for s in &d.systems {
                        let _ = writeln!(out, "      system: {s}");
                    }
                    for s in &d.indicators {
                        let _ = writeln!(out, "      indicator: {s}");
                    }
                    let _ = writeln!(out, "      summary: {}", d.summary);
                }
                Shown::Sealed => {
                    let _ = writeln!(
                        out,
                        "      (sealed to {}; not readable with the identity given)",
                        sealed_to(e)
                    );
                }
            }
        }
    }
    out
}

/// The timeline as JSON: `{"origin", "size", "incidents": [...]}`, each incident with its
/// metadata and every note (details as [`shown`] gives them: `details` or `"sealed": true`).
pub fn timeline_json(log: &IncidentLog, identity: Option<&Identity>) -> Value {
    let incidents: Vec<Value> = ordered(log)
        .map(|(hash, state)| {
            let mut indices = vec![state.report];
            indices.extend(&state.updates);
            indices.extend(&state.acks);
            indices.sort_unstable();
            let notes: Vec<Value> = indices
                .into_iter()
                .map(|i| {
                    let e = &log.entries()[usize::try_from(i).unwrap_or(usize::MAX)];
                    let mut v = note_meta(e);
                    match shown(e, identity) {
                        Shown::None => {}
                        Shown::Clear(d) | Shown::Opened(d) => {
                            v["details"] = details_json(&d);
                        }
                        Shown::Sealed => v["sealed"] = Value::Bool(true),
                    }
                    v
                })
                .collect();
            json!({
                "incident": format!("sha256:{}", hex(&hash)),
                "reporter": state.reporter,
                "reported": state.reported.to_string(),
                "tlp": state.tlp.as_str(),
                "status": state.status.as_str(),
                "recipients": state.recipients,
                "acknowledged_by": state.acked_by.iter().collect::<Vec<_>>(),
                "notes": notes,
            })
        })
        .collect();
    json!({
        "origin": log.config().origin,
        "size": log.size(),
        "incidents": incidents,
    })
}

/// The public summary as JSON: the timeline seen with no identity, where sealed notes carry
/// only their metadata.
pub fn public_summary(log: &IncidentLog) -> Value {
    let mut v = timeline_json(log, None);
    v["log_key"] = Value::String(log.log_key().to_vkey());
    v["institutions"] = log
        .config()
        .institutions
        .values()
        .map(|i| json!({"id": i.id, "name": i.name}))
        .collect();
    v
}

/// The public summary as one static, self-contained HTML page (no script, no external
/// resources): a table per incident, the TLP as a word (never by colour alone).
pub fn public_html(log: &IncidentLog) -> String {
    let mut h = String::new();
    let origin = esc(&log.config().origin);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Incidents — {origin}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>Security incidents</h1>\n<p>Incident log <code>{origin}</code>, {} notes. \
         Details are shown only for TLP:CLEAR; for other levels only who, when, the level and \
         the status. Every note is signed by its institution; the log is cosigned by \
         witnesses. The data: <a href=\"incidents.json\">incidents.json</a>, the log's \
         checkpoint and tiles under <a href=\"log/checkpoint\">log/</a>.</p>\n",
        log.size()
    );
    if log.incidents().is_empty() {
        h.push_str("<p>No incidents have been reported.</p>\n");
    }
    for (hash, state) in ordered(log) {
        let id = hex(&hash);
        let _ = write!(
            h,
            "<section aria-labelledby=\"i-{short}\">\n<h2 id=\"i-{short}\">Incident {short}… \
             <span class=\"tlp tlp-{tlp}\">{label}</span> <span class=\"status\">{status}</span></h2>\n\
             <p>Reported by {reporter} at <time datetime=\"{at}\">{at}</time>. \
             Full id <code>sha256:{id}</code>.</p>\n\
             <div class=\"scroll\" role=\"region\" tabindex=\"0\" aria-labelledby=\"c-{short}\">\n\
             <table>\n<caption id=\"c-{short}\">Notes on incident {short}…</caption>\n<thead><tr><th scope=\"col\">#</th>\
             <th scope=\"col\">Time (UTC)</th><th scope=\"col\">Note</th><th scope=\"col\">Institution</th>\
             <th scope=\"col\">TLP</th><th scope=\"col\">Status</th><th scope=\"col\">Details</th></tr></thead>\n<tbody>\n",
            short = &id[..12],
            tlp = state.tlp.as_str(),
            label = state.tlp.label(),
            status = state.status,
            reporter = esc(name(log, &state.reporter)),
            at = state.reported,
        );
        let mut indices = vec![state.report];
        indices.extend(&state.updates);
        indices.extend(&state.acks);
        indices.sort_unstable();
        for i in indices {
            let e = &log.entries()[usize::try_from(i).unwrap_or(usize::MAX)];
            let b = &e.body;
            let (tlp, status) = b
                .notice
                .as_ref()
                .map_or((String::new(), String::new()), |n| {
                    (n.tlp.label().to_owned(), n.status.to_string())
                });
            let details = match shown(e, None) {
                Shown::None => String::new(),
                Shown::Clear(d) | Shown::Opened(d) => {
                    let mut s = format!("<p>{}</p>", esc(&d.summary));
                    if !d.systems.is_empty() {
                        let _ = write!(s, "<p>Systems: {}</p>", esc(&d.systems.join("; ")));
                    }
                    if !d.indicators.is_empty() {
                        s.push_str("<ul class=\"indicators\">");
                        for x in &d.indicators {
                            let _ = write!(s, "<li><code>{}</code></li>", esc(x));
                        }
                        s.push_str("</ul>");
                    }
                    s
                }
                Shown::Sealed => format!("Sealed to {}.", esc(&sealed_to(e))),
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td><time datetime=\"{t}\">{t}</time></td><td>{}</td><td>{}</td>\
                 <td>{tlp}</td><td>{status}</td><td>{details}</td></tr>",
                e.index,
                kind_word(b.kind),
                esc(name(log, &b.institution)),
                t = b.time,
            );
        }
        h.push_str("</tbody>\n</table>\n</div>\n</section>\n");
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// Incidents in report order.
fn ordered(log: &IncidentLog) -> impl Iterator<Item = ([u8; 32], &crate::log::IncidentState)> + '_ {
    let mut v: Vec<_> = log.incidents().iter().map(|(h, s)| (*h, s)).collect();
    v.sort_by_key(|(_, s)| s.report);
    v.into_iter()
}

fn note_meta(e: &Entry) -> Value {
    let b = &e.body;
    let mut v = json!({
        "index": e.index,
        "hash": format!("sha256:{}", hex(&e.hash)),
        "kind": b.kind.as_str(),
        "institution": b.institution,
        "time": b.time.to_string(),
    });
    if let Some(n) = &b.notice {
        v["tlp"] = Value::String(n.tlp.as_str().into());
        v["status"] = Value::String(n.status.as_str().into());
        if !n.recipients.is_empty() {
            v["recipients"] = json!(n.recipients);
        }
    }
    v
}

fn details_json(d: &Details) -> Value {
    json!({"systems": d.systems, "indicators": d.indicators, "summary": d.summary})
}

fn sealed_to(e: &Entry) -> String {
    let mut who = vec![e.body.institution.clone()];
    if let Some(n) = &e.body.notice {
        who.extend(n.recipients.iter().cloned());
    }
    who.join(", ")
}

fn name<'a>(log: &'a IncidentLog, id: &'a str) -> &'a str {
    log.config().institution(id).map_or(id, |i| i.name.as_str())
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Report => "report",
        Kind::Update => "update",
        Kind::Ack => "acknowledgment",
    }
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's style: system fonts, high contrast, TLP labels as text on a dark ground (the
/// colours TLP 2.0 prescribes), tables that scroll (by keyboard too) on narrow screens.
const STYLE: &str =
    "body{font-family:system-ui,sans-serif;line-height:1.5;margin:0;color:#111;background:#fff}
main{max-width:72rem;margin:auto;padding:1rem}
table{border-collapse:collapse;width:100%}
.scroll{overflow-x:auto}
.scroll:focus{outline:3px solid #005fcc}
th,td{border:1px solid #767676;padding:.3rem .5rem;text-align:left;vertical-align:top}
caption{text-align:left;font-weight:bold}
.tlp{background:#000;padding:0 .4rem;font-family:monospace}
.tlp-clear{color:#fff}.tlp-green{color:#33ff00}.tlp-amber{color:#ffc000}.tlp-red{color:#ff2b2b}
code{overflow-wrap:anywhere}
td p{margin:0 0 .3rem}
";
