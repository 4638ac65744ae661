//! The national directory of digital-mediation places (lieux de médiation numérique),
//! in the open-data standard v1.0.2 ([`schema`]).
//!
//! - [`read_csv`] / [`read_json`]: files of the standard (CSV comma-separated with `|`
//!   multi-values, also `;`-separated files from spreadsheets and older `;`
//!   multi-values; JSON arrays), into records in the schema's field order.
//! - [`import`]: every row checked against the schema; by default a file with any
//!   bad row imports nothing (every error reported with line, field and reason);
//!   with `partial`, the valid rows are imported. One file is one transaction; rows
//!   are upserted by (source, id), so importing the same file twice changes nothing.
//! - [`export_csv`] / [`export_json`]: exactly the standard's columns and order.

pub mod accueil;
pub mod hours;
pub mod index;
pub mod legacy;
pub mod schema;
pub mod search;

use std::collections::HashMap;

use serde_json::Value;
use sqlx::Row;

use crate::db::Db;
use schema::Schema;

/// One place, its values in the schema's field order.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Line (CSV, header = 1) or position (JSON, first = 1) in the file.
    pub line: usize,
    pub values: Vec<String>,
}

impl Record {
    pub fn get(&self, field: &str) -> &str {
        Schema::standard()
            .fields
            .iter()
            .position(|f| f.name == field)
            .and_then(|i| self.values.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// A rejected value: what the person fixes in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: usize,
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "ligne {} : {}", self.line, self.reason)
        } else {
            write!(
                f,
                "ligne {}, champ « {} » : {}",
                self.line, self.field, self.reason
            )
        }
    }
}

/// A file that cannot be read at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("fichier vide")]
    Empty,
    #[error("colonnes obligatoires absentes de l'en-tête : {0}")]
    MissingColumns(String),
    #[error("fichier illisible : {0}")]
    Unreadable(String),
}

/// The text encoding of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// Windows-1252, as spreadsheets save it; only when asked for.
    Windows1252,
}

/// Decodes a file. In UTF-8 mode, lines with bytes that are not UTF-8 are rejected
/// one by one (with a hint), and the text is returned only when there is none.
fn decode(bytes: &[u8], encoding: Encoding) -> Result<String, Vec<Rejection>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match encoding {
        Encoding::Windows1252 => Ok(encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned()),
        Encoding::Utf8 => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(bytes
                .split(|b| *b == b'\n')
                .enumerate()
                .filter(|(_, l)| std::str::from_utf8(l).is_err())
                .map(|(i, l)| Rejection {
                    line: i + 1,
                    field: String::new(),
                    reason: format!(
                        "texte qui n'est pas en UTF-8 (probablement Windows-1252 : « {} »). Enregistrez le fichier en UTF-8, ou importez-le en précisant l'encodage windows-1252.",
                        encoding_rs::WINDOWS_1252.decode(l).0.trim()
                    ),
                })
                .collect()),
        },
    }
}

/// What reading a file gives: the records, and the rows already refused.
#[derive(Debug, Default)]
pub struct Read {
    pub records: Vec<Record>,
    pub rejected: Vec<Rejection>,
    pub notices: Vec<String>,
}

