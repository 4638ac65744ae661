//! Values parsed at the edge. Nothing inward takes a raw string for these.

use std::fmt;

/// A normalised (trimmed, lower-case) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err("Saisissez une adresse e-mail.");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("Saisissez une adresse e-mail complète, par exemple nom@exemple.fr.");
        };
        let ok = !local.is_empty()
            && s.len() <= 254
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@')
            && s.chars().all(|c| {
                !c.is_whitespace()
                    && !c.is_control()
                    && c != '<'
                    && c != '>'
                    && c != '"'
                    && c != ','
            });
        if ok {
            Ok(Email(s))
        } else {
            Err("Cette adresse e-mail n'est pas valide : vérifiez-la, par exemple nom@exemple.fr.")
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SIRET number: 14 digits whose Luhn checksum is valid (La Poste's
/// establishments, SIREN 356000000, use a digit sum divisible by 5 instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Siret(String);

impl Siret {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if s.is_empty() {
            return Err("Saisissez le numéro SIRET de la structure (14 chiffres).");
        }
        if s.len() != 14 || !s.chars().all(|c| c.is_ascii_digit()) {
            return Err("Le SIRET compte exactement 14 chiffres : vérifiez le numéro.");
        }
        let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
        let valid = if s.starts_with("356000000") {
            digits.iter().sum::<u32>().is_multiple_of(5)
        } else {
            luhn(&digits)
        };
        if valid {
            Ok(Siret(s))
        } else {
            Err(
                "Ce numéro SIRET n'existe pas (la clé de contrôle est fausse) : vérifiez chaque chiffre.",
            )
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A commune's INSEE code (5 characters; 2A/2B for Corsica).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InseeCode(String);

impl InseeCode {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_uppercase();
        let b = s.as_bytes();
        let ok = b.len() == 5
            && (b.iter().all(u8::is_ascii_digit)
                || (b.starts_with(b"2A") || b.starts_with(b"2B"))
                    && b.iter().skip(2).all(u8::is_ascii_digit));
        if ok {
            Ok(InseeCode(s))
        } else {
            Err(
                "Le code INSEE de la commune compte 5 caractères (par exemple 75056 pour Paris, 2A004 pour Ajaccio).",
            )
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Kinds of structures employing aidants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructureKind {
    Mairie,
    Ccas,
    FranceServices,
    Association,
    Departement,
    Epci,
    ServicePublic,
    Autre,
}

impl StructureKind {
    pub const ALL: [StructureKind; 8] = [
        StructureKind::Mairie,
        StructureKind::Ccas,
        StructureKind::FranceServices,
        StructureKind::Association,
        StructureKind::Departement,
        StructureKind::Epci,
        StructureKind::ServicePublic,
        StructureKind::Autre,
    ];
    pub fn key(self) -> &'static str {
        match self {
            StructureKind::Mairie => "mairie",
            StructureKind::Ccas => "ccas",
            StructureKind::FranceServices => "france_services",
            StructureKind::Association => "association",
            StructureKind::Departement => "departement",
            StructureKind::Epci => "epci",
            StructureKind::ServicePublic => "service_public",
            StructureKind::Autre => "autre",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            StructureKind::Mairie => "Mairie",
            StructureKind::Ccas => "CCAS ou CIAS",
            StructureKind::FranceServices => "France Services",
            StructureKind::Association => "Association",
            StructureKind::Departement => "Conseil départemental",
            StructureKind::Epci => "Intercommunalité (EPCI)",
            StructureKind::ServicePublic => "Autre service public",
            StructureKind::Autre => "Autre",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        Self::ALL
            .into_iter()
            .find(|k| k.key() == raw)
            .ok_or("Choisissez le type de structure dans la liste.")
    }
}

/// A member's role in a structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Aidant,
    Referent,
    /// Records mediation activities (CRA); no access to mandates.
    Mediateur,
}

impl Role {
    pub fn key(self) -> &'static str {
        match self {
            Role::Aidant => "aidant",
            Role::Referent => "referent",
            Role::Mediateur => "mediateur",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::Aidant => "Aidant",
            Role::Referent => "Référent",
            Role::Mediateur => "Médiateur",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw {
            "aidant" => Ok(Role::Aidant),
            "referent" => Ok(Role::Referent),
            "mediateur" => Ok(Role::Mediateur),
            _ => Err("Choisissez le rôle : aidant, référent ou médiateur."),
        }
    }
}

/// A person's name as typed (trimmed, 1 to 120 characters, no control characters).
pub fn parse_name(raw: &str, missing: &'static str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(missing);
    }
    if s.chars().count() > 120 || s.chars().any(char::is_control) {
        return Err(
            "Ce texte est trop long ou contient des caractères non autorisés (120 caractères au plus).",
        );
    }
    Ok(s.to_owned())
}

/// Passwords: at least 12 characters, at most 128, not a common password,
/// not the email address.
pub fn check_password(password: &str, email: Option<&str>) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 12 {
        return Err(
            "Le mot de passe doit contenir au moins 12 caractères. Une phrase de quelques mots est facile à retenir.",
        );
    }
    if n > 128 {
        return Err("Le mot de passe ne doit pas dépasser 128 caractères.");
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS
        .lines()
        .any(|p| !p.is_empty() && p == lower)
    {
        return Err(
            "Ce mot de passe est trop courant : il figure dans les listes utilisées par les pirates. Choisissez-en un autre.",
        );
    }
    let distinct: std::collections::HashSet<char> = lower.chars().collect();
    if distinct.len() < 4 {
        return Err(
            "Ce mot de passe est trop simple (trop de caractères répétés). Choisissez-en un autre.",
        );
    }
    if let Some(email) = email {
        let local = email.split('@').next().unwrap_or("");
        if lower == email || (local.len() >= 4 && lower.contains(local)) {
            return Err("Le mot de passe ne doit pas contenir votre adresse e-mail.");
        }
    }
    Ok(())
}

/// Common passwords of 12 characters or more (lower-case), refused at enrolment.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// A person's name as pages show it: « Marie Dupont », or with a usage name
/// « Marie Martin (née Dupont) ».
pub fn display_name(given: &str, family: &str, usage: &str, gender: &str) -> String {
    if usage.is_empty() || usage == family {
        format!("{given} {family}")
    } else {
        format!("{given} {usage} ({} {family})", born(gender))
    }
}

/// « née » or « né », agreed with the FranceConnect `gender` claim.
pub fn born(gender: &str) -> &'static str {
    if gender == "female" { "née" } else { "né" }
}

/// An integer as French writes it: `1234567` → `1 234 567` (narrow no-break
/// spaces between thousands).
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + 8);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(ch);
    }
    out
}

