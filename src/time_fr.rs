//! Dates as people in France read them: Europe/Paris civil time (CET, CEST from the
//! last Sunday of March to the last Sunday of October, changes at 01:00 UTC), written
//! in French. Timestamps everywhere else are Unix seconds.

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day of the week, 0 = Monday.
fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

fn last_sunday(year: i64, month: u32) -> i64 {
    let last = days_from_civil(year, month + 1, 1) - 1;
    last - (weekday(last) + 1) % 7
}

/// Offset of Paris from UTC at `unix` (seconds): 3,600 in winter, 7,200 in summer.
pub fn paris_offset(unix: i64) -> i64 {
    let (year, _, _) = civil_from_days(unix.div_euclid(86_400));
    let start = last_sunday(year, 3) * 86_400 + 3_600;
    let end = last_sunday(year, 10) * 86_400 + 3_600;
    if unix >= start && unix < end {
        7_200
    } else {
        3_600
    }
}

/// Local (Paris) civil date and time of a timestamp.
pub struct Local {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: i64,
    pub minute: i64,
}

pub fn local(unix: i64) -> Local {
    let t = unix + paris_offset(unix);
    let (year, month, day) = civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    Local {
        year,
        month,
        day,
        hour: secs / 3_600,
        minute: (secs % 3_600) / 60,
    }
}

/// The Unix time of midnight (Paris) starting the local day that contains `unix`,
/// moved by `add_days` days.
pub fn paris_midnight(unix: i64, add_days: i64) -> i64 {
    let l = local(unix);
    let days = days_from_civil(l.year, l.month, l.day) + add_days;
    let guess = days * 86_400 - 3_600;
    // The offset at midnight itself decides (changes happen at 02:00/03:00 local).
    days * 86_400 - paris_offset(guess)
}

/// `24/11/2026`
pub fn date(unix: i64) -> String {
    let l = local(unix);
    format!("{:02}/{:02}/{}", l.day, l.month, l.year)
}

/// `24 novembre 2026`
pub fn date_long(unix: i64) -> String {
    let l = local(unix);
    let month = MONTHS
        .get(usize::try_from(l.month).unwrap_or(1).saturating_sub(1))
        .copied()
        .unwrap_or("");
    let day = if l.day == 1 {
        "1er".to_owned()
    } else {
        l.day.to_string()
    };
    format!("{day} {month} {}", l.year)
}

/// `24/11/2026 à 14 h 05`
pub fn date_time(unix: i64) -> String {
    let l = local(unix);
    format!(
        "{:02}/{:02}/{} à {} h {:02}",
        l.day, l.month, l.year, l.hour, l.minute
    )
}

/// `24/11/2026 14:05`: what a French spreadsheet reads as a date and time.
pub fn date_time_numeric(unix: i64) -> String {
    let l = local(unix);
    format!(
        "{:02}/{:02}/{} {:02}:{:02}",
        l.day, l.month, l.year, l.hour, l.minute
    )
}

/// ISO 8601 date and time with the Paris offset: `2026-11-24T14:05:00+01:00`.
pub fn iso(unix: i64) -> String {
    let l = local(unix);
    let off = paris_offset(unix) / 3_600;
    let secs = (unix + paris_offset(unix)).rem_euclid(60);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}+{:02}:00",
        l.year, l.month, l.day, l.hour, l.minute, secs, off
    )
}

/// A date written `aaaa-mm-jj` (a birthdate, a training session) as people read
/// it: `1962-08-24` → `24/08/1962`; anything else unchanged.
pub fn from_iso(iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    match parts.as_slice() {
        [y, m, d] => format!("{d}/{m}/{y}"),
        _ => iso.to_owned(),
    }
}

/// Parses `YYYY-MM-DD` (an `<input type="date">`) into midnight Paris time.
pub fn parse_date(raw: &str) -> Option<i64> {
    let mut it = raw.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1900..=9999).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return None;
    }
    Some(days * 86_400 - paris_offset(days * 86_400 - 3_600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-1000, 0, 1, 59, 60, 365, 10_957, 20_000, 20_781] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2026, 11, 24), 20_781);
    }

    #[test]
    fn paris_summer_and_winter_time() {
        // 2026-03-29 is the last Sunday of March; the change is at 01:00 UTC.
        let change = days_from_civil(2026, 3, 29) * 86_400 + 3_600;
        assert_eq!(paris_offset(change - 1), 3_600);
        assert_eq!(paris_offset(change), 7_200);
        // 2026-10-25 is the last Sunday of October.
        let back = days_from_civil(2026, 10, 25) * 86_400 + 3_600;
        assert_eq!(paris_offset(back - 1), 7_200);
        assert_eq!(paris_offset(back), 3_600);
    }

    #[test]
    fn french_formats() {
        // 2026-11-24 13:05 UTC = 14:05 in Paris (winter).
        let t = days_from_civil(2026, 11, 24) * 86_400 + 13 * 3_600 + 5 * 60;
        assert_eq!(date(t), "24/11/2026");
        assert_eq!(date_long(t), "24 novembre 2026");
        assert_eq!(date_time(t), "24/11/2026 à 14 h 05");
        assert_eq!(iso(t), "2026-11-24T14:05:00+01:00");
        let first = days_from_civil(2026, 7, 1) * 86_400 + 12 * 3_600;
        assert_eq!(date_long(first), "1er juillet 2026");
    }

    #[test]
    fn midnight_in_paris() {
        let t = days_from_civil(2026, 11, 24) * 86_400 + 23 * 3_600 + 30 * 60; // 00:30 on the 25th in Paris
        let m = paris_midnight(t, 0);
        assert_eq!(date_time(m), "25/11/2026 à 0 h 00");
        assert_eq!(date_time(paris_midnight(t, 2)), "27/11/2026 à 0 h 00");
        let summer = days_from_civil(2026, 7, 14) * 86_400 + 12 * 3_600;
        assert_eq!(date_time(paris_midnight(summer, 1)), "15/07/2026 à 0 h 00");
        assert_eq!(parse_date("2026-07-15"), Some(paris_midnight(summer, 1)));
        assert_eq!(parse_date("2026-02-30"), None);
    }
}