/// Normalises one value: trimmed; in vocabulary fields, `;` multi-values become `|`
/// and spaces around separators go.
fn normalise(field: &schema::Field, raw: &str) -> String {
    let v = raw.trim();
    if field.is_vocabulary() {
        v.split(['|', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("|")
    } else {
        v.to_owned()
    }
}

/// Reads a CSV file of the standard.
pub fn read_csv(bytes: &[u8], encoding: Encoding) -> Result<Read, FileError> {
    let text = match decode(bytes, encoding) {
        Ok(t) => t,
        Err(rejected) => {
            return Ok(Read {
                rejected,
                ..Read::default()
            });
        }
    };
    let first = text.lines().next().ok_or(FileError::Empty)?;
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let schema = Schema::standard();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| FileError::Unreadable(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let missing: Vec<&str> = schema
        .fields
        .iter()
        .filter(|f| f.required && !headers.contains(&f.name))
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(FileError::MissingColumns(missing.join(", ")));
    }
    let mut read = Read::default();
    let unknown: Vec<&String> = headers
        .iter()
        .filter(|h| schema.field(h).is_none())
        .collect();
    if !unknown.is_empty() {
        read.notices.push(format!(
            "colonnes ignorées (hors du standard) : {}",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if delimiter == b';' {
        read.notices
            .push("séparateur « ; » (tableur) reconnu ; le standard demande la virgule".into());
    }
    let index: Vec<Option<usize>> = schema
        .fields
        .iter()
        .map(|f| headers.iter().position(|h| *h == f.name))
        .collect();
    for (n, row) in reader.records().enumerate() {
        let line = n + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                read.rejected.push(Rejection {
                    line,
                    field: String::new(),
                    reason: format!("ligne CSV illisible ({e})"),
                });
                continue;
            }
        };
        let line = row
            .position()
            .map_or(line, |p| usize::try_from(p.line()).unwrap_or(line));
        let values = schema
            .fields
            .iter()
            .zip(&index)
            .map(|(f, i)| normalise(f, i.and_then(|i| row.get(i)).unwrap_or("")))
            .collect();
        read.records.push(Record { line, values });
    }
    Ok(read)
}

/// Reads a JSON file of the standard: an array of objects (strings, numbers, arrays
/// of strings for multi-values).
pub fn read_json(bytes: &[u8]) -> Result<Read, FileError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| FileError::Unreadable(e.to_string()))?;
    let list = v
        .as_array()
        .ok_or_else(|| FileError::Unreadable("un tableau JSON de lieux est attendu".into()))?;
    let schema = Schema::standard();
    let mut read = Read::default();
    for (n, item) in list.iter().enumerate() {
        let line = n + 1;
        let Some(obj) = item.as_object() else {
            read.rejected.push(Rejection {
                line,
                field: String::new(),
                reason: "un objet JSON est attendu".into(),
            });
            continue;
        };
        let values = schema
            .fields
            .iter()
            .map(|f| {
                let raw = match obj.get(&f.name) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(x)) => x.to_string(),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join("|"),
                    Some(other) => other.to_string(),
                };
                normalise(f, &raw)
            })
            .collect();
        read.records.push(Record { line, values });
    }
    Ok(read)
}

/// Reads a file whatever its kind: the France Services GeoJSON (`.geojson`), the
/// v0.1 JSON (recognised by its `labels_nationaux`/`conditions_access`), the
/// standard's JSON, or the standard's CSV.
pub fn read_any(name: &str, bytes: &[u8], encoding: Encoding) -> Result<Read, FileError> {
    let lower = name.to_lowercase();
    if lower.ends_with(".geojson") {
        return legacy::read_france_services(bytes);
    }
    if lower.ends_with(".json") {
        let head = bytes.get(..bytes.len().min(4096)).unwrap_or(bytes);
        let head = String::from_utf8_lossy(head);
        if head.contains("\"labels_nationaux\"") || head.contains("\"conditions_access\"") {
            return legacy::read_v01(bytes);
        }
        return read_json(bytes);
    }
    read_csv(bytes, encoding)
}

/// Checks every record against the schema, and the uniqueness of `id`.
pub fn validate(records: &[Record]) -> Vec<Rejection> {
    let schema = Schema::standard();
    let mut out = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in records {
        for (f, v) in schema.fields.iter().zip(&r.values) {
            if let Some(reason) = schema.check(f, v) {
                out.push(Rejection {
                    line: r.line,
                    field: f.name.clone(),
                    reason,
                });
            }
            // The standard describes `horaires` in the OpenStreetMap syntax.
            if f.name == "horaires"
                && !v.is_empty()
                && let Err(reason) = hours::parse(v)
            {
                out.push(Rejection {
                    line: r.line,
                    field: f.name.clone(),
                    reason,
                });
            }
            if f.unique && !v.is_empty() {
                if let Some(first) = seen.get(v.as_str()) {
                    out.push(Rejection {
                        line: r.line,
                        field: f.name.clone(),
                        reason: format!("identifiant « {v} » déjà utilisé ligne {first}"),
                    });
                } else {
                    seen.insert(v, r.line);
                }
            }
        }
    }
    out
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub read: usize,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Vec<Rejection>,
    pub notices: Vec<String>,
    /// False when nothing was written because of rejected rows (strict mode).
    pub written: bool,
    /// Likely duplicates between the imported places and those of other sources.
    pub duplicates: Vec<Duplicate>,
}

