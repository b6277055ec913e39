//! `autosvar preview`: prints exactly the mail autosvar would send for a category, so HR
//! staff can see a template change before it goes out. Sends and records nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use crate::classify::Category;
use crate::parse::Language;
use crate::render::preview::{preview, Wanted, SAMPLE};

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The category whose reply to show.
    pub category: Category,
    /// Language of the reply (default: the mail's, else da).
    #[arg(long)]
    pub lang: Option<Language>,
    /// Answer this mail file instead of a made-up sample mail.
    #[arg(long)]
    pub eml: Option<PathBuf>,
    /// Show the reply as it looks when the mail held sensitive data.
    #[arg(long)]
    pub sensitive: bool,
    /// For technical: the desk (cimt or kuit; default: the classifier's choice, else cimt).
    #[arg(long)]
    pub desk: Option<String>,
}

/// `preview pricing`: clap lists the categories in `--help` and in its error.
impl clap::ValueEnum for Category {
    fn value_variants<'a>() -> &'a [Self] {
        &Category::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

/// `--lang en`.
impl clap::ValueEnum for Language {
    fn value_variants<'a>() -> &'a [Self] {
        &Language::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.code()))
    }
}

pub fn run(config: &Path, args: PreviewArgs) -> anyhow::Result<i32> {
    let setup = super::Setup::load(config)?;
    let bytes = match &args.eml {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => SAMPLE.as_bytes().to_vec(),
    };
    let shown = preview(
        &setup.config,
        &setup.classifier,
        &setup.templates,
        &Wanted {
            category: args.category,
            lang: args.lang,
            desk: args.desk,
            sensitive: args.sensitive,
        },
        &bytes,
    )?;
    let mut out = std::io::stdout().lock();
    out.write_all(&shown)?;
    writeln!(out)?;
    Ok(0)
}
