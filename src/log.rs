//! What a log line may carry, and in which format the log is written.
//!
//! [`id`] bounds and cleans a mail's identifiers (Message-ID, ledger key) before they go
//! into a log field: a sender writes the Message-ID, so it may be any length and hold any
//! character. [`format_for`] decides text or JSON before the config is validated (logging
//! starts first, so the config's own problems can be logged). Nothing here ever reads or
//! logs body text, an address or a secret.

use std::path::Path;

use crate::config::LogFormat;

/// The longest identifier a log line carries, in characters.
pub const MAX_ID: usize = 128;

/// The environment variable that overrides `[log] format` (`json` or `text`), as
/// `RUST_LOG` overrides the level.
pub const FORMAT_ENV: &str = "AUTOSVAR_LOG_FORMAT";

/// An identifier as a log line shows it: anything but printable ASCII (control characters,
/// spaces, line breaks, other scripts) becomes `?`, and it is cut to [`MAX_ID`]
/// characters, ending in `…` when cut. A line of the log stays one line, whatever a mail
/// wrote in its Message-ID.
pub fn id(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_ID)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if text.chars().nth(MAX_ID).is_some() {
        out.pop();
        out.push('…');
    }
    out
}

/// The log format: [`FORMAT_ENV`] when it says `json` or `text`, else `[log] format` of
/// the config file at `config`, else text. Read before the config is loaded and
/// validated: a file that cannot be read or parsed gives text here, and its problems are
/// reported when the command loads it.
pub fn format_for(config: &Path) -> LogFormat {
    let from_env = std::env::var(FORMAT_ENV).ok().and_then(|v| parse_format(&v));
    from_env
        .or_else(|| {
            let text = std::fs::read_to_string(config).ok()?;
            format_in(&text)
        })
        .unwrap_or_default()
}

/// `[log] format` in config text, if it is there and valid.
fn format_in(text: &str) -> Option<LogFormat> {
    let table: toml::Table = text.parse().ok()?;
    parse_format(table.get("log")?.get("format")?.as_str()?)
}

fn parse_format(name: &str) -> Option<LogFormat> {
    match name.trim() {
        "json" => Some(LogFormat::Json),
        "text" => Some(LogFormat::Text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_one_bounded_line_of_printable_ascii() {
        assert_eq!(id("abc.123@regionh.example"), "abc.123@regionh.example");
        assert_eq!(id("a\r\nb c\u{1b}[31mæ"), "a??b?c?[31m?");
        let long = "x".repeat(5000);
        let cut = id(&long);
        assert_eq!(cut.chars().count(), MAX_ID);
        assert!(cut.ends_with('…'));
        let exact = "y".repeat(MAX_ID);
        assert_eq!(id(&exact), exact);
        assert_eq!(id(""), "");
    }

    #[test]
    fn the_format_is_read_from_the_log_section_and_text_otherwise() {
        assert_eq!(
            format_in("[reply]\nfrom = \"a@b\"\n[log]\nformat = \"json\"\n"),
            Some(LogFormat::Json)
        );
        assert_eq!(format_in("[log]\nformat = \"text\""), Some(LogFormat::Text));
        assert_eq!(format_in("[log]\nformat = \"xml\""), None);
        assert_eq!(format_in("[log"), None);
        assert_eq!(format_in("[reply]\n"), None);
        assert_eq!(
            format_for(Path::new("/nonexistent/config.toml")),
            LogFormat::Text
        );
    }
}
