//! `autosvar history`: what happened to the mails, newest first, from the ledger: one line
//! per mail (when, source, key, category, outcome, why), or one JSON object per line. A
//! doubtful mail (acknowledged because the classifier was unsure; its category is the
//! guess) says so in its why, with its held forward and whether it waits for review;
//! `--review` lists only the mails waiting for review (the console's review list).
//!
//! Reads the ledger only, through the console's activity queries (keyset pages along an
//! index). A person is found by the hash of the address typed ([`crate::ledger::sender_hash`]):
//! the ledger has no address to print, and nothing here prints one (a stored reason is
//! shown through [`crate::log::reason`], which masks any address a server quoted).

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::Args;

use crate::config::Config;
use crate::ledger::{ActivityQuery, ActivityRow, Ledger, Outcome, MAX_PAGE};
use crate::types::Category;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only mails autosvar first had within this long ("90m", "1d", "2w").
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Only this category: pricing, terms, eligibility, technical or other.
    #[arg(long, value_parser = parse_category)]
    pub category: Option<Category>,
    /// Only this outcome: replied, skipped, set-aside, failed or sending.
    #[arg(long, value_parser = parse_outcome)]
    pub outcome: Option<Outcome>,
    /// Only the mails from this address (it is hashed and compared with the ledger's hashes;
    /// it is not printed).
    #[arg(long, value_name = "ADDRESS")]
    pub sender: Option<String>,
    /// Only the mails waiting for review (the console's review list): set aside, sensitive,
    /// doubtful, or answered as `other` or with a low confidence, not yet closed.
    #[arg(long)]
    pub review: bool,
    /// At most this many mails.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// One JSON object per line: at, updated, source, key, category, outcome, skip_reason,
    /// desk, language, confidence, sensitive, why, reviewed, doubtful, forward_held,
    /// waiting_review.
    #[arg(long)]
    pub json: bool,
}

fn parse_category(name: &str) -> Result<Category, String> {
    Category::from_name(name)
        .ok_or_else(|| "expected pricing, terms, eligibility, technical or other".to_string())
}

fn parse_outcome(name: &str) -> Result<Outcome, String> {
    Outcome::from_name(name)
        .ok_or_else(|| "expected replied, skipped, set-aside, failed or sending".to_string())
}

pub fn run(path: &Path, args: HistoryArgs) -> anyhow::Result<i32> {
    let config = Config::load(path)?;
    let ledger = open_existing(&config)?;
    let since = args.since.and_then(|d| crate::clock::now().checked_sub(d));
    let rows = history(&ledger, &args, since)?;
    if rows.is_empty() && !args.json {
        println!("no mail matches");
    }
    for row in &rows {
        if args.json {
            println!("{}", json_line(row));
        } else {
            println!("{}", text_line(row));
        }
    }
    Ok(0)
}

/// The ledger the config names, which must exist: asking must not create an empty one.
///
/// # Errors
/// When there is no ledger file yet, or it cannot be opened.
pub(crate) fn open_existing(config: &Config) -> anyhow::Result<Ledger> {
    anyhow::ensure!(
        config.ledger.exists(),
        "no ledger at {} (autosvar has not run with this config yet)",
        config.ledger.display()
    );
    Ledger::open(&config.ledger)
        .with_context(|| format!("cannot open the ledger {}", config.ledger.display()))
}

/// The mails the arguments ask for, newest first: pages of the activity list until
/// `limit` rows, or the first mail before `since`.
fn history(
    ledger: &Ledger,
    args: &HistoryArgs,
    since: Option<SystemTime>,
) -> anyhow::Result<Vec<ActivityRow>> {
    let mut query = ActivityQuery {
        sender_hash: args.sender.as_deref().map(crate::ledger::sender_hash),
        category: args.category,
        outcome: args.outcome,
        review: args.review,
        before: None,
        limit: 0,
    };
    let wanted = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    while rows.len() < wanted {
        let left = u32::try_from(wanted - rows.len()).unwrap_or(MAX_PAGE);
        query.limit = left.min(MAX_PAGE);
        let page = ledger.activity(&query)?;
        let full = page.len() == query.limit as usize;
        let Some(last) = page.last() else { break };
        query.before = Some(last.cursor());
        let mut ended = !full;
        for row in page {
            if since.is_some_and(|s| row.at < s) {
                ended = true;
                break;
            }
            rows.push(row);
        }
        if ended {
            break;
        }
    }
    Ok(rows)
}

