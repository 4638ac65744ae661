//! Accounts of aidants, référents and administrators: sign-in with password + TOTP,
//! invitations, activation, password reset, membership management.

pub mod cards;
pub mod inactivity;
pub mod password;
pub mod second_factor;
pub mod team;
pub mod throttle;
pub mod tokens;
pub mod totp;

use crate::db::Exec as _;
use crate::db::{Db, Tx};
use crate::domain::{Email, Role};
use tokens::{Purpose, TokenState};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Db(#[from] crate::db::Error),
    #[error("hachage du mot de passe impossible : {0}")]
    Hash(String),
    /// A message for the person, in plain French.
    #[error("{0}")]
    Refused(&'static str),
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub full_name: String,
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_last_step: i64,
    pub is_admin: bool,
    pub disabled_at: Option<i64>,
}

impl Account {
    fn from_row(row: &crate::db::Rec) -> Result<Self, crate::db::Error> {
        Ok(Account {
            id: row.get("id")?,
            email: row.get("email")?,
            full_name: row.get("full_name")?,
            password_hash: row.get("password_hash")?,
            totp_secret: row.get("totp_secret")?,
            totp_last_step: row.get("totp_last_step")?,
            is_admin: row.get::<i64>("is_admin")? != 0,
            disabled_at: row.get("disabled_at")?,
        })
    }
    pub fn is_activated(&self) -> bool {
        self.password_hash.is_some() && self.totp_secret.is_some()
    }
}

/// The columns [`Account::from_row`] reads, for `concat!`.
macro_rules! account_columns {
    () => {
        "id, email, full_name, password_hash, totp_secret, totp_last_step, is_admin, disabled_at"
    };
}

pub async fn find_by_email(db: &Db, email: &Email) -> Result<Option<Account>, crate::db::Error> {
    let sql = concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE email = $1"
    );
    db.fetch_optional(sql, crate::args![email.as_str()])
        .await?
        .map(|r| Account::from_row(&r))
        .transpose()
}

pub async fn find(db: &Db, id: i64) -> Result<Option<Account>, crate::db::Error> {
    let sql = concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE id = $1"
    );
    db.fetch_optional(sql, crate::args![id])
        .await?
        .map(|r| Account::from_row(&r))
        .transpose()
}

pub async fn count(db: &Db) -> Result<i64, crate::db::Error> {
    db.fetch_one("SELECT COUNT(*) AS n FROM accounts", &[])
        .await?
        .get("n")
}

/// Checks a TOTP code and records its step in one atomic update, so the same code
/// (or an older one) can never be used twice, even by two requests at once.
/// Unthrottled: callers go through [`second_factor::check_totp`].
async fn consume_totp(
    db: &Db,
    account: &Account,
    code: &str,
    now: i64,
) -> Result<bool, crate::db::Error> {
    let app_step = account
        .totp_secret
        .as_deref()
        .and_then(|secret| totp::verify(secret, code, now, account.totp_last_step));
    let Some(step) = app_step else {
        // Not the application's code: perhaps the physical card's.
        return cards::check(db, account.id, code, now).await;
    };
    let done = db
        .execute(
            "UPDATE accounts SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
            crate::args![step, account.id],
        )
        .await?;
    Ok(done == 1)
}

/// One structure an account belongs to.
#[derive(Debug, Clone)]
pub struct Membership {
    pub structure_id: i64,
    pub structure_name: String,
    pub role: Role,
    pub active: bool,
}

