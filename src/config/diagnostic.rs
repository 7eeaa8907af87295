//! Problems found in a config file, located by line and column, and their rendering.
//!
//! The compiler collects every problem before it returns (vector's config compiler
//! does the same), so a user fixes a file in one round instead of one error a run.

use std::fmt::Write as _;
use std::ops::Range;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem at one place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    /// The dotted path of the offending field, e.g. `region[1].health.interval`.
    pub field: String,
    pub message: String,
    /// Byte range in the source the caret goes under.
    pub span: Range<usize>,
    /// Short text shown beside the caret.
    pub label: String,
    pub help: Option<String>,
    /// Another place the problem involves, e.g. the first of two duplicates.
    pub related: Option<Range<usize>>,
}

/// A config file's name and text, kept to locate and quote issues.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    /// Shared, not copied, by every rendered issue.
    pub text: std::sync::Arc<str>,
    /// Byte offset of each line's start, so locating an issue is a binary search, not
    /// a scan from the top (which made N issues cost N × the file).
    line_starts: Vec<usize>,
}

/// A 1-based position, columns counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: &str) -> SourceFile {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            text: text.into(),
            line_starts,
        }
    }

    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        let column = self.text[line_start..offset].chars().count() + 1;
        Position { line, column }
    }
}

/// How many issues the text rendering shows in full; the rest are counted.
pub const MAX_SHOWN: usize = 50;

/// Every problem found in one config file.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub source: SourceFile,
    pub issues: Vec<Issue>,
}

/// The JSON form of an issue, for `validate --json` and editors.
#[derive(Debug, Serialize)]
pub struct IssueRecord<'a> {
    pub severity: Severity,
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
    pub field: &'a str,
    pub message: &'a str,
    pub help: Option<&'a str>,
}

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Issue> {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    pub fn records(&self) -> Vec<IssueRecord<'_>> {
        self.issues
            .iter()
            .map(|issue| {
                let at = self.source.position(issue.span.start);
                IssueRecord {
                    severity: issue.severity,
                    file: &self.source.name,
                    line: at.line,
                    column: at.column,
                    field: &issue.field,
                    message: &issue.message,
                    help: issue.help.as_deref(),
                }
            })
            .collect()
    }

    /// Renders every issue: a `file:line:column: severity: message` line that editors
    /// and grep understand, then the quoted source with a caret under the value.
    pub fn render(&self, color: bool) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
        let mut out = String::new();
        // Errors first: with more issues than are shown, the ones that block matter most.
        let mut shown: Vec<&Issue> = self.errors().chain(self.warnings()).collect();
        let hidden = shown.len().saturating_sub(MAX_SHOWN);
        shown.truncate(MAX_SHOWN);
        shown.sort_by_key(|i| (i.span.start, i.span.end));
        for issue in shown {
            let at = self.source.position(issue.span.start);
            let kind = match issue.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let _ = writeln!(
                out,
                "{}:{}:{}: {kind}: {}",
                self.source.name, at.line, at.column, issue.message
            );
            let mut diagnostic = MietteDiagnostic::new(issue.message.clone())
                .with_severity(match issue.severity {
                    Severity::Error => miette::Severity::Error,
                    Severity::Warning => miette::Severity::Warning,
                })
                .with_label(LabeledSpan::at(issue.span.clone(), issue.label.clone()));
            if let Some(first) = &issue.related {
                let at = self.source.position(first.start);
                diagnostic =
                    diagnostic.and_label(LabeledSpan::at(first.clone(), "first declared here"));
                if issue.help.is_none() {
                    let help = format!(
                        "first declared at {}:{}:{}; remove one",
                        self.source.name, at.line, at.column
                    );
                    diagnostic = diagnostic.with_help(help);
                }
            }
            if let Some(help) = &issue.help {
                diagnostic = diagnostic.with_help(help.clone());
            }
            let report = miette::Report::new(diagnostic).with_source_code(NamedSource::new(
                &self.source.name,
                self.source.text.clone(),
            ));
            let _ = handler.render_report(&mut out, report.as_ref());
        }
        if hidden > 0 {
            let _ = writeln!(
                out,
                "{}: {hidden} more issue{} not shown (`geoplan validate --json` lists them all)",
                self.source.name,
                plural(hidden)
            );
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        if errors > 0 {
            let _ = writeln!(
                out,
                "{}: {} error{}, {} warning{}",
                self.source.name,
                errors,
                plural(errors),
                warnings,
                plural(warnings)
            );
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let src = SourceFile::new("f.toml", "a = 1\nbé = \"x\"\n");
        assert_eq!(src.position(0), Position { line: 1, column: 1 });
        assert_eq!(src.position(6), Position { line: 2, column: 1 });
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(src.position(12), Position { line: 2, column: 6 });
        assert_eq!(src.position(10_000), Position { line: 3, column: 1 });
        assert_eq!(
            src.position(9),
            Position { line: 2, column: 3 },
            "inside a character: its start"
        );
    }

    #[test]
    fn rendering_shows_the_first_fifty_errors_and_counts_the_rest() {
        let text = "x = 1\n".repeat(60);
        let issue = |i: usize| Issue {
            severity: Severity::Error,
            field: format!("x{i}"),
            message: format!("problem {i}"),
            span: i * 6..i * 6 + 1,
            label: "here".into(),
            help: None,
            related: None,
        };
        let d = Diagnostics {
            source: SourceFile::new("f.toml", &text),
            issues: (0..60).map(issue).collect(),
        };
        let out = d.render(false);
        assert_eq!(out.matches(": error: problem").count(), 50);
        assert!(out.contains("f.toml:50:1: error: problem 49\n"), "{out}");
        assert!(!out.contains("problem 50\n"));
        assert!(
            out.ends_with(
                "f.toml: 10 more issues not shown (`geoplan validate --json` lists them all)\nf.toml: 60 errors, 0 warnings\n"
            ),
            "{out}"
        );
    }
}
