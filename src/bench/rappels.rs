//! `relais bench rappels`: the Solidarité Numérique back office with 100,000
//! requests (by default) over six months and 100 départements: the agents' queue
//! pages through the router (to call, closed, one département, every queue), a
//! request's page, the service figures over 90 days, and recording a request
//! (routing, insert, journal).

use std::time::Instant;

use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::db::Exec as _;

#[derive(Debug, Clone, clap::Args)]
pub struct RappelsBenchArgs {
    #[arg(long, default_value_t = 100_000)]
    pub demandes: usize,
    /// Measured requests per measure.
    #[arg(long, default_value_t = 100)]
    pub requests: usize,
}

/// `n` requests in the national queue: a third to call, a tenth in progress, the
/// rest closed; one commune per département among 100.
async fn populate(db: &Db, agent: i64, n: usize, now: i64) -> anyhow::Result<()> {
    let t = crate::territoires::get();
    let mut communes: Vec<(String, String)> = Vec::new();
    for c in t.communes() {
        if !communes.iter().any(|x| x.1 == c.departement) {
            communes.push((c.code.clone(), c.departement.clone()));
        }
        if communes.len() == 100 {
            break;
        }
    }
    let issues = crate::rappels::ISSUES;
    let besoins = crate::rappels::BESOINS;
    let mut done = 0;
    while done < n {
        let mut tx = db.begin().await?;
        for i in done..(done + 10_000).min(n) {
            let Some((insee, dep)) = communes.get(i % communes.len()) else {
                anyhow::bail!("aucune commune");
            };
            let created = now - 180 * 86_400 + (i as i64) * (180 * 86_400) / n as i64;
            let (statut, issue, first, closed) = match i % 10 {
                0..=2 => ("nouvelle", None, None, None),
                3 => ("en_cours", None, Some(created + 7_200), None),
                k => (
                    "cloturee",
                    issues.get(k % issues.len()).map(|x| x.0),
                    Some(created + 3_600 * (k as i64)),
                    Some(created + 86_400),
                ),
            };
            tx.execute(
                "INSERT INTO rappel_demandes (prenom, telephone, code_postal, commune_insee, departement,
                     besoin, creneaux, consentement_le, statut, issue, tentatives, premier_appel_le,
                     cloturee_le, agent_id, created_at)
                 VALUES ('Personne', '+33612345678', '00000', $1, $2, $3, ',matin,', $4, $5, $6, $7, $8, $9, $10, $4)",
                crate::args![
                    insee.as_str(),
                    dep.as_str(),
                    besoins.get(i % besoins.len()).map_or("email", |x| x.0),
                    created,
                    statut,
                    issue,
                    i64::from(first.is_some()),
                    first,
                    closed,
                    (statut != "nouvelle").then_some(agent)
                ],
            )
            .await?;
        }
        tx.commit().await?;
        done = (done + 10_000).min(n);
    }
    Ok(())
}

pub async fn run(args: &RappelsBenchArgs, database_url: Option<String>) -> anyhow::Result<()> {
    let clock = std::sync::Arc::new(SystemClock);
    let now = clock.now();
    let b = crate::bench::BenchDb::open("rappels", database_url, now).await?;
    let db = &b.db;
    println!("Solidarité Numérique sur {}", b.kind);
    let (sid, me) = crate::bench::structure_and_member(
        db,
        now,
        7_000_000,
        "rappels",
        crate::domain::Role::Aidant,
    )
    .await?;
    crate::rappels::set_participation(db, sid, Some("national"), me, now).await?;
    let t = Instant::now();
    populate(db, me, args.demandes, now).await?;
    println!(
        "{} demandes en {:.1} s",
        args.demandes,
        t.elapsed().as_secs_f64()
    );
    db.run_script("ANALYZE").await?;

    let (_state, router) = crate::bench::in_process_app(db, &b.url, clock.clone()).await?;
    let session = crate::sessions::create(db, me, now).await?;
    let cookie = format!("{}={session}", crate::sessions::COOKIE);
    let one: i64 = db
        .fetch_one(
            "SELECT MAX(id) AS id FROM rappel_demandes WHERE statut = 'nouvelle'",
            crate::args![],
        )
        .await?
        .get("id")?;
    let mut report = Vec::new();
    for (name, path) in [
        (
            "file nationale, à traiter (/rappels)",
            "/rappels".to_owned(),
        ),
        (
            "clôturées, les plus récentes",
            "/rappels?etat=cloturees".to_owned(),
        ),
        (
            "à traiter dans un département",
            "/rappels?departement=13".to_owned(),
        ),
        (
            "toutes les files, en cours, les miennes",
            "/rappels?file=toutes&etat=en-cours&moi=1".to_owned(),
        ),
        ("page d'une demande", format!("/rappels/{one}")),
        (
            "chiffres du service sur 90 jours",
            "/rappels/chiffres?jours=90".to_owned(),
        ),
    ] {
        let (d, size) =
            crate::bench::measure_get(&router, Some(&cookie), &path, args.requests).await?;
        report.push(format!(
            "{}  ({size} octets)",
            crate::bench::report_line(name, d)
        ));
    }

    let form = crate::rappels::Form {
        prenom: "Odile".into(),
        telephone: "06 12 34 56 78".into(),
        code_postal: "89000".into(),
        besoin: "email".into(),
        creneaux: vec!["matin".into()],
        precisions: String::new(),
        consentement: true,
    };
    let d = crate::rappels::check(&form).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut times = Vec::with_capacity(args.requests);
    for _ in 0..args.requests {
        let t = Instant::now();
        crate::rappels::create(db, &d, now).await?;
        times.push(t.elapsed());
    }
    report.push(crate::bench::report_line(
        "demande enregistrée (routage, écriture, journal)",
        times,
    ));
    println!();
    for l in report {
        println!("{l}");
    }
    b.close().await;
    Ok(())
}
