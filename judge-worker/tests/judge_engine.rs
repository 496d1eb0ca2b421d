//! The judge engine end to end through both sandbox mechanisms — the plain runner and, as
//! root (as CI runs), the namespace sandbox: real compilers and real programs in every
//! language of the built-in table, one verdict after another, the same verdicts from both.
//!
//! Each harness has a sandbox (its own cgroup and uids) and a work root of its own, removed
//! by a drop guard also when the test fails, so the tests run in parallel. To keep the number of compiles down (javac takes most of a
//! second), the run verdicts of a language come from one "behaviour" program that reads a
//! command from stdin, judged with `run_all_testcases` so every case runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use judge_worker::judge::{
    CompileCache, JudgeEngine, JudgeError, JudgeJob, JudgeOutcome, Toolchains,
};
use messaging::contract::{Limits, Testcase, Verdict};
use messaging::language::LanguageTable;
use messaging::semconv::span;
use sandbox::Sandbox;
use sandbox::namespaces::{NamespaceConfig, NamespaceSandbox};
use sandbox::plain::PlainProcess;

use Verdict::{
    Accepted, CompileError, MemoryLimitExceeded, OutputLimitExceeded, RuntimeError, Skipped,
    TimeLimitExceeded, WrongAnswer,
};

/// For Accepted cases: plenty, the machine is small and busy.
const GENEROUS: Limits = Limits {
    time_limit_ms: 5000,
    memory_limit_mb: 256,
};

/// For the limit verdicts: scaled per language (Java gets 2 s of CPU, Python 2.5 s).
const TIGHT: Limits = Limits {
    time_limit_ms: 500,
    memory_limit_mb: 64,
};

/// Time limits times `SANDBOX_TIME_SCALE` (default 1): the cgroup v2 lane runs under
/// software emulation, where a program's CPU time counts executed instructions at a rate
/// slower than this machine's.
fn scaled(limits: Limits) -> Limits {
    let scale: f64 = std::env::var("SANDBOX_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    Limits {
        time_limit_ms: (f64::from(limits.time_limit_ms) * scale) as u32,
        ..limits
    }
}

/// An engine over one mechanism, with its own work root (removed on drop).
struct Harness {
    engine: JudgeEngine,
    kind: &'static str,
    root: PathBuf,
    /// The compile cache's directory, if the engine has one (removed on drop).
    cache_dir: Option<PathBuf>,
}

/// Whether this process may use the namespace sandbox (root, as CI runs the tests).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

static SANDBOXES: AtomicU32 = AtomicU32::new(0);

/// A namespace sandbox of its own (cgroup name, uid range) for one harness.
fn namespace_sandbox() -> NamespaceSandbox {
    let pid = std::process::id();
    let n = SANDBOXES.fetch_add(1, Ordering::SeqCst);
    NamespaceSandbox::new(NamespaceConfig {
        slots: 1,
        base_uid: 2_000_000 + (pid % 20_000) * 256 + n,
        cgroup_name: format!("judge-engine-test-{pid}-{n}"),
        ..NamespaceConfig::default()
    })
    .expect("creating the namespace sandbox")
}

impl Harness {
    /// One harness per mechanism this process can use.
    fn all(name: &str) -> Vec<Harness> {
        Self::all_with_table(
            name,
            LanguageTable::builtin().expect("built-in language table"),
        )
    }

    fn all_with_table(name: &str, table: LanguageTable) -> Vec<Harness> {
        Self::all_with_engine(name, table, |engine, _| (engine, None))
    }

    /// One harness per mechanism, each engine finished by `finish` (given the harness's
    /// work root; it may return a directory of its own for the drop guard to remove).
    fn all_with_engine(
        name: &str,
        table: LanguageTable,
        finish: impl Fn(JudgeEngine, &std::path::Path) -> (JudgeEngine, Option<PathBuf>),
    ) -> Vec<Harness> {
        // The cgroup v2 lane (sandbox/vm) is about the namespace mechanism only.
        let mut kinds = if std::env::var_os("SANDBOX_EXPECT_CGROUP").is_some() {
            vec![]
        } else {
            vec!["plain"]
        };
        if is_root() {
            kinds.push("namespaces");
        } else {
            eprintln!("not root: the namespace sandbox is not tested");
        }
        kinds
            .into_iter()
            .map(|kind| {
                let root = std::env::temp_dir().join(format!(
                    "judge-engine-test-{}-{name}-{kind}",
                    std::process::id()
                ));
                let _ = std::fs::remove_dir_all(&root);
                let sandbox: Arc<dyn Sandbox> = match kind {
                    "plain" => Arc::new(PlainProcess::new(&root)),
                    _ => Arc::new(namespace_sandbox()),
                };
                let (engine, cache_dir) = finish(JudgeEngine::new(table.clone(), sandbox), &root);
                Harness {
                    engine,
                    kind,
                    root,
                    cache_dir,
                }
            })
            .collect()
    }

