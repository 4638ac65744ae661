//! Outgoing text messages: one provider interface, three ways to deliver.
//!
//! - **Files** (development and tests, like emails): each message is a text file
//!   under `data_dir/sms`.
//! - **HTTP provider** (production, behind configuration): `POST RELAIS_SMS_URL` with
//!   `Authorization: Bearer RELAIS_SMS_TOKEN` and the JSON
//!   `{"to": "+33612345678", "text": "…", "sender": "RELAIS", "reference": "42"}`;
//!   the provider answers `{"id": "…"}`. Its delivery callbacks come to
//!   `POST /sms/statut` with `{"id": "…", "status": "delivered" | "failed" | …}`
//!   and the header `X-Relais-Signature: <hex HMAC-SHA-256 of the body keyed with
//!   RELAIS_SMS_CALLBACK_SECRET>`, compared in constant time ([`check_signature`]).
//! - **Disabled**: in production without a provider, only email is offered.
//!
//! Phone numbers are French mobiles, kept in E.164 (`+33…`), shown masked.

use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;
use crate::franceconnect::http::HttpClient;

/// The longest text sent (three SMS segments).
pub const MAX_TEXT: usize = 459;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// E.164 number.
    pub to: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("aucun fournisseur de SMS n'est configuré")]
    Disabled,
    #[error("fournisseur de SMS injoignable : {0}")]
    Unavailable(String),
    #[error("réponse du fournisseur de SMS illisible : {0}")]
    Invalid(String),
    #[error("écriture du SMS impossible : {0}")]
    File(#[from] std::io::Error),
}

#[derive(Clone)]
pub struct HttpProvider {
    url: String,
    token: String,
    sender: String,
    http: HttpClient,
}

#[derive(Clone)]
pub enum SmsSender {
    Http(Box<HttpProvider>),
    Files { dir: PathBuf },
    Disabled,
}

impl SmsSender {
    /// The provider the configuration names; files outside production; else none.
    pub fn from_config(config: &Config, http: HttpClient) -> SmsSender {
        match &config.sms_url {
            Some(url) => SmsSender::Http(Box::new(HttpProvider {
                url: url.clone(),
                token: config.sms_token.clone().unwrap_or_default(),
                sender: config.sms_sender.clone(),
                http,
            })),
            None if config.is_production() => SmsSender::Disabled,
            None => SmsSender::Files {
                dir: config.data_dir.join("sms"),
            },
        }
    }

    pub fn enabled(&self) -> bool {
        !matches!(self, SmsSender::Disabled)
    }

    /// Sends one message; returns the provider's message id (a file name in
    /// development).
    pub async fn send(&self, sms: &Sms, reference: i64) -> Result<String, SmsError> {
        match self {
            SmsSender::Disabled => Err(SmsError::Disabled),
            SmsSender::Files { dir } => {
                tokio::fs::create_dir_all(dir).await?;
                let id = format!("dev-{}", &crate::crypto::random_token()[..16]);
                let path = dir.join(format!("{id}.txt"));
                tokio::fs::write(&path, format!("À : {}\n\n{}\n", sms.to, sms.text)).await?;
                tracing::info!(path = %path.display(), "SMS écrit dans un fichier (pas de fournisseur configuré)");
                Ok(id)
            }
            SmsSender::Http(p) => {
                let body = serde_json::json!({
                    "to": sms.to,
                    "text": sms.text,
                    "sender": p.sender,
                    "reference": reference.to_string(),
                })
                .to_string();
                let res = p
                    .http
                    .post_json(&p.url, Some(&p.token), body, Duration::from_secs(10))
                    .await
                    .map_err(|e| SmsError::Unavailable(e.to_string()))?;
                if !res.status.is_success() {
                    return Err(SmsError::Unavailable(format!("statut {}", res.status)));
                }
                let v: serde_json::Value = serde_json::from_slice(&res.body)
                    .map_err(|e| SmsError::Invalid(e.to_string()))?;
                v.get("id")
                    .and_then(serde_json::Value::as_str)
                    .filter(|s| !s.is_empty() && s.len() <= 128)
                    .map(str::to_owned)
                    .ok_or_else(|| SmsError::Invalid("identifiant du message absent".into()))
            }
        }
    }
}

/// The signature a callback body must carry: hex HMAC-SHA-256 keyed with the
/// shared secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Whether a callback's signature header is right (constant-time comparison; an
/// empty secret accepts nothing).
pub fn check_signature(secret: &str, body: &[u8], header: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let header = header.trim();
    let header = header.strip_prefix("sha256=").unwrap_or(header);
    crate::crypto::ct_eq(&signature(secret, body), &header.to_ascii_lowercase())
}

