//! The console's ledger queries at 100,000 mails: a ledger filled through the ledger's own
//! API as the daemon fills it (a year of mail from 20,000 senders, every reply and desk
//! forward kept as sent), opened a second time as the console opens it, each query timed.
//!
//!     cargo bench --bench activity
//!
//! The filled ledger (a year of mail up to the day it is filled) is kept in
//! target/bench-activity/ and reused that day (filling takes about a minute and a half).
//! `scripts/bench/console` times the console's pages over the same ledger. The target: each query well under 100 ms, the page budget.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use autosvar::clock::from_unix_seconds;
use autosvar::ledger::{
    sender_hash, ActivityQuery, Bucket, Ledger, Outcome, Pending, Record, MAX_PAGE,
};
use autosvar::parse::MailKey;
use autosvar::types::{
    Action, Category, Language, MessageId, MessageKind, Outgoing, SkipReason, Source,
};
use criterion::{criterion_group, criterion_main, Criterion};

const MAILS: u64 = 100_000;
const SENDERS: u64 = 20_000;
const YEAR: i64 = 365 * 86_400;

/// The end of the year of mail: midnight UTC of the day the ledger is filled, so the
/// console's "last 30 days" chart has mail in it. The file's name carries it.
fn end_of_today() -> i64 {
    let now = autosvar::clock::unix_seconds(autosvar::clock::now());
    now - now % 86_400
}

/// A small deterministic generator (no dependency, same ledger every time).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn address(n: u64) -> String {
    format!("person.{n}@region{}.example", n % 7)
}

const SUBJECTS: [&str; 8] = [
    "Hvad koster Zoom Meetings for vores afdeling?",
    "Må vi bruge Zoom til undervisning af eksterne?",
    "Zoom virker ikke på min PC efter opdatering",
    "Kan ikke logge ind med KU-ID",
    "Licens til Zoom - hvem kan få en?",
    "Re: Spørgsmål om pris",
    "Automatisk svar: Fraværende",
    "Question about Zoom terms of use",
];

