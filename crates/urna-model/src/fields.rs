//! The fixed-order `key: value` bodies of urna's short signed notes (decision, revocation, key
//! rotation): a type line, then exactly the named fields in their order, one a line, each
//! `field: value` with a value that is not empty and neither starts nor ends with a space,
//! then nothing. Each note's module checks the values' own rules and names errors its way.

/// The rule a blank or space-padded value breaks.
pub(crate) const BLANK: &str = "must not be empty, nor start or end with a space";

/// Why a body's lines do not have the shape; `line` counts from 1, the type line being 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldsError {
    /// The first line is not the expected type (cut to 80 characters).
    UnknownType(String),
    /// A field is missing where it should be.
    Missing { line: usize, expected: &'static str },
    /// A field's value is empty or padded with spaces ([`BLANK`]).
    Blank { line: usize, field: &'static str },
    /// A line after the last field (cut to 80 characters).
    Unexpected { line: usize, text: String },
}

/// Reads the values of `fields`, in order, from a body whose first line is `kind`; a final
/// newline is allowed.
pub(crate) fn read<'a, const N: usize>(
    text: &'a str,
    kind: &str,
    fields: &[&'static str; N],
) -> Result<[&'a str; N], FieldsError> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut lines = body.split('\n');
    let first = lines.next().unwrap_or_default();
    if first != kind {
        return Err(FieldsError::UnknownType(first.chars().take(80).collect()));
    }
    let mut values: [&str; N] = [""; N];
    for (k, (&field, slot)) in fields.iter().zip(values.iter_mut()).enumerate() {
        let line = k + 2;
        let missing = FieldsError::Missing {
            line,
            expected: field,
        };
        let value = lines
            .next()
            .and_then(|l| l.strip_prefix(field))
            .and_then(|r| r.strip_prefix(": "))
            .ok_or(missing)?;
        if value.is_empty() || value.starts_with(' ') || value.ends_with(' ') {
            return Err(FieldsError::Blank { line, field });
        }
        *slot = value;
    }
    if let Some(extra) = lines.next() {
        return Err(FieldsError::Unexpected {
            line: N + 2,
            text: extra.chars().take(80).collect(),
        });
    }
    Ok(values)
}
