//! Values typed as strings in `config.toml`: durations ("30s", "1d"), sizes ("1MB") and
//! paths, read into their types with a problem (and the fix) when they do not parse.
//! Nothing here knows which key means what; the caller names the key and the default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::checker::Checker;
use super::server::Rate;

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

    /// A rate such as "30/min" (`smtp.max-rate`); unset is `None` (no limit).
    pub(super) fn rate(&mut self, key: &str, v: &Option<Spanned<String>>) -> Option<Rate> {
        let v = v.as_ref()?;
        match parse_rate(v.get_ref()) {
            Ok(rate) => Some(rate),
            Err(why) => {
                self.problem_hint(
                    Some(v.span()),
                    key,
                    format!("invalid rate {:?} ({why})", v.get_ref()),
                    "write e.g. \"30/min\", \"10/s\", \"1000/h\"",
                );
                None
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

/// The most messages a `max-rate` may allow per unit: beyond this the limit means nothing.
const RATE_MAX_MESSAGES: u32 = 1_000_000;

/// "30/min", "10/s", "1000 / h", "5/sec": messages per second, minute or hour.
fn parse_rate(s: &str) -> Result<Rate, &'static str> {
    let (number, unit) = s.split_once('/').ok_or("no \"/\"")?;
    let messages: u32 = number
        .trim()
        .parse()
        .map_err(|_| "the count is not a whole number")?;
    if !(1..=RATE_MAX_MESSAGES).contains(&messages) {
        return Err("the count must be from 1 to 1000000");
    }
    let per = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return Err("the unit must be s, min or h"),
    };
    Ok(Rate { messages, per })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_their_unit_and_bad_ones_say_why() {
        let r = parse_rate("30/min").unwrap();
        assert_eq!((r.messages, r.per), (30, Duration::from_secs(60)));
        assert_eq!(r.interval(), Duration::from_secs(2));
        assert_eq!(r.per_second(), 1, "at least one");
        assert_eq!(r.to_string(), "30/min");
        let r = parse_rate(" 10 / S ").unwrap();
        assert_eq!(
            (r.messages, r.per, r.per_second()),
            (10, Duration::from_secs(1), 10)
        );
        assert_eq!(
            parse_rate("3600/h").unwrap().interval(),
            Duration::from_secs(1)
        );
        assert_eq!(parse_rate("30").unwrap_err(), "no \"/\"");
        assert!(parse_rate("0/min").is_err());
        assert!(parse_rate("-3/min").is_err());
        assert!(parse_rate("2.5/s").is_err());
        assert!(parse_rate("30/day").is_err());
        assert!(parse_rate("99999999999/s").is_err());
    }
}
