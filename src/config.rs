//! Configuration: defaults → optional TOML file → `RELAIS_*` environment variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The secret used when none is configured. Refused in production.
pub const DEFAULT_SECRET: &str = "relais-development-secret-do-not-use-in-production";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    Development,
    Production,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Config {
    /// `development` (default) or `production`.
    pub env: RunMode,
    /// Address the HTTP server listens on.
    pub bind: String,
    /// Public base URL (scheme, host, port), used in emails and for the `Origin` check.
    /// Defaults to `http://` + `bind`.
    pub public_url: Option<String>,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// Folder for the SQLite database and, without SMTP, outgoing emails.
    pub data_dir: PathBuf,
    /// Server secret (≥ 32 characters in production): keys the pseudonymisation of IPs.
    pub secret_key: String,
    /// Sender of outgoing emails.
    pub mail_from: String,
    /// Where people write when something goes wrong: shown at the foot of every
    /// page, so each « contactez le support » says how.
    pub support_email: String,
    /// Who runs this instance (the legal notice and the personal-data page name
    /// them): organisation, postal address, director of publication, host
    /// (name and address). Required in production.
    pub operator_name: String,
    pub operator_address: String,
    pub publication_director: String,
    pub hosting: String,
    /// The data protection officer's address (default: the support address).
    pub dpo_email: Option<String>,
    /// `smtp://user:pass@host:587` or `smtps://…`; emails go to `data_dir/emails` when absent.
    pub smtp_url: Option<String>,
    /// Trust the last `X-Forwarded-For` hop (behind a load balancer).
    pub trust_forwarded_for: bool,
    /// `text` or `json` logs.
    pub log_format: String,
    /// FranceConnect issuer (`…/api/v2`); defaults to the built-in simulator.
    pub fc_issuer: Option<String>,
    /// Relais' client id at FranceConnect.
    pub fc_client_id: String,
    /// Relais' client secret at FranceConnect.
    pub fc_client_secret: String,
    /// The built-in FranceConnect simulator: on by default in development, refused
    /// in production.
    pub fc_simulator: Option<bool>,
    /// Redirect URI registered at FranceConnect (default: public URL +
    /// `/mandats/franceconnect/retour`).
    pub fc_redirect_uri: Option<String>,
    /// Post-logout redirect URI registered at FranceConnect (default: public URL +
    /// `/mandats/franceconnect/deconnecte`).
    pub fc_post_logout_uri: Option<String>,
    /// Redirect URI of the usager's own sign-in (their space, a consent at a
    /// distance), registered at FranceConnect beside the aidant's (default: public
    /// URL + `/mon-espace/franceconnect/retour`).
    pub fc_usager_redirect_uri: Option<String>,
    /// Its post-logout redirect URI (default: public URL +
    /// `/mon-espace/franceconnect/deconnecte`).
    pub fc_usager_post_logout_uri: Option<String>,
    /// The HTTP SMS provider's endpoint ([`crate::sms`]); without it, SMS are
    /// written to `data_dir/sms` outside production and not offered in production.
    pub sms_url: Option<String>,
    /// The bearer token sent to the SMS provider.
    pub sms_token: Option<String>,
    /// The sender name shown on the phone.
    pub sms_sender: String,
    /// The shared secret the provider's delivery callbacks are signed with.
    pub sms_callback_secret: Option<String>,
    /// Timeout of each call to FranceConnect, in milliseconds.
    pub fc_timeout_ms: u64,
    /// Days a usager's data is kept after their last mandate ended.
    pub retention_days: i64,
    /// Clients of Relais' identity provider (FranceConnect in production). In
    /// development with none configured, the demo online service is registered.
    pub idp_clients: Vec<IdpClientConfig>,
    /// Open connections at most (default: 1,024, or less to stay under the
    /// process's file limit); more wait to be accepted.
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's headers, and an idle keep-alive
    /// connection stays open.
    pub header_timeout_seconds: u64,
    /// Seconds a client has to send a request's body.
    pub body_timeout_seconds: u64,
}