pub async fn memberships(db: &Db, account_id: i64) -> Result<Vec<Membership>, crate::db::Error> {
    let rows = db
        .fetch_all(
            "SELECT m.structure_id, s.name, m.role, m.deactivated_at
         FROM memberships m JOIN structures s ON s.id = m.structure_id
         WHERE m.account_id = $1 ORDER BY s.name, s.id",
            crate::args![account_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.get("role")?;
            Ok(Membership {
                structure_id: r.get("structure_id")?,
                structure_name: r.get("name")?,
                role: Role::parse(&role).unwrap_or(Role::Aidant),
                active: r.get::<Option<i64>>("deactivated_at")?.is_none(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Sign-in

#[derive(Debug)]
pub enum LoginError {
    /// One message for every wrong email, password or code.
    Invalid,
    /// Too many failures; seconds to wait.
    Throttled(i64),
    /// Right credentials, but no active structure and not an administrator.
    NoActiveStructure,
    /// Too many password checks at once on this server: try again in a few seconds.
    Busy,
    Db(crate::db::Error),
}

impl From<crate::db::Error> for LoginError {
    fn from(e: crate::db::Error) -> Self {
        LoginError::Db(e)
    }
}

pub struct LoginInput<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub code: &'a str,
    pub client_ip: &'a str,
}

/// Email + password + TOTP. Unknown emails still pay a full Argon2 verification
/// against `dummy_hash`, so response time does not reveal which emails exist.
pub async fn authenticate(
    db: &Db,
    dummy_hash: &str,
    input: LoginInput<'_>,
    now: i64,
) -> Result<Account, LoginError> {
    let normalised = input.email.trim().to_lowercase();
    // Counted before anything is checked, atomically: parallel attempts never pass
    // the limit together.
    let by_account = throttle::account_key(db, &normalised);
    let by_account = match throttle::begin(db, &throttle::ACCOUNT, &by_account, now).await? {
        Ok(a) => a,
        Err(wait) => return Err(LoginError::Throttled(wait)),
    };
    let by_ip = throttle::key(db, &throttle::SIGN_IN_IP, input.client_ip);
    let by_ip = match throttle::begin(db, &throttle::SIGN_IN_IP, &by_ip, now).await? {
        Ok(a) => a,
        Err(wait) => {
            by_account.not_made(db).await?;
            return Err(LoginError::Throttled(wait));
        }
    };
    let account = match Email::parse(&normalised) {
        Ok(email) => find_by_email(db, &email).await?,
        Err(_) => None,
    };
    let phc = account
        .as_ref()
        .and_then(|a| a.password_hash.clone())
        .unwrap_or_else(|| dummy_hash.to_owned());
    let password_ok = match password::verify(input.password.to_owned(), phc).await {
        Ok(ok) => ok,
        Err(password::Busy) => {
            by_account.not_made(db).await?;
            by_ip.not_made(db).await?;
            return Err(LoginError::Busy);
        }
    };
    let mut ok_account = None;
    if let Some(account) = account
        && password_ok
        && account.password_hash.is_some()
        && account.disabled_at.is_none()
        && consume_totp(db, &account, input.code.trim(), now).await?
    {
        ok_account = Some(account);
    }
    let Some(account) = ok_account else {
        return Err(LoginError::Invalid);
    };
    by_account.succeeded(db).await?;
    by_ip.succeeded(db).await?;
    // Someone with no active structure signs in only as an administrator, a
    // pass numérique funder's agent or a territorial account.
    if !account.is_admin
        && !memberships(db, account.id).await?.iter().any(|m| m.active)
        && crate::pass::financeur_of(db, account.id).await?.is_none()
        && crate::pilotage::of_account(db, account.id).await?.is_none()
    {
        return Err(LoginError::NoActiveStructure);
    }
    Ok(account)
}

// ---------------------------------------------------------------------------
// Invitations and team management

#[derive(Debug)]
pub enum InviteOutcome {
    /// A new account was created; the token goes in the invitation email.
    Invited { account_id: i64, token: String },
    /// An account that had not finished its activation gets a fresh link.
    Reinvited { account_id: i64, token: String },
    /// An active account (already in another structure) was added to this one.
    Added { account_id: i64 },
}

/// Invites `email` into `structure_id` with `role`, in one transaction.
pub async fn invite(
    db: &Db,
    structure_id: i64,
    email: &Email,
    full_name: &str,
    role: Role,
    invited_by: Option<i64>,
    now: i64,
) -> Result<InviteOutcome, AccountError> {
    let mut tx = db.begin().await?;
    let outcome = invite_in(
        &mut tx,
        structure_id,
        email,
        full_name,
        role,
        invited_by,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Someone who gets a role outside structures (a pass numérique funder's agent):
/// their account, created and invited when missing; the invitation token when the
/// account is not activated yet (to send by email).
pub async fn invite_person(
    tx: &mut Tx,
    email: &Email,
    full_name: &str,
    invited_by: Option<i64>,
    now: i64,
) -> Result<(i64, Option<String>), AccountError> {
    let sql = concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE email = $1"
    );
    let existing = tx
        .fetch_optional(sql, crate::args![email.as_str()])
        .await?
        .map(|r| Account::from_row(&r))
        .transpose()?;
    match existing {
        Some(a) if a.disabled_at.is_some() => Err(AccountError::Refused(
            "Ce compte a été fermé par un administrateur : contactez l'équipe Relais pour le rouvrir.",
        )),
        Some(a) if a.is_activated() => Ok((a.id, None)),
        Some(a) => {
            let token = tokens::issue(tx, a.id, Purpose::Invitation, invited_by, now).await?;
            Ok((a.id, Some(token)))
        }
        None => {
            let id = tx
                .fetch_one(
                    "INSERT INTO accounts (email, full_name, created_at) VALUES ($1, $2, $3) RETURNING id",
                    crate::args![email.as_str(), full_name, now],
                )
                .await?
                .int("id")?;
            let token = tokens::issue(tx, id, Purpose::Invitation, invited_by, now).await?;
            Ok((id, Some(token)))
        }
    }
}

/// [`invite`] inside a caller's transaction (habilitation acceptance).
pub async fn invite_in(
    tx: &mut Tx,
    structure_id: i64,
    email: &Email,
    full_name: &str,
    role: Role,
    invited_by: Option<i64>,
    now: i64,
) -> Result<InviteOutcome, AccountError> {
    let sql = concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE email = $1"
    );
    let existing = tx
        .fetch_optional(sql, crate::args![email.as_str()])
        .await?
        .map(|r| Account::from_row(&r))
        .transpose()?;
    let outcome = match existing {
        None => {
            let id: i64 = tx.fetch_one("INSERT INTO accounts (email, full_name, created_at) VALUES ($1, $2, $3) RETURNING id", crate::args![email.as_str(), full_name, now])
            .await?
            .get("id")?;
            add_membership(tx, id, structure_id, role, now).await?;
            let token = tokens::issue(tx, id, Purpose::Invitation, invited_by, now).await?;
            InviteOutcome::Invited {
                account_id: id,
                token,
            }
        }
        Some(account) => {
            if account.disabled_at.is_some() {
                return Err(AccountError::Refused(
                    "Ce compte a été fermé par un administrateur : contactez l'équipe Relais pour le rouvrir.",
                ));
            }
            let membership = tx.fetch_optional("SELECT role, deactivated_at FROM memberships WHERE account_id = $1 AND structure_id = $2", crate::args![account.id, structure_id])
            .await?;
            match membership {
                Some(m) if m.get::<Option<i64>>("deactivated_at")?.is_some() => {
                    return Err(AccountError::Refused(
                        "Cette personne fait déjà partie de l'équipe mais son accès est désactivé : réactivez-la depuis la liste de l'équipe.",
                    ));
                }
                Some(_) if account.is_activated() => {
                    return Err(AccountError::Refused(
                        "Cette personne fait déjà partie de l'équipe et son compte est actif.",
                    ));
                }
                Some(_) => {}
                None => add_membership(tx, account.id, structure_id, role, now).await?,
            }
            if account.is_activated() {
                InviteOutcome::Added {
                    account_id: account.id,
                }
            } else {
                let token =
                    tokens::issue(tx, account.id, Purpose::Invitation, invited_by, now).await?;
                InviteOutcome::Reinvited {
                    account_id: account.id,
                    token,
                }
            }
        }
    };
    Ok(outcome)
}

async fn add_membership(
    tx: &mut Tx,
    account_id: i64,
    structure_id: i64,
    role: Role,
    now: i64,
) -> Result<(), crate::db::Error> {
    tx.execute("INSERT INTO memberships (account_id, structure_id, role, created_at) VALUES ($1, $2, $3, $4)", crate::args![account_id, structure_id, role.key(), now])
        .await?;
    if role == Role::Mediateur {
        crate::activites::ensure_profile(tx, account_id, now).await?;
    }
    Ok(())
}

/// A member of a structure, as the team page shows it.
#[derive(Debug, Clone)]
pub struct Member {
    pub account_id: i64,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub active: bool,
    pub activated: bool,
    pub has_password: bool,
    pub totp_enrolled: bool,
    /// The training is not recorded yet (future aidant of an habilitation).
    pub training_pending: bool,
    /// Serial number of the linked physical TOTP card.
    pub card: Option<String>,
    /// Records mediation activities (a mediator profile).
    pub mediateur: bool,
}

impl Member {
    pub fn status(&self) -> &'static str {
        if !self.active {
            "Désactivé"
        } else if self.training_pending {
            "En attente de formation"
        } else if !self.has_password {
            "Invitation envoyée"
        } else if !self.totp_enrolled {
            "Double authentification à réactiver"
        } else {
            "Actif"
        }
    }
}

pub async fn members(db: &Db, structure_id: i64) -> Result<Vec<Member>, crate::db::Error> {
    let rows = db.fetch_all("SELECT a.id, a.email, a.full_name, a.password_hash, a.totp_secret, m.role, m.deactivated_at,
                f.state AS training, c.serial AS card, md.account_id AS mediateur
         FROM memberships m JOIN accounts a ON a.id = m.account_id
         LEFT JOIN formations f ON f.account_id = a.id
         LEFT JOIN totp_cards c ON c.account_id = a.id
         LEFT JOIN mediateurs md ON md.account_id = a.id
         WHERE m.structure_id = $1 ORDER BY a.full_name, a.id", crate::args![structure_id])
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.get("role")?;
            let has_password = r.get::<Option<String>>("password_hash")?.is_some();
            let has_totp = r.get::<Option<String>>("totp_secret")?.is_some();
            Ok(Member {
                account_id: r.get("id")?,
                email: r.get("email")?,
                full_name: r.get("full_name")?,
                role: Role::parse(&role).unwrap_or(Role::Aidant),
                active: r.get::<Option<i64>>("deactivated_at")?.is_none(),
                activated: has_password && has_totp,
                has_password,
                totp_enrolled: has_totp,
                training_pending: r
                    .get::<Option<String>>("training")?
                    .is_some_and(|t| t != "forme"),
                card: r.get("card")?,
                mediateur: r.get::<Option<i64>>("mediateur")?.is_some(),
            })
        })
        .collect()
}

/// Deactivates (or reactivates) a member of a structure. Deactivation ends the
/// member's sessions in that structure at once.
pub async fn set_member_active(
    db: &Db,
    structure_id: i64,
    account_id: i64,
    active: bool,
    by_account: i64,
    now: i64,
) -> Result<(), AccountError> {
    if !active && account_id == by_account {
        return Err(AccountError::Refused(
            "Vous ne pouvez pas désactiver votre propre accès. Demandez-le à un autre référent ou à un administrateur.",
        ));
    }
    let mut tx = db.begin().await?;
    let done = if active {
        tx.execute("UPDATE memberships SET deactivated_at = NULL WHERE account_id = $1 AND structure_id = $2", crate::args![account_id, structure_id])
            .await?
    } else {
        tx.execute(
            "UPDATE memberships SET deactivated_at = $1
             WHERE account_id = $2 AND structure_id = $3 AND deactivated_at IS NULL",
            crate::args![now, account_id, structure_id],
        )
        .await?
    };
    if done == 0 && !active {
        let exists = tx
            .fetch_optional(
                "SELECT 1 AS one FROM memberships WHERE account_id = $1 AND structure_id = $2",
                crate::args![account_id, structure_id],
            )
            .await?;
        if exists.is_none() {
            return Err(AccountError::Refused(
                "Cette personne ne fait pas partie de l'équipe.",
            ));
        }
    }
    if done == 0 && active {
        return Err(AccountError::Refused(
            "Cette personne ne fait pas partie de l'équipe.",
        ));
    }
    if !active {
        tx.execute(
            "DELETE FROM sessions WHERE account_id = $1 AND structure_id = $2",
            crate::args![account_id, structure_id],
        )
        .await?;
    }
    let action = if active {
        crate::journal::Action::MembreReactive
    } else {
        crate::journal::Action::MembreDesactive
    };
    crate::journal::append(
        &mut tx,
        &crate::journal::NewEntry::new(structure_id, action)
            .account(by_account)
            .details(serde_json::json!({ "membre": account_id })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Resets a member's second factor: the secret is erased, every session ends and a
/// re-enrolment link (72 h) is issued. Returns the member's email and the token.
pub async fn reset_totp(
    db: &Db,
    structure_id: i64,
    account_id: i64,
    by_account: i64,
    now: i64,
) -> Result<(String, String), AccountError> {
    let mut tx = db.begin().await?;
    let row = tx.fetch_optional("SELECT a.email, a.password_hash FROM memberships m JOIN accounts a ON a.id = m.account_id
         WHERE m.account_id = $1 AND m.structure_id = $2", crate::args![account_id, structure_id])
    .await?;
    let Some(row) = row else {
        return Err(AccountError::Refused(
            "Cette personne ne fait pas partie de l'équipe.",
        ));
    };
    if row.get::<Option<String>>("password_hash")?.is_none() {
        return Err(AccountError::Refused(
            "Cette personne n'a pas encore activé son compte : invitez-la de nouveau pour lui envoyer un nouveau lien.",
        ));
    }
    let email: String = row.get("email")?;
    tx.execute(
        "UPDATE accounts SET totp_secret = NULL WHERE id = $1",
        crate::args![account_id],
    )
    .await?;
    tx.execute(
        "DELETE FROM sessions WHERE account_id = $1",
        crate::args![account_id],
    )
    .await?;
    let token = tokens::issue(
        &mut tx,
        account_id,
        Purpose::TotpEnrolment,
        Some(by_account),
        now,
    )
    .await?;
    crate::journal::append(
        &mut tx,
        &crate::journal::NewEntry::new(
            structure_id,
            crate::journal::Action::DoubleAuthReinitialisee,
        )
        .account(by_account)
        .details(serde_json::json!({ "membre": account_id })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((email, token))
}

/// Issues a password-reset token when the email belongs to an activated, open
/// account. The caller shows the same message either way.
pub async fn request_password_reset(
    db: &Db,
    email: &Email,
    now: i64,
) -> Result<Option<String>, crate::db::Error> {
    let Some(account) = find_by_email(db, email).await? else {
        return Ok(None);
    };
    if account.password_hash.is_none() || account.disabled_at.is_some() {
        return Ok(None);
    }
    let mut tx = db.begin().await?;
    let token = tokens::issue(&mut tx, account.id, Purpose::PasswordReset, None, now).await?;
    tx.commit().await?;
    Ok(Some(token))
}

// ---------------------------------------------------------------------------
// Activation through an emailed link

/// What the activation page asks for, given the token's purpose.
#[derive(Debug, Clone)]
pub struct Activation {
    pub token: tokens::AccountToken,
    pub account: Account,
    /// Secret to enrol (invitation, TOTP re-enrolment); `None` for a password reset.
    pub new_totp_secret: Option<String>,
}

impl Activation {
    pub fn sets_password(&self) -> bool {
        matches!(
            self.token.purpose,
            Purpose::Invitation | Purpose::PasswordReset
        )
    }
}

pub async fn open_activation(
    db: &Db,
    raw: &str,
    now: i64,
) -> Result<Result<Activation, TokenState>, AccountError> {
    let token = match tokens::find(db, raw, now).await? {
        Ok(t) => t,
        Err(state) => return Ok(Err(state)),
    };
    let Some(account) = find(db, token.account_id).await? else {
        return Ok(Err(TokenState::Unknown));
    };
    if account.disabled_at.is_some() {
        return Ok(Err(TokenState::Unknown));
    }
    if token.purpose == Purpose::Invitation && crate::formations::is_pending(db, account.id).await?
    {
        return Ok(Err(TokenState::TrainingPending));
    }
    let new_totp_secret = match token.purpose {
        Purpose::PasswordReset => None,
        Purpose::Invitation | Purpose::TotpEnrolment => match &token.pending_totp_secret {
            Some(s) => Some(s.clone()),
            None => {
                let secret = totp::generate_secret();
                tokens::set_pending_secret(db, token.id, &secret).await?;
                // Re-read: a concurrent request may have stored its own first.
                tokens::find(db, raw, now)
                    .await?
                    .ok()
                    .and_then(|t| t.pending_totp_secret)
                    .or(Some(secret))
            }
        },
    };
    Ok(Ok(Activation {
        token,
        account,
        new_totp_secret,
    }))
}

pub struct ActivationInput<'a> {
    pub password: &'a str,
    pub password_confirmation: &'a str,
    pub code: &'a str,
}

/// Field-level errors of the activation form.
#[derive(Debug, Default)]
pub struct ActivationErrors {
    pub password: Option<&'static str>,
    pub password_confirmation: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl ActivationErrors {
    pub fn is_empty(&self) -> bool {
        self.password.is_none() && self.password_confirmation.is_none() && self.code.is_none()
    }
}

pub enum ActivationResult {
    Done(Account),
    Invalid(ActivationErrors),
    /// Too many wrong codes on this account: seconds to wait (nothing was checked).
    Throttled(i64),
    /// Too many password checks at once: try again in a few seconds.
    Busy,
    /// The link was used meanwhile.
    Gone,
}

/// Completes an invitation (new password + TOTP enrolment), a password reset (new
/// password + current TOTP code: a reset never bypasses the second factor) or a TOTP
/// re-enrolment (current password + new TOTP).
pub async fn complete_activation(
    db: &Db,
    activation: &Activation,
    input: ActivationInput<'_>,
    now: i64,
) -> Result<ActivationResult, AccountError> {
    let account = &activation.account;
    // The code (and the current password of a re-enrolment) is a second factor:
    // counted on the account before anything is compared.
    let attempt = match second_factor::begin(db, &account.email, now).await? {
        Ok(a) => a,
        Err(wait) => return Ok(ActivationResult::Throttled(wait)),
    };
    let mut errors = ActivationErrors::default();
    let purpose = activation.token.purpose;
    if activation.sets_password() {
        if let Err(m) = crate::domain::check_password(input.password, Some(&account.email)) {
            errors.password = Some(m);
        } else if input.password != input.password_confirmation {
            errors.password_confirmation =
                Some("Les deux mots de passe ne sont pas identiques : saisissez-les de nouveau.");
        }
    } else {
        let phc = account.password_hash.clone().unwrap_or_default();
        let Ok(right) = password::verify(input.password.to_owned(), phc).await else {
            attempt.not_made(db).await?;
            return Ok(ActivationResult::Busy);
        };
        if !right {
            errors.password =
                Some("Mot de passe incorrect : saisissez le mot de passe de votre compte.");
        }
    }
    // The TOTP step that the code matches, recorded with the change.
    let step = match (&activation.new_totp_secret, &account.totp_secret) {
        (Some(secret), _) => totp::verify(secret, input.code, now, 0),
        (None, Some(secret)) => totp::verify(secret, input.code, now, account.totp_last_step),
        (None, None) => None,
    };
    if step.is_none() {
        errors.code = Some(match purpose {
            Purpose::PasswordReset if account.totp_secret.is_none() => {
                "Votre double authentification a été réinitialisée : utilisez le lien envoyé par votre référent."
            }
            Purpose::PasswordReset => second_factor::WRONG_CODE_TEXT,
            _ => {
                "Code incorrect : saisissez le code à 6 chiffres affiché par l'application après avoir ajouté le compte."
            }
        });
    }
    let Some(step) = step else {
        return Ok(ActivationResult::Invalid(errors));
    };
    if !errors.is_empty() {
        return Ok(ActivationResult::Invalid(errors));
    }
    let new_hash = if activation.sets_password() {
        Some(
            password::hash(input.password.to_owned())
                .await
                .map_err(AccountError::Hash)?,
        )
    } else {
        None
    };
    let mut tx = db.begin().await?;
    if !tokens::consume(&mut tx, activation.token.id, now).await? {
        return Ok(ActivationResult::Gone);
    }
    if let Some(hash) = &new_hash {
        tx.execute(
            "UPDATE accounts SET password_hash = $1 WHERE id = $2",
            crate::args![hash, account.id],
        )
        .await?;
    }
    match &activation.new_totp_secret {
        Some(secret) => {
            tx.execute(
                "UPDATE accounts SET totp_secret = $1, totp_last_step = $2 WHERE id = $3",
                crate::args![secret, step, account.id],
            )
            .await?;
        }
        None => {
            let done = tx
                .execute(
                    "UPDATE accounts SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
                    crate::args![step, account.id],
                )
                .await?;
            if done != 1 {
                return Ok(ActivationResult::Invalid(ActivationErrors {
                    code: Some(
                        "Ce code vient d'être utilisé : attendez le suivant puis saisissez-le.",
                    ),
                    ..ActivationErrors::default()
                }));
            }
        }
    }
    // A new password or a new second factor ends every open session.
    tx.execute(
        "DELETE FROM sessions WHERE account_id = $1",
        crate::args![account.id],
    )
    .await?;
    tx.commit().await?;
    attempt.succeeded(db).await?;
    Ok(match find(db, account.id).await? {
        Some(a) => ActivationResult::Done(a),
        None => ActivationResult::Gone,
    })
}

/// Creates an administrator account and returns its activation token (72 h).
pub async fn create_admin(
    db: &Db,
    email: &Email,
    full_name: &str,
    now: i64,
) -> Result<String, AccountError> {
    let mut tx = db.begin().await?;
    let existing = tx
        .fetch_optional(
            "SELECT id FROM accounts WHERE email = $1",
            crate::args![email.as_str()],
        )
        .await?;
    let id: i64 = match existing {
        Some(row) => {
            let id: i64 = row.get("id")?;
            tx.execute("UPDATE accounts SET is_admin = 1 WHERE id = $1", crate::args![id])
                .await?;
            id
        }
        None => tx.fetch_one("INSERT INTO accounts (email, full_name, is_admin, created_at) VALUES ($1, $2, 1, $3) RETURNING id", crate::args![email.as_str(), full_name, now])
        .await?
        .get("id")?,
    };
    let has_password = tx
        .fetch_one(
            "SELECT password_hash FROM accounts WHERE id = $1",
            crate::args![id],
        )
        .await?
        .get::<Option<String>>("password_hash")?
        .is_some();
    let purpose = if has_password {
        Purpose::PasswordReset
    } else {
        Purpose::Invitation
    };
    let token = tokens::issue(&mut tx, id, purpose, None, now).await?;
    // Created from the command line (no account acts): journaled on the
    // administration chain with the new administrator's id.
    crate::journal::append(
        &mut tx,
        &crate::journal::NewEntry::new(
            crate::journal::ADMIN_CHAIN,
            crate::journal::Action::CreationAdministrateur,
        )
        .details(serde_json::json!({ "administrateur": id })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Every account, for administrators.
#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub id: i64,
    pub email: String,
    pub full_name: String,
    pub is_admin: bool,
    pub activated: bool,
    pub structures: i64,
}

pub async fn list_all(
    db: &Db,
    search: &str,
    limit: i64,
) -> Result<Vec<AccountSummary>, crate::db::Error> {
    let pattern = format!("%{}%", search.trim().to_lowercase().replace(['%', '_'], ""));
    let rows = db.fetch_all("SELECT a.id, a.email, a.full_name, a.is_admin, a.password_hash, a.totp_secret,
                (SELECT COUNT(*) FROM memberships m WHERE m.account_id = a.id AND m.deactivated_at IS NULL) AS n
         FROM accounts a
         WHERE LOWER(a.email) LIKE $1 OR LOWER(a.full_name) LIKE $1
         ORDER BY a.full_name, a.id LIMIT $2", crate::args![pattern, limit])
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AccountSummary {
                id: r.get("id")?,
                email: r.get("email")?,
                full_name: r.get("full_name")?,
                is_admin: r.get::<i64>("is_admin")? != 0,
                activated: r.get::<Option<String>>("password_hash")?.is_some()
                    && r.get::<Option<String>>("totp_secret")?.is_some(),
                structures: r.get("n")?,
            })
        })
        .collect()
}
