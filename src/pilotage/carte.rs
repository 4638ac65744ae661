//! The map of départements as a tile grid (a cartogram needs no geometry): one
//! square per département at a place close to its geography (computed once from
//! the France Services locations of `../shared/data`, Île-de-France spread out,
//! the overseas départements on the last row), coloured by an indicator's class.
//! Every tile also shows its code and its class number, and the legend gives each
//! class's range: the map never relies on colour alone. The same figures are in
//! the table beside it.

use std::fmt::Write as _;

/// (département, column, row).
pub const GRID: [(&str, u32, u32); 101] = [
    ("01", 9, 6),
    ("02", 7, 1),
    ("03", 7, 6),
    ("04", 9, 9),
    ("05", 10, 7),
    ("06", 10, 9),
    ("07", 8, 9),
    ("08", 8, 1),
    ("09", 5, 11),
    ("10", 8, 3),
    ("11", 6, 10),
    ("12", 6, 9),
    ("13", 8, 10),
    ("14", 3, 2),
    ("15", 6, 8),
    ("16", 4, 7),
    ("17", 3, 7),
    ("18", 6, 5),
    ("19", 5, 8),
    ("21", 8, 5),
    ("22", 1, 3),
    ("23", 6, 6),
    ("24", 4, 6),
    ("25", 10, 5),
    ("26", 8, 8),
    ("27", 4, 2),
    ("28", 4, 3),
    ("29", 0, 3),
    ("2A", 12, 12),
    ("2B", 12, 11),
    ("30", 7, 8),
    ("31", 5, 10),
    ("32", 4, 11),
    ("33", 4, 8),
    ("34", 7, 10),
    ("35", 2, 3),
    ("36", 5, 6),
    ("37", 3, 5),
    ("38", 10, 8),
    ("39", 9, 5),
    ("40", 3, 9),
    ("41", 5, 4),
    ("42", 7, 7),
    ("43", 8, 11),
    ("44", 2, 4),
    ("45", 5, 5),
    ("46", 3, 8),
    ("47", 4, 9),
    ("48", 7, 9),
    ("49", 2, 5),
    ("50", 2, 2),
    ("51", 8, 2),
    ("52", 8, 4),
    ("53", 3, 4),
    ("54", 10, 2),
    ("55", 9, 3),
    ("56", 1, 4),
    ("57", 9, 2),
    ("58", 7, 5),
    ("59", 7, 0),
    ("60", 5, 0),
    ("61", 3, 3),
    ("62", 6, 0),
    ("63", 6, 7),
    ("64", 3, 10),
    ("65", 4, 10),
    ("66", 6, 11),
    ("67", 11, 3),
    ("68", 11, 4),
    ("69", 8, 7),
    ("70", 9, 4),
    ("71", 8, 6),
    ("72", 4, 4),
    ("73", 9, 7),
    ("74", 10, 6),
    ("75", 6, 2),
    ("76", 4, 1),
    ("77", 7, 3),
    ("78", 5, 2),
    ("79", 2, 6),
    ("80", 5, 1),
    ("81", 7, 11),
    ("82", 5, 9),
    ("83", 9, 10),
    ("84", 9, 8),
    ("85", 3, 6),
    ("86", 4, 5),
    ("87", 5, 7),
    ("88", 10, 3),
    ("89", 7, 4),
    ("90", 10, 4),
    ("91", 6, 4),
    ("92", 5, 3),
    ("93", 6, 3),
    ("94", 7, 2),
    ("95", 6, 1),
    ("971", 0, 12),
    ("972", 1, 12),
    ("973", 2, 12),
    ("974", 3, 12),
    ("976", 4, 12),
];

/// Five classes, light to dark, each dark enough against white for the legend
/// and with a text colour readable on it.
const CLASSES: [(&str, &str); 5] = [
    ("#e8f0fb", "#161616"),
    ("#b8cff2", "#161616"),
    ("#6a9be0", "#161616"),
    ("#2f5fb3", "#ffffff"),
    ("#14306b", "#ffffff"),
];
const TILE: u32 = 38;
const GAP: u32 = 3;

/// Class limits (upper bounds of classes 1–4) by quintiles of the values present.
pub fn breaks(values: &[f64]) -> [f64; 4] {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        v.get(i).copied().unwrap_or(0.0)
    };
    [at(0.2), at(0.4), at(0.6), at(0.8)]
}

