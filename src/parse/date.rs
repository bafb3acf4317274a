//! Dates as news pages write them, in French and English: `samedi 19 août
//! 2023 à 10h32`, `19/08/2023` (day first), `Aug 19, 2023 10:32 AM`,
//! ISO 8601, RFC 2822, and relative ones (`il y a 3 heures`, `hier`,
//! `2 days ago`) counted from the fetch time. The first date found in the
//! text wins, so a whole line (`Publié le samedi 19 aout 2023 | AFP`) can
//! be given. A date without an offset is read in the source's time zone;
//! a date that cannot be read — or does not exist, like 31 February — is
//! `None`, never "now".

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use regex::{Captures, Regex};
use unicode_normalization::UnicodeNormalization;

/// Month names and abbreviations, French and English, accents folded.
const MONTHS: &[(&str, u32)] = &[
    ("janvier", 1),
    ("january", 1),
    ("janv", 1),
    ("jan", 1),
    ("fevrier", 2),
    ("february", 2),
    ("fevr", 2),
    ("fev", 2),
    ("feb", 2),
    ("mars", 3),
    ("march", 3),
    ("mar", 3),
    ("avril", 4),
    ("april", 4),
    ("avr", 4),
    ("apr", 4),
    ("mai", 5),
    ("may", 5),
    ("juin", 6),
    ("june", 6),
    ("jun", 6),
    ("juillet", 7),
    ("july", 7),
    ("juil", 7),
    ("jul", 7),
    ("aout", 8),
    ("august", 8),
    ("aug", 8),
    ("septembre", 9),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("octobre", 10),
    ("october", 10),
    ("oct", 10),
    ("novembre", 11),
    ("november", 11),
    ("nov", 11),
    ("decembre", 12),
    ("december", 12),
    ("dec", 12),
];

/// Zone names pages write after a time, with their offsets in minutes.
const ZONES: &[(&str, i32)] = &[
    ("utc", 0),
    ("gmt", 0),
    ("z", 0),
    ("wat", 60),
    ("cet", 60),
    ("cest", 120),
    ("bst", 60),
    ("eet", 120),
    ("eest", 180),
    ("cat", 120),
    ("eat", 180),
    ("est", -300),
    ("edt", -240),
    ("cst", -360),
    ("cdt", -300),
    ("pst", -480),
    ("pdt", -420),
];

fn month_alternation() -> String {
    let mut names: Vec<&str> = MONTHS.iter().map(|(n, _)| *n).collect();
    // Longest first, so `juillet` is not read as `juil`.
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names.join("|")
}

static ISO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(z\b|[+-]\d{2}(?::?\d{2})?\b)?)?",
    )
    .expect("a valid regex")
});

static NUMERIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,2})([/.-])(\d{1,2})([/.-])(\d{4}|\d{2})\b").expect("a valid regex")
});

static DAY_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b(\d{{1,2}})(?:er|st|nd|rd|th)?\s*(?:de\s+|of\s+)?({})\b\.?,?(?:\s+(\d{{4}})\b)?",
        month_alternation()
    ))
    .expect("a valid regex")
});

static MONTH_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b({})\b\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b,?(?:\s+(\d{{4}})\b)?",
        month_alternation()
    ))
    .expect("a valid regex")
});

/// A time right after a date: `à 10h32`, `, 10:32:05`, `at 10:32 am`,
/// `- 10h`, `10 AM`.
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?:[,|/–—-]\s*)?(?:(?:a|at|vers|@|le|a partir de)\s+)?(\d{1,2})\s*(?:(?:h|:)\s*(\d{2})?(?:\s*(?::|min)\s*(\d{2}))?\s*(?:min\b)?)?\s*(am\b|pm\b|a\.m\.|p\.m\.)?",
    )
    .expect("a valid regex")
});

/// A zone after a time: `GMT`, `UTC+1`, `(GMT+01:00)`, `+0200`, `Z`.
static ZONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*\(?\s*(?:([a-z]{1,4})\b\s*(?:([+-])\s*(\d{1,2})(?::?(\d{2}))?)?|([+-])(\d{2}):?(\d{2})\b)")
        .expect("a valid regex")
});

static RELATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:il y a\s+(\d+|une?|quelques)\s*(secondes?|s|minutes?|mins?|mn|heures?|h|jours?|j|semaines?|mois)\b|(\d+|an?|a few)\s*(seconds?|secs?|minutes?|mins?|hours?|hrs?|h|days?|weeks?|months?)\s+ago\b)",
    )
    .expect("a valid regex")
});

