//! Which files a CUR path holds: a single file, the CUR files of a directory, or the
//! data files an AWS Data Exports export folder's manifests list.

use std::path::{Path, PathBuf};

use super::CurError;

/// The CUR files under `path` (a file or a directory), sorted.
/// Only regular files are read: a FIFO would block forever, a device never end.
pub(super) fn files(path: &Path) -> Result<Vec<PathBuf>, CurError> {
    let io = |source| CurError::Io {
        path: path.to_owned(),
        source,
    };
    let kind = std::fs::metadata(path).map_err(io)?.file_type();
    if kind.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    if !kind.is_dir() {
        return Err(CurError::NotAFile(path.to_owned()));
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (n.ends_with(".csv") || n.ends_with(".csv.gz") || n.ends_with(".parquet"))
                && std::fs::metadata(p).is_ok_and(|m| m.is_file())
        })
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(CurError::Empty(path.to_owned()));
    }
    Ok(out)
}

/// The data files an AWS Data Exports export folder's manifests list: `<dir>/metadata/
/// BILLING_PERIOD=<YYYY-MM>/*Manifest.json`, each naming its `dataFiles` by S3 URI,
/// found here under `<dir>/data/` by the part of the key after `/data/`. Only the
/// billing period `month` when given. `None` when `dir` is not an export folder.
pub(super) fn export_files(
    dir: &Path,
    month: Option<&str>,
) -> Result<Option<Vec<PathBuf>>, CurError> {
    let metadata = dir.join("metadata");
    if !metadata.is_dir() || !dir.join("data").is_dir() {
        return Ok(None);
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CurError::Io { path, source }
    };
    let mut periods: Vec<PathBuf> = std::fs::read_dir(&metadata)
        .map_err(io(&metadata))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with("BILLING_PERIOD=")
                && month.is_none_or(|m| n == format!("BILLING_PERIOD={m}"))
        })
        .collect();
    periods.sort();
    let mut out = Vec::new();
    for period in periods {
        let mut manifests: Vec<PathBuf> = std::fs::read_dir(&period)
            .map_err(io(&period))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with("Manifest.json"))
            })
            .collect();
        manifests.sort();
        for manifest in manifests {
            let bad = |message: String| CurError::Manifest {
                path: manifest.clone(),
                message,
            };
            // A manifest lists file names, so it is small; a huge one is not a manifest.
            let meta = std::fs::metadata(&manifest).map_err(io(&manifest))?;
            if meta.len() > 16 << 20 {
                return Err(bad("larger than 16 MiB; not a Data Exports manifest".into()));
            }
            let text = std::fs::read_to_string(&manifest).map_err(io(&manifest))?;
            let doc: serde_json::Value =
                serde_json::from_str(&text).map_err(|source| CurError::ManifestJson {
                    path: manifest.clone(),
                    source,
                })?;
            let listed = doc
                .get("dataFiles")
                .and_then(|d| d.as_array())
                .ok_or_else(|| bad("no `dataFiles` list".into()))?;
            for (i, uri) in listed.iter().enumerate() {
                let uri = uri
                    .as_str()
                    .ok_or_else(|| bad(format!("dataFiles[{i}] is not a string")))?;
                let rel = uri
                    .split_once("/data/")
                    .map(|(_, rel)| rel)
                    .filter(|rel| !rel.split('/').any(|part| part == ".." || part.is_empty()))
                    .ok_or_else(|| {
                        bad(format!(
                            "dataFiles[{i}] {uri:?} is not under the export's data/ folder"
                        ))
                    })?;
                let file = dir.join("data").join(rel);
                if !file.is_file() {
                    return Err(bad(format!(
                        "dataFiles[{i}] {uri:?} is missing here ({})",
                        file.display()
                    )));
                }
                out.push(file);
            }
        }
    }
    if out.is_empty() {
        return Err(CurError::Empty(dir.to_owned()));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::cost::cur::parquet::tests::rows;
    use crate::cost::cur::parquet::writer::{Row, write};
    use crate::cost::cur::{CurError, read};

    #[test]
    fn special_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(Path::new("/dev/zero"), None)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "/dev/zero is not a regular file (a device, pipe or socket)"
        );
        // A FIFO among the files of a directory is left alone, not read (it would block).
        let fifo = dir.path().join("pipe.csv");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(read(dir.path(), None), Err(CurError::Empty(_))));
    }

    #[test]
    fn an_export_folder_is_read_through_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let data = root.join("data/BILLING_PERIOD=2026-11");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(root.join("metadata/BILLING_PERIOD=2026-11")).unwrap();
        let all = rows();
        let (a, b) = all.split_at(2);
        write(
            &data.join("shop-00001.snappy.parquet"),
            a.iter().map(copy),
            10,
        )
        .unwrap();
        write(
            &data.join("shop-00002.snappy.parquet"),
            b.iter().map(copy),
            10,
        )
        .unwrap();
        // A stale file the manifest does not list is not read.
        write(
            &data.join("shop-00099.snappy.parquet"),
            all.iter().map(copy),
            10,
        )
        .unwrap();
        let manifest = serde_json::json!({
            "dataFiles": [
                "s3://bucket/exports/shop/data/BILLING_PERIOD=2026-11/shop-00001.snappy.parquet",
                "s3://bucket/exports/shop/data/BILLING_PERIOD=2026-11/shop-00002.snappy.parquet",
            ]
        });
        let manifest_path = root.join("metadata/BILLING_PERIOD=2026-11/shop-Manifest.json");
        std::fs::write(&manifest_path, manifest.to_string()).unwrap();
        let whole = dir.path().join("whole.parquet");
        write(&whole, all.iter().map(copy), 10).unwrap();
        let from_export = read(root, Some("2026-11")).unwrap();
        assert_eq!(from_export.rows, 3, "the listed files' November rows");
        assert_eq!(
            from_export.into_lines(),
            read(&whole, Some("2026-11")).unwrap().into_lines()
        );
        // A listed file that is missing, and a path escaping data/, are located errors.
        std::fs::write(
            &manifest_path,
            r#"{"dataFiles": ["s3://b/shop/data/BILLING_PERIOD=2026-11/gone.parquet"]}"#,
        )
        .unwrap();
        let e = read(root, Some("2026-11")).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("{}: dataFiles[0] ", manifest_path.display()))
                && e.contains("is missing here"),
            "{e}"
        );
        std::fs::write(
            &manifest_path,
            r#"{"dataFiles": ["s3://b/shop/data/../../etc/passwd"]}"#,
        )
        .unwrap();
        let e = read(root, Some("2026-11")).err().unwrap().to_string();
        assert!(e.contains("is not under the export's data/ folder"), "{e}");
        std::fs::write(&manifest_path, "{\"dataFiles\": [").unwrap();
        let e = read(root, Some("2026-11")).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("{}: line 1, column ", manifest_path.display())),
            "{e}"
        );
    }

    fn copy<'a>(r: &Row<'a>) -> Row<'a> {
        Row { ..*r }
    }
}
