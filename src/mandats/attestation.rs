//! Attestations: the printable mandate (or revocation) document, signed.
//!
//! Each attestation stores a canonical JSON payload (structure, aidant, usager's hashed
//! `sub`, sorted démarches, dates, template version) and its Ed25519 signature. The
//! signing key is derived from the server secret; its public part is published at
//! `/verifier/cles` and kept in `attestation_keys`, so an attestation signed before a
//! key change still verifies. The QR code printed on the PDF opens `/verifier/<token>`.

use crate::db::Exec as _;

use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Demarche, display_name};
use crate::db::{Db, Tx};
use crate::journal::{self, Action, NewEntry};
use crate::pdf::{ArtifactKind, MARGIN, Op, PAGE_H, PAGE_W, PdfError, Role, text_op, wrap};
use crate::time_fr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mandat,
    Revocation,
}

impl Kind {
    pub fn key(self) -> &'static str {
        match self {
            Kind::Mandat => "mandat",
            Kind::Revocation => "revocation",
        }
    }
}

/// The server's attestation signing key.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    pub key_id: String,
    pub public_key: String,
}

impl Signer {
    /// Derives the key from the server secret (HMAC-SHA-256 of a fixed label), so
    /// every app server sharing the secret signs with the same key.
    pub fn from_secret(secret: &str) -> Signer {
        let seed: [u8; 32] = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
            Ok(mut mac) => {
                mac.update(b"relais/attestations/ed25519/v1");
                mac.finalize().into_bytes().into()
            }
            Err(_) => Sha256::digest(secret.as_bytes()).into(),
        };
        let key = SigningKey::from_bytes(&seed);
        let public = key.verifying_key().to_bytes();
        let key_id = hex::encode(Sha256::digest(public))
            .get(..16)
            .unwrap_or_default()
            .to_owned();
        Signer {
            key,
            key_id,
            public_key: BASE64URL_NOPAD.encode(&public),
        }
    }

    pub fn sign(&self, payload: &str) -> String {
        BASE64URL_NOPAD.encode(&self.key.sign(payload.as_bytes()).to_bytes())
    }
}

/// Checks a signature with a published public key (both base64url).
pub fn check_signature(public_key: &str, payload: &str, signature: &str) -> bool {
    let Ok(pk) = BASE64URL_NOPAD.decode(public_key.as_bytes()) else {
        return false;
    };
    let Ok(pk): Result<[u8; 32], _> = pk.try_into() else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_bytes(&pk) else {
        return false;
    };
    let Ok(sig) = BASE64URL_NOPAD.decode(signature.as_bytes()) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&sig) else {
        return false;
    };
    vk.verify(payload.as_bytes(), &sig).is_ok()
}

/// What is signed. Field order is fixed by the struct, so the JSON is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub v: u32,
    pub kind: String,
    pub mandat: i64,
    pub autorisation: Option<i64>,
    pub structure: String,
    pub siret: String,
    pub aidant: String,
    pub usager: String,
    pub demarches: Vec<String>,
    pub debut: i64,
    pub fin: i64,
    pub revoque_le: Option<i64>,
    /// Present (true) when the usager revoked from their own space; absent from
    /// every other attestation, so older payloads stay byte for byte the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub par_usager: Option<bool>,
    pub modele: String,
    pub emis_le: i64,
}

