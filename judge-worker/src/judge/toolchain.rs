//! Warm toolchains: what the worker prepares once so that compiles start warm, and the
//! fingerprint that names each language's toolchain.
//!
//! - Precompiled headers (`precompiled_headers` in the language table): GCC parses
//!   `bits/stdc++.h` for over a second on every compile; its precompiled form loads in a
//!   fraction of that. It is built with exactly the row's compile flags (GCC refuses a `.gch`
//!   whose flags differ and quietly reads the real header instead) into `<dir>/include/`,
//!   which every compile sees first on its include path (`-I`); `-Winvalid-pch` makes a
//!   refused one visible in the compiler's output.
//! - A class-data-sharing archive of the compiler's own classes (`compiler_class_archive`):
//!   javac spends a third of a small compile loading and verifying its classes.
//!
//! Both are made from the system's toolchain and headers only — never from a submission — by
//! the worker itself (trusted code on trusted input), under a lock so that workers sharing
//! the directory make each once, written under a temporary name and renamed, and read-only
//! (`0444`) from then on. Compiles see the directory through a read-only bind. Each is tried
//! once before it is used, and a warm-up that fails is logged: that language compiles cold,
//! slower but never wrong.
//!
//! The fingerprint (the compiler binary's resolved path, size and modification time, and
//! what its `--version` prints) names the directory, so an upgraded toolchain gets fresh
//! files, and keys the compile cache.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use messaging::language::{ClassArchive, Language, LanguageTable};
use sha2::{Digest, Sha256};

/// A language's compiler as the judge uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    /// Hex SHA-256 of the compiler's identity and version.
    pub fingerprint: String,
    /// The compile argv: the row's, plus the flags that load what was prepared.
    pub compile: Vec<String>,
    /// Host directories the compile must see read-only (the prepared files).
    pub binds: Vec<PathBuf>,
    /// The precompiled headers in use (`.gch` paths).
    pub precompiled_headers: Vec<PathBuf>,
    /// The compiler class archive in use.
    pub class_archive: Option<PathBuf>,
}

/// Every language's [`Toolchain`] (languages without a compile step have none).
#[derive(Debug, Clone, Default)]
pub struct Toolchains {
    by_language: HashMap<String, Toolchain>,
}

impl Toolchains {
    /// Fingerprints every compiler, and when `warm_dir` is given prepares what the table asks
    /// for there. Blocking (a first precompile of `bits/stdc++.h` takes seconds); languages
    /// are prepared in parallel. Never fails: what cannot be prepared is logged and skipped.
    pub fn prepare(languages: &LanguageTable, warm_dir: Option<&Path>) -> Toolchains {
        let started = Instant::now();
        let warm_dir = warm_dir.and_then(|dir| match create_shared_dir(dir) {
            Ok(()) => Some(dir),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot use the toolchain directory; compiling cold");
                None
            }
        });
        let by_language = std::thread::scope(|scope| {
            let handles: Vec<_> = languages
                .languages
                .iter()
                .filter(|language| !language.compile.is_empty())
                .map(|language| {
                    scope.spawn(move || (language.id.clone(), prepare_one(language, warm_dir)))
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|handle| handle.join().ok())
                .collect::<HashMap<_, _>>()
        });
        for (id, toolchain) in &by_language {
            tracing::info!(
                judge.language = %id,
                toolchain.fingerprint = %&toolchain.fingerprint[..16],
                precompiled_headers = toolchain.precompiled_headers.len() as i64,
                class_archive = toolchain.class_archive.is_some(),
                "toolchain ready"
            );
        }
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as i64,
            "toolchains prepared"
        );
        Toolchains { by_language }
    }

    pub fn get(&self, language: &str) -> Option<&Toolchain> {
        self.by_language.get(language)
    }
}

/// A directory every slot may read: root's, `0755`.
fn create_shared_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
}

