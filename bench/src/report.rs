//! The benchmark table and the `docs/benchmarks.md` it is written to.

use std::fmt::Write as _;

/// One measured comparison.
pub struct Row {
    /// What was measured.
    pub measure: String,
    /// Our figure.
    pub ours: String,
    /// The baseline's figure.
    pub baseline: String,
    /// ours / baseline.
    pub ratio: String,
    /// The target, if any.
    pub goal: String,
    /// Whether the target was met.
    pub verdict: Verdict,
}

/// Whether a goal was met.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Met.
    Met,
    /// Missed.
    Missed,
    /// No goal: for information.
    Info,
}

impl Verdict {
    /// Met when `ok`.
    pub fn of(ok: bool) -> Self {
        if ok { Verdict::Met } else { Verdict::Missed }
    }

    fn text(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "**missed**",
            Verdict::Info => "",
        }
    }
}

/// A scenario's rows and notes.
pub struct Section {
    /// Heading.
    pub title: String,
    /// What ours and the baseline are.
    pub setup: String,
    /// The comparisons.
    pub rows: Vec<Row>,
    /// Further observations (errors seen, counts).
    pub notes: Vec<String>,
}

/// The best (shortest) of timed runs, in seconds.
pub fn best(runs: &[f64]) -> f64 {
    runs.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Timed runs, in seconds, as a list for a note.
pub fn runs_list(runs: &[f64]) -> String {
    runs.iter()
        .map(|s| format!("{s:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats a ratio as a percentage.
pub fn percent(ratio: f64) -> String {
    format!("{:.0}%", ratio * 100.0)
}

/// Formats a ratio as a multiple.
pub fn times(ratio: f64) -> String {
    format!("{ratio:.2}x")
}

/// What profiling the scenarios found, kept with the figures.
const FINDINGS: &str = include_str!("findings.md");

/// Heading of the history table.
const HISTORY: &str = "## History";
/// Full runs the history keeps.
const HISTORY_RUNS: usize = 12;

/// One line of figures for the history: every ratio that has a goal.
pub fn headline(sections: &[Section]) -> String {
    sections
        .iter()
        .flat_map(|section| {
            // Ratio goals only: the others (bounded, shed, flat) are yes or no.
            let goals: Vec<&Row> = section
                .rows
                .iter()
                .filter(|r| r.goal.starts_with(">=") || r.goal.starts_with("<="))
                .collect();
            let single = goals.len() == 1;
            goals.into_iter().map(move |r| {
                let what = if single {
                    section.title.clone()
                } else {
                    format!("{} ({})", section.title, r.measure)
                };
                let verdict = if r.verdict == Verdict::Missed {
                    " missed"
                } else {
                    ""
                };
                format!("{what} {}{verdict}", r.ratio)
            })
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The history rows: this run's first, then the previous document's.
pub fn history(previous: &str, headline: &str) -> Vec<String> {
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".into());
    let now = format!(
        "| {} | {revision} | {headline} |",
        chrono::Utc::now().format("%Y-%m-%d")
    );
    let earlier = previous
        .split_once(HISTORY)
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .lines()
        .skip_while(|l| !l.starts_with("| ---"))
        .skip(1)
        .take_while(|l| l.starts_with("| "))
        .map(str::to_owned);
    std::iter::once(now)
        .chain(earlier)
        .take(HISTORY_RUNS)
        .collect()
}

/// The markdown document.
pub fn render(machine: &str, command: &str, sections: &[Section], history: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Every figure here comes from one run of `{command}`, which rewrites this file. \
         Each scenario measures the suite and its baseline in the same run on the same \
         machine and reports the ratio; absolute numbers move between machines, ratios much less.\n"
    );
    let _ = writeln!(out, "{machine}\n");
    for section in sections {
        let _ = writeln!(out, "## {}\n\n{}\n", section.title, section.setup);
        let _ = writeln!(out, "| measure | ours | baseline | ratio | goal | |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- | --- |");
        for r in &section.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.measure,
                r.ours,
                r.baseline,
                r.ratio,
                r.goal,
                r.verdict.text()
            );
        }
        out.push('\n');
        for note in &section.notes {
            let _ = writeln!(out, "- {note}");
        }
        if !section.notes.is_empty() {
            out.push('\n');
        }
    }
    out.push_str(FINDINGS);
    if !history.is_empty() {
        let _ = writeln!(
            out,
            "{HISTORY}\n\nThe goal ratios of the last full runs, newest first, so a regression shows.\n"
        );
        let _ = writeln!(out, "| run | commit | ratios against their baselines |");
        let _ = writeln!(out, "| --- | --- | --- |");
        for row in history {
            let _ = writeln!(out, "{row}");
        }
    }
    out
}
