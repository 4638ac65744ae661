//! Authorisation: one central mechanism. Every route declares an [`Access`] rule;
//! the guard checks it and hands the handler a capability (a typed extractor) that
//! can only exist when the rule holds.

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::context::Ctx;
use super::error::AppError;
use crate::domain::Role;
use crate::sessions::Session;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// A machine-to-machine endpoint (OpenID Connect token, userinfo): no session and
    /// no CSRF token; the handler authenticates the client itself.
    Api,
    /// Any signed-in account.
    SignedIn,
    /// An active aidant or référent of the session's current structure (mandates).
    Member,
    /// An active member of the session's current structure who records mediation
    /// activities (a mediator profile).
    Mediator,
    /// A mediator of the current structure whose profile says they coordinate a team.
    Coordinator,
    /// Someone working for a pass numérique funder.
    Funder,
    /// An active member of the current structure when it is a pass numérique
    /// prescripteur (hands out carnets).
    Prescriber,
    /// An active member of the current structure when it is a place qualified for
    /// the pass numérique (redeems pass).
    PassPlace,
    /// An active référent of the structure `{sid}` in the path, or an administrator.
    StructureManager,
    /// An administrator.
    Admin,
    /// Someone following a territory's steering figures (national, région, hub,
    /// département): aggregates of that territory only.
    Territory,
    /// A usager signed in to their own space with FranceConnect (a separate
    /// cookie; nothing to do with an account's session).
    Usager,
    /// An active member of the current structure when it answers Solidarité
    /// Numérique requests (the national helpline, or a local structure).
    Helpline,
    /// Someone who writes resources: an active member of the current structure
    /// (for it), an administrator or a hub's account (without structure).
    Author,
    /// Someone who reviews resources and records local authorities' initiatives:
    /// an administrator or a hub's account.
    Curator,
}

/// Any signed-in person.
#[derive(Clone)]
pub struct SignedIn(pub Arc<Session>);

/// An active member of the current structure.
#[derive(Clone)]
pub struct Member {
    pub session: Arc<Session>,
    pub structure_id: i64,
    pub role: Role,
}

/// A mediator working in the current structure.
#[derive(Clone)]
pub struct Mediator {
    pub session: Arc<Session>,
    pub structure_id: i64,
}

/// Someone allowed to manage the team of `structure_id`.
#[derive(Clone)]
pub struct Manager {
    pub session: Arc<Session>,
    pub structure_id: i64,
}

/// An administrator.
#[derive(Clone)]
pub struct Admin(pub Arc<Session>);

/// Someone following a territory, with its départements.
#[derive(Clone)]
pub struct Territory {
    pub session: Arc<Session>,
    pub territoire: crate::pilotage::Territoire,
}

/// An agent of the helpline (national) or of a structure answering its requests.
#[derive(Clone)]
pub struct Helpline {
    pub session: Arc<Session>,
    pub agent: crate::rappels::Agent,
}

/// Someone who writes resources, and for which structure.
#[derive(Clone)]
pub struct Author {
    pub session: Arc<Session>,
    pub auteur: crate::ressources::Auteur,
}

/// An administrator or a hub's account (reviews resources).
#[derive(Clone)]
pub struct Curator(pub Arc<Session>);

/// Whether the account curates resources: an administrator or a hub's account.
pub async fn is_curator(state: &AppState, session: &Session) -> Result<bool, crate::db::Error> {
    Ok(session.is_admin || is_hub(state, session).await?)
}

/// Whether the account follows a hub (a hub's account curates resources).
async fn is_hub(state: &AppState, session: &Session) -> Result<bool, crate::db::Error> {
    if !session.territoire {
        return Ok(false);
    }
    Ok(crate::pilotage::of_account(&state.db, session.account_id)
        .await?
        .is_some_and(|t| t.niveau == crate::pilotage::Niveau::Hub))
}

/// A usager signed in to their space.
#[derive(Clone)]
pub struct Usager(pub crate::mandats::espace::UsagerSession);

/// The cookie of a usager's session in their space.
pub const USAGER_COOKIE: &str = "relais_usager";

/// Someone working for the funder `financeur_id`.
#[derive(Clone)]
pub struct Funder {
    pub session: Arc<Session>,
    pub financeur_id: i64,
}

/// A member of a structure that hands out pass, or of a qualified place: the
/// structure.
#[derive(Clone)]
pub struct PassStructure {
    pub session: Arc<Session>,
    pub structure_id: i64,
}

