//! `relais`: the command line (serve, migrate, admin, totp, bench).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

use relais::clock::{Clock, SystemClock};
use relais::config::Config;
use relais::db::Db;
use relais::domain::Email;
use relais::mail::Mailer;
use relais::web::{self, AppState, Inner};
use relais::{accounts, demo};

#[derive(Parser)]
#[command(
    name = "relais",
    version,
    about = "Relais : la plateforme ouverte de l'inclusion numérique",
    long_about = "Relais : la plateforme ouverte de l'inclusion numérique.\n\n\
                  Sans commande, `relais` lance le serveur (comme `relais serve`).\n\
                  Configuration : valeurs par défaut, puis fichier TOML (--config), puis variables RELAIS_*\n\
                  (RELAIS_BIND, RELAIS_PUBLIC_URL, RELAIS_DATABASE_URL, RELAIS_ENV, RELAIS_SECRET_KEY,\n\
                  RELAIS_SMTP_URL, RELAIS_MAIL_FROM, RELAIS_SUPPORT_EMAIL, RELAIS_DATA_DIR, RELAIS_TRUST_FORWARDED_FOR, RELAIS_LOG_FORMAT)."
)]
struct Cli {
    /// Fichier de configuration TOML (facultatif).
    #[arg(long, env = "RELAIS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Lance le serveur web (commande par défaut). Applique d'abord les migrations.
    Serve,
    /// Applique les migrations de la base de données puis s'arrête.
    Migrate,
    /// Gère les administrateurs de la plateforme.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Affiche le code TOTP courant d'une clé (pour la démonstration).
    Totp {
        /// La clé TOTP en base32, telle qu'affichée au démarrage de la démonstration.
        secret: String,
    },
    /// Mesure le débit et la latence des chemins critiques (voir docs/PERFORMANCE.md).
    Bench(relais::bench::BenchArgs),
    /// Les clés de signature du fournisseur d'identité.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Les lieux de médiation numérique (standard national de données ouvertes).
    Lieux {
        #[command(subcommand)]
        command: LieuxCommand,
    },
    /// Le journal des actions faites sous mandat.
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Fait signer la clé déjà publiée, publie la suivante, et garde la précédente
    /// publiée jusqu'à l'expiration des jetons qu'elle a signés.
    Rotate,
    /// Affiche la clé HS256 d'un client ancien (legacy = true) à lui transmettre.
    Hs256 {
        /// L'identifiant du client.
        #[arg(long)]
        client_id: String,
    },
}

#[derive(Subcommand)]
enum LieuxCommand {
    /// Importe des fichiers du standard (CSV ou JSON). Par défaut, un fichier qui a une
    /// ligne invalide n'importe rien : chaque erreur est affichée avec sa ligne.
    Import {
        /// Fichiers à importer (.csv ou .json).
        #[arg(required = true)]
        fichiers: Vec<PathBuf>,
        /// Producteur des données, pour les lignes sans colonne « source ».
        #[arg(long, default_value = "import")]
        source: String,
        /// Importe les lignes valides même si d'autres sont refusées.
        #[arg(long)]
        partiel: bool,
        /// Encodage des fichiers CSV : utf-8 (le standard) ou windows-1252 (tableurs).
        #[arg(long, default_value = "utf-8")]
        encodage: String,
    },
    /// Vérifie des fichiers sans rien importer.
    Valider {
        #[arg(required = true)]
        fichiers: Vec<PathBuf>,
        #[arg(long, default_value = "utf-8")]
        encodage: String,
    },
    /// Liste les doublons probables entre sources (même SIRET et même adresse, ou
    /// même nom à moins de 50 m).
    Doublons,
    /// Exporte tous les lieux au format du standard, sur la sortie standard.
    Export {
        /// csv ou json.
        #[arg(long, default_value = "csv")]
        format: String,
    },
}

fn read_places(path: &std::path::Path, encodage: &str) -> anyhow::Result<relais::lieux::Read> {
    let bytes = std::fs::read(path).with_context(|| format!("lecture de {}", path.display()))?;
    let encoding = match encodage {
        "utf-8" | "utf8" => relais::lieux::Encoding::Utf8,
        "windows-1252" | "cp1252" => relais::lieux::Encoding::Windows1252,
        other => anyhow::bail!("encodage inconnu : {other} (utf-8 ou windows-1252)"),
    };
    relais::lieux::read_any(&path.display().to_string(), &bytes, encoding)
        .map_err(|e| anyhow::anyhow!("{} : {e}", path.display()))
}

