//! Raw bytes as a received mail -> parse -> guard -> classify (the shipped rules and the
//! model trained on `training/`) -> the reply and, forced, a desk forward (whole and as a
//! redacted rebuild), with the shipped templates and config. Besides "no panic", every
//! message composed must pass `autosvar_fuzz::check` (parseable, lines within 998 bytes, no
//! header field the sender's data could inject, never answered by autosvar itself).
#![no_main]

use autosvar::classify::{Category, Classification};
use autosvar::pipeline::assess;
use autosvar::render::compose;
use autosvar_fuzz::{allowed_error, check, now, setup, Kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        setup();
    },
    |data: &[u8]| {
        let s = setup();
        let own = &s.config.own_addresses;
        let a = assess(data, &s.config, &s.classifier);

        match compose::reply(&a.mail, &a.classification, &s.config, &s.templates, now()) {
            Ok(out) => check(&out, Kind::Reply, own),
            Err(e) => assert!(allowed_error(&e), "reply: {e:?}"),
        }

        // Forced: every mail as if it were technical, to the classifier's desk or the first.
        let Some((key, desk)) = a
            .classification
            .desk
            .as_ref()
            .and_then(|k| s.config.desks.get_key_value(k))
            .or_else(|| s.config.desks.iter().next())
        else {
            return;
        };
        let c = Classification {
            category: Category::Technical,
            desk: Some(key.clone()),
            ..a.classification.clone()
        };
        for (sensitive, truncated, kind) in [
            (c.sensitive, false, if c.sensitive { Kind::ForwardRebuilt } else { Kind::ForwardWhole }),
            (true, true, Kind::ForwardRebuilt),
        ] {
            let c = Classification {
                sensitive,
                ..c.clone()
            };
            match compose::forward(&a.mail, data, truncated, &c, desk, &s.config, &s.templates, now()) {
                Ok(out) => check(&out, kind, own),
                Err(e) => assert!(allowed_error(&e), "forward: {e:?}"),
            }
        }
    }
);
