//! The rehearsal's record: one row per step (phase, case, what BACEN expects, what happened,
//! pass or fail, how long it took), printed as it goes.

use std::future::Future;
use std::time::Instant;

/// Characters of an observation kept in the report.
const MAX_OBSERVED: usize = 240;

/// One step of a roadmap.
#[derive(Debug, Clone)]
pub struct Step {
    /// `SPI`, `DICT`, `SPI capacity`, `DICT capacity`.
    pub phase: String,
    /// What the step rehearses.
    pub case: String,
    /// What BACEN checks.
    pub expected: String,
    /// What happened.
    pub observed: String,
    /// Whether it is what BACEN expects.
    pub passed: bool,
    /// How long the step took, in milliseconds.
    pub millis: f64,
}

/// The steps so far.
#[derive(Debug, Default)]
pub struct Log {
    /// In the order played.
    pub steps: Vec<Step>,
}

impl Log {
    /// Records a step begun at `started`, printing it.
    pub fn record(&mut self, phase: &str, case: &str, expected: &str, started: Instant, outcome: Outcome) {
        let (passed, observed) = match outcome {
            Ok(o) => (true, o),
            Err(o) => (false, o),
        };
        // One line, short enough for a table cell: the problem's detail is what matters.
        let observed = observed.split_whitespace().collect::<Vec<_>>().join(" ");
        let observed = match observed.char_indices().nth(MAX_OBSERVED) {
            Some((i, _)) => format!("{}…", &observed[..i]),
            None => observed,
        };
        let step = Step {
            phase: phase.to_string(),
            case: case.to_string(),
            expected: expected.to_string(),
            observed,
            passed,
            millis: started.elapsed().as_secs_f64() * 1000.0,
        };
        println!(
            "{} {:<14} {:<58} {:>8.0} ms  {}",
            if passed { "PASS" } else { "FAIL" },
            step.phase,
            step.case,
            step.millis,
            step.observed
        );
        self.steps.push(step);
    }

    /// Plays the step `case` of `phase`: `step`'s outcome, or its error as a failed observation
    /// (a transport failure is a failed step, never a reason to stop the rehearsal).
    pub async fn play(
        &mut self,
        phase: &str,
        case: &str,
        expected: &str,
        step: impl Future<Output = Result<Outcome, String>>,
    ) {
        let started = Instant::now();
        let outcome = step.await.unwrap_or_else(Err);
        self.record(phase, case, expected, started, outcome);
    }

    /// Whether every step passed (and there was at least one).
    pub fn all_passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.passed)
    }
}

/// A step's outcome: `Ok(observed)` when it is what BACEN expects, else `Err(observed)`.
pub type Outcome = Result<String, String>;

/// `Ok(observed)` when `ok`, else `Err(observed)`.
pub fn judge(ok: bool, observed: String) -> Outcome {
    if ok { Ok(observed) } else { Err(observed) }
}
