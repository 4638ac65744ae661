//! `relais bench connexions`: the memory of a server under a burst of sign-ins.
//! Starts the real server as a child process on an empty SQLite database (the
//! demonstration is created, as on a first start), measures its resident memory,
//! then sends N parallel failed sign-ins from N different clients (distinct
//! `X-Forwarded-For`, distinct unknown emails: no lock-out stops them before the
//! password check) and reports the peak and the memory after the burst, with the
//! answers counted by status. Only talks to 127.0.0.1; bounded in requests and time.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone, clap::Args)]
pub struct ConnexionsBenchArgs {
    /// Sign-ins sent at once.
    #[arg(long, default_value_t = 250)]
    pub parallel: usize,
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// One request on a new connection; the status and the `Set-Cookie` values.
async fn once(addr: &str, request: String) -> anyhow::Result<(u16, Vec<String>)> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf))
        .await
        .context("réponse trop lente")??;
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .context("réponse illisible")?;
    let cookies = text
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect();
    Ok((status, cookies))
}

pub async fn run(args: &ConnexionsBenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("relais-bench-cx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let db_url = format!("sqlite://{}", dir.join("bench.db").display());
    let addr = format!("127.0.0.1:{}", crate::bench::free_port()?);
    let t0 = Instant::now();
    let mut child = crate::bench::spawn_server(
        &addr,
        &db_url,
        &dir,
        &[("RELAIS_TRUST_FORWARDED_FOR", "true")],
    )?;
    let pid = child.id().unwrap_or(0);
    let get =
        |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    loop {
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("le serveur n'a pas démarré en 30 s");
        }
        if let Ok((200, _)) = once(&addr, get("/healthz")).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first_start = status_kib(pid, "VmRSS:");

    let (_, cookies) = once(&addr, get("/connexion")).await?;
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("relais_csrf="))
        .context("cookie CSRF absent")?
        .to_owned();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.parallel {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("_csrf", &csrf)
            .append_pair("email", &format!("inconnu-{i}@banc.relais.localhost"))
            .append_pair("password", "ce n'est pas le bon mot de passe")
            .append_pair("code", "000000")
            .finish();
        let request = format!(
            "POST /connexion HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: relais_csrf={csrf}\r\nX-Forwarded-For: 198.51.100.{}, 10.0.{}.{}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            i % 250,
            i / 250,
            i % 250,
            body.len()
        );
        let addr = addr.clone();
        tasks.spawn(async move { once(&addr, request).await.map(|r| r.0) });
    }
    let mut peak = 0;
    let mut statuses = std::collections::BTreeMap::new();
    while !tasks.is_empty() {
        if let Some(kib) = status_kib(pid, "VmRSS:") {
            peak = peak.max(kib);
        }
        tokio::select! {
            done = tasks.join_next() => {
                if let Some(r) = done {
                    let status = r.ok().and_then(Result::ok).unwrap_or(0);
                    *statuses.entry(status).or_insert(0usize) += 1;
                }
            }
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("la rafale n'a pas fini en 2 minutes");
        }
    }
    let burst = started.elapsed();
    let hwm = status_kib(pid, "VmHWM:");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_1s = status_kib(pid, "VmRSS:");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after_5s = status_kib(pid, "VmRSS:");
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);

    let mo = |k: Option<u64>| k.map_or("?".to_owned(), |k| format!("{:.1} Mo", k as f64 / 1024.0));
    println!(
        "Relais bench connexions — {} connexions refusées en parallèle (clients distincts), SQLite",
        args.parallel
    );
    println!(
        "  mémoire au premier démarrage (démonstration créée) : {}",
        mo(first_start)
    );
    println!(
        "  pendant la rafale : pic {} (échantillons) · VmHWM {}",
        mo(Some(peak)),
        mo(hwm)
    );
    println!(
        "  après la rafale   : {} à 1 s · {} à 5 s",
        mo(after_1s),
        mo(after_5s)
    );
    println!(
        "  durée de la rafale : {:.2} s · réponses : {}",
        burst.as_secs_f64(),
        statuses
            .iter()
            .map(|(s, n)| format!("{n} × {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
