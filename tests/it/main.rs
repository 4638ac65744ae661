#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a failed test"
)]
//! The integration-test binary: every test runs on SQLite, and also on PostgreSQL
//! when `RELAIS_TEST_DATABASE_URL` is set (mandatory in CI).

mod common;

mod activites;
mod api;
mod auth;
mod browser;
mod cards;
mod cluster;
mod equipements;
mod espace;
mod franceconnect;
mod habilitation;
mod idp;
mod lieux;
mod mandats;
mod matrix;
mod pass;
mod pilotage;
mod rappels;
mod ressources;
mod schema;
mod security;
mod team;
