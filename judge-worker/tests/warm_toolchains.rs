//! Warm compiles through the real sandbox: the language table's precompiled header is used by
//! compiles that include it (GCC says so with `-H`; `-Winvalid-pch` would say if it refused
//! it) and changes nothing for those that do not; javac loads its classes from the archive
//! made at start; workers sharing the directory prepare each file once.
//!
//! The toolchain directory lives under the build's target directory (not /tmp, which every
//! run gets fresh), keyed by toolchain fingerprint, so only the first run of this test binary
//! on a machine precompiles `bits/stdc++.h`. Not part of the cgroup v2 lane: nothing here
//! depends on the cgroup version, and the lane's guest has no writable disk outside tmpfs.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use judge_worker::judge::{JudgeEngine, JudgeJob, JudgeOutcome, Toolchains};
use messaging::contract::{Limits, Testcase, Verdict};
use messaging::language::{Language, LanguageTable};
use sandbox::Sandbox;
use sandbox::namespaces::{NamespaceConfig, NamespaceSandbox};
use sandbox::plain::PlainProcess;

const LIMITS: Limits = Limits {
    time_limit_ms: 5000,
    memory_limit_mb: 256,
};

const CPP_STDCXX_SUM: &str = "#include <bits/stdc++.h>\nusing namespace std;\n\
    int main() { long long a, b; cin >> a >> b; cout << a + b << endl; }\n";
const CPP_CSTDIO_SUM: &str = "#include <cstdio>\n\
    int main() { long long a, b; if (scanf(\"%lld %lld\", &a, &b) != 2) return 1; printf(\"%lld\\n\", a + b); }\n";
const JAVA_SUM: &str = "import java.util.*;\npublic class Main { public static void main(String[] a) \
    { Scanner s = new Scanner(System.in); System.out.println(s.nextLong() + s.nextLong()); } }\n";

fn toolchain_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// A built-in row under another id, with `extra` compile flags right after argv[0].
fn variant(base: &str, id: &str, extra: &[&str]) -> Language {
    let table = LanguageTable::builtin().expect("built-in table");
    let mut row = table.get(base).expect("a built-in row").clone();
    row.id = id.to_owned();
    row.compile
        .splice(1..1, extra.iter().map(|s| s.to_string()));
    row
}

/// The built-in table plus rows that make the compiler say what it loads: `cpp-h` (GCC's
/// `-H`: `! <path>` for a precompiled header it uses) and `java-log` (the JVM's account of
/// the class-data archives it maps).
fn table() -> LanguageTable {
    let mut table = LanguageTable::builtin().expect("built-in table");
    table.languages.push(variant("cpp", "cpp-h", &["-H"]));
    table
        .languages
        .push(variant("java", "java-log", &["-J-Xlog:cds=info"]));
    table
}

/// Prepared once per test process, in a directory shared with earlier runs.
static TOOLCHAINS: LazyLock<Toolchains> =
    LazyLock::new(|| Toolchains::prepare(&table(), Some(&toolchain_dir("warm-toolchains"))));

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// An engine per sandbox mechanism this process can use, with the prepared toolchains.
fn engines(name: &str) -> Vec<(&'static str, JudgeEngine, PathBuf)> {
    let mut out = Vec::new();
    let pid = std::process::id();
    let root = std::env::temp_dir().join(format!("warm-toolchains-{pid}-{name}"));
    let _ = std::fs::remove_dir_all(&root);
    let plain: Arc<dyn Sandbox> = Arc::new(PlainProcess::new(&root));
    out.push(("plain", plain, root.clone()));
    if is_root() {
        let ns: Arc<dyn Sandbox> = Arc::new(
            NamespaceSandbox::new(NamespaceConfig {
                slots: 1,
                base_uid: 2_500_000 + (pid % 20_000) * 64 + name.len() as u32,
                cgroup_name: format!("warm-toolchains-test-{pid}-{name}"),
                ..NamespaceConfig::default()
            })
            .expect("creating the namespace sandbox"),
        );
        out.push(("namespaces", ns, root));
    }
    out.into_iter()
        .map(|(kind, sandbox, root)| {
            let engine = JudgeEngine::new(table(), sandbox).with_toolchains(TOOLCHAINS.clone());
            (kind, engine, root)
        })
        .collect()
}

fn judge(engine: &JudgeEngine, language: &str, source: &str) -> JudgeOutcome {
    let testcases = [Testcase {
        input: "20 22\n".into(),
        output: "42\n".into(),
    }];
    engine
        .judge(
            0,
            &JudgeJob {
                submission_id: uuid::Uuid::now_v7(),
                language,
                source,
                limits: LIMITS,
                testcases: &testcases,
                run_all_testcases: false,
            },
        )
        .unwrap_or_else(|e| panic!("judging {language}: {e}"))
}

fn read_only_and_roots(path: &Path) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o444,
        "{}",
        path.display()
    );
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
}

