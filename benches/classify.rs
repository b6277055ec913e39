//! Classification speed on one core: the team's labelled mails (tests/fixtures/labelled),
//! parsed once, then classified with the shipped rules and learned model.
//!
//!     cargo bench --bench classify
//!
//! Reported in the README; the target is at least 10,000 mails per second.

use std::path::Path;

use autosvar::classify::{Classifier, Rules};
use autosvar::parse::{parse, Language};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn mails() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/labelled");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("labelled fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("mail"))
        .collect()
}

fn classifier() -> Classifier {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = Rules::load(&root.join("rules.toml")).expect("rules");
    let stemmers = autosvar::classify::text::Stemmers::default();
    let model =
        autosvar::classify::model::Model::load(&root.join("training"), &stemmers, Language::Da)
            .expect("training");
    Classifier::new(rules, Some(model))
}

fn bench(c: &mut Criterion) {
    let raw = mails();
    let parsed: Vec<_> = raw.iter().map(|b| parse(b, Language::Da)).collect();
    let classifier = classifier();
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(parsed.len() as u64));
    g.bench_function("classify (parsed mails)", |b| {
        b.iter(|| {
            for m in &parsed {
                std::hint::black_box(classifier.classify(m));
            }
        })
    });
    g.bench_function("parse (raw bytes)", |b| {
        b.iter(|| {
            for bytes in &raw {
                std::hint::black_box(parse(bytes, Language::Da));
            }
        })
    });
    g.bench_function("parse + classify (raw bytes)", |b| {
        b.iter(|| {
            for bytes in &raw {
                let m = parse(bytes, Language::Da);
                std::hint::black_box(classifier.classify(&m));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
