//! The four languages of the results page, as the report and the controls use them.

use std::fmt;

/// A language of the report: the results page's four (`web/i18n.js`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lang {
    /// English.
    En,
    /// Albanian.
    Sq,
    /// Macedonian (Cyrillic).
    Mk,
    /// Bosnian, Montenegrin, Croatian, Serbian in Latin script.
    SrLatn,
}

impl Lang {
    /// Every language, in the results page's order.
    pub const ALL: [Self; 4] = [Self::En, Self::Sq, Self::Mk, Self::SrLatn];

    /// The BCP 47 tag, as in `web/i18n.js` and HTML `lang`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Sq => "sq",
            Self::Mk => "mk",
            Self::SrLatn => "sr-Latn",
        }
    }

    /// The language named by its tag (`en`, `sq`, `mk`, `sr-Latn`).
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == code)
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
