//! Tagged, accessible PDF documents (PDF/UA-1): one renderer for every printable
//! document — mandate attestations, pass numérique carnets, statements. A
//! document is laid out by its module as pages of groups, each group a structure
//! role (title, heading, paragraph, figure, artifact) and its drawings.

use std::num::NonZeroU16;
use std::sync::LazyLock;

static FONT_REGULAR: LazyLock<Option<krilla::text::Font>> =
    LazyLock::new(|| krilla::text::Font::new(dejavu::sans::regular().into(), 0));
static FONT_BOLD: LazyLock<Option<krilla::text::Font>> =
    LazyLock::new(|| krilla::text::Font::new(dejavu::sans::bold().into(), 0));

/// Splits a paragraph into lines of at most `max` characters, at spaces.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if needed > max && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("police DejaVu illisible")]
    Font,
    #[error("création du PDF impossible : {0}")]
    Krilla(String),
}

/// A4 in points, and the margins.
pub const PAGE_W: f32 = 595.0;
pub const PAGE_H: f32 = 842.0;
pub const MARGIN: f32 = 50.0;
/// One drawing on a page, positioned.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Text {
        bold: bool,
        size: f32,
        x: f32,
        y: f32,
        text: String,
    },
    /// A filled rule.
    Rule { x: f32, y: f32, w: f32 },
    /// A framed box (signatures, coupons).
    Frame { x: f32, y: f32, w: f32, h: f32 },
    /// The QR code of `data` (a link), `module` points a module.
    Qr {
        x: f32,
        y: f32,
        module: f32,
        data: String,
    },
}

/// What a group of drawings is in the PDF's structure (tags).
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    Title(String),
    Heading(String),
    Paragraph,
    Figure(String),
    /// Decoration, or a running header / footer repeated on every page.
    Artifact(ArtifactKind),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArtifactKind {
    Layout,
    Header,
    Footer,
}

/// A line of text at (x, y), its baseline.
pub fn text_op(bold: bool, size: f32, x: f32, y: f32, text: &str) -> Op {
    Op::Text {
        bold,
        size,
        x,
        y,
        text: text.to_owned(),
    }
}

