//! The printable report as a PDF (A4), written with `pdf-writer`.
//!
//! Text needs a font. With a TrueType font file ([`Font::TrueType`], e.g. DejaVu Sans) the
//! whole font is embedded (a CID font with `Identity-H` encoding and a `ToUnicode` map, so
//! text can be searched and copied), and every script the font covers prints: Macedonian
//! Cyrillic included. Without one, the PDF uses the standard Courier font, which every
//! reader has, with WinAnsi encoding: that covers English and Albanian but not the Cyrillic
//! of Macedonian nor č, ć and đ of the Latin-script languages, and such text is refused,
//! naming the first character that cannot be shown, rather than printed wrong.
//!
//! Out of scope: font subsetting (the embedded font is whole: DejaVu Sans adds about
//! 0.7 MB), right-to-left and complex shaping (none of the four languages needs it).

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Content, Finish as _, Name, Pdf, Rect, Ref, Str, TextStr};

use crate::Lang;
use crate::controls::control;
use crate::note::{Answer, AssessmentBody};
use crate::report::{Labels, Signers};

/// The font to set the report in.
pub enum Font {
    /// The standard Courier font (not embedded): WinAnsi characters only.
    Courier,
    /// A TrueType font file's bytes, embedded whole.
    TrueType(Vec<u8>),
}

/// Why the PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The font file is not a TrueType font.
    #[error("font: not a TrueType font: {0}")]
    Font(String),
    /// A character has no glyph in the font.
    #[error(
        "the text holds {ch:?} (U+{code:04X}), which {font} cannot show; give a TrueType font that has it (urna assess report --font FILE.ttf, e.g. DejaVuSans.ttf)"
    )]
    Missing {
        /// The character.
        ch: char,
        /// Its code point.
        code: u32,
        /// The font's name.
        font: String,
    },
}

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;
const BODY_PT: f32 = 9.5;
const TITLE_PT: f32 = 15.0;
const HEAD_PT: f32 = 11.0;

