//! Arbitrary text -> the config loader (`Config::parse`), as if read from a path that does
//! not exist. Nothing it returns is used to reach a server or resolve a secret.
#![no_main]

use autosvar::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = autosvar_fuzz::fake_path("config.toml");
    match Config::parse(&path, &text) {
        Ok(c) => {
            // A loaded config always has a reply address and every desk it routes to.
            assert!(c.from.email.contains('@'), "from {:?}", c.from.email);
        }
        Err(e) => {
            let problems = e.problems();
            assert!(!problems.is_empty(), "an error with no problem listed");
        }
    }
});