/// Why the mail ended as it did: the skip reason, the reason it was set aside or failed,
/// the desk a reply was forwarded to, a doubtful mail's flag (its held or sent forward,
/// whether it waits for review); empty when there is nothing to say.
fn why(row: &ActivityRow) -> String {
    if row.doubtful && matches!(row.outcome, Outcome::Replied | Outcome::Sending) {
        let forward = match (&row.desk, row.forwarded) {
            (Some(d), true) => format!(", forwarded desk={d}"),
            (Some(d), false) if row.forward_held() && row.reviewed.is_none() => {
                format!(", forward to {d} held")
            }
            _ => String::new(),
        };
        let review = if row.waiting_review {
            "waiting for review"
        } else {
            "reviewed"
        };
        return format!("doubtful (acknowledged){forward}, {review}");
    }
    match (row.outcome, row.skip_reason, &row.why, &row.desk) {
        (Outcome::Skipped, Some(reason), _, _) => reason.as_str().to_string(),
        (Outcome::SetAside | Outcome::Failed, _, Some(why), _) => crate::log::reason(why),
        (Outcome::Replied | Outcome::Sending, _, _, Some(desk)) => format!("desk={desk}"),
        _ => String::new(),
    }
}

fn category_name(row: &ActivityRow) -> &'static str {
    row.category.map_or("-", Category::name)
}

/// `when  source  key  category  outcome  why`, tab-separated.
fn text_line(row: &ActivityRow) -> String {
    let why = why(row);
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        humantime::format_rfc3339_seconds(row.at),
        crate::log::id(&row.source.to_string()),
        crate::log::id(&row.key),
        category_name(row),
        row.outcome,
        if why.is_empty() { "-" } else { &why }
    )
}

