//! Page models (askama templates under `templates/`) and the page shell.

use std::sync::Arc;

use askama::Template;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::ctx::Ctx;
use super::error::{AppResult, ErrorPage};
use super::forms::FormErrors;
use crate::accounts::{AccountSummary, Member, Membership};
use crate::domain::Role;
use crate::structures::{Structure, StructureSummary};

/// What every page shows around its content.
pub struct Shell {
    pub title: String,
    pub css: &'static str,
    pub icon: &'static str,
    pub csrf: Arc<str>,
    pub request_id: Arc<str>,
    pub support: Arc<str>,
    pub nav: Option<Nav>,
    pub notice: Option<&'static str>,
}

pub struct Nav {
    pub name: String,
    pub structure_name: Option<String>,
    pub team_href: Option<String>,
    pub journal_href: Option<String>,
    pub is_admin: bool,
    /// Aidant or référent: mandates.
    pub is_member: bool,
    /// Records mediation activities.
    pub is_mediator: bool,
    /// Pass numérique: works for a funder, hands out carnets, redeems pass.
    pub is_funder: bool,
    pub is_prescriber: bool,
    pub is_pass_place: bool,
    /// Follows a territory's steering figures.
    pub is_territory: bool,
    /// Answers Solidarité Numérique requests.
    pub is_helpline: bool,
}

impl Shell {
    pub fn new(ctx: &Ctx, title: impl Into<String>) -> Self {
        let nav = ctx.session.as_ref().map(|s| {
            let member = s.member_of_current();
            Nav {
                name: s.full_name.clone(),
                structure_name: member.and(s.structure.as_ref().map(|st| st.name.clone())),
                team_href: match member {
                    Some((sid, Role::Referent)) => Some(format!("/structures/{sid}/equipe")),
                    _ => None,
                },
                journal_href: match member {
                    Some((sid, Role::Referent)) => Some(format!("/structures/{sid}/journal")),
                    _ => None,
                },
                is_admin: s.is_admin,
                is_member: s.aidant_of_current().is_some(),
                is_mediator: s.mediator_of_current().is_some(),
                is_funder: s.financeur_id.is_some(),
                is_prescriber: s.prescriber_of_current().is_some(),
                is_pass_place: s.pass_place_of_current().is_some(),
                is_territory: s.territoire,
                is_helpline: s.helpline_of_current().is_some(),
            }
        });
        Shell {
            title: title.into(),
            css: super::assets::css_href(),
            icon: super::assets::icon_href(),
            // Masked afresh in every page (BREACH: pages are compressed).
            csrf: if ctx.csrf.is_empty() {
                ctx.csrf.clone()
            } else {
                Arc::from(crate::crypto::mask_token(&ctx.csrf))
            },
            request_id: ctx.request_id.clone(),
            support: ctx.support.clone(),
            nav,
            notice: None,
        }
    }

    /// Adds the confirmation message named by `?info=` (fixed texts only).
    pub fn with_notice(mut self, code: Option<&str>) -> Self {
        self.notice = code.and_then(notice_text);
        self
    }
}

