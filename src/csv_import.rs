//! What the CSV imports of administrators share (training results, TOTP cards):
//! UTF-8 (a BOM is allowed), `,` or `;` as the header line shows, a header naming
//! the columns, and errors by line. Imports check every line first and write
//! nothing when one is wrong.

/// A refused line (line 1 is the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub reason: String,
}

impl LineError {
    pub fn new(line: usize, reason: impl Into<String>) -> LineError {
        LineError {
            line,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ligne {} : {}", self.line, self.reason)
    }
}

/// A reader positioned on the first data line, and the index of each column asked.
pub type Opened<'a, const N: usize> = (csv::Reader<&'a [u8]>, [usize; N]);

/// Opens a file whose header must hold `columns`.
pub fn open<'a, const N: usize>(
    bytes: &'a [u8],
    columns: [&str; N],
) -> Result<Opened<'a, N>, Vec<LineError>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(vec![LineError::new(
            1,
            "le fichier n'est pas en UTF-8 : enregistrez-le en « CSV UTF-8 » depuis votre tableur",
        )]);
    };
    let delimiter = if text.lines().next().is_some_and(|h| h.contains(';')) {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_lowercase()).collect(),
        Err(e) => return Err(vec![LineError::new(1, format!("en-tête illisible : {e}"))]),
    };
    let found: Option<Vec<usize>> = columns
        .iter()
        .map(|c| header.iter().position(|h| h == c))
        .collect();
    match found.and_then(|v| <[usize; N]>::try_from(v).ok()) {
        Some(idx) => Ok((reader, idx)),
        None => Err(vec![LineError::new(
            1,
            format!(
                "l'en-tête doit contenir les colonnes {}",
                columns.join(", ")
            ),
        )]),
    }
}

/// The data lines, numbered as the user sees them in a spreadsheet (the header is
/// line 1); a line the CSV reader cannot read is a [`LineError`].
pub fn lines<'r>(
    reader: &'r mut csv::Reader<&[u8]>,
) -> impl Iterator<Item = Result<(usize, csv::StringRecord), LineError>> + 'r {
    reader.records().enumerate().map(|(i, rec)| {
        let line = i + 2;
        rec.map(|r| (line, r))
            .map_err(|e| LineError::new(line, format!("ligne illisible : {e}")))
    })
}

/// One field of a record, trimmed ("" when absent).
pub fn field(rec: &csv::StringRecord, index: usize) -> String {
    rec.get(index).unwrap_or("").trim().to_owned()
}