/// The report as a PDF.
///
/// # Errors
/// [`PdfError::Font`] for a font file that does not parse, [`PdfError::Missing`] for a
/// character the font has no glyph for.
pub fn pdf(
    body: &AssessmentBody,
    signers: &Signers,
    lang: Lang,
    font: &Font,
) -> Result<Vec<u8>, PdfError> {
    let face = Face::new(font)?;
    let l = Labels::of(lang);
    // Lay out: (font size, indent, text) lines, wrapped to the text width.
    let mut lines: Vec<(f32, f32, String)> = Vec::new();
    let width = PAGE_W - 2.0 * MARGIN;
    let para = |lines: &mut Vec<(f32, f32, String)>, size: f32, indent: f32, text: &str| {
        for l in face.wrap(text, size, width - indent)? {
            lines.push((size, indent, l));
        }
        Ok::<(), PdfError>(())
    };
    para(&mut lines, TITLE_PT, 0.0, l.title)?;
    para(
        &mut lines,
        BODY_PT,
        0.0,
        &format!("{}: {}", l.election, body.election),
    )?;
    para(
        &mut lines,
        BODY_PT,
        0.0,
        &format!("{}: {}", l.date, body.date),
    )?;
    para(
        &mut lines,
        BODY_PT,
        0.0,
        &format!("{}: sha256:{}", l.definition, body.definition),
    )?;
    para(
        &mut lines,
        BODY_PT,
        0.0,
        &format!("{}: sha256:{}", l.controls, body.controls),
    )?;
    let signed = if signers.verified.is_empty() {
        l.nobody.to_owned()
    } else {
        signers.verified.join(", ")
    };
    para(
        &mut lines,
        BODY_PT,
        0.0,
        &format!("{}: {signed}", l.signed_by),
    )?;
    if !signers.unchecked.is_empty() {
        para(
            &mut lines,
            BODY_PT,
            0.0,
            &format!("{}: {}", l.unchecked, signers.unchecked.join(", ")),
        )?;
    }
    let summary: Vec<String> = Answer::ALL
        .iter()
        .filter_map(|a| {
            let n = body.answers.iter().filter(|x| x.answer == *a).count();
            (n > 0).then(|| format!("{} {n}", l.answer_word(*a)))
        })
        .collect();
    para(
        &mut lines,
        BODY_PT,
        0.0,
        &format!("{}: {}", l.summary, summary.join(", ")),
    )?;
    for a in &body.answers {
        lines.push((BODY_PT, 0.0, String::new()));
        let c = control(&a.id);
        let title = c.map_or(a.id.as_str(), |c| c.title(lang));
        para(&mut lines, HEAD_PT, 0.0, &format!("{title} [{}]", a.id))?;
        if let Some(c) = c {
            para(
                &mut lines,
                BODY_PT,
                12.0,
                &format!("{}: {}", l.question, c.question(lang)),
            )?;
            para(
                &mut lines,
                BODY_PT,
                12.0,
                &format!(
                    "{}: NIST IR 8310 {}; EU Compendium: {}",
                    l.sources,
                    c.nist.join(", "),
                    c.eu
                ),
            )?;
        }
        let by = if a.answer.is_automatic() {
            format!(" ({})", l.by_urna)
        } else {
            String::new()
        };
        para(
            &mut lines,
            BODY_PT,
            12.0,
            &format!(
                "{}: {}{by}",
                l.answer,
                l.answer_word(a.answer).to_uppercase()
            ),
        )?;
        para(
            &mut lines,
            BODY_PT,
            12.0,
            &format!("{}: {}", l.evidence, a.evidence.as_deref().unwrap_or("—")),
        )?;
    }

    // Paginate.
    let mut pages: Vec<Content> = Vec::new();
    let mut content = Content::new();
    let mut y = PAGE_H - MARGIN;
    for (size, indent, text) in &lines {
        let lead = size * 1.35;
        if y - lead < MARGIN {
            pages.push(std::mem::replace(&mut content, Content::new()));
            y = PAGE_H - MARGIN;
        }
        y -= lead;
        if text.is_empty() {
            continue;
        }
        content.begin_text();
        content.set_font(Name(b"F1"), *size);
        content.next_line(MARGIN + indent, y);
        content.show(Str(&face.encode(text)?));
        content.end_text();
    }
    pages.push(content);

    let mut pdf = Pdf::new();
    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let catalog = alloc();
    let tree = alloc();
    let font_ref = alloc();
    let page_refs: Vec<(Ref, Ref)> = pages.iter().map(|_| (alloc(), alloc())).collect();
    let info = alloc();
    pdf.catalog(catalog).pages(tree).lang(TextStr(lang.code()));
    pdf.document_info(info)
        .title(TextStr(&format!("{} — {}", l.title, body.election)))
        .creator(TextStr("urna assess report"));
    pdf.pages(tree)
        .kids(page_refs.iter().map(|(p, _)| *p))
        .count(i32::try_from(page_refs.len()).unwrap_or(i32::MAX));
    for ((page_ref, content_ref), content) in page_refs.iter().zip(pages) {
        let mut page = pdf.page(*page_ref);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(*content_ref);
        page.resources().fonts().pair(Name(b"F1"), font_ref);
        page.finish();
        pdf.stream(*content_ref, &content.finish());
    }
    face.write(&mut pdf, font_ref, &mut alloc);
    Ok(pdf.finish())
}

/// The font as the layout uses it.
enum Face<'a> {
    Courier,
    TrueType {
        bytes: &'a [u8],
        face: Box<ttf_parser::Face<'a>>,
        name: String,
        used: std::cell::RefCell<std::collections::BTreeMap<u16, char>>,
    },
}

