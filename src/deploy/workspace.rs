//! The rendered root module on disk: written atomically, only where it changed, with
//! stale generated files removed and anything else in the directory left alone.

use std::io;
use std::path::{Path, PathBuf};

use crate::deploy::render::{GENERATED_MARKER, RenderedFile};

/// The Terraform CLI config geoplan writes beside the module (not a `.tf` file, so
/// Terraform does not read it as configuration).
pub const CLI_CONFIG_FILE: &str = "geoplan.tfrc";

#[derive(Debug, thiserror::Error)]
#[error("cannot write the Terraform module in {}", dir.display())]
pub struct WorkspaceError {
    pub dir: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Why the module directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another geoplan (pid {pid}) is running in {}; wait for it, or pass --lock-timeout to wait up to a time", dir.display())]
    Held { dir: PathBuf, pid: String },
    #[error("cannot lock {}", dir.display())]
    Io {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// geoplan's hold on a module directory: one geoplan renders, plans or applies there
/// at a time. The OS releases it when the process ends, however it ends.
#[derive(Debug)]
pub struct ModuleLock {
    _file: std::fs::File,
    /// Stale files removed when the lock was taken.
    pub cleaned: Vec<String>,
}

/// Takes the module directory, waiting up to `timeout` for another geoplan to finish,
/// then removes what a killed run left behind: its plan file, and Terraform's lock-info
/// file when no process holds the state lock any more.
pub fn lock_module(dir: &Path, timeout: std::time::Duration) -> Result<ModuleLock, LockError> {
    use std::io::{Read, Seek, Write};
    let io = |source| LockError::Io {
        dir: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(".geoplan.lock"))
        .map_err(io)?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::Held {
                    dir: dir.to_owned(),
                    pid: match pid.trim() {
                        "" => "unknown".into(),
                        p => p.to_owned(),
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    let mut cleaned = Vec::new();
    if std::fs::remove_file(dir.join(crate::deploy::terraform::PLAN_FILE)).is_ok() {
        cleaned.push(crate::deploy::terraform::PLAN_FILE.to_owned());
    }
    let info = dir.join(".terraform.tfstate.lock.info");
    if info.exists()
        && !state_lock_held(&dir.join("terraform.tfstate"))
        && std::fs::remove_file(&info).is_ok()
    {
        cleaned.push(".terraform.tfstate.lock.info".to_owned());
    }
    Ok(ModuleLock {
        _file: file,
        cleaned,
    })
}

/// Whether a process holds Terraform's local-state lock: an fcntl write lock on the
/// state file (Terraform's `statemgr.Filesystem`), which dies with its holder.
fn state_lock_held(state: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(file) = std::fs::File::open(state) else {
        return false;
    };
    // SAFETY: a zeroed flock is a valid value; F_GETLK only writes into it.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: a valid fd and a pointer to a live flock.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) };
    r == 0 && lock.l_type != libc::F_UNLCK as libc::c_short
}

/// What writing the module changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

pub fn write_module(
    dir: &Path,
    files: &[RenderedFile],
    cli_config: Option<&str>,
) -> Result<WriteReport, WorkspaceError> {
    let wrap = |source| WorkspaceError {
        dir: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(wrap)?;
    let mut report = WriteReport::default();
    let mut wanted: Vec<(&str, &str)> = files
        .iter()
        .map(|f| (f.name, f.contents.as_str()))
        .collect();
    if let Some(cli) = cli_config {
        wanted.push((CLI_CONFIG_FILE, cli));
    }
    for (name, contents) in &wanted {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == *contents) {
            report.unchanged.push((*name).to_owned());
            continue;
        }
        // Write-then-rename: a crash never leaves a half-written file for Terraform.
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).map_err(wrap)?;
        std::fs::rename(&tmp, &path).map_err(wrap)?;
        report.written.push((*name).to_owned());
    }
    for entry in std::fs::read_dir(dir).map_err(wrap)? {
        let entry = entry.map_err(wrap)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let generated = name.ends_with(".tf")
            && std::fs::read_to_string(entry.path()).is_ok_and(|s| s.starts_with(GENERATED_MARKER));
        if generated && !wanted.iter().any(|(w, _)| *w == name) {
            std::fs::remove_file(entry.path()).map_err(wrap)?;
            report.removed.push(name);
        }
    }
    if cli_config.is_none() {
        let stale = dir.join(CLI_CONFIG_FILE);
        if stale.exists() {
            std::fs::remove_file(&stale).map_err(wrap)?;
            report.removed.push(CLI_CONFIG_FILE.to_owned());
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &'static str, contents: &str) -> RenderedFile {
        RenderedFile {
            name,
            contents: contents.to_owned(),
        }
    }

    #[test]
    fn rewrites_only_changes_and_removes_only_stale_generated_files() {
        let dir = tempfile::tempdir().unwrap();
        let gen_a = format!("{GENERATED_MARKER}x\na");
        let first = write_module(
            dir.path(),
            &[
                file("a.tf", &gen_a),
                file("b.tf", "# Generated by geoplan from x\nb"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(first.written, ["a.tf", "b.tf"]);
        std::fs::write(dir.path().join("mine.tf"), "# hand-written\n").unwrap();

        let second = write_module(dir.path(), &[file("a.tf", &gen_a)], Some("cli")).unwrap();
        assert_eq!(second.unchanged, ["a.tf"]);
        assert_eq!(second.written, [CLI_CONFIG_FILE]);
        assert_eq!(second.removed, ["b.tf"]);
        assert!(
            dir.path().join("mine.tf").exists(),
            "a file geoplan did not generate is kept"
        );

        let third = write_module(dir.path(), &[file("a.tf", &gen_a)], None).unwrap();
        assert_eq!(third.removed, [CLI_CONFIG_FILE]);
    }

    #[test]
    fn one_geoplan_per_module_and_stale_files_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::deploy::terraform::PLAN_FILE), "old").unwrap();
        std::fs::write(dir.path().join(".terraform.tfstate.lock.info"), "{}").unwrap();
        std::fs::write(dir.path().join("terraform.tfstate"), "{}").unwrap();
        let held = lock_module(dir.path(), std::time::Duration::ZERO).unwrap();
        assert_eq!(
            held.cleaned,
            ["geoplan.tfplan", ".terraform.tfstate.lock.info"]
        );
        let e = lock_module(dir.path(), std::time::Duration::from_millis(300)).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "another geoplan (pid {}) is running in",
                std::process::id()
            )),
            "{e}"
        );
        drop(held);
        assert!(
            lock_module(dir.path(), std::time::Duration::ZERO)
                .unwrap()
                .cleaned
                .is_empty()
        );
    }
}
