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
    /// The stamp `stamp` (drawings given to [`render`] once, written once in
    /// the file) placed at (x, y): what every coupon of a carnet repeats.
    Stamp { x: f32, y: f32, stamp: usize },
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
///
/// `stamps` are drawings repeated many times (an `Op::Stamp` places one): each is
/// written once in the file as a form. Only text, rules and frames go in a stamp,
/// and a stamp is drawn within an artifact group: what it repeats must also be
/// said once in the tagged content.
pub fn render(
    title: &str,
    outline_title: &str,
    pages: &[Vec<(Role, Vec<Op>)>],
    stamps: &[Vec<Op>],
) -> Result<Vec<u8>, PdfError> {
    use krilla::geom::Point;
    use krilla::metadata::Metadata;
    use krilla::page::PageSettings;
    use krilla::tagging::{Artifact, ArtifactType, ContentTag, SpanTag, Tag, TagGroup, TagTree};

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
    let mut shaper = Shaper::new().ok_or(PdfError::Font)?;
    // The QR codes (the costly part of a carnet's page) are made on another
    // core while the pages are written: one bitmap per `Op::Qr`, in order.
    let qr_ops: Vec<&str> = pages
        .iter()
        .flatten()
        .flat_map(|(_, ops)| ops.iter())
        .filter_map(|op| match op {
            Op::Qr { data, .. } => Some(data.as_str()),
            _ => None,
        })
        .collect();
    // Sent by batches of 64: a hand-over per code would wake the other thread
    // a hundred thousand times.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Option<QrBitmap>>>(16);
    let mut ready: std::vec::IntoIter<Option<QrBitmap>> = Vec::new().into_iter();
    let mut next_qr = move || -> Option<QrBitmap> {
        loop {
            if let Some(b) = ready.next() {
                return b;
            }
            ready = receiver.recv().ok()?.into_iter();
        }
    };
    std::thread::scope(|scope| -> Result<(), PdfError> {
        scope.spawn(move || {
            for batch in qr_ops.chunks(64) {
                if sender
                    .send(batch.iter().map(|d| qr_bitmap(d)).collect())
                    .is_err()
                {
                    break;
                }
            }
        });
        let mut graphics: Vec<krilla::graphic::Graphic> = Vec::new();
        for (page_index, groups) in pages.iter().enumerate() {
            let mut page = document.start_page_with(
                PageSettings::from_wh(PAGE_W, PAGE_H)
                    .ok_or_else(|| PdfError::Krilla("format de page".into()))?,
            );
            let mut surface = page.surface();
            if graphics.len() < stamps.len() {
                for stamp in stamps {
                    let mut builder = surface.stream_builder();
                    let mut inner = builder.surface();
                    for op in stamp {
                        draw_plain(&mut inner, &mut shaper, &regular, &bold, op);
                    }
                    inner.finish();
                    graphics.push(krilla::graphic::Graphic::new(builder.finish(), false));
                }
            }
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
                // One marked-content sequence per group (a paragraph's lines, a
                // figure): a tenth of the structure a sequence per line would make.
                let id = match artifact {
                    Some(kind) => {
                        surface.start_tagged(ContentTag::Artifact(Artifact::new(kind, None)));
                        None
                    }
                    None => Some(surface.start_tagged(match role {
                        Role::Figure(_) => ContentTag::Other,
                        _ => ContentTag::Span(SpanTag::empty()),
                    })),
                };
                for op in ops {
                    match op {
                        Op::Text { .. } | Op::Rule { .. } | Op::Frame { .. } => {
                            draw_plain(&mut surface, &mut shaper, &regular, &bold, op);
                        }
                        Op::Stamp { x, y, stamp } => {
                            if let Some(g) = graphics.get(*stamp) {
                                surface.push_transform(&krilla::geom::Transform::from_translate(
                                    *x, *y,
                                ));
                                surface.draw_graphic(g.clone());
                                surface.pop();
                            }
                        }
                        Op::Qr { x, y, module, .. } => {
                            let bitmap = next_qr();
                            if let Some(b) = bitmap {
                                let side = b.side as f32 * module;
                                if let (Ok(image), Some(size)) = (
                                    krilla::image::Image::from_custom(b, false),
                                    krilla::geom::Size::from_wh(side, side),
                                ) {
                                    surface.push_transform(
                                        &krilla::geom::Transform::from_translate(*x, *y),
                                    );
                                    surface.draw_image(image, size);
                                    surface.pop();
                                }
                            }
                        }
                    }
                }
                surface.end_tagged();
                if let (Some(id), Some(g)) = (id, group.as_mut()) {
                    g.push(id);
                }
                if let Some(g) = group {
                    tree.push(g);
                }
            }
            surface.finish();
            page.finish();
        }
        Ok(())
    })?;
    let mut outline = krilla::outline::Outline::new();
    outline.push_child(outline_root.with_open(true));
    document.set_outline(outline);
    document.set_tag_tree(tree);
    document
        .finish()
        .map_err(|e| PdfError::Krilla(format!("{e:?}")))
}

