//! Relais structures hosted at a place (`structures.lieu_accueil_id`): a place shows
//! whether Aidants Connect aidants work there.

use std::collections::HashMap;

use crate::db::Db;
use crate::db::exec::Exec;

/// A structure at a place, with its active aidants (activated accounts, membership
/// not deactivated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosted {
    pub structure_id: i64,
    pub name: String,
    pub aidants: i64,
}

const HOSTED: &str = "SELECT s.id, s.name,
        (SELECT COUNT(*) FROM memberships m JOIN accounts a ON a.id = m.account_id
          WHERE m.structure_id = s.id AND m.deactivated_at IS NULL AND m.role IN ('aidant', 'referent')
            AND a.disabled_at IS NULL AND a.totp_secret IS NOT NULL) AS aidants
     FROM structures s WHERE s.lieu_accueil_id = $1 ORDER BY s.name, s.id";

/// The structures at one place.
pub async fn hosted(db: &Db, lieu: i64) -> Result<Vec<Hosted>, crate::db::Error> {
    db.conn()
        .await?
        .fetch_all(HOSTED, crate::args![lieu])
        .await?
        .iter()
        .map(|r| {
            Ok(Hosted {
                structure_id: r.int("id")?,
                name: r.text("name")?,
                aidants: r.int("aidants")?,
            })
        })
        .collect()
}

/// Active Aidants Connect aidants per place, for a page of places.
pub async fn aidants_by_place(
    db: &Db,
    lieux: &[i64],
) -> Result<HashMap<i64, i64>, crate::db::Error> {
    let mut conn = db.conn().await?;
    let mut out = HashMap::new();
    for id in lieux {
        let n: i64 = conn
            .fetch_all(HOSTED, crate::args![*id])
            .await?
            .iter()
            .map(|r| r.int("aidants"))
            .sum::<Result<i64, _>>()?;
        if n > 0 {
            out.insert(*id, n);
        }
    }
    Ok(out)
}

/// Why a link was refused.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("Aucune structure Relais n'a ce SIRET. Vérifiez les 14 chiffres.")]
    UnknownStructure,
    #[error("Ce lieu n'existe plus.")]
    UnknownPlace,
    #[error(transparent)]
    Db(#[from] crate::db::Error),
}

/// Links the structure with this SIRET to a place (a structure is at one place;
/// linking it elsewhere moves it). Returns the structure's id.
pub async fn link(db: &Db, lieu: i64, siret: &str, by: i64, now: i64) -> Result<i64, LinkError> {
    let siret: String = siret.chars().filter(char::is_ascii_digit).collect();
    let mut tx = db.begin().await?;
    if tx
        .fetch_optional("SELECT id FROM lieux WHERE id = $1", crate::args![lieu])
        .await?
        .is_none()
    {
        return Err(LinkError::UnknownPlace);
    }
    let Some(s) = tx
        .fetch_optional(
            "SELECT id FROM structures WHERE siret = $1",
            crate::args![siret.as_str()],
        )
        .await?
    else {
        return Err(LinkError::UnknownStructure);
    };
    let sid = s.int("id")?;
    tx.execute(
        "UPDATE structures SET lieu_accueil_id = $1 WHERE id = $2",
        crate::args![lieu, sid],
    )
    .await?;
    journal_change(&mut tx, lieu, sid, true, by, now).await?;
    tx.commit().await?;
    Ok(sid)
}

async fn journal_change(
    tx: &mut crate::db::Tx,
    lieu: i64,
    structure_id: i64,
    linked: bool,
    by: i64,
    now: i64,
) -> Result<(), crate::db::Error> {
    crate::journal::append(
        tx,
        &crate::journal::NewEntry::new(
            crate::journal::ADMIN_CHAIN,
            crate::journal::Action::LieuAccueilModifie,
        )
        .account(by)
        .details(
            serde_json::json!({ "lieu": lieu, "structure": structure_id, "rattachee": linked }),
        ),
        now,
    )
    .await
    .map(|_| ())
}

/// Detaches a structure from a place; false when it was not there.
pub async fn unlink(
    db: &Db,
    lieu: i64,
    structure_id: i64,
    by: i64,
    now: i64,
) -> Result<bool, crate::db::Error> {
    let mut tx = db.begin().await?;
    let done = tx
        .execute(
            "UPDATE structures SET lieu_accueil_id = NULL WHERE id = $1 AND lieu_accueil_id = $2",
            crate::args![structure_id, lieu],
        )
        .await?;
    if done != 1 {
        return Ok(false);
    }
    journal_change(&mut tx, lieu, structure_id, false, by, now).await?;
    tx.commit().await?;
    Ok(true)
}