/// Renders laid-out A4 pages as a tagged PDF (DejaVu Sans embedded, PDF/UA-1
/// checked by krilla): titles and headings (also the outline), paragraphs,
/// figures with their alternative text, running headers and footers as artifacts.
pub fn render(
    title: &str,
    outline_title: &str,
    pages: &[Vec<(Role, Vec<Op>)>],
) -> Result<Vec<u8>, PdfError> {
    use krilla::color::rgb;
    use krilla::geom::{PathBuilder, Point, Rect};
    use krilla::metadata::Metadata;
    use krilla::page::PageSettings;
    use krilla::paint::{Fill, Stroke};
    use krilla::tagging::{Artifact, ArtifactType, ContentTag, SpanTag, Tag, TagGroup, TagTree};
    use krilla::text::TextDirection;

    let regular = FONT_REGULAR.clone().ok_or(PdfError::Font)?;
    let bold = FONT_BOLD.clone().ok_or(PdfError::Font)?;
    let configuration = krilla::configure::ConfigurationBuilder::new()
        .with_accessibility_validator(krilla::configure::Accessibility::UA1)
        .finish()
        .map_err(|e| PdfError::Krilla(format!("{e:?}")))?;
    let mut document = krilla::Document::new_with(krilla::SerializeSettings {
        configuration,
        ..krilla::SerializeSettings::default()
    });
    document.set_metadata(
        Metadata::new()
            .title(title.to_owned())
            .language("fr-FR".to_owned())
            .creator("Relais".to_owned()),
    );
    let mut tree = TagTree::new();
    let h1 = NonZeroU16::MIN;
    let h2 = NonZeroU16::new(2).unwrap_or(NonZeroU16::MIN);
    let mut outline_root = krilla::outline::OutlineNode::new(
        outline_title.to_owned(),
        krilla::destination::XyzDestination::new(0, Point::from_xy(0.0, 0.0)),
    );
    for (page_index, groups) in pages.iter().enumerate() {
        let mut page = document.start_page_with(
            PageSettings::from_wh(PAGE_W, PAGE_H)
                .ok_or_else(|| PdfError::Krilla("format de page".into()))?,
        );
        let mut surface = page.surface();
        for (role, ops) in groups {
            let mut group = match role {
                Role::Title(t) => Some(TagGroup::new(Tag::Hn(h1, Some(t.clone())))),
                Role::Heading(t) => {
                    let y = ops.first().map_or(0.0, |op| match op {
                        Op::Text { y, .. } => *y,
                        _ => 0.0,
                    });
                    outline_root.push_child(krilla::outline::OutlineNode::new(
                        t.clone(),
                        krilla::destination::XyzDestination::new(
                            page_index,
                            Point::from_xy(0.0, (y - 12.0).max(0.0)),
                        ),
                    ));
                    Some(TagGroup::new(Tag::Hn(h2, Some(t.clone()))))
                }
                Role::Paragraph => Some(TagGroup::new(Tag::P)),
                Role::Figure(alt) => Some(TagGroup::new(Tag::Figure(Some(alt.clone())))),
                Role::Artifact(_) => None,
            };
            let artifact = match role {
                Role::Artifact(ArtifactKind::Header) => Some(ArtifactType::Header),
                Role::Artifact(ArtifactKind::Footer) => Some(ArtifactType::Footer),
                Role::Artifact(ArtifactKind::Layout) => Some(ArtifactType::Layout),
                _ => None,
            };
            if let Some(kind) = artifact {
                surface.start_tagged(ContentTag::Artifact(Artifact::new(kind, None)));
            }
            for op in ops {
                let tagged = |surface: &mut krilla::surface::Surface<'_>, tag| {
                    if artifact.is_none() {
                        Some(surface.start_tagged(tag))
                    } else {
                        None
                    }
                };
                let id = match op {
                    Op::Text {
                        bold: b,
                        size,
                        x,
                        y,
                        text,
                    } => {
                        let id = tagged(&mut surface, ContentTag::Span(SpanTag::empty()));
                        let font = if *b { bold.clone() } else { regular.clone() };
                        surface.draw_text(
                            Point::from_xy(*x, *y),
                            font,
                            *size,
                            text,
                            false,
                            TextDirection::Auto,
                        );
                        id
                    }
                    Op::Rule { x, y, w } => {
                        let id = tagged(&mut surface, ContentTag::Other);
                        let mut pb = PathBuilder::new();
                        if let Some(r) = Rect::from_xywh(*x, *y, *w, 1.0) {
                            pb.push_rect(r);
                        }
                        if let Some(p) = pb.finish() {
                            surface.set_fill(Some(Fill {
                                paint: rgb::Color::new(0, 0, 145).into(),
                                ..Fill::default()
                            }));
                            surface.draw_path(&p);
                            surface.set_fill(Some(Fill::default()));
                        }
                        id
                    }
                    Op::Frame { x, y, w, h } => {
                        let id = tagged(&mut surface, ContentTag::Other);
                        let mut pb = PathBuilder::new();
                        if let Some(r) = Rect::from_xywh(*x, *y, *w, *h) {
                            pb.push_rect(r);
                        }
                        if let Some(p) = pb.finish() {
                            surface.set_fill(None);
                            surface.set_stroke(Some(Stroke::default()));
                            surface.draw_path(&p);
                            surface.set_stroke(None);
                            surface.set_fill(Some(Fill::default()));
                        }
                        id
                    }
                    Op::Qr { x, y, module, data } => {
                        let id = tagged(&mut surface, ContentTag::Other);
                        if let Some(p) = qr_path(data, *x, *y, *module) {
                            surface.set_fill(Some(Fill::default()));
                            surface.draw_path(&p);
                        }
                        id
                    }
                };
                if let Some(id) = id {
                    surface.end_tagged();
                    if let Some(g) = group.as_mut() {
                        g.push(id);
                    }
                }
            }
            if artifact.is_some() {
                surface.end_tagged();
            }
            if let Some(g) = group {
                tree.push(g);
            }
        }
        surface.finish();
        page.finish();
    }
    let mut outline = krilla::outline::Outline::new();
    outline.push_child(outline_root.with_open(true));
    document.set_outline(outline);
    document.set_tag_tree(tree);
    document
        .finish()
        .map_err(|e| PdfError::Krilla(format!("{e:?}")))
}

/// The dark modules of the QR code of `data` as one path, each run of dark
/// modules on a row one rectangle (a third of the rectangles of one per module).
fn qr_path(data: &str, x: f32, y: f32, module: f32) -> Option<krilla::geom::Path> {
    use krilla::geom::{PathBuilder, Rect};
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    let n = code.width();
    let colors = code.to_colors();
    let mut pb = PathBuilder::new();
    for (row, line) in colors.chunks(n).enumerate() {
        let mut col = 0;
        while col < n {
            if line.get(col) == Some(&qrcode::Color::Dark) {
                let start = col;
                while line.get(col) == Some(&qrcode::Color::Dark) {
                    col += 1;
                }
                if let Some(r) = Rect::from_xywh(
                    x + start as f32 * module,
                    y + row as f32 * module,
                    (col - start) as f32 * module,
                    module,
                ) {
                    pb.push_rect(r);
                }
            } else {
                col += 1;
            }
        }
    }
    pb.finish()
}

/// The width of the QR code of `data`, in modules.
pub fn qr_width(data: &str) -> usize {
    qrcode::QrCode::new(data.as_bytes()).map_or(0, |c| c.width())
}
