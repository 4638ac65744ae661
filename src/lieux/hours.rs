//! Opening hours in the OpenStreetMap `opening_hours` syntax (the standard's
//! `horaires`): checked when importing, evaluated in Europe/Paris time with the
//! injected clock, and told in French.

use chrono::{NaiveDate, NaiveDateTime};
use opening_hours::OpeningHours;

/// Parses the hours; the error tells what to write instead.
pub fn parse(raw: &str) -> Result<OpeningHours, String> {
    raw.parse::<OpeningHours>().map_err(|_| {
        format!(
            "horaires « {raw} » illisibles : écrivez-les dans la syntaxe OpenStreetMap, par exemple « Mo-Fr 09:00-12:00,14:00-17:30; Sa 09:00-12:00 »"
        )
    })
}

/// Paris civil time of a Unix timestamp, as chrono wants it.
pub fn paris(unix: i64) -> Option<NaiveDateTime> {
    let l = crate::time_fr::local(unix);
    NaiveDate::from_ymd_opt(i32::try_from(l.year).ok()?, l.month, l.day)?.and_hms_opt(
        u32::try_from(l.hour).ok()?,
        u32::try_from(l.minute).ok()?,
        0,
    )
}

/// Whether a place is open at `unix` (Paris time); `None` when the hours are
/// missing or unreadable.
pub fn is_open(raw: &str, unix: i64) -> Option<bool> {
    if raw.trim().is_empty() {
        return None;
    }
    let oh = parse(raw).ok()?;
    Some(oh.is_open(paris(unix)?))
}

const DAYS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];

fn hm(t: NaiveDateTime) -> String {
    use chrono::Timelike;
    format!("{} h {:02}", t.hour(), t.minute())
}

/// « Ouvert jusqu'à 12 h 00 », « Fermé, ouvre mardi à 9 h 00 », or `None`.
pub fn status(raw: &str, unix: i64) -> Option<String> {
    use chrono::Datelike;
    if raw.trim().is_empty() {
        return None;
    }
    let oh = parse(raw).ok()?;
    let now = paris(unix)?;
    let open = oh.is_open(now);
    let next = oh.next_change(now);
    Some(match (open, next) {
        (true, Some(t)) if t.date() == now.date() => format!("Ouvert jusqu'à {}", hm(t)),
        (true, _) => "Ouvert".to_owned(),
        (false, Some(t)) if t.date() == now.date() => format!("Fermé, ouvre à {}", hm(t)),
        (false, Some(t)) if (t.date() - now.date()).num_days() < 7 => {
            let day = DAYS
                .get(t.weekday().num_days_from_monday() as usize)
                .copied()
                .unwrap_or("");
            format!("Fermé, ouvre {day} à {}", hm(t))
        }
        (false, _) => "Fermé".to_owned(),
    })
}

/// One day of the week table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    /// « lundi » … « dimanche ».
    pub name: &'static str,
    /// « 23/11 ».
    pub date: String,
    pub today: bool,
    /// « 9 h 00 – 12 h 00 »; empty: closed.
    pub ranges: Vec<String>,
}

/// The current week, Monday to Sunday (Paris time), with the opening ranges of
/// each day; `None` when the hours are missing or unreadable.
pub fn week(raw: &str, unix: i64) -> Option<Vec<Day>> {
    use chrono::{Datelike, Duration};
    if raw.trim().is_empty() {
        return None;
    }
    let oh = parse(raw).ok()?;
    let now = paris(unix)?;
    let monday = now.date() - Duration::days(i64::from(now.weekday().num_days_from_monday()));
    let mut out = Vec::with_capacity(7);
    for (i, name) in DAYS.iter().enumerate() {
        let date = monday + Duration::days(i64::try_from(i).ok()?);
        let start = date.and_hms_opt(0, 0, 0)?;
        let end = start + Duration::days(1);
        let ranges = oh
            .iter_range(start, end)
            .filter(|r| r.kind == opening_hours::RuleKind::Open)
            .map(|r| {
                let to = if r.range.end >= end {
                    "24 h 00".to_owned()
                } else {
                    hm(r.range.end)
                };
                format!("{} – {to}", hm(r.range.start))
            })
            .collect();
        out.push(Day {
            name,
            date: format!("{:02}/{:02}", date.day(), date.month()),
            today: date == now.date(),
            ranges,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time_fr::days_from_civil;

    /// Paris time → Unix (winter, UTC+1).
    fn at(y: i64, m: u32, d: u32, h: i64, min: i64) -> i64 {
        days_from_civil(y, m, d) * 86_400 + (h - 1) * 3_600 + min * 60
    }

    const HOURS: &str = "Mo-Fr 09:00-12:00,14:00-17:30; Sa 09:00-12:00";

    #[test]
    fn open_now_across_a_week() {
        // 2026-11-23 is a Monday.
        assert_eq!(is_open(HOURS, at(2026, 11, 23, 10, 0)), Some(true));
        assert_eq!(
            is_open(HOURS, at(2026, 11, 23, 12, 30)),
            Some(false),
            "lunch break"
        );
        assert_eq!(
            is_open(HOURS, at(2026, 11, 27, 17, 29)),
            Some(true),
            "Friday evening"
        );
        assert_eq!(is_open(HOURS, at(2026, 11, 27, 17, 30)), Some(false));
        assert_eq!(
            is_open(HOURS, at(2026, 11, 28, 11, 0)),
            Some(true),
            "Saturday morning"
        );
        assert_eq!(is_open(HOURS, at(2026, 11, 28, 15, 0)), Some(false));
        assert_eq!(
            is_open(HOURS, at(2026, 11, 29, 11, 0)),
            Some(false),
            "Sunday"
        );
        assert_eq!(is_open("", at(2026, 11, 29, 11, 0)), None);
        assert_eq!(
            is_open("du lundi au vendredi", at(2026, 11, 29, 11, 0)),
            None
        );
    }

    #[test]
    fn week_table() {
        // Wednesday 2026-11-25, 10:00.
        let w = week(HOURS, at(2026, 11, 25, 10, 0)).unwrap();
        assert_eq!(w.len(), 7);
        assert_eq!(w[0].name, "lundi");
        assert_eq!(w[0].date, "23/11");
        assert_eq!(w[0].ranges, vec!["9 h 00 – 12 h 00", "14 h 00 – 17 h 30"]);
        assert!(w[2].today && !w[1].today);
        assert_eq!(w[5].ranges, vec!["9 h 00 – 12 h 00"]);
        assert!(w[6].ranges.is_empty(), "closed on Sunday");
        assert_eq!(
            week("24/7", at(2026, 11, 25, 10, 0)).unwrap()[0].ranges,
            vec!["0 h 00 – 24 h 00"]
        );
        assert!(week("", 0).is_none());
    }

    #[test]
    fn told_in_french() {
        assert_eq!(
            status(HOURS, at(2026, 11, 23, 10, 0)).unwrap(),
            "Ouvert jusqu'à 12 h 00"
        );
        assert_eq!(
            status(HOURS, at(2026, 11, 23, 12, 30)).unwrap(),
            "Fermé, ouvre à 14 h 00"
        );
        assert_eq!(
            status(HOURS, at(2026, 11, 28, 15, 0)).unwrap(),
            "Fermé, ouvre lundi à 9 h 00"
        );
        assert!(parse("Mo-Fr 09:00-12:00; PH off").is_ok());
        assert!(
            parse("lundi matin")
                .unwrap_err()
                .contains("syntaxe OpenStreetMap")
        );
    }
}
