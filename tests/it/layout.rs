//! The source tree's shape, checked: top-level modules depend on each other inwards
//! only, never on a sibling in their own layer, sibling files inside a folder have no
//! import cycle, and docs/ARCHITECTURE.md's code map names every file under src/ and
//! states the layers as they are here.
//!
//! Dependencies are read from the text (`crate::a::b` and `super::b` paths), which is
//! how every module here refers to another; a `use` of a re-export would hide an edge,
//! and the crate uses none across modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::repo;

/// Top-level modules in layers, from the outermost (may use every layer after it) to
/// the innermost (uses nothing before it). Modules in one layer are siblings: neither
/// may use the other, so what both need lives in a layer below them (cost and control
/// share the store and the metrics registry; neither owns them).
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["serve"],
    &["api"],
    &["cost", "control"],
    &["deploy"],
    &["store", "telemetry"],
    &["config"],
    &["aws"],
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path relative to the crate: `src/control/store.rs` → `control::store`,
/// `src/control/mod.rs` → `control`, `src/lib.rs` → ``.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_str().unwrap().to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The longest known module named by a path that starts at `prefix`.
fn resolve(modules: &BTreeSet<String>, prefix: &[&str]) -> Option<String> {
    (1..=prefix.len())
        .rev()
        .map(|n| prefix[..n].join("::"))
        .find(|m| modules.contains(m))
}

fn path_after<'a>(text: &'a str, marker: &str) -> Vec<Vec<&'a str>> {
    text.match_indices(marker)
        .map(|(i, _)| {
            text[i + marker.len()..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .filter(|s| !s.is_empty())
                .collect()
        })
        .collect()
}

/// Edges between modules (file level), parent-to-child declarations excluded.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let is_folder = file.ends_with("mod.rs");
        let parent: Vec<&str> = if is_folder {
            from.split("::").collect()
        } else {
            let mut p: Vec<&str> = from.split("::").collect();
            p.pop();
            p
        };
        let mut targets = BTreeSet::new();
        for path in path_after(&text, "crate::") {
            if let Some(m) = resolve(&modules, &path) {
                targets.insert(m);
            }
        }
        for path in path_after(&text, "super::") {
            let mut base: Vec<&str> = parent.clone();
            if is_folder {
                base.pop();
            }
            base.extend(path);
            if let Some(m) = resolve(&modules, &base) {
                targets.insert(m);
            }
        }
        targets.remove(&from);
        edges.entry(from).or_default().extend(targets);
    }
    edges
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap()
}

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top(m)))
}

/// The layers as the docs write them: `cli → … → {cost, control} → …`.
fn order() -> String {
    let names: Vec<String> = LAYERS
        .iter()
        .map(|l| match l {
            [one] => (*one).to_owned(),
            many => format!("{{{}}}", many.join(", ")),
        })
        .collect();
    names.join(" → ")
}

/// The edges that break the layering: an import of an outer layer, or of a sibling in
/// the module's own layer.
fn misplaced<'a>(edges: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, to) in edges {
        let (Some(i), Some(j)) = (layer_of(from), layer_of(to)) else {
            continue;
        };
        if j < i {
            wrong.push(format!("{from} → {to} (outwards)"));
        } else if j == i && top(from) != top(to) {
            wrong.push(format!("{from} → {to} (between siblings)"));
        }
    }
    wrong
}

#[test]
fn top_level_modules_depend_inwards_only() {
    let graph = graph();
    let edges = graph
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from.as_str(), to.as_str())));
    let wrong = misplaced(edges);
    assert!(
        wrong.is_empty(),
        "these imports break the layers (order: {}):\n{}",
        order(),
        wrong.join("\n")
    );
    // The check itself can fail: outwards, and sideways between siblings.
    assert_eq!(misplaced([("control::controller", "api")]).len(), 1);
    assert_eq!(misplaced([("cost::monitor", "control::store")]).len(), 1);
    assert_eq!(misplaced([("store::events", "telemetry")]).len(), 1);
    assert!(
        misplaced([
            ("cost::monitor", "store"),
            ("cost::monitor", "cost::outbox")
        ])
        .is_empty()
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    // A module outside `LAYERS` would escape the check above.
    let unplaced: BTreeSet<String> = graph()
        .keys()
        .map(|m| top(m))
        .filter(|t| !t.is_empty() && layer_of(t).is_none())
        .map(str::to_owned)
        .collect();
    assert!(
        unplaced.is_empty(),
        "give these modules a place in LAYERS: {unplaced:?}"
    );
}

