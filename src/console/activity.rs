//! The activity pages: what autosvar did, newest first, a page at a time; a person's mails
//! found by typing their address (hashed here exactly as the ledger hashes senders, so the
//! address itself is never stored or logged); one mail opened, with why it was decided and
//! the reply and forward as sent; and the counts per day or week as a server-rendered SVG
//! chart with the same numbers in a table. Read-only: nothing here changes the ledger.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use axum::extract::{Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::auth::User;
use super::views::{word, Lang};
use super::{Error, Shared};
use crate::ledger::{sender_hash, ActivityCursor, ActivityQuery, ActivityRow, Bucket, Outcome};
use crate::types::Category;

/// Rows per page.
const PAGE: u32 = 50;

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    chart: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

/// One row as the page shows it: every text escaped by the view.
#[derive(Serialize)]
pub(super) struct Row {
    key: String,
    at: String,
    category: String,
    outcome: String,
    why: String,
    desk: String,
    language: String,
    confidence: String,
    sensitive: bool,
    subject: String,
}

pub(super) use super::views::when;

/// A doubtful mail's note (its sender got the acknowledgement; category and desk are the
/// guess): whether its forward is held or was sent.
fn doubtful(r: &ActivityRow) -> Option<String> {
    if !r.doubtful || !matches!(r.outcome, Outcome::Replied | Outcome::Sending) {
        return None;
    }
    Some(if r.forwarded {
        "doubtful: acknowledged, forwarded".into()
    } else if r.forward_held() && r.reviewed.is_none() {
        "doubtful: acknowledged, forward held".into()
    } else {
        "doubtful: acknowledged".into()
    })
}

pub(super) fn row(r: &ActivityRow) -> Row {
    Row {
        key: r.key.clone(),
        at: when(r.at),
        category: r.category.map_or("", |c| c.name()).to_string(),
        outcome: r.outcome.name().to_string(),
        why: r
            .skip_reason
            .map(|s| s.as_str().to_string())
            .or_else(|| r.why.clone())
            .or_else(|| doubtful(r))
            .unwrap_or_default(),
        desk: r.desk.as_ref().map(ToString::to_string).unwrap_or_default(),
        language: r.language.map_or("", |l| l.code()).to_string(),
        confidence: r
            .confidence
            .map(|c| format!("{:.0} %", c * 100.0))
            .unwrap_or_default(),
        sensitive: r.sensitive,
        subject: r.subject.clone().unwrap_or_default(),
    }
}

fn category_of(s: Option<&str>) -> Option<Category> {
    s.and_then(|s| Category::ALL.into_iter().find(|c| c.name() == s))
}

