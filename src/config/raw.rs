//! The serde mirror of `config.toml`: what was typed, before any checking.
//!
//! Every struct denies unknown keys, so a misspelt key is an error rather than a silently
//! ignored setting. Fields that are checked after deserialising keep their `Spanned` position
//! so that those errors can name a line too. Nothing here resolves paths or reads secrets:
//! that is `config::Config::from_raw`'s job.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawReply {
    pub from: Option<Spanned<String>>,
    #[serde(default)]
    pub own_addresses: Vec<Spanned<String>>,
    pub period: Option<Spanned<String>>,
    pub default_language: Option<Spanned<String>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawMaildir {
    pub path: Option<Spanned<String>>,
    pub poll_interval: Option<Spanned<String>>,
    pub max_size: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOutbox {
    pub path: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLedger {
    pub path: Option<Spanned<String>>,
    pub keep: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawClassify {
    pub rules: Option<Spanned<String>>,
    pub training: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawResponses {
    pub path: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDesk {
    pub name: Spanned<String>,
    pub email: Spanned<String>,
    pub phone: Spanned<String>,
}

/// `[imap]` and `[smtp]` share the connection keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServer {
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    pub tls: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    /// Never accepted; present only to explain why.
    pub password: Option<Spanned<toml::Value>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_command: Option<Spanned<String>>,
    pub auth: Option<Spanned<String>>,
    pub token_command: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    // IMAP only.
    pub folder: Option<Spanned<String>>,
    pub poll_interval: Option<Spanned<String>>,
    pub idle: Option<bool>,
    pub max_age: Option<Spanned<String>>,
    pub sent_folder: Option<Spanned<String>>,
    pub keywords: Option<bool>,
    pub sent_copy: Option<Spanned<String>>,
    pub sent_copy_grace: Option<Spanned<String>>,
    pub category_folders: Option<Spanned<String>>,
    pub max_attempts: Option<Spanned<u32>>,
    // SMTP only.
    pub envelope_from: Option<Spanned<String>>,
    pub retry_after: Option<Spanned<String>>,
}