/// Writes a signed attestation (and its journal entry) inside `tx`; returns the
/// token of its verification page.
pub async fn issue(
    tx: &mut Tx,
    signer: &Signer,
    kind: Kind,
    mandat_id: i64,
    autorisation_id: Option<i64>,
    account_id: Option<i64>,
    now: i64,
) -> Result<String, crate::db::Error> {
    // The aidant named is who acted, or — when the usager revoked from their
    // space — the aidant of the mandate.
    let m = tx
        .fetch_one(
            "SELECT m.structure_id, m.usager_id, m.created_at, m.expires_at, m.template_version,
                s.name, s.siret, a.full_name, u.sub_hash
         FROM mandats m
         JOIN structures s ON s.id = m.structure_id
         JOIN accounts a ON a.id = CASE WHEN $2 = 0 THEN m.aidant_id ELSE $2 END
         JOIN usagers u ON u.id = m.usager_id
         WHERE m.id = $1",
            crate::args![mandat_id, account_id.unwrap_or(0)],
        )
        .await?;
    let demarches: Vec<String> = {
        let rows = match (kind, autorisation_id) {
            (_, Some(aid)) => {
                tx.fetch_all("SELECT demarche FROM autorisations WHERE id = $1 ORDER BY demarche", crate::args![aid])
                    .await?
            }
            (Kind::Mandat, None) => {
                tx.fetch_all("SELECT demarche FROM autorisations WHERE mandat_id = $1 ORDER BY demarche", crate::args![mandat_id])
                .await?
            }
            (Kind::Revocation, None) => {
                tx.fetch_all("SELECT demarche FROM autorisations WHERE mandat_id = $1 AND revoked_at = $2 ORDER BY demarche", crate::args![mandat_id, now])
                .await?
            }
        };
        rows.iter()
            .map(|r| r.get::<String>("demarche"))
            .collect::<Result<_, _>>()?
    };
    let structure_id: i64 = m.get("structure_id")?;
    let payload = Payload {
        v: 1,
        kind: kind.key().to_owned(),
        mandat: mandat_id,
        autorisation: autorisation_id,
        structure: m.get("name")?,
        siret: m.get("siret")?,
        aidant: m.get("full_name")?,
        usager: m.get("sub_hash")?,
        demarches,
        debut: m.get("created_at")?,
        fin: m.get("expires_at")?,
        revoque_le: (kind == Kind::Revocation).then_some(now),
        par_usager: (kind == Kind::Revocation && account_id.is_none()).then_some(true),
        modele: m.get("template_version")?,
        emis_le: now,
    };
    let text = serde_json::to_string(&payload)
        .map_err(|e| crate::db::Error::Data(format!("attestation : {e}")))?;
    let signature = signer.sign(&text);
    let token = crate::crypto::random_token()
        .get(..32)
        .unwrap_or_default()
        .to_owned();
    tx.execute(
        "INSERT INTO attestation_keys (key_id, public_key, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (key_id) DO NOTHING",
        crate::args![&signer.key_id, &signer.public_key, now],
    )
    .await?;
    let id: i64 = tx.fetch_one("INSERT INTO attestations (token, kind, mandat_id, autorisation_id, payload, signature, key_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id", crate::args![&token, kind.key(), mandat_id, autorisation_id, &text, &signature, &signer.key_id, now])
    .await?
    .get("id")?;
    journal::append(
        tx,
        &{
            let e = NewEntry::new(structure_id, Action::CreationAttestation);
            match account_id {
                Some(a) => e.account(a),
                None => e,
            }
        }
        .usager(m.get("usager_id")?)
        .mandat(mandat_id)
        .details(serde_json::json!({
            "attestation": id,
            "type": kind.key(),
            "signature_sha256": hex::encode(Sha256::digest(signature.as_bytes())),
        })),
        now,
    )
    .await?;
    Ok(token)
}

/// An attestation as stored, with everything needed to print or verify it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: i64,
    pub token: String,
    pub kind: Kind,
    pub structure_id: i64,
    pub mandat_id: i64,
    pub payload_text: String,
    pub payload: Option<Payload>,
    pub signature: String,
    pub key_id: String,
    pub public_key: Option<String>,
}

impl Stored {
    /// Signature valid under the published key, and payload readable.
    pub fn authentic(&self) -> bool {
        self.payload.is_some()
            && self
                .public_key
                .as_deref()
                .is_some_and(|pk| check_signature(pk, &self.payload_text, &self.signature))
    }
}

/// The query of one attestation with the condition `$clause`, which uses `$1`
/// (text) and `$2` (integer).
macro_rules! attestation_where {
    ($clause:literal) => {
        concat!(
            "SELECT t.id, t.token, t.kind, t.mandat_id, m.structure_id, t.payload, t.signature,
                    t.key_id, k.public_key
             FROM attestations t
             JOIN mandats m ON m.id = t.mandat_id
             LEFT JOIN attestation_keys k ON k.key_id = t.key_id
             WHERE ",
            $clause
        )
    };
}

