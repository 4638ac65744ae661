//! The public verification page of attestations (the QR code leads here) and the
//! published verification keys.

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use crate::mandats::attestation::{self, Kind};
use crate::mandats::{self, Demarche};
use crate::web::AppState;
use crate::web::context::Ctx;
use crate::web::error::AppResult;
use crate::web::views::{Shell, render, render_status};

pub struct Verdict {
    pub authentic: bool,
    pub title: &'static str,
    pub structure: String,
    pub initials: String,
    pub demarches: String,
    pub start: String,
    pub end: String,
    pub state: String,
}

#[derive(Template)]
#[template(path = "verify.html")]
pub struct VerifyView {
    pub shell: Shell,
    pub result: Option<Verdict>,
}

fn initials(given: &str, family: &str) -> String {
    let first = |s: &str| {
        s.chars()
            .next()
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_default()
    };
    format!("{}. {}.", first(given), first(family))
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let shell = Shell::new(&ctx, "Vérification d'une attestation");
    let Some(stored) = attestation::by_token(&state.db, &token).await? else {
        return render_status(
            axum::http::StatusCode::NOT_FOUND,
            &VerifyView {
                shell,
                result: None,
            },
        );
    };
    let authentic = stored.authentic();
    let now = state.now();
    let mandat = mandats::mandats(
        &state.db,
        stored.structure_id,
        None,
        Some(stored.mandat_id),
        now,
    )
    .await?
    .into_iter()
    .next();
    let usager = match &mandat {
        Some(m) => {
            mandats::usager_for_structure(&state.db, stored.structure_id, m.usager_id).await?
        }
        None => None,
    };
    let result = stored.payload.as_ref().map(|p| Verdict {
        authentic,
        title: match stored.kind {
            Kind::Mandat => "Attestation de mandat",
            Kind::Revocation => "Attestation de révocation",
        },
        structure: p.structure.clone(),
        initials: usager
            .as_ref()
            .map(|u| initials(&u.identity.given_name, &u.identity.family_name))
            .unwrap_or_default(),
        demarches: p
            .demarches
            .iter()
            .filter_map(|d| Demarche::parse(d).ok())
            .map(Demarche::title)
            .collect::<Vec<_>>()
            .join(", "),
        start: crate::time_fr::date(p.debut),
        end: mandats::last_day(p.fin),
        state: match &mandat {
            Some(m) => match m.state {
                mandats::State::Active => active_state(m),
                mandats::State::Expired => "expiré".to_owned(),
                mandats::State::Revoked => format!(
                    "révoqué le {}",
                    m.revoked_at().map(crate::time_fr::date).unwrap_or_default()
                ),
            },
            None => "inconnu".to_owned(),
        },
    });
    if !authentic {
        tracing::warn!(
            attestation = stored.id,
            "attestation à la signature invalide consultée"
        );
    }
    render(&VerifyView { shell, result })
}

/// The public keys that sign attestations (JWK-like, Ed25519).
pub async fn keys(State(state): State<AppState>) -> AppResult<Response> {
    let keys: Vec<serde_json::Value> = attestation::public_keys(&state.db)
        .await?
        .into_iter()
        .map(|(kid, x)| serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid, "x": x }))
        .collect();
    Ok(Json(serde_json::json!({ "keys": keys })).into_response())
}

/// « actif pour Logement ; révoqué pour Argent le 05/12/2026 »: which démarches
/// the mandate still covers, and which were revoked and when.
fn active_state(m: &mandats::Mandat) -> String {
    let titles = |state: mandats::State| -> Vec<String> {
        m.autorisations
            .iter()
            .filter(|a| a.state == state)
            .map(|a| match state {
                mandats::State::Revoked => {
                    format!("{} le {}", a.demarche.title(), a.revoked_on())
                }
                _ => a.demarche.title().to_owned(),
            })
            .collect()
    };
    let active = titles(mandats::State::Active).join(", ");
    let revoked = titles(mandats::State::Revoked);
    if revoked.is_empty() {
        format!("actif pour {active}")
    } else {
        format!("actif pour {active} ; révoqué pour {}", revoked.join(", "))
    }
}