/// A client of the identity provider, registered in configuration (TOML
/// `[[idp_clients]]`). The secret is stored hashed (SHA-256, hex).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdpClientConfig {
    pub client_id: String,
    pub name: String,
    pub secret_sha256: String,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `jwt` (signed, the default, as FranceConnect expects) or `json`.
    #[serde(default = "default_userinfo_format")]
    pub userinfo_format: String,
    /// `ES256` (default), `RS256`, or `HS256` for a client marked `legacy` only.
    #[serde(default = "default_signing_alg")]
    pub signing_alg: String,
    /// An old client that can only verify HS256 (key from `relais keys hs256`).
    #[serde(default)]
    pub legacy: bool,
}

fn default_signing_alg() -> String {
    "ES256".to_owned()
}

fn default_userinfo_format() -> String {
    "jwt".to_owned()
}

/// The demo online service (development only).
pub const DEMO_CLIENT_ID: &str = "service-en-ligne-demo";
pub const DEMO_CLIENT_SECRET: &str = "secret-du-service-en-ligne-de-demonstration";
/// Where the demo online service lives.
pub const DEMO_SERVICE_PATH: &str = "/demo/service-en-ligne";

/// Development values of the FranceConnect client, refused in production.
pub const DEV_FC_CLIENT_ID: &str = "relais-developpement";
pub const DEV_FC_CLIENT_SECRET: &str = "secret-de-developpement-franceconnect-a-ne-pas-utiliser";
/// Who runs a development instance (refused in production).
pub const DEV_OPERATOR: &str = "Instance de développement de Relais (données fictives)";
/// Where the simulator is mounted.
pub const SIMULATOR_PREFIX: &str = "/franceconnect-simulateur";

impl Default for Config {
    fn default() -> Self {
        Self {
            env: RunMode::Development,
            bind: "127.0.0.1:8080".to_owned(),
            public_url: None,
            database_url: "sqlite://data/relais.db".to_owned(),
            data_dir: PathBuf::from("data"),
            secret_key: DEFAULT_SECRET.to_owned(),
            mail_from: "Relais <ne-pas-repondre@relais.localhost>".to_owned(),
            support_email: "support@relais.localhost".to_owned(),
            operator_name: DEV_OPERATOR.to_owned(),
            operator_address: String::new(),
            publication_director: String::new(),
            hosting: String::new(),
            dpo_email: None,
            smtp_url: None,
            trust_forwarded_for: false,
            log_format: "text".to_owned(),
            fc_issuer: None,
            fc_client_id: DEV_FC_CLIENT_ID.to_owned(),
            fc_client_secret: DEV_FC_CLIENT_SECRET.to_owned(),
            fc_simulator: None,
            fc_redirect_uri: None,
            fc_post_logout_uri: None,
            fc_usager_redirect_uri: None,
            fc_usager_post_logout_uri: None,
            sms_url: None,
            sms_token: None,
            sms_sender: "RELAIS".to_owned(),
            sms_callback_secret: None,
            fc_timeout_ms: 4_000,
            retention_days: 365,
            idp_clients: Vec::new(),
            max_connections: None,
            header_timeout_seconds: 10,
            body_timeout_seconds: 30,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("bind", &self.bind)
            .field("public_url", &self.public_url())
            .field("database_url", &redact_url(&self.database_url))
            .field("data_dir", &self.data_dir)
            .field("secret_key", &"<redacted>")
            .field("mail_from", &self.mail_from)
            .field("support_email", &self.support_email)
            .field("operator_name", &self.operator_name)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("log_format", &self.log_format)
            .field("fc_issuer", &self.franceconnect_issuer())
            .field("fc_client_id", &self.fc_client_id)
            .field("fc_client_secret", &"<redacted>")
            .field("fc_simulator", &self.simulator_enabled())
            .field("fc_redirect_uri", &self.franceconnect_redirect_uri())
            .field("fc_post_logout_uri", &self.franceconnect_post_logout_uri())
            .field(
                "fc_usager_redirect_uri",
                &self.franceconnect_usager_redirect_uri(),
            )
            .field(
                "fc_usager_post_logout_uri",
                &self.franceconnect_usager_post_logout_uri(),
            )
            .field("sms_url", &self.sms_url.as_deref().map(redact_url))
            .field("sms_token", &self.sms_token.as_ref().map(|_| "<redacted>"))
            .field("sms_sender", &self.sms_sender)
            .field(
                "sms_callback_secret",
                &self.sms_callback_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("fc_timeout_ms", &self.fc_timeout_ms)
            .field("retention_days", &self.retention_days)
            .field(
                "idp_clients",
                &self
                    .idp_clients
                    .iter()
                    .map(|c| c.client_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Removes the password from a URL before it is shown or logged.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration illisible : {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration refusée : {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` (when given and present), then `RELAIS_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "le fichier de configuration {} n'existe pas",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("RELAIS_").ignore(&["config", "test_database_url"]));
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    pub fn is_production(&self) -> bool {
        self.env == RunMode::Production
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.bind
            .parse()
            .map_err(|_| ConfigError::Invalid(format!("RELAIS_BIND invalide : {}", self.bind)))
    }

    /// Public URL without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind),
        }
    }

    /// `scheme://host[:port]` of the public URL, as browsers send it in `Origin`.
    pub fn public_origin(&self) -> String {
        match url::Url::parse(&self.public_url()) {
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => self.public_url(),
        }
    }

    /// Cookies are `Secure` except for plain http on a loopback address.
    pub fn secure_cookies(&self) -> bool {
        match url::Url::parse(&self.public_url()) {
            Ok(u) => !(u.scheme() == "http" && is_loopback_host(u.host_str().unwrap_or(""))),
            Err(_) => true,
        }
    }

    /// Open connections at most: configured, or 1,024 kept 64 under the process's
    /// open-file limit (`/proc/self/limits`), so the server always has descriptors
    /// left for its database and logs.
    pub fn connection_limit(&self) -> usize {
        if let Some(n) = self.max_connections {
            return n.max(1);
        }
        let soft = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3))
                    .and_then(|v| v.parse::<usize>().ok())
            });
        match soft {
            Some(n) => n.saturating_sub(64).clamp(16, 1024),
            None => 1024,
        }
    }

