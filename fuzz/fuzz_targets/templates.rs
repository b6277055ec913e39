//! Arbitrary text as one template file among the shipped `responses/` (the first byte picks
//! which: its place among the required names, sorted) -> `render::check_set`, the check the
//! folder, `autosvar check` and the console share; every problem is told in both languages,
//! and a set that loads then renders every category's reply and the desk forward (its cover
//! note and the lines above its text copy).
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use autosvar::classify::Category;
use autosvar::parse::Language;
use autosvar::render::{check_set, required_files, sample_context, sample_copy_context};
use libfuzzer_sys::fuzz_target;

/// The shipped template sources, name -> text.
fn shipped() -> &'static BTreeMap<String, String> {
    static FILES: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = autosvar_fuzz::root().join("responses");
        required_files()
            .into_iter()
            .map(|n| {
                let text = std::fs::read_to_string(dir.join(&n))
                    .unwrap_or_else(|e| panic!("cannot read shipped template {n}: {e}"));
                (n, text)
            })
            .collect()
    })
}

fuzz_target!(
    init: {
        shipped();
        autosvar_fuzz::config();
    },
    |data: &[u8]| {
        let Some((&pick, rest)) = data.split_first() else {
            return;
        };
        // Sorted bytewise, as fuzz/seed numbers them.
        let mut names = required_files();
        names.sort();
        let name = &names[usize::from(pick) % names.len()];
        let mut files = shipped().clone();
        files.insert(name.clone(), String::from_utf8_lossy(rest).into_owned());
        let desks = &autosvar_fuzz::config().desks;
        let dir = autosvar_fuzz::fake_path("responses");
        let checked = check_set(&files, desks);
        for p in &checked.problems {
            let _ = (p.message(Language::Da), p.hint(Language::Da), p.diagnostic(&dir));
        }
        let Some(t) = checked.templates else {
            return;
        };
        for lang in Language::ALL {
            for c in Category::ALL {
                let desk = (c == Category::Technical)
                    .then(|| desks.values().next().cloned())
                    .flatten();
                let ctx = sample_context(c, lang, desk, desks, pick % 2 == 0, pick % 4 < 2);
                let _ = t.render_reply(c, ctx.clone());
                if c == Category::Technical {
                    let _ = t.render_forward(&ctx);
                    let _ = t.render_forward_copy(&sample_copy_context(ctx.clone()));
                }
            }
        }
    }
);