/// Confirmation messages shown after a redirect.
pub fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "deconnecte" => "Votre session Relais est fermée. À bientôt.",
        "demarches" => "Les démarches autorisées sont enregistrées.",
        "rappels" => "Réglage Solidarité Numérique enregistré.",
        "autre-structure" => "La personne fait maintenant aussi partie de l'autre structure.",
        "a-former" => {
            "Cette personne est ajoutée à l'équipe « en attente de formation » : elle recevra son invitation une fois sa formation Aidants Connect enregistrée."
        }
        "rattachement" => {
            "Cette personne a déjà un compte actif : une demande de rattachement lui est envoyée, à accepter depuis son compte."
        }
        "rattachement-accepte" => {
            "Vous avez rejoint la structure. Choisissez-la ci-dessous pour y travailler."
        }
        "rattachement-refuse" => "La demande de rattachement est refusée.",
        "deconnecte-partout" => "Toutes vos sessions sont fermées, sur tous les appareils.",
        "compte-active" => {
            "Votre compte est prêt. Connectez-vous avec votre e-mail, votre mot de passe et le code de votre application."
        }
        "mot-de-passe" => "Votre mot de passe est changé. Connectez-vous avec le nouveau.",
        "double-authentification" => {
            "Votre double authentification est configurée. Connectez-vous."
        }
        "invitation" => "Invitation envoyée par e-mail. Le lien est valable 72 heures.",
        "ajoute" => {
            "Cette personne avait déjà un compte Relais : elle est ajoutée à l'équipe et prévenue par e-mail."
        }
        "envoi-echoue" => {
            "L'invitation est enregistrée mais l'e-mail n'a pas pu partir. Réessayez « Inviter » avec la même adresse dans un moment."
        }
        "desactive" => "Accès désactivé. La personne est déconnectée de cette structure.",
        "reactive" => "Accès réactivé.",
        "2fa-reinitialisee" => {
            "Double authentification réinitialisée : la personne a reçu un lien pour la configurer de nouveau."
        }
        "structure" => "Structure changée.",
        "activite-enregistree" => "Activité enregistrée.",
        "pass-utilise" => "Pass utilisé : il figurera sur le relevé du mois, payé au lieu.",
        "pass-annule" => "Utilisation annulée : le pass est de nouveau valable.",
        "commande-enregistree" => {
            "Commande enregistrée. Les pass seront actifs dès que l'opérateur aura reçu votre ordre de paiement."
        }
        "echeance-confirmee" => "Fin de validité confirmée.",
        "bilan-accepte" => "Bilan accepté.",
        "financeur-cree" => "Financeur créé.",
        "agent-ajoute" => "Agent ajouté au financeur.",
        "prescripteur-ajoute" => "Structure désignée prescriptrice.",
        "paiement-enregistre" => "Paiement enregistré : les pass de la commande sont actifs.",
        "carnets-confies" => "Carnets confiés au prescripteur.",
        "lieu-instruit" => "Décision enregistrée et journalisée.",
        "releves-payes" => "Relevés marqués payés.",
        "qualification-demandee" => "Demande de qualification envoyée : l'opérateur l'instruit.",
        "activite-doublon" => {
            "Activité enregistrée. Attention : une autre activité du même jour avec la même personne existe déjà. Vérifiez qu'il ne s'agit pas d'un doublon (marqué « Doublon possible » ci-dessous)."
        }
        "activite-modifiee" => "Activité modifiée.",
        "activite-supprimee" => "Activité supprimée. Vos statistiques sont à jour.",
        "beneficiaire-enregistre" => "Bénéficiaire enregistré.",
        "beneficiaire-supprime" => {
            "Identité supprimée. Ses activités restent comptées, sans son nom."
        }
        "lieu-ajoute" => "Lieu ajouté à vos lieux d'activité.",
        "lieu-retire" => "Lieu retiré de vos lieux d'activité. Vos activités passées le gardent.",
        "profil" => "Profil enregistré.",
        "equipe-invitation" => {
            "Invitation envoyée : la personne la verra dans « Mes activités » et pourra l'accepter ou la refuser."
        }
        "equipe-invitation-sans-email" => {
            "Invitation enregistrée, mais l'e-mail n'a pas pu partir : la personne la verra dans « Mes activités »."
        }
        "equipe-retire" => {
            "La personne ne fait plus partie de l'équipe. Ses activités jusqu'à aujourd'hui restent dans les statistiques de l'équipe."
        }
        "equipe-accepter" => {
            "Vous faites partie de l'équipe. Votre coordinateur voit vos statistiques, jamais vos bénéficiaires."
        }
        "equipe-refuser" => "Invitation refusée.",
        "equipe-quitter" => "Vous avez quitté l'équipe.",
        "partage-supprime" => "Lien de partage supprimé : il ne s'ouvre plus.",
        "client-revoque" => "Client révoqué : ses appels sont refusés dès maintenant.",
        "import" => {
            "Liste importée : les personnes sont dans vos bénéficiaires. Vérifiez les doublons possibles."
        }
        "import-1" => "Liste importée : la personne est dans vos bénéficiaires.",
        "mediation" => {
            "Cette personne peut maintenant enregistrer ses activités de médiation (menu « Mes activités »), en plus de son rôle."
        }
        "fusion" => "Fiches fusionnées : toutes les activités sont sur cette fiche.",
        "structure-creee" => "Structure créée. Invitez maintenant son référent.",
        "reconfirme" => "Code confirmé. Vous pouvez continuer.",
        "mandat-cree" => {
            "Mandat créé. Imprimez l'attestation et faites-la signer par la personne et par vous-même."
        }
        "mandat-revoque" => {
            "Mandat révoqué. Imprimez l'attestation de révocation et remettez-la à la personne."
        }
        "autorisation-revoquee" => {
            "Démarche révoquée. Imprimez l'attestation de révocation et remettez-la à la personne."
        }
        _ => return None,
    })
}

