//! What the file imports share (training results, TOTP cards, places): UTF-8 (a
//! BOM is allowed), `,` or `;` as the header line shows, a header naming the
//! columns, errors by line — and the **bound** on those errors: every import keeps
//! the first [`MAX_ERRORS`] in a [`Capped`] list and only counts the others (« … et
//! N autres erreurs »), so a file of a million bad lines costs no more memory than
//! one of two hundred. Imports read the (size-limited) upload line by line, check
//! every line first and write nothing when one is wrong.

/// Errors an import details at most; the others are counted.
pub const MAX_ERRORS: usize = 200;

/// A list that keeps its first [`MAX_ERRORS`] items and counts the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped<T> {
    shown: Vec<T>,
    more: usize,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Capped {
            shown: Vec::new(),
            more: 0,
        }
    }
}

impl<T> Capped<T> {
    pub fn push(&mut self, item: T) {
        if self.shown.len() < MAX_ERRORS {
            self.shown.push(item);
        } else {
            self.more += 1;
        }
    }
    /// Items kept and counted.
    pub fn total(&self) -> usize {
        self.shown.len() + self.more
    }
    /// Items counted but not kept.
    pub fn more(&self) -> usize {
        self.more
    }
    /// « … et N autres erreurs » when some were not kept.
    pub fn more_text(&self) -> Option<String> {
        (self.more > 0).then(|| {
            format!(
                "… et {} : corrigez d'abord celles-ci, puis importez de nouveau le fichier",
                crate::domain::count(
                    self.more,
                    "autre erreur, non détaillée",
                    "autres erreurs, non détaillées"
                )
            )
        })
    }
}

/// The items kept.
impl<T> std::ops::Deref for Capped<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.shown
    }
}

impl<'a, T> IntoIterator for &'a Capped<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.shown.iter()
    }
}

impl Capped<LineError> {
    /// The errors to show, the count of the others last (as line 0).
    pub fn into_lines(self) -> Vec<LineError> {
        let more = self.more_text();
        let mut out = self.shown;
        if let Some(text) = more {
            out.push(LineError::new(0, text));
        }
        out
    }
}

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
        if self.line == 0 {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "ligne {} : {}", self.line, self.reason)
        }
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
        Err(_) => {
            return Err(vec![LineError::new(
                1,
                "en-tête illisible : enregistrez le fichier en « CSV UTF-8 » depuis votre tableur",
            )]);
        }
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

/// Why the CSV reader refused a line, in words a spreadsheet user can act on.
pub const UNREADABLE_LINE: &str = "ligne illisible : vérifiez les guillemets (un champ ouvert par « \" » doit être fermé) et l'encodage UTF-8";

/// The data lines, numbered as the user sees them in a spreadsheet (the header is
/// line 1); a line the CSV reader cannot read is a [`LineError`].
pub fn lines<'r>(
    reader: &'r mut csv::Reader<&[u8]>,
) -> impl Iterator<Item = Result<(usize, csv::StringRecord), LineError>> + 'r {
    reader.records().enumerate().map(|(i, rec)| {
        let line = i + 2;
        rec.map(|r| (line, r))
            .map_err(|_| LineError::new(line, UNREADABLE_LINE))
    })
}

/// The index of an optional column of an opened file (compared like [`open`]'s).
pub fn column(reader: &mut csv::Reader<&[u8]>, name: &str) -> Option<usize> {
    reader
        .headers()
        .ok()?
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
}

/// One field of a record, trimmed ("" when absent).
pub fn field(rec: &csv::StringRecord, index: usize) -> String {
    rec.get(index).unwrap_or("").trim().to_owned()
}