    /// [`Harness::all`] with fingerprinted toolchains (compiled cold) and a compile cache of
    /// 64 MiB each.
    fn all_cached(name: &str) -> Vec<Harness> {
        // Fingerprinting runs every compiler's `--version` (slow under the v2 lane's
        // emulation): once per test process.
        static TOOLCHAINS: std::sync::LazyLock<Toolchains> = std::sync::LazyLock::new(|| {
            Toolchains::prepare(&LanguageTable::builtin().expect("built-in table"), None)
        });
        let table = LanguageTable::builtin().expect("built-in language table");
        let toolchains = &*TOOLCHAINS;
        Self::all_with_engine(name, table, |engine, root| {
            let dir = PathBuf::from(format!("{}-cache", root.display()));
            let _ = std::fs::remove_dir_all(&dir);
            let cache = CompileCache::open(&dir, 64 << 20).expect("opening the compile cache");
            let engine = engine
                .with_toolchains(toolchains.clone())
                .with_compile_cache(cache);
            (engine, Some(dir))
        })
    }

    fn try_judge(
        &self,
        language: &str,
        source: &str,
        limits: Limits,
        testcases: &[Testcase],
        run_all_testcases: bool,
    ) -> Result<JudgeOutcome, JudgeError> {
        let job = JudgeJob {
            submission_id: uuid::Uuid::now_v7(),
            language,
            source,
            limits: scaled(limits),
            testcases,
            run_all_testcases,
        };
        self.engine.judge(0, &job)
    }

    fn judge(
        &self,
        language: &str,
        source: &str,
        limits: Limits,
        testcases: &[Testcase],
        run_all_testcases: bool,
    ) -> JudgeOutcome {
        self.try_judge(language, source, limits, testcases, run_all_testcases)
            .unwrap_or_else(|e| panic!("judging {language} under {} failed: {e}", self.kind))
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
        if let Some(dir) = &self.cache_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn tc(input: &str, output: &str) -> Testcase {
    Testcase {
        input: input.into(),
        output: output.into(),
    }
}

fn verdicts(outcome: &JudgeOutcome) -> Vec<Verdict> {
    outcome.results.iter().map(|r| r.verdict).collect()
}

// ---------------------------------------------------------------------------------------
// Sources. A+B, and the behaviour programs: `add a b`, `exit` (code 3), `crash`, `loop`,
// `alloc` (grow until stopped), `spam` (print forever), plus per-language extras.

const C_SUM: &str = r#"#include <stdio.h>
int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    printf("%lld\n", a + b);
    return 0;
}
"#;

const C_BEHAVIOUR: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static char *volatile keep;
int main(void) {
    char cmd[16];
    if (scanf("%15s", cmd) != 1) return 2;
    if (!strcmp(cmd, "add")) {
        long long a, b;
        if (scanf("%lld %lld", &a, &b) != 2) return 2;
        printf("%lld\n", a + b);
    } else if (!strcmp(cmd, "exit")) {
        return 3;
    } else if (!strcmp(cmd, "crash")) {
        volatile int *p = NULL;
        *p = 1;
    } else if (!strcmp(cmd, "loop")) {
        volatile unsigned long n = 0;
        for (;;) n++;
    } else if (!strcmp(cmd, "alloc")) {
        for (;;) {
            char *p = malloc(1 << 20);
            if (!p) return 4;
            memset(p, 1, 1 << 20);
            keep = p;
        }
    } else if (!strcmp(cmd, "spam")) {
        for (;;) fputs("spam spam spam spam\n", stdout);
    } else if (!strcmp(cmd, "untidy")) {
        /* Trailing spaces, a CR and trailing blank lines: still the right answer. */
        printf("3 \t\r\n\n\n");
    }
    return 0;
}
"#;

const CPP_SUM: &str = r#"#include <iostream>
int main() {
    std::ios::sync_with_stdio(false);
    long long a, b;
    if (!(std::cin >> a >> b)) return 1;
    std::cout << a + b << '\n';
}
"#;

const CPP_BEHAVIOUR: &str = r#"#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>
int main() {
    std::string cmd;
    std::cin >> cmd;
    if (cmd == "add") {
        long long a, b;
        std::cin >> a >> b;
        std::cout << a + b << '\n';
    } else if (cmd == "exit") {
        return 3;
    } else if (cmd == "crash") {
        throw std::runtime_error("boom");
    } else if (cmd == "loop") {
        volatile unsigned long n = 0;
        for (;;) n++;
    } else if (cmd == "alloc") {
        std::vector<std::vector<char>> keep;
        for (;;) keep.emplace_back(1 << 20, 'x');
    } else if (cmd == "spam") {
        for (;;) std::cout << "spam spam spam spam\n";
    } else if (cmd == "hugealloc") {
        // More than RLIMIT_AS allows: std::bad_alloc.
        volatile std::size_t n = std::size_t(1) << 42;
        char *p = new char[n];
        p[0] = 1;
        std::cout << int(p[0]) << '\n';
    }
}
"#;

const JAVA_SUM: &str = r#"import java.io.*;
import java.util.*;

public class Main {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        StringTokenizer st = new StringTokenizer(in.readLine());
        long a = Long.parseLong(st.nextToken());
        long b = Long.parseLong(st.nextToken());
        System.out.println(a + b);
    }
}
"#;