impl Report {
    pub fn summary(&self) -> String {
        format!(
            "{} lieu(x) lu(s) : {} ajouté(s), {} mis à jour, {} inchangé(s), {} refusé(s){}",
            self.read,
            self.inserted,
            self.updated,
            self.unchanged,
            self.rejected
                .iter()
                .map(|r| r.line)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            if self.written {
                ""
            } else {
                " — rien n'a été enregistré"
            }
        )
    }
}

/// Imports records in one transaction. `source` names the file's producer for the
/// rows without a `source` value. With `partial` false, any bad row means nothing is
/// written.
pub async fn import(
    db: &Db,
    read: Read,
    source: &str,
    partial: bool,
    now: i64,
) -> Result<Report, sqlx::Error> {
    import_by(db, read, source, partial, None, now).await
}

/// [`import`], naming the administrator who imports (journaled with the import on
/// the administration chain; `None` for the command line).
pub async fn import_by(
    db: &Db,
    read: Read,
    source: &str,
    partial: bool,
    by: Option<i64>,
    now: i64,
) -> Result<Report, sqlx::Error> {
    let mut rejected = read.rejected;
    rejected.extend(validate(&read.records));
    rejected.sort_by_key(|r| r.line);
    let mut report = Report {
        read: read.records.len() + rejected.iter().filter(|r| r.field.is_empty()).count(),
        notices: read.notices,
        ..Report::default()
    };
    let bad: std::collections::HashSet<usize> = rejected.iter().map(|r| r.line).collect();
    report.rejected = rejected;
    if !bad.is_empty() && !partial {
        return Ok(report);
    }
    let mut tx = db.begin().await?;
    let mut sources = std::collections::BTreeSet::new();
    for r in read.records.iter().filter(|r| !bad.contains(&r.line)) {
        let key_source = match r.get("source") {
            "" => source,
            s => s,
        };
        let data =
            serde_json::to_string(&r.values).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let existing =
            sqlx::query("SELECT data, index_version FROM lieux WHERE source = $1 AND lieu_id = $2")
                .bind(key_source)
                .bind(r.get("id"))
                .fetch_optional(&mut *tx)
                .await?;
        let lat = r.get("latitude").parse::<f64>().ok();
        let lon = r.get("longitude").parse::<f64>().ok();
        let c = index::columns(&r.values);
        match existing {
            Some(row)
                if row.try_get::<String, _>("data")? == data
                    && row.try_get::<i64, _>("index_version")? == index::INDEX_VERSION =>
            {
                report.unchanged += 1
            }
            Some(_) => {
                sqlx::query(
                    "UPDATE lieux SET nom = $1, commune = $2, code_postal = $3, code_insee = $4,
                         latitude = $5, longitude = $6, data = $7, updated_at = $8, commune_key = $9,
                         facets = $10, horaires = $11, nom_key = $12, pivot = $13, adresse_key = $14,
                         index_version = $15
                     WHERE source = $16 AND lieu_id = $17",
                )
                .bind(r.get("nom"))
                .bind(r.get("commune"))
                .bind(r.get("code_postal"))
                .bind(r.get("code_insee"))
                .bind(lat)
                .bind(lon)
                .bind(&data)
                .bind(now)
                .bind(crate::mandats::search_key(r.get("commune")))
                .bind(c.facets)
                .bind(&c.horaires)
                .bind(&c.nom_key)
                .bind(&c.pivot)
                .bind(&c.adresse_key)
                .bind(index::INDEX_VERSION)
                .bind(key_source)
                .bind(r.get("id"))
                .execute(&mut *tx)
                .await?;
                report.updated += 1;
            }
            None => {
                sqlx::query(
                    "INSERT INTO lieux (source, lieu_id, nom, commune, code_postal, code_insee,
                         latitude, longitude, data, imported_at, updated_at, commune_key,
                         facets, horaires, nom_key, pivot, adresse_key, index_version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
                .bind(key_source)
                .bind(r.get("id"))
                .bind(r.get("nom"))
                .bind(r.get("commune"))
                .bind(r.get("code_postal"))
                .bind(r.get("code_insee"))
                .bind(lat)
                .bind(lon)
                .bind(&data)
                .bind(now)
                .bind(crate::mandats::search_key(r.get("commune")))
                .bind(c.facets)
                .bind(&c.horaires)
                .bind(&c.nom_key)
                .bind(&c.pivot)
                .bind(&c.adresse_key)
                .bind(index::INDEX_VERSION)
                .execute(&mut *tx)
                .await?;
                report.inserted += 1;
            }
        }
        sources.insert(key_source.to_owned());
    }
    let mut entry = crate::journal::NewEntry::new(
        crate::journal::ADMIN_CHAIN,
        crate::journal::Action::LieuxImportes,
    )
    .details(serde_json::json!({
        "source": source,
        "ajoutes": report.inserted,
        "mis_a_jour": report.updated,
        "inchanges": report.unchanged,
    }));
    if let Some(by) = by {
        entry = entry.account(by);
    }
    crate::journal::append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    report.written = true;
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    report.duplicates = duplicates(db, &sources).await?;
    Ok(report)
}

/// One side of a likely duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceRef {
    pub row_id: i64,
    pub source: String,
    pub lieu_id: String,
    pub nom: String,
    pub commune: String,
}