/// Loads one attestation by a query of [`attestation_where!`].
async fn load_where(
    db: &Db,
    sql: &'static str,
    v: &str,
    n: i64,
) -> Result<Option<Stored>, crate::db::Error> {
    let Some(r) = db.fetch_optional(sql, crate::args![v, n]).await? else {
        return Ok(None);
    };
    let payload_text: String = r.get("payload")?;
    let kind: String = r.get("kind")?;
    Ok(Some(Stored {
        id: r.get("id")?,
        token: r.get("token")?,
        kind: if kind == "revocation" {
            Kind::Revocation
        } else {
            Kind::Mandat
        },
        structure_id: r.get("structure_id")?,
        mandat_id: r.get("mandat_id")?,
        payload: serde_json::from_str(&payload_text).ok(),
        payload_text,
        signature: r.get("signature")?,
        key_id: r.get("key_id")?,
        public_key: r.get("public_key")?,
    }))
}

pub async fn by_token(db: &Db, token: &str) -> Result<Option<Stored>, crate::db::Error> {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    load_where(db, attestation_where!("t.token = $1 AND $2 = $2"), token, 0).await
}

/// The latest attestation of a mandate (of a kind), for the structure's pages.
pub async fn latest_for_mandat(
    db: &Db,
    mandat_id: i64,
    kind: Kind,
) -> Result<Option<Stored>, crate::db::Error> {
    load_where(
        db,
        attestation_where!(
            "t.id = (SELECT MAX(id) FROM attestations WHERE kind = $1 AND mandat_id = $2)"
        ),
        kind.key(),
        mandat_id,
    )
    .await
}

/// Published verification keys.
pub async fn public_keys(db: &Db) -> Result<Vec<(String, String)>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT key_id, public_key FROM attestation_keys ORDER BY created_at",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.get("key_id")?, r.get("public_key")?)))
        .collect()
}

// ---------------------------------------------------------------------------
// The printable document

/// Everything printed on an attestation.
#[derive(Debug, Clone)]
pub struct Document {
    pub kind: Kind,
    /// The mandate's number (the revoked mandate's, for a revocation).
    pub mandat_id: i64,
    pub usager_name: String,
    pub usager_birth: String,
    pub structure_name: String,
    pub structure_siret: String,
    pub structure_address: String,
    pub aidant_name: String,
    pub demarches: Vec<Demarche>,
    pub start: i64,
    pub end: i64,
    pub revoked_at: Option<i64>,
    /// The usager revoked it themselves, from their space.
    pub by_usager: bool,
    pub is_remote: bool,
    pub template_version: String,
    pub verify_url: String,
    pub key_id: String,
    pub signature: String,
}

impl Document {
    pub fn title(&self) -> &'static str {
        match self.kind {
            Kind::Mandat => "Attestation de mandat",
            Kind::Revocation => "Attestation de révocation de mandat",
        }
    }

    /// The document as headed sections of paragraphs: what both the PDF and the
    /// HTML print view show, written once here.
    pub fn sections(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        out.push((
            "La personne aidée (mandant)".to_owned(),
            vec![
                self.usager_name.clone(),
                format!("Née ou né le {}", self.usager_birth),
            ],
        ));
        out.push((
            "La structure mandataire".to_owned(),
            vec![
                self.structure_name.clone(),
                format!("SIRET {}", self.structure_siret),
                self.structure_address.clone(),
                format!(
                    "Aidant ou aidante ayant établi ce document : {}",
                    self.aidant_name
                ),
            ],
        ));
        let demarches: Vec<String> = self
            .demarches
            .iter()
            .map(|d| format!("• {} ({})", d.title(), d.examples()))
            .collect();
        match self.kind {
            Kind::Mandat => {
                out.push(("Démarches couvertes par le mandat".to_owned(), demarches));
                out.push((
                    "Durée".to_owned(),
                    vec![format!(
                        "Du {} au {} inclus.",
                        time_fr::date_long(self.start),
                        crate::mandats::last_day_long(self.end)
                    )],
                ));
                let mut text: Vec<String> = mandate_text(&self.template_version)
                    .iter()
                    .map(|p| (*p).to_owned())
                    .collect();
                if self.is_remote {
                    text.push(
                        "Ce mandat a été établi à distance, avec mon accord donné par écrit."
                            .to_owned(),
                    );
                }
                if self.demarches.contains(&Demarche::Argent) {
                    text.push(
                        "Argent : en cas de difficulté à rembourser vos dettes, la Banque de \
                         France peut vous aider gratuitement (procédure de surendettement)."
                            .to_owned(),
                    );
                }
                out.push(("Texte du mandat".to_owned(), text));
            }
            Kind::Revocation => {
                out.push(("Démarches révoquées".to_owned(), demarches));
                out.push((
                    "Révocation".to_owned(),
                    vec![
                        format!(
                            "Mandat établi le {} ; révoqué le {} pour les démarches ci-dessus{}.",
                            time_fr::date_long(self.start),
                            time_fr::date_long(self.revoked_at.unwrap_or(self.start)),
                            if self.by_usager {
                                ", par la personne elle-même depuis son espace Relais"
                            } else {
                                ""
                            }
                        ),
                        "À partir de cette date, la structure ne peut plus agir en votre nom \
                         pour ces démarches."
                            .to_owned(),
                    ],
                ));
            }
        }
        out
    }
}