/// Draws a text, a rule or a frame (not tagged: the caller tags).
fn draw_plain(
    surface: &mut krilla::surface::Surface<'_>,
    shaper: &mut Shaper,
    regular: &krilla::text::Font,
    bold: &krilla::text::Font,
    op: &Op,
) {
    use krilla::color::rgb;
    use krilla::geom::{PathBuilder, Point, Rect};
    use krilla::paint::{Fill, Stroke};
    match op {
        Op::Text {
            bold: b,
            size,
            x,
            y,
            text,
        } => {
            let font = if *b { bold.clone() } else { regular.clone() };
            let glyphs = shaper.shape(*b, text);
            surface.draw_glyphs(Point::from_xy(*x, *y), &glyphs, font, text, *size, false);
        }
        Op::Rule { x, y, w } => {
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
        }
        Op::Frame { x, y, w, h } => {
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
        }
        Op::Qr { .. } | Op::Stamp { .. } => {}
    }
}

/// A QR code as an 8-bit grey bitmap, one pixel per module, drawn without
/// smoothing (a few hundred bytes in the PDF, where a path of rectangles takes
/// kilobytes).
#[derive(Debug, Clone, Hash)]
struct QrBitmap {
    pixels: std::sync::Arc<Vec<u8>>,
    side: u32,
}

impl krilla::image::CustomImage for QrBitmap {
    fn color_channel(&self) -> &[u8] {
        &self.pixels
    }
    fn alpha_channel(&self) -> Option<&[u8]> {
        None
    }
    fn bits_per_component(&self) -> krilla::image::BitsPerComponent {
        krilla::image::BitsPerComponent::Eight
    }
    fn size(&self) -> (u32, u32) {
        (self.side, self.side)
    }
    fn icc_profile(&self) -> Option<&[u8]> {
        None
    }
    fn color_space(&self) -> krilla::image::ImageColorspace {
        krilla::image::ImageColorspace::Luma
    }
}

