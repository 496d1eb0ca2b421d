//! The compile cache: what a compile left in the build directory (or the compile error it
//! gave), kept by everything that decides it — language, toolchain fingerprint, compile argv
//! and environment, source — so that the same source is compiled once: a rejudge, a
//! resubmission, a load test.
//!
//! - Entries are files in a directory of the worker's own, never bound into a sandbox. A hit
//!   is copied into the submission's fresh workspace, where test cases see it read-only like
//!   any build output; nothing a run does reaches the entry.
//! - Each entry starts with the SHA-256 of the rest: a corrupted, truncated or missing entry
//!   is a miss (and is removed), so the judge compiles again; never a wrong program.
//! - Only outcomes the source decides are kept: the compiler exited, with 0 or with errors. A
//!   compile that hit a limit is not kept (under load it may not hit it again).
//! - Bounded in bytes on disk (and so in entries); the least recently used go first.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use messaging::language::Language;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::toolchain::{Toolchain, to_hex};

/// One entry may take at most this share of the cache.
const ENTRY_SHARE: u64 = 4;
const FORMAT: &[u8] = b"judge compile cache v1\n";

/// What identifies a compile's outcome (hex SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompileKey(String);

impl CompileKey {
    pub fn new(language: &Language, toolchain: &Toolchain, source: &[u8]) -> CompileKey {
        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(FORMAT);
        field(language.id.as_bytes());
        field(toolchain.fingerprint.as_bytes());
        for arg in &toolchain.compile {
            field(arg.as_bytes());
        }
        field(b"env");
        for entry in &language.env {
            field(entry.as_bytes());
        }
        field(language.source_file.as_bytes());
        field(source);
        CompileKey(to_hex(&hash.finalize()))
    }
}

/// A file of the build output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFile {
    pub name: String,
    /// Permission bits (`0o755` for an executable).
    pub mode: u32,
    pub contents: Vec<u8>,
}

/// A compile's outcome as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedCompile {
    pub succeeded: bool,
    /// The compiler's output as the user sees it.
    pub output: String,
    /// The build output (everything in the build directory but the source).
    pub files: Vec<BuildFile>,
}

impl CachedCompile {
    fn bytes(&self) -> u64 {
        self.output.len() as u64
            + self
                .files
                .iter()
                .map(|f| f.contents.len() as u64 + f.name.len() as u64)
                .sum::<u64>()
    }
}

/// An entry's header, followed by the files' contents in order.
#[derive(Serialize, Deserialize)]
struct Header {
    succeeded: bool,
    output: String,
    files: Vec<FileHeader>,
}

#[derive(Serialize, Deserialize)]
struct FileHeader {
    name: String,
    mode: u32,
    len: u64,
}

struct Index {
    /// Size on disk and last use of each entry.
    entries: HashMap<CompileKey, (u64, u64)>,
    bytes: u64,
    clock: u64,
}

/// The compile cache of one worker.
pub struct CompileCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
}

