//! `autosvar status`: the running daemon's state as the ledger shows it (the daemon is
//! another process): mails today and this week by outcome, what waits to be delivered, what
//! is set aside, the last contact with the mailbox, the template set in use, the ledger's
//! size. Text for people, `--json` for scripts.
//!
//! Reads the ledger and `responses/` only; never connects to a server, never writes
//! anything a mail decides.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use clap::Args;

use crate::clock::{from_unix_seconds, unix_seconds};
use crate::config::Config;
use crate::ledger::{Bucket, CountRow, Ledger, LedgerStatus, Outcome};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One JSON object: today, week (since Monday, UTC; mails by outcome), pending
    /// (messages, mails), set_aside, review (waiting, doubtful, forwards_held),
    /// last_contact (at, what), templates (digest, since,
    /// published_version, on_disk), ledger (path, bytes, wal_bytes, mails).
    #[arg(long)]
    pub json: bool,
}

/// Mails by outcome since a time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Period {
    since: SystemTime,
    by_outcome: BTreeMap<Outcome, u64>,
}

impl Period {
    fn total(&self) -> u64 {
        self.by_outcome.values().sum()
    }

    fn text(&self) -> String {
        let parts: Vec<String> = self
            .by_outcome
            .iter()
            .map(|(o, n)| format!("{n} {o}"))
            .collect();
        format!(
            "{} mail(s){}{}",
            self.total(),
            if parts.is_empty() { "" } else { ": " },
            parts.join(", ")
        )
    }

    fn json(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        o.insert("since".into(), time(self.since).into());
        o.insert("total".into(), self.total().into());
        for outcome in Outcome::ALL {
            let n = self.by_outcome.get(&outcome).copied().unwrap_or(0);
            o.insert(outcome.name().into(), n.into());
        }
        serde_json::Value::Object(o)
    }
}

fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The start of today and of this week (Monday), UTC, for `now`.
fn day_and_week_start(now: SystemTime) -> (SystemTime, SystemTime) {
    const DAY: i64 = 86_400;
    let day = unix_seconds(now).div_euclid(DAY);
    // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
    let monday = day - (day + 3).rem_euclid(7);
    (
        from_unix_seconds(day * DAY),
        from_unix_seconds(monday * DAY),
    )
}

/// Today's and this week's mails by outcome, from per-day counts since Monday.
fn periods(counts: &[CountRow], today: SystemTime, week: SystemTime) -> (Period, Period) {
    let mut d = Period {
        since: today,
        by_outcome: BTreeMap::new(),
    };
    let mut w = Period {
        since: week,
        by_outcome: BTreeMap::new(),
    };
    for c in counts.iter().filter(|c| c.bucket_start >= week) {
        *w.by_outcome.entry(c.outcome).or_default() += c.n;
        if c.bucket_start >= today {
            *d.by_outcome.entry(c.outcome).or_default() += c.n;
        }
    }
    (d, w)
}

/// The digest of the template files in `responses/` as they are on disk now (`None` when
/// the folder cannot be read).
fn disk_digest(dir: &Path) -> Option<String> {
    std::fs::read_dir(dir).ok()?;
    let files: BTreeMap<String, String> = crate::render::required_files()
        .into_iter()
        .filter_map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).ok()?;
            Some((name, text))
        })
        .collect();
    Some(crate::render::set_digest(&files))
}

/// Everything `status` shows.
struct Report {
    today: Period,
    week: Period,
    ledger: LedgerStatus,
    /// The newest published version (id), when its files are the set in use.
    published: Option<(i64, SystemTime)>,
    on_disk: Option<String>,
    path: String,
    file_bytes: u64,
    wal_bytes: u64,
}

pub fn run(path: &Path, args: StatusArgs) -> anyhow::Result<i32> {
    let config = Config::load(path)?;
    let ledger = super::history::open_existing(&config)?;
    let report = gather(&config, &ledger, crate::clock::now())?;
    if args.json {
        println!("{}", json(&report));
    } else {
        print!("{}", text(&report, crate::clock::now()));
    }
    Ok(0)
}

fn gather(config: &Config, ledger: &Ledger, now: SystemTime) -> anyhow::Result<Report> {
    let (today, week) = day_and_week_start(now);
    let counts = ledger.counts(week, Bucket::Day)?;
    let (today, week) = periods(&counts, today, week);
    let status = ledger.status()?;
    let published = match (&status.templates, ledger.version(None)?) {
        (Some(t), Some(v)) if crate::render::set_digest(&v.files) == t.digest => Some((v.id, v.at)),
        _ => None,
    };
    let size = |suffix: &str| {
        let mut p = config.ledger.as_os_str().to_owned();
        p.push(suffix);
        std::fs::metadata(p).map_or(0, |m| m.len())
    };
    Ok(Report {
        today,
        week,
        published,
        on_disk: disk_digest(&config.responses),
        path: config.ledger.display().to_string(),
        file_bytes: size(""),
        wal_bytes: size("-wal"),
        ledger: status,
    })
}