static NAMED_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(aujourd'hui|aujourd hui|today|hier|yesterday|avant-hier|avant hier)\b")
        .expect("a valid regex")
});

static JUST_NOW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:a l'instant|a l instant|just now)\b").expect("a valid regex")
});

/// The first date in `text`, in UTC. `tz` reads dates without an offset
/// (`None`: UTC); `now` is the fetch time, the origin of relative dates.
pub fn parse_date(text: &str, tz: Option<Tz>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tz = tz.unwrap_or(Tz::UTC);
    let folded = fold(text);
    let t = folded.as_str();
    // Each reader gives (where it matched, what it read); the earliest
    // match is the date the text means, later ones are "mis à jour" and
    // the like.
    let mut found: Vec<(usize, Option<DateTime<Utc>>)> = Vec::new();
    if let Some(c) = ISO.captures(t) {
        found.push((c.get(0).map_or(0, |m| m.start()), iso(&c, tz)));
    }
    if let Some(c) = NUMERIC.captures(t)
        && c[2] == c[4]
    {
        let end = c.get(0).map_or(0, |m| m.end());
        let date = numeric_date(&c);
        found.push((
            c.get(0).map_or(0, |m| m.start()),
            date.and_then(|d| with_time(d, &t[end..], tz)),
        ));
    }
    // `19 août 2023` and `Aug 19, 2023`: (pattern, day group, month group).
    for (pattern, day, month) in [(&*DAY_MONTH, 1, 2), (&*MONTH_DAY, 2, 1)] {
        if let Some(c) = pattern.captures(t) {
            let date = named_date(
                c[day].parse().ok(),
                month_number(&c[month]),
                c.get(3),
                now,
                tz,
            );
            let end = c.get(0).map_or(0, |m| m.end());
            found.push((
                c.get(0).map_or(0, |m| m.start()),
                date.and_then(|d| with_time(d, &t[end..], tz)),
            ));
        }
    }
    if let Some(c) = RELATIVE.captures(t) {
        found.push((c.get(0).map_or(0, |m| m.start()), relative(&c, now)));
    }
    if let Some(c) = NAMED_DAY.captures(t) {
        let back = match &c[1] {
            "hier" | "yesterday" => 1,
            "avant-hier" | "avant hier" => 2,
            _ => 0,
        };
        let end = c.get(0).map_or(0, |m| m.end());
        let today = now.with_timezone(&tz).date_naive();
        let date = today.checked_sub_signed(Duration::days(back));
        found.push((
            c.get(0).map_or(0, |m| m.start()),
            date.and_then(|d| with_time(d, &t[end..], tz)),
        ));
    }
    if let Some(m) = JUST_NOW.find(t) {
        found.push((m.start(), Some(now)));
    }
    // Two readers may match at one place (`19 août 2023` is also a
    // `MONTH_DAY` candidate from `août 2023`… never earlier); the first
    // that read something wins among the earliest.
    found.sort_by_key(|(at, date)| (*at, date.is_none()));
    found.into_iter().next().and_then(|(_, d)| d)
}

/// Lowercase, accents dropped, typographic apostrophes and spaces made
/// plain, `1er` kept: what the patterns are written against.
fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            '’' | '‘' | 'ʼ' => '\'',
            '\u{a0}' | '\u{202f}' | '\u{2009}' => ' ',
            c => c,
        })
        .collect::<String>()
        .to_lowercase()
}