#[test]
fn sibling_files_have_no_import_cycle() {
    let graph = graph();
    // Within each folder, edges between its child files (the folder's mod.rs is the
    // folder itself, and may use its children and be used by them).
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let folder = start.rsplit_once("::").map(|(f, _)| f);
        let siblings = |m: &str| m.rsplit_once("::").map(|(f, _)| f) == folder;
        // Depth-first search for a path back to `start` through siblings only.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if !siblings(next) || folder.is_none() {
                    continue;
                }
                if next == start {
                    cycles.push(format!("{} → {start}", trail.join(" → ")));
                } else if seen.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_architecture_doc_names_every_source_file() {
    let doc = std::fs::read_to_string(repo().join("docs/ARCHITECTURE.md")).unwrap();
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut missing: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(repo()).unwrap().to_str().unwrap().to_owned())
        .filter(|f| !doc.contains(&format!("`{f}`")))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md's code map does not name:\n{}",
        missing.join("\n")
    );
    let layers = format!("`{}`", order());
    assert!(
        doc.contains(&layers),
        "docs/ARCHITECTURE.md's code map does not state the layers as LAYERS has them: {layers}"
    );
}

/// Every path under `src/` (or `tests/`, `benches/`, `templates/`, `localstack/`,
/// `docs/`) that README.md or docs/ARCHITECTURE.md names exists: a moved file must not
/// leave a sentence pointing at nothing.
#[test]
fn every_path_the_docs_name_exists() {
    let roots = [
        "src/",
        "tests/",
        "benches/",
        "templates/",
        "localstack/",
        "docs/",
    ];
    let mut wrong = Vec::new();
    for doc in ["README.md", "docs/ARCHITECTURE.md"] {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        for (i, _) in text.match_indices('`') {
            let rest = &text[i + 1..];
            let Some(end) = rest.find('`') else { break };
            let quoted = &rest[..end];
            if !roots.iter().any(|r| quoted.starts_with(r)) || quoted.contains(char::is_whitespace)
            {
                continue;
            }
            // `src/control/core/` or `tests/it/sim.rs`; a glob or a placeholder names no
            // one file.
            if quoted.contains(['*', '<', '{', '…']) {
                continue;
            }
            let path = quoted.split(':').next().unwrap();
            if !repo().join(path).exists() {
                wrong.push(format!("{doc}: `{quoted}`"));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "the docs name paths that do not exist:\n{}",
        wrong.join("\n")
    );
}

/// The CI's second pass (.ci/run) runs on moto a smoke set of the tests whose emulator
/// `GEOPLAN_EMULATOR` chooses: each of its filters must name exactly one test (a renamed
/// test must not leave a filter that runs nothing, or one that runs more than meant),
/// and the set must cover each kind: an apply, `serve`, the HA fence, tables.
#[test]
fn the_moto_pass_names_backend_tests() {
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let pass = ci
        .split("GEOPLAN_EMULATOR=moto cargo test")
        .nth(1)
        .expect(".ci/run has a moto pass");
    let pass = pass.split("2>&1").next().unwrap();
    let filters: Vec<&str> = pass
        .split_whitespace()
        .skip_while(|w| *w != "--")
        .skip(1)
        .filter(|w| *w != "\\")
        .collect();
    assert!(!filters.is_empty(), "no test filters in the moto pass");
    let mut files = Vec::new();
    rust_files(&repo().join("tests/it"), &mut files);
    let mut tests = Vec::new();
    for file in files {
        let module = file.file_stem().unwrap().to_str().unwrap().to_owned();
        if module == "layout" {
            continue; // this file names the call, it does not make it
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Each function's text runs from its `fn` to the next one.
        let starts: Vec<usize> = text
            .match_indices("\nasync fn ")
            .map(|(i, _)| i)
            .chain(text.match_indices("\nfn ").map(|(i, _)| i))
            .collect();
        let mut starts = starts;
        starts.sort_unstable();
        for (k, &at) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(text.len());
            let body = &text[at..end];
            let name = body
                .trim_start()
                .trim_start_matches("async ")
                .trim_start_matches("fn ")
                .split('(')
                .next()
                .unwrap();
            // Only `#[...test]` functions count (the example tests start the chosen
            // emulator through a helper).
            let before = &text[..at];
            let attr = before
                .rsplit('\n')
                .find(|l| {
                    !l.trim().is_empty()
                        && !l.trim_start().starts_with("///")
                        && !l.trim_start().starts_with("//")
                })
                .unwrap_or("");
            if !attr.contains("test") {
                continue;
            }
            tests.push(format!("{module}::{name}"));
        }
    }
    for f in &filters {
        let named: Vec<&String> = tests.iter().filter(|t| t.contains(f)).collect();
        assert_eq!(
            named.len(),
            1,
            "the moto pass's filter {f:?} names {named:?}, not one test"
        );
    }
    for kind in ["emulator::", "serve::", "ha::", "tables::"] {
        assert!(
            filters.iter().any(|f| f.starts_with(kind)),
            "the moto pass runs no {kind} test"
        );
    }
}
