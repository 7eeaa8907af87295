//! regions.toml: the schema, its parsing and its validation.
//!
//! `compile` reads the TOML once, walks it with spans, and returns either a validated
//! [`Config`] or every problem found (plus warnings) located by line and column.
//! `compile` does no IO; `load` reads the file and compiles it.

mod compile;
pub mod diagnostic;
pub mod secret;
pub mod suggest;
mod types;

pub use compile::compile;
pub use types::*;

use std::path::{Path, PathBuf};

use crate::config::diagnostic::Diagnostics;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is {what}, not a regular file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("{} is larger than {} MiB; a geoplan config is a few KB", path.display(), MAX_CONFIG_BYTES >> 20)]
    TooLarge { path: PathBuf },
    #[error("{}:{line}:{column}: not UTF-8 text (byte {byte:#04x})", path.display())]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        column: usize,
        byte: u8,
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

/// The largest config file read: far beyond any real one, small enough that a wrong
/// path (`/dev/zero`, a log file) fails at once instead of exhausting memory.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Reads a config file: a regular file of at most `MAX_CONFIG_BYTES`, in UTF-8.
fn read(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let io = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let kind = meta.file_type();
    let what = if kind.is_dir() {
        Some("a directory")
    } else if !kind.is_file() {
        Some("a device, pipe or socket")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(ConfigError::NotAFile {
            path: path.to_owned(),
            what,
        });
    }
    // Bounded even if the file grows between the check and the read.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        let position = diagnostic::SourceFile::new("", valid).position(at);
        ConfigError::NotUtf8 {
            path: path.to_owned(),
            line: position.line,
            column: position.column,
            byte: bytes[at],
        }
    })
}

/// Reads and compiles a config file. Relative paths inside it are resolved against
/// the file's directory.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = read(path)?;
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
