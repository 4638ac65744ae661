//! The helpline's service figures for a period: requests per day, time to the
//! first call, outcome shares, per département. Three grouped queries (by hour,
//! by département and outcome, by hour of delay), whatever the number of requests;
//! days are Paris days, delays are counted in whole hours.

use crate::db::Db;

/// The figures of a period `[from, to)`.
#[derive(Debug, Clone, Default)]
pub struct Chiffres {
    pub demandes: i64,
    pub cloturees: i64,
    pub appelees: i64,
    /// Requests per Paris day, every day of the period (zeros included), `dd/mm`.
    pub par_jour: Vec<(String, i64)>,
    /// Median and 9th decile of the time to the first call, in hours.
    pub delai_median_h: Option<i64>,
    pub delai_d9_h: Option<i64>,
    /// Closed requests per outcome (in [`super::ISSUES`] order, then « sans issue »).
    pub issues: Vec<(String, i64)>,
    pub departements: Vec<LigneDepartement>,
}

#[derive(Debug, Clone, Default)]
pub struct LigneDepartement {
    pub code: String,
    pub nom: String,
    pub demandes: i64,
    pub cloturees: i64,
    pub resolues: i64,
    pub orientees: i64,
    pub injoignables: i64,
}

/// The figures of every request (`structure` `None`) or of one structure's.
pub async fn compute(
    db: &Db,
    structure: Option<i64>,
    from: i64,
    to: i64,
) -> Result<Chiffres, crate::db::Error> {
    let sid = structure.unwrap_or(0);
    let hours = db
        .fetch_all(
            "SELECT created_at / 3600 AS h, COUNT(*) AS n FROM rappel_demandes
             WHERE created_at >= $1 AND created_at < $2 AND ($3 = 0 OR structure_id = $3)
             GROUP BY created_at / 3600",
            crate::args![from, to, sid],
        )
        .await?;
    let mut c = Chiffres::default();
    let first_day = crate::time_fr::paris_midnight(from, 0);
    let mut days: Vec<(i64, String, i64)> = Vec::new();
    let mut day = first_day;
    while day < to && days.len() < 400 {
        let next = crate::time_fr::paris_midnight(day + 43_200, 1);
        let l = crate::time_fr::local(day + 43_200);
        days.push((day, format!("{:02}/{:02}", l.day, l.month), 0));
        day = next;
    }
    for r in hours {
        let at = r.int("h")? * 3600;
        let n = r.int("n")?;
        c.demandes += n;
        if let Some(d) = days.iter_mut().rev().find(|d| d.0 <= at) {
            d.2 += n;
        }
    }
    c.par_jour = days.into_iter().map(|(_, l, n)| (l, n)).collect();

    let delays = db
        .fetch_all(
            "SELECT (premier_appel_le - created_at) / 3600 AS h, COUNT(*) AS n FROM rappel_demandes
             WHERE created_at >= $1 AND created_at < $2 AND ($3 = 0 OR structure_id = $3)
               AND premier_appel_le IS NOT NULL
             GROUP BY (premier_appel_le - created_at) / 3600 ORDER BY 1",
            crate::args![from, to, sid],
        )
        .await?;
    let hist: Vec<(i64, i64)> = delays
        .iter()
        .map(|r| Ok((r.int("h")?, r.int("n")?)))
        .collect::<Result<_, crate::db::Error>>()?;
    c.appelees = hist.iter().map(|h| h.1).sum();
    c.delai_median_h = quantile(&hist, c.appelees, 1, 2);
    c.delai_d9_h = quantile(&hist, c.appelees, 9, 10);

    let rows = db
        .fetch_all(
            "SELECT departement, statut, COALESCE(issue, '') AS issue, COUNT(*) AS n FROM rappel_demandes
             WHERE created_at >= $1 AND created_at < $2 AND ($3 = 0 OR structure_id = $3)
             GROUP BY departement, statut, COALESCE(issue, '')",
            crate::args![from, to, sid],
        )
        .await?;
    let mut issues: Vec<(String, i64)> = super::ISSUES
        .iter()
        .map(|(_, l)| ((*l).to_owned(), 0))
        .collect();
    let mut sans_issue = 0;
    let t = crate::territoires::get();
    let mut by_dep: std::collections::BTreeMap<String, LigneDepartement> =
        std::collections::BTreeMap::new();
    for r in rows {
        let code = r.text("departement")?;
        let n = r.int("n")?;
        let closed = r.text("statut")? == "cloturee";
        let issue = r.text("issue")?;
        let line = by_dep
            .entry(code.clone())
            .or_insert_with(|| LigneDepartement {
                nom: t.departement_name(&code).unwrap_or("").to_owned(),
                code,
                ..LigneDepartement::default()
            });
        line.demandes += n;
        if closed {
            line.cloturees += n;
            c.cloturees += n;
            match issue.as_str() {
                "resolu" => line.resolues += n,
                "oriente_lieu" => line.orientees += n,
                "injoignable" => line.injoignables += n,
                _ => {}
            }
            let label = super::label(super::ISSUES, &issue);
            match issues.iter_mut().find(|(l, _)| l == label) {
                Some(entry) => entry.1 += n,
                None => sans_issue += n,
            }
        }
    }
    c.departements = by_dep.into_values().collect();
    if sans_issue > 0 {
        issues.push((
            "Sans issue notée (données supprimées)".to_owned(),
            sans_issue,
        ));
    }
    c.issues = issues;
    Ok(c)
}

/// The smallest value whose cumulated count reaches `num/den` of `total`.
fn quantile(hist: &[(i64, i64)], total: i64, num: i64, den: i64) -> Option<i64> {
    if total == 0 {
        return None;
    }
    let target = (total * num + den - 1) / den;
    let mut seen = 0;
    for (v, n) in hist {
        seen += n;
        if seen >= target {
            return Some(*v);
        }
    }
    hist.last().map(|h| h.0)
}

/// `3 h`, `2 j 4 h`.
pub fn hours_text(h: i64) -> String {
    if h < 1 {
        "moins d'une heure".to_owned()
    } else if h < 48 {
        format!("{h} h")
    } else {
        format!("{} j {} h", h / 24, h % 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_histogram() {
        let hist = [(0, 2), (1, 1), (5, 1)];
        assert_eq!(quantile(&hist, 4, 1, 2), Some(0));
        assert_eq!(quantile(&hist, 4, 9, 10), Some(5));
        assert_eq!(quantile(&[], 0, 1, 2), None);
        assert_eq!(hours_text(0), "moins d'une heure");
        assert_eq!(hours_text(50), "2 j 2 h");
    }
}
