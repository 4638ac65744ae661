//! The printable carnets of an order: a tagged PDF (through [`crate::pdf`]), one
//! A4 page per carnet, each coupon framed with its value, code (in groups), QR code
//! of `/pass/<code>`, validity, funder, restrictions and where to use it.

use super::{Commande, euros};
use crate::db::Db;
use crate::pdf::{ArtifactKind, MARGIN, Op, PAGE_H, PAGE_W, PdfError, Role, text_op, wrap};

/// The coupons of one carnet: (rank, code).
pub struct CarnetCodes {
    pub numero: i64,
    pub codes: Vec<String>,
}

/// Reads the codes of carnets `from..=to` of an order.
pub async fn codes(
    db: &Db,
    commande_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<CarnetCodes>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT k.numero, p.code FROM pass p JOIN pass_carnets k ON k.id = p.carnet_id
             WHERE p.commande_id = $1 AND k.numero BETWEEN $2 AND $3 ORDER BY k.numero, p.rang",
            crate::args![commande_id, from, to],
        )
        .await?;
    let mut out: Vec<CarnetCodes> = Vec::new();
    for r in &rows {
        let n = r.int("numero")?;
        let code = r.text("code")?;
        match out.last_mut() {
            Some(c) if c.numero == n => c.codes.push(code),
            _ => out.push(CarnetCodes {
                numero: n,
                codes: vec![code],
            }),
        }
    }
    Ok(out)
}

fn clip(lines: Vec<String>, max: usize) -> Vec<String> {
    let n = lines.len();
    let mut out: Vec<String> = lines.into_iter().take(max).collect();
    if n > max
        && let Some(last) = out.last_mut()
    {
        last.push_str(" …");
    }
    out
}

/// The carnets as one PDF. `base` is the public address of Relais (the QR codes
/// and the printed « où l'utiliser » lead there).
pub fn pdf(c: &Commande, carnets: &[CarnetCodes], base: &str) -> Result<Vec<u8>, PdfError> {
    const COLS: usize = 2;
    let gap = 10.0;
    let top = MARGIN + 40.0;
    let coupon_w = (PAGE_W - 2.0 * MARGIN - gap) / COLS as f32;
    let coupon_h = 136.0;
    let valeur = euros(c.valeur_centimes);
    let validity = format!(
        "Valable du {} au {}",
        crate::activites::date_fr(c.debut),
        crate::activites::date_fr(c.fin)
    );
    let funder = format!("Financé par {}", c.financeur);
    let territory = clip(
        wrap(&format!("Territoire : {}", c.territoire_label()), 44),
        2,
    );
    let publics = clip(wrap(&format!("Publics : {}", c.publics_label()), 44), 1);
    let services = clip(wrap(&format!("Services : {}", c.services_label()), 44), 2);
    let host = base
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let mut pages = Vec::with_capacity(carnets.len());
    for carnet in carnets {
        let mut page: Vec<(Role, Vec<Op>)> = Vec::with_capacity(carnet.codes.len() * 3 + 2);
        page.push((
            Role::Heading(format!(
                "Carnet n° {} sur {} — commande {}",
                carnet.numero,
                c.carnets,
                c.number()
            )),
            vec![text_op(
                true,
                13.0,
                MARGIN,
                MARGIN + 8.0,
                &format!(
                    "Pass numérique — carnet n° {} sur {} — commande {}",
                    carnet.numero,
                    c.carnets,
                    c.number()
                ),
            )],
        ));
        page.push((
            Role::Paragraph,
            vec![text_op(
                false,
                9.0,
                MARGIN,
                MARGIN + 24.0,
                &format!(
                    "{} pass de {valeur}. Chaque pass se détache et sert une fois, dans un lieu qualifié : {host}/pass",
                    carnet.codes.len()
                ),
            )],
        ));
        for (i, code) in carnet.codes.iter().enumerate() {
            let x = MARGIN + (i % COLS) as f32 * (coupon_w + gap);
            let y = top + (i / COLS) as f32 * (coupon_h + gap);
            let url = format!("{}/pass/{code}", base.trim_end_matches('/'));
            page.push((
                Role::Artifact(ArtifactKind::Layout),
                vec![Op::Frame {
                    x,
                    y,
                    w: coupon_w,
                    h: coupon_h,
                }],
            ));
            let module = 1.5;
            page.push((
                Role::Figure(format!("Code QR du pass {}", super::code::display(code))),
                vec![Op::Qr {
                    x: x + coupon_w - 8.0 - 33.0 * module,
                    y: y + 8.0,
                    module,
                    data: url,
                }],
            ));
            let tx = x + 8.0;
            let mut ops = vec![
                text_op(
                    true,
                    11.0,
                    tx,
                    y + 18.0,
                    &format!("Pass numérique {valeur}"),
                ),
                text_op(
                    false,
                    7.5,
                    tx,
                    y + 30.0,
                    &format!("Pass n° {} du carnet", i + 1),
                ),
                text_op(true, 10.5, tx, y + 46.0, &super::code::display(code)),
                text_op(false, 7.5, tx, y + 62.0, &validity),
                text_op(false, 7.5, tx, y + 72.0, &funder),
            ];
            let mut ly = y + 82.0;
            for l in territory.iter().chain(&publics).chain(&services) {
                ops.push(text_op(false, 7.0, tx, ly, l));
                ly += 9.0;
            }
            ops.push(text_op(
                false,
                7.0,
                tx,
                y + coupon_h - 6.0,
                &format!("Où l'utiliser : scannez le code, ou {host}/pass"),
            ));
            page.push((Role::Paragraph, ops));
        }
        page.push((
            Role::Artifact(ArtifactKind::Footer),
            vec![text_op(
                false,
                8.0,
                MARGIN,
                PAGE_H - 30.0,
                &format!(
                    "{} — {} — carnet {} sur {}",
                    c.financeur,
                    c.number(),
                    carnet.numero,
                    c.carnets
                ),
            )],
        ));
        pages.push(page);
    }
    crate::pdf::render(
        &format!("Carnets de pass numérique — commande {}", c.number()),
        &format!("Commande {}", c.number()),
        &pages,
    )
}