fn month_number(name: &str) -> Option<u32> {
    MONTHS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// A plausible calendar date: years outside 1970–2100 are not news.
fn calendar(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    if !(1970..=2100).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

fn full_year(text: &str) -> Option<i32> {
    let y: i32 = text.parse().ok()?;
    Some(if text.len() == 2 { 2000 + y } else { y })
}

/// `19/08/2023`: day first, as French and most of the world write it;
/// month first only when the day-first reading is impossible and the
/// other is not (`08/19/2023`).
fn numeric_date(c: &Captures) -> Option<NaiveDate> {
    let a: u32 = c[1].parse().ok()?;
    let b: u32 = c[3].parse().ok()?;
    let year = full_year(&c[5])?;
    calendar(year, b, a).or_else(|| (a <= 12 && b > 12).then(|| calendar(year, a, b)).flatten())
}

/// A date written with a month name; without a year, the latest such day
/// not after tomorrow (pages leave the current year out).
fn named_date(
    day: Option<u32>,
    month: Option<u32>,
    year: Option<regex::Match>,
    now: DateTime<Utc>,
    tz: Tz,
) -> Option<NaiveDate> {
    let (day, month) = (day?, month?);
    if let Some(year) = year {
        return calendar(year.as_str().parse().ok()?, month, day);
    }
    let today = now.with_timezone(&tz).date_naive();
    let this_year = calendar(today.year(), month, day);
    match this_year {
        Some(d) if d <= today + Duration::days(1) => Some(d),
        // 29 February of a leap year, read in another year, is None.
        _ => calendar(today.year() - 1, month, day),
    }
}

fn iso(c: &Captures, tz: Tz) -> Option<DateTime<Utc>> {
    let date = calendar(c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?)?;
    let Some(hour) = c.get(4) else {
        return local(date.and_time(NaiveTime::MIN), tz);
    };
    let time = NaiveTime::from_hms_opt(
        hour.as_str().parse().ok()?,
        c[5].parse().ok()?,
        c.get(6).map_or(Some(0), |s| s.as_str().parse().ok())?,
    )?;
    let naive = date.and_time(time);
    match c.get(7).map(|m| m.as_str()) {
        None => local(naive, tz),
        Some("z") => Some(Utc.from_utc_datetime(&naive)),
        Some(offset) => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let digits: String = offset.chars().filter(char::is_ascii_digit).collect();
            let hours: i32 = digits.get(..2)?.parse().ok()?;
            let minutes: i32 = digits
                .get(2..)
                .filter(|m| !m.is_empty())
                .map_or(Some(0), |m| m.parse().ok())?;
            with_offset(naive, sign * (hours * 60 + minutes))
        }
    }
}

/// The date with the time that follows it in `rest`, if any, and the
/// zone after that time; a time that cannot exist (`25h61`) makes the
/// whole date unreadable.
fn with_time(date: NaiveDate, rest: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let Some(c) = TIME.captures(rest) else {
        return local(date.and_time(NaiveTime::MIN), tz);
    };
    let mut hour: u32 = c[1].parse().ok()?;
    let minute: u32 = c.get(2).map_or(Some(0), |m| m.as_str().parse().ok())?;
    let second: u32 = c.get(3).map_or(Some(0), |m| m.as_str().parse().ok())?;
    if let Some(half) = c.get(4).map(|m| m.as_str()) {
        if !(1..=12).contains(&hour) {
            return None;
        }
        let pm = half.starts_with('p');
        hour = match (hour, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, true) => h + 12,
            (h, false) => h,
        };
    }
    // A bare number after a date is a time only with `h`, `:` or am/pm;
    // `19 août 2023 12` is not read as noon.
    let matched = c.get(0).map_or("", |m| m.as_str());
    if c.get(2).is_none() && c.get(4).is_none() && !matched.trim_end().ends_with(['h', ':']) {
        return local(date.and_time(NaiveTime::MIN), tz);
    }
    let naive = date.and_time(NaiveTime::from_hms_opt(hour, minute, second)?);
    let after = &rest[c.get(0).map_or(0, |m| m.end())..];
    match zone_offset(after) {
        Some(minutes) => with_offset(naive, minutes),
        None => local(naive, tz),
    }
}

/// The offset, in minutes, of a zone written after a time.
fn zone_offset(text: &str) -> Option<i32> {
    let c = ZONE.captures(text)?;
    if let Some(name) = c.get(1) {
        let base = ZONES.iter().find(|(n, _)| *n == name.as_str())?.1;
        let extra = match (c.get(2), c.get(3)) {
            (Some(sign), Some(h)) => {
                let h: i32 = h.as_str().parse().ok()?;
                let m: i32 = c.get(4).map_or(Some(0), |m| m.as_str().parse().ok())?;
                let minutes = h * 60 + m;
                if sign.as_str() == "-" {
                    -minutes
                } else {
                    minutes
                }
            }
            _ => 0,
        };
        return Some(base + extra);
    }
    let h: i32 = c.get(6)?.as_str().parse().ok()?;
    let m: i32 = c.get(7)?.as_str().parse().ok()?;
    let minutes = h * 60 + m;
    Some(if &c[5] == "-" { -minutes } else { minutes })
}

fn with_offset(naive: NaiveDateTime, minutes: i32) -> Option<DateTime<Utc>> {
    if minutes.abs() > 14 * 60 {
        return None;
    }
    let offset = chrono::FixedOffset::east_opt(minutes * 60)?;
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|d| d.with_timezone(&Utc))
}