impl<'a> Face<'a> {
    fn new(font: &'a Font) -> Result<Self, PdfError> {
        Ok(match font {
            Font::Courier => Self::Courier,
            Font::TrueType(bytes) => {
                let face =
                    ttf_parser::Face::parse(bytes, 0).map_err(|e| PdfError::Font(e.to_string()))?;
                let name = face
                    .names()
                    .into_iter()
                    .filter(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
                    .find_map(|n| n.to_string())
                    .filter(|n| {
                        !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    })
                    .unwrap_or_else(|| "EmbeddedFont".to_owned());
                Self::TrueType {
                    bytes,
                    face: Box::new(face),
                    name,
                    used: std::cell::RefCell::default(),
                }
            }
        })
    }

    fn font_name(&self) -> String {
        match self {
            Self::Courier => "the built-in Courier font (WinAnsi)".to_owned(),
            Self::TrueType { name, .. } => format!("the font {name}"),
        }
    }

    /// Width of `c` at 1 pt, or the missing-glyph error.
    fn advance(&self, c: char) -> Result<f32, PdfError> {
        match self {
            Self::Courier => {
                winansi(c).ok_or_else(|| self.missing(c))?;
                Ok(0.6)
            }
            Self::TrueType { face, .. } => {
                let gid = face.glyph_index(c).ok_or_else(|| self.missing(c))?;
                let adv = face.glyph_hor_advance(gid).unwrap_or(0);
                Ok(f32::from(adv) / f32::from(face.units_per_em()))
            }
        }
    }

    fn missing(&self, ch: char) -> PdfError {
        PdfError::Missing {
            ch,
            code: u32::from(ch),
            font: self.font_name(),
        }
    }

    /// Greedy word wrap to `width` points at `size`.
    fn wrap(&self, text: &str, size: f32, width: f32) -> Result<Vec<String>, PdfError> {
        let mut out = Vec::new();
        let mut line = String::new();
        let mut line_w = 0.0;
        let space = self.advance(' ')? * size;
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            let mut w = 0.0;
            for c in word.chars() {
                w += self.advance(c)? * size;
            }
            if !line.is_empty() && line_w + space + w > width {
                out.push(std::mem::take(&mut line));
                line_w = 0.0;
            }
            if !line.is_empty() {
                line.push(' ');
                line_w += space;
            }
            // A word wider than the line (a hash) is broken at the width.
            if w > width {
                for c in word.chars() {
                    let cw = self.advance(c)? * size;
                    if line_w + cw > width && !line.is_empty() {
                        out.push(std::mem::take(&mut line));
                        line_w = 0.0;
                    }
                    line.push(c);
                    line_w += cw;
                }
            } else {
                line.push_str(word);
                line_w += w;
            }
        }
        if !line.is_empty() || out.is_empty() {
            out.push(line);
        }
        Ok(out)
    }

    /// The bytes a `Tj` shows: WinAnsi bytes, or big-endian glyph ids (Identity-H).
    fn encode(&self, text: &str) -> Result<Vec<u8>, PdfError> {
        match self {
            Self::Courier => text
                .chars()
                .map(|c| winansi(c).ok_or_else(|| self.missing(c)))
                .collect(),
            Self::TrueType { face, used, .. } => {
                let mut out = Vec::with_capacity(text.len() * 2);
                for c in text.chars() {
                    let gid = face.glyph_index(c).ok_or_else(|| self.missing(c))?;
                    used.borrow_mut().entry(gid.0).or_insert(c);
                    out.extend_from_slice(&gid.0.to_be_bytes());
                }
                Ok(out)
            }
        }
    }

    fn write(&self, pdf: &mut Pdf, font_ref: Ref, alloc: &mut impl FnMut() -> Ref) {
        match self {
            Self::Courier => {
                pdf.type1_font(font_ref)
                    .base_font(Name(b"Courier"))
                    .encoding_predefined(Name(b"WinAnsiEncoding"));
            }
            Self::TrueType {
                bytes,
                face,
                name,
                used,
            } => {
                let cid = alloc();
                let descriptor = alloc();
                let file = alloc();
                let cmap_ref = alloc();
                let info = SystemInfo {
                    registry: Str(b"Adobe"),
                    ordering: Str(b"Identity"),
                    supplement: 0,
                };
                let base = Name(name.as_bytes());
                pdf.type0_font(font_ref)
                    .base_font(base)
                    .encoding_predefined(Name(b"Identity-H"))
                    .descendant_font(cid)
                    .to_unicode(cmap_ref);
                let em = f32::from(face.units_per_em());
                let scale = |v: i16| f32::from(v) * 1000.0 / em;
                let used = used.borrow();
                let mut font = pdf.cid_font(cid);
                font.subtype(CidFontType::Type2)
                    .base_font(base)
                    .system_info(info)
                    .font_descriptor(descriptor)
                    .default_width(0.0)
                    .cid_to_gid_map_predefined(Name(b"Identity"));
                let mut widths = font.widths();
                for gid in used.keys() {
                    let adv = face
                        .glyph_hor_advance(ttf_parser::GlyphId(*gid))
                        .unwrap_or(0);
                    widths.consecutive(*gid, [f32::from(adv) * 1000.0 / em]);
                }
                widths.finish();
                font.finish();
                let bbox = face.global_bounding_box();
                pdf.font_descriptor(descriptor)
                    .name(base)
                    .flags(FontFlags::NON_SYMBOLIC)
                    .bbox(Rect::new(
                        scale(bbox.x_min),
                        scale(bbox.y_min),
                        scale(bbox.x_max),
                        scale(bbox.y_max),
                    ))
                    .italic_angle(0.0)
                    .ascent(scale(face.ascender()))
                    .descent(scale(face.descender()))
                    .cap_height(scale(face.capital_height().unwrap_or(face.ascender())))
                    .stem_v(80.0)
                    .font_file2(file);
                pdf.stream(file, bytes).pair(
                    Name(b"Length1"),
                    i32::try_from(bytes.len()).unwrap_or(i32::MAX),
                );
                let mut cmap = pdf_writer::types::UnicodeCmap::new(Name(b"Custom"), info);
                for (gid, c) in used.iter() {
                    cmap.pair(*gid, *c);
                }
                pdf.cmap(cmap_ref, &cmap.finish());
            }
        }
    }
}