/// The mandate's legal text, by template version. A mandate is always printed with
/// the text of the version it was signed under: a new text gets a new version
/// ([`super::TEMPLATE_VERSION`]) and a new arm here; old arms are never edited.
pub fn mandate_text(version: &str) -> &'static [&'static str] {
    match version {
        "2026-11" => &[
            "J'autorise la structure ci-dessus, par l'intermédiaire de ses aidants habilités, à \
             réaliser en mon nom et à ma demande les démarches administratives en ligne listées, \
             pendant la durée indiquée.",
            "Je me suis identifié(e) moi-même avec FranceConnect : l'aidant n'a ni vu ni conservé \
             mes mots de passe.",
            "Je peux mettre fin à ce mandat à tout moment, pour une démarche ou pour toutes, en le \
             demandant à la structure. Chaque utilisation du mandat est enregistrée dans un \
             journal que la structure peut me communiquer.",
            "Mes données d'identité sont conservées par la structure pour l'exécution du mandat \
             seulement, et supprimées au plus tard un an après sa fin.",
        ],
        _ => &["Texte du mandat : modèle inconnu de cette version de Relais."],
    }
}

/// Where the body starts (under the running header) and must end (above the
/// footer), as baselines.
const BODY_TOP: f32 = MARGIN + 30.0;
const BODY_BOTTOM: f32 = PAGE_H - 58.0;
/// The footer's baseline.
const FOOTER_Y: f32 = PAGE_H - 30.0;
/// Line height of the body text (10 pt).
const LINE: f32 = 12.5;
/// The signature boxes: 3.2 cm high, room for a handwritten signature.
pub const SIGNATURE_BOX_H: f32 = 90.0;

/// The attestation laid out: each page's groups of drawings, in reading order.
#[derive(Debug)]
struct Laid {
    pages: Vec<Vec<(Role, Vec<Op>)>>,
}

/// A block of the flow before it is placed: drawings relative to its top.
struct Block {
    role: Role,
    ops: Vec<Op>,
    height: f32,
    /// Kept on the same page as the next block (a heading and its first paragraph).
    keep_with_next: bool,
}

fn shift(op: &Op, dy: f32) -> Op {
    match op.clone() {
        Op::Text {
            bold,
            size,
            x,
            y,
            text,
        } => Op::Text {
            bold,
            size,
            x,
            y: y + dy,
            text,
        },
        Op::Rule { x, y, w } => Op::Rule { x, y: y + dy, w },
        Op::Frame { x, y, w, h } => Op::Frame { x, y: y + dy, w, h },
        Op::Qr { x, y, module, data } => Op::Qr {
            data,
            x,
            y: y + dy,
            module,
        },
        Op::Stamp { x, y, stamp } => Op::Stamp {
            x,
            y: y + dy,
            stamp,
        },
    }
}

impl Document {
    /// The running header: who issues the document, and its number.
    pub fn issuer_line(&self) -> String {
        format!("{} — établi avec Relais", self.structure_name)
    }

    pub fn number_line(&self) -> String {
        format!("Mandat n° {}", self.mandat_id)
    }