const JAVA_BEHAVIOUR: &str = r#"import java.io.*;
import java.util.*;

public class Main {
    static int depth(int n) {
        return depth(n + 1) + 1;
    }

    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        StringTokenizer st = new StringTokenizer(in.readLine());
        String cmd = st.nextToken();
        switch (cmd) {
            case "add":
                System.out.println(Long.parseLong(st.nextToken()) + Long.parseLong(st.nextToken()));
                break;
            case "exit":
                System.exit(3);
                break;
            case "crash":
                throw new IllegalStateException("boom");
            case "loop": {
                long n = 0;
                while (true) {
                    n++;
                    if (n == Long.MIN_VALUE) System.out.println(n);
                }
            }
            case "alloc": {
                List<long[]> keep = new ArrayList<>();
                while (true) keep.add(new long[1 << 20]);
            }
            case "spam": {
                PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out)));
                while (true) out.println("spam spam spam spam");
            }
            case "deep":
                System.out.println(depth(0));
                break;
        }
    }
}
"#;

const PYTHON_SUM: &str = "a, b = map(int, input().split())\nprint(a + b)\n";

const PYTHON_BEHAVIOUR: &str = r#"import sys

words = sys.stdin.readline().split()
cmd = words[0]
if cmd == "add":
    print(int(words[1]) + int(words[2]))
elif cmd == "exit":
    sys.exit(3)
