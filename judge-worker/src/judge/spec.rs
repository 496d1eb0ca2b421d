//! What the sandbox is asked to run: the [`RunSpec`]s of the compile step and of one test
//! case, with their limits, and the quota of a submission's workspace.
//!
//! The compile step gets fixed, generous limits (compilers are trusted code fed untrusted
//! input, so the limits stop compile bombs rather than measure anything). The run step's
//! limits come from the user's limits scaled by the language row, so Java and Python get
//! the extra time and memory their runtimes need.
//!
//! The rows themselves are shared with the API (`messaging::language`); how a row turns into
//! a run (the scaling and the `{memory_mb}` placeholder) is the judge's alone, so it is here.

use std::path::PathBuf;
use std::time::Duration;

use messaging::contract::{Limits as UserLimits, Testcase};
use messaging::language::Language;
use sandbox::{DiskQuota, Limits, Phase, RunSpec, Stdin};

use super::Toolchain;

const MIB: u64 = 1 << 20;

/// Compiler output kept for the user (stdout and stderr together).
pub(crate) const COMPILE_OUTPUT_CAP: usize = 64 * 1024;

/// Toolchain directories shown read-only to the command (ignored by the plain runner).
/// `/usr/lib/jvm` is listed on its own in case `/usr` is ever narrowed: Debian's JDK lives
/// there and links back into `/etc/java-17-openjdk`.
const TOOLCHAIN_BINDS: [&str; 6] = ["/usr", "/lib", "/lib64", "/bin", "/etc", "/usr/lib/jvm"];

fn toolchain_binds() -> Vec<PathBuf> {
    TOOLCHAIN_BINDS.iter().map(PathBuf::from).collect()
}

/// The writable space of a submission's build directory (the source and the build output).
pub(crate) fn build_quota(language: &Language) -> DiskQuota {
    DiskQuota {
        bytes: language.build_disk_mb.saturating_mul(MIB),
        inodes: language.build_disk_inodes,
    }
}

/// What every step of a submission sees read-only: the system's toolchain directories and
/// the files prepared for its language (one set for all steps: the namespace sandbox binds
/// them once per workspace).
fn read_only_binds(toolchain: Option<&Toolchain>) -> Vec<PathBuf> {
    let mut binds = toolchain_binds();
    binds.extend(toolchain.iter().flat_map(|t| t.binds.iter().cloned()));
    binds
}

/// The compile step: the language's compile argv (with its toolchain's warm flags) in the
/// build directory, no stdin.
pub(crate) fn compile_spec(language: &Language, toolchain: Option<&Toolchain>) -> RunSpec {
    let argv = toolchain.map_or_else(|| language.compile.clone(), |t| t.compile.clone());
    RunSpec {
        argv,
        env: language.env.clone(),
        phase: Phase::Build,
        read_only_binds: read_only_binds(toolchain),
        stdin: Stdin::Null,
        limits: Limits {
            cpu_time: Duration::from_secs(10),
            wall_time: Duration::from_secs(20),
            memory_bytes: 1024 * MIB,
            // javac alone starts a few dozen threads.
            processes: 128,
            output_bytes: COMPILE_OUTPUT_CAP as u64,
            file_size_bytes: 256 * MIB,
            open_files: 256,
            stack_bytes: 64 * MIB,
            // The compile's /tmp (its work dir is the workspace's build directory).
            disk: build_quota(language),
        },
    }
}

/// A test case's CPU-time limit: `user limit × time_factor + time_extra_ms`.
fn run_cpu_time(language: &Language, user_ms: u32) -> Duration {
    // `as` saturates: a huge factor gives the largest limit, not a wrapped one.
    let scaled = (f64::from(user_ms) * language.time_factor).ceil() as u64;
    Duration::from_millis(scaled.saturating_add(language.time_extra_ms))
}

/// A test case's memory limit in bytes: `user limit × memory_factor + memory_extra_mb` MiB.
fn run_memory_bytes(language: &Language, user_mb: u32) -> u64 {
    let scaled = (f64::from(user_mb) * language.memory_factor).ceil() as u64;
    scaled
        .saturating_add(language.memory_extra_mb)
        .saturating_mul(MIB)
}

/// The run argv with `{memory_mb}` replaced by the user's memory limit, unscaled: the JVM's
/// heap gets what the user asked for, and the run's scaled limit leaves room for the rest.
fn run_argv(language: &Language, user_memory_mb: u32) -> Vec<String> {
    let memory = user_memory_mb.to_string();
    language
        .run
        .iter()
        .map(|arg| arg.replace("{memory_mb}", &memory))
        .collect()
}

