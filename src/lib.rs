//! Relais: the open platform for France's digital inclusion.
//!
//! The crate is organised after the systems it implements; see `docs/ARCHITECTURE.md`.
//! - [`accounts`]: aidants, référents and administrators, passwords, TOTP, invitations.
//! - [`structures`]: the employers of aidants, identified by SIRET.
//! - [`mandats`]: mandates (Aidants Connect): usagers, autorisations, attestations.
//! - [`journal`]: the tamper-evident journal of everything done under mandates.
//! - [`franceconnect`]: the usager's login (OIDC client) and a local simulator.
//! - [`idp`]: Relais as an OpenID Connect provider (acting for a usager).
//! - [`lieux`]: the national directory of digital-mediation places (open-data standard).
//! - [`jobs`]: daily background jobs in the database (retention).
//! - [`sessions`]: database-backed sessions (stateless app servers).
//! - [`web`]: HTTP routes, authorisation rules, pages.

pub mod accounts;
pub mod activites;
pub mod api_clients;
pub mod bench;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod csv_export;
pub mod csv_import;
pub mod db;
pub mod demo;
pub mod domain;
pub mod equipements;
pub mod formations;
pub mod franceconnect;
pub mod habilitation;
pub mod idp;
pub mod jobs;
pub mod journal;
pub mod lieux;
pub mod mail;
pub mod mandats;
pub mod pass;
pub mod pdf;
pub mod pilotage;
pub mod rappels;
pub mod ressources;
pub mod sessions;
pub mod sms;
pub mod structures;
pub mod territoires;
pub mod time_fr;
pub mod web;

/// Brings a database to the current version: the SQL migrations, then the steps
/// that need the server's keys — when migration 10 (signed journal heads) is
/// applied to a database that already has a journal, its chains are sealed as they
/// are, once, after their hashes verify.
/// What [`start`] did.
#[derive(Debug)]
pub struct Started {
    pub migrations: Vec<i64>,
    /// Places whose search columns were recomputed.
    pub reindexed: u64,
    /// The demonstration accounts, when this server created them.
    pub demo: Option<Vec<demo::DemoAccount>>,
}

/// What a server does once when it starts — migrations, the places' search
/// columns, the identity provider's first keys, the demonstration (on a fresh
/// local database) — under the database's start-up lock
/// ([`db::Db::startup_lock`]): any number of servers may start together, on an
/// empty or an existing database; the first does the work, the others find it
/// done.
pub async fn start(db: &db::Db, config: &config::Config, now: i64) -> anyhow::Result<Started> {
    use anyhow::Context as _;
    let lock = db.startup_lock().await.context("verrou de démarrage")?;
    let migrations = migrate(db, now).await.context("migrations")?;
    let reindexed = lieux::index::refresh(db).await.context("index des lieux")?;
    for alg in idp::keys::algs_for(&config.idp_clients()) {
        idp::keys::ensure(db, &config.secret_key, alg, now).await?;
    }
    let demo = if demo::should_seed(config, accounts::count(db).await?) {
        Some(demo::seed(db, now).await?)
    } else {
        None
    };
    lock.release().await.context("verrou de démarrage")?;
    Ok(Started {
        migrations,
        reindexed,
        demo,
    })
}

pub async fn migrate(db: &db::Db, now: i64) -> anyhow::Result<Vec<i64>> {
    let applied = db.migrate(now).await?;
    if applied.contains(&10) {
        let sealed = journal::seal_chains(db, true, now).await?;
        if sealed > 0 {
            tracing::info!(
                chaines = sealed,
                "têtes du journal scellées (mise à niveau)"
            );
        }
    }
    Ok(applied)
}