fn json(r: &Report) -> serde_json::Value {
    let s = &r.ledger;
    serde_json::json!({
        "today": r.today.json(),
        "week": r.week.json(),
        "pending": { "messages": s.pending_messages, "mails": s.pending_mails },
        "set_aside": s.set_aside,
        "review": {
            "waiting": s.review_waiting,
            "doubtful": s.doubtful_waiting,
            "forwards_held": s.forwards_held,
        },
        "last_contact": s.contact.as_ref().map(|c| serde_json::json!({
            "at": time(c.at),
            "what": c.what,
        })),
        "templates": s.templates.as_ref().map(|t| serde_json::json!({
            "digest": t.digest,
            "since": time(t.since),
            "published_version": r.published.map(|(id, _)| id),
            "on_disk": r.on_disk.as_ref().map(|d| d == &t.digest),
        })),
        "ledger": {
            "path": r.path,
            "bytes": r.file_bytes,
            "wal_bytes": r.wal_bytes,
            "mails": s.mails,
        },
    })
}

/// "12s", "5m", "3h", "2d": how long ago, roughly.
fn ago(then: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(then).map_or(0, |d| d.as_secs());
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

fn text(r: &Report, now: SystemTime) -> String {
    let s = &r.ledger;
    let contact = match &s.contact {
        Some(c) => format!("{} ({}), {} ago", time(c.at), c.what, ago(c.at, now)),
        None => "none noted (the daemon has not run since this version)".into(),
    };
    let templates = match &s.templates {
        Some(t) => {
            let published = match r.published {
                Some((id, at)) => format!("published version {id} of {}", time(at)),
                None => "not a version published in the console".into(),
            };
            let disk = match &r.on_disk {
                Some(d) if *d == t.digest => "responses/ on disk is the same",
                Some(_) => "responses/ on disk differs (a change not yet loaded, or refused: see the log or `autosvar check`)",
                None => "responses/ cannot be read",
            };
            format!(
                "{} in use since {}; {published}; {disk}",
                t.digest,
                time(t.since)
            )
        }
        None => "none noted".into(),
    };
    let kb = |b: u64| format!("{} KB", b.div_ceil(1024));
    format!(
        "today:        {}\n\
         this week:    {}\n\
         pending:      {} message(s) of {} mail(s) waiting to be delivered\n\
         set aside:    {} mail(s){}\n\
         review:       {} mail(s) waiting for review ({} doubtful, {} desk forward(s) held){}\n\
         last contact: {contact}\n\
         templates:    {templates}\n\
         ledger:       {}, {} (+ {} write-ahead log), {} mail(s)\n",
        r.today.text(),
        r.week.text(),
        s.pending_messages,
        s.pending_mails,
        s.set_aside,
        if s.set_aside > 0 {
            " (`autosvar release` lists them)"
        } else {
            ""
        },
        s.review_waiting,
        s.doubtful_waiting,
        s.forwards_held,
        if s.review_waiting > 0 {
            " (`autosvar history --review` lists them)"
        } else {
            ""
        },
        r.path,
        kb(r.file_bytes),
        kb(r.wal_bytes),
        s.mails,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Category;

    #[test]
    fn today_starts_at_utc_midnight_and_the_week_on_monday() {
        // Wednesday 4 March 2026, 15:00 UTC; Monday was 2 March.
        let wed = from_unix_seconds(1_772_409_600 + 2 * 86_400 + 15 * 3600);
        assert_eq!(
            day_and_week_start(wed),
            (
                from_unix_seconds(1_772_409_600 + 2 * 86_400),
                from_unix_seconds(1_772_409_600)
            )
        );
        // A Monday is its own week's start.
        let mon = from_unix_seconds(1_772_409_600 + 60);
        assert_eq!(day_and_week_start(mon).1, from_unix_seconds(1_772_409_600));
        // Sunday belongs to the week before.
        let sun = from_unix_seconds(1_772_409_600 - 60);
        assert_eq!(
            day_and_week_start(sun).1,
            from_unix_seconds(1_772_409_600 - 7 * 86_400)
        );
    }

    #[test]
    fn periods_sum_the_days_by_outcome() {
        let monday = from_unix_seconds(1_772_409_600);
        let tuesday = from_unix_seconds(1_772_409_600 + 86_400);
        let row = |at, c, o, n| CountRow {
            bucket_start: at,
            category: Some(c),
            outcome: o,
            n,
        };
        let counts = [
            row(monday, Category::Pricing, Outcome::Replied, 2),
            row(tuesday, Category::Pricing, Outcome::Replied, 1),
            row(tuesday, Category::Terms, Outcome::Replied, 4),
            row(tuesday, Category::Other, Outcome::Skipped, 1),
        ];
        let (today, week) = periods(&counts, tuesday, monday);
        assert_eq!(today.text(), "6 mail(s): 5 replied, 1 skipped");
        assert_eq!(week.text(), "8 mail(s): 7 replied, 1 skipped");
        let j = week.json();
        assert_eq!(
            (
                j["total"].as_u64(),
                j["replied"].as_u64(),
                j["set-aside"].as_u64()
            ),
            (Some(8), Some(7), Some(0))
        );
        assert_eq!(ago(monday, tuesday), "1d");
        assert_eq!(ago(tuesday, monday), "0s");
    }
}