/// The `--json` contract: one object, on one line.
fn json_line(row: &ActivityRow) -> String {
    let time = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    let why = why(row);
    serde_json::json!({
        "at": time(row.at),
        "updated": time(row.updated),
        "source": row.source.to_string(),
        "key": row.key,
        "category": row.category.map(Category::name),
        "outcome": row.outcome.name(),
        "skip_reason": row.skip_reason.map(|r| r.as_str()),
        "desk": row.desk.as_ref().map(|d| d.as_str()),
        "language": row.language.map(|l| l.code()),
        "confidence": row.confidence,
        "sensitive": row.sensitive,
        "why": (!why.is_empty()).then_some(why),
        "reviewed": row.reviewed.map(time),
        "doubtful": row.doubtful,
        "forward_held": row.forward_held() && row.reviewed.is_none(),
        "waiting_review": row.waiting_review,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_unix_seconds;
    use crate::types::{SkipReason, Source};

    fn row(outcome: Outcome) -> ActivityRow {
        ActivityRow {
            key: "abc@regionh.example#0123".into(),
            source: Source::from_stored("demo/Maildir/1.eml"),
            at: from_unix_seconds(1_772_445_600),
            updated: from_unix_seconds(1_772_445_601),
            category: Some(Category::Pricing),
            outcome,
            skip_reason: None,
            desk: None,
            language: None,
            confidence: Some(0.75),
            sensitive: false,
            subject: Some("Pris på Zoom".into()),
            sender_hash: Some(crate::ledger::sender_hash("bo@x.example")),
            why: None,
            reviewed: None,
            doubtful: false,
            forwarded: false,
            waiting_review: false,
        }
    }

    #[test]
    fn a_line_says_when_which_mail_what_and_why_without_subject_or_sender() {
        let mut r = row(Outcome::SetAside);
        r.why = Some("reply refused: 550 <bo@x.example>\nno".into());
        let line = text_line(&r);
        assert_eq!(
            line,
            "2026-03-02T10:00:00Z\tdemo/Maildir/1.eml\tabc@regionh.example#0123\tpricing\tset-aside\treply refused: 550 <[address]> no"
        );
        let json: serde_json::Value = serde_json::from_str(&json_line(&r)).unwrap();
        assert_eq!(json["outcome"], "set-aside");
        assert_eq!(json["source"], "demo/Maildir/1.eml");
        assert_eq!(json["why"], "reply refused: 550 <[address]> no");
        assert_eq!(json["language"], serde_json::Value::Null);
        for (text, what) in [(line.as_str(), "text"), (&json_line(&r), "json")] {
            assert!(!text.contains("bo@x.example"), "{what}: {text}");
            assert!(!text.contains("Pris"), "{what}: {text}");
            assert!(!text.contains(r.sender_hash.as_deref().unwrap()), "{what}");
        }
        let mut skipped = row(Outcome::Skipped);
        skipped.skip_reason = Some(SkipReason::AutoReply);
        assert!(text_line(&skipped).ends_with("\tskipped\tauto-reply"));
        let mut forwarded = row(Outcome::Replied);
        forwarded.desk = Some("cimt".into());
        assert!(text_line(&forwarded).ends_with("\treplied\tdesk=cimt"));
        assert!(text_line(&row(Outcome::Replied)).ends_with("\treplied\t-"));
    }

    #[test]
    fn a_doubtful_mail_shows_its_guess_held_forward_and_review_flag() {
        let mut r = row(Outcome::Replied);
        r.category = Some(Category::Technical);
        r.desk = Some("cimt".into());
        r.doubtful = true;
        r.waiting_review = true;
        assert!(
            text_line(&r).ends_with(
                "\ttechnical\treplied\tdoubtful (acknowledged), forward to cimt held, waiting for review"
            ),
            "{}",
            text_line(&r)
        );
        let json: serde_json::Value = serde_json::from_str(&json_line(&r)).unwrap();
        assert_eq!(
            (
                &json["doubtful"],
                &json["forward_held"],
                &json["waiting_review"]
            ),
            (
                &serde_json::Value::Bool(true),
                &serde_json::Value::Bool(true),
                &serde_json::Value::Bool(true)
            )
        );
        assert_eq!(json["category"], "technical");
        r.forwarded = true;
        r.waiting_review = false;
        r.reviewed = Some(from_unix_seconds(1_772_445_700));
        assert!(text_line(&r).ends_with("doubtful (acknowledged), forwarded desk=cimt, reviewed"));
        let json: serde_json::Value = serde_json::from_str(&json_line(&r)).unwrap();
        assert_eq!(json["forward_held"], serde_json::Value::Bool(false));
        // Not doubtful: as before.
        r.doubtful = false;
        assert!(text_line(&r).ends_with("\treplied\tdesk=cimt"));
    }

    #[test]
    fn history_pages_until_the_limit_or_the_first_mail_before_since() {
        use crate::ledger::Record;
        use crate::types::{Action, Language};
        let mut l = Ledger::in_memory().unwrap();
        for i in 0..7 {
            let r = Record {
                key: format!("k{i}"),
                source: Source::from_stored(&format!("new/{i}")),
                action: Action::Skip,
                category: Some(Category::Other),
                desk: None,
                language: Some(Language::En),
                sensitive: false,
                confidence: None,
                doubtful: false,
                skip_reason: Some(SkipReason::Bounce),
                reply_id: None,
                forward_id: None,
                sender_hash: Some(crate::ledger::sender_hash(if i % 2 == 0 {
                    "even@x.example"
                } else {
                    "odd@x.example"
                })),
                subject: None,
                explain: None,
                sender_addresses: Vec::new(),
            };
            l.record_done(&r, from_unix_seconds(100 + i)).unwrap();
        }
        let args = |limit: u32, sender: Option<&str>| HistoryArgs {
            since: None,
            category: None,
            outcome: None,
            sender: sender.map(String::from),
            review: false,
            limit,
            json: false,
        };
        let keys = |rows: Vec<ActivityRow>| rows.into_iter().map(|r| r.key).collect::<Vec<_>>();
        assert_eq!(
            keys(history(&l, &args(3, None), None).unwrap()),
            ["k6", "k5", "k4"]
        );
        assert_eq!(history(&l, &args(100, None), None).unwrap().len(), 7);
        assert_eq!(
            keys(history(&l, &args(100, None), Some(from_unix_seconds(104))).unwrap()),
            ["k6", "k5", "k4"]
        );
        assert_eq!(
            keys(history(&l, &args(100, Some(" ODD@x.example")), None).unwrap()),
            ["k5", "k3", "k1"]
        );
    }
}
