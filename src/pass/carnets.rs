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
///
/// What every coupon repeats (value, validity, funder, restrictions, where to use
/// it, the frame) is one stamp written once in the file; the tagged text says it
/// once per carnet, then each coupon's number and code, and its QR code as a
/// figure.
pub fn pdf(c: &Commande, carnets: &[CarnetCodes], base: &str) -> Result<Vec<u8>, PdfError> {
    const COLS: usize = 2;
    let gap = 10.0;
    let top = MARGIN + 62.0;
    let coupon_w = (PAGE_W - 2.0 * MARGIN - gap) / COLS as f32;
    let coupon_h = 126.0;
    let valeur = euros(c.valeur_centimes);
    let validity = format!(
        "Valable du {} au {}",
        crate::activites::date_fr(c.debut),
        crate::activites::date_fr(c.fin)
    );
    let funder = format!("Financé par {}", c.financeur);
    let host = base
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let where_to = format!("Où l'utiliser : scannez le code, ou {host}/pass");
    // The stamp: coordinates from the coupon's top left corner.
    let mut stamp = vec![
        Op::Frame {
            x: 0.0,
            y: 0.0,
            w: coupon_w,
            h: coupon_h,
        },
        text_op(true, 11.0, 8.0, 18.0, &format!("Pass numérique {valeur}")),
        text_op(false, 7.5, 8.0, 62.0, &validity),
        text_op(false, 7.5, 8.0, 72.0, &funder),
    ];
    let mut ly = 82.0;
    for l in clip(
        wrap(&format!("Territoire : {}", c.territoire_label()), 44),
        2,
    )
    .iter()
    .chain(&clip(
        wrap(&format!("Publics : {}", c.publics_label()), 44),
        1,
    ))
    .chain(&clip(
        wrap(&format!("Services : {}", c.services_label()), 44),
        2,
    )) {
        stamp.push(text_op(false, 7.0, 8.0, ly, l));
        ly += 9.0;
    }
    stamp.push(text_op(false, 7.0, 8.0, coupon_h - 6.0, &where_to));
    // The conditions, said once per carnet in the tagged text.
    let conditions = clip(
        wrap(
            &format!(
                "Chaque pass vaut {valeur} et sert une fois, dans un lieu qualifié. {validity}. {funder}. Territoire : {}. Publics : {}. Services : {}.",
                c.territoire_label(),
                c.publics_label(),
                c.services_label()
            ),
            110,
        ),
        3,
    );
    let mut pages = Vec::with_capacity(carnets.len());
    for carnet in carnets {
        let mut page: Vec<(Role, Vec<Op>)> = Vec::with_capacity(carnet.codes.len() * 3 + 3);
        let heading = format!(
            "Pass numérique — carnet n° {} sur {} — commande {}",
            carnet.numero,
            c.carnets,
            c.number()
        );
        page.push((
            Role::Heading(heading.clone()),
            vec![text_op(true, 13.0, MARGIN, MARGIN + 8.0, &heading)],
        ));
        let mut ops: Vec<Op> = conditions
            .iter()
            .enumerate()
            .map(|(i, l)| text_op(false, 8.0, MARGIN, MARGIN + 24.0 + 10.0 * i as f32, l))
            .collect();
        ops.push(text_op(
            false,
            8.0,
            MARGIN,
            MARGIN + 24.0 + 10.0 * conditions.len() as f32,
            &where_to,
        ));
        page.push((Role::Paragraph, ops));
        for (i, code) in carnet.codes.iter().enumerate() {
            let x = MARGIN + (i % COLS) as f32 * (coupon_w + gap);
            let y = top + (i / COLS) as f32 * (coupon_h + gap);
            let shown = super::code::display(code);
            page.push((
                Role::Artifact(ArtifactKind::Layout),
                vec![Op::Stamp { x, y, stamp: 0 }],
            ));
            let module = 1.5;
            page.push((
                Role::Figure(format!("Code QR du pass {shown}")),
                vec![Op::Qr {
                    x: x + coupon_w - 8.0 - 33.0 * module,
                    y: y + 8.0,
                    module,
                    data: format!("{}/pass/{code}", base.trim_end_matches('/')),
                }],
            ));
            page.push((
                Role::Paragraph,
                vec![
                    text_op(
                        false,
                        7.5,
                        x + 8.0,
                        y + 30.0,
                        &format!("Pass n° {} du carnet", i + 1),
                    ),
                    text_op(true, 10.5, x + 8.0, y + 46.0, &shown),
                ],
            ));
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
        &[stamp],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commande() -> Commande {
        Commande {
            id: 7,
            financeur_id: 1,
            financeur: "Conseil départemental de l'Yonne".into(),
            carnets: 20,
            pass_par_carnet: 10,
            valeur_centimes: 1_000,
            territoire_type: "departements".into(),
            territoire: vec!["89".into()],
            debut: 20_270_101,
            fin: 20_271_231,
            publics: vec!["seniors".into()],
            services: Vec::new(),
            created_at: 0,
            paiement_le: Some(0),
            paiement_reference: String::new(),
            alerte_le: None,
            blocage_le: None,
            rappel_le: None,
            accuse_le: None,
            bilan_le: None,
            bilan_financeur_le: None,
            bilan_operateur_le: None,
            avoir_centimes: None,
            avoir_le: None,
        }
    }

    #[test]
    fn carnets_print_light() {
        let c = commande();
        let carnets: Vec<CarnetCodes> = (1..=20)
            .map(|n| CarnetCodes {
                numero: n,
                codes: (0..10).map(|_| super::super::code::generate()).collect(),
            })
            .collect();
        let pdf = pdf(&c, &carnets, "https://relais.example.fr").unwrap();
        if let Ok(path) = std::env::var("RELAIS_CARNETS_PDF") {
            std::fs::write(path, &pdf).unwrap();
        }
        // About 13 kB a carnet (the QR codes as bitmaps, the repeated lines shaped
        // once): 100,000 pass stay a file a printer takes.
        assert!(pdf.len() < 20 * 20_000, "{} octets", pdf.len());
    }
}
