//! `relais bench ressources`: the resource centre's public search over 20,000
//! published resources (by default), each of about 300 words drawn from a
//! vocabulary of 2,000, written, proposed and published through the domain code:
//! the newest first, one common word, two words, a rare word, words with
//! filters, and the search page through the router.

use std::time::Instant;

use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::ressources::{self, Auteur, Recherche};

#[derive(Debug, Clone, clap::Args)]
pub struct RessourcesBenchArgs {
    #[arg(long, default_value_t = 20_000)]
    pub ressources: usize,
    /// Measured searches per measure.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
}

/// A deterministic word of the vocabulary: a few real ones most often (Zipf-like),
/// invented ones for the long tail.
fn word(n: u64) -> String {
    const COMMON: &[&str] = &[
        "message",
        "courriel",
        "mot",
        "passe",
        "compte",
        "démarche",
        "téléphone",
        "ordinateur",
        "sécurité",
        "internet",
        "rendez-vous",
        "santé",
        "impôts",
        "banque",
        "document",
        "photo",
        "application",
        "connexion",
        "identité",
        "personne",
    ];
    if n.is_multiple_of(3) {
        COMMON
            .get((n / 3) as usize % COMMON.len())
            .copied()
            .unwrap_or("message")
            .to_owned()
    } else {
        format!("terme{}", n % 2_000)
    }
}

async fn populate(db: &Db, auteur: Auteur, n: usize, now: i64) -> anyhow::Result<()> {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let publics = ["aidants", "mediateurs", "collectivites", "usagers"];
    let formats = ["fiche", "guide", "video", "modele", "outil"];
    for i in 0..n {
        let titre: Vec<String> = (0..6).map(|_| word(next() % 6_000)).collect();
        let corps: Vec<String> = (0..300).map(|_| word(next() % 6_000)).collect();
        let c = ressources::Contenu {
            titre: format!("Ressource {i} : {}", titre.join(" ")),
            resume: corps.iter().take(30).cloned().collect::<Vec<_>>().join(" "),
            corps: format!("## Partie\n\n{}", corps.join(" ")),
            publics: vec![
                publics
                    .get(i % publics.len())
                    .copied()
                    .unwrap_or("aidants")
                    .to_owned(),
            ],
            thematiques: vec![
                ressources::THEMATIQUES
                    .get(i % ressources::THEMATIQUES.len())
                    .map_or("email", |t| t.0)
                    .to_owned(),
            ],
            format: formats
                .get(i % formats.len())
                .copied()
                .unwrap_or("fiche")
                .to_owned(),
            licence: "etalab-2.0".into(),
            liens: Vec::new(),
        };
        let id = ressources::save(db, auteur, None, &c, now + i as i64)
            .await?
            .map_err(|e| anyhow::anyhow!(e))?;
        ressources::submit(db, auteur, id, now)
            .await?
            .map_err(|e| anyhow::anyhow!(e))?;
        ressources::decide(
            db,
            auteur.account_id,
            id,
            &ressources::Decision::Publier,
            now + i as i64,
        )
        .await?
        .map_err(|e| anyhow::anyhow!(e))?;
    }
    Ok(())
}

pub async fn run(args: &RessourcesBenchArgs, database_url: Option<String>) -> anyhow::Result<()> {
    let clock = std::sync::Arc::new(SystemClock);
    let now = clock.now();
    let b = crate::bench::BenchDb::open("ressources", database_url, now).await?;
    let db = &b.db;
    println!("Centre de ressources sur {}", b.kind);
    let (_sid, me) = crate::bench::structure_and_member(
        db,
        now,
        8_000_000,
        "ressources",
        crate::domain::Role::Aidant,
    )
    .await?;
    let auteur = Auteur {
        account_id: me,
        structure_id: None,
    };
    let t = Instant::now();
    populate(db, auteur, args.ressources, now).await?;
    println!(
        "{} ressources publiées en {:.1} s",
        args.ressources,
        t.elapsed().as_secs_f64()
    );
    db.run_script("ANALYZE").await?;
    let mut report = Vec::new();
    for (name, q, public, format) in [
        ("les plus récentes (sans mots)", "", "", ""),
        ("un mot courant (« message »)", "message", "", ""),
        ("deux mots (« mot passe »)", "mot passe", "", ""),
        ("un mot rare (« terme1234 »)", "terme1234", "", ""),
        ("un préfixe (« rendez »)", "rendez", "", ""),
        (
            "deux mots, un public et un format",
            "sante banque",
            "usagers",
            "fiche",
        ),
    ] {
        let r = Recherche {
            q: q.into(),
            public: public.into(),
            format: format.into(),
            page: 1,
            ..Recherche::default()
        };
        let found = ressources::search(db, &r).await?.lignes.len();
        let mut d = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            let t = Instant::now();
            ressources::search(db, &r).await?;
            d.push(t.elapsed());
        }
        report.push(format!(
            "{}  ({found} affichées)",
            crate::bench::report_line(name, d)
        ));
    }
    let (_state, router) = crate::bench::in_process_app(db, &b.url, clock.clone()).await?;
    let (d, size) =
        crate::bench::measure_get(&router, None, "/ressources?q=mot+passe", args.requests).await?;
    report.push(format!(
        "{}  ({size} octets)",
        crate::bench::report_line("page /ressources?q=mot+passe (routeur)", d)
    ));
    println!();
    for l in report {
        println!("{l}");
    }
    b.close().await;
    Ok(())
}