fn text(len: usize, seed: u64) -> String {
    let words = [
        "Zoom",
        "licens",
        "afdeling",
        "møde",
        "pris",
        "kursus",
        "undervisning",
        "adgang",
        "hospital",
        "region",
        "venlig",
        "hilsen",
        "tak",
        "spørgsmål",
        "opdatering",
    ];
    let mut out = String::with_capacity(len + 16);
    let mut i = seed;
    while out.len() < len {
        out.push_str(words[(i % words.len() as u64) as usize]);
        out.push(if i.is_multiple_of(13) { '\n' } else { ' ' });
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    out
}

fn message(key: &str, kind: MessageKind, to: &str, body_len: usize, seed: u64) -> Pending {
    let bytes = format!(
        "From: e-learning@regionh.example\r\nTo: {to}\r\nSubject: Re: question\r\n\
         Message-ID: <{kind}.{key}@regionh.example>\r\nAuto-Submitted: auto-replied\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{}",
        text(body_len, seed)
    );
    Pending {
        message: Outgoing {
            message_id: MessageId::from_stored(format!("{kind}.{key}@regionh.example")),
            kind,
            to: to.into(),
            bytes: bytes.into_bytes(),
        },
        mail_key: key.into(),
        attempts: 0,
        started: None,
    }
}

fn fill(path: &Path, end: i64) {
    let started = Instant::now();
    let mut l = Ledger::open(path).expect("ledger");
    let mut rng = Lcg(4711);
    for i in 0..MAILS {
        let key = format!("sha256:{i:016x}");
        let sender = address(rng.below(SENDERS));
        let t = end - YEAR + (i as i64 * YEAR) / MAILS as i64;
        let now = from_unix_seconds(t);
        let category = match rng.below(100) {
            0..=29 => Category::Pricing,
            30..=44 => Category::Terms,
            45..=59 => Category::Eligibility,
            60..=79 => Category::Technical,
            _ => Category::Other,
        };
        let skip = rng.below(100) < 25;
        let record = Record {
            key: key.clone(),
            source: Source::from_stored(&format!("INBOX/{i}")),
            action: if skip { Action::Skip } else { Action::Reply },
            category: Some(if skip { Category::Other } else { category }),
            desk: (category == Category::Technical && !skip).then(|| "cimt".into()),
            language: Some(if rng.below(10) < 8 {
                Language::Da
            } else {
                Language::En
            }),
            sensitive: rng.below(100) < 3,
            confidence: Some(0.2 + rng.below(800) as f64 / 1000.0),
            doubtful: false,
            skip_reason: skip.then_some(SkipReason::AutoReply),
            sender_hash: Some(sender_hash(&sender)),
            reply_id: None,
            forward_id: None,
            subject: Some(SUBJECTS[rng.below(SUBJECTS.len() as u64) as usize].into()),
            explain: Some(text(600, i)),
            sender_addresses: vec![sender.clone()],
        };
        if skip {
            l.record_done(&record, now).expect("record");
            continue;
        }
        let mut messages = vec![message(&key, MessageKind::Reply, &sender, 2_000, i)];
        if record.desk.is_some() {
            messages.push(message(
                &key,
                MessageKind::Forward,
                "cimt@desk.example",
                6_000,
                i,
            ));
        }
        l.record_intent(&record, &messages, now).expect("intent");
        if rng.below(100) == 0 {
            l.set_aside(&MailKey::from_stored(key), "refused 5 times", now)
                .expect("set aside");
            continue;
        }
        for m in &messages {
            l.delivered(m.message.message_id.as_str(), now, false)
                .expect("delivered");
        }
    }
    eprintln!(
        "filled {} with {MAILS} mails in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}

/// The filled ledger (filled now if there is none of today) and the end of its year.
fn ledger() -> (PathBuf, i64) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-activity");
    let end = end_of_today();
    let path = dir.join(format!("ledger-v1-{MAILS}-{end}.sqlite"));
    if !path.exists() {
        let partial = dir.join("filling.sqlite");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
        }
        // Yesterday's and older fills go: each is half a gigabyte.
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("ledger-v1-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        fill(&partial, end);
        std::fs::rename(&partial, &path).expect("rename");
    }
    (path, end)
}

fn bench(c: &mut Criterion) {
    let (path, end) = ledger();
    eprintln!(
        "ledger: {:.1} MB",
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );
    // The console's own connection, as it opens it beside the daemon's.
    let l = Ledger::open(&path).expect("open");
    let page = |q: ActivityQuery| ActivityQuery { limit: 50, ..q };
    let middle = l
        .activity(&page(ActivityQuery::default()))
        .expect("page")
        .last()
        .map(|r| r.cursor())
        .expect("rows");
    // A cursor half way down: the 50,000th mail.
    let mut deep = middle.clone();
    for _ in 0..(50_000 / MAX_PAGE) {
        let rows = l
            .activity(&ActivityQuery {
                before: Some(deep.clone()),
                limit: MAX_PAGE,
                ..ActivityQuery::default()
            })
            .expect("page");
        deep = rows.last().map(|r| r.cursor()).unwrap_or(deep);
    }
    let someone = sender_hash(&address(4242));
    let a_key = format!("sha256:{:016x}", 70_001);
    let since = from_unix_seconds(end - YEAR);
    let month = from_unix_seconds(end - 30 * 86_400);
    let mut g = c.benchmark_group("console at 100,000 mails");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_millis(500));
    let cases: Vec<(&str, ActivityQuery)> = vec![
        ("activity: newest 50", page(ActivityQuery::default())),
        (
            "activity: 50 after the 50,000th",
            page(ActivityQuery {
                before: Some(deep.clone()),
                ..ActivityQuery::default()
            }),
        ),
        (
            "activity: one sender's",
            page(ActivityQuery {
                sender_hash: Some(someone.clone()),
                ..ActivityQuery::default()
            }),
        ),
        (
            "activity: technical",
            page(ActivityQuery {
                category: Some(Category::Technical),
                ..ActivityQuery::default()
            }),
        ),
        (
            "activity: set aside (1%)",
            page(ActivityQuery {
                outcome: Some(Outcome::SetAside),
                ..ActivityQuery::default()
            }),
        ),
        (
            "activity: eligibility and skipped (none)",
            page(ActivityQuery {
                category: Some(Category::Eligibility),
                outcome: Some(Outcome::Skipped),
                ..ActivityQuery::default()
            }),
        ),
        (
            "activity: one sender's technical set aside",
            page(ActivityQuery {
                sender_hash: Some(someone.clone()),
                category: Some(Category::Technical),
                outcome: Some(Outcome::SetAside),
                ..ActivityQuery::default()
            }),
        ),
    ];
    for (name, q) in &cases {
        g.bench_function(*name, |b| {
            b.iter(|| std::hint::black_box(l.activity(q).expect("q")))
        });
    }
    g.bench_function("mail: one with reply and forward", |b| {
        b.iter(|| std::hint::black_box(l.mail(&a_key).expect("mail")))
    });
    g.bench_function("review queue: 50", |b| {
        b.iter(|| std::hint::black_box(l.review_queue(None, 50).expect("review")))
    });
    g.bench_function("review queue: 50 after the 50th", |b| {
        let first = l.review_queue(None, 50).expect("review");
        let after = first.last().map(|r| r.cursor());
        b.iter(|| std::hint::black_box(l.review_queue(after.as_ref(), 50).expect("review")))
    });
    g.bench_function("counts: per day, last 30 days", |b| {
        b.iter(|| std::hint::black_box(l.counts(month, Bucket::Day).expect("counts")))
    });
    g.bench_function("counts: per day, the whole year", |b| {
        b.iter(|| std::hint::black_box(l.counts(since, Bucket::Day).expect("counts")))
    });
    g.bench_function("counts: per week, the whole year", |b| {
        b.iter(|| std::hint::black_box(l.counts(since, Bucket::Week).expect("counts")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
