//! Collections of published resources curated by a structure (for its
//! structure) or by a curator — an administrator or a hub — (national), in the
//! order chosen, shown publicly.

use crate::db::{Db, Exec as _};

#[derive(Debug, Clone)]
pub struct Collection {
    pub id: i64,
    pub titre: String,
    pub description: String,
    pub structure_id: Option<i64>,
    pub structure: Option<String>,
    pub created_by: Option<i64>,
    pub nombre: i64,
}

/// Who may change a collection: its structure's members, or (national ones) its
/// author.
pub fn may_edit(c: &Collection, auteur: super::Auteur) -> bool {
    match c.structure_id {
        Some(s) => auteur.structure_id == Some(s),
        None => auteur.structure_id.is_none() && c.created_by == Some(auteur.account_id),
    }
}

pub async fn create(
    db: &Db,
    auteur: super::Auteur,
    titre: &str,
    description: &str,
    now: i64,
) -> Result<Result<i64, Vec<(&'static str, String)>>, crate::db::Error> {
    let titre = titre.trim();
    let description = description.trim();
    let mut errors = Vec::new();
    if titre.is_empty() || titre.chars().count() > 150 {
        errors.push((
            "titre",
            "Donnez un titre à la collection (150 caractères au plus).".to_owned(),
        ));
    }
    if description.chars().count() > 1_000 {
        errors.push((
            "description",
            "La présentation fait 1 000 caractères au plus.".to_owned(),
        ));
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let id = db
        .fetch_one(
            "INSERT INTO collections (titre, description, structure_id, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            crate::args![titre, description, auteur.structure_id, auteur.account_id, now],
        )
        .await?
        .int("id")?;
    Ok(Ok(id))
}

fn collection(r: &crate::db::Rec) -> Result<Collection, crate::db::Error> {
    Ok(Collection {
        id: r.int("id")?,
        titre: r.text("titre")?,
        description: r.text("description")?,
        structure_id: r.opt_int("structure_id")?,
        structure: r.opt_text("name")?,
        created_by: r.opt_int("created_by")?,
        nombre: r.int("nombre")?,
    })
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Collection>, crate::db::Error> {
    db.fetch_optional(
        "SELECT c.*, s.name,
                (SELECT COUNT(*) FROM collection_ressources cr JOIN ressources r ON r.id = cr.ressource_id
                 WHERE cr.collection_id = c.id AND r.en_ligne = 1) AS nombre
         FROM collections c LEFT JOIN structures s ON s.id = c.structure_id WHERE c.id = $1",
        crate::args![id],
    )
    .await?
    .map(|r| collection(&r))
    .transpose()
}

/// Every collection with at least one published resource (the public list), or
/// every collection of an author (their page).
pub async fn list(
    db: &Db,
    auteur: Option<super::Auteur>,
) -> Result<Vec<Collection>, crate::db::Error> {
    let rows = match auteur {
        None => {
            db.fetch_all(
                "SELECT * FROM (SELECT c.*, s.name,
                        (SELECT COUNT(*) FROM collection_ressources cr JOIN ressources r ON r.id = cr.ressource_id
                         WHERE cr.collection_id = c.id AND r.en_ligne = 1) AS nombre
                 FROM collections c LEFT JOIN structures s ON s.id = c.structure_id) t
                 WHERE nombre > 0 ORDER BY updated_at DESC, id DESC LIMIT 200",
                crate::args![],
            )
            .await?
        }
        Some(a) => {
            db.fetch_all(
                "SELECT c.*, s.name,
                        (SELECT COUNT(*) FROM collection_ressources cr JOIN ressources r ON r.id = cr.ressource_id
                         WHERE cr.collection_id = c.id AND r.en_ligne = 1) AS nombre
                 FROM collections c LEFT JOIN structures s ON s.id = c.structure_id
                 WHERE c.structure_id = $1 OR (c.structure_id IS NULL AND $1 = 0 AND c.created_by = $2)
                 ORDER BY c.updated_at DESC, c.id DESC LIMIT 200",
                crate::args![a.structure_id.unwrap_or(0), a.account_id],
            )
            .await?
        }
    };
    rows.iter().map(collection).collect()
}

/// The published resources of a collection, in order.
pub async fn items(db: &Db, id: i64) -> Result<Vec<super::Publiee>, crate::db::Error> {
    let rows = db
        .fetch_all(
            concat!(
                "SELECT ",
                publiee_columns!(),
                " FROM collection_ressources cr
             JOIN ressources r ON r.id = cr.ressource_id
             LEFT JOIN structures s ON s.id = r.structure_id
             WHERE cr.collection_id = $1 AND r.en_ligne = 1 ORDER BY cr.position, r.id LIMIT 500"
            ),
            crate::args![id],
        )
        .await?;
    rows.iter().map(super::publiee).collect()
}

/// Adds a published resource at the end, or removes one.
pub async fn set_item(
    db: &Db,
    id: i64,
    ressource_id: i64,
    present: bool,
    now: i64,
) -> Result<Result<(), &'static str>, crate::db::Error> {
    let mut tx = db.begin().await?;
    if present {
        let online = tx
            .fetch_optional(
                "SELECT en_ligne FROM ressources WHERE id = $1",
                crate::args![ressource_id],
            )
            .await?
            .is_some_and(|r| r.int("en_ligne").is_ok_and(|e| e == 1));
        if !online {
            return Ok(Err(
                "Seule une ressource publiée peut entrer dans une collection : vérifiez son numéro.",
            ));
        }
        let next = tx
            .fetch_one(
                "SELECT COALESCE(MAX(position), 0) + 1 AS p FROM collection_ressources WHERE collection_id = $1",
                crate::args![id],
            )
            .await?
            .int("p")?;
        if next > 500 {
            return Ok(Err("Une collection contient 500 ressources au plus."));
        }
        tx.execute(
            "INSERT INTO collection_ressources (collection_id, ressource_id, position)
             VALUES ($1, $2, $3) ON CONFLICT (collection_id, ressource_id) DO NOTHING",
            crate::args![id, ressource_id, next],
        )
        .await?;
    } else {
        tx.execute(
            "DELETE FROM collection_ressources WHERE collection_id = $1 AND ressource_id = $2",
            crate::args![id, ressource_id],
        )
        .await?;
    }
    tx.execute(
        "UPDATE collections SET updated_at = $1 WHERE id = $2",
        crate::args![now, id],
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}