/// Why two places of different sources are probably the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateReason {
    SameSiretAndAddress,
    /// Same name (accents, case and punctuation aside), this many metres apart.
    SameNameNearby(i64),
}

impl std::fmt::Display for DuplicateReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DuplicateReason::SameSiretAndAddress => write!(f, "même SIRET et même adresse"),
            DuplicateReason::SameNameNearby(m) => write!(f, "même nom, à {m} m"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub a: PlaceRef,
    pub b: PlaceRef,
    pub reason: DuplicateReason,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "« {} » ({}, {} {}) et « {} » ({}, {} {}) : {}",
            self.a.nom,
            self.a.commune,
            self.a.source,
            self.a.lieu_id,
            self.b.nom,
            self.b.commune,
            self.b.source,
            self.b.lieu_id,
            self.reason
        )
    }
}

/// Names closer than this are the same place.
pub const DUPLICATE_DISTANCE_M: f64 = 50.0;

/// Likely duplicates across sources: same SIRET (`pivot`) and address, or same name
/// within 50 m. With `sources`, only pairs involving one of them.
pub async fn duplicates(db: &Db, sources: &[&str]) -> Result<Vec<Duplicate>, sqlx::Error> {
    use crate::db::exec::Exec;
    let mut conn = db.conn().await?;
    let by_siret = conn
        .fetch_all(
            "SELECT a.id AS a_id, a.source AS a_source, a.lieu_id AS a_lieu, a.nom AS a_nom,
                    a.commune AS a_commune, a.latitude AS a_lat, a.longitude AS a_lon,
                    b.id AS b_id, b.source AS b_source, b.lieu_id AS b_lieu, b.nom AS b_nom,
                    b.commune AS b_commune, b.latitude AS b_lat, b.longitude AS b_lon
             FROM lieux a JOIN lieux b
               ON b.pivot = a.pivot AND b.adresse_key = a.adresse_key AND b.source <> a.source
             WHERE a.pivot <> '' AND a.adresse_key <> '' AND a.id < b.id
             ORDER BY a.id, b.id",
            &[],
        )
        .await?;
    let by_name = conn
        .fetch_all(
            "SELECT a.id AS a_id, a.source AS a_source, a.lieu_id AS a_lieu, a.nom AS a_nom,
                    a.commune AS a_commune, a.latitude AS a_lat, a.longitude AS a_lon,
                    b.id AS b_id, b.source AS b_source, b.lieu_id AS b_lieu, b.nom AS b_nom,
                    b.commune AS b_commune, b.latitude AS b_lat, b.longitude AS b_lon
             FROM lieux a JOIN lieux b ON b.nom_key = a.nom_key AND b.source <> a.source
             WHERE a.nom_key <> '' AND a.id < b.id
               AND a.latitude IS NOT NULL AND b.latitude IS NOT NULL
             ORDER BY a.id, b.id",
            &[],
        )
        .await?;
    let side = |r: &crate::db::exec::Rec, p: &str| -> Result<PlaceRef, sqlx::Error> {
        Ok(PlaceRef {
            row_id: r.int(&format!("{p}_id"))?,
            source: r.text(&format!("{p}_source"))?,
            lieu_id: r.text(&format!("{p}_lieu"))?,
            nom: r.text(&format!("{p}_nom"))?,
            commune: r.text(&format!("{p}_commune"))?,
        })
    };
    let mut out: Vec<Duplicate> = Vec::new();
    for r in &by_siret {
        out.push(Duplicate {
            a: side(r, "a")?,
            b: side(r, "b")?,
            reason: DuplicateReason::SameSiretAndAddress,
        });
    }
    for r in &by_name {
        let (Some(la), Some(oa), Some(lb), Some(ob)) = (
            r.opt_real("a_lat")?,
            r.opt_real("a_lon")?,
            r.opt_real("b_lat")?,
            r.opt_real("b_lon")?,
        ) else {
            continue;
        };
        let metres = search::distance_km((la, oa), (lb, ob)) * 1000.0;
        let (a, b) = (side(r, "a")?, side(r, "b")?);
        if metres > DUPLICATE_DISTANCE_M
            || out
                .iter()
                .any(|d| d.a.row_id == a.row_id && d.b.row_id == b.row_id)
        {
            continue;
        }
        out.push(Duplicate {
            a,
            b,
            reason: DuplicateReason::SameNameNearby(metres.round() as i64),
        });
    }
    if !sources.is_empty() {
        out.retain(|d| {
            sources.contains(&d.a.source.as_str()) || sources.contains(&d.b.source.as_str())
        });
    }
    Ok(out)
}

