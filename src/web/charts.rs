//! SVG charts drawn on the server (no JavaScript). Every chart is decorative for
//! assistive technologies (`aria-hidden`): the page always puts the same figures
//! in a table beside it.

use std::fmt::Write as _;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Horizontal bars, one row per label, the value written after the bar.
pub fn hbars(rows: &[(String, i64)]) -> String {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let row_h = 24;
    let h = row_h * rows.len().max(1);
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 400 {h}\" width=\"100%\" aria-hidden=\"true\" focusable=\"false\">"
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = i * row_h;
        let w = (*v).max(0) * 220 / max;
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{}\" class=\"chart-label\">{}</text>\
             <rect x=\"130\" y=\"{}\" width=\"{w}\" height=\"10\" class=\"chart-bar\"></rect>\
             <text x=\"{}\" y=\"{}\" class=\"chart-value\">{}</text>",
            y + 15,
            esc(label),
            y + 6,
            134 + w,
            y + 15,
            crate::domain::thousands(*v)
        );
    }
    out.push_str("</svg>");
    out
}

/// Vertical bars over time (months), the labels below.
pub fn columns(points: &[(String, i64)]) -> String {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let n = points.len().max(1);
    let bar = 400 / n;
    let mut out = String::from(
        "<svg class=\"chart\" viewBox=\"0 0 400 140\" width=\"100%\" aria-hidden=\"true\" focusable=\"false\">",
    );
    for (i, (label, v)) in points.iter().enumerate() {
        let h = (*v).max(0) * 110 / max;
        let x = i * bar;
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\" class=\"chart-bar\"></rect>",
            x + 1,
            120 - h,
            bar.saturating_sub(2).max(1)
        );
        if n <= 12 || i % 3 == 0 {
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"136\" class=\"chart-axis\">{}</text>",
                x + 1,
                esc(label)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Progress towards a target: a bar filled to `pct` percent (capped at 100) with
/// the target marked.
pub fn progress(pct: f64) -> String {
    let w = (pct.clamp(0.0, 100.0) * 3.8).round() as i64;
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 400 34\" width=\"100%\" aria-hidden=\"true\" focusable=\"false\">\
         <rect x=\"0\" y=\"6\" width=\"380\" height=\"16\" class=\"chart-track\"></rect>\
         <rect x=\"0\" y=\"6\" width=\"{w}\" height=\"16\" class=\"chart-bar\"></rect>\
         <line x1=\"380\" y1=\"0\" x2=\"380\" y2=\"28\" class=\"chart-target\"></line>\
         <text x=\"{tx}\" y=\"18\" class=\"chart-value\">{pct:.0} %</text></svg>",
        tx = (w + 4).min(340)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_carry_their_values_and_escape_labels() {
        let svg = hbars(&[("A & B".into(), 1_200), ("C".into(), 0)]);
        assert!(svg.contains("A &amp; B") && svg.contains("1\u{202f}200"));
        assert!(svg.contains("aria-hidden=\"true\""));
        let svg = columns(&[("janv.".into(), 3), ("févr.".into(), 6)]);
        assert!(svg.contains("height=\"110\""));
        assert!(progress(150.0).contains("width=\"380\""));
    }
}
