//! Relais: the open platform for France's digital inclusion.
//!
//! The crate is organised after the systems it implements; see `docs/ARCHITECTURE.md`.
//! - [`accounts`]: aidants, référents and administrators, passwords, TOTP, invitations.
//! - [`structures`]: the employers of aidants, identified by SIRET.
//! - [`sessions`]: database-backed sessions (stateless app servers).
//! - [`web`]: HTTP routes, authorisation rules, pages.

pub mod accounts;
pub mod bench;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod domain;
pub mod mail;
pub mod sessions;
pub mod structures;
pub mod web;