elif cmd == "crash":
    print(1 // 0)
elif cmd == "loop":
    while True:
        pass
elif cmd == "alloc":
    keep = []
    while True:
        keep.append(b"x" * (1 << 20))
elif cmd == "spam":
    while True:
        sys.stdout.write("spam spam spam spam\n")
elif cmd == "hugealloc":
    # More than RLIMIT_AS allows: MemoryError.
    print(len(b"x" * (1 << 42)))
elif cmd == "note":
    # Leaves a file behind; the next test case must not see it.
    import os
    print("seen" if os.path.exists("note.txt") else "new")
    with open("note.txt", "w") as f:
        f.write("answers")
"#;

// ---------------------------------------------------------------------------------------
// Accepted, with several test cases and white space the comparison forgives.

fn sum_cases() -> Vec<Testcase> {
    vec![
        tc("1 2\n", "3\n"),
        // Expected output with trailing blank lines and trailing spaces.
        tc("-5 5\n", "0\n\n\n"),
        tc("1000000000 1000000000", "2000000000   \n"),
    ]
}

fn assert_accepted(language: &str, source: &str) {
    for harness in Harness::all(&format!("{language}-accepted")) {
        assert_accepted_by(&harness, language, source);
    }
}

fn assert_accepted_by(harness: &Harness, language: &str, source: &str) {
    let outcome = harness.judge(language, source, GENEROUS, &sum_cases(), false);
    assert_eq!(outcome.verdict, Accepted, "{}: {outcome:#?}", harness.kind);
    assert_eq!(verdicts(&outcome), [Accepted; 3]);
    for (i, result) in outcome.results.iter().enumerate() {
        assert_eq!(result.index as usize, i);
        assert_eq!(result.exit_code, Some(0));
        assert_eq!(result.signal, None);
        if language == "java" {
            // The JVM's resident memory shows (sampled long enough under the plain runner).
            assert!(result.memory_kb > 10 * 1024, "{}: {result:?}", harness.kind);
        }
    }
    assert!(outcome.compile_time > Duration::ZERO);
    assert!(outcome.run_time > Duration::ZERO);
    let wall: u64 = outcome.results.iter().map(|r| r.wall_time_ms).sum();
    assert!(wall <= outcome.run_time.as_millis() as u64);
}

#[test]
fn c_accepts_a_plus_b() {
    assert_accepted("c", C_SUM);
}

#[test]
fn cpp_accepts_a_plus_b() {
    assert_accepted("cpp", CPP_SUM);
}

#[test]
fn java_accepts_a_plus_b() {
    assert_accepted("java", JAVA_SUM);
}

#[test]
fn python_accepts_a_plus_b() {
    assert_accepted("python3", PYTHON_SUM);
}

// ---------------------------------------------------------------------------------------
// Compile errors: every test case Skipped, the compiler's message kept.

fn assert_compile_error(language: &str, source: &str, message: &str) {
    for harness in Harness::all(&format!("{language}-compile-error")) {
        assert_compile_error_by(&harness, language, source, message);
    }
}

fn assert_compile_error_by(harness: &Harness, language: &str, source: &str, message: &str) {
    let outcome = harness.judge(language, source, GENEROUS, &sum_cases(), true);
    assert_eq!(outcome.verdict, CompileError);
    assert_eq!(verdicts(&outcome), [Skipped; 3]);
    assert!(
        outcome
            .results
            .iter()
            .all(|r| r.cpu_time_ms == 0 && r.exit_code.is_none()),
        "{outcome:#?}"
    );
    assert!(
        outcome.compile_output.contains(message),
        "{language} under {}: {:?}",
        harness.kind,
        outcome.compile_output
    );
    assert!(outcome.compile_output.len() <= 64 * 1024);
    assert_eq!(outcome.run_time, Duration::ZERO);
}

#[test]
fn c_compile_error() {
    assert_compile_error("c", "int main( { return 0; }\n", "error");
}

#[test]
fn cpp_compile_error() {
    assert_compile_error("cpp", "int main() { undeclared(); }\n", "undeclared");
}

#[test]
fn java_compile_error() {
    assert_compile_error(
        "java",
        "public class Main { public static void main(String[] a) { int x = \"s\"; } }\n",
        "error",
    );
}

#[test]
fn python_syntax_error_is_a_compile_error() {
    assert_compile_error("python3", "def f(:\n    pass\n", "SyntaxError");
}

// ---------------------------------------------------------------------------------------
// Run verdicts: one behaviour program per language, every case run.

fn assert_run_verdicts(language: &str, source: &str, limits: Limits, extra: &[(&str, Verdict)]) {
    let mut cases = vec![
        (tc("add 1 2\n", "3\n"), Accepted),
        (tc("add 1 2\n", "4\n"), WrongAnswer),
        (tc("exit\n", ""), RuntimeError),
        (tc("crash\n", ""), RuntimeError),
        (tc("loop\n", ""), TimeLimitExceeded),
        (tc("alloc\n", ""), MemoryLimitExceeded),
        (tc("spam\n", ""), OutputLimitExceeded),
    ];
    cases.extend(extra.iter().map(|(input, v)| (tc(input, ""), *v)));
    let testcases: Vec<Testcase> = cases.iter().map(|(t, _)| t.clone()).collect();

    for harness in Harness::all(&format!("{language}-run-verdicts")) {
        let outcome = harness.judge(language, source, limits, &testcases, true);
        for ((testcase, expected), result) in cases.iter().zip(&outcome.results) {
            assert_eq!(
                result.verdict, *expected,
                "{language} under {} on {:?}: {result:?}",
                harness.kind, testcase.input
            );
        }
        assert_eq!(outcome.results.len(), cases.len());
        // The first case that is not Accepted decides.
        assert_eq!(outcome.verdict, WrongAnswer);
        assert_eq!(outcome.results[2].exit_code, Some(3));
        let tle = &outcome.results[4];
        assert!(tle.cpu_time_ms > 0 && tle.wall_time_ms > 0, "{tle:?}");
    }
}

#[test]
fn c_run_verdicts() {
    assert_run_verdicts("c", C_BEHAVIOUR, TIGHT, &[("untidy\n", WrongAnswer)]);
    // A segfault is reported with its signal.
    for harness in Harness::all("c-crash-signal") {
        let outcome = harness.judge("c", C_BEHAVIOUR, TIGHT, &[tc("crash\n", "")], false);
        assert_eq!(outcome.verdict, RuntimeError);
        assert!(outcome.results[0].signal.is_some(), "{outcome:?}");
    }
}

#[test]
fn cpp_run_verdicts() {
    assert_run_verdicts(
        "cpp",
        CPP_BEHAVIOUR,
        TIGHT,
        &[("hugealloc\n", MemoryLimitExceeded)],
    );
}

#[test]
fn java_run_verdicts() {
    // `deep` overflows the stack: StackOverflowError stays a runtime error. Filling the
    // 64 MiB stack (-Xss64m) takes the JVM to about 250 MiB resident, so with a small memory
    // limit it would be a memory limit instead: give the heap 256 MiB. `alloc` then runs
    // out of heap (OutOfMemoryError) before the sandbox's limit (256 + 96 MiB).
    let limits = Limits {
        memory_limit_mb: 256,
        ..TIGHT
    };
    assert_run_verdicts("java", JAVA_BEHAVIOUR, limits, &[("deep\n", RuntimeError)]);
}

#[test]
fn python_run_verdicts() {
    assert_run_verdicts(
        "python3",
        PYTHON_BEHAVIOUR,
        TIGHT,
        &[("hugealloc\n", MemoryLimitExceeded)],
    );
}

// ---------------------------------------------------------------------------------------
// Test case bookkeeping.

#[test]
fn program_output_with_trailing_white_space_is_accepted() {
    for harness in Harness::all("c-untidy") {
        let outcome = harness.judge(
            "c",
            C_BEHAVIOUR,
            GENEROUS,
            &[tc("untidy\n", "3\n"), tc("untidy\n", "3")],
            false,
        );
        assert_eq!(verdicts(&outcome), [Accepted, Accepted]);
    }
}

#[test]
fn cases_after_the_first_failure_are_skipped_unless_asked() {
    for harness in Harness::all("c-skipped") {
        let cases = [
            tc("add 1 2\n", "3\n"),
            tc("loop\n", ""),
            tc("add 2 2\n", "4\n"),
            tc("add 2 2\n", "5\n"),
        ];
        let outcome = harness.judge("c", C_BEHAVIOUR, TIGHT, &cases, false);
        assert_eq!(outcome.verdict, TimeLimitExceeded);
        assert_eq!(
            verdicts(&outcome),
            [Accepted, TimeLimitExceeded, Skipped, Skipped]
        );
        let skipped = &outcome.results[3];
        assert_eq!(skipped.index, 3);
        assert_eq!(
            (skipped.cpu_time_ms, skipped.wall_time_ms, skipped.memory_kb),
            (0, 0, 0)
        );

        let outcome = harness.judge("c", C_BEHAVIOUR, TIGHT, &cases, true);
        assert_eq!(outcome.verdict, TimeLimitExceeded);
        assert_eq!(
            verdicts(&outcome),
            [Accepted, TimeLimitExceeded, Accepted, WrongAnswer]
        );
    }
}

#[test]
fn files_left_by_one_test_case_are_gone_for_the_next() {
    for harness in Harness::all("python-note") {
        let cases = [tc("note\n", "new\n"), tc("note\n", "new\n")];
        let outcome = harness.judge("python3", PYTHON_BEHAVIOUR, GENEROUS, &cases, false);
        assert_eq!(verdicts(&outcome), [Accepted, Accepted]);
    }
}

#[test]
fn submissions_in_one_slot_start_from_an_empty_work_dir() {
    for harness in Harness::all("c-fresh") {
        let first = harness.judge("c", C_SUM, GENEROUS, &sum_cases(), false);
        assert_eq!(first.verdict, Accepted);
        // The binary of the previous submission must not survive a failed compile...
        let second = harness.judge("c", "int main( {", GENEROUS, &sum_cases(), false);
        assert_eq!(second.verdict, CompileError);
        // ...nor anything else of it: the next submission in the slot sees an empty workspace.
        let look = "import os\nprint(sorted(os.listdir('.')))\n";
        let third = harness.judge(
            "python3",
            look,
            GENEROUS,
            &[tc("", "['main.py', 'main.pyc']\n")],
            false,
        );
        assert_eq!(verdicts(&third), [Accepted], "{}: {third:?}", harness.kind);
    }
}

// ---------------------------------------------------------------------------------------
// Failures of the judge itself are errors, never verdicts.

const BROKEN_TABLE: &str = r#"
[[language]]
id = "broken"
name = "Runs a program that does not exist"
source_file = "main.txt"
run = ["./missing"]
env = ["PATH=/usr/bin:/bin"]
time_factor = 1.0
time_extra_ms = 0
memory_factor = 1.0
memory_extra_mb = 0
"#;

#[test]
fn unknown_language_is_an_error() {
    for harness in Harness::all("unknown") {
        let err = harness
            .try_judge("cobol", "", GENEROUS, &sum_cases(), false)
            .unwrap_err();
        assert!(
            matches!(err, JudgeError::UnknownLanguage(ref id) if id == "cobol"),
            "{err}"
        );
    }
}

#[test]
fn sandbox_failure_is_an_error_not_a_verdict() {
    let table = LanguageTable::parse(BROKEN_TABLE).unwrap();
    for harness in Harness::all_with_table("broken", table) {
        let err = harness
            .try_judge("broken", "x", GENEROUS, &sum_cases(), false)
            .unwrap_err();
        assert!(matches!(err, JudgeError::Sandbox(_)), "{err}");
    }
}

// ---------------------------------------------------------------------------------------
// Spans: judge.compile and one judge.run per executed case, under the current span.

/// A tracing layer that keeps every span's name, parent and fields.
#[derive(Clone, Default)]
struct SpanLog(Arc<Mutex<Vec<CapturedSpan>>>);

#[derive(Debug, Clone)]
struct CapturedSpan {
    id: u64,
    name: &'static str,
    parent: Option<&'static str>,
    fields: BTreeMap<String, String>,
}

struct FieldVisitor<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for SpanLog
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut FieldVisitor(&mut fields));
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.name());
        self.0.lock().unwrap().push(CapturedSpan {
            id: id.into_u64(),
            name: attrs.metadata().name(),
            parent,
            fields,
        });
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut log = self.0.lock().unwrap();
        if let Some(span) = log.iter_mut().rev().find(|s| s.id == id.into_u64()) {
            values.record(&mut FieldVisitor(&mut span.fields));
        }
    }
}

