//! Attestations: the printable mandate (or revocation) document, signed.
//!
//! Each attestation stores a canonical JSON payload (structure, aidant, usager's hashed
//! `sub`, sorted démarches, dates, template version) and its Ed25519 signature. The
//! signing key is derived from the server secret; its public part is published at
//! `/verifier/cles` and kept in `attestation_keys`, so an attestation signed before a
//! key change still verifies. The QR code printed on the PDF opens `/verifier/<token>`.

use crate::db::Exec as _;
use std::num::NonZeroU16;
use std::sync::LazyLock;

use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Demarche, display_name};
use crate::db::{Db, Tx};
use crate::journal::{self, Action, NewEntry};
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
    account_id: i64,
    now: i64,
) -> Result<String, crate::db::Error> {
    let m = tx
        .fetch_one(
            "SELECT m.structure_id, m.usager_id, m.created_at, m.expires_at, m.template_version,
                s.name, s.siret, a.full_name, u.sub_hash
         FROM mandats m
         JOIN structures s ON s.id = m.structure_id
         JOIN accounts a ON a.id = $2
         JOIN usagers u ON u.id = m.usager_id
         WHERE m.id = $1",
            crate::args![mandat_id, account_id],
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
        &NewEntry::new(structure_id, Action::CreationAttestation)
            .account(account_id)
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
                            "Mandat établi le {} ; révoqué le {} pour les démarches ci-dessus.",
                            time_fr::date_long(self.start),
                            time_fr::date_long(self.revoked_at.unwrap_or(self.start))
                        ),
                        "À partir de cette date, la structure ne peut plus agir en votre nom \
                         pour ces démarches."
                            .to_owned(),
                    ],
                ));
            }
        }
        out.push((
            "Signatures".to_owned(),
            vec![
                "Fait à ............................................, le ..................."
                    .to_owned(),
                "Signature de la personne aidée :                 Signature de l'aidant(e) :"
                    .to_owned(),
            ],
        ));
        out.push((
            "Vérifier ce document".to_owned(),
            vec![
                format!("Scannez le code QR ou ouvrez : {}", self.verify_url),
                format!(
                    "Modèle {} ; signature électronique Ed25519, clé {}.",
                    self.template_version, self.key_id
                ),
            ],
        ));
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

/// Renders the attestation as a tagged PDF (A4, DejaVu Sans embedded): headings,
/// paragraphs and the QR code (a figure with its alternative text) in the tag tree.
pub fn pdf(doc: &Document) -> Result<Vec<u8>, PdfError> {
    use krilla::color::rgb;
    use krilla::geom::{PathBuilder, Point, Rect};
    use krilla::metadata::Metadata;
    use krilla::page::PageSettings;
    use krilla::paint::Fill;
    use krilla::surface::Surface;
    use krilla::tagging::{ArtifactType, ContentTag, SpanTag, Tag, TagGroup, TagTree};
    use krilla::text::TextDirection;

    const W: f32 = 595.0;
    const H: f32 = 842.0;
    const MARGIN: f32 = 50.0;

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
            .title(doc.title().to_owned())
            .language("fr-FR".to_owned())
            .creator("Relais".to_owned()),
    );
    let mut tree = TagTree::new();
    let mut page = document.start_page_with(
        PageSettings::from_wh(W, H).ok_or_else(|| PdfError::Krilla("format de page".into()))?,
    );
    let mut surface = page.surface();
    let mut y = MARGIN + 10.0;

    fn line(
        surface: &mut Surface<'_>,
        group: &mut TagGroup,
        font: &krilla::text::Font,
        size: f32,
        x: f32,
        y: f32,
        text: &str,
    ) {
        let id = surface.start_tagged(ContentTag::Span(SpanTag::empty()));
        surface.draw_text(
            Point::from_xy(x, y),
            font.clone(),
            size,
            text,
            false,
            TextDirection::Auto,
        );
        surface.end_tagged();
        group.push(id);
    }

    let mut h1 = TagGroup::new(Tag::Hn(NonZeroU16::MIN, Some(doc.title().to_owned())));
    line(&mut surface, &mut h1, &bold, 18.0, MARGIN, y, doc.title());
    tree.push(h1);
    y += 10.0;
    // A rule under the title: decoration only.
    surface.start_tagged(ContentTag::Artifact(krilla::tagging::Artifact::new(
        ArtifactType::Other,
        None,
    )));
    let mut pb = PathBuilder::new();
    if let Some(r) = Rect::from_xywh(MARGIN, y, W - 2.0 * MARGIN, 1.0) {
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
    surface.end_tagged();
    y += 22.0;

    let h2_level = NonZeroU16::new(2).unwrap_or(NonZeroU16::MIN);
    let mut outline_root = krilla::outline::OutlineNode::new(
        doc.title().to_owned(),
        krilla::destination::XyzDestination::new(0, Point::from_xy(0.0, 0.0)),
    );
    for (heading, paragraphs) in doc.sections() {
        outline_root.push_child(krilla::outline::OutlineNode::new(
            heading.clone(),
            krilla::destination::XyzDestination::new(0, Point::from_xy(0.0, y - 12.0)),
        ));
        let mut h2 = TagGroup::new(Tag::Hn(h2_level, Some(heading.clone())));
        line(&mut surface, &mut h2, &bold, 12.0, MARGIN, y, &heading);
        tree.push(h2);
        y += 16.0;
        for p in paragraphs {
            let mut group = TagGroup::new(Tag::P);
            for l in wrap(&p, 88) {
                line(&mut surface, &mut group, &regular, 10.0, MARGIN, y, &l);
                y += 13.0;
            }
            tree.push(group);
            y += 3.0;
        }
        y += 8.0;
    }

    // The QR code, bottom right, as a figure with its alternative text.
    if let Ok(code) = qrcode::QrCode::new(doc.verify_url.as_bytes()) {
        let n = code.width();
        let module = 2.2f32;
        let size = module * n as f32;
        let x0 = W - MARGIN - size;
        let y0 = (H - MARGIN - size).max(y);
        let mut pb = PathBuilder::new();
        for (i, c) in code.to_colors().iter().enumerate() {
            if *c == qrcode::Color::Dark {
                let (cx, cy) = ((i % n) as f32, (i / n) as f32);
                if let Some(r) = Rect::from_xywh(x0 + cx * module, y0 + cy * module, module, module)
                {
                    pb.push_rect(r);
                }
            }
        }
        let mut figure = TagGroup::new(Tag::Figure(Some(format!(
            "Code QR menant à la page de vérification : {}",
            doc.verify_url
        ))));
        let id = surface.start_tagged(ContentTag::Other);
        if let Some(p) = pb.finish() {
            surface.set_fill(Some(Fill::default()));
            surface.draw_path(&p);
        }
        surface.end_tagged();
        figure.push(id);
        tree.push(figure);
    }
    surface.finish();
    page.finish();
    let mut outline = krilla::outline::Outline::new();
    outline.push_child(outline_root.with_open(true));
    document.set_outline(outline);
    document.set_tag_tree(tree);
    document
        .finish()
        .map_err(|e| PdfError::Krilla(format!("{e:?}")))
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
    fn wrapping_keeps_words() {
        let lines = wrap("un deux trois quatre cinq six", 10);
        assert_eq!(lines, vec!["un deux", "trois", "quatre", "cinq six"]);
    }
}
