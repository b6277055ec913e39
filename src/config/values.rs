//! Values typed as strings in `config.toml`: durations ("30s", "1d"), sizes ("1MB") and
//! paths, read into their types with a problem (and the fix) when they do not parse.
//! Nothing here knows which key means what; the caller names the key and the default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::checker::Checker;

impl Checker<'_> {
    pub(super) fn duration(
        &mut self,
        key: &str,
        v: &Option<Spanned<String>>,
        default: Duration,
    ) -> Duration {
        let Some(v) = v else { return default };
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) => d,
            Err(e) => {
                self.problem_hint(
                    Some(v.span()),
                    key,
                    format!("invalid duration {:?} ({e})", v.get_ref()),
                    "write e.g. \"30s\", \"5m\", \"1d\"",
                );
                default
            }
        }
    }

    /// A size such as "1MB", "256KB" or "2048" (bytes), within `range`. KB and MB are
    /// binary: 1KB = 1024 bytes.
    pub(super) fn size(
        &mut self,
        key: &str,
        v: &Option<Spanned<String>>,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> u64 {
        let Some(v) = v else { return default };
        let show = |n: u64| match n {
            n if n % (1024 * 1024) == 0 => format!("{}MB", n / (1024 * 1024)),
            n if n % 1024 == 0 => format!("{}KB", n / 1024),
            n => format!("{n} bytes"),
        };
        match parse_size(v.get_ref()) {
            Some(n) if range.contains(&n) => n,
            Some(_) => {
                self.problem_hint(
                    Some(v.span()),
                    key,
                    format!("{:?} is out of range", v.get_ref()),
                    format!(
                        "use between {} and {}",
                        show(*range.start()),
                        show(*range.end())
                    ),
                );
                default
            }
            None => {
                self.problem_hint(
                    Some(v.span()),
                    key,
                    format!("invalid size {:?}", v.get_ref()),
                    "write e.g. \"1MB\", \"512KB\"",
                );
                default
            }
        }
    }

    pub(super) fn path(&self, base: &Path, v: &str) -> PathBuf {
        let p = Path::new(v);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    }

    /// A file or folder autosvar reads (rules, templates, examples, the Maildir): relative
    /// to the config's folder; when it is not there, relative to the current folder. A
    /// copy of the shipped config placed elsewhere (as tools do to point it at real
    /// servers) still finds the project's rules and templates.
    pub(super) fn input_path(&self, base: &Path, v: &str) -> PathBuf {
        let beside_config = self.path(base, v);
        if beside_config.exists() || Path::new(v).is_absolute() {
            return beside_config;
        }
        match std::env::current_dir() {
            Ok(cwd) if cwd.join(v).exists() => Path::new(v).to_path_buf(),
            _ => beside_config,
        }
    }
}

/// What `maildir.max-size` may be: below 64 KB ordinary mail would be cut. Parsing a
/// hostile mail takes up to ~50 times its size in memory (1 MB: 53 MB measured; 5 MB:
/// 208 MB; 30 MB: 1.2 GB), so 5 MB is the most; it is also the largest mail a desk forward
/// carries whole (`render::compose::FORWARD_MAX_BYTES`, which is not imported here: config
/// sits below render).
pub(super) const MAILDIR_MAX_SIZE: std::ops::RangeInclusive<u64> = 64 * 1024..=5 * 1024 * 1024;

/// `maildir.max-size`'s default: 1 MB, what IMAP fetches whole (`intake::FULL_FETCH_MAX`,
/// which is not imported here: config sits below intake; a test in intake holds the two
/// equal).
pub const MAILDIR_DEFAULT_MAX_SIZE: u64 = 1024 * 1024;

/// "1MB", "512 KB", "2048", "64KiB": bytes, or `None` when it is not a size.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let n: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor)
}