pub async fn guard(
    State((state, access)): State<(AppState, Access)>,
    params: RawPathParams,
    mut req: Request,
    next: Next,
) -> Response {
    let ctx = req.extensions().get::<Ctx>().cloned();
    let session = ctx.as_ref().and_then(|c| c.session.clone());
    if access == Access::Api {
        return next.run(req).await;
    }
    if access == Access::Usager {
        let cookie = super::context::cookie_value(req.headers(), USAGER_COOKIE)
            .unwrap_or("")
            .to_owned();
        return match crate::mandats::espace::session(&state.db, &cookie, state.now()).await {
            Ok(Some(s)) => {
                req.extensions_mut().insert(Usager(s));
                next.run(req).await
            }
            Ok(None) if cookie.is_empty() => Redirect::to("/mon-espace").into_response(),
            Ok(None) => {
                let mut res = Redirect::to("/mon-espace?session=terminee").into_response();
                res.headers_mut().append(
                    axum::http::header::SET_COOKIE,
                    super::context::set_cookie(&state, USAGER_COOKIE, "", Some(0)),
                );
                res
            }
            Err(e) => AppError::from(e).into_response(),
        };
    }
    if access == Access::Public {
        if let Some(s) = session {
            req.extensions_mut().insert(SignedIn(s));
        }
        return next.run(req).await;
    }
    let Some(session) = session else {
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let login = if req.method() == axum::http::Method::GET {
            let encoded: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
            format!("/connexion?suivant={encoded}")
        } else {
            "/connexion".to_owned()
        };
        return Redirect::to(&login).into_response();
    };
    req.extensions_mut().insert(SignedIn(session.clone()));
    match access {
        Access::Public | Access::Api | Access::SignedIn | Access::Usager => {}
        Access::Mediator => match session.mediator_of_current() {
            Some(structure_id) => {
                req.extensions_mut().insert(Mediator {
                    session: session.clone(),
                    structure_id,
                });
            }
            None => return AppError::Forbidden.into_response(),
        },
        Access::Coordinator => match session.mediator_of_current() {
            Some(structure_id) if session.coordinateur => {
                req.extensions_mut().insert(Mediator {
                    session: session.clone(),
                    structure_id,
                });
            }
            _ => return AppError::Forbidden.into_response(),
        },
        Access::Funder => match session.financeur_id {
            Some(financeur_id) => {
                req.extensions_mut().insert(Funder {
                    session: session.clone(),
                    financeur_id,
                });
            }
            None => return AppError::Forbidden.into_response(),
        },
        Access::Prescriber | Access::PassPlace => {
            let structure = if access == Access::Prescriber {
                session.prescriber_of_current()
            } else {
                session.pass_place_of_current()
            };
            match structure {
                Some(structure_id) => {
                    req.extensions_mut().insert(PassStructure {
                        session: session.clone(),
                        structure_id,
                    });
                }
                None => return AppError::Forbidden.into_response(),
            }
        }
        Access::Author => {
            let structure_id = match session.member_of_current() {
                Some((sid, _)) => Some(sid),
                None if session.is_admin => None,
                None => match is_hub(&state, &session).await {
                    Ok(true) => None,
                    Ok(false) => return AppError::Forbidden.into_response(),
                    Err(e) => return AppError::from(e).into_response(),
                },
            };
            req.extensions_mut().insert(Author {
                session: session.clone(),
                auteur: crate::ressources::Auteur {
                    account_id: session.account_id,
                    structure_id,
                },
            });
        }
        Access::Curator => {
            let ok = match is_curator(&state, &session).await {
                Ok(b) => b,
                Err(e) => return AppError::from(e).into_response(),
            };
            if !ok {
                return AppError::Forbidden.into_response();
            }
            req.extensions_mut().insert(Curator(session.clone()));
        }
        Access::Helpline => match session.helpline_of_current() {
            Some(agent) => {
                req.extensions_mut().insert(Helpline {
                    session: session.clone(),
                    agent,
                });
            }
            None => return AppError::Forbidden.into_response(),
        },
        Access::Member => match session.aidant_of_current() {
            Some((structure_id, role)) => {
                req.extensions_mut().insert(Member {
                    session: session.clone(),
                    structure_id,
                    role,
                });
            }
            None => return AppError::Forbidden.into_response(),
        },
        Access::StructureManager => {
            let sid = params
                .iter()
                .find(|(k, _)| *k == "sid")
                .and_then(|(_, v)| v.parse::<i64>().ok());
            let Some(sid) = sid else {
                return AppError::NotFound.into_response();
            };
            let allowed = if session.is_admin {
                match crate::structures::find(&state.db, sid).await {
                    Ok(found) => found.is_some(),
                    Err(e) => return AppError::from(e).into_response(),
                }
            } else if session.member_of_current() == Some((sid, Role::Referent)) {
                true
            } else {
                match is_active_referent(&state, session.account_id, sid).await {
                    Ok(b) => b,
                    Err(e) => return AppError::from(e).into_response(),
                }
            };
            if !allowed {
                return AppError::Forbidden.into_response();
            }
            req.extensions_mut().insert(Manager {
                session: session.clone(),
                structure_id: sid,
            });
        }
        Access::Territory => {
            if !session.territoire {
                return AppError::Forbidden.into_response();
            }
            match crate::pilotage::of_account(&state.db, session.account_id).await {
                Ok(Some(territoire)) => {
                    req.extensions_mut().insert(Territory {
                        session: session.clone(),
                        territoire,
                    });
                }
                Ok(None) => return AppError::Forbidden.into_response(),
                Err(e) => return AppError::from(e).into_response(),
            }
        }
        Access::Admin => {
            if !session.is_admin {
                return AppError::Forbidden.into_response();
            }
            req.extensions_mut().insert(Admin(session.clone()));
        }
    }
    next.run(req).await
}

async fn is_active_referent(
    state: &AppState,
    account_id: i64,
    structure_id: i64,
) -> Result<bool, crate::db::Error> {
    let row = state.db.fetch_optional("SELECT role FROM memberships WHERE account_id = $1 AND structure_id = $2 AND deactivated_at IS NULL", crate::args![account_id, structure_id])
    .await?;
    Ok(match row {
        Some(r) => r.get::<String>("role")? == "referent",
        None => false,
    })
}

macro_rules! capability_extractor {
    ($t:ty) => {
        impl<S: Send + Sync> FromRequestParts<S> for $t {
            type Rejection = AppError;
            async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
                parts
                    .extensions
                    .get::<$t>()
                    .cloned()
                    .ok_or(AppError::Forbidden)
            }
        }
    };
}

capability_extractor!(SignedIn);
capability_extractor!(Member);
capability_extractor!(Mediator);
capability_extractor!(Manager);
capability_extractor!(Admin);
capability_extractor!(Funder);
capability_extractor!(PassStructure);
capability_extractor!(Usager);
capability_extractor!(Territory);
capability_extractor!(Helpline);
capability_extractor!(Author);
capability_extractor!(Curator);