pub fn render<T: Template>(t: &T) -> AppResult<Response> {
    html(t.render()?)
}

/// Renders with a status. A form sent back with its errors (a 4xx status and an
/// error summary) gets a title starting with « Erreur : » — what a
/// screen reader announces first —, and its error summary
/// (`templates/errors.html`) takes the focus as the page loads.
pub fn render_status<T: Template>(status: axum::http::StatusCode, t: &T) -> AppResult<Response> {
    let mut body = t.render()?;
    if status.is_client_error() && body.contains("class=\"error-summary\" role=\"alert\"") {
        body = body.replacen("<title>", "<title>Erreur : ", 1);
    }
    let mut res = html(body)?;
    *res.status_mut() = status;
    Ok(res)
}

fn html(body: String) -> AppResult<Response> {
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(res)
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorView<'a> {
    pub shell: Shell,
    pub page: &'a ErrorPage,
}

/// The error page, with the request id to quote to support.
pub fn error_page(ctx: &Ctx, page: &ErrorPage) -> Response {
    let view = ErrorView {
        shell: Shell::new(ctx, page.title),
        page,
    };
    let mut res = match view.render() {
        Ok(body) => body.into_response(),
        Err(_) => page.message.into_response(),
    };
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    *res.status_mut() = page.status;
    res
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomeView {
    pub shell: Shell,
}

#[derive(Template)]
#[template(path = "accessibility.html")]
pub struct AccessibilityView {
    pub shell: Shell,
}

/// Who runs the instance, as the legal pages name them (from the configuration).
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub address: String,
    pub director: String,
    pub hosting: String,
    /// Where to write about personal data (the DPO, or the support).
    pub privacy_contact: String,
    pub support: String,
    /// A development instance (fictitious data): said on the pages.
    pub development: bool,
}

impl Operator {
    pub fn from_config(config: &crate::config::Config) -> Operator {
        Operator {
            name: config.operator_name.clone(),
            address: config.operator_address.clone(),
            director: config.publication_director.clone(),
            hosting: config.hosting.clone(),
            privacy_contact: config
                .dpo_email
                .clone()
                .unwrap_or_else(|| config.support_email.clone()),
            support: config.support_email.clone(),
            development: !config.is_production(),
        }
    }
}

#[derive(Template)]
#[template(path = "legal.html")]
pub struct LegalView {
    pub shell: Shell,
    pub operator: Operator,
    pub version: &'static str,
}

/// What the personal-data page states, from the code's own settings.
#[derive(Template)]
#[template(path = "privacy.html")]
pub struct PrivacyView {
    pub shell: Shell,
    pub operator: Operator,
    pub retention_days: i64,
    pub idle_hours: i64,
    pub absolute_hours: i64,
    pub inactive_months: i64,
    pub inactive_notice_days: i64,
    pub draft_minutes: i64,
    pub habilitation_link_days: i64,
}

