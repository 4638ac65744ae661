//! Outgoing email: SMTP when configured, text files under the data folder otherwise,
//! and an in-memory outbox in tests.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("adresse d'expéditeur ou de destinataire invalide")]
    Address,
    #[error("construction du message impossible : {0}")]
    Build(String),
    #[error("envoi SMTP impossible : {0}")]
    Smtp(String),
    #[error("écriture du message impossible : {0}")]
    File(#[from] std::io::Error),
}

#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[derive(Clone)]
pub enum Mailer {
    Smtp(Box<Smtp>),
    Files { dir: PathBuf },
    Memory(Arc<Mutex<Vec<Email>>>),
}

impl Mailer {
    pub fn smtp(url: &str, from: &str) -> Result<Self, MailError> {
        let from: Mailbox = from.parse().map_err(|_| MailError::Address)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Smtp(e.to_string()))?
            .build();
        Ok(Mailer::Smtp(Box::new(Smtp { transport, from })))
    }

    pub fn memory() -> Self {
        Mailer::Memory(Arc::new(Mutex::new(Vec::new())))
    }

    /// Emails kept by the in-memory outbox (tests).
    pub fn sent(&self) -> Vec<Email> {
        match self {
            Mailer::Memory(outbox) => outbox.lock().map(|v| v.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    pub async fn send(&self, email: Email) -> Result<(), MailError> {
        match self {
            Mailer::Smtp(smtp) => {
                let Smtp { transport, from } = smtp.as_ref();
                let to: Mailbox = email.to.parse().map_err(|_| MailError::Address)?;
                let message = lettre::Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(email.subject)
                    .body(email.body)
                    .map_err(|e| MailError::Build(e.to_string()))?;
                transport
                    .send(message)
                    .await
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
                Ok(())
            }
            Mailer::Files { dir } => {
                tokio::fs::create_dir_all(dir).await?;
                let name = format!(
                    "{}-{}.txt",
                    file_stamp(),
                    &crate::crypto::random_token()[..8]
                );
                let path = dir.join(name);
                let text = format!(
                    "À : {}\nObjet : {}\n\n{}\n",
                    email.to, email.subject, email.body
                );
                tokio::fs::write(&path, text).await?;
                tracing::info!(path = %path.display(), "e-mail écrit dans un fichier (pas de SMTP configuré)");
                Ok(())
            }
            Mailer::Memory(outbox) => {
                if let Ok(mut v) = outbox.lock() {
                    v.push(email);
                }
                Ok(())
            }
        }
    }
}

fn file_stamp() -> String {
    // Monotonic enough for file names; the content carries no time.
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{:06}", N.fetch_add(1, Ordering::Relaxed))
}

/// The emails Relais sends, written once here.
pub mod messages {
    use super::Email;

    pub fn invitation(to: &str, structure: &str, link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: format!("Relais : activez votre compte pour {structure}"),
            body: format!(
                "Bonjour,\n\nVous êtes invité(e) à rejoindre l'équipe « {structure} » sur Relais.\n\n\
                 Pour activer votre compte, ouvrez ce lien (valable 72 heures, une seule fois) :\n{link}\n\n\
                 Vous choisirez un mot de passe, puis vous ajouterez Relais à une application \
                 d'authentification (double authentification).\n\n\
                 Si vous n'attendiez pas ce message, ignorez-le : aucun compte ne sera activé.\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    pub fn habilitation_link(to: &str, link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: "Relais : votre demande d'habilitation".to_owned(),
            body: format!(
                "Bonjour,\n\nVous avez commencé une demande d'habilitation Aidants Connect pour votre structure.\n\n\
                 Ouvrez ce lien pour confirmer votre adresse, remplir la demande et en suivre l'instruction :\n{link}\n\n\
                 Gardez ce message : ce lien personnel est la seule façon de revenir à votre demande. \
                 Ne le transférez qu'aux personnes qui la remplissent avec vous.\n\n\
                 Si vous n'avez rien demandé, ignorez ce message.\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    pub fn habilitation_decision(to: &str, structure: &str, outcome: &str, text: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: format!("Relais : demande d'habilitation {outcome} ({structure})"),
            body: format!(
                "Bonjour,\n\nLa demande d'habilitation de « {structure} » est {outcome}.\n\n{text}\n\n\
                 Vous retrouvez la demande et ses messages avec le lien personnel reçu au début.\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    /// An administrator wrote on a habilitation request: the requester reads it
    /// (their private link is not kept, so they open the one they received).
    pub fn habilitation_message_to_requester(to: &str, structure: &str, text: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: format!(
                "Relais : nouveau message sur votre demande d'habilitation ({structure})"
            ),
            body: format!(
                "Bonjour,\n\nL'équipe Relais a écrit sur la demande d'habilitation de « {structure} » :\n\n                 {text}\n\n                 Pour répondre, ouvrez le lien personnel reçu au début de la demande (e-mail « Relais : \
                 votre demande d'habilitation »).\n\n                 — L'équipe Relais"
            ),
        }
    }

    /// A requester wrote on their habilitation request: the administrators are
    /// told where to read it.
    pub fn habilitation_reply_to_admin(to: &str, structure: &str, link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: format!("Relais : réponse d'un demandeur d'habilitation ({structure})"),
            body: format!(
                "Bonjour,\n\nLe demandeur de l'habilitation de « {structure} » a écrit un message.\n\n                 Lisez-le et répondez sur la page de la demande :\n{link}\n\n                 — Relais"
            ),
        }
    }

    pub fn inactivity_warning(to: &str, deadline: &str, link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: "Relais : votre compte sera désactivé faute de connexion".to_owned(),
            body: format!(
                "Bonjour,\n\nVous ne vous êtes pas connecté(e) à Relais depuis 5 mois.\n\
                 Pour protéger les données des personnes aidées, les comptes inutilisés pendant 6 mois \
                 sont désactivés : le vôtre le sera le {deadline} si vous ne vous connectez pas d'ici là.\n\n\
                 Pour garder votre accès, connectez-vous simplement :\n{link}\n\n\
                 Après la désactivation, seul le référent de votre structure pourra la lever.\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    pub fn join_request(to: &str, structure: &str, link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: format!("Relais : « {structure} » vous propose de rejoindre son équipe"),
            body: format!(
                "Bonjour,\n\nLe référent de « {structure} » vous propose de rejoindre l'équipe de cette structure sur Relais.\n\n\
                 Connectez-vous puis acceptez ou refusez la demande depuis « Mon compte » :\n{link}\n\n\
                 Tant que vous n'avez pas répondu, rien ne change pour vous.\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    pub fn coordination_invitation(to: &str, coordinator: &str, link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: format!("Relais : {coordinator} vous invite dans son équipe de coordination"),
            body: format!(
                "Bonjour,\n\n{coordinator} coordonne une équipe de médiateurs numériques sur Relais et vous invite à la rejoindre.\n                 Si vous acceptez, cette personne verra vos statistiques d'activité, jamais les personnes que vous accompagnez.\n\n                 Connectez-vous puis acceptez ou refusez l'invitation depuis « Mes activités » :\n{link}\n\n                 Tant que vous n'avez pas répondu, rien ne change pour vous.\n\n                 — L'équipe Relais"
            ),
        }
    }

    pub fn added_to_structure(to: &str, structure: &str, link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: format!("Relais : vous avez rejoint {structure}"),
            body: format!(
                "Bonjour,\n\nVotre compte Relais a été ajouté à l'équipe « {structure} ».\n\
                 Connectez-vous comme d'habitude, puis choisissez cette structure dans « Mon compte » :\n{link}\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    pub fn password_reset(to: &str, link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: "Relais : réinitialisation de votre mot de passe".to_owned(),
            body: format!(
                "Bonjour,\n\nUne réinitialisation du mot de passe de votre compte Relais a été demandée.\n\
                 Ouvrez ce lien (valable 1 heure, une seule fois) :\n{link}\n\n\
                 Vous aurez besoin du code de votre application d'authentification.\n\n\
                 Si vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    pub fn totp_reset(to: &str, link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: "Relais : configurez de nouveau votre double authentification".to_owned(),
            body: format!(
                "Bonjour,\n\nVotre référent a réinitialisé la double authentification de votre compte Relais.\n\
                 Ouvrez ce lien (valable 72 heures, une seule fois) pour l'associer à votre application :\n{link}\n\n\
                 Vous aurez besoin de votre mot de passe actuel.\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    pub fn mandates_expiring(to: &str, structure: &str, count: usize, link: &str) -> Email {
        let (what, verb) = if count == 1 {
            ("1 mandat long".to_owned(), "arrive")
        } else {
            (format!("{count} mandats longs"), "arrivent")
        };
        Email {
            to: to.to_owned(),
            subject: format!("Relais : {what} {verb} à échéance ({structure})"),
            body: format!(
                "Bonjour,\n\n{what} de la structure « {structure} » {verb} à échéance dans les 30 jours.\n\n\
                 Si les personnes concernées ont encore besoin d'aide, proposez-leur de renouveler leur mandat \
                 depuis leur fiche usager :\n{link}\n\n\
                 Ce message ne contient aucun nom : connectez-vous pour voir la liste.\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    /// Devices lent by the structure not returned on time (no borrower named).
    pub fn loans_overdue(to: &str, structure: &str, count: usize, link: &str) -> Email {
        let what = if count == 1 {
            "1 appareil prêté n'est pas revenu".to_owned()
        } else {
            format!("{count} appareils prêtés ne sont pas revenus")
        };
        Email {
            to: to.to_owned(),
            subject: format!("Relais : {what} à la date prévue ({structure})"),
            body: format!(
                "Bonjour,\n\n{what} à la date prévue dans la structure « {structure} ».\n\n\
                 Voyez l'inventaire et enregistrez les retours :\n{link}\n\n\
                 Ce message ne contient aucun nom : connectez-vous pour voir les prêts.\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    /// The link of a mandate prepared at a distance (email channel).
    pub fn mandate_link(to: &str, aidant: &str, structure: &str, link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: format!("Relais : {structure} vous propose un mandat"),
            body: format!(
                "Bonjour,\n\n{aidant}, de la structure « {structure} », vous propose un mandat : \
                 cette structure pourra faire pour vous certaines démarches en ligne.\n\n\
                 Pour lire ce mandat et donner votre accord avec FranceConnect, ouvrez ce lien \
                 (valable 24 heures, une seule fois) :\n{link}\n\n\
                 Vous n'êtes pas obligé(e) d'accepter. Si vous ne connaissez pas cette structure, \
                 ignorez ce message : rien ne sera fait.\n\n\
                 — L'équipe Relais"
            ),
        }
    }

    /// A usager revoked a mandate from their space: the structure is told, without
    /// the person's name.
    pub fn revoked_by_usager(to: &str, structure: &str, whole: bool, link: &str) -> Email {
        let what = if whole {
            "un mandat"
        } else {
            "une démarche d'un mandat"
        };
        Email {
            to: to.to_owned(),
            subject: format!("Relais : une personne a révoqué {what} ({structure})"),
            body: format!(
                "Bonjour,\n\nUne personne a révoqué elle-même {what} donné à la structure « {structure} », \
                 depuis son espace Relais. Vos aidants ne peuvent plus agir en son nom pour les démarches \
                 révoquées.\n\nLe mandat et l'attestation de révocation :\n{link}\n\n\
                 Ce message ne contient aucun nom : connectez-vous pour voir le mandat.\n\n\
                 — L'équipe Relais"
            ),
        }
    }
}