/// A QR code (error correction M), its mask chosen by the standard's penalty
/// rules computed here on flat grids (the `qrcode` crate's own choice costs
/// 350 µs a code: a hundred thousand coupons' worth of seconds).
fn qr_bitmap(data: &str) -> Option<QrBitmap> {
    use qrcode::canvas::{Canvas, MaskPattern, Module};
    use qrcode::{EcLevel, bits, ec};
    const MASKS: [MaskPattern; 8] = [
        MaskPattern::Checkerboard,
        MaskPattern::HorizontalLines,
        MaskPattern::VerticalLines,
        MaskPattern::DiagonalLines,
        MaskPattern::LargeCheckerboard,
        MaskPattern::Fields,
        MaskPattern::Diamonds,
        MaskPattern::Meadow,
    ];
    let encoded = bits::encode_auto(data.as_bytes(), EcLevel::M).ok()?;
    let version = encoded.version();
    let (data_cw, ec_cw) =
        ec::construct_codewords(&encoded.into_bytes(), version, EcLevel::M).ok()?;
    let mut canvas = Canvas::new(version, EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data_cw, &ec_cw);
    let width = version.width();
    let side = usize::try_from(width).ok()?;
    if side > 64 {
        // Beyond version 11 (links this long are not printed here): the crate's
        // own choice.
        let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
        let pixels = code
            .to_colors()
            .iter()
            .map(|c| if *c == qrcode::Color::Dark { 0 } else { 255 })
            .collect();
        return Some(QrBitmap {
            pixels: std::sync::Arc::new(pixels),
            side: u32::try_from(code.width()).ok()?,
        });
    }
    // Rows and columns as bit sets: module `x` of row `y` is bit `x` of
    // `rows[y]`; `flip_*` marks the data modules (those a mask flips).
    let (mut rows, mut cols) = (vec![0u64; side], vec![0u64; side]);
    let (mut flip_rows, mut flip_cols) = (vec![0u64; side], vec![0u64; side]);
    for (y, (row, flip_row)) in rows.iter_mut().zip(flip_rows.iter_mut()).enumerate() {
        for x in 0..side {
            let (dark, flips) = match canvas.get(i16::try_from(x).ok()?, i16::try_from(y).ok()?) {
                Module::Unmasked(c) => (c == qrcode::Color::Dark, true),
                Module::Masked(c) => (c == qrcode::Color::Dark, false),
                Module::Empty => (false, false),
            };
            if dark {
                *row |= 1 << x;
                if let Some(c) = cols.get_mut(x) {
                    *c |= 1 << y;
                }
            }
            if flips {
                *flip_row |= 1 << x;
                if let Some(c) = flip_cols.get_mut(x) {
                    *c |= 1 << y;
                }
            }
        }
    }
    let masks = mask_sets(side);
    let (mut r, mut c) = (vec![0u64; side], vec![0u64; side]);
    let mut best = (u32::MAX, 0);
    for (m, (mask_rows, mask_cols)) in masks.iter().enumerate() {
        for (out, ((b, f), k)) in r.iter_mut().zip(rows.iter().zip(&flip_rows).zip(mask_rows)) {
            *out = b ^ (f & k);
        }
        for (out, ((b, f), k)) in c.iter_mut().zip(cols.iter().zip(&flip_cols).zip(mask_cols)) {
            *out = b ^ (f & k);
        }
        let p = qr_penalty(&r, &c, side);
        if p < best.0 {
            best = (p, m);
        }
    }
    canvas.apply_mask(*MASKS.get(best.1)?);
    let pixels = canvas
        .into_colors()
        .iter()
        .map(|c| if *c == qrcode::Color::Dark { 0 } else { 255 })
        .collect();
    Some(QrBitmap {
        pixels: std::sync::Arc::new(pixels),
        side: u32::try_from(side).ok()?,
    })
}

/// The rows and columns each of the eight masks flips, as bit sets, for a QR
/// code `side` (≤ 64) modules wide; computed once per size.
type MaskSets = std::sync::Arc<Vec<(Vec<u64>, Vec<u64>)>>;

fn mask_sets(side: usize) -> MaskSets {
    static CACHE: std::sync::Mutex<Vec<(usize, MaskSets)>> = std::sync::Mutex::new(Vec::new());
    if let Ok(cache) = CACHE.lock()
        && let Some((_, sets)) = cache.iter().find(|(s, _)| *s == side)
    {
        return sets.clone();
    }
    let flips = |m: usize, x: usize, y: usize| -> bool {
        match m {
            0 => (x + y).is_multiple_of(2),
            1 => y.is_multiple_of(2),
            2 => x.is_multiple_of(3),
            3 => (x + y).is_multiple_of(3),
            4 => (y / 2 + x / 3).is_multiple_of(2),
            5 => (x * y) % 2 + (x * y) % 3 == 0,
            6 => ((x * y) % 2 + (x * y) % 3).is_multiple_of(2),
            _ => ((x + y) % 2 + (x * y) % 3).is_multiple_of(2),
        }
    };
    let sets: Vec<(Vec<u64>, Vec<u64>)> = (0..8)
        .map(|m| {
            let rows = (0..side)
                .map(|y| {
                    (0..side)
                        .filter(|x| flips(m, *x, y))
                        .fold(0u64, |a, x| a | 1 << x)
                })
                .collect();
            let cols = (0..side)
                .map(|x| {
                    (0..side)
                        .filter(|y| flips(m, x, *y))
                        .fold(0u64, |a, y| a | 1 << y)
                })
                .collect();
            (rows, cols)
        })
        .collect();
    let sets = std::sync::Arc::new(sets);
    if let Ok(mut cache) = CACHE.lock() {
        cache.push((side, sets.clone()));
    }
    sets
}