pub(super) async fn list(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
    Query(q): Query<ListQuery>,
) -> Result<Response, Error> {
    let lang = Lang::of(&headers).code();
    let sender = q
        .sender
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(320).collect::<String>());
    let category = category_of(q.category.as_deref());
    let outcome = q.outcome.as_deref().and_then(Outcome::from_name);
    let before = q
        .before
        .as_deref()
        .and_then(|b| b.parse::<ActivityCursor>().ok());
    let query = ActivityQuery {
        sender_hash: sender.as_deref().map(sender_hash),
        category,
        outcome,
        review: false,
        before,
        limit: PAGE,
    };
    let bucket = if q.chart.as_deref() == Some("week") {
        Bucket::Week
    } else {
        Bucket::Day
    };
    let span = match bucket {
        Bucket::Day => Duration::from_secs(30 * 86_400),
        Bucket::Week => Duration::from_secs(26 * 7 * 86_400),
    };
    let since = crate::clock::now()
        .checked_sub(span)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let (rows, counts) = state
        .db(move |l| Ok((l.activity(&query)?, l.counts(since, bucket)?)))
        .await?;
    let next = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| r.cursor().to_string()))
        .flatten();
    let shown: Vec<Row> = rows.iter().map(row).collect();
    let by = if q.by.as_deref() == Some("outcome") {
        By::Outcome
    } else {
        By::Category
    };
    let chart = chart(&counts, bucket, by, since, lang);
    // The filters as a query string for the "older" link (the cursor added by the view).
    let mut keep = Vec::new();
    if let Some(s) = &sender {
        keep.push(("sender", s.clone()));
    }
    if let Some(c) = category {
        keep.push(("category", c.name().to_string()));
    }
    if let Some(o) = outcome {
        keep.push(("outcome", o.name().to_string()));
    }
    if bucket == Bucket::Week {
        keep.push(("chart", "week".to_string()));
    }
    if by == By::Outcome {
        keep.push(("by", "outcome".to_string()));
    }
    let ctx = context! {
        lang, title => word(lang, "activity"), section => "activity",
        user => user.name, csrf => user.csrf,
        rows => Serde(shown), next, keep => Serde(keep),
        sender => sender.unwrap_or_default(),
        category => category.map_or("", |c| c.name()),
        outcome => outcome.map_or("", |o| o.name()),
        categories => Category::ALL.iter().map(|c| c.name()).collect::<Vec<_>>(),
        outcomes => Outcome::ALL.iter().map(|o| o.name()).collect::<Vec<_>>(),
        week => bucket == Bucket::Week,
        by_outcome => by == By::Outcome,
        chart => Serde(chart),
    };
    Ok(state.views.page("activity.html", ctx)?.into_response())
}

#[derive(Deserialize)]
pub(super) struct MailQuery {
    key: String,
}

pub(super) async fn mail(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
    Query(q): Query<MailQuery>,
) -> Result<Response, Error> {
    let lang = Lang::of(&headers).code();
    let key = q.key;
    let Some(detail) = state.db(move |l| l.mail(&key)).await? else {
        return Err(Error::NotFound);
    };
    #[derive(Serialize)]
    struct Sent {
        kind: &'static str,
        sent: String,
        text: String,
    }
    let sent: Vec<Sent> = detail
        .sent
        .iter()
        .map(|m| Sent {
            kind: m.kind.name(),
            sent: m.sent.map(when).unwrap_or_default(),
            text: String::from_utf8_lossy(&m.bytes).replace("\r\n", "\n"),
        })
        .collect();
    let ctx = context! {
        lang, title => word(lang, "mail"), section => "activity",
        user => user.name, csrf => user.csrf,
        mail => Serde(row(&detail.row)),
        explanation => detail.explanation.unwrap_or_default(),
        sent => Serde(sent),
    };
    Ok(state.views.page("mail.html", ctx)?.into_response())
}

/// A stacked bar chart of mails per bucket and category, as SVG shapes for the view, with
/// the same numbers as a table.
#[derive(Serialize)]
struct Chart {
    width: u32,
    height: u32,
    bars: Vec<Bar>,
    legend: Vec<Legend>,
    /// The value of the top grid line.
    top: u64,
    /// The first and the last bucket's date, under the axis.
    first: String,
    last: String,
    /// Header cells and rows of the table: a bucket, then one count per category.
    columns: Vec<String>,
    table: Vec<(String, Vec<u64>)>,
    summary: String,
}

#[derive(Serialize)]
struct Bar {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    fill: &'static str,
    label: String,
}

#[derive(Serialize)]
struct Legend {
    name: &'static str,
    fill: &'static str,
    x: u32,
}

/// What the bars are split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Category,
    Outcome,
}

/// Series colours, distinguishable and at least 3:1 against white (WCAG 1.4.11).
const FILLS: [&str; 6] = [
    "#0b4f8a", "#7a4a00", "#1d6b2f", "#a4000f", "#5a4a8a", "#595959",
];