impl std::fmt::Debug for CompileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileCache")
            .field("dir", &self.dir)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl CompileCache {
    /// A cache of at most `max_bytes` in `dir` (created `0700`, root's). Entries already
    /// there are kept, oldest first out.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<CompileCache> {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata()?;
            match name.strip_suffix(".entry") {
                Some(key) if meta.is_file() && key.len() == 64 => {
                    let modified = meta.modified().ok();
                    found.push((modified, CompileKey(key.to_owned()), meta.len()));
                }
                // A write cut short by a crash.
                _ => {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        found.sort_by_key(|(modified, _, _)| *modified);
        let mut index = Index {
            entries: HashMap::new(),
            bytes: 0,
            clock: 0,
        };
        for (_, key, size) in found {
            index.clock += 1;
            index.bytes += size;
            index.entries.insert(key, (size, index.clock));
        }
        let cache = CompileCache {
            dir: dir.to_path_buf(),
            max_bytes,
            index: Mutex::new(index),
        };
        cache.evict();
        Ok(cache)
    }

    fn path(&self, key: &CompileKey) -> PathBuf {
        self.dir.join(format!("{}.entry", key.0))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached outcome of `key`, if there is an intact one.
    pub fn get(&self, key: &CompileKey) -> Option<CachedCompile> {
        {
            let mut index = self.lock();
            index.clock += 1;
            let now = index.clock;
            index.entries.get_mut(key)?.1 = now;
        }
        let path = self.path(key);
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| decode(&bytes))
        {
            Ok(entry) => Some(entry),
            Err(why) => {
                tracing::warn!(entry = %path.display(), %why, "compile cache entry unusable; compiling instead");
                self.forget(key);
                None
            }
        }
    }

    /// Keeps `entry` under `key` unless it is larger than a quarter of the cache. Failing to
    /// write costs only a future compile, so it is logged, not returned.
    pub fn put(&self, key: &CompileKey, entry: &CachedCompile) {
        if entry.bytes() > self.max_bytes / ENTRY_SHARE {
            return;
        }
        let bytes = encode(entry);
        let size = bytes.len() as u64;
        let path = self.path(key);
        // Two slots may put the same key at once: each writes a name of its own.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = self
            .dir
            .join(format!(".{}.{}.{write}.partial", key.0, std::process::id()));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&partial)?;
            file.write_all(&bytes)?;
            std::fs::rename(&partial, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            tracing::warn!(error = %e, "cannot write a compile cache entry");
            return;
        }
        {
            let mut index = self.lock();
            index.clock += 1;
            let now = index.clock;
            if let Some((old, _)) = index.entries.insert(key.clone(), (size, now)) {
                index.bytes -= old;
            }
            index.bytes += size;
        }
        self.evict();
    }

    /// The most one entry may hold.
    pub fn entry_limit(&self) -> u64 {
        self.max_bytes / ENTRY_SHARE
    }

    /// Drops `key` (its entry could not be used).
    pub fn forget(&self, key: &CompileKey) {
        let mut index = self.lock();
        if let Some((size, _)) = index.entries.remove(key) {
            index.bytes -= size;
        }
        drop(index);
        let _ = std::fs::remove_file(self.path(key));
    }

    /// Removes the least recently used entries until the cache fits.
    fn evict(&self) {
        let mut index = self.lock();
        while index.bytes > self.max_bytes {
            let Some(oldest) = index
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some((size, _)) = index.entries.remove(&oldest) {
                index.bytes -= size;
            }
            let _ = std::fs::remove_file(self.path(&oldest));
        }
    }

    /// Entries and bytes held (for logs and tests).
    pub fn usage(&self) -> (usize, u64) {
        let index = self.lock();
        (index.entries.len(), index.bytes)
    }
}

fn encode(entry: &CachedCompile) -> Vec<u8> {
    let header = Header {
        succeeded: entry.succeeded,
        output: entry.output.clone(),
        files: entry
            .files
            .iter()
            .map(|f| FileHeader {
                name: f.name.clone(),
                mode: f.mode,
                len: f.contents.len() as u64,
            })
            .collect(),
    };
    // A header of strings and numbers always serialises.
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let mut body = Vec::with_capacity(header.len() + entry.bytes() as usize + 16);
    body.extend_from_slice(&(header.len() as u64).to_le_bytes());
    body.extend_from_slice(&header);
    for file in &entry.files {
        body.extend_from_slice(&file.contents);
    }
    let mut out = Sha256::digest(&body).to_vec();
    out.extend_from_slice(&body);
    out
}

