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
pub mod json;
pub mod legacy;
pub mod schema;
pub mod search;

use crate::csv_export::{Cell, Dialect, Writer};
use std::collections::HashMap;

use serde_json::Value;

use crate::csv_import::Capped;
use crate::db::exec::Exec as _;

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

/// Decodes a file. In UTF-8 mode, lines with bytes that are not UTF-8 are refused
/// one by one (with a hint) into `read`, and the text is returned only when there
/// is none.
fn decode(bytes: &[u8], encoding: Encoding, read: &mut Read) -> Option<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match encoding {
        Encoding::Windows1252 => Some(encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned()),
        Encoding::Utf8 => match std::str::from_utf8(bytes) {
            Ok(s) => Some(s.to_owned()),
            Err(_) => {
                for (i, l) in bytes.split(|b| *b == b'\n').enumerate() {
                    if std::str::from_utf8(l).is_err() {
                        let sample: String = encoding_rs::WINDOWS_1252
                            .decode(l)
                            .0
                            .trim()
                            .chars()
                            .take(80)
                            .collect();
                        read.refuse(Rejection {
                            line: i + 1,
                            field: String::new(),
                            reason: format!(
                                "texte qui n'est pas en UTF-8 (probablement Windows-1252 : « {sample} »). Enregistrez le fichier en UTF-8, ou importez-le en précisant l'encodage windows-1252."
                            ),
                        });
                    }
                }
                None
            }
        },
    }
}

/// What reading a file gives: the valid records, and the rows refused. Each
/// record is checked as it is read ([`Read::push`]): a refused row is not kept,
/// only its first errors ([`Capped`]), so memory stays bounded whatever the file.
#[derive(Debug, Default)]
pub struct Read {
    /// Valid records, in file order.
    pub records: Vec<Record>,
    /// Why rows were refused (the first [`crate::csv_import::MAX_ERRORS`]).
    pub rejected: Capped<Rejection>,
    /// Rows refused.
    pub refused: usize,
    pub notices: Capped<String>,
    /// The line of each `id` met, for uniqueness.
    ids: HashMap<String, usize>,
}

impl Read {
    /// Checks a record against the schema and keeps it when valid.
    pub fn push(&mut self, record: Record) {
        let before = self.rejected.total();
        check_record(&record, &self.ids, &mut self.rejected);
        if self.rejected.total() == before {
            // Only kept records' ids are remembered: a refused row is not imported,
            // so it cannot clash, and a million refused rows cost no memory.
            for (f, v) in Schema::standard().fields.iter().zip(&record.values) {
                if f.unique && !v.is_empty() {
                    self.ids.insert(v.clone(), record.line);
                }
            }
            self.records.push(record);
        } else {
            self.refused += 1;
        }
    }

    /// A row refused before it became a record.
    pub fn refuse(&mut self, rejection: Rejection) {
        self.refused += 1;
        self.rejected.push(rejection);
    }

