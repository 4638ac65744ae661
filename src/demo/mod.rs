//! Demonstration data, created only in development, on a loopback address, when the
//! database has no account at all. Everything is clearly labelled as fictitious:
//! a structure, three accounts, and (when the directory is empty) three places near
//! Auxerre (`lieux.csv`, source `demonstration`), the structure hosted at the first.

use crate::accounts::{password, totp};
use crate::db::Db;
use crate::db::Exec as _;
use crate::domain::{InseeCode, Siret, StructureKind};
use crate::structures::{self, NewStructure};

/// A demo account to print at start-up.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub label: &'static str,
    pub email: &'static str,
    pub password: String,
    pub totp_secret: String,
}

/// SIRET made of nines (valid checksum, not a real establishment).
pub const DEMO_SIRET: &str = "99999999900009";

fn demo_password() -> String {
    let t = crate::crypto::random_token();
    format!("demo-{}-{}-{}", &t[0..4], &t[4..8], &t[8..12])
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Db(#[from] crate::db::Error),
    #[error("{0}")]
    Other(String),
}

/// The demo places, in the national standard's CSV.
const PLACES: &str = include_str!("lieux.csv");

/// Creates the demo structure, an administrator, a référent, an aidant and a
/// médiateur (working at the demo places), and the demo places when the directory
/// is empty.
pub async fn seed(db: &Db, now: i64) -> Result<Vec<DemoAccount>, DemoError> {
    let structure = NewStructure {
        name: "Structure de démonstration (fictive)".to_owned(),
        siret: Siret::parse(DEMO_SIRET).map_err(|m| DemoError::Other(m.to_owned()))?,
        address: "1 place de la Démonstration, 89000 Auxerre (adresse fictive)".to_owned(),
        commune_insee: InseeCode::parse("89024").map_err(|m| DemoError::Other(m.to_owned()))?,
        kind: StructureKind::FranceServices,
        is_demo: true,
    };
    let sid = structures::create(db, &structure, now)
        .await
        .map_err(|e| DemoError::Other(e.to_string()))?;
    let people: [(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        bool,
    ); 5] = [
        (
            "Administrateur",
            "admin@demo.relais.localhost",
            "Alice Administratrice (démo)",
            None,
            true,
        ),
        (
            "Référent",
            "referent@demo.relais.localhost",
            "Rémi Référent (démo)",
            Some("referent"),
            false,
        ),
        (
            "Aidant",
            "aidant@demo.relais.localhost",
            "Awa Aidante (démo)",
            Some("aidant"),
            false,
        ),
        (
            "Médiateur",
            "mediateur@demo.relais.localhost",
            "Maël Médiateur (démo)",
            Some("mediateur"),
            false,
        ),
        // Not a member: follows the Yonne's steering figures (a préfecture).
        (
            "Pilotage (Yonne)",
            "pilotage@demo.relais.localhost",
            "Paule Pilotage (démo)",
            Some("pilotage"),
            false,
        ),
    ];
    let mut out = Vec::new();
    let mut admin_id = None;
    let mut mediator = None;
    let mut tx = db.begin().await?;
    for (label, email, name, role, is_admin) in people {
        let pw = demo_password();
        let hash = password::hash(pw.clone()).await.map_err(DemoError::Other)?;
        let secret = totp::generate_secret();
        let id: i64 = tx.fetch_one("INSERT INTO accounts (email, full_name, password_hash, totp_secret, is_admin, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", crate::args![email, name, hash, &secret, i64::from(is_admin), now])
            .await?.get("id")?;
        if is_admin {
            admin_id = Some(id);
        }
        if role == Some("pilotage") {
            tx.execute(
                "INSERT INTO territoire_comptes (account_id, niveau, code, created_at)
                 VALUES ($1, 'departement', '89', $2)",
                crate::args![id, now],
            )
            .await?;
        } else if let Some(role) = role {
            tx.execute("INSERT INTO memberships (account_id, structure_id, role, created_at) VALUES ($1, $2, $3, $4)", crate::args![id, sid, role, now])
                .await?;
            if role == "mediateur" {
                crate::activites::ensure_profile(&mut tx, id, now).await?;
                mediator = Some(id);
            }
        }
        out.push(DemoAccount {
            label,
            email,
            password: pw,
            totp_secret: secret,
        });
    }
    tx.commit().await?;
    if let Some(admin) = admin_id {
        seed_places(db, admin, now).await?;
        // The demo structure calls back Solidarité Numérique's requests near
        // Auxerre: a request sent from `/rappel` with 89000 lands in its queue.
        crate::rappels::set_participation(db, sid, Some("local"), admin, now).await?;
        // The resource centre's starter set, published, and its collection.
        crate::ressources::fiches::seed(db, admin, now).await?;
    }
    if let Some(m) = mediator {
        for r in db
            .fetch_all(
                "SELECT id FROM lieux WHERE source = 'demonstration' ORDER BY id",
                &[],
            )
            .await?
        {
            crate::activites::add_place(db, m, r.int("id")?, now).await?;
        }
    }
    Ok(out)
}

/// Imports the demo places into an empty directory (a real one is never touched) and
/// hosts the demo structure at the first, so the search shows « Aidants Connect ».
async fn seed_places(db: &Db, admin: i64, now: i64) -> Result<(), DemoError> {
    let existing: i64 = db
        .fetch_one("SELECT COUNT(*) AS n FROM lieux", &[])
        .await?
        .get("n")?;
    if existing > 0 {
        return Ok(());
    }
    let read = crate::lieux::read_csv(PLACES.as_bytes(), crate::lieux::Encoding::Utf8)
        .map_err(|e| DemoError::Other(e.to_string()))?;
    let report = crate::lieux::import(db, read, "demonstration", false, now).await?;
    if !report.written {
        return Err(DemoError::Other(format!(
            "lieux de démonstration refusés : {:?}",
            report.rejected
        )));
    }
    let first: i64 = db
        .fetch_one(
            "SELECT id FROM lieux WHERE source = 'demonstration' AND lieu_id = 'demo-1'",
            &[],
        )
        .await?
        .get("id")?;
    crate::lieux::accueil::link(db, first, DEMO_SIRET, admin, now)
        .await
        .map_err(|e| DemoError::Other(e.to_string()))?;
    Ok(())
}

/// Demo data only in development, on a loopback address, in an empty database.
pub fn should_seed(config: &crate::config::Config, existing_accounts: i64) -> bool {
    !config.is_production() && config.binds_loopback() && existing_accounts == 0
}

/// Where the banner says things are: how to run this very binary, and where the
/// emails go.
#[derive(Debug, Clone)]
pub struct BannerPlaces {
    /// The command that started this server (`target/release/relais`), for
    /// `… totp <clé>`.
    pub program: String,
    /// The folder the emails are written to; `None` when they go by SMTP.
    pub emails_dir: Option<std::path::PathBuf>,
}

/// The banner printed on the terminal (never in the logs).
pub fn banner(accounts: &[DemoAccount], public_url: &str, places: &BannerPlaces) -> String {
    let mut s = String::new();
    s.push_str("\n==================== DÉMONSTRATION (données fictives) ====================\n");
    s.push_str(&format!("Relais tourne sur {public_url}\n"));
    s.push_str("Comptes de démonstration créés (base vide, adresse locale, hors production) :\n");
    for a in accounts {
        s.push_str(&format!(
            "  {:<15} e-mail : {}\n                  mot de passe : {}\n                  clé TOTP : {}\n",
            a.label, a.email, a.password, a.totp_secret
        ));
    }
    s.push_str(
        "Code à 6 chiffres : ajoutez la clé TOTP dans une application d'authentification,\n",
    );
    s.push_str(&format!(
        "ou lancez `{} totp <clé TOTP>` dans un autre terminal.\n",
        places.program
    ));
    match &places.emails_dir {
        Some(dir) => s.push_str(&format!(
            "Les e-mails (invitations…) sont écrits dans {}/.\n",
            dir.display()
        )),
        None => s.push_str("Les e-mails (invitations…) partent par le serveur SMTP configuré.\n"),
    }
    s.push_str(
        "Mandats : connectez-vous comme aidant, « Nouveau mandat » ; la personne se connecte\n\
         avec le simulateur FranceConnect intégré (identités de test, scénarios d'échec).\n",
    );
    s.push_str(&format!(
        "Pour le compte de : {public_url}/demo/service-en-ligne joue un service en ligne fédéré.\n\
         Lieux : {public_url}/lieux, cherchez « Auxerre » (lieux fictifs).\n"
    ));
    s.push_str("===========================================================================\n");
    s
}

#[cfg(test)]
mod banner_tests {
    #[test]
    fn the_banner_names_this_binary_and_the_real_email_folder() {
        let accounts = [super::DemoAccount {
            label: "Aidant",
            email: "aidant@demo.relais.localhost",
            password: "mot-de-passe".into(),
            totp_secret: "JBSWY3DPEHPK3PXP".into(),
        }];
        let places = super::BannerPlaces {
            program: "/opt/relais/bin/relais".into(),
            emails_dir: Some("/srv/relais-donnees/emails".into()),
        };
        let b = super::banner(&accounts, "http://127.0.0.1:8080", &places);
        assert!(
            b.contains("`/opt/relais/bin/relais totp <clé TOTP>`"),
            "{b}"
        );
        assert!(b.contains("/srv/relais-donnees/emails/"), "{b}");
        assert!(
            !b.contains("cargo run") && !b.contains("data/emails"),
            "{b}"
        );
        let smtp = super::BannerPlaces {
            emails_dir: None,
            ..places
        };
        assert!(super::banner(&accounts, "http://127.0.0.1:8080", &smtp).contains("SMTP"));
    }
}

#[cfg(test)]
mod tests {
    use super::should_seed;
    use crate::config::{Config, RunMode};

    #[test]
    fn demo_only_in_development_on_loopback_with_an_empty_database() {
        let dev = Config::default();
        assert!(should_seed(&dev, 0));
        assert!(!should_seed(&dev, 1), "never on a database with accounts");
        let lan = Config {
            bind: "0.0.0.0:8080".into(),
            ..Config::default()
        };
        assert!(!should_seed(&lan, 0), "never on a public address");
        let prod = Config {
            env: RunMode::Production,
            ..Config::default()
        };
        assert!(!should_seed(&prod, 0), "never in production");
    }
}