/// A French phone number in E.164 (`+33…`), from how people write it:
/// `01 70 77 23 72`, `06.12.34.56.78`, `+33 6 12 34 56 78`, `0033612345678`.
/// Numbers starting 01 to 07 or 09 (not the premium-rate 08).
pub fn parse_phone(raw: &str) -> Result<String, &'static str> {
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')' | '\u{a0}'))
        .take(40)
        .collect();
    let national = if let Some(rest) = digits.strip_prefix("+33") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix("0033") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest.to_owned()
    } else {
        return Err("Saisissez un numéro de téléphone français, par exemple 06 12 34 56 78.");
    };
    let national = national.strip_prefix('0').unwrap_or(&national);
    if national.len() != 9
        || !national.bytes().all(|b| b.is_ascii_digit())
        || national.starts_with('8')
        || national.starts_with('0')
    {
        return Err(
            "Ce numéro n'est pas un numéro français à 10 chiffres (par exemple 06 12 34 56 78 ou 03 86 00 00 00) : vérifiez-le.",
        );
    }
    Ok(format!("+33{national}"))
}

/// A French mobile number in E.164 (`+336…`, `+337…`), written as [`parse_phone`]
/// reads it.
pub fn parse_mobile(raw: &str) -> Result<String, &'static str> {
    let number = parse_phone(raw).map_err(
        |_| "Saisissez un numéro de téléphone portable français, par exemple 06 12 34 56 78.",
    )?;
    if !(number.starts_with("+336") || number.starts_with("+337")) {
        return Err(
            "Ce numéro n'est pas un numéro de portable français (10 chiffres commençant par 06 ou 07) : vérifiez-le.",
        );
    }
    Ok(number)
}

/// `+33612345678` → `06 12 34 56 78` (to dial).
pub fn display_phone(e164: &str) -> String {
    let national = format!("0{}", e164.strip_prefix("+33").unwrap_or(e164));
    let mut out = String::with_capacity(14);
    for (i, c) in national.chars().enumerate() {
        if i > 0 && i % 2 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `+33612345678` → `06 •• •• •• 78`.
pub fn mask_mobile(e164: &str) -> String {
    let national = e164.strip_prefix("+33").unwrap_or(e164);
    let first = national.get(..1).unwrap_or("");
    let last = national
        .get(national.len().saturating_sub(2)..)
        .unwrap_or("");
    format!("0{first} •• •• •• {last}")
}

/// `marie.dupont@example.fr` → `m•••@example.fr`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles_as_people_write_them() {
        for raw in [
            "06 12 34 56 78",
            "06.12.34.56.78",
            "0612345678",
            "+33 6 12 34 56 78",
            "+33 (0)6 12 34 56 78",
            "0033612345678",
        ] {
            assert_eq!(parse_mobile(raw), Ok("+33612345678".into()), "{raw}");
        }
        assert_eq!(parse_mobile("07 00 00 00 01"), Ok("+33700000001".into()));
        for bad in [
            "01 23 45 67 89",
            "06 12 34 56",
            "+44 7700 900123",
            "",
            "06123456789",
            "abc",
        ] {
            assert!(parse_mobile(bad).is_err(), "{bad}");
        }
        assert_eq!(mask_mobile("+33612345678"), "06 •• •• •• 78");
        // Any French number for a call back, never a premium-rate one.
        assert_eq!(parse_phone("01 70 77 23 72"), Ok("+33170772372".into()));
        assert_eq!(parse_phone("09.70.00.00.00"), Ok("+33970000000".into()));
        for bad in ["08 99 00 00 00", "00 00 00 00 00", "1234", ""] {
            assert!(parse_phone(bad).is_err(), "{bad}");
        }
        assert_eq!(display_phone("+33170772372"), "01 70 77 23 72");
        assert_eq!(mask_email("marie@example.fr"), "m•••@example.fr");
    }

    #[test]
    fn callbacks_need_the_right_signature() {
        let body = br#"{"id":"abc","status":"delivered"}"#;
        let good = signature("secret partagé", body);
        assert_eq!(good.len(), 64);
        assert!(check_signature("secret partagé", body, &good));
        assert!(check_signature(
            "secret partagé",
            body,
            &format!("sha256={good}")
        ));
        assert!(check_signature(
            "secret partagé",
            body,
            &good.to_ascii_uppercase()
        ));
        assert!(!check_signature("autre secret", body, &good));
        assert!(!check_signature("secret partagé", b"{}", &good));
        assert!(!check_signature("", body, &signature("", body)));
        assert!(!check_signature("secret partagé", body, ""));
    }
}
