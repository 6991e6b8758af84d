//! The one-line rule for the texts of a vote file or a rule set: every key and every string
//! value (ids, names, seeds, sources, notes) is printed in seat tables, explanations and
//! errors, so none may hold a line break, a control character or a bidirectional override
//! ([`urna_model::definition::ONE_LINE_RULE`]).

use urna_model::definition::{ONE_LINE_RULE, escape_controls, is_hidden_control};

/// Checks every key and string of a TOML document.
///
/// # Errors
/// `(field, problem)` of the first offender, its dotted path with control characters escaped.
pub(crate) fn check(table: &toml::Table) -> Result<(), (String, String)> {
    walk_table(table, "")
}

/// The text of a TOML parser's error, with any control character of the quoted source line
/// escaped.
pub(crate) fn syntax(e: &toml::de::Error) -> String {
    escape_controls(&e.to_string())
}

fn walk_table(table: &toml::Table, path: &str) -> Result<(), (String, String)> {
    for (key, value) in table {
        let field = join(path, key);
        if key.chars().any(is_hidden_control) {
            return Err((field, format!("the key {ONE_LINE_RULE}")));
        }
        walk(value, &field)?;
    }
    Ok(())
}

fn walk(value: &toml::Value, field: &str) -> Result<(), (String, String)> {
    match value {
        toml::Value::String(s) if s.chars().any(is_hidden_control) => {
            Err((field.to_owned(), format!("{s:?} {ONE_LINE_RULE}")))
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{field}[{i}]"))?;
            }
            Ok(())
        }
        toml::Value::Table(t) => walk_table(t, field),
        _ => Ok(()),
    }
}

/// `path.key`, the key quoted and escaped (`"A\u{1b}[31m"`) unless it is plain.
fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-'));
    let key = if plain {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}
