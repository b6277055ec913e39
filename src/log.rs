//! What a log line (or a report such as `autosvar history`) may carry, and in which
//! format the log is written.
//!
//! [`id`] bounds and cleans a mail's identifiers (Message-ID, ledger key) before they go
//! into a log field: a sender writes the Message-ID, so it may be any length and hold any
//! character. [`reason`] does the same for a stored reason (a server's refusal may quote
//! the recipient's address: it is masked). [`format_for`] decides text or JSON before the config is validated (logging
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

/// Whether the log is JSON, once [`set_json`] said so.
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tells [`stderr_line`] the format the log was set up with.
pub fn set_json(json: bool) {
    JSON.store(json, std::sync::atomic::Ordering::Relaxed);
}

/// A line for stderr outside the log (`run --once`'s summary, the error that ends the
/// process) in the log's format: `autosvar: MESSAGE`, or with JSON logs one object as the
/// log's own (`timestamp`, `level`, `message`, `target`), so every line of stderr parses.
pub fn stderr_line(level: &str, message: &str) -> String {
    if JSON.load(std::sync::atomic::Ordering::Relaxed) {
        serde_json::json!({
            "timestamp": humantime::format_rfc3339_micros(crate::clock::now()).to_string(),
            "level": level,
            "message": message,
            "target": "autosvar",
        })
        .to_string()
    } else {
        format!("autosvar: {message}")
    }
}

/// The longest reason [`reason`] shows, in characters.
pub const MAX_REASON: usize = 300;

/// What an address in a [`reason`] is replaced with.
pub const ADDRESS_MASK: &str = "[address]";

/// A stored reason (why a mail was set aside or failed) as a report shows it: on one line
/// (control characters become spaces), every address-like word (`local@domain.tld`)
/// replaced by [`ADDRESS_MASK`], cut to [`MAX_REASON`] characters.
pub fn reason(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let local = |c: char| c.is_alphanumeric() || "._%+-=".contains(c);
    let domain = |c: char| c.is_alphanumeric() || ".-".contains(c);
    let mut out = String::with_capacity(one_line.len());
    let mut rest = one_line.as_str();
    while let Some(at) = rest.find('@') {
        let (before, after) = (&rest[..at], &rest[at + 1..]);
        let start = before
            .char_indices()
            .rev()
            .take_while(|&(_, c)| local(c))
            .last()
            .map_or(before.len(), |(i, _)| i);
        let end = after
            .char_indices()
            .find(|&(_, c)| !domain(c))
            .map_or(after.len(), |(i, _)| i);
        let host = &after[..end];
        if start < before.len() && host.contains('.') {
            out.push_str(&before[..start]);
            out.push_str(ADDRESS_MASK);
            rest = &after[end..];
        } else {
            out.push_str(before);
            out.push('@');
            rest = after;
        }
    }
    out.push_str(rest);
    crate::ledger::cut_chars(&out, MAX_REASON)
}

/// The log format: [`FORMAT_ENV`] when it says `json` or `text`, else `[log] format` of
/// the config file at `config`, else text. Read before the config is loaded and
/// validated: a file that cannot be read or parsed gives text here, and its problems are
/// reported when the command loads it.
pub fn format_for(config: &Path) -> LogFormat {
    let from_env = std::env::var(FORMAT_ENV)
        .ok()
        .and_then(|v| parse_format(&v));
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
    fn a_reason_is_one_line_without_addresses() {
        assert_eq!(
            reason("reply refused: 550 5.1.1 <reject-i@regionh.example>: Recipient\r\nrejected"),
            "reply refused: 550 5.1.1 <[address]>: Recipient  rejected"
        );
        assert_eq!(
            reason("Bo.Larsen+x@Sub.Example.dk wrote to ø@æ.dk"),
            "[address] wrote to [address]"
        );
        // Not an address: no local part, or no dot in the host.
        assert_eq!(reason("@x.dk a@b @@ x@"), "@x.dk a@b @@ x@");
        assert_eq!(reason(&"e".repeat(1000)).chars().count(), MAX_REASON);
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