/// The WinAnsi (CP-1252) byte of `c`, if it has one.
fn winansi(c: char) -> Option<u8> {
    let code = u32::from(c);
    match code {
        0x20..=0x7e | 0xa0..=0xff => u8::try_from(code).ok(),
        _ => Some(match c {
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '—' => 0x97,
            'Š' => 0x8a,
            'š' => 0x9a,
            'Ž' => 0x8e,
            'ž' => 0x9e,
            _ => return None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::body;

    /// Debian's fonts-dejavu-core, installed by `.ci/run`.
    const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

    fn count(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).filter(|w| *w == needle).count()
    }

    #[test]
    fn courier_prints_english_and_albanian_and_refuses_cyrillic_by_name() {
        let signers = Signers::default();
        for lang in [Lang::En, Lang::Sq] {
            let doc = pdf(&body(), &signers, lang, &Font::Courier).unwrap();
            assert!(doc.starts_with(b"%PDF-"), "{lang}");
            assert!(
                doc.ends_with(b"%%EOF") || doc.ends_with(b"%%EOF\n"),
                "{lang}"
            );
            assert_eq!(count(&doc, b"/BaseFont /Courier"), 1);
        }
        let e = pdf(&body(), &signers, Lang::Mk, &Font::Courier)
            .unwrap_err()
            .to_string();
        assert!(e.contains("U+0421") && e.contains("--font"), "{e}");
    }

    #[test]
    fn an_embedded_truetype_font_prints_all_four_languages() {
        let font = std::fs::read(DEJAVU).unwrap_or_else(|e| {
            panic!("{DEJAVU}: {e}; install Debian's fonts-dejavu-core (.ci/run does)")
        });
        let font = Font::TrueType(font);
        for lang in Lang::ALL {
            let doc = pdf(&body(), &Signers::default(), lang, &font).unwrap();
            assert!(doc.starts_with(b"%PDF-"));
            assert_eq!(count(&doc, b"/FontFile2"), 1, "{lang}");
            assert_eq!(count(&doc, b"/Identity-H"), 1, "{lang}");
            assert_eq!(count(&doc, b"/ToUnicode"), 1, "{lang}");
            assert!(
                count(&doc, b"/Type /Page\n")
                    + count(&doc, b"/Type /Page ")
                    + count(&doc, b"/Type /Page/")
                    >= 1
            );
        }
        assert!(matches!(
            pdf(
                &body(),
                &Signers::default(),
                Lang::En,
                &Font::TrueType(b"not a font".to_vec())
            ),
            Err(PdfError::Font(_))
        ));
    }

    #[test]
    fn long_words_are_broken_to_fit_the_line() {
        let face = Face::Courier;
        let lines = face.wrap(&"a".repeat(300), 10.0, 100.0).unwrap();
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(l.len() as f32 * 6.0 <= 100.0 + 0.01, "{l}");
        }
        assert_eq!(face.wrap("", 10.0, 100.0).unwrap(), [""]);
    }
}
