//! Handlers, grouped by area. Thin: parse, call the domain, render.

pub mod account;
pub mod activites;
pub mod admin;
pub mod api;
pub mod auth;
pub mod cards;
pub mod distance;
pub mod equipements;
pub mod espace;
pub mod habilitation;
pub mod idp;
pub mod initiatives;
pub mod journal;
pub mod lieux;
pub mod mandats;
pub mod pass;
pub mod pilotage;
pub mod public;
pub mod rappels;
pub mod ressources;
pub mod simulator;
pub mod structure;
pub mod team;
pub mod usagers;
pub mod verify;

use axum::response::{IntoResponse, Redirect, Response};

use crate::sessions::Session;

/// Sensitive actions need a TOTP code confirmed since the last 15-minute idle period.
/// Returns the redirect to the step-up page when a code must be confirmed first.
pub(crate) fn step_up_needed(session: &Session, back_to: &str) -> Option<Response> {
    session.reauth_required.then(|| {
        let encoded: String = url::form_urlencoded::byte_serialize(back_to.as_bytes()).collect();
        Redirect::to(&format!("/reconfirmer?suivant={encoded}")).into_response()
    })
}

/// Where a signed-in person lands.
pub(crate) fn landing(session: &Session) -> &'static str {
    if session.aidant_of_current().is_some() {
        "/espace"
    } else if session.mediator_of_current().is_some() {
        "/activites"
    } else if session.is_admin {
        "/admin"
    } else if session.financeur_id.is_some() {
        "/financeur"
    } else if session.territoire {
        "/pilotage"
    } else {
        "/compte"
    }
}