fn prepare_one(language: &Language, warm_dir: Option<&Path>) -> Toolchain {
    let fingerprint = fingerprint(language);
    let mut toolchain = Toolchain {
        fingerprint: fingerprint.clone(),
        compile: language.compile.clone(),
        binds: Vec::new(),
        precompiled_headers: Vec::new(),
        class_archive: None,
    };
    let Some(root) = warm_dir else {
        return toolchain;
    };
    if language.precompiled_headers.is_empty() && language.compiler_class_archive.is_none() {
        return toolchain;
    }
    let dir = root.join(format!("{}-{}", language.id, &fingerprint[..16]));
    let prepared = (|| -> Result<(), WarmError> {
        create_shared_dir(&dir).map_err(WarmError::io("creating the directory"))?;
        let _lock =
            DirLock::take(&root.join(format!("{}-{}.lock", language.id, &fingerprint[..16])))?;
        for header in &language.precompiled_headers {
            match precompiled_header(language, &dir, header) {
                Ok(gch) => toolchain.precompiled_headers.push(gch),
                Err(e) => {
                    tracing::warn!(judge.language = %language.id, header = %header, error = %e, "cannot precompile the header; it is parsed on every compile")
                }
            }
        }
        if let Some(archive) = &language.compiler_class_archive {
            match class_archive(language, &dir, archive) {
                Ok(path) => toolchain.class_archive = Some(path),
                Err(e) => {
                    tracing::warn!(judge.language = %language.id, error = %e, "cannot make the compiler's class archive; compiles start cold")
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = prepared {
        tracing::warn!(judge.language = %language.id, dir = %dir.display(), error = %e, "cannot prepare the toolchain; compiling cold");
    }
    toolchain.compile = warm_argv(language, &toolchain, &dir);
    if !toolchain.precompiled_headers.is_empty() || toolchain.class_archive.is_some() {
        toolchain.binds.push(dir);
    }
    toolchain
}

/// The row's compile argv with the flags that load what was prepared, right after argv[0].
fn warm_argv(language: &Language, toolchain: &Toolchain, dir: &Path) -> Vec<String> {
    let mut flags = Vec::new();
    if !toolchain.precompiled_headers.is_empty() {
        flags.push(format!("-I{}", dir.join("include").display()));
        flags.push("-Winvalid-pch".to_owned());
    }
    if let (Some(path), Some(archive)) =
        (&toolchain.class_archive, &language.compiler_class_archive)
    {
        flags.push(
            archive
                .load
                .replace("{archive}", &path.display().to_string()),
        );
    }
    let mut argv = language.compile.clone();
    if !argv.is_empty() {
        argv.splice(1..1, flags);
    }
    argv
}

/// Hex SHA-256 of the compiler binary's identity and its `--version` output.
fn fingerprint(language: &Language) -> String {
    let mut hash = Sha256::new();
    let compiler = Path::new(&language.compile[0]);
    let resolved = std::fs::canonicalize(compiler).unwrap_or_else(|_| compiler.to_path_buf());
    hash.update(resolved.as_os_str().as_encoded_bytes());
    if let Ok(meta) = std::fs::metadata(&resolved) {
        // Not the inode: an image's layers keep a file's size and time, not its inode.
        for n in [meta.size(), meta.mtime() as u64, meta.mtime_nsec() as u64] {
            hash.update(n.to_le_bytes());
        }
    }
    match Command::new(compiler)
        .arg("--version")
        .env_clear()
        .envs(env_pairs(language))
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => {
            hash.update(&out.stdout);
            hash.update(&out.stderr);
        }
        Err(e) => hash.update(e.to_string().as_bytes()),
    }
    to_hex(&hash.finalize())
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn env_pairs(language: &Language) -> Vec<(String, String)> {
    language
        .env
        .iter()
        .filter_map(|entry| entry.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[derive(Debug, thiserror::Error)]
enum WarmError {
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
}

impl WarmError {
    fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> WarmError {
        move |source| WarmError::Io { context, source }
    }
}

/// An exclusive `flock` on a lock file, held until dropped: one worker of a host prepares,
/// the others wait and then find the files made.
struct DirLock {
    /// Closing the file releases the lock.
    _file: std::fs::File,
}

impl DirLock {
    fn take(path: &Path) -> Result<DirLock, WarmError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(WarmError::io("opening the lock file"))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(WarmError::io("locking")(std::io::Error::last_os_error()));
        }
        Ok(DirLock { _file: file })
    }
}

/// A scratch directory of this process under `dir`, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(dir: &Path, what: &str) -> Result<Scratch, WarmError> {
        let path = dir.join(format!(".{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).map_err(WarmError::io("creating a scratch directory"))?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a trusted toolchain command (the row's environment only) and returns its output,
/// or why it failed.
fn run(mut command: Command, language: &Language, stdin: &[u8]) -> Result<String, WarmError> {
    command
        .env_clear()
        .envs(env_pairs(language))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(WarmError::io("starting the compiler"))?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin)
            .map_err(WarmError::io("writing to the compiler"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(WarmError::io("waiting for the compiler"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(WarmError::Failed(format!(
            "{} ({}): {}",
            language.compile[0],
            out.status,
            text.trim()
        )))
    }
}

/// The row's compile flags that shape what the compiler reads (everything but argv[0], the
/// output, the source and the link flags), so a precompiled header matches every compile.
fn header_flags(language: &Language) -> Vec<String> {
    let mut flags = Vec::new();
    let mut args = language.compile.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-o" {
            args.next();
        } else if *arg != language.source_file && !arg.starts_with("-l") && !arg.starts_with("-L") {
            flags.push(arg.clone());
        }
    }
    flags
}

/// `c` for a C source, `c++` otherwise.
fn source_kind(language: &Language) -> &'static str {
    if language.source_file.ends_with(".c") {
        "c"
    } else {
        "c++"
    }
}

/// `<dir>/include/<header>.gch`, made if missing, and tried once.
fn precompiled_header(language: &Language, dir: &Path, header: &str) -> Result<PathBuf, WarmError> {
    let include = dir.join("include");
    let gch = include.join(format!("{header}.gch"));
    let compiler = &language.compile[0];
    let kind = source_kind(language);
    let flags = header_flags(language);
    let scratch = Scratch::new(dir, "pch")?;
    if !gch.is_file() {
        let started = Instant::now();
        // Where the compiler finds the header, with these flags.
        let mut locate = Command::new(compiler);
        locate
            .args(&flags)
            .args(["-M", "-x", kind, "-"])
            .current_dir(&scratch.0);
        let deps = run(
            locate,
            language,
            format!("#include <{header}>\n").as_bytes(),
        )?;
        let suffix = format!("/{header}");
        let source = deps
            .split_whitespace()
            .find(|path| path.ends_with(&suffix))
            .ok_or_else(|| WarmError::Failed(format!("the compiler does not find <{header}>")))?;
        if let Some(parent) = gch.parent() {
            std::fs::create_dir_all(parent).map_err(WarmError::io("creating include/"))?;
            for d in parent.ancestors().take_while(|d| d.starts_with(dir)) {
                let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755));
            }
        }
        let partial = scratch.0.join("header.gch");
        let mut build = Command::new(compiler);
        build
            .args(&flags)
            .args(["-x", &format!("{kind}-header"), source, "-o"])
            .arg(&partial)
            .current_dir(&scratch.0);
        run(build, language, b"")?;
        publish_read_only(&partial, &gch)?;
        tracing::info!(judge.language = %language.id, header, elapsed_ms = started.elapsed().as_millis() as i64, "header precompiled");
    }
    // Tried once: GCC prints `! <path>` for a precompiled header it uses.
    let mut check = Command::new(compiler);
    check
        .arg(format!("-I{}", include.display()))
        .args(["-Winvalid-pch", "-H", "-fsyntax-only"])
        .args(&flags)
        .args(["-x", kind, "-"])
        .current_dir(&scratch.0);
    let out = run(
        check,
        language,
        format!("#include <{header}>\nint main() {{}}\n").as_bytes(),
    )?;
    if out
        .lines()
        .any(|line| line == format!("! {}", gch.display()))
    {
        Ok(gch)
    } else {
        let _ = std::fs::remove_file(&gch);
        Err(WarmError::Failed(format!(
            "the compiler does not use {}: {}",
            gch.display(),
            out.lines().take(3).collect::<Vec<_>>().join(" / ")
        )))
    }
}

/// `<dir>/compiler.jsa`, made if missing by compiling the sample, and tried once.
fn class_archive(
    language: &Language,
    dir: &Path,
    archive: &ClassArchive,
) -> Result<PathBuf, WarmError> {
    let path = dir.join("compiler.jsa");
    let scratch = Scratch::new(dir, "cds")?;
    // Compiled to make the archive and again to try it.
    std::fs::write(scratch.0.join(&language.source_file), &archive.sample)
        .map_err(WarmError::io("writing the sample"))?;
    let sample = |extra: String| -> Result<(), WarmError> {
        let mut compile = Command::new(&language.compile[0]);
        compile
            .arg(extra)
            .args(&language.compile[1..])
            .current_dir(&scratch.0);
        run(compile, language, b"").map(|_| ())
    };
    if !path.is_file() {
        let started = Instant::now();
        let partial = scratch.0.join("compiler.jsa");
        sample(
            archive
                .create
                .replace("{archive}", &partial.display().to_string()),
        )?;
        if !partial.is_file() {
            return Err(WarmError::Failed("the compiler wrote no archive".into()));
        }
        publish_read_only(&partial, &path)?;
        tracing::info!(judge.language = %language.id, elapsed_ms = started.elapsed().as_millis() as i64, "compiler class archive made");
    }
    // Tried once, where the JVM must map it (`-Xshare:on` fails instead of ignoring it).
    let tried = Instant::now();
    let load = archive
        .load
        .replace("{archive}", &path.display().to_string());
    let mut check = Command::new(&language.compile[0]);
    check
        .args([load.as_str(), "-J-Xshare:on"])
        .args(&language.compile[1..])
        .current_dir(&scratch.0);
    match run(check, language, b"") {
        Ok(_) => {
            tracing::debug!(elapsed = ?tried.elapsed(), "compiler class archive loads");
            Ok(path)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Makes `partial` read-only and renames it to `path` (atomic: a reader sees all or nothing).
fn publish_read_only(partial: &Path, path: &Path) -> Result<(), WarmError> {
    std::fs::set_permissions(partial, std::fs::Permissions::from_mode(0o444))
        .map_err(WarmError::io("making it read-only"))?;
    std::fs::rename(partial, path).map_err(WarmError::io("moving it into place"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_flags_keep_what_shapes_the_parse() {
        let table = LanguageTable::builtin().unwrap();
        let cpp = table.get("cpp").unwrap();
        assert_eq!(
            header_flags(cpp),
            ["-DONLINE_JUDGE", "-O2", "-std=c++17", "-pipe"]
        );
        assert_eq!(source_kind(cpp), "c++");
        assert_eq!(source_kind(table.get("c").unwrap()), "c");
    }

    #[test]
    fn warm_flags_follow_argv0() {
        let table = LanguageTable::builtin().unwrap();
        let cpp = table.get("cpp").unwrap();
        let dir = Path::new("/var/cache/x/cpp-0123");
        let toolchain = Toolchain {
            fingerprint: "0".repeat(64),
            compile: vec![],
            binds: vec![],
            precompiled_headers: vec![dir.join("include/bits/stdc++.h.gch")],
            class_archive: None,
        };
        let argv = warm_argv(cpp, &toolchain, dir);
        assert_eq!(argv[0], "/usr/bin/g++");
        assert_eq!(argv[1], "-I/var/cache/x/cpp-0123/include");
        assert_eq!(argv[2], "-Winvalid-pch");
        assert_eq!(&argv[3..], &cpp.compile[1..]);

        let java = table.get("java").unwrap();
        let toolchain = Toolchain {
            class_archive: Some(dir.join("compiler.jsa")),
            precompiled_headers: vec![],
            ..toolchain
        };
        let argv = warm_argv(java, &toolchain, dir);
        assert_eq!(
            argv[1],
            "-J-XX:SharedArchiveFile=/var/cache/x/cpp-0123/compiler.jsa"
        );
        assert_eq!(&argv[2..], &java.compile[1..]);
    }
}