thread_local! {
    /// The log of the test running on this thread, if it captures spans.
    static CURRENT_LOG: std::cell::RefCell<Option<SpanLog>> = const { std::cell::RefCell::new(None) };
}

/// The global layer: hands each span to [`CURRENT_LOG`] of the thread that made it.
struct ThreadSpanLog;

impl<S> tracing_subscriber::Layer<S> for ThreadSpanLog
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(log) = CURRENT_LOG.with(|current| current.borrow().clone()) {
            tracing_subscriber::Layer::<S>::on_new_span(&log, attrs, id, ctx);
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(log) = CURRENT_LOG.with(|current| current.borrow().clone()) {
            tracing_subscriber::Layer::<S>::on_record(&log, id, values, ctx);
        }
    }
}

impl SpanLog {
    /// Runs `f` with this log taking the spans of this thread. One global subscriber
    /// forwards to the current thread's log: scoped subscribers (`with_default`) on parallel
    /// test threads race in tracing's interest cache, which then hides a span site from one
    /// of them ("never"), and the test sees no span.
    fn capture<T>(&self, f: impl FnOnce() -> T) -> T {
        use tracing_subscriber::layer::SubscriberExt;
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(ThreadSpanLog);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test binary");
        });
        CURRENT_LOG.with(|current| *current.borrow_mut() = Some(self.clone()));
        let result = f();
        CURRENT_LOG.with(|current| *current.borrow_mut() = None);
        result
    }

    fn names(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().iter().map(|s| s.name).collect()
    }

    fn named(&self, name: &str) -> Vec<CapturedSpan> {
        let log = self.0.lock().unwrap();
        log.iter().filter(|s| s.name == name).cloned().collect()
    }
}