/// The class (0–4) of a value.
pub fn class_of(value: f64, limits: &[f64; 4]) -> usize {
    limits.iter().position(|l| value <= *l).unwrap_or(4)
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG map: `values` by département code (absent: no data, hatched);
/// `format` writes a value for the legend. `highlight` (a scope's départements)
/// are outlined, the others lighter.
pub fn svg(
    title: &str,
    values: &[(String, f64)],
    format: &dyn Fn(f64) -> String,
    highlight: &[String],
) -> String {
    let present: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
    let limits = breaks(&present);
    let cols = GRID.iter().map(|g| g.1).max().unwrap_or(0) + 1;
    let rows = GRID.iter().map(|g| g.2).max().unwrap_or(0) + 1;
    let width = cols * (TILE + GAP);
    let map_height = rows * (TILE + GAP);
    let legend_height = 22 * 7;
    let height = map_height + legend_height;
    let mut out = String::with_capacity(24_000);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" class=\"carte\" role=\"img\" aria-labelledby=\"carte-titre carte-desc\">\
         <title id=\"carte-titre\">{t}</title>\
         <desc id=\"carte-desc\">Carte des départements en tuiles : chaque carré porte le code du département et le numéro de sa classe (1 la plus faible, 5 la plus forte) ; les mêmes chiffres sont dans le tableau qui suit.</desc>\
         <defs><pattern id=\"nd\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ffffff\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#666666\" stroke-width=\"2\"/></pattern></defs>",
        t = esc(title)
    );
    for (code, col, row) in GRID {
        let x = col * (TILE + GAP);
        let y = row * (TILE + GAP);
        let value = values.iter().find(|(c, _)| c == code).map(|(_, v)| *v);
        let outlined = highlight.is_empty() || highlight.iter().any(|h| h == code);
        let (fill, ink, label) = match value {
            Some(v) => {
                let k = class_of(v, &limits);
                let (f, i) = CLASSES.get(k).copied().unwrap_or(("#ffffff", "#161616"));
                (f.to_owned(), i, (k + 1).to_string())
            }
            None => ("url(#nd)".to_owned(), "#161616", "–".to_owned()),
        };
        let name = crate::territoires::get()
            .departement_name(code)
            .unwrap_or(code);
        let shown = value
            .map(&format)
            .unwrap_or_else(|| "pas de donnée".to_owned());
        let _ = write!(
            out,
            "<g{dim}><title>{n} ({code}) : {s}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{TILE}\" height=\"{TILE}\" rx=\"3\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"/>\
             <text x=\"{tx}\" y=\"{ty}\" fill=\"{ink}\" font-size=\"12\" font-weight=\"bold\" text-anchor=\"middle\">{code}</text>\
             <text x=\"{tx}\" y=\"{ty2}\" fill=\"{ink}\" font-size=\"10\" text-anchor=\"middle\">{label}</text></g>",
            dim = if outlined { "" } else { " opacity=\"0.35\"" },
            n = esc(name),
            s = esc(&shown),
            stroke = if outlined && !highlight.is_empty() {
                "#161616"
            } else {
                "#ffffff"
            },
            sw = if outlined && !highlight.is_empty() {
                2
            } else {
                1
            },
            tx = x + TILE / 2,
            ty = y + 16,
            ty2 = y + 30,
        );
    }
    // Legend: a swatch, the class number, its range.
    let mut lower = present.iter().copied().fold(f64::INFINITY, f64::min);
    if !lower.is_finite() {
        lower = 0.0;
    }
    let upper = present.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let _ = write!(
        out,
        "<text x=\"0\" y=\"{y}\" font-size=\"13\" font-weight=\"bold\" fill=\"#161616\">Classes</text>",
        y = map_height + 14
    );
    for (k, (fill, ink)) in CLASSES.iter().enumerate() {
        let from = if k == 0 {
            lower
        } else {
            limits.get(k - 1).copied().unwrap_or(0.0)
        };
        let to = limits.get(k).copied().unwrap_or(upper);
        let y = map_height + 22 + 22 * k as u32;
        let _ = write!(
            out,
            "<rect x=\"0\" y=\"{y}\" width=\"18\" height=\"18\" fill=\"{fill}\" stroke=\"#161616\"/>\
             <text x=\"9\" y=\"{ty}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{ink}\">{n}</text>\
             <text x=\"26\" y=\"{ty}\" font-size=\"13\" fill=\"#161616\">classe {n} : {a} à {b}</text>",
            ty = y + 13,
            n = k + 1,
            a = esc(&format(from)),
            b = esc(&format(if to.is_finite() { to } else { from })),
        );
    }
    let _ = write!(
        out,
        "<rect x=\"{x}\" y=\"{y}\" width=\"18\" height=\"18\" fill=\"url(#nd)\" stroke=\"#161616\"/>\
         <text x=\"{tx}\" y=\"{ty}\" font-size=\"13\" fill=\"#161616\">« – » : pas de donnée</text></svg>",
        x = width / 2,
        y = map_height + 22,
        tx = width / 2 + 26,
        ty = map_height + 35
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_departement_has_one_tile_and_no_tile_is_shared() {
        let t = crate::territoires::get();
        let mut seen = std::collections::HashSet::new();
        for (code, col, row) in GRID {
            assert!(t.departement_name(code).is_some(), "{code}");
            assert!(seen.insert((col, row)), "{code} shares a tile");
        }
        for d in crate::pilotage::Territoire::national().departements {
            if d != "975" && d != "977" && d != "978" && !d.starts_with("98") {
                assert!(GRID.iter().any(|g| g.0 == d), "{d} missing from the map");
            }
        }
    }

    #[test]
    fn classes_and_map() {
        let limits = breaks(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!(class_of(1.0, &limits), 0);
        assert_eq!(class_of(10.0, &limits), 4);
        let svg = svg(
            "Lieux pour 10 000 habitants",
            &[("89".into(), 1.5), ("21".into(), 3.0)],
            &|v| format!("{v:.1}"),
            &["89".into()],
        );
        assert!(svg.contains(">89</text>") && svg.contains("Yonne (89) : 1.5"));
        assert!(svg.contains("classe 1 :") && svg.contains("pas de donnée"));
        assert!(
            svg.contains("opacity=\"0.35\""),
            "outside the scope: lighter"
        );
    }
}