#[test]
fn compiles_that_include_bits_stdcxx_use_the_precompiled_header() {
    let cpp = TOOLCHAINS.get("cpp-h").expect("cpp-h has a toolchain");
    assert_eq!(cpp.precompiled_headers.len(), 1, "{cpp:#?}");
    let gch = &cpp.precompiled_headers[0];
    assert!(
        gch.ends_with("include/bits/stdc++.h.gch"),
        "{}",
        gch.display()
    );
    read_only_and_roots(gch);
    assert!(cpp.compile.contains(&"-Winvalid-pch".to_string()));
    let used = format!("! {}", gch.display());
    for (kind, engine, root) in engines("pch") {
        let outcome = judge(&engine, "cpp-h", CPP_STDCXX_SUM);
        assert_eq!(outcome.verdict, Verdict::Accepted, "{kind}: {outcome:#?}");
        assert!(
            outcome.compile_output.lines().any(|l| l == used),
            "{kind}: GCC did not use {}:\n{}",
            gch.display(),
            &outcome.compile_output[..outcome.compile_output.len().min(2000)]
        );
        assert!(
            !outcome.compile_output.contains("not used because"),
            "{kind}: {}",
            outcome.compile_output
        );

        // A source without the header reads only its own headers.
        let outcome = judge(&engine, "cpp-h", CPP_CSTDIO_SUM);
        assert_eq!(outcome.verdict, Verdict::Accepted, "{kind}: {outcome:#?}");
        assert!(!outcome.compile_output.contains(".gch"), "{kind}");
        assert!(outcome.compile_output.contains("cstdio"), "{kind}");

        // The table's own row: the same, silently.
        let outcome = judge(&engine, "cpp", CPP_STDCXX_SUM);
        assert_eq!(outcome.verdict, Verdict::Accepted, "{kind}: {outcome:#?}");
        assert_eq!(outcome.compile_output, "", "{kind}");
        let _ = std::fs::remove_dir_all(root);
    }
}

#[test]
fn a_header_precompiled_with_other_flags_is_refused_aloud_and_the_real_one_read() {
    let cpp = TOOLCHAINS.get("cpp").expect("cpp has a toolchain");
    let include = cpp.binds[0].join("include");
    // Another standard than the one it was built with: GCC must not use it.
    let mut table = table();
    let mut row = variant(
        "cpp",
        "cpp-20",
        &[&format!("-I{}", include.display()), "-Winvalid-pch"],
    );
    row.compile = row
        .compile
        .iter()
        .map(|a| a.replace("-std=c++17", "-std=c++20"))
        .collect();
    table.languages.push(row);
    let toolchains = Toolchains::prepare(&table, None);
    let root = std::env::temp_dir().join(format!("warm-toolchains-{}-refused", std::process::id()));
    let engine =
        JudgeEngine::new(table, Arc::new(PlainProcess::new(&root))).with_toolchains(toolchains);
    let outcome = judge(&engine, "cpp-20", CPP_STDCXX_SUM);
    assert_eq!(outcome.verdict, Verdict::Accepted, "{outcome:#?}");
    assert!(
        outcome.compile_output.contains("not used because"),
        "{}",
        outcome.compile_output
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn javac_loads_its_classes_from_the_archive() {
    let java = TOOLCHAINS
        .get("java-log")
        .expect("java-log has a toolchain");
    let archive = java.class_archive.as_ref().expect("an archive was made");
    read_only_and_roots(archive);
    assert!(
        java.compile
            .contains(&format!("-J-XX:SharedArchiveFile={}", archive.display()))
    );
    for (kind, engine, root) in engines("cds") {
        let outcome = judge(&engine, "java-log", JAVA_SUM);
        assert_eq!(outcome.verdict, Verdict::Accepted, "{kind}: {outcome:#?}");
        // The archive is a dynamic one, mapped over the JDK's own.
        assert!(
            outcome
                .compile_output
                .contains(&format!("Opened archive {}.", archive.display()))
                && outcome.compile_output.contains("Mapped dynamic region"),
            "{kind}: javac loaded nothing from the archive:\n{}",
            &outcome.compile_output[..outcome.compile_output.len().min(2000)]
        );
        let outcome = judge(&engine, "java", JAVA_SUM);
        assert_eq!(outcome.verdict, Verdict::Accepted, "{kind}: {outcome:#?}");
        let _ = std::fs::remove_dir_all(root);
    }
}

#[test]
fn workers_sharing_the_directory_prepare_each_file_once() {
    let dir = toolchain_dir(&format!("shared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = variant("c", "c-stdio", &[]);
    c.precompiled_headers = vec!["stdio.h".into()];
    let table = LanguageTable { languages: vec![c] };
    let prepared: Vec<Toolchains> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| Toolchains::prepare(&table, Some(&dir))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let gch = prepared[0].get("c-stdio").unwrap().precompiled_headers[0].clone();
    for toolchains in &prepared {
        assert_eq!(
            toolchains.get("c-stdio").unwrap().precompiled_headers,
            std::slice::from_ref(&gch)
        );
    }
    read_only_and_roots(&gch);
    let made = std::fs::metadata(&gch).unwrap().ino();
    let again = Toolchains::prepare(&table, Some(&dir));
    assert_eq!(
        again.get("c-stdio").unwrap().precompiled_headers,
        std::slice::from_ref(&gch)
    );
    assert_eq!(std::fs::metadata(&gch).unwrap().ino(), made, "made again");
    // Nothing but the language's directory and its lock is left behind.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unusable_directory_means_cold_compiles_not_failures() {
    let table = LanguageTable::builtin().unwrap();
    let toolchains = Toolchains::prepare(&table, Some(Path::new("/proc/no-such-dir")));
    let cpp = toolchains.get("cpp").unwrap();
    assert!(cpp.precompiled_headers.is_empty() && cpp.binds.is_empty());
    assert_eq!(cpp.compile, table.get("cpp").unwrap().compile);
    assert_eq!(cpp.fingerprint.len(), 64);
}