fn field<'a>(span: &'a CapturedSpan, name: &str) -> &'a str {
    span.fields
        .get(name)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("span {} has no {name}: {:?}", span.name, span.fields))
}

#[test]
fn spans_for_compile_and_each_executed_case() {
    for harness in Harness::all("spans") {
        let log = SpanLog::default();
        let cases = [tc("1 2\n", "3\n"), tc("1 2\n", "4\n"), tc("1 2\n", "3\n")];
        let outcome = log.capture(|| {
            let submission = tracing::info_span!("test.submission");
            let _entered = submission.enter();
            harness.judge("c", C_SUM, GENEROUS, &cases, false)
        });
        assert_eq!(verdicts(&outcome), [Accepted, WrongAnswer, Skipped]);

        let compile = log.named(span::JUDGE_COMPILE);
        assert_eq!(compile.len(), 1);
        let compile = &compile[0];
        assert_eq!(compile.parent, Some("test.submission"));
        assert_eq!(field(compile, "judge.language"), "c");
        assert_eq!(field(compile, "sandbox.kind"), harness.kind);
        assert_eq!(field(compile, "process.exit.code"), "0");
        assert!(
            field(compile, "sandbox.wall_time_ms")
                .parse::<u64>()
                .is_ok()
        );
        assert!(!compile.fields.contains_key("otel.status_code"));

        // The skipped case has no span.
        let runs = log.named(span::JUDGE_RUN);
        assert_eq!(runs.len(), 2, "{runs:#?}");
        for (i, (run, verdict)) in runs.iter().zip(["Accepted", "WrongAnswer"]).enumerate() {
            assert_eq!(run.parent, Some("test.submission"));
            assert_eq!(field(run, "testcase.index"), i.to_string());
            assert_eq!(field(run, "judge.verdict"), verdict);
            assert_eq!(field(run, "process.exit.code"), "0");
            assert_eq!(field(run, "sandbox.termination"), "exited");
            assert!(field(run, "sandbox.cpu_time_ms").parse::<u64>().is_ok());
            assert!(field(run, "sandbox.memory_kb").parse::<u64>().is_ok());
            assert_eq!(field(run, "submission.id"), field(compile, "submission.id"));
        }
    }
}

