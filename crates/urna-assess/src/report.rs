//! The report of a signed assessment: an accessible, printable HTML page in one of the four
//! languages (the PDF is in [`crate::pdf`]). It is made from the signed note, never from the
//! editable file, so what it shows is what the institutions signed.
//!
//! The page is one static file with its styles inline: a table per control with a caption,
//! header cells with `scope`, the answer in words (never by colour alone), `lang` on the page,
//! and print styles (A4, no page break inside a control).

use crate::Lang;
use crate::controls::{catalogue_sha256, control};
use crate::note::{Answer, AssessmentBody};

/// Who signed, as the verifier established it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signers {
    /// Key names whose signatures verified with a trusted key.
    pub verified: Vec<String>,
    /// Key names on signature lines no trusted key accounts for (not checked).
    pub unchecked: Vec<String>,
}

/// The fixed words of the report in one language.
#[derive(Debug, Clone, Copy)]
pub struct Labels {
    /// Page title.
    pub title: &'static str,
    /// "Election".
    pub election: &'static str,
    /// "Date".
    pub date: &'static str,
    /// "Definition assessed".
    pub definition: &'static str,
    /// "Controls".
    pub controls: &'static str,
    /// "Signed by".
    pub signed_by: &'static str,
    /// Signatures not checked.
    pub unchecked: &'static str,
    /// No verified signature.
    pub nobody: &'static str,
    /// "Summary".
    pub summary: &'static str,
    /// "Question".
    pub question: &'static str,
    /// "Sources".
    pub sources: &'static str,
    /// "Answer".
    pub answer: &'static str,
    /// "Evidence".
    pub evidence: &'static str,
    /// Marks an answer from urna's own check.
    pub by_urna: &'static str,
    /// The controls file differs from this urna's.
    pub other_catalogue: &'static str,
    /// Words for the answers, in [`Answer::ALL`]'s order.
    pub answers: [&'static str; 8],
}

impl Labels {
    /// The labels of `lang`.
    #[must_use]
    pub fn of(lang: Lang) -> &'static Self {
        match lang {
            Lang::En => &EN,
            Lang::Sq => &SQ,
            Lang::Mk => &MK,
            Lang::SrLatn => &SR_LATN,
        }
    }

    /// The word for `answer`.
    #[must_use]
    pub fn answer_word(&self, answer: Answer) -> &'static str {
        let i = Answer::ALL.iter().position(|a| *a == answer).unwrap_or(0);
        self.answers[i]
    }
}

/// The report as one HTML page.
#[must_use]
pub fn html(body: &AssessmentBody, signers: &Signers, lang: Lang) -> String {
    let l = Labels::of(lang);
    let mut s = String::with_capacity(64 * 1024);
    s.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} — {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n<dl class=\"head\">\n",
        lang.code(),
        esc(l.title),
        esc(&body.election),
        esc(l.title)
    ));
    for (k, v) in [
        (l.election, body.election.clone()),
        (l.date, body.date.clone()),
        (l.definition, format!("sha256:{}", body.definition)),
        (l.controls, format!("sha256:{}", body.controls)),
    ] {
        s.push_str(&format!(
            "<dt>{}</dt><dd><code>{}</code></dd>\n",
            esc(k),
            esc(&v)
        ));
    }
    let signed = if signers.verified.is_empty() {
        esc(l.nobody)
    } else {
        signers
            .verified
            .iter()
            .map(|n| esc(n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    s.push_str(&format!("<dt>{}</dt><dd>{signed}</dd>\n", esc(l.signed_by)));
    if !signers.unchecked.is_empty() {
        s.push_str(&format!(
            "<dt>{}</dt><dd>{}</dd>\n",
            esc(l.unchecked),
            signers
                .unchecked
                .iter()
                .map(|n| esc(n))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s.push_str("</dl>\n");
    if body.controls != catalogue_sha256() {
        s.push_str(&format!(
            "<p class=\"warn\" role=\"note\">{}</p>\n",
            esc(l.other_catalogue)
        ));
    }
    s.push_str(&format!(
        "<h2>{}</h2>\n<ul class=\"summary\">\n",
        esc(l.summary)
    ));
    for a in Answer::ALL {
        let n = body.answers.iter().filter(|x| x.answer == a).count();
        if n > 0 {
            s.push_str(&format!(
                "<li><span class=\"ans ans-{}\">{}</span>: {n}</li>\n",
                a.word(),
                esc(l.answer_word(a))
            ));
        }
    }
    s.push_str("</ul>\n");
    for a in &body.answers {
        let c = control(&a.id);
        let title = c.map_or(a.id.as_str(), |c| c.title(lang));
        s.push_str(&format!(
            "<section class=\"control\" id=\"c-{}\" aria-labelledby=\"h-{}\">\n<h2 id=\"h-{}\">{}</h2>\n<table>\n<caption><code>{}</code></caption>\n",
            a.id, a.id, a.id, esc(title), a.id
        ));
        if let Some(c) = c {
            s.push_str(&format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n",
                esc(l.question),
                esc(c.question(lang))
            ));
            s.push_str(&format!(
                "<tr><th scope=\"row\">{}</th><td>NIST IR 8310: {}<br>EU Compendium: {}</td></tr>\n",
                esc(l.sources),
                esc(&c.nist.join(", ")),
                esc(&c.eu)
            ));
        }
        s.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td><span class=\"ans ans-{}\">{}</span>{}</td></tr>\n",
            esc(l.answer),
            a.answer.word(),
            esc(l.answer_word(a.answer)),
            if a.answer.is_automatic() {
                format!(" <small>({})</small>", esc(l.by_urna))
            } else {
                String::new()
            }
        ));
        s.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n</table>\n</section>\n",
            esc(l.evidence),
            a.evidence.as_deref().map_or_else(|| "—".to_owned(), esc)
        ));
    }
    s.push_str("</main>\n</body>\n</html>\n");
    s
}