/// Every stored place, in a stable order.
pub async fn all(db: &Db) -> Result<Vec<Vec<String>>, sqlx::Error> {
    let rows = sqlx::query("SELECT data FROM lieux ORDER BY source, lieu_id")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            let data: String = r.try_get("data")?;
            serde_json::from_str::<Vec<String>>(&data)
                .map_err(|e| sqlx::Error::Protocol(format!("lieu illisible : {e}")))
        })
        .collect()
}

/// The standard's CSV: UTF-8, comma-separated, `|` multi-values, the schema's
/// columns in order.
pub fn to_csv(places: &[Vec<String>]) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(Schema::standard().names())?;
    for p in places {
        w.write_record(p)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The standard as JSON: an array of objects, empty values left out, coordinates
/// as numbers.
pub fn to_json(places: &[Vec<String>]) -> Value {
    let schema = Schema::standard();
    Value::Array(
        places
            .iter()
            .map(|p| {
                let mut o = serde_json::Map::new();
                for (f, v) in schema.fields.iter().zip(p) {
                    if v.is_empty() {
                        continue;
                    }
                    let value = match (f.kind, v.parse::<f64>()) {
                        (schema::FieldType::Number, Ok(x)) => serde_json::Number::from_f64(x)
                            .map(Value::Number)
                            .unwrap_or_else(|| Value::String(v.clone())),
                        _ => Value::String(v.clone()),
                    };
                    o.insert(f.name.clone(), value);
                }
                Value::Object(o)
            })
            .collect(),
    )
}

pub async fn export_csv(db: &Db) -> Result<String, sqlx::Error> {
    to_csv(&all(db).await?).map_err(|e| sqlx::Error::Protocol(e.to_string()))
}

pub async fn export_json(db: &Db) -> Result<String, sqlx::Error> {
    serde_json::to_string_pretty(&to_json(&all(db).await?))
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM lieux")
        .fetch_one(db.pool())
        .await?
        .try_get("n")
}
