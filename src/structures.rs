//! Structures: the employers of aidants (mairie, CCAS, France Services, association…).

use crate::db::Db;
use crate::db::Exec as _;
use crate::domain::{InseeCode, Siret, StructureKind};

#[derive(Debug, Clone)]
pub struct Structure {
    pub id: i64,
    pub name: String,
    pub siret: String,
    pub address: String,
    pub commune_insee: String,
    pub kind: String,
    pub is_demo: bool,
}

impl Structure {
    fn from_row(r: &crate::db::Rec) -> Result<Self, crate::db::Error> {
        Ok(Structure {
            id: r.get("id")?,
            name: r.get("name")?,
            siret: r.get("siret")?,
            address: r.get("address")?,
            commune_insee: r.get("commune_insee")?,
            kind: r.get("kind")?,
            is_demo: r.get::<i64>("is_demo")? != 0,
        })
    }
    /// The structure of a session, from the columns the session read joins
    /// (`sessions::load`); `id` is the session's structure.
    pub(crate) fn from_session_row(id: i64, r: &crate::db::Rec) -> Result<Self, crate::db::Error> {
        Ok(Structure {
            id,
            name: r.get("name")?,
            siret: r.get("siret")?,
            address: r.get("address")?,
            commune_insee: r.get("commune_insee")?,
            kind: r.get("kind")?,
            is_demo: r.get::<i64>("is_demo")? != 0,
        })
    }

    pub fn kind_label(&self) -> &'static str {
        StructureKind::parse(&self.kind)
            .map(StructureKind::label)
            .unwrap_or("Autre")
    }
}

/// A structure's details, parsed.
pub struct NewStructure {
    pub name: String,
    pub siret: Siret,
    pub address: String,
    pub commune_insee: InseeCode,
    pub kind: StructureKind,
    pub is_demo: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StructureError {
    #[error("une structure avec ce SIRET existe déjà")]
    DuplicateSiret(i64),
    #[error(transparent)]
    Db(#[from] crate::db::Error),
}

pub async fn create(db: &Db, s: &NewStructure, now: i64) -> Result<i64, StructureError> {
    let mut tx = db.begin().await?;
    let id = create_in(&mut tx, s, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// An administrator creates a structure by hand: journaled on the administration
/// chain in the same transaction.
pub async fn create_by(
    db: &Db,
    s: &NewStructure,
    admin: i64,
    now: i64,
) -> Result<i64, StructureError> {
    let mut tx = db.begin().await?;
    let id = create_in(&mut tx, s, now).await?;
    crate::journal::append(
        &mut tx,
        &crate::journal::NewEntry::new(
            crate::journal::ADMIN_CHAIN,
            crate::journal::Action::CreationStructure,
        )
        .account(admin)
        .details(serde_json::json!({ "structure": id, "siret": s.siret.as_str() })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn create_in(
    tx: &mut crate::db::Tx,
    s: &NewStructure,
    now: i64,
) -> Result<i64, StructureError> {
    if let Some(row) = tx
        .fetch_optional(
            "SELECT id FROM structures WHERE siret = $1",
            crate::args![s.siret.as_str()],
        )
        .await?
    {
        return Err(StructureError::DuplicateSiret(row.get("id")?));
    }
    let id: i64 = tx.fetch_one("INSERT INTO structures (name, siret, address, commune_insee, kind, is_demo, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", crate::args![&s.name, s.siret.as_str(), &s.address, s.commune_insee.as_str(), s.kind.key(), i64::from(s.is_demo), now])
    .await?
    .get("id")?;
    Ok(id)
}

/// The columns [`Structure::from_row`] reads, for `concat!`.
macro_rules! columns {
    () => {
        "id, name, siret, address, commune_insee, kind, is_demo"
    };
}

pub async fn find(db: &Db, id: i64) -> Result<Option<Structure>, crate::db::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM structures WHERE id = $1");
    db.fetch_optional(sql, crate::args![id])
        .await?
        .map(|r| Structure::from_row(&r))
        .transpose()
}

pub async fn find_by_siret(db: &Db, siret: &Siret) -> Result<Option<Structure>, crate::db::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM structures WHERE siret = $1");
    db.fetch_optional(sql, crate::args![siret.as_str()])
        .await?
        .map(|r| Structure::from_row(&r))
        .transpose()
}

/// A structure in the administrators' list, with its head counts.
#[derive(Debug, Clone)]
pub struct StructureSummary {
    pub structure: Structure,
    pub referents: i64,
    pub aidants: i64,
}

/// Structures whose name, SIRET or commune code contains `search`.
pub async fn search(
    db: &Db,
    search: &str,
    limit: i64,
) -> Result<Vec<StructureSummary>, crate::db::Error> {
    let pattern = format!("%{}%", search.trim().to_lowercase().replace(['%', '_'], ""));
    let sql = concat!(
        "SELECT ",
        columns!(),
        ", (SELECT COUNT(*) FROM memberships m WHERE m.structure_id = s.id AND m.role = 'referent' AND m.deactivated_at IS NULL) AS referents,
            (SELECT COUNT(*) FROM memberships m WHERE m.structure_id = s.id AND m.role = 'aidant' AND m.deactivated_at IS NULL) AS aidants
         FROM structures s
         WHERE LOWER(s.name) LIKE $1 OR s.siret LIKE $1 OR LOWER(s.commune_insee) LIKE $1
         ORDER BY s.name, s.id LIMIT $2"
    );
    let rows = db.fetch_all(sql, crate::args![pattern, limit]).await?;
    rows.iter()
        .map(|r| {
            Ok(StructureSummary {
                structure: Structure::from_row(r)?,
                referents: r.get("referents")?,
                aidants: r.get("aidants")?,
            })
        })
        .collect()
}

/// A structure's activity in one month (Paris time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthActivity {
    /// « novembre 2026 ».
    pub month: String,
    pub mandats: i64,
    /// Logins into online services for usagers (uses of autorisations).
    pub uses: i64,
}

/// The last `months` months of activity, the current one first.
pub async fn activity(
    db: &Db,
    structure_id: i64,
    now: i64,
    months: u32,
) -> Result<Vec<MonthActivity>, crate::db::Error> {
    use crate::db::exec::Exec;
    let l = crate::time_fr::local(now);
    let (mut y, mut m) = (l.year, l.month);
    let start_of = |y: i64, m: u32| crate::time_fr::parse_date(&format!("{y:04}-{m:02}-01"));
    let mut end = now + 1;
    let mut out = Vec::new();
    let mut conn = db.conn().await?;
    for _ in 0..months {
        let Some(start) = start_of(y, m) else { break };
        let count = |r: Option<crate::db::exec::Rec>| r.map_or(Ok(0), |r| r.int("n"));
        let mandats = count(
            conn.fetch_optional(
                "SELECT COUNT(*) AS n FROM mandats WHERE structure_id = $1 AND created_at >= $2 AND created_at < $3",
                crate::args![structure_id, start, end],
            )
            .await?,
        )?;
        let uses = count(
            conn.fetch_optional(
                "SELECT COUNT(*) AS n FROM journal WHERE chain = $1 AND action = $2 AND at >= $3 AND at < $4",
                crate::args![
                    structure_id,
                    crate::journal::Action::UtilisationAutorisation.key(),
                    start,
                    end
                ],
            )
            .await?,
        )?;
        out.push(MonthActivity {
            month: crate::time_fr::date_long(start)
                .trim_start_matches("1er ")
                .to_owned(),
            mandats,
            uses,
        });
        end = start;
        (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    }
    Ok(out)
}