/// A number and its noun, agreed in French: « 0 entrée », « 1 entrée »,
/// « 3 entrées » (singular below two), never « entrée(s) ». `one` and `many`
/// may carry their adjectives: `count(n, "lieu trouvé", "lieux trouvés")`.
pub fn count<N>(n: N, one: &str, many: &str) -> String
where
    N: fmt::Display + PartialOrd + From<u8>,
{
    let word = if n < N::from(2) { one } else { many };
    format!("{n} {word}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_500_000), "1\u{202f}500\u{202f}000");
        assert_eq!(super::thousands(-1234), "-1\u{202f}234");
    }

    #[test]
    fn counts_agree_in_french() {
        assert_eq!(super::count(0_i64, "entrée", "entrées"), "0 entrée");
        assert_eq!(super::count(1_usize, "entrée", "entrées"), "1 entrée");
        assert_eq!(
            super::count(2_i64, "lieu trouvé", "lieux trouvés"),
            "2 lieux trouvés"
        );
    }

    use super::*;

    #[test]
    fn siret_checksum() {
        assert!(Siret::parse("732 829 320 00074").is_ok());
        assert!(Siret::parse("73282932000075").is_err());
        assert!(Siret::parse("1234").is_err());
        assert!(Siret::parse("35600000000015").is_ok(), "La Poste rule");
    }

    #[test]
    fn emails_normalised() {
        assert_eq!(
            Email::parse("  Jean.Dupont@Exemple.FR ").unwrap().as_str(),
            "jean.dupont@exemple.fr"
        );
        assert!(Email::parse("jean@").is_err());
        assert!(Email::parse("jean dupont@exemple.fr").is_err());
        assert!(Email::parse("jean@exemple").is_err());
    }

    #[test]
    fn insee_codes() {
        assert!(InseeCode::parse("75056").is_ok());
        assert!(InseeCode::parse("2a004").is_ok());
        assert!(InseeCode::parse("7505").is_err());
        assert!(InseeCode::parse("2C004").is_err());
    }

    #[test]
    fn password_policy() {
        assert!(check_password("court", None).is_err());
        assert!(check_password("azertyuiop123", None).is_err());
        assert!(check_password("aaaaaaaaaaaaaa", None).is_err());
        assert!(check_password("marie.curie2026!", Some("marie.curie2026@exemple.fr")).is_err());
        assert!(check_password("le chat dort sur le radiateur", None).is_ok());
    }
}