#[derive(Subcommand)]
enum JournalCommand {
    /// Vérifie toute la chaîne d'empreintes du journal et les têtes signées de chaque
    /// chaîne ; nomme la première entrée ou chaîne altérée.
    Verify {
        /// Export des têtes signées gardé hors de la base (`relais journal tetes`) :
        /// vérifie aussi que rien n'a été supprimé ou remis à un état antérieur depuis.
        #[arg(long, value_name = "FICHIER")]
        tetes: Option<std::path::PathBuf>,
    },
    /// Écrit sur la sortie standard les têtes signées de toutes les chaînes (JSON), à
    /// garder hors de la base (sauvegarde, coffre, envoi quotidien).
    Tetes,
    /// Signe de nouveau la tête de chaque chaîne avec la clé actuelle, après un
    /// changement du secret du serveur ; refuse si une empreinte est fausse.
    Sceller,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Crée un administrateur et affiche son lien d'activation (valable 72 h).
    Create {
        /// Adresse e-mail de l'administrateur.
        #[arg(long)]
        email: String,
        /// Prénom et nom.
        #[arg(long, default_value = "Administrateur")]
        name: String,
    },
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RELAIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Totp { secret }) = &cli.command {
        let code = accounts::totp::code_at(secret, SystemClock.now())
            .context("clé TOTP invalide (base32 attendu)")?;
        println!("{code}");
        return Ok(());
    }
    if let Some(Command::Bench(args)) = &cli.command {
        return relais::bench::run(args).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    init_tracing(&config);
    let clock = Arc::new(SystemClock);
    match cli.command {
        None | Some(Command::Serve) => serve(config, clock).await,
        Some(Command::Migrate) => {
            let db = Db::connect(&config.database_url, &config.secret_key).await?;
            let applied = relais::migrate(&db, clock.now()).await?;
            println!("Migrations appliquées : {applied:?} (la base est à jour)");
            Ok(())
        }
        Some(Command::Admin {
            command: AdminCommand::Create { email, name },
        }) => {
            let email = Email::parse(&email).map_err(|m| anyhow::anyhow!(m))?;
            let name = relais::domain::parse_name(&name, "nom manquant")
                .map_err(|m| anyhow::anyhow!(m))?;
            let db = Db::connect(&config.database_url, &config.secret_key).await?;
            relais::migrate(&db, clock.now()).await?;
            let token = accounts::create_admin(&db, &email, &name, clock.now()).await?;
            println!("Administrateur {email} enregistré.");
            println!(
                "Lien d'activation (valable 72 h, une seule fois) : il permet de choisir le mot de passe"
            );
            println!("et de configurer la double authentification :");
            println!("{}/activation/{token}", config.public_url());
            Ok(())
        }
        Some(Command::Journal {
            command: JournalCommand::Tetes,
        }) => {
            let db = Db::connect(&config.database_url, &config.secret_key).await?;
            relais::migrate(&db, clock.now()).await?;
            let heads = relais::journal::heads(&db).await?;
            println!("{}", serde_json::to_string_pretty(&heads)?);
            Ok(())
        }
        Some(Command::Journal {
            command: JournalCommand::Sceller,
        }) => {
            let db = Db::connect(&config.database_url, &config.secret_key).await?;
            relais::migrate(&db, clock.now()).await?;
            let n = relais::journal::seal_chains(&db, false, clock.now()).await?;
            println!("{n} chaîne(s) scellée(s) avec la clé actuelle.");
            Ok(())
        }
        Some(Command::Journal {
            command: JournalCommand::Verify { tetes },
        }) => {
            let kept: Option<Vec<relais::journal::Head>> = match &tetes {
                Some(path) => Some(
                    serde_json::from_slice(&std::fs::read(path).with_context(|| {
                        format!("lecture de {}", path.display())
                    })?)
                    .context("export des têtes illisible (attendu : la sortie de « relais journal tetes »)")?,
                ),
                None => None,
            };
            let db = Db::connect(&config.database_url, &config.secret_key).await?;
            relais::migrate(&db, clock.now()).await?;
            let started = Instant::now();
            let v = match &kept {
                Some(k) => relais::journal::verify_against(&db, k).await?,
                None => relais::journal::verify(&db).await?,
            };
            let secs = started.elapsed().as_secs_f64();
            match v.first_broken {
                None => {
                    println!(
                        "Journal intègre : {} entrée(s) dans {} chaîne(s) vérifiées en {:.3} s ({:.0} entrées/s).",
                        v.entries,
                        v.chains,
                        secs,
                        v.entries as f64 / secs.max(1e-9)
                    );
                    Ok(())
                }
                Some(b) if b.id == 0 => {
                    eprintln!(
                        "JOURNAL ALTÉRÉ : chaîne {} (rang {}) : {}.",
                        b.chain, b.seq, b.reason
                    );
                    std::process::exit(1);
                }
                Some(b) => {
                    eprintln!(
                        "JOURNAL ALTÉRÉ : première entrée en défaut n° {} (structure {}, rang {}) : {}.",
                        b.id, b.chain, b.seq, b.reason
                    );
                    std::process::exit(1);
                }
            }
        }
        Some(Command::Keys {
            command: KeysCommand::Rotate,
        }) => {
            let db = Db::connect(&config.database_url, &config.secret_key).await?;
            relais::migrate(&db, clock.now()).await?;
            let keep = relais::idp::ID_TOKEN_TTL + 60;
            for (alg, r) in
                relais::idp::keys::rotate(&db, &config.secret_key, clock.now(), keep).await?
            {
                println!(
                    "{} — clé qui signe désormais : {}",
                    alg.key(),
                    r.now_signing
                );
                println!(
                    "{} — clé suivante publiée (signera à la prochaine rotation) : {}",
                    alg.key(),
                    r.published_next
                );
                if let Some(p) = r.previous {
                    println!(
                        "{} — clé précédente {p} : publiée encore {keep} s, le temps que ses jetons expirent.",
                        alg.key()
                    );
                }
            }
            Ok(())
        }
        Some(Command::Keys {
            command: KeysCommand::Hs256 { client_id },
        }) => {
            let client = config
                .idp_clients()
                .into_iter()
                .find(|c| c.client_id == client_id)
                .ok_or_else(|| anyhow::anyhow!("client {client_id} inconnu"))?;
            anyhow::ensure!(
                client.legacy && client.signing_alg == "HS256",
                "le client {client_id} n'est pas un client HS256 marqué legacy"
            );
            println!(
                "{}",
                relais::idp::keys::hs256_key(&config.secret_key, &client_id)
            );
            Ok(())
        }
        Some(Command::Lieux { command }) => {
            let db = Db::connect(&config.database_url, &config.secret_key).await?;
            relais::migrate(&db, clock.now()).await?;
            relais::lieux::index::refresh(&db).await?;
            match command {
                LieuxCommand::Import {
                    fichiers,
                    source,
                    partiel,
                    encodage,
                } => {
                    let mut failed = false;
                    for f in fichiers {
                        let read = read_places(&f, &encodage)?;
                        let started = Instant::now();
                        let report =
                            relais::lieux::import(&db, read, &source, partiel, clock.now()).await?;
                        for n in &report.notices {
                            println!("{} : note : {n}", f.display());
                        }
                        for r in &report.rejected {
                            println!("{} : {r}", f.display());
                        }
                        if let Some(more) = report.rejected.more_text() {
                            println!("{} : {more}", f.display());
                        }
                        for d in &report.duplicates {
                            println!("{} : doublon probable : {d}", f.display());
                        }
                        println!(
                            "{} : {} ({} ms)",
                            f.display(),
                            report.summary(),
                            started.elapsed().as_millis()
                        );
                        failed |= !report.written;
                    }
                    if failed {
                        std::process::exit(1);
                    }
                    Ok(())
                }
                LieuxCommand::Valider { fichiers, encodage } => {
                    let mut failed = false;
                    for f in fichiers {
                        let read = read_places(&f, &encodage)?;
                        for r in read.rejected.iter() {
                            println!("{} : {r}", f.display());
                        }
                        if let Some(more) = read.rejected.more_text() {
                            println!("{} : {more}", f.display());
                        }
                        println!(
                            "{} : {} lieu(x), {} refusé(s), {} erreur(s)",
                            f.display(),
                            read.rows(),
                            read.refused,
                            read.rejected.total()
                        );
                        let rejected = read.rejected;
                        failed |= !rejected.is_empty();
                    }
                    if failed {
                        std::process::exit(1);
                    }
                    Ok(())
                }
                LieuxCommand::Doublons => {
                    let list = relais::lieux::duplicates(&db, &[]).await?;
                    for d in &list {
                        println!("{d}");
                    }
                    println!("{} doublon(s) probable(s)", list.len());
                    Ok(())
                }
                LieuxCommand::Export { format } => {
                    let out = match format.as_str() {
                        "csv" => relais::lieux::export_csv(&db).await?,
                        "json" => relais::lieux::export_json(&db).await?,
                        other => anyhow::bail!("format inconnu : {other} (csv ou json)"),
                    };
                    print!("{out}");
                    Ok(())
                }
            }
        }
        Some(Command::Totp { .. } | Command::Bench(_)) => Ok(()),
    }
}

