//! The codes printed on pass: 15 random Crockford base-32 symbols (75 bits, drawn
//! from the operating system's generator: guessing one is hopeless) and one check
//! symbol, shown in four groups of four (`7KQ2-M9XD-4HTB-R0WC`).
//!
//! The check symbol makes the weighted sum of the 16 symbols zero in GF(32), the
//! field of 32 elements (symbol *i* weighted by αⁱ⁺¹, the check symbol by 1, α a
//! generator): a single wrong symbol changes the sum by w·e ≠ 0, and two
//! neighbours swapped change it by (wᵢ − wᵢ₊₁)(a − b) ≠ 0 since the 16 weights are
//! distinct. So **every** single typo and **every** swap of two neighbours is
//! caught (tested exhaustively on a sample of codes), with a check symbol from the
//! same alphabet as the rest.
//!
//! Reading is forgiving like Crockford's: case, spaces and hyphens are ignored,
//! `O` reads as `0`, `I` and `L` as `1`.

use rand::RngCore as _;

/// Crockford's alphabet: no I, L, O, U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Random symbols per code.
pub const DATA_LEN: usize = 15;
/// Symbols per code, check symbol included.
pub const LEN: usize = DATA_LEN + 1;

/// Multiplication in GF(32) = GF(2)[x] / (x⁵ + x² + 1).
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    for _ in 0..5 {
        if b & 1 == 1 {
            p ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0x20 != 0 {
            a ^= 0b10_0101;
        }
    }
    p & 0x1f
}

/// α⁰…α¹⁶ (α = x, a generator of the multiplicative group: 31 distinct powers).
fn weights() -> [u8; LEN + 1] {
    let mut w = [1u8; LEN + 1];
    for i in 1..w.len() {
        let prev = w.get(i - 1).copied().unwrap_or(1);
        if let Some(slot) = w.get_mut(i) {
            *slot = gf_mul(prev, 2);
        }
    }
    w
}

fn value(symbol: u8) -> Option<u8> {
    let s = symbol.to_ascii_uppercase();
    let s = match s {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&c| c == s)
        .and_then(|p| u8::try_from(p).ok())
}

/// The check symbol of 15 data symbols' values.
fn check_of(data: &[u8]) -> u8 {
    let w = weights();
    data.iter().enumerate().fold(0u8, |acc, (i, &v)| {
        acc ^ gf_mul(w.get(i + 1).copied().unwrap_or(1), v)
    })
}

/// A new random code, normalised (16 symbols, no separators).
pub fn generate() -> String {
    let mut bytes = [0u8; DATA_LEN];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let data: Vec<u8> = bytes.iter().map(|b| b & 0x1f).collect();
    let mut out = String::with_capacity(LEN);
    for &v in data.iter().chain(std::iter::once(&check_of(&data))) {
        out.push(char::from(*ALPHABET.get(usize::from(v)).unwrap_or(&b'0')));
    }
    out
}

/// Why a typed code is not a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeError {
    Empty,
    /// Not 16 symbols: how many there were.
    Length(usize),
    /// A character outside the alphabet (shown back to the person).
    Symbol(char),
    /// The check symbol does not match: a typo somewhere.
    Check,
}

impl CodeError {
    /// What to do next, in plain French.
    pub fn message(self) -> String {
        match self {
            CodeError::Empty => "Saisissez le code imprimé sur le pass.".to_owned(),
            CodeError::Length(n) => format!(
                "Le code d'un pass compte 16 caractères (4 groupes de 4) ; vous en avez saisi {n}. Vérifiez le code imprimé."
            ),
            CodeError::Symbol(c) => format!(
                "Le caractère « {c} » n'existe pas dans les codes de pass : vérifiez le code imprimé."
            ),
            CodeError::Check => "Ce code contient une faute de frappe : vérifiez chaque caractère, ou scannez le code QR du pass.".to_owned(),
        }
    }
}

/// Reads a typed or scanned code: the normalised code, or why it is not one.
pub fn parse(raw: &str) -> Result<String, CodeError> {
    let mut values = Vec::with_capacity(LEN);
    for c in raw.chars().filter(|c| !c.is_whitespace() && *c != '-') {
        if values.len() > LEN {
            return Err(CodeError::Length(
                raw.chars()
                    .filter(|c| !c.is_whitespace() && *c != '-')
                    .count(),
            ));
        }
        let v = u8::try_from(c)
            .ok()
            .and_then(value)
            .ok_or(CodeError::Symbol(c))?;
        values.push(v);
    }
    if values.is_empty() {
        return Err(CodeError::Empty);
    }
    if values.len() != LEN {
        return Err(CodeError::Length(values.len()));
    }
    let (data, check) = values.split_at(DATA_LEN);
    if check.first().copied() != Some(check_of(data)) {
        return Err(CodeError::Check);
    }
    Ok(values
        .iter()
        .map(|&v| char::from(*ALPHABET.get(usize::from(v)).unwrap_or(&b'0')))
        .collect())
}

/// `7KQ2M9XD4HTBR0WC` → `7KQ2-M9XD-4HTB-R0WC`.
pub fn display(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    chars
        .chunks(4)
        .map(|g| g.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_distinct_and_nonzero() {
        let w = weights();
        for (i, a) in w.iter().enumerate() {
            assert_ne!(*a, 0);
            for b in w.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn codes_read_back_forgivingly() {
        let c = generate();
        assert_eq!(c.len(), LEN);
        assert_eq!(parse(&c), Ok(c.clone()));
        let shown = display(&c);
        assert_eq!(shown.len(), 19);
        assert_eq!(parse(&shown.to_lowercase()), Ok(c.clone()));
        assert_eq!(parse(&format!(" {} ", shown.replace('-', " "))), Ok(c));
        assert_eq!(parse(""), Err(CodeError::Empty));
        assert_eq!(parse("ABCD"), Err(CodeError::Length(4)));
        assert_eq!(parse("ABCD-EFGH-JKMN-PQRU"), Err(CodeError::Symbol('U')));
        // O, I and L read as 0, 1, 1.
        let with_zero_one = loop {
            let c = generate();
            if c.contains('0') || c.contains('1') {
                break c;
            }
        };
        let typed = with_zero_one.replacen('0', "O", 1).replacen('1', "l", 1);
        assert_eq!(parse(&typed), Ok(with_zero_one));
    }

    #[test]
    fn every_single_typo_and_every_neighbour_swap_is_caught() {
        for _ in 0..300 {
            let code = generate();
            let bytes = code.as_bytes().to_vec();
            for i in 0..LEN {
                for &other in ALPHABET {
                    if Some(&other) == bytes.get(i) {
                        continue;
                    }
                    let mut typo = bytes.clone();
                    if let Some(b) = typo.get_mut(i) {
                        *b = other;
                    }
                    let typo = String::from_utf8(typo).unwrap();
                    assert!(parse(&typo).is_err(), "{code} → {typo}");
                }
                if i + 1 < LEN && bytes.get(i) != bytes.get(i + 1) {
                    let mut swap = bytes.clone();
                    swap.swap(i, i + 1);
                    let swap = String::from_utf8(swap).unwrap();
                    assert_eq!(parse(&swap), Err(CodeError::Check), "{code} → {swap}");
                }
            }
        }
    }

    #[test]
    fn codes_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(generate()));
        }
    }
}