    /// The built-in FranceConnect simulator runs (development default).
    pub fn simulator_enabled(&self) -> bool {
        self.fc_simulator.unwrap_or(!self.is_production())
    }

    /// FranceConnect's issuer: configured, or the simulator's.
    pub fn franceconnect_issuer(&self) -> String {
        match &self.fc_issuer {
            Some(i) => i.trim_end_matches('/').to_owned(),
            None => format!("{}{SIMULATOR_PREFIX}/api/v2", self.public_url()),
        }
    }

    /// Where FranceConnect sends the usager back after login.
    pub fn franceconnect_redirect_uri(&self) -> String {
        self.fc_redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{}/mandats/franceconnect/retour", self.public_url()))
    }

    /// Where FranceConnect sends the usager back after logout.
    pub fn franceconnect_post_logout_uri(&self) -> String {
        self.fc_post_logout_uri
            .clone()
            .unwrap_or_else(|| format!("{}/mandats/franceconnect/deconnecte", self.public_url()))
    }

    /// Where FranceConnect sends a usager back after their own sign-in.
    pub fn franceconnect_usager_redirect_uri(&self) -> String {
        self.fc_usager_redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{}/mon-espace/franceconnect/retour", self.public_url()))
    }

    /// Where FranceConnect sends a usager back after their own sign-out.
    pub fn franceconnect_usager_post_logout_uri(&self) -> String {
        self.fc_usager_post_logout_uri
            .clone()
            .unwrap_or_else(|| format!("{}/mon-espace/franceconnect/deconnecte", self.public_url()))
    }