/// One test case: the language's run argv, the test input on stdin, scaled limits.
pub(crate) fn run_spec(
    language: &Language,
    toolchain: Option<&Toolchain>,
    user: UserLimits,
    testcase: &Testcase,
) -> RunSpec {
    let cpu_time = run_cpu_time(language, user.time_limit_ms);
    let memory_bytes = run_memory_bytes(language, user.memory_limit_mb);
    // Room for a correct answer however long it is, and never less than 16 MiB.
    let expected = u64::try_from(testcase.output.len()).unwrap_or(u64::MAX);
    let output_bytes = (16 * MIB).max(expected.saturating_mul(2));
    RunSpec {
        argv: run_argv(language, user.memory_limit_mb),
        env: language.env.clone(),
        phase: Phase::Run,
        read_only_binds: read_only_binds(toolchain),
        stdin: Stdin::Bytes(testcase.input.as_bytes().to_vec()),
        limits: Limits {
            cpu_time,
            // Time blocked on I/O or waiting for a busy CPU is not the program's fault, but
            // a program that sleeps must end too.
            wall_time: cpu_time.saturating_mul(2) + Duration::from_secs(1),
            memory_bytes,
            processes: 64,
            output_bytes,
            file_size_bytes: 16 * MIB,
            open_files: 64,
            // Deep recursion is normal in contest solutions: the stack may use all the memory.
            stack_bytes: memory_bytes,
            disk: DiskQuota {
                bytes: language.run_disk_mb.saturating_mul(MIB),
                inodes: language.run_disk_inodes,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use messaging::language::LanguageTable;

    fn testcase(output_len: usize) -> Testcase {
        Testcase {
            input: "1 2\n".into(),
            output: "x".repeat(output_len),
        }
    }

    #[test]
    fn run_limits_scale_with_the_language() {
        let table = LanguageTable::builtin().unwrap();
        let user = UserLimits {
            time_limit_ms: 1000,
            memory_limit_mb: 256,
        };
        let c = run_spec(table.get("c").unwrap(), None, user, &testcase(2));
        assert_eq!(c.argv, ["./main"]);
        assert_eq!(c.limits.cpu_time, Duration::from_millis(1000));
        assert_eq!(c.limits.wall_time, Duration::from_millis(3000));
        assert_eq!(c.limits.memory_bytes, 256 * MIB);
        assert_eq!(c.limits.stack_bytes, 256 * MIB);
        assert_eq!(c.limits.output_bytes, 16 * MIB);
        assert_eq!(c.stdin, Stdin::Bytes(b"1 2\n".to_vec()));
        assert_eq!(c.phase, Phase::Run);
        assert_eq!(c.limits.disk, DiskQuota::mib(32, 1024));

        let java = run_spec(table.get("java").unwrap(), None, user, &testcase(2));
        assert_eq!(java.limits.cpu_time, Duration::from_millis(3000));
        assert_eq!(java.limits.wall_time, Duration::from_millis(7000));
        assert_eq!(java.limits.memory_bytes, 352 * MIB);
        assert!(java.argv.contains(&"-Xmx256m".to_string()));
        assert_eq!(java.env, table.get("java").unwrap().env);
    }

    #[test]
    fn the_memory_placeholder_is_the_users_limit_unscaled() {
        let table = LanguageTable::parse(
            r#"
            [[language]]
            id = "jvm"
            name = "JVM"
            source_file = "Main.java"
            run = ["/usr/bin/java", "-Xmx{memory_mb}m", "{memory_mb}{memory_mb}"]
            time_factor = 1.5
            time_extra_ms = 10
            memory_factor = 2.0
            memory_extra_mb = 8
            "#,
        )
        .unwrap();
        let user = UserLimits {
            time_limit_ms: 999,
            memory_limit_mb: 100,
        };
        let spec = run_spec(&table.languages[0], None, user, &testcase(2));
        assert_eq!(spec.argv, ["/usr/bin/java", "-Xmx100m", "100100"]);
        assert_eq!(spec.limits.memory_bytes, 208 * MIB);
        // 999 × 1.5 = 1498.5, rounded up, plus 10.
        assert_eq!(spec.limits.cpu_time, Duration::from_millis(1509));
    }

    #[test]
    fn output_cap_grows_with_a_long_expected_output() {
        let table = LanguageTable::builtin().unwrap();
        let user = UserLimits {
            time_limit_ms: 1000,
            memory_limit_mb: 64,
        };
        let long = 10 * MIB as usize;
        let spec = run_spec(table.get("c").unwrap(), None, user, &testcase(long));
        assert_eq!(spec.limits.output_bytes, 20 * MIB);
    }

    #[test]
    fn compile_limits_are_fixed() {
        let table = LanguageTable::builtin().unwrap();
        let python = table.get("python3").unwrap();
        let spec = compile_spec(python, None);
        assert_eq!(spec.argv, python.compile);
        assert_eq!(spec.phase, Phase::Build);
        assert_eq!(build_quota(python), DiskQuota::mib(256, 4096));
        assert_eq!(spec.stdin, Stdin::Null);
        assert_eq!(spec.limits.cpu_time, Duration::from_secs(10));
        assert_eq!(spec.limits.memory_bytes, 1024 * MIB);
        assert_eq!(spec.limits.output_bytes, 64 * 1024);
        assert!(
            spec.read_only_binds
                .contains(&PathBuf::from("/usr/lib/jvm"))
        );
    }
}