    /// The two signature boxes: who signs, and their name.
    pub fn signature_boxes(&self) -> [(&'static str, String); 2] {
        [
            ("Signature de la personne aidée", self.usager_name.clone()),
            (
                "Signature de l'aidant ou de l'aidante",
                self.aidant_name.clone(),
            ),
        ]
    }

    /// The blocks of the flow, in reading order.
    fn blocks(&self) -> Vec<Block> {
        let width = PAGE_W - 2.0 * MARGIN;
        let mut blocks = vec![Block {
            role: Role::Title(self.title().to_owned()),
            ops: vec![text_op(true, 18.0, MARGIN, 0.0, self.title())],
            height: 8.0,
            keep_with_next: true,
        }];
        blocks.push(Block {
            role: Role::Artifact(ArtifactKind::Layout),
            ops: vec![Op::Rule {
                x: MARGIN,
                y: 0.0,
                w: width,
            }],
            height: 18.0,
            keep_with_next: true,
        });
        for (heading, paragraphs) in self.sections() {
            blocks.push(Block {
                ops: vec![text_op(true, 12.0, MARGIN, 0.0, &heading)],
                role: Role::Heading(heading),
                height: 16.0,
                keep_with_next: true,
            });
            let last = paragraphs.len().saturating_sub(1);
            for (i, p) in paragraphs.iter().enumerate() {
                let lines = wrap(p, 88);
                let ops = lines
                    .iter()
                    .enumerate()
                    .map(|(n, l)| text_op(false, 10.0, MARGIN, n as f32 * LINE, l))
                    .collect();
                blocks.push(Block {
                    role: Role::Paragraph,
                    ops,
                    height: lines.len() as f32 * LINE + 3.0 + if i == last { 8.0 } else { 0.0 },
                    keep_with_next: false,
                });
            }
        }
        // Signatures: the place and date line, then two boxes side by side, kept
        // together on one page.
        blocks.push(Block {
            role: Role::Heading("Signatures".to_owned()),
            ops: vec![text_op(true, 12.0, MARGIN, 0.0, "Signatures")],
            height: 18.0,
            keep_with_next: true,
        });
        let gap = 20.0;
        let box_w = (width - gap) / 2.0;
        let mut ops = vec![text_op(
            false,
            10.0,
            MARGIN,
            0.0,
            "Fait à ........................................................, le ......................................",
        )];
        for (i, (label, name)) in self.signature_boxes().iter().enumerate() {
            let x = MARGIN + i as f32 * (box_w + gap);
            ops.push(text_op(true, 10.0, x, 22.0, label));
            ops.push(text_op(false, 10.0, x, 34.0, name));
            ops.push(Op::Frame {
                x,
                y: 40.0,
                w: box_w,
                h: SIGNATURE_BOX_H,
            });
        }
        blocks.push(Block {
            role: Role::Paragraph,
            ops,
            height: 40.0 + SIGNATURE_BOX_H + 22.0,
            keep_with_next: false,
        });
        let verify = [
            format!("Scannez le code QR ou ouvrez : {}", self.verify_url),
            format!(
                "Modèle {} ; signature électronique Ed25519, clé {}.",
                self.template_version, self.key_id
            ),
        ];
        blocks.push(Block {
            role: Role::Heading("Vérifier ce document".to_owned()),
            ops: vec![text_op(true, 12.0, MARGIN, 0.0, "Vérifier ce document")],
            height: 16.0,
            keep_with_next: true,
        });
        // The QR code on the left, the link and the key beside it.
        let module = 1.8f32;
        let qr_size = qrcode::QrCode::new(self.verify_url.as_bytes())
            .map(|c| c.width() as f32 * module)
            .unwrap_or(0.0);
        blocks.push(Block {
            role: Role::Figure(format!(
                "Code QR menant à la page de vérification : {}",
                self.verify_url
            )),
            ops: vec![Op::Qr {
                x: MARGIN,
                y: -8.0,
                module,
                data: self.verify_url.clone(),
            }],
            height: 0.0,
            keep_with_next: true,
        });
        let text_x = MARGIN + qr_size + 14.0;
        let mut n = 0.0;
        let mut ops = Vec::new();
        for p in &verify {
            for l in wrap(p, 62) {
                ops.push(text_op(false, 10.0, text_x, n * LINE, &l));
                n += 1.0;
            }
        }
        blocks.push(Block {
            role: Role::Paragraph,
            ops,
            height: (n * LINE).max(qr_size),
            keep_with_next: false,
        });
        blocks
    }

    /// Places the blocks on A4 pages; a block never splits, a heading stays with
    /// what follows it.
    fn layout(&self) -> Laid {
        // Runs of blocks that stay together: up to a block not kept with the next.
        let mut runs: Vec<Vec<Block>> = vec![Vec::new()];
        for b in self.blocks() {
            let keep = b.keep_with_next;
            if let Some(run) = runs.last_mut() {
                run.push(b);
            }
            if !keep {
                runs.push(Vec::new());
            }
        }
        let mut pages: Vec<Vec<(Role, Vec<Op>)>> = vec![Vec::new()];
        let mut y = BODY_TOP;
        for run in runs.iter().filter(|r| !r.is_empty()) {
            let needed: f32 = run.iter().map(|b| b.height).sum();
            // A run taller than a page (never with these texts) starts a page and
            // overflows it rather than looping.
            let page_empty = pages.last().is_none_or(Vec::is_empty);
            if y + needed > BODY_BOTTOM && !page_empty {
                pages.push(Vec::new());
                y = BODY_TOP;
            }
            for b in run {
                let ops = b.ops.iter().map(|op| shift(op, y)).collect();
                if let Some(page) = pages.last_mut() {
                    page.push((b.role.clone(), ops));
                }
                y += b.height;
            }
        }
        let total = pages.len();
        for (n, page) in pages.iter_mut().enumerate() {
            page.insert(
                0,
                (
                    Role::Artifact(ArtifactKind::Header),
                    vec![
                        text_op(false, 9.0, MARGIN, MARGIN, &self.issuer_line()),
                        text_op(
                            false,
                            9.0,
                            PAGE_W - MARGIN - 90.0,
                            MARGIN,
                            &self.number_line(),
                        ),
                    ],
                ),
            );
            page.push((
                Role::Artifact(ArtifactKind::Footer),
                vec![text_op(
                    false,
                    9.0,
                    MARGIN,
                    FOOTER_Y,
                    &format!(
                        "{} — {} — page {} sur {total}",
                        self.title(),
                        self.number_line(),
                        n + 1
                    ),
                )],
            ));
        }
        Laid { pages }
    }
}

/// Renders the attestation as a tagged PDF (A4, DejaVu Sans embedded, PDF/UA):
/// a running header (the issuing structure, « établi avec Relais », the mandate
/// number), headings and paragraphs, two framed signature boxes, the QR code (a
/// figure with its alternative text), and « page n sur N » on every page.
pub fn pdf(doc: &Document) -> Result<Vec<u8>, PdfError> {
    let laid = doc.layout();
    crate::pdf::render(
        &format!("{} — {}", doc.title(), doc.number_line()),
        doc.title(),
        &laid.pages,
        &[],
    )
}

/// Assembles the printable document of a stored attestation.
pub async fn document(
    db: &Db,
    stored: &Stored,
    verify_url: String,
) -> Result<Option<Document>, crate::db::Error> {
    let Some(p) = &stored.payload else {
        return Ok(None);
    };
    let r = db.fetch_optional("SELECT u.given_name, u.family_name, u.preferred_username, u.gender, u.birthdate,
                s.address, m.is_remote
         FROM mandats m JOIN usagers u ON u.id = m.usager_id JOIN structures s ON s.id = m.structure_id
         WHERE m.id = $1", crate::args![stored.mandat_id])
    .await?;
    let Some(r) = r else {
        return Ok(None);
    };
    Ok(Some(Document {
        kind: stored.kind,
        mandat_id: stored.mandat_id,
        usager_name: display_name(
            &r.get::<String>("given_name")?,
            &r.get::<String>("family_name")?,
            &r.get::<String>("preferred_username")?,
            &r.get::<String>("gender")?,
        ),
        usager_birth: super::birthdate_fr(&r.get::<String>("birthdate")?),
        structure_name: p.structure.clone(),
        structure_siret: p.siret.clone(),
        structure_address: r.get("address")?,
        aidant_name: p.aidant.clone(),
        demarches: p
            .demarches
            .iter()
            .filter_map(|d| Demarche::parse(d).ok())
            .collect(),
        start: p.debut,
        end: p.fin,
        revoked_at: p.revoque_le,
        by_usager: p.par_usager == Some(true),
        is_remote: r.get::<i64>("is_remote")? != 0,
        template_version: p.modele.clone(),
        verify_url,
        key_id: stored.key_id.clone(),
        signature: stored.signature.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_tamper() {
        let s = Signer::from_secret("un secret de test assez long pour signer");
        let sig = s.sign("{\"a\":1}");
        assert!(check_signature(&s.public_key, "{\"a\":1}", &sig));
        assert!(!check_signature(&s.public_key, "{\"a\":2}", &sig));
        let other = Signer::from_secret("un autre secret");
        assert_ne!(other.key_id, s.key_id);
        assert!(!check_signature(&other.public_key, "{\"a\":1}", &sig));
    }

    pub(crate) fn sample(kind: Kind) -> Document {
        Document {
            kind,
            mandat_id: 42,
            usager_name: "Angela Claire Louise DUBOIS".into(),
            usager_birth: "24/08/1962".into(),
            structure_name: "Mairie d'Essai".into(),
            structure_siret: "21890024000015".into(),
            structure_address: "2 rue de l'Essai, 89000 Auxerre".into(),
            aidant_name: "Camille Martin".into(),
            demarches: vec![Demarche::Social, Demarche::Argent],
            start: 1_800_000_000,
            end: 1_800_000_000 + 365 * 86_400,
            revoked_at: Some(1_800_100_000),
            by_usager: false,
            is_remote: false,
            template_version: "2026-11".into(),
            verify_url: "http://relais.test/verifier/0123456789abcdef0123456789abcdef".into(),
            key_id: "abcdef0123456789".into(),
            signature: "sig".into(),
        }
    }

    #[test]
    fn the_current_template_has_its_text() {
        assert!(mandate_text(crate::mandats::TEMPLATE_VERSION).len() >= 4);
        assert_eq!(mandate_text("1999-01").len(), 1);
    }

    #[test]
    fn pdf_is_produced_for_both_kinds() {
        for kind in [Kind::Mandat, Kind::Revocation] {
            let bytes = pdf(&sample(kind)).unwrap();
            assert!(bytes.starts_with(b"%PDF-"));
        }
    }

    #[test]
    fn a_long_attestation_runs_over_pages_with_numbers_and_whole_signature_boxes() {
        let short = sample(Kind::Mandat).layout();
        assert_eq!(short.pages.len(), 1);
        let mut long = sample(Kind::Mandat);
        long.demarches = Demarche::ALL.to_vec();
        long.is_remote = true;
        let laid = long.layout();
        assert!(laid.pages.len() >= 2, "{} page(s)", laid.pages.len());
        let texts = |page: &Vec<(Role, Vec<Op>)>| -> Vec<String> {
            page.iter()
                .flat_map(|(_, ops)| ops.iter())
                .filter_map(|op| match op {
                    Op::Text { text, .. } => Some(text.clone()),
                    _ => None,
                })
                .collect()
        };
        let total = laid.pages.len();
        for (n, page) in laid.pages.iter().enumerate() {
            let t = texts(page);
            assert!(t.contains(&"Mairie d'Essai — établi avec Relais".to_owned()));
            assert!(t.contains(&"Mandat n° 42".to_owned()));
            let footer = format!("page {} sur {total}", n + 1);
            assert!(t.iter().any(|l| l.ends_with(&footer)), "{t:?}");
            // Nothing below the footer's line, nothing above the header's.
            for (_, ops) in page {
                for op in ops {
                    if let Op::Text { y, .. } | Op::Frame { y, .. } = op {
                        assert!((MARGIN..=FOOTER_Y).contains(y), "{op:?}");
                    }
                }
            }
        }
        // The two boxes, on one page, with the labels above them, within the page.
        let (page, frames): (usize, Vec<Op>) = laid
            .pages
            .iter()
            .enumerate()
            .find_map(|(n, p)| {
                let f: Vec<Op> = p
                    .iter()
                    .flat_map(|(_, ops)| ops.iter())
                    .filter(|op| matches!(op, Op::Frame { .. }))
                    .cloned()
                    .collect();
                (!f.is_empty()).then_some((n, f))
            })
            .unwrap();
        assert_eq!(frames.len(), 2);
        for f in &frames {
            let Op::Frame { y, h, .. } = f else {
                unreachable!()
            };
            assert!(*h >= SIGNATURE_BOX_H && y + h <= BODY_BOTTOM, "{f:?}");
        }
        let t = texts(&laid.pages[page]);
        assert!(t.contains(&"Signature de la personne aidée".to_owned()));
        assert!(t.contains(&"Signature de l'aidant ou de l'aidante".to_owned()));
        assert!(t.iter().any(|l| l.starts_with("Fait à ....")));
        assert!(pdf(&long).unwrap().starts_with(b"%PDF-"));
    }

    #[test]
    fn wrapping_keeps_words() {
        let lines = wrap("un deux trois quatre cinq six", 10);
        assert_eq!(lines, vec!["un deux", "trois", "quatre", "cinq six"]);
    }
}