/// Escapes text for HTML element content and attribute values.
#[must_use]
pub fn esc(s: &str) -> String {
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

/// Text sizes in rem and contrast of at least 7:1 for text (WCAG AAA); answers carry words,
/// colours only repeat them; print: A4, black on white, no control split across pages.
const STYLE: &str = "\
body{font-family:system-ui,'DejaVu Sans',sans-serif;line-height:1.45;color:#111;background:#fff;margin:0}\
main{max-width:52rem;margin:0 auto;padding:1rem}\
h1{font-size:1.6rem}h2{font-size:1.15rem;margin:1.2rem 0 .4rem}\
dl.head{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0;word-break:break-all}\
table{border-collapse:collapse;width:100%}caption{text-align:left;color:#333}\
th,td{border:1px solid #555;padding:.35rem .5rem;vertical-align:top;text-align:left}th{width:9rem;background:#f2f2f2}\
.ans{font-weight:700;padding:0 .3rem;border:1px solid #111}\
.ans-pass,.ans-yes{background:#d9f2d9}.ans-fail,.ans-no{background:#f9d6d6}\
.ans-unknown,.ans-partly,.ans-open{background:#fff1c2}.ans-not-applicable{background:#e6e6e6}\
.warn{border:2px solid #111;padding:.5rem}\
@media print{@page{size:A4;margin:15mm}body{font-size:10pt}main{max-width:none;padding:0}\
.control{break-inside:avoid}.ans{background:none!important}th{background:none}}";

const EN: Labels = Labels {
    title: "Standards self-assessment",
    election: "Election",
    date: "Date",
    definition: "Definition assessed",
    controls: "Controls",
    signed_by: "Signed by",
    unchecked: "Signatures not checked",
    nobody: "no signature checked",
    summary: "Summary",
    question: "Question",
    sources: "Sources",
    answer: "Answer",
    evidence: "Evidence",
    by_urna: "urna's own check",
    other_catalogue: "This assessment answers a different version of the controls than this urna's; titles and questions may not match.",
    answers: [
        "pass",
        "fail",
        "unknown",
        "yes",
        "partly",
        "no",
        "not applicable",
        "open",
    ],
};

const SQ: Labels = Labels {
    title: "Vetëvlerësimi sipas standardeve",
    election: "Zgjedhjet",
    date: "Data",
    definition: "Përkufizimi i vlerësuar",
    controls: "Kontrollet",
    signed_by: "Nënshkruar nga",
    unchecked: "Nënshkrime të pakontrolluara",
    nobody: "asnjë nënshkrim i kontrolluar",
    summary: "Përmbledhje",
    question: "Pyetja",
    sources: "Burimet",
    answer: "Përgjigja",
    evidence: "Dëshmia",
    by_urna: "kontroll i vetë urna",
    other_catalogue: "Ky vlerësim u përgjigjet një versioni tjetër të kontrolleve nga ai i këtij urna; titujt dhe pyetjet mund të mos përputhen.",
    answers: [
        "kalon",
        "dështon",
        "e panjohur",
        "po",
        "pjesërisht",
        "jo",
        "nuk zbatohet",
        "e hapur",
    ],
};

const MK: Labels = Labels {
    title: "Самопроценка според стандардите",
    election: "Избори",
    date: "Датум",
    definition: "Проценета дефиниција",
    controls: "Контроли",
    signed_by: "Потпишано од",
    unchecked: "Непроверени потписи",
    nobody: "ниеден проверен потпис",
    summary: "Преглед",
    question: "Прашање",
    sources: "Извори",
    answer: "Одговор",
    evidence: "Доказ",
    by_urna: "сопствена проверка на urna",
    other_catalogue: "Оваа проценка одговара на друга верзија на контролите од онаа на овој urna; насловите и прашањата можеби не се совпаѓаат.",
    answers: [
        "исполнето",
        "неисполнето",
        "непознато",
        "да",
        "делумно",
        "не",
        "не се применува",
        "отворено",
    ],
};

const SR_LATN: Labels = Labels {
    title: "Samoprocjena prema standardima",
    election: "Izbori",
    date: "Datum",
    definition: "Procijenjena definicija",
    controls: "Kontrole",
    signed_by: "Potpisali",
    unchecked: "Neprovjereni potpisi",
    nobody: "nijedan provjeren potpis",
    summary: "Pregled",
    question: "Pitanje",
    sources: "Izvori",
    answer: "Odgovor",
    evidence: "Dokaz",
    by_urna: "vlastita provjera urna",
    other_catalogue: "Ova procjena odgovara na drugu verziju kontrola od one ovog urna; naslovi i pitanja se možda ne podudaraju.",
    answers: [
        "ispunjeno",
        "neispunjeno",
        "nepoznato",
        "da",
        "djelimično",
        "ne",
        "ne primjenjuje se",
        "otvoreno",
    ],
};

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::note::AssessmentBody;

    pub(crate) fn body() -> AssessmentBody {
        AssessmentBody::parse(&format!(
            "urna/assessment/v1\nelection: e-1\ndefinition: sha256:{}\ncontrols: sha256:{}\ndate: 2026-12-06\n\
             control: station-keys pass 4 stations <b>&amp;</b>\ncontrol: capacity no Not yet measured\ncontrol: roles open\n",
            "0".repeat(64),
            catalogue_sha256()
        ))
        .unwrap()
    }

    #[test]
    fn every_language_has_its_words_and_the_page_names_its_language() {
        let signers = Signers {
            verified: vec!["cec".into()],
            unchecked: vec!["someone".into()],
        };
        for lang in Lang::ALL {
            let page = html(&body(), &signers, lang);
            assert!(page.contains(&format!("<html lang=\"{}\">", lang.code())));
            let l = Labels::of(lang);
            assert!(page.contains(l.title) && page.contains(l.answer_word(Answer::Pass)));
            let c = control("station-keys").unwrap();
            assert!(page.contains(&esc(c.question(lang))), "{lang}");
            // Evidence is text, never markup.
            assert!(
                page.contains("4 stations &lt;b&gt;&amp;amp;&lt;/b&gt;"),
                "{lang}"
            );
            assert!(page.contains("<th scope=\"row\">"));
            assert!(page.contains("@media print"));
        }
        let words: std::collections::BTreeSet<_> =
            Lang::ALL.iter().map(|l| Labels::of(*l).title).collect();
        assert_eq!(words.len(), 4, "each language its own title");
    }

    #[test]
    fn a_body_of_another_catalogue_is_flagged() {
        let mut b = body();
        b.controls = "1".repeat(64);
        let page = html(&b, &Signers::default(), Lang::En);
        assert!(page.contains("different version of the controls"));
        assert!(page.contains(EN.nobody));
    }
}