    /// The other origins a form of Relais may lead to through a redirect, as the
    /// CSP's `form-action` must list them (Chromium checks every redirect after a
    /// form post against it): FranceConnect's (the mandate form sends the browser
    /// to its authorize URL) and those of the identity provider's registered
    /// redirect and post-logout URIs (the démarche form redirects to the client).
    pub fn form_action_origins(&self) -> Vec<String> {
        let own = self.public_origin();
        // Relais' own return addresses too: the built-in simulator, when it runs on
        // another origin, posts its forms there.
        let mut out: Vec<String> = [
            self.franceconnect_issuer(),
            self.franceconnect_redirect_uri(),
            self.franceconnect_post_logout_uri(),
            self.franceconnect_usager_redirect_uri(),
            self.franceconnect_usager_post_logout_uri(),
        ]
        .into_iter()
        .chain(self.idp_clients().into_iter().flat_map(|c| {
            c.redirect_uris
                .into_iter()
                .chain(c.post_logout_redirect_uris)
        }))
        .filter_map(|u| url::Url::parse(&u).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| *o != own && o != "null")
        .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The identity provider's clients: configured ones, or in development the demo
    /// online service.
    pub fn idp_clients(&self) -> Vec<IdpClientConfig> {
        if !self.idp_clients.is_empty() || self.is_production() {
            return self.idp_clients.clone();
        }
        let base = format!("{}{DEMO_SERVICE_PATH}", self.public_url());
        vec![IdpClientConfig {
            client_id: DEMO_CLIENT_ID.to_owned(),
            name: "Simulateur de service en ligne".to_owned(),
            secret_sha256: crate::crypto::sha256_hex(DEMO_CLIENT_SECRET),
            redirect_uris: vec![format!("{base}/retour")],
            post_logout_redirect_uris: vec![base],
            userinfo_format: "jwt".to_owned(),
            signing_alg: default_signing_alg(),
            legacy: false,
        }]
    }

    pub fn binds_loopback(&self) -> bool {
        self.bind_addr()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(false)
    }

    /// Checks the configuration; production refuses default secrets and plain http.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        let public = url::Url::parse(&self.public_url()).map_err(|_| {
            ConfigError::Invalid(format!(
                "RELAIS_PUBLIC_URL invalide : {}",
                self.public_url()
            ))
        })?;
        if !matches!(public.scheme(), "http" | "https") {
            return Err(ConfigError::Invalid(
                "RELAIS_PUBLIC_URL doit commencer par http:// ou https://".into(),
            ));
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(
                "RELAIS_DATABASE_URL doit commencer par sqlite:, postgres:// ou postgresql://"
                    .into(),
            ));
        }
        if let Some(issuer) = &self.fc_issuer
            && url::Url::parse(issuer).is_err()
        {
            return Err(ConfigError::Invalid(format!(
                "RELAIS_FC_ISSUER invalide : {issuer}"
            )));
        }
        for (name, uri) in [
            ("RELAIS_FC_REDIRECT_URI", &self.fc_redirect_uri),
            ("RELAIS_FC_POST_LOGOUT_URI", &self.fc_post_logout_uri),
            (
                "RELAIS_FC_USAGER_REDIRECT_URI",
                &self.fc_usager_redirect_uri,
            ),
            (
                "RELAIS_FC_USAGER_POST_LOGOUT_URI",
                &self.fc_usager_post_logout_uri,
            ),
            ("RELAIS_SMS_URL", &self.sms_url),
        ] {
            if let Some(u) = uri
                && url::Url::parse(u).is_err()
            {
                return Err(ConfigError::Invalid(format!("{name} invalide : {u}")));
            }
        }
        if self.sms_url.is_some()
            && self
                .sms_callback_secret
                .as_deref()
                .is_none_or(|k| k.trim().len() < 16)
        {
            return Err(ConfigError::Invalid(
                "RELAIS_SMS_URL demande RELAIS_SMS_CALLBACK_SECRET (16 caractères au moins), qui authentifie les accusés de réception du fournisseur".into(),
            ));
        }
        for c in &self.idp_clients {
            let hex_ok = c.secret_sha256.len() == 64
                && c.secret_sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if c.client_id.trim().is_empty() || !hex_ok || c.redirect_uris.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "client du fournisseur d'identité « {} » : client_id, secret_sha256 (64 caractères hexadécimaux) et redirect_uris sont obligatoires",
                    c.client_id
                )));
            }
            match c.signing_alg.as_str() {
                "ES256" | "RS256" => {}
                "HS256" if c.legacy => {}
                "HS256" => {
                    return Err(ConfigError::Invalid(format!(
                        "client « {} » : HS256 n'est permis que pour un client marqué legacy = true",
                        c.client_id
                    )));
                }
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "client « {} » : signing_alg {other} inconnu (ES256, RS256, HS256)",
                        c.client_id
                    )));
                }
            }
            if !matches!(c.userinfo_format.as_str(), "jwt" | "json") {
                return Err(ConfigError::Invalid(format!(
                    "client « {} » : userinfo_format vaut jwt ou json",
                    c.client_id
                )));
            }
            for u in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
                if url::Url::parse(u).is_err() {
                    return Err(ConfigError::Invalid(format!(
                        "client « {} » : adresse invalide {u}",
                        c.client_id
                    )));
                }
            }
        }
        if !(1..=3650).contains(&self.retention_days) {
            return Err(ConfigError::Invalid(
                "RELAIS_RETENTION_DAYS doit être compris entre 1 et 3650".into(),
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(
                "RELAIS_LOG_FORMAT vaut text ou json".into(),
            ));
        }
        if crate::domain::Email::parse(&self.support_email).is_err() {
            return Err(ConfigError::Invalid(format!(
                "RELAIS_SUPPORT_EMAIL doit être une adresse e-mail : {}",
                self.support_email
            )));
        }
        if self.is_production() {
            if self.support_email.ends_with(".localhost") {
                return Err(ConfigError::Invalid(
                    "en production, RELAIS_SUPPORT_EMAIL doit être l'adresse réelle du support (elle est affichée au pied de chaque page)".into(),
                ));
            }
            if self.operator_name.trim().is_empty()
                || self.operator_name == DEV_OPERATOR
                || self.operator_address.trim().is_empty()
                || self.publication_director.trim().is_empty()
                || self.hosting.trim().is_empty()
            {
                return Err(ConfigError::Invalid(
                    "en production, RELAIS_OPERATOR_NAME, RELAIS_OPERATOR_ADDRESS, RELAIS_PUBLICATION_DIRECTOR et RELAIS_HOSTING doivent nommer l'exploitant, son adresse, le directeur de la publication et l'hébergeur (ils sont publiés dans les mentions légales)".into(),
                ));
            }
            if self.secret_key == DEFAULT_SECRET
                || self.secret_key.chars().count() < 32
                || secret_entropy_bits(&self.secret_key) < MIN_SECRET_BITS
                || distinct_chars(&self.secret_key) < 12
            {
                return Err(ConfigError::Invalid(
                    "en production, RELAIS_SECRET_KEY doit être un secret aléatoire (32 caractères au moins, variés : par exemple la sortie de « openssl rand -base64 48 »), différent de la valeur de développement".into(),
                ));
            }
            if public.scheme() != "https" {
                return Err(ConfigError::Invalid(
                    "en production, RELAIS_PUBLIC_URL doit être en https://".into(),
                ));
            }
            if self.fc_simulator == Some(true) {
                return Err(ConfigError::Invalid(
                    "en production, le simulateur FranceConnect est interdit (RELAIS_FC_SIMULATOR)"
                        .into(),
                ));
            }
            if self.fc_issuer.is_none()
                || self.fc_client_id == DEV_FC_CLIENT_ID
                || self.fc_client_secret == DEV_FC_CLIENT_SECRET
            {
                return Err(ConfigError::Invalid(
                    "en production, RELAIS_FC_ISSUER, RELAIS_FC_CLIENT_ID et RELAIS_FC_CLIENT_SECRET doivent être définis".into(),
                ));
            }
        }
        Ok(())
    }
}

pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// The entropy a production secret must show (see [`secret_entropy_bits`]).
pub const MIN_SECRET_BITS: f64 = 100.0;

/// An estimate of a secret's entropy: its length times the Shannon entropy of its
/// characters' frequencies. A repeated character scores 0 (`k` × 40), `abab…` one
/// bit a character; 48 random base64 characters about 250, 64 hex digits about
/// 240. Not a proof of randomness: it refuses the secrets that obviously are not.
pub fn secret_entropy_bits(secret: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in secret.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let len = n as f64;
    let per_char: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / len;
            -p * p.log2()
        })
        .sum();
    per_char * len
}

fn distinct_chars(s: &str) -> usize {
    s.chars().collect::<std::collections::HashSet<_>>().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_entropy_secrets_are_refused_in_production() {
        let mut c = Config {
            env: RunMode::Production,
            public_url: Some("https://relais.example.fr".into()),
            fc_issuer: Some("https://fcp.integ01.dev-franceconnect.fr/api/v2".into()),
            fc_client_id: "client".into(),
            fc_client_secret: "s".repeat(40),
            support_email: "support@relais.example.fr".into(),
            operator_name: "Mairie d'Essai".into(),
            operator_address: "1 place de la Mairie, 89000 Auxerre".into(),
            publication_director: "Le maire".into(),
            hosting: "Hébergeur, 1 rue de l'Exemple, 75000 Paris".into(),
            ..Config::default()
        };
        for weak in [
            "k".repeat(40),
            "ab".repeat(20),
            "abcd".repeat(10),
            "0123456789".repeat(4),
        ] {
            c.secret_key = weak.clone();
            assert!(c.validate().is_err(), "{weak} accepted");
        }
        for strong in [
            "c4Jw0Zr9Kq2mXyT7bVn1LpQe8sHdUa3GfRi6oWk5EtYzNj0B",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ] {
            c.secret_key = strong.to_owned();
            assert!(c.validate().is_ok(), "{strong} refused");
        }
    }

    #[test]
    fn production_refuses_defaults_and_http() {
        let mut c = Config {
            env: RunMode::Production,
            operator_name: "Conseil départemental de l'Yonne".into(),
            operator_address: "1 place de la Préfecture, 89000 Auxerre".into(),
            publication_director: "La présidente du conseil départemental".into(),
            hosting: "Hébergeur public, 1 rue de l'Exemple, 75000 Paris".into(),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        c.secret_key = "c4Jw0Zr9Kq2mXyT7bVn1LpQe8sHdUa3GfRi6oWk5EtYzNj0B".into();
        assert!(c.validate().is_err(), "http public URL refused");
        c.public_url = Some("https://relais.example.fr".into());
        assert!(
            c.validate().is_err(),
            "FranceConnect client must be configured"
        );
        c.fc_issuer = Some("https://fcp.integ01.dev-franceconnect.fr/api/v2".into());
        c.fc_client_id = "client".into();
        c.fc_client_secret = "s".repeat(40);
        assert!(
            c.validate().is_err(),
            "the support address must be the real one"
        );
        c.support_email = "pas une adresse".into();
        assert!(c.validate().is_err());
        c.support_email = "support@relais.example.fr".into();
        assert!(c.validate().is_ok());
        // The legal notice names the operator and the host.
        for clear in [
            |c: &mut Config| c.operator_name = DEV_OPERATOR.into(),
            |c: &mut Config| c.operator_address.clear(),
            |c: &mut Config| c.publication_director.clear(),
            |c: &mut Config| c.hosting = " ".into(),
        ] {
            let mut incomplete = c.clone();
            clear(&mut incomplete);
            assert!(incomplete.validate().is_err());
        }
        assert!(!c.simulator_enabled());
        c.fc_simulator = Some(true);
        assert!(c.validate().is_err(), "simulator refused in production");
    }

    #[test]
    fn secure_cookie_rule() {
        let mut c = Config::default();
        assert!(!c.secure_cookies());
        c.public_url = Some("http://relais.example.fr".into());
        assert!(c.secure_cookies());
        c.public_url = Some("https://localhost:8443".into());
        assert!(c.secure_cookies());
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Config {
            smtp_url: Some("smtp://user:hunter2@mail.example.fr:587".into()),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains(DEFAULT_SECRET));
    }
}
