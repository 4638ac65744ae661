//! Resources' Markdown to HTML, **safe by construction**: pulldown-cmark parses,
//! and only its own events are written — raw HTML (blocks and inline) becomes
//! escaped text, links keep only `http`, `https`, `mailto`, `tel` and this site's
//! paths (others lose their link and keep their text), images only this site's
//! attachments (others become a link to the image, or plain text), headings start
//! at `h2` (the page's title is the `h1`: `#` is read as `##`). No sanitiser runs afterwards because no
//! markup the author typed reaches the page (see docs/ARCHITECTURE.md, « Resources »).

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};

/// Whether a link's destination is allowed.
fn safe_link(url: &str) -> bool {
    let u = url.trim();
    let lower = u.to_ascii_lowercase();
    if lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:")
        || lower.starts_with("tel:")
    {
        return !u.chars().any(char::is_control);
    }
    // This site's paths and fragments; never `//host` nor `/\host`.
    (u.starts_with('/') && !u.starts_with("//") && !u.starts_with("/\\")) || u.starts_with('#')
}

/// Whether an image's source is one of this site's resource attachments.
fn local_image(url: &str) -> bool {
    url.starts_with("/ressources/") && !url.contains("..") && !url.contains('\\')
}

/// The page's title is its only `h1`: a `#` heading becomes an `h2`, the others
/// keep their level (`##` is the usual section heading).
fn shift(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H2,
        other => other,
    }
}

/// What became of an opened link or image, for its closing tag.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Opened {
    Kept,
    Dropped,
    /// An image of another site written as a link to it.
    AsLink,
}

/// The HTML of a resource's Markdown.
pub fn to_html(markdown: &str) -> String {
    let parser = Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH);
    let mut opened: Vec<Opened> = Vec::new();
    let events = parser.filter_map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Some(Event::Text(t)),
        Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => None,
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Some(Event::Start(Tag::Heading {
            level: shift(level),
            id,
            classes,
            attrs,
        })),
        Event::End(TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(shift(level)))),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            if safe_link(&dest_url) {
                opened.push(Opened::Kept);
                Some(Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }))
            } else {
                opened.push(Opened::Dropped);
                None
            }
        }
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            if local_image(&dest_url) {
                opened.push(Opened::Kept);
                Some(Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                }))
            } else if safe_link(&dest_url) {
                // Another site's image is not loaded (privacy, and the content
                // policy): a link to it, its description as the text.
                opened.push(Opened::AsLink);
                Some(Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }))
            } else {
                opened.push(Opened::Dropped);
                None
            }
        }
        Event::End(end @ (TagEnd::Link | TagEnd::Image)) => match opened.pop() {
            Some(Opened::Dropped) => None,
            Some(Opened::AsLink) => Some(Event::End(TagEnd::Link)),
            _ => Some(Event::End(end)),
        },
        other => Some(other),
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// The plain text of a resource's Markdown, for the search index (no markup,
/// single spaces).
pub fn to_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for e in Parser::new(markdown) {
        match e {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak | Event::End(_) => out.push(' '),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_and_nothing_typed_becomes_markup() {
        let html =
            to_html("# Titre\n\nUn **mot** et [un lien](https://exemple.fr).\n\n- un\n- deux");
        assert!(html.contains("<h2>Titre</h2>"), "{html}");
        assert!(html.contains("<strong>mot</strong>"));
        assert!(html.contains("<a href=\"https://exemple.fr\">un lien</a>"));
        assert!(html.contains("<li>un</li>"));
        for evil in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "<div onclick=\"x\">bloc</div>\n\ntexte",
            "[clic](javascript:alert(1))",
            "[clic](JaVaScRiPt:alert(1))",
            "[clic](data:text/html;base64,PHNjcmlwdD4=)",
            "[clic](//evil.example)",
            "![x](javascript:alert(1))",
            "![x](https://traceur.example/pixel.png)",
            "<a href=\"javascript:alert(1)\">a</a>",
            "[a](<java\0script:alert(1)>)",
            "<svg onload=alert(1)>",
        ] {
            let html = to_html(evil);
            assert!(!html.contains("<script"), "{evil} → {html}");
            assert!(!html.contains("<img src=\"x"), "{evil} → {html}");
            assert!(!html.contains("<div"), "{evil} → {html}");
            assert!(!html.contains("<svg"), "{evil} → {html}");
            // Escaped text may show `href=…`; no tag may carry it.
            let lower = html.to_lowercase();
            assert!(!lower.contains("<a href=\"java"), "{evil} → {html}");
            assert!(!html.contains("<a href=\"data:"), "{evil} → {html}");
            assert!(!html.contains("<a href=\"//"), "{evil} → {html}");
            assert!(!html.contains("<img src=\"https://"), "{evil} → {html}");
        }
        // Dropped links keep their text; other sites' images become links.
        assert!(to_html("[clic](javascript:x)").contains("clic"));
        let img = to_html("![Le pixel](https://traceur.example/p.png)");
        assert!(
            img.contains("<a href=\"https://traceur.example/p.png\">Le pixel</a>"),
            "{img}"
        );
        let local = to_html("![Capture](/ressources/3/fichiers/7)");
        assert!(
            local.contains("<img src=\"/ressources/3/fichiers/7\" alt=\"Capture\""),
            "{local}"
        );
        assert_eq!(to_text("Un **mot** [lien](/x)").trim(), "Un mot lien");
    }
}
