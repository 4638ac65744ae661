//! A resource's attachments: PDF documents and images (PNG, JPEG), 5 MB each and
//! 10 per resource, recognised by their first bytes (never by the name or the
//! browser's word), stored in the database (every server of a cluster serves
//! them) and served with their exact type, `nosniff` and a sandboxing content
//! policy.

use crate::db::{Db, Exec as _};

pub const MAX_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_PER_RESSOURCE: i64 = 10;

/// The type of a file from its first bytes, if it is one we accept.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// A file name as shown and sent back: its last path segment, without control
/// characters, quotes or separators, 100 characters at most.
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';' | '<' | '>'))
        .take(100)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "fichier".to_owned()
    } else {
        cleaned
    }
}

/// Checks and stores an attachment; `Ok(Err(message))` when refused (nothing
/// stored).
pub async fn add(
    db: &Db,
    ressource_id: i64,
    name: &str,
    data: &[u8],
    now: i64,
) -> Result<Result<i64, String>, crate::db::Error> {
    if data.is_empty() {
        return Ok(Err("Choisissez un fichier.".into()));
    }
    if data.len() > MAX_BYTES {
        return Ok(Err(format!(
            "Ce fichier fait {} Mo : 5 Mo au plus. Réduisez-le (images plus petites, PDF compressé).",
            data.len().div_ceil(1024 * 1024)
        )));
    }
    let Some(mime) = sniff(data) else {
        return Ok(Err(
            "Seuls les PDF et les images PNG ou JPEG sont acceptés : ce fichier n'en est pas un (son contenu a été vérifié, pas seulement son nom).".into(),
        ));
    };
    let mut tx = db.begin().await?;
    let n = tx
        .fetch_one(
            "SELECT COUNT(*) AS n FROM ressource_fichiers WHERE ressource_id = $1",
            crate::args![ressource_id],
        )
        .await?
        .int("n")?;
    if n >= MAX_PER_RESSOURCE {
        return Ok(Err(format!(
            "{MAX_PER_RESSOURCE} fichiers au plus par ressource : supprimez-en un d'abord."
        )));
    }
    let id = tx
        .fetch_one(
            "INSERT INTO ressource_fichiers (ressource_id, nom, type_mime, taille, sha256, contenu, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            crate::args![
                ressource_id,
                clean_name(name),
                mime,
                data.len() as i64,
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data)),
                data,
                now
            ],
        )
        .await?
        .int("id")?;
    tx.execute(
        "UPDATE ressources SET updated_at = $1 WHERE id = $2",
        crate::args![now, ressource_id],
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// An attachment without its content (lists).
#[derive(Debug, Clone)]
pub struct Fichier {
    pub id: i64,
    pub nom: String,
    pub type_mime: String,
    pub taille: i64,
}

impl Fichier {
    pub fn is_image(&self) -> bool {
        self.type_mime.starts_with("image/")
    }
    /// `PDF, 240 ko`.
    pub fn description(&self) -> String {
        let kind = match self.type_mime.as_str() {
            "application/pdf" => "PDF",
            "image/png" => "image PNG",
            _ => "image JPEG",
        };
        let size = if self.taille >= 1024 * 1024 {
            format!("{:.1} Mo", self.taille as f64 / 1_048_576.0).replace('.', ",")
        } else {
            format!("{} ko", (self.taille + 1023) / 1024)
        };
        format!("{kind}, {size}")
    }
}

pub async fn list(db: &Db, ressource_id: i64) -> Result<Vec<Fichier>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT id, nom, type_mime, taille FROM ressource_fichiers
             WHERE ressource_id = $1 ORDER BY id",
            crate::args![ressource_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Fichier {
                id: r.int("id")?,
                nom: r.text("nom")?,
                type_mime: r.text("type_mime")?,
                taille: r.int("taille")?,
            })
        })
        .collect()
}

/// One attachment with its content.
pub async fn get(
    db: &Db,
    ressource_id: i64,
    id: i64,
) -> Result<Option<(Fichier, Vec<u8>)>, crate::db::Error> {
    let row = db
        .fetch_optional(
            "SELECT id, nom, type_mime, taille, contenu FROM ressource_fichiers
             WHERE id = $1 AND ressource_id = $2",
            crate::args![id, ressource_id],
        )
        .await?;
    row.map(|r| {
        Ok((
            Fichier {
                id: r.int("id")?,
                nom: r.text("nom")?,
                type_mime: r.text("type_mime")?,
                taille: r.int("taille")?,
            },
            r.get::<Vec<u8>>("contenu")?,
        ))
    })
    .transpose()
}

pub async fn delete(db: &Db, ressource_id: i64, id: i64) -> Result<bool, crate::db::Error> {
    Ok(db
        .execute(
            "DELETE FROM ressource_fichiers WHERE id = $1 AND ressource_id = $2",
            crate::args![id, ressource_id],
        )
        .await?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_known_by_their_content_and_names_are_cleaned() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"<svg onload=alert(1)>"), None);
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b"MZ\x90\x00"), None);
        assert_eq!(
            clean_name("C:\\Users\\x\\guide \"final\".pdf"),
            "guide final.pdf"
        );
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name(".htaccess"), "htaccess");
        assert_eq!(clean_name("\u{0}"), "fichier");
    }
}
