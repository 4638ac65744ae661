//! The one CSV writer of every export (the companion of [`crate::csv_import`]).
//!
//! Two dialects:
//! - [`Dialect::Tableur`], the default, for people who open the file in a French
//!   spreadsheet (Excel, LibreOffice Calc): UTF-8 with a byte-order mark (without
//!   it Excel reads the accents as Windows-1252), `;` between fields (Excel in
//!   French reads `,` as the decimal separator and puts each line in one cell),
//!   CRLF line ends, dates as `03/12/2026 14:05`, and codes made of digits (SIRET,
//!   INSEE, postcodes) kept as text — written `="01053"`, the one form Excel shows
//!   as text with its leading zero;
//!   A text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or
//!   CR first, and not a number) is prefixed with `'` so it shows as text;
//! - [`Dialect::Standard`], for the open-data files that follow a published schema
//!   (the places standard): `,`, no byte-order mark, CRLF, values exactly as the
//!   schema writes them (`+33…` is a phone number there): what could run as a
//!   formula is refused when the data comes in (`lieux::Read::push`).
//!
//! In both, a field is quoted when it holds the separator, a quote or a line
//! break.
//! Rows are written one by one and the bytes can be taken as they come
//! ([`Writer::take`]), so a large export streams.

/// How the file is laid out (see the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Tableur,
    Standard,
}

impl Dialect {
    fn separator(self) -> u8 {
        match self {
            Dialect::Tableur => b';',
            Dialect::Standard => b',',
        }
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Text(&'a str),
    Owned(String),
    /// A code of digits that must stay text (SIRET, INSEE code, postcode).
    Code(&'a str),
    Int(i64),
    /// A date (Unix seconds), shown in Paris time.
    Date(i64),
    /// A date and time (Unix seconds), shown in Paris time.
    DateTime(i64),
    Empty,
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Cell::Text(s)
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(s: &'a String) -> Self {
        Cell::Text(s)
    }
}

impl From<String> for Cell<'_> {
    fn from(s: String) -> Self {
        Cell::Owned(s)
    }
}

impl From<i64> for Cell<'_> {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}

impl<'a, T: Into<Cell<'a>>> From<Option<T>> for Cell<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Empty, Into::into)
    }
}

/// A CSV file being written.
#[derive(Debug)]
pub struct Writer {
    dialect: Dialect,
    out: Vec<u8>,
}

impl Writer {
    /// A file with its header row.
    pub fn new(dialect: Dialect, header: &[&str]) -> Writer {
        let mut w = Writer {
            dialect,
            out: Vec::with_capacity(4096),
        };
        if dialect == Dialect::Tableur {
            w.out.extend_from_slice("\u{feff}".as_bytes());
        }
        w.row(header.iter().map(|h| Cell::Text(h)));
        w
    }

    /// The rest of a file whose header another writer wrote (a stream's later
    /// pages).
    pub fn continued(dialect: Dialect) -> Writer {
        Writer {
            dialect,
            out: Vec::with_capacity(4096),
        }
    }

    /// Writes one row.
    pub fn row<'a, I: IntoIterator<Item = Cell<'a>>>(&mut self, cells: I) {
        for (i, cell) in cells.into_iter().enumerate() {
            if i > 0 {
                self.out.push(self.dialect.separator());
            }
            self.cell(&cell);
        }
        self.out.extend_from_slice(b"\r\n");
    }

    fn cell(&mut self, cell: &Cell<'_>) {
        let tableur = self.dialect == Dialect::Tableur;
        match cell {
            Cell::Text(s) => self.text(s),
            Cell::Owned(s) => self.text(s),
            Cell::Code(s) if tableur && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                // `="01053"`, quoted: `"=""01053"""`.
                self.out.extend_from_slice(b"\"=\"\"");
                self.out.extend_from_slice(s.as_bytes());
                self.out.extend_from_slice(b"\"\"\"");
            }
            Cell::Code(s) => self.text(s),
            Cell::Int(n) => self.out.extend_from_slice(n.to_string().as_bytes()),
            Cell::Date(at) if tableur => self.text(&crate::time_fr::date(*at)),
            Cell::DateTime(at) if tableur => self.text(&crate::time_fr::date_time_numeric(*at)),
            Cell::Date(at) => self.text(&crate::time_fr::iso(*at)[..10]),
            Cell::DateTime(at) => self.text(&crate::time_fr::iso(*at)),
            Cell::Empty => {}
        }
    }

    fn text(&mut self, s: &str) {
        let formula = self.dialect == Dialect::Tableur
            && s.starts_with(['=', '+', '-', '@', '\t', '\r'])
            && s.parse::<f64>().is_err();
        let sep = char::from(self.dialect.separator());
        let quote = formula || s.contains([sep, '"', '\n', '\r']);
        if quote {
            self.out.push(b'"');
        }
        if formula {
            self.out.push(b'\'');
        }
        for part in s.split_inclusive('"') {
            self.out.extend_from_slice(part.as_bytes());
            if part.ends_with('"') {
                self.out.push(b'"');
            }
        }
        if quote {
            self.out.push(b'"');
        }
    }

    /// The bytes written since the last call (for a streamed download).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The whole file (or what is left of it).
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_french_spreadsheet_file() {
        let mut w = Writer::new(Dialect::Tableur, &["Nom", "SIRET", "Date"]);
        w.row([
            Cell::Text("Dupont; fils"),
            Cell::Code("01234567800012"),
            Cell::DateTime(1_764_770_700),
        ]);
        w.row([
            Cell::Text("=HYPERLINK(\"x\")"),
            Cell::Code("2A004"),
            Cell::Int(-3),
        ]);
        w.row([Cell::Text("-1.5"), Cell::Text("dit \"Jo\""), Cell::Empty]);
        let text = String::from_utf8(w.finish()).unwrap();
        assert!(text.starts_with('\u{feff}'));
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(lines[0], "Nom;SIRET;Date");
        assert_eq!(
            lines[1],
            "\"Dupont; fils\";\"=\"\"01234567800012\"\"\";03/12/2025 15:05"
        );
        assert_eq!(lines[2], "\"'=HYPERLINK(\"\"x\"\")\";2A004;-3");
        assert_eq!(lines[3], "-1.5;\"dit \"\"Jo\"\"\";");
        assert_eq!(lines[4], "");
    }

    #[test]
    fn an_open_data_file() {
        let mut w = Writer::new(Dialect::Standard, &["nom", "code_insee"]);
        w.row([Cell::Text("Lieu, centre"), Cell::Code("01053")]);
        let first = w.take();
        w.row([Cell::Text("+33 1"), Cell::Date(0)]);
        let text = String::from_utf8([first, w.finish()].concat()).unwrap();
        assert_eq!(
            text,
            "nom,code_insee\r\n\"Lieu, centre\",01053\r\n+33 1,1970-01-01\r\n"
        );
    }
}
