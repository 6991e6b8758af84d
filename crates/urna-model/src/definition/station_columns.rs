//! The stations file's optional columns after `id,unit,registered,key`: `name` and `address`,
//! and `name:<lang>` and `address:<lang>` for a station's name and address in other languages
//! and scripts (`<lang>` one of [`NAME_LANGUAGES`]). They come in any order, each at most once.

use super::{NAME_LANGUAGES, Names, check_text};

/// What an optional column gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Address,
}

/// One optional column: its field and, for `name:<lang>` and `address:<lang>`, its language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Column {
    field: Field,
    lang: Option<&'static str>,
}

impl Column {
    /// The column's header, e.g. `name:mk`.
    pub(super) fn label(self) -> String {
        let field = match self.field {
            Field::Name => "name",
            Field::Address => "address",
        };
        match self.lang {
            Some(lang) => format!("{field}:{lang}"),
            None => field.to_owned(),
        }
    }
}

/// A station's name and address, each optionally in other languages, from its row.
#[derive(Debug, Clone, Default)]
pub(super) struct About {
    pub(super) name: Option<String>,
    pub(super) address: Option<String>,
    pub(super) names: Names,
    pub(super) addresses: Names,
}

/// The optional columns of a stations file's header (after the four required ones), in
/// order; `Err` names the column and the rule it breaks.
pub(super) fn parse_header(header: &str) -> Result<Vec<Column>, String> {
    let mut parts = header.split(',');
    let required: Vec<&str> = parts.by_ref().take(4).collect();
    if required != ["id", "unit", "registered", "key"] {
        return Err(format!(
            "the first line must start with `{}`, followed by optional columns {}",
            super::STATIONS_HEADER,
            OPTIONAL
        ));
    }
    let mut columns: Vec<Column> = Vec::new();
    for part in parts {
        let (field, lang) = match part.split_once(':') {
            Some((f, l)) => (f, Some(l)),
            None => (part, None),
        };
        let field = match field {
            "name" => Field::Name,
            "address" => Field::Address,
            _ => {
                return Err(format!(
                    "column {part:?}: the columns after `{}` are {OPTIONAL}",
                    super::STATIONS_HEADER
                ));
            }
        };
        let lang = match lang {
            None => None,
            Some(l) => Some(
                NAME_LANGUAGES
                    .iter()
                    .copied()
                    .find(|&known| known == l)
                    .ok_or_else(|| {
                        format!(
                            "column {part:?}: language {l:?} is not one of {}",
                            NAME_LANGUAGES.join(", ")
                        )
                    })?,
            ),
        };
        let column = Column { field, lang };
        if columns.contains(&column) {
            return Err(format!("column {part:?}: each column may appear only once"));
        }
        columns.push(column);
    }
    Ok(columns)
}

/// What the optional columns may be, for error messages.
const OPTIONAL: &str =
    "`name`, `address`, `name:<lang>` and `address:<lang>` in any order, each at most once";

/// Reads a row's optional fields (`values`, in the order of `columns`): an empty field is none;
/// `Err` is (column, rule).
pub(super) fn read(columns: &[Column], values: &[String]) -> Result<About, (String, String)> {
    let mut about = About::default();
    for (&column, value) in columns.iter().zip(values) {
        if value.is_empty() {
            continue;
        }
        check_text(value).map_err(|r| (column.label(), r))?;
        let value = value.clone();
        match (column.field, column.lang) {
            (Field::Name, None) => about.name = Some(value),
            (Field::Address, None) => about.address = Some(value),
            (Field::Name, Some(lang)) => {
                about.names.insert(lang.to_owned(), value);
            }
            (Field::Address, Some(lang)) => {
                about.addresses.insert(lang.to_owned(), value);
            }
        }
    }
    Ok(about)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(header: &str) -> Result<Vec<String>, String> {
        parse_header(header).map(|c| c.into_iter().map(Column::label).collect())
    }

    #[test]
    fn optional_columns_in_any_order_each_once() {
        assert_eq!(labels("id,unit,registered,key"), Ok(vec![]));
        assert_eq!(
            labels("id,unit,registered,key,address:sr-Latn,name,name:mk,address"),
            Ok(vec![
                "address:sr-Latn".to_owned(),
                "name".to_owned(),
                "name:mk".to_owned(),
                "address".to_owned()
            ])
        );
        for (header, want) in [
            (
                "id,unit,key,registered",
                "the first line must start with `id,unit,registered,key`",
            ),
            ("id,unit,registered", "the first line must start with"),
            (
                "id,unit,registered,key,nom",
                "column \"nom\": the columns after",
            ),
            (
                "id,unit,registered,key,name:",
                "column \"name:\": language \"\" is not one of sq, mk",
            ),
            (
                "id,unit,registered,key,name:de",
                "column \"name:de\": language \"de\" is not one of",
            ),
            (
                "id,unit,registered,key,address:sr-cyrl",
                "language \"sr-cyrl\" is not one of",
            ),
            (
                "id,unit,registered,key,name:mk,name,name:mk",
                "column \"name:mk\": each column may appear only once",
            ),
            (
                "id,unit,registered,key,address,address",
                "column \"address\": each column may appear only once",
            ),
            (
                "id,unit,registered,key,id",
                "column \"id\": the columns after",
            ),
        ] {
            let got = labels(header).unwrap_err();
            assert!(got.contains(want), "{header}: {got}\nexpected {want}");
        }
    }

    #[test]
    fn rows_fill_names_by_language_and_refuse_bad_text() {
        let columns = parse_header("id,unit,registered,key,name:sr-Latn,name,address:mk").unwrap();
        let row = |v: [&str; 3]| v.map(str::to_owned);
        let about = read(&columns, &row(["Škola", "Shkolla", "Улица 1"])).unwrap();
        assert_eq!(about.name.as_deref(), Some("Shkolla"));
        assert_eq!(about.address, None);
        assert_eq!(about.names["sr-Latn"], "Škola");
        assert_eq!(about.addresses["mk"], "Улица 1");
        let about = read(&columns, &row(["", "", ""])).unwrap();
        assert!(about.name.is_none() && about.names.is_empty() && about.addresses.is_empty());
        let (column, rule) = read(&columns, &row(["a\u{7}b", "", ""])).unwrap_err();
        assert_eq!(column, "name:sr-Latn");
        assert!(rule.contains("control characters"), "{rule}");
    }
}