#[test]
fn sandbox_failure_marks_the_span_as_an_error() {
    let table = LanguageTable::parse(BROKEN_TABLE).unwrap();
    for harness in Harness::all_with_table("span-error", table) {
        let log = SpanLog::default();
        let result =
            log.capture(|| harness.try_judge("broken", "x", GENEROUS, &[tc("", "")], false));
        assert!(result.is_err());
        let runs = log.named(span::JUDGE_RUN);
        assert_eq!(runs.len(), 1);
        assert_eq!(field(&runs[0], "otel.status_code"), "ERROR");
        assert!(field(&runs[0], "otel.status_description").contains("missing"));
        assert!(!runs[0].fields.contains_key("judge.verdict"));
    }
}

// ---------------------------------------------------------------------------------------
// The compile cache: a second compile of the same source is a restore, never a different
// result.

#[test]
fn the_same_source_is_compiled_once_and_judged_the_same() {
    for harness in Harness::all_cached("cache-hit") {
        for (language, source) in [("c", C_SUM), ("java", JAVA_SUM), ("python3", PYTHON_SUM)] {
            let first = harness.judge(language, source, GENEROUS, &sum_cases(), false);
            let second = harness.judge(language, source, GENEROUS, &sum_cases(), false);
            assert!(!first.compile_cached, "{language} under {}", harness.kind);
            assert!(second.compile_cached, "{language} under {}", harness.kind);
            assert_eq!(second.verdict, Accepted, "{}: {second:#?}", harness.kind);
            assert_eq!(verdicts(&second), verdicts(&first));
            assert_eq!(second.compile_output, first.compile_output);
            // Another source of the same language is a miss.
            let other = format!("{source}\n");
            let third = harness.judge(language, &other, GENEROUS, &sum_cases(), false);
            assert!(!third.compile_cached, "{language}: a different source hit");
            assert_eq!(third.verdict, Accepted);
        }
        let cache = harness.engine.compile_cache().expect("a cache");
        assert_eq!(cache.usage().0, 6, "{}", harness.kind);
    }
}