    /// Rows read, valid or not.
    pub fn rows(&self) -> usize {
        self.records.len() + self.refused
    }
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
    let mut read = Read::default();
    let Some(text) = decode(bytes, encoding, &mut read) else {
        return Ok(read);
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
        .map_err(|_| FileError::Unreadable("en-tête CSV illisible".into()))?
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
    // Numbered as the spreadsheet numbers its rows (one record = one row, even
    // when a quoted field spans several lines of the file), as every import does.
    for item in crate::csv_import::lines(&mut reader) {
        let (line, row) = match item {
            Ok(r) => r,
            Err(e) => {
                read.refuse(Rejection {
                    line: e.line,
                    field: String::new(),
                    reason: crate::csv_import::UNREADABLE_LINE.into(),
                });
                continue;
            }
        };
        let values = schema
            .fields
            .iter()
            .zip(&index)
            .map(|(f, i)| normalise(f, i.and_then(|i| row.get(i)).unwrap_or("")))
            .collect();
        read.push(Record { line, values });
    }
    Ok(read)
}

/// Reads a JSON file of the standard: an array of objects (strings, numbers, arrays
/// of strings for multi-values), one object at a time.
pub fn read_json(bytes: &[u8]) -> Result<Read, FileError> {
    let schema = Schema::standard();
    let mut read = Read::default();
    json::each_element(bytes, None, &mut |line, item| {
        let Some(obj) = item.as_object() else {
            read.refuse(Rejection {
                line,
                field: String::new(),
                reason: "un objet JSON est attendu".into(),
            });
            return;
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
        read.push(Record { line, values });
    })?;
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

/// First characters a spreadsheet reads as a formula when it opens a CSV file.
pub(crate) const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The first character of `v` when a spreadsheet would read the value as a
/// formula and nothing in the field's definition allows it: free text only (a
/// pattern, a number or a date already says what may start a value, like the `+33`
/// of a phone number or a negative longitude).
pub(crate) fn formula_start(f: &schema::Field, v: &str) -> Option<char> {
    if f.pattern.is_some() || f.kind != schema::FieldType::String {
        return None;
    }
    v.chars().next().filter(|c| FORMULA_STARTS.contains(c))
}

/// Checks one record against the schema, the uniqueness of `id` among the records
/// kept (`ids`), control characters, and formula-like values; adds its errors.
fn check_record(r: &Record, ids: &HashMap<String, usize>, out: &mut Capped<Rejection>) {
    let schema = Schema::standard();
    let mut reject = |field: &str, reason: String| {
        out.push(Rejection {
            line: r.line,
            field: field.to_owned(),
            reason,
        })
    };
    for (f, v) in schema.fields.iter().zip(&r.values) {
        if let Some(reason) = schema.check(f, v) {
            reject(&f.name, reason);
        }
        // A NUL byte or another control character is never a place's data.
        if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            reject(
                &f.name,
                "caractère de contrôle interdit (octet nul ou caractère invisible) : retirez-le"
                    .into(),
            );
        }
        // The open-data file keeps the standard's values as they are, so a value a
        // spreadsheet would run as a formula is refused here, at import: in free
        // text only (a pattern, a number or a date already says what may start a
        // value, like the `+33` of a phone number or a negative longitude).
        if let Some(c) = formula_start(f, v) {
            reject(
                &f.name,
                format!(
                    "valeur commençant par « {} » refusée : un tableur l'exécuterait comme une formule. Retirez ce premier caractère.",
                    c.escape_default()
                ),
            );
        }
        // The standard describes `horaires` in the OpenStreetMap syntax.
        if f.name == "horaires"
            && !v.is_empty()
            && let Err(reason) = hours::parse(v)
        {
            reject(&f.name, reason);
        }
        if f.unique
            && !v.is_empty()
            && let Some(first) = ids.get(v.as_str())
        {
            reject(
                &f.name,
                format!("identifiant « {v} » déjà utilisé ligne {first}"),
            );
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub read: usize,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Capped<Rejection>,
    /// Rows refused.
    pub refused: usize,
    pub notices: Capped<String>,
    /// False when nothing was written because of rejected rows (strict mode).
    pub written: bool,
    /// Likely duplicates between the imported places and those of other sources.
    pub duplicates: Vec<Duplicate>,
}

impl Report {
    pub fn summary(&self) -> String {
        use crate::domain::count;
        format!(
            "{} : {}, {} à jour, {}, {}{}",
            count(self.read, "lieu lu", "lieux lus"),
            count(self.inserted, "ajouté", "ajoutés"),
            count(self.updated, "mis", "mis"),
            count(self.unchanged, "inchangé", "inchangés"),
            count(self.refused, "refusé", "refusés"),
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
) -> Result<Report, crate::db::Error> {
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
) -> Result<Report, crate::db::Error> {
    let mut report = Report {
        read: read.rows(),
        refused: read.refused,
        rejected: read.rejected,
        notices: read.notices,
        ..Report::default()
    };
    if report.refused > 0 && !partial {
        return Ok(report);
    }
    // Everything is prepared before the write transaction (rows serialised, search
    // columns computed, existing rows read), so the transaction only writes: a
    // 50,000-place import holds SQLite's writer for the time of its upserts on the
    // native connection, and sign-ins do not wait seconds behind it.
    let mut rows = Vec::with_capacity(read.records.len());
    let mut sources = std::collections::BTreeSet::new();
    for r in &read.records {
        let key_source = match r.get("source") {
            "" => source,
            s => s,
        };
        sources.insert(key_source.to_owned());
        rows.push(Row_ {
            source: key_source.to_owned(),
            lieu_id: r.get("id").to_owned(),
            data: serde_json::to_string(&r.values)
                .map_err(|e| crate::db::Error::Data(e.to_string()))?,
            lat: r.get("latitude").parse::<f64>().ok(),
            lon: r.get("longitude").parse::<f64>().ok(),
            commune_key: crate::mandats::search_key(r.get("commune")),
            columns: index::columns(&r.values),
            names: ["nom", "commune", "code_postal", "code_insee"].map(|f| r.get(f).to_owned()),
        });
    }
    let mut existing: HashMap<(String, String), (String, i64)> = HashMap::new();
    {
        let mut conn = db.conn().await?;
        for s in &sources {
            for e in conn
                .fetch_all(
                    "SELECT lieu_id, data, index_version FROM lieux WHERE source = $1",
                    crate::args![s.as_str()],
                )
                .await?
            {
                existing.insert(
                    (s.clone(), e.text("lieu_id")?),
                    (e.text("data")?, e.int("index_version")?),
                );
            }
        }
    }
    let changed: Vec<&Row_> = rows
        .iter()
        .filter(
            |r| match existing.get(&(r.source.clone(), r.lieu_id.clone())) {
                Some((data, version)) if *data == r.data && *version == index::INDEX_VERSION => {
                    report.unchanged += 1;
                    false
                }
                Some(_) => {
                    report.updated += 1;
                    true
                }
                None => {
                    report.inserted += 1;
                    true
                }
            },
        )
        .collect();
    // Written in batches, each its own short transaction, so SQLite's writer is
    // free between them (a sign-in waits one batch, not the whole file). Every row
    // is an upsert of a whole, valid place: if the server stopped in the middle,
    // the directory would hold whole places only, and importing the file again
    // completes it. The journal entry goes with the last batch.
    let mut batches = changed.chunks(IMPORT_BATCH).peekable();
    let mut tx = db.begin().await?;
    while let Some(batch) = batches.next() {
        write_places(&mut tx, batch, now).await?;
        if batches.peek().is_some() {
            tx.commit().await?;
            tx = db.begin().await?;
        }
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

/// Places written by one transaction of an import.
const IMPORT_BATCH: usize = 500;

/// One place as an import writes it, prepared before any transaction.
struct Row_ {
    source: String,
    lieu_id: String,
    data: String,
    lat: Option<f64>,
    lon: Option<f64>,
    commune_key: String,
    columns: index::Columns,
    /// nom, commune, code_postal, code_insee
    names: [String; 4],
}

/// Upserts prepared places (inside the caller's transaction).
async fn write_places(
    tx: &mut crate::db::Tx,
    rows: &[&Row_],
    now: i64,
) -> Result<(), crate::db::Error> {
    for r in rows {
        let c = &r.columns;
        let [nom, commune, code_postal, code_insee] = &r.names;
        tx.execute(
            "INSERT INTO lieux (source, lieu_id, nom, commune, code_postal, code_insee,
             latitude, longitude, data, imported_at, updated_at, commune_key,
             facets, horaires, nom_key, pivot, adresse_key, index_version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (source, lieu_id) DO UPDATE SET nom = excluded.nom,
             commune = excluded.commune, code_postal = excluded.code_postal,
             code_insee = excluded.code_insee, latitude = excluded.latitude,
             longitude = excluded.longitude, data = excluded.data,
             updated_at = excluded.updated_at, commune_key = excluded.commune_key,
             facets = excluded.facets | (lieux.facets & 4611686018427387904),
             horaires = excluded.horaires,
             nom_key = excluded.nom_key, pivot = excluded.pivot,
             adresse_key = excluded.adresse_key, index_version = excluded.index_version",
            crate::args![
                r.source.as_str(),
                r.lieu_id.as_str(),
                nom,
                commune,
                code_postal,
                code_insee,
                r.lat,
                r.lon,
                r.data.as_str(),
                now,
                r.commune_key.as_str(),
                c.facets,
                c.horaires.as_str(),
                c.nom_key.as_str(),
                c.pivot.as_str(),
                c.adresse_key.as_str(),
                index::INDEX_VERSION,
            ],
        )
        .await?;
    }
    Ok(())
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
pub async fn duplicates(db: &Db, sources: &[&str]) -> Result<Vec<Duplicate>, crate::db::Error> {
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
    let side = |r: &crate::db::exec::Rec, p: &str| -> Result<PlaceRef, crate::db::Error> {
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
pub async fn all(db: &Db) -> Result<Vec<Vec<String>>, crate::db::Error> {
    let rows = db
        .fetch_all("SELECT data FROM lieux ORDER BY source, lieu_id", &[])
        .await?;
    rows.iter()
        .map(|r| {
            let data: String = r.get("data")?;
            serde_json::from_str::<Vec<String>>(&data)
                .map_err(|e| crate::db::Error::Data(format!("lieu illisible : {e}")))
        })
        .collect()
}

/// The standard as JSON: an array of objects, empty values left out, coordinates
/// as numbers.
pub fn to_json(places: &[Vec<String>]) -> Value {
    Value::Array(places.iter().map(|p| json_object(p)).collect())
}

/// The open-data export's two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

/// Places read per query by [`export_stream`].
const EXPORT_PAGE: i64 = 1000;

enum ExportStep {
    Start,
    /// After the place (source, lieu_id) last written; whether one was written.
    Rows(String, String, bool),
    Done,
}

/// One JSON object of the standard, compact.
fn json_object(values: &[String]) -> Value {
    let schema = Schema::standard();
    let mut o = serde_json::Map::new();
    for (f, v) in schema.fields.iter().zip(values) {
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
}

/// The whole directory in the standard, produced page by page (a thousand places a
/// query, keyset on (source, id)): what a request holds in memory is one page,
/// whatever the size of the directory. JSON is an array with one compact object a
/// line; CSV the schema's columns, CRLF, `|` multi-values.
pub fn export_stream(
    db: Db,
    format: ExportFormat,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, crate::db::Error>> + Send + 'static {
    futures_util::stream::unfold((db, ExportStep::Start), move |(db, step)| async move {
        match step {
            ExportStep::Done => None,
            ExportStep::Start => {
                let head = match format {
                    ExportFormat::Csv => {
                        Ok(Writer::new(Dialect::Standard, &Schema::standard().names()).finish())
                    }
                    ExportFormat::Json => Ok(b"[".to_vec()),
                };
                Some((
                    head,
                    (db, ExportStep::Rows(String::new(), String::new(), false)),
                ))
            }
            ExportStep::Rows(source, lieu_id, written) => {
                let page = async {
                    db.conn()
                        .await?
                        .fetch_all(
                            "SELECT source, lieu_id, data FROM lieux
                             WHERE source > $1 OR (source = $1 AND lieu_id > $2)
                             ORDER BY source, lieu_id LIMIT $3",
                            crate::args![source.as_str(), lieu_id.as_str(), EXPORT_PAGE],
                        )
                        .await
                }
                .await;
                let rows = match page {
                    Ok(r) => r,
                    Err(e) => return Some((Err(e), (db, ExportStep::Done))),
                };
                let mut out = Vec::with_capacity(rows.len() * 600);
                let mut csv = Writer::continued(Dialect::Standard);
                let mut written = written;
                for r in &rows {
                    let values = r.text("data").and_then(|d| {
                        serde_json::from_str::<Vec<String>>(&d)
                            .map_err(|e| crate::db::Error::Data(format!("lieu illisible : {e}")))
                    });
                    let values = match values {
                        Ok(v) => v,
                        Err(e) => return Some((Err(e), (db, ExportStep::Done))),
                    };
                    match format {
                        ExportFormat::Csv => csv.row(values.iter().map(Cell::from)),
                        ExportFormat::Json => {
                            out.extend_from_slice(if written { b",\n" } else { b"\n" });
                            out.extend_from_slice(json_object(&values).to_string().as_bytes());
                        }
                    }
                    written = true;
                }
                out.extend_from_slice(&csv.take());
                let last = rows.last().map(|r| (r.text("source"), r.text("lieu_id")));
                let next = match last {
                    Some((Ok(s), Ok(l))) if rows.len() as i64 == EXPORT_PAGE => {
                        ExportStep::Rows(s, l, written)
                    }
                    _ => {
                        if format == ExportFormat::Json {
                            out.extend_from_slice(if written { b"\n]\n" } else { b"]\n" });
                        }
                        ExportStep::Done
                    }
                };
                Some((Ok(out), (db, next)))
            }
        }
    })
}

/// The whole export in memory (command line, tests): [`export_stream`] collected.
pub async fn export(db: &Db, format: ExportFormat) -> Result<String, crate::db::Error> {
    use futures_util::StreamExt as _;
    let mut out = Vec::new();
    let mut stream = std::pin::pin!(export_stream(db.clone(), format));
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    String::from_utf8(out).map_err(|e| crate::db::Error::Data(e.to_string()))
}

pub async fn export_csv(db: &Db) -> Result<String, crate::db::Error> {
    export(db, ExportFormat::Csv).await
}

pub async fn export_json(db: &Db) -> Result<String, crate::db::Error> {
    export(db, ExportFormat::Json).await
}

pub async fn count(db: &Db) -> Result<i64, crate::db::Error> {
    db.fetch_one("SELECT COUNT(*) AS n FROM lieux", &[])
        .await?
        .get("n")
}

/// The name of a type of place (`typologie`, the vocabulary of data.inclusion's
/// « typologies de structure » that the places standard uses), as people say it;
/// `None` for a code this list does not know (shown as it is).
pub fn typologie_label(code: &str) -> Option<&'static str> {
    Some(match code.trim() {
        "ACI" => "Atelier et chantier d'insertion",
        "AFPA" => "Agence nationale pour la formation professionnelle des adultes (AFPA)",
        "ASSO" => "Association",
        "AUTRE" => "Autre",
        "BIB" => "Bibliothèque, médiathèque",
        "CADA" => "Centre d'accueil de demandeurs d'asile",
        "CAF" => "Caisse d'allocations familiales (CAF)",
        "CAP_EMPLOI" => "Cap emploi",
        "CCAS" => "Centre communal d'action sociale (CCAS)",
        "CCONS" => "Chambre consulaire",
        "CD" => "Conseil départemental",
        "CHRS" => "Centre d'hébergement et de réinsertion sociale",
        "CHU" => "Centre d'hébergement d'urgence",
        "CIAS" => "Centre intercommunal d'action sociale (CIAS)",
        "CIDFF" => "Centre d'information sur les droits des femmes et des familles",
        "CS" => "Centre social",
        "E2C" => "École de la deuxième chance",
        "EI" => "Entreprise d'insertion",
        "EPCI" => "Intercommunalité",
        "EPIDE" => "Établissement pour l'insertion dans l'emploi (EPIDE)",
        "ETTI" => "Entreprise de travail temporaire d'insertion",
        "GEIQ" => "Groupement d'employeurs pour l'insertion et la qualification",
        "MDE" => "Maison de l'emploi",
        "MDPH" => "Maison départementale des personnes handicapées",
        "MDS" => "Maison départementale des solidarités",
        "MJC" => "Maison des jeunes et de la culture",
        "ML" => "Mission locale",
        "MQ" => "Maison de quartier",
        "MSA" => "Mutualité sociale agricole (MSA)",
        "MUNI" => "Mairie",
        "OACAS" => "Organisme d'accueil communautaire et d'activités solidaires",
        "PE" => "France Travail (ex-Pôle emploi)",
        "PIJ_BIJ" => "Point ou bureau information jeunesse",
        "PIMMS" => "Point information médiation multi-services (PIMMS)",
        "PJJ" => "Protection judiciaire de la jeunesse",
        "PLIE" => "Plan local pour l'insertion et l'emploi",
        "PREF" => "Préfecture",
        "REG" => "Région",
        "RESSOURCERIE" => "Ressourcerie",
        "RFS" => "France Services",
        "SPIP" => "Service pénitentiaire d'insertion et de probation",
        "TIERS_LIEUX" => "Tiers-lieu",
        "UDAF" => "Union départementale des associations familiales (UDAF)",
        _ => return None,
    })
}
