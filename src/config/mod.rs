//! regions.toml: the schema, its parsing and its validation.
//!
//! `compile` reads the TOML once, walks it with spans, and returns either a validated
//! [`Config`] or every problem found (plus warnings) located by line and column.
//! Nothing here does IO: the caller reads the file.

mod compile;
pub mod diagnostic;
pub mod suggest;
mod types;

pub use compile::compile;
pub use types::*;

use std::path::{Path, PathBuf};

use crate::config::diagnostic::Diagnostics;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid geoplan config", .0.source.name)]
    Invalid(Box<Diagnostics>),
}

/// A validated config and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub diagnostics: Diagnostics,
}

/// Reads and compiles a config file. Relative paths inside it are resolved against
/// the file's directory.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    let (config, diagnostics) = compile(&path.display().to_string(), &text, &base);
    match config {
        Some(config) if !diagnostics.has_errors() => Ok(Loaded {
            config,
            diagnostics,
        }),
        _ => Err(ConfigError::Invalid(Box::new(diagnostics))),
    }
}

#[cfg(test)]
mod tests;