#[test]
fn compile_errors_are_cached_too() {
    for harness in Harness::all_cached("cache-error") {
        let source = "int main() { undeclared(); }\n";
        let first = harness.judge("cpp", source, GENEROUS, &sum_cases(), true);
        let second = harness.judge("cpp", source, GENEROUS, &sum_cases(), true);
        assert_eq!(first.verdict, CompileError);
        assert_eq!(second.verdict, CompileError);
        assert!(
            !first.compile_cached && second.compile_cached,
            "{}",
            harness.kind
        );
        assert!(second.compile_output.contains("undeclared"));
        assert_eq!(second.compile_output, first.compile_output);
        assert_eq!(verdicts(&second), [Skipped; 3]);
    }
}

/// Every entry file of the harness's cache, with a byte flipped in each.
fn corrupt_every_entry(harness: &Harness) -> usize {
    use std::os::unix::fs::PermissionsExt;
    let dir = harness.cache_dir.as_ref().expect("a cache");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
        n += 1;
    }
    n
}

#[test]
fn a_corrupted_entry_is_compiled_again() {
    for harness in Harness::all_cached("cache-corrupt") {
        let first = harness.judge("c", C_SUM, GENEROUS, &sum_cases(), false);
        assert!(!first.compile_cached);
        assert_eq!(corrupt_every_entry(&harness), 1);
        let second = harness.judge("c", C_SUM, GENEROUS, &sum_cases(), false);
        assert!(!second.compile_cached, "a corrupted entry was used");
        assert_eq!(second.verdict, Accepted, "{}: {second:#?}", harness.kind);
        let third = harness.judge("c", C_SUM, GENEROUS, &sum_cases(), false);
        assert!(third.compile_cached, "the recompiled build was not kept");
        assert_eq!(third.verdict, Accepted);
    }
}

/// Tries to overwrite, truncate and replace its own executable, then answers correctly.
const C_VANDAL: &str = r##"#include <stdio.h>
#include <unistd.h>
int main(void) {
    FILE *f = fopen("main", "r+");
    if (f) { fputs("garbage", f); fclose(f); }
    unlink("main");
    FILE *g = fopen("main", "w");
    if (g) { fputs("#!/bin/sh\necho 0\n", g); fclose(g); }
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    printf("%lld\n", a + b);
    return 0;
}
"##;

#[test]
fn a_run_cannot_change_a_cached_build() {
    for harness in Harness::all_cached("cache-vandal") {
        let cases = [tc("1 2\n", "3\n")];
        let first = harness.judge("c", C_VANDAL, GENEROUS, &cases, false);
        assert_eq!(first.verdict, Accepted, "{}: {first:#?}", harness.kind);
        for _ in 0..2 {
            let again = harness.judge("c", C_VANDAL, GENEROUS, &cases, false);
            assert!(again.compile_cached);
            assert_eq!(again.verdict, Accepted, "{}: {again:#?}", harness.kind);
        }
        if harness.kind == "namespaces" {
            // Every case sees the build read-only: the second case is as good as the first.
            let cases = [tc("1 2\n", "3\n"), tc("2 2\n", "4\n")];
            let both = harness.judge("c", C_VANDAL, GENEROUS, &cases, true);
            assert_eq!(verdicts(&both), [Accepted, Accepted]);
        }
    }
}

#[test]
fn a_cache_hit_says_so_in_the_compile_span() {
    for harness in Harness::all_cached("cache-span") {
        let log = SpanLog::default();
        log.capture(|| {
            harness.judge("c", C_SUM, GENEROUS, &sum_cases(), false);
            harness.judge("c", C_SUM, GENEROUS, &sum_cases(), false);
        });
        let compiles = log.named(span::JUDGE_COMPILE);
        assert_eq!(compiles.len(), 2, "{}: {:?}", harness.kind, log.names());
        assert_eq!(field(&compiles[0], "judge.compile.cached"), "false");
        assert_eq!(field(&compiles[1], "judge.compile.cached"), "true");
        assert!(compiles[0].fields.contains_key("sandbox.wall_time_ms"));
        // Nothing ran in the sandbox for the hit.
        assert!(!compiles[1].fields.contains_key("sandbox.wall_time_ms"));
        assert!(!compiles[1].fields.contains_key("process.exit.code"));
    }
}