/// The four penalty rules of ISO/IEC 18004 (§ 7.8.3) on an `n` × `n` grid given
/// by its rows and its columns as bit sets (bit `i` is module `i`, 1 dark): runs
/// of five or more, 2 × 2 blocks, finder-like 1:1:3:1:1 patterns beside four
/// light modules, and the distance of the dark share from half. A few word
/// operations a line, where a module-by-module walk costs a hundred microseconds
/// a code.
fn qr_penalty(rows: &[u64], cols: &[u64], n: usize) -> u32 {
    const PATTERNS: [u64; 2] = [0b101_1101_0000, 0b000_0101_1101];
    if !(11..=64).contains(&n) {
        return 0;
    }
    let full = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    let pairs = (1u64 << (n - 1)) - 1;
    let starts = (1u64 << (n - 10)) - 1;
    let mut score = 0u32;
    for &line in rows.iter().chain(cols) {
        // Runs: boundaries where module i differs from module i + 1.
        let mut t = (line ^ (line >> 1)) & pairs;
        let mut start = 0u32;
        while t != 0 {
            let b = t.trailing_zeros();
            let len = b + 1 - start;
            if len >= 5 {
                score += len - 2;
            }
            start = b + 1;
            t &= t - 1;
        }
        let len = u32::try_from(n).unwrap_or(0) - start;
        if len >= 5 {
            score += len - 2;
        }
        // Finder-like patterns, read in module order.
        for p in PATTERNS {
            let mut at = starts;
            for k in 0..11 {
                let src = if (p >> (10 - k)) & 1 == 1 {
                    line
                } else {
                    !line & full
                };
                at &= src >> k;
            }
            score += 40 * at.count_ones();
        }
    }
    for pair in rows.windows(2) {
        if let [a, b] = pair {
            let same = !(a ^ b) & !(a ^ (a >> 1)) & !(b ^ (b >> 1)) & pairs;
            score += 3 * same.count_ones();
        }
    }
    let darks: u32 = rows.iter().map(|r| (r & full).count_ones()).sum();
    let total = u32::try_from(n * n).unwrap_or(1).max(1);
    let percent = darks * 100 / total;
    score + 10 * (percent.abs_diff(50) / 5)
}

/// Text shaped once per distinct string (a carnet repeats its validity, funder
/// and restrictions on every coupon), with the fonts parsed once per document.
struct Shaper {
    regular: Styled,
    bold: Styled,
}

struct Styled {
    face: rustybuzz::Face<'static>,
    cache: std::collections::HashMap<String, Vec<krilla::text::KrillaGlyph>>,
}

impl Shaper {
    /// Distinct strings kept (the codes printed once each are not worth keeping).
    const CACHE_MAX: usize = 4_096;

    fn new() -> Option<Shaper> {
        let styled = |data: &'static [u8]| {
            Some(Styled {
                face: rustybuzz::Face::from_slice(data, 0)?,
                cache: std::collections::HashMap::new(),
            })
        };
        Some(Shaper {
            regular: styled(dejavu::sans::regular())?,
            bold: styled(dejavu::sans::bold())?,
        })
    }

    fn shape(
        &mut self,
        bold: bool,
        text: &str,
    ) -> std::borrow::Cow<'_, [krilla::text::KrillaGlyph]> {
        let s = if bold {
            &mut self.bold
        } else {
            &mut self.regular
        };
        if s.cache.contains_key(text) {
            return std::borrow::Cow::Borrowed(s.cache.get(text).map_or(&[], Vec::as_slice));
        }
        let upem = f32::from(u16::try_from(s.face.units_per_em()).unwrap_or(2048).max(1));
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.set_direction(rustybuzz::Direction::LeftToRight);
        let output = rustybuzz::shape(&s.face, &[], buffer);
        let infos = output.glyph_infos();
        let glyphs: Vec<krilla::text::KrillaGlyph> = output
            .glyph_positions()
            .iter()
            .zip(infos)
            .enumerate()
            .map(|(i, (pos, info))| {
                let start = info.cluster as usize;
                let end = infos
                    .iter()
                    .skip(i + 1)
                    .map(|n| n.cluster as usize)
                    .find(|c| *c != start)
                    .unwrap_or(text.len());
                krilla::text::KrillaGlyph::new(
                    krilla::text::GlyphId::new(info.glyph_id),
                    pos.x_advance as f32 / upem,
                    pos.x_offset as f32 / upem,
                    pos.y_offset as f32 / upem,
                    pos.y_advance as f32 / upem,
                    start..end,
                    None,
                )
            })
            .collect();
        if s.cache.len() < Self::CACHE_MAX {
            s.cache.insert(text.to_owned(), glyphs);
            return std::borrow::Cow::Borrowed(s.cache.get(text).map_or(&[], Vec::as_slice));
        }
        std::borrow::Cow::Owned(glyphs)
    }
}