fn decode(bytes: &[u8]) -> Result<CachedCompile, String> {
    let (digest, body) = bytes
        .split_at_checked(32)
        .ok_or("shorter than its checksum")?;
    if Sha256::digest(body)[..] != *digest {
        return Err("checksum mismatch".into());
    }
    let (len, rest) = body.split_at_checked(8).ok_or("no header length")?;
    let len = u64::from_le_bytes(len.try_into().map_err(|_| "bad header length")?);
    let (header, mut contents) = rest
        .split_at_checked(usize::try_from(len).map_err(|_| "header too long")?)
        .ok_or("header cut short")?;
    let header: Header = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let mut files = Vec::with_capacity(header.files.len());
    for file in header.files {
        let len = usize::try_from(file.len).map_err(|_| "file too long")?;
        let (data, rest) = contents.split_at_checked(len).ok_or("file cut short")?;
        contents = rest;
        files.push(BuildFile {
            name: file.name,
            mode: file.mode,
            contents: data.to_vec(),
        });
    }
    if !contents.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(CachedCompile {
        succeeded: header.succeeded,
        output: header.output,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use messaging::language::LanguageTable;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("compile-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn entry(size: usize) -> CachedCompile {
        CachedCompile {
            succeeded: true,
            output: "warning: x".into(),
            files: vec![
                BuildFile {
                    name: "main".into(),
                    mode: 0o755,
                    contents: vec![7; size],
                },
                BuildFile {
                    name: "empty".into(),
                    mode: 0o644,
                    contents: vec![],
                },
            ],
        }
    }

    fn key(n: u8) -> CompileKey {
        CompileKey(to_hex(&[n; 32]))
    }

    #[test]
    fn an_entry_round_trips_and_survives_a_reopen() {
        let dir = scratch("round");
        let cache = CompileCache::open(&dir, 1 << 20).unwrap();
        assert_eq!(cache.get(&key(1)), None);
        cache.put(&key(1), &entry(1000));
        assert_eq!(cache.get(&key(1)), Some(entry(1000)));
        let mode = std::fs::metadata(cache.path(&key(1)))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        drop(cache);
        let cache = CompileCache::open(&dir, 1 << 20).unwrap();
        assert_eq!(cache.get(&key(1)), Some(entry(1000)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupted_or_missing_entry_is_a_miss_and_is_removed() {
        let dir = scratch("corrupt");
        let cache = CompileCache::open(&dir, 1 << 20).unwrap();
        cache.put(&key(1), &entry(100));
        cache.put(&key(2), &entry(100));
        let path = cache.path(&key(1));
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(cache.get(&key(1)), None);
        assert!(!path.exists());
        std::fs::remove_file(cache.path(&key(2))).unwrap();
        assert_eq!(cache.get(&key(2)), None);
        assert_eq!(cache.usage().0, 0);
        for bad in [&b""[..], &[0u8; 40][..]] {
            assert!(decode(bad).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_least_recently_used_go_first_and_huge_entries_are_not_kept() {
        let dir = scratch("lru");
        // Room for about three entries of 1000 bytes.
        let cache = CompileCache::open(&dir, 3500).unwrap();
        for n in 1..=3 {
            cache.put(&key(n), &entry(800));
        }
        assert!(cache.get(&key(1)).is_some());
        cache.put(&key(4), &entry(800));
        assert!(
            cache.get(&key(2)).is_none(),
            "the least recently used stays"
        );
        assert!(cache.get(&key(1)).is_some());
        assert!(cache.get(&key(4)).is_some());
        let (_, bytes) = cache.usage();
        assert!(bytes <= 3500, "{bytes}");
        cache.put(&key(5), &entry(3000));
        assert!(cache.get(&key(5)).is_none());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), cache.usage().0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_key_changes_with_everything_that_decides_the_outcome() {
        let table = LanguageTable::builtin().unwrap();
        let cpp = table.get("cpp").unwrap();
        let toolchain = Toolchain {
            fingerprint: "a".repeat(64),
            compile: cpp.compile.clone(),
            binds: vec![],
            precompiled_headers: vec![],
            class_archive: None,
        };
        let base = CompileKey::new(cpp, &toolchain, b"int main(){}");
        assert_eq!(base, CompileKey::new(cpp, &toolchain, b"int main(){}"));
        assert_ne!(base, CompileKey::new(cpp, &toolchain, b"int main(){ }"));
        let upgraded = Toolchain {
            fingerprint: "b".repeat(64),
            ..toolchain.clone()
        };
        assert_ne!(base, CompileKey::new(cpp, &upgraded, b"int main(){}"));
        let mut flags = toolchain.clone();
        flags.compile.push("-g".into());
        assert_ne!(base, CompileKey::new(cpp, &flags, b"int main(){}"));
        let c = table.get("c").unwrap();
        assert_ne!(base, CompileKey::new(c, &toolchain, b"int main(){}"));
    }
}