async fn serve(config: Config, clock: Arc<SystemClock>) -> anyhow::Result<()> {
    let started = Instant::now();
    let addr: SocketAddr = config.bind_addr()?;
    let db = Db::connect(&config.database_url, &config.secret_key)
        .await
        .with_context(|| {
            format!(
                "connexion à la base {}",
                relais::config::redact_url(&config.database_url)
            )
        })?;
    let prepared = relais::start(&db, &config, clock.now()).await?;
    if prepared.reindexed > 0 {
        tracing::info!(
            lieux = prepared.reindexed,
            "index de recherche des lieux recalculé"
        );
    }
    if let Some(created) = prepared.demo {
        let places = demo::BannerPlaces {
            program: std::env::args()
                .next()
                .unwrap_or_else(|| "relais".to_owned()),
            emails_dir: config
                .smtp_url
                .is_none()
                .then(|| config.data_dir.join("emails")),
        };
        println!("{}", demo::banner(&created, &config.public_url(), &places));
    }
    if !config.secure_cookies() && !config.binds_loopback() {
        tracing::warn!(
            "adresse publique en http hors boucle locale : les cookies ne seront pas protégés par Secure"
        );
    }
    let mailer = match &config.smtp_url {
        Some(url) => Mailer::smtp(url, &config.mail_from)?,
        None => Mailer::Files {
            dir: config.data_dir.join("emails"),
        },
    };
    let dummy_hash = accounts::password::hash(relais::crypto::random_token())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let http = relais::franceconnect::http::HttpClient::real()?;
    let state = AppState::new(Inner::build(
        db.clone(),
        config.clone(),
        clock.clone(),
        mailer.clone(),
        dummy_hash,
        http,
    )?);
    if state.simulator.is_some() {
        tracing::warn!(
            "simulateur FranceConnect actif ({}{}) : développement seulement",
            config.public_url(),
            relais::config::SIMULATOR_PREFIX
        );
    }
    let (router, _) = web::app(state);
    relais::sessions::spawn_cleanup(db.clone(), clock.clone());
    db.spawn_checkpoints();
    spawn_daily_jobs(
        db,
        clock,
        relais::mandats::retention::Settings {
            retention_days: config.retention_days,
            public_url: config.public_url(),
        },
        mailer,
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("écoute sur {addr} impossible"))?;
    tracing::info!(
        addr = %addr,
        public_url = %config.public_url(),
        env = ?config.env,
        ready_ms = started.elapsed().as_millis() as u64,
        "Relais est prêt"
    );
    web::server::serve(
        listener,
        router,
        web::server::Limits::from_config(&config),
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await;
    Ok(())
}

/// The daily jobs, registered here rather than in `jobs` (which only claims and
/// records them, once across servers): every minute, each runs if it is due.
fn spawn_daily_jobs(
    db: Db,
    clock: Arc<SystemClock>,
    settings: relais::mandats::retention::Settings,
    mailer: Mailer,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) =
                relais::mandats::retention::run_if_due(&db, &mailer, &settings, clock.now()).await
            {
                tracing::warn!(cause = %e, "tâche quotidienne de conservation impossible");
            }
            if let Err(e) =
                accounts::inactivity::run_if_due(&db, &mailer, &settings.public_url, clock.now())
                    .await
            {
                tracing::warn!(cause = %e, "tâche quotidienne des comptes inactifs impossible");
            }
            if let Err(e) = relais::activites::beneficiaires::run_if_due(&db, clock.now()).await {
                tracing::warn!(cause = %e, "tâche quotidienne de conservation des bénéficiaires impossible");
            }
            if let Err(e) =
                relais::equipements::run_if_due(&db, &mailer, &settings.public_url, clock.now())
                    .await
            {
                tracing::warn!(cause = %e, "tâche quotidienne des prêts d'équipement impossible");
            }
            if let Err(e) = relais::pass::expiry::run_if_due(&db, clock.now()).await {
                tracing::warn!(cause = %e, "tâche quotidienne du pass numérique impossible");
            }
            if let Err(e) = relais::pilotage::donnees::run_if_due(&db, clock.now()).await {
                tracing::warn!(cause = %e, "publication quotidienne des données ouvertes impossible");
            }
        }
    });
}