/// The series of a chart (name, colour) and which series a count belongs to.
fn series(by: By) -> Vec<(&'static str, &'static str)> {
    let names: Vec<&'static str> = match by {
        By::Category => Category::ALL
            .iter()
            .map(|c| c.name())
            .chain(std::iter::once("?"))
            .collect(),
        By::Outcome => Outcome::ALL.iter().map(|o| o.name()).collect(),
    };
    names.into_iter().zip(FILLS).collect()
}

fn series_of(by: By, c: &crate::ledger::CountRow) -> &'static str {
    match by {
        By::Category => c.category.map_or("?", |c| c.name()),
        By::Outcome => c.outcome.name(),
    }
}

fn chart(
    counts: &[crate::ledger::CountRow],
    bucket: Bucket,
    by: By,
    since: SystemTime,
    lang: &str,
) -> Chart {
    let step = match bucket {
        Bucket::Day => 86_400,
        Bucket::Week => 7 * 86_400,
    };
    let slots = match bucket {
        Bucket::Day => 31,
        Bucket::Week => 27,
    };
    let start = crate::clock::unix_seconds(since) / step * step;
    let kinds = series(by);
    // bucket index -> series -> n
    let mut grid: BTreeMap<i64, BTreeMap<&'static str, u64>> = BTreeMap::new();
    for c in counts {
        let at = crate::clock::unix_seconds(c.bucket_start);
        let i = ((at - start) / step).clamp(0, slots - 1);
        *grid
            .entry(i)
            .or_default()
            .entry(series_of(by, c))
            .or_default() += c.n;
    }
    let (width, height, left, bottom, top_pad) = (760u32, 260u32, 40u32, 30u32, 10u32);
    let plot = height - bottom - top_pad;
    let max = grid
        .values()
        .map(|m| m.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot_w = (width - left) / u32::try_from(slots).unwrap_or(31);
    let mut bars = Vec::new();
    let mut table = Vec::new();
    for i in 0..slots {
        let day = crate::clock::from_unix_seconds(start + i * step);
        let label = when(day).chars().take(10).collect::<String>();
        let cell = grid.get(&i);
        let mut y = height - bottom;
        let mut row = Vec::new();
        for (k, colour) in &kinds {
            let n = cell.and_then(|m| m.get(k)).copied().unwrap_or(0);
            row.push(n);
            if n == 0 {
                continue;
            }
            let h = u32::try_from(n * u64::from(plot) / max)
                .unwrap_or(plot)
                .max(1);
            y = y.saturating_sub(h);
            bars.push(Bar {
                x: left + u32::try_from(i).unwrap_or(0) * slot_w + 1,
                y,
                w: slot_w.saturating_sub(2).max(1),
                h,
                fill: colour,
                label: format!("{label}: {k} {n}"),
            });
        }
        if row.iter().any(|n| *n > 0) {
            table.push((label, row));
        }
    }
    let legend = kinds
        .iter()
        .enumerate()
        .map(|(i, (k, colour))| Legend {
            name: k,
            fill: colour,
            x: left + u32::try_from(i).unwrap_or(0) * 120,
        })
        .collect();
    let total: u64 = grid.values().flat_map(|m| m.values()).sum();
    let summary = match (bucket, lang) {
        (Bucket::Day, "en") => format!("{total} mails in the last 30 days, per day and category"),
        (Bucket::Day, _) => format!("{total} mails de sidste 30 dage, pr. dag og kategori"),
        (Bucket::Week, "en") => {
            format!("{total} mails in the last 26 weeks, per week and category")
        }
        (Bucket::Week, _) => format!("{total} mails de sidste 26 uger, pr. uge og kategori"),
    };
    Chart {
        width,
        height,
        bars,
        legend,
        top: max,
        first: when(crate::clock::from_unix_seconds(start))
            .chars()
            .take(10)
            .collect(),
        last: when(crate::clock::from_unix_seconds(start + (slots - 1) * step))
            .chars()
            .take(10)
            .collect(),
        columns: kinds.iter().map(|(k, _)| k.to_string()).collect(),
        table,
        summary,
    }
}