/// `naive` read in `tz`. A time skipped by a DST change is read an hour
/// later, as clocks show it; a repeated one as its first occurrence.
fn local(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|d| d.with_timezone(&Utc))
}

fn relative(c: &Captures, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (count, unit) = match (c.get(1), c.get(2), c.get(3), c.get(4)) {
        (Some(n), Some(u), _, _) | (_, _, Some(n), Some(u)) => (n.as_str(), u.as_str()),
        _ => return None,
    };
    let n: i64 = match count {
        "un" | "une" | "a" | "an" => 1,
        "quelques" | "a few" => 3,
        digits => digits.parse().ok()?,
    };
    let unit = unit.trim_end_matches('s');
    let span = match unit {
        "" | "seconde" | "second" | "sec" => Duration::seconds(n),
        "minute" | "min" | "mn" => Duration::minutes(n),
        "heure" | "h" | "hour" | "hr" => Duration::hours(n),
        "jour" | "j" | "day" => Duration::days(n),
        "semaine" | "week" => Duration::weeks(n),
        "moi" | "month" => Duration::days(30 * n),
        _ => return None,
    };
    now.checked_sub_signed(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Saturday 26 August 2023, 12:00 UTC: the fetch time of the table.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 8, 26, 12, 0, 0).unwrap()
    }

    #[test]
    fn dates_as_pages_write_them() {
        let bamako: Option<Tz> = Some(chrono_tz::Africa::Bamako);
        let paris: Option<Tz> = Some(chrono_tz::Europe::Paris);
        let utc: Option<Tz> = None;
        // (text, source time zone, expected UTC in RFC 3339, or None)
        let cases: &[(&str, Option<Tz>, Option<&str>)] = &[
            // French, with and without weekday, accents, time
            (
                "samedi 19 aout 2023",
                bamako,
                Some("2023-08-19T00:00:00+00:00"),
            ),
            (
                "Samedi 19 août 2023",
                paris,
                Some("2023-08-18T22:00:00+00:00"),
            ),
            (
                "19 août 2023 à 10h32",
                utc,
                Some("2023-08-19T10:32:00+00:00"),
            ),
            (
                "19 août 2023 à 10h32",
                paris,
                Some("2023-08-19T08:32:00+00:00"),
            ),
            (
                "Publié le samedi 19 aout 2023 | AFP",
                bamako,
                Some("2023-08-19T00:00:00+00:00"),
            ),
            (
                "Publié le 19 août 2023 à 10h32, mis à jour le 20 août 2023 à 08h00",
                utc,
                Some("2023-08-19T10:32:00+00:00"),
            ),
            ("1er septembre 2023", utc, Some("2023-09-01T00:00:00+00:00")),
            (
                "le 3 févr. 2023 à 9 h 05",
                utc,
                Some("2023-02-03T09:05:00+00:00"),
            ),
            (
                "03 FÉVRIER 2023 - 17:45",
                utc,
                Some("2023-02-03T17:45:00+00:00"),
            ),
            (
                "mardi 5 décembre 2023, 18h",
                utc,
                Some("2023-12-05T18:00:00+00:00"),
            ),
            (
                "12 juil. 2023 14:05 GMT",
                paris,
                Some("2023-07-12T14:05:00+00:00"),
            ),
            (
                "12 juillet 2023 14:05 (GMT+1)",
                utc,
                Some("2023-07-12T13:05:00+00:00"),
            ),
            (
                "Mis en ligne le 20 août à 16h40",
                utc,
                Some("2023-08-20T16:40:00+00:00"),
            ),
            (
                "Publié le 30 décembre à 09h00",
                utc,
                Some("2022-12-30T09:00:00+00:00"),
            ),
            // Numeric, day first
            ("19/08/2023", utc, Some("2023-08-19T00:00:00+00:00")),
            (
                "19/08/2023 à 10:32",
                bamako,
                Some("2023-08-19T10:32:00+00:00"),
            ),
            ("05/08/2023", utc, Some("2023-08-05T00:00:00+00:00")),
            ("05.08.2023 10h15", paris, Some("2023-08-05T08:15:00+00:00")),
            ("19-08-23", utc, Some("2023-08-19T00:00:00+00:00")),
            ("08/19/2023", utc, Some("2023-08-19T00:00:00+00:00")),
            (
                "Publié le : 19/08/2023 10:32:45",
                utc,
                Some("2023-08-19T10:32:45+00:00"),
            ),
            // English
            (
                "Aug 19, 2023 10:32 AM",
                utc,
                Some("2023-08-19T10:32:00+00:00"),
            ),
            (
                "Aug 19, 2023 10:32 PM",
                utc,
                Some("2023-08-19T22:32:00+00:00"),
            ),
            (
                "August 19, 2023 12:05 am",
                utc,
                Some("2023-08-19T00:05:00+00:00"),
            ),
            (
                "Saturday, August 19, 2023 at 12:30 p.m.",
                utc,
                Some("2023-08-19T12:30:00+00:00"),
            ),
            ("19 August 2023", utc, Some("2023-08-19T00:00:00+00:00")),
            (
                "Sat, 19 Aug 2023 10:32:00 +0200",
                utc,
                Some("2023-08-19T08:32:00+00:00"),
            ),
            (
                "Sat, 19 Aug 2023 10:32:00 GMT",
                bamako,
                Some("2023-08-19T10:32:00+00:00"),
            ),
            (
                "Updated 3rd March 2024, 9:15 EST",
                utc,
                Some("2024-03-03T14:15:00+00:00"),
            ),
            (
                "Posted on 19th of August, 2023",
                utc,
                Some("2023-08-19T00:00:00+00:00"),
            ),
            ("Aug. 19, 2023 9 AM", utc, Some("2023-08-19T09:00:00+00:00")),
            // ISO 8601
            (
                "2023-08-19T10:32:00Z",
                paris,
                Some("2023-08-19T10:32:00+00:00"),
            ),
            (
                "2023-08-19T10:32:00+02:00",
                utc,
                Some("2023-08-19T08:32:00+00:00"),
            ),
            (
                "2023-08-19T10:32:00.123-0500",
                utc,
                Some("2023-08-19T15:32:00+00:00"),
            ),
            ("2023-08-19 10:32", paris, Some("2023-08-19T08:32:00+00:00")),
            ("2023-08-19", bamako, Some("2023-08-19T00:00:00+00:00")),
            // Relative, from the fetch time
            ("il y a 3 heures", utc, Some("2023-08-26T09:00:00+00:00")),
            ("Il y a 25 minutes", utc, Some("2023-08-26T11:35:00+00:00")),
            ("il y a 2 jours", utc, Some("2023-08-24T12:00:00+00:00")),
            ("il y a une heure", utc, Some("2023-08-26T11:00:00+00:00")),
            ("hier", utc, Some("2023-08-25T00:00:00+00:00")),
            ("Hier à 18h30", paris, Some("2023-08-25T16:30:00+00:00")),
            (
                "aujourd’hui à 08h15",
                utc,
                Some("2023-08-26T08:15:00+00:00"),
            ),
            ("avant-hier", utc, Some("2023-08-24T00:00:00+00:00")),
            ("3 hours ago", utc, Some("2023-08-26T09:00:00+00:00")),
            ("2 days ago", utc, Some("2023-08-24T12:00:00+00:00")),
            (
                "yesterday at 10:32 PM",
                utc,
                Some("2023-08-25T22:32:00+00:00"),
            ),
            ("à l’instant", utc, Some("2023-08-26T12:00:00+00:00")),
            // Daylight saving: 2023-03-26 02:30 does not exist in Paris
            ("26/03/2023 02:30", paris, Some("2023-03-26T01:30:00+00:00")),
            // Impossible or unreadable: unknown, never now
            ("31 février 2023", utc, None),
            ("30/02/2023", utc, None),
            ("32 août 2023", utc, None),
            ("19/13/2023", utc, None),
            ("2023-13-01", utc, None),
            ("2023-02-29", utc, None),
            ("19 août 2023 à 25h61", utc, None),
            ("Aug 19, 2023 13:00 PM", utc, None),
            ("19/08/1850", utc, None),
            ("Publié par la rédaction", utc, None),
            ("", utc, None),
            ("il y a longtemps", utc, None),
            ("42", utc, None),
            ("2023-08-19T10:32:00+25:00", utc, None),
        ];
        assert!(cases.len() >= 40);
        let mut failures = Vec::new();
        for (text, tz, expected) in cases {
            let got = parse_date(text, *tz, now()).map(|d| d.to_rfc3339());
            if got.as_deref() != *expected {
                failures.push(format!(
                    "{text:?} in {tz:?}: got {got:?}, expected {expected:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