/// The width of the QR code of `data`, in modules (computed as printed).
pub fn qr_width(data: &str) -> usize {
    qr_bitmap(data).map_or(0, |b| b.side as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans a bitmap as a phone would (4 pixels a module, the quiet zone).
    fn scan(b: &QrBitmap) -> String {
        let n = b.side as usize;
        let px = |x: usize, y: usize| -> u8 {
            let (mx, my) = (x / 4, y / 4);
            if mx < 4 || my < 4 || mx >= n + 4 || my >= n + 4 {
                return 255;
            }
            b.pixels[(my - 4) * n + (mx - 4)]
        };
        let side = (n + 8) * 4;
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(side, side, px);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    /// The penalty module by module, as the standard words it.
    fn reference_penalty(g: &[Vec<u8>]) -> u32 {
        let n = g.len();
        let mut score = 0;
        let lines: Vec<Vec<u8>> = g
            .iter()
            .cloned()
            .chain((0..n).map(|x| g.iter().map(|r| r[x]).collect()))
            .collect();
        for l in &lines {
            let mut i = 0;
            while i < n {
                let mut j = i;
                while j < n && l[j] == l[i] {
                    j += 1;
                }
                if j - i >= 5 {
                    score += (j - i) as u32 - 2;
                }
                i = j;
            }
            for i in 0..=n - 11 {
                let w = &l[i..i + 11];
                if w == [1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0] || w == [0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1]
                {
                    score += 40;
                }
            }
        }
        for y in 0..n - 1 {
            for x in 0..n - 1 {
                let v = g[y][x];
                if g[y][x + 1] == v && g[y + 1][x] == v && g[y + 1][x + 1] == v {
                    score += 3;
                }
            }
        }
        let dark: usize = g.iter().flatten().filter(|v| **v == 1).count();
        score + 10 * ((dark * 100 / (n * n)).abs_diff(50) / 5) as u32
    }

    #[test]
    fn the_penalty_on_bit_sets_is_the_standards() {
        use rand::Rng as _;
        let mut rng = rand::thread_rng();
        for n in [21, 25, 33, 45, 57] {
            for density in [0.2, 0.5, 0.8] {
                let g: Vec<Vec<u8>> = (0..n)
                    .map(|_| (0..n).map(|_| u8::from(rng.gen_bool(density))).collect())
                    .collect();
                let rows: Vec<u64> = g
                    .iter()
                    .map(|r| {
                        r.iter()
                            .enumerate()
                            .fold(0u64, |a, (x, v)| a | (u64::from(*v) << x))
                    })
                    .collect();
                let cols: Vec<u64> = (0..n)
                    .map(|x| (0..n).fold(0u64, |a, y| a | (u64::from(g[y][x]) << y)))
                    .collect();
                assert_eq!(
                    qr_penalty(&rows, &cols, n),
                    reference_penalty(&g),
                    "{n} {density}"
                );
            }
        }
    }

    #[test]
    fn qr_codes_scan_back_to_their_link() {
        for _ in 0..200 {
            let data = format!(
                "https://relais.example.fr/pass/{}",
                crate::pass::code::generate()
            );
            let b = qr_bitmap(&data).unwrap();
            assert_eq!(
                b.side as usize,
                qrcode::QrCode::new(data.as_bytes()).unwrap().width()
            );
            assert_eq!(scan(&b), data);
        }
        // The penalty prefers a balanced grid to a blank one.
        let light = vec![0u64; 25];
        let mixed: Vec<u64> = (0..25)
            .map(|y| if y % 2 == 0 { 0x0AAA_AAAA } else { 0x1555_5555 } & 0x1ff_ffff)
            .collect();
        assert!(qr_penalty(&light, &light, 25) > qr_penalty(&mixed, &mixed, 25));
    }
}