#[derive(Template)]
#[template(path = "contact.html")]
pub struct ContactView {
    pub shell: Shell,
    pub operator: Operator,
}

/// The page that asks before an act that cannot be undone: what will happen in
/// plain words, « Oui, … » (a form that posts `confirmer=oui` to `action`) and
/// « Annuler » (back to `cancel_href`). The act's handler refuses a post without
/// `confirmer=oui` by sending here ([`Confirmed`]).
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmView {
    pub shell: Shell,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub action: String,
    pub confirm_label: String,
    pub cancel_href: String,
}

/// The form of an act confirmed on a [`ConfirmView`].
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct Confirmed {
    confirmer: String,
}

impl Confirmed {
    /// True when the person pressed « Oui » on the confirmation page.
    pub fn yes(&self) -> bool {
        self.confirmer == "oui"
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessageView {
    pub shell: Shell,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub link: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginView {
    pub shell: Shell,
    pub email: String,
    pub next: String,
    pub failure: Option<String>,
}

#[derive(Template)]
#[template(path = "forgot.html")]
pub struct ForgotView {
    pub shell: Shell,
    pub email: String,
    pub errors: FormErrors,
}

pub struct Enrolment {
    pub qr_svg: String,
    pub secret: String,
    pub uri: String,
}

#[derive(Template)]
#[template(path = "activation.html")]
pub struct ActivationView {
    pub shell: Shell,
    pub action: String,
    pub email: String,
    pub sets_password: bool,
    pub enrolment: Option<Enrolment>,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "step_up.html")]
pub struct StepUpView {
    pub shell: Shell,
    pub next: String,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountView {
    pub shell: Shell,
    pub email: String,
    pub full_name: String,
    pub is_admin: bool,
    pub memberships: Vec<Membership>,
    pub current_structure: i64,
    pub open_sessions: i64,
    pub join_requests: Vec<crate::accounts::team::JoinRequest>,
    pub errors: super::forms::FormErrors,
}

#[derive(Template)]
#[template(path = "espace.html")]
pub struct EspaceView {
    pub shell: Shell,
    pub full_name: String,
    pub structure: Structure,
    pub is_referent: bool,
    /// The structure's last mandates, newest first.
    pub recent: Vec<crate::mandats::MandatBrief>,
    /// Its active mandates ending within 30 days, soonest first.
    pub ending: Vec<crate::mandats::MandatBrief>,
}

#[derive(Template)]
#[template(path = "team.html")]
pub struct TeamView {
    pub shell: Shell,
    pub structure: Structure,
    pub members: Vec<Member>,
    pub me: i64,
    /// The other structures the référent manages (to add a member there too).
    pub other_structures: Vec<(i64, String)>,
}

#[derive(Template)]
#[template(path = "invite.html")]
pub struct InviteView {
    pub shell: Shell,
    pub structure: Structure,
    pub full_name: String,
    pub email: String,
    pub role: String,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "admin_structures.html")]
pub struct AdminStructuresView {
    pub shell: Shell,
    pub q: String,
    pub rows: Vec<StructureSummary>,
}

pub struct StructureFormValues {
    pub name: String,
    pub siret: String,
    pub address: String,
    pub commune_insee: String,
    pub kind: String,
}

#[derive(Template)]
#[template(path = "admin_structure_new.html")]
pub struct NewStructureView {
    pub shell: Shell,
    pub values: StructureFormValues,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "admin_accounts.html")]
pub struct AdminAccountsView {
    pub shell: Shell,
    pub q: String,
    pub rows: Vec<AccountSummary>,
}

/// A CSV download for a French spreadsheet ([`crate::csv_export`]).
pub fn csv_download<'a>(
    name: &str,
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<crate::csv_export::Cell<'a>>>,
) -> super::error::AppResult<axum::response::Response> {
    let mut w = crate::csv_export::Writer::new(crate::csv_export::Dialect::Tableur, header);
    for row in rows {
        w.row(row);
    }
    Ok(axum::response::IntoResponse::into_response((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        w.finish(),
    )))
}
