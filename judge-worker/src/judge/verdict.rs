//! From a sandbox [`RunReport`] to what the user is told: the verdict of a test case, the
//! reason a compilation failed, and the compile output.

use std::time::Duration;

use messaging::contract::{TestcaseResult, Verdict};
use sandbox::{RunReport, Termination};

use super::compare::outputs_match;
use super::spec::COMPILE_OUTPUT_CAP;

/// Lines on stderr by which a runtime says it ran out of memory. Managed runtimes hit their
/// own heap limit (`-Xmx`) before the sandbox's, exit non-zero and say so; C++ throws
/// `bad_alloc` when `RLIMIT_AS` refuses an allocation. All three are memory verdicts, not
/// crashes. (A `StackOverflowError` stays a runtime error: the stack is the program's.)
const OUT_OF_MEMORY_MARKERS: [Marker; 3] = [
    Marker::Contains("java.lang.OutOfMemoryError"),
    // CPython's last traceback line: `MemoryError` or `MemoryError: ...`.
    Marker::LineStartsWith("MemoryError"),
    Marker::Contains("std::bad_alloc"),
];

enum Marker {
    Contains(&'static str),
    LineStartsWith(&'static str),
}

/// The verdict of one test case run.
pub(crate) fn run_verdict(report: &RunReport, cpu_limit: Duration, expected: &[u8]) -> Verdict {
    match report.termination {
        // Too much written: to stdout, to one file, or to the disk quota.
        Termination::OutputLimit | Termination::FileSizeLimit => Verdict::OutputLimitExceeded,
        Termination::MemoryLimit => Verdict::MemoryLimitExceeded,
        Termination::CpuTimeLimit | Termination::WallTimeLimit => Verdict::TimeLimitExceeded,
        // A program that finished but used more CPU than allowed was too slow all the same.
        _ if report.cpu_time > cpu_limit => Verdict::TimeLimitExceeded,
        Termination::Exited(0) => {
            if outputs_match(&report.stdout, expected) {
                Verdict::Accepted
            } else {
                Verdict::WrongAnswer
            }
        }
        Termination::Exited(_) | Termination::Signaled(_) => {
            if reports_out_of_memory(&report.stderr) {
                Verdict::MemoryLimitExceeded
            } else {
                Verdict::RuntimeError
            }
        }
    }
}

fn reports_out_of_memory(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    OUT_OF_MEMORY_MARKERS.iter().any(|marker| match marker {
        Marker::Contains(needle) => text.contains(needle),
        Marker::LineStartsWith(prefix) => text.lines().any(|line| line.starts_with(prefix)),
    })
}

/// How a compilation ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Compilation {
    Succeeded,
    /// `reason` is a line for the user when the compiler's own output does not explain the
    /// failure: a compiler that exits non-zero has said why, a killed one has not.
    Failed {
        reason: Option<String>,
    },
}

pub(crate) fn compilation(report: &RunReport) -> Compilation {
    let reason = match report.termination {
        Termination::Exited(0) => return Compilation::Succeeded,
        Termination::Exited(code) => (report.stdout.is_empty() && report.stderr.is_empty())
            .then(|| format!("compiler exited with code {code}")),
        Termination::Signaled(signal) => Some(format!("compiler was killed by signal {signal}")),
        Termination::CpuTimeLimit | Termination::WallTimeLimit => {
            Some("compilation exceeded its time limit".to_owned())
        }
        Termination::MemoryLimit => Some("compilation exceeded its memory limit".to_owned()),
        Termination::OutputLimit => Some("compilation exceeded its output limit".to_owned()),
        Termination::FileSizeLimit => {
            Some("compilation exceeded its file size limit or its disk quota".to_owned())
        }
    };
    Compilation::Failed { reason }
}

/// The compiler's stdout and stderr as lossy UTF-8, then the reason line if any, at most
/// [`COMPILE_OUTPUT_CAP`] bytes in all (the compiler output is cut, the reason kept).
pub(crate) fn compile_output(report: &RunReport, reason: Option<&str>) -> String {
    let mut bytes = report.stdout.clone();
    bytes.extend_from_slice(&report.stderr);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    let room = match reason {
        Some(reason) => COMPILE_OUTPUT_CAP.saturating_sub(reason.len() + 2),
        None => COMPILE_OUTPUT_CAP,
    };
    truncate_at_char_boundary(&mut text, room);
    if let Some(reason) = reason {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(reason);
        text.push('\n');
    }
    text
}

fn truncate_at_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// The result of a test case that ran.
pub(crate) fn testcase_result(
    index: usize,
    verdict: Verdict,
    report: &RunReport,
) -> TestcaseResult {
    let (exit_code, signal) = match report.termination {
        Termination::Exited(code) => (Some(code), None),
        Termination::Signaled(signal) => (None, Some(signal)),
        _ => (None, None),
    };
    TestcaseResult {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        verdict,
        cpu_time_ms: millis(report.cpu_time),
        wall_time_ms: millis(report.wall_time),
        memory_kb: report.peak_memory_bytes / 1024,
        exit_code,
        signal,
    }
}

/// The result of a test case that was not run.
pub(crate) fn skipped(index: usize) -> TestcaseResult {
    TestcaseResult {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        verdict: Verdict::Skipped,
        cpu_time_ms: 0,
        wall_time_ms: 0,
        memory_kb: 0,
        exit_code: None,
        signal: None,
    }
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(1);

    fn report(termination: Termination, stdout: &str, stderr: &str) -> RunReport {
        RunReport {
            termination,
            cpu_time: Duration::from_millis(10),
            wall_time: Duration::from_millis(12),
            peak_memory_bytes: 3 << 20,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    fn verdict(termination: Termination, stdout: &str, stderr: &str) -> Verdict {
        run_verdict(&report(termination, stdout, stderr), LIMIT, b"3\n")
    }

    #[test]
    fn limits_map_to_their_verdicts() {
        use Termination::*;
        assert_eq!(verdict(OutputLimit, "", ""), Verdict::OutputLimitExceeded);
        assert_eq!(
            verdict(FileSizeLimit, "3\n", ""),
            Verdict::OutputLimitExceeded
        );
        assert_eq!(
            verdict(MemoryLimit, "3\n", ""),
            Verdict::MemoryLimitExceeded
        );
        assert_eq!(verdict(CpuTimeLimit, "3\n", ""), Verdict::TimeLimitExceeded);
        assert_eq!(verdict(WallTimeLimit, "", ""), Verdict::TimeLimitExceeded);
    }

    #[test]
    fn clean_exit_is_compared() {
        assert_eq!(
            verdict(Termination::Exited(0), "3 \n\n", ""),
            Verdict::Accepted
        );
        assert_eq!(
            verdict(Termination::Exited(0), "4\n", ""),
            Verdict::WrongAnswer
        );
        assert_eq!(
            verdict(Termination::Exited(0), "", ""),
            Verdict::WrongAnswer
        );
    }

    #[test]
    fn too_much_cpu_is_a_time_limit_even_after_a_clean_exit() {
        let mut r = report(Termination::Exited(0), "3\n", "");
        r.cpu_time = LIMIT + Duration::from_millis(1);
        assert_eq!(run_verdict(&r, LIMIT, b"3\n"), Verdict::TimeLimitExceeded);
        r.cpu_time = LIMIT;
        assert_eq!(run_verdict(&r, LIMIT, b"3\n"), Verdict::Accepted);
    }

    #[test]
    fn crashes_are_runtime_errors() {
        assert_eq!(
            verdict(Termination::Exited(1), "3\n", ""),
            Verdict::RuntimeError
        );
        assert_eq!(
            verdict(Termination::Signaled(11), "", ""),
            Verdict::RuntimeError
        );
        let java_stack =
            "Exception in thread \"main\" java.lang.StackOverflowError\n\tat Main.f(Main.java:3)\n";
        assert_eq!(
            verdict(Termination::Exited(1), "", java_stack),
            Verdict::RuntimeError
        );
        let python = "Traceback (most recent call last):\n  File \"main.py\", line 1\nZeroDivisionError: division by zero\n";
        assert_eq!(
            verdict(Termination::Exited(1), "", python),
            Verdict::RuntimeError
        );
    }

    #[test]
    fn runtimes_reporting_out_of_memory_are_memory_limits() {
        let java = "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space\n";
        assert_eq!(
            verdict(Termination::Exited(1), "", java),
            Verdict::MemoryLimitExceeded
        );
        let python = "Traceback (most recent call last):\n  File \"main.py\", line 1, in <module>\nMemoryError\n";
        assert_eq!(
            verdict(Termination::Exited(1), "", python),
            Verdict::MemoryLimitExceeded
        );
        let cpp = "terminate called after throwing an instance of 'std::bad_alloc'\n  what():  std::bad_alloc\n";
        assert_eq!(
            verdict(Termination::Signaled(6), "", cpp),
            Verdict::MemoryLimitExceeded
        );
        // Only at the start of a line for Python: a message that mentions it is not enough.
        let other = "ValueError: not a MemoryError\n";
        assert_eq!(
            verdict(Termination::Exited(1), "", other),
            Verdict::RuntimeError
        );
        // A clean exit is compared, whatever stderr says.
        assert_eq!(
            verdict(Termination::Exited(0), "3\n", python),
            Verdict::Accepted
        );
    }

    #[test]
    fn compile_failures_and_their_reasons() {
        let failed = |reason: Option<&str>| Compilation::Failed {
            reason: reason.map(str::to_owned),
        };
        let ok = report(Termination::Exited(0), "", "warning: x\n");
        assert_eq!(compilation(&ok), Compilation::Succeeded);
        let errors = report(Termination::Exited(1), "", "main.c:1: error\n");
        assert_eq!(compilation(&errors), failed(None));
        let silent = report(Termination::Exited(4), "", "");
        assert_eq!(
            compilation(&silent),
            failed(Some("compiler exited with code 4"))
        );
        let killed = report(Termination::Signaled(9), "", "");
        assert_eq!(
            compilation(&killed),
            failed(Some("compiler was killed by signal 9"))
        );
        let slow = report(Termination::WallTimeLimit, "", "");
        assert_eq!(
            compilation(&slow),
            failed(Some("compilation exceeded its time limit"))
        );
        let slow = report(Termination::CpuTimeLimit, "", "");
        assert_eq!(
            compilation(&slow),
            failed(Some("compilation exceeded its time limit"))
        );
        let big = report(Termination::MemoryLimit, "", "");
        assert_eq!(
            compilation(&big),
            failed(Some("compilation exceeded its memory limit"))
        );
        let spam = report(Termination::OutputLimit, "", "");
        assert_eq!(
            compilation(&spam),
            failed(Some("compilation exceeded its output limit"))
        );
        let full = report(Termination::FileSizeLimit, "", "");
        assert_eq!(
            compilation(&full),
            failed(Some(
                "compilation exceeded its file size limit or its disk quota"
            ))
        );
    }

    #[test]
    fn compile_output_is_capped_and_keeps_the_reason() {
        let r = report(Termination::Exited(1), "out\n", "err");
        assert_eq!(compile_output(&r, None), "out\nerr");
        assert_eq!(
            compile_output(&r, Some("compilation exceeded its time limit")),
            "out\nerr\ncompilation exceeded its time limit\n"
        );

        let mut huge = report(Termination::OutputLimit, "", "");
        huge.stderr = "é".repeat(COMPILE_OUTPUT_CAP).into_bytes();
        huge.stderr.push(0xff);
        let text = compile_output(&huge, Some("reason"));
        assert!(text.len() <= COMPILE_OUTPUT_CAP, "{}", text.len());
        assert!(text.ends_with("é\nreason\n"));
        let text = compile_output(&huge, None);
        assert!(text.len() <= COMPILE_OUTPUT_CAP);
    }

    #[test]
    fn results_carry_the_measurements() {
        let r = report(Termination::Signaled(11), "", "");
        let result = testcase_result(2, Verdict::RuntimeError, &r);
        assert_eq!(result.index, 2);
        assert_eq!(result.cpu_time_ms, 10);
        assert_eq!(result.wall_time_ms, 12);
        assert_eq!(result.memory_kb, 3 * 1024);
        assert_eq!(result.exit_code, None);
        assert_eq!(result.signal, Some(11));
        let r = report(Termination::Exited(0), "", "");
        assert_eq!(testcase_result(0, Verdict::Accepted, &r).exit_code, Some(0));
        let s = skipped(5);
        assert_eq!(
            (s.index, s.verdict, s.cpu_time_ms),
            (5, Verdict::Skipped, 0)
        );
    }
}
