//! The serde mirror of `config.toml`: what was typed, before any checking.
//!
//! Every struct denies unknown keys, so a misspelt key is an error rather than a silently
//! ignored setting. Fields that are checked after deserialising keep their `Spanned` position
//! so that those errors can name a line too. Values with a fixed set of spellings (`tls`,
//! `auth`, `sent-copy`, `default-language`) are enums here, so serde refuses any other at
//! its place; [`Tls`] and [`SentCopy`] are used as they are read and re-exported by
//! `config`. Nothing here resolves paths or reads secrets: that is the job of
//! `config::Config::parse` and the modules beside this one.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawReply {
    pub from: Option<Spanned<String>>,
    #[serde(default)]
    pub own_addresses: Vec<Spanned<String>>,
    pub period: Option<Spanned<String>>,
    pub default_language: Option<RawLanguage>,
    pub nordic_language: Option<RawLanguage>,
    pub other_language: Option<RawLanguage>,
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

/// `[log]`: how the log is written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLog {
    pub format: Option<LogFormat>,
}

/// `log.format = "text" | "json"`: lines for a person, or one JSON object per line for a
/// log system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDesk {
    pub name: Spanned<String>,
    pub email: Spanned<String>,
    pub phone: Spanned<String>,
}

/// How a connection is protected (`tls = "implicit" | "starttls" | "none"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connect, then STARTTLS before anything secret is sent (IMAP 143, submission 587).
    StartTls,
    /// No TLS at all; only accepted for loopback hosts.
    None,
}

/// Who puts a copy of every sent message into the Sent folder
/// (`sent-copy = "append" | "server" | "none"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentCopy {
    /// autosvar APPENDs each reply and forward after sending it.
    Append,
    /// The server files submitted mail itself (Exchange, or a server-side BCC): autosvar
    /// appends nothing, and a message missing from Sent after a crash was never sent.
    Server,
    /// No copies.
    None,
}

/// `reply.default-language`: the language of a mail whose language cannot be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawLanguage {
    Da,
    En,
}

/// `auth` in `[imap]` and `[smtp]`: the login mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMechanism {
    Password,
    Xoauth2,
}

/// `[imap]`. Its connection keys are the same as `[smtp]`'s, but the two are separate
/// structs (serde's `flatten` cannot be combined with `deny_unknown_fields`), so a
/// misspelt key lists only the keys of its own section. `password` is not a field: an
/// inline password is taken out of the table and refused before this is deserialised
/// (`secret::take_inline_password`), so it is never offered as a valid key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawImap {
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    pub tls: Option<Spanned<Tls>>,
    pub user: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_command: Option<Spanned<String>>,
    pub auth: Option<Spanned<AuthMechanism>>,
    pub token_command: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub folder: Option<Spanned<String>>,
    pub poll_interval: Option<Spanned<String>>,
    pub idle: Option<bool>,
    pub idle_renew: Option<Spanned<String>>,
    pub max_age: Option<Spanned<String>>,
    pub sent_folder: Option<Spanned<String>>,
    pub keywords: Option<bool>,
    pub sent_copy: Option<SentCopy>,
    pub sent_copy_grace: Option<Spanned<String>>,
    pub category_folders: Option<Spanned<String>>,
    pub max_attempts: Option<Spanned<u32>>,
}

/// `[smtp]`: the connection keys of `[imap]` plus its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSmtp {
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    pub tls: Option<Spanned<Tls>>,
    pub user: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_command: Option<Spanned<String>>,
    pub auth: Option<Spanned<AuthMechanism>>,
    pub token_command: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub envelope_from: Option<Spanned<String>>,
    pub retry_after: Option<Spanned<String>>,
    pub max_connections: Option<Spanned<i64>>,
    pub max_rate: Option<Spanned<String>>,
}

/// The connection keys `[imap]` and `[smtp]` share, taken out of either by its validation
/// (`server::validate_imap`, `server::validate_smtp`).
#[derive(Debug)]
pub struct RawConnection {
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    pub tls: Option<Spanned<Tls>>,
    pub user: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_command: Option<Spanned<String>>,
    pub auth: Option<Spanned<AuthMechanism>>,
    pub token_command: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
}
