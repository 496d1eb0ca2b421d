//! Running the worker the way `docker compose up` runs it: as root but with exactly the
//! capabilities `docker-compose.yml` adds back after dropping all (`cap_drop: [ALL]`),
//! `no-new-privileges`, and in a cgroup of its own as a container starts in.
//!
//! The machine's tests otherwise run as full root; a worker that only works with every
//! capability (it once needed `CAP_DAC_OVERRIDE`, which compose does not grant, and judged
//! nothing there) would pass them all. [`Launcher`] wraps a command in `setpriv` with the
//! compose set, read from the compose file itself so the two cannot drift apart.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `cap_add` list of the `judge-worker` service in `docker-compose.yml`, lower case
/// without the `CAP_` prefix (as `setpriv` takes them).
pub fn compose_capabilities() -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml"))?;
    let mut doc: Value = serde_yaml_ng::from_str(&text)?;
    doc.apply_merge()?;
    let caps = doc["services"]["judge-worker"]["cap_add"]
        .as_sequence()
        .ok_or_else(|| anyhow::anyhow!("docker-compose.yml: judge-worker has no cap_add"))?
        .iter()
        .map(|c| {
            c.as_str()
                .map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase())
                .ok_or_else(|| anyhow::anyhow!("cap_add entry {c:?} is not a string"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let no_new_privileges = doc["services"]["judge-worker"]["security_opt"]
        .as_sequence()
        .is_some_and(|o| {
            o.iter()
                .any(|o| o.as_str() == Some("no-new-privileges:true"))
        });
    anyhow::ensure!(
        no_new_privileges,
        "docker-compose.yml: judge-worker is expected to run with no-new-privileges"
    );
    Ok(caps)
}

/// The capability bits of `names` (`sys_admin`, ...), as `/proc/<pid>/status` shows them.
pub fn capability_mask(names: &[String]) -> anyhow::Result<u64> {
    const NUMBERS: [(&str, u32); 14] = [
        ("chown", 0),
        ("dac_override", 1),
        ("dac_read_search", 2),
        ("fowner", 3),
        ("fsetid", 4),
        ("kill", 5),
        ("setgid", 6),
        ("setuid", 7),
        ("setpcap", 8),
        ("net_admin", 12),
        ("sys_chroot", 18),
        ("sys_ptrace", 19),
        ("sys_admin", 21),
        ("sys_resource", 24),
    ];
    names.iter().try_fold(0u64, |mask, name| {
        NUMBERS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, bit)| mask | 1 << bit)
            .ok_or_else(|| anyhow::anyhow!("unknown capability {name}"))
    })
}

/// A cgroup made for one launched process under the test's own (in each cgroup v1
/// hierarchy the sandbox uses), removed with everything under it when dropped. On cgroup v2
/// the process stays in the test's cgroup: the v2 lane already runs every test in a fresh
/// non-root cgroup of its own, as Docker gives a container (`sandbox/vm/run-v2.sh`).
pub struct ContainerCgroup {
    name: String,
    tasks: Vec<PathBuf>,
}

impl ContainerCgroup {
    pub fn create() -> anyhow::Result<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "compose-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let own = std::fs::read_to_string("/proc/self/cgroup")?;
        let mut tasks = Vec::new();
        for controller in ["memory", "pids", "cpuacct"] {
            let Some(path) = own.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
                ctrls
                    .split(',')
                    .any(|c| c == controller)
                    .then(|| path.to_string())
            }) else {
                continue;
            };
            let base = Path::new("/sys/fs/cgroup").join(controller);
            if !base.join("cgroup.procs").exists() {
                continue;
            }
            let dir = base.join(path.trim_start_matches('/')).join(&name);
            std::fs::create_dir_all(&dir)?;
            tasks.push(dir.join("cgroup.procs"));
        }
        Ok(ContainerCgroup { name, tasks })
    }

    /// Shell words that move the shell (`$$`) into the cgroup.
    fn join_script(&self) -> String {
        self.tasks
            .iter()
            .map(|t| format!("echo $$ > '{}'; ", t.display()))
            .collect()
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        // The worker's sandbox cgroups live inside; a killed worker leaves them behind.
        if let Err(e) = sandbox::namespaces::remove_cgroup(&self.name) {
            eprintln!("could not remove test cgroup {}: {e}", self.name);
        }
    }
}

/// How to start a process with the compose privileges.
pub struct Launcher {
    pub capabilities: Vec<String>,
    cgroup: ContainerCgroup,
}

impl Launcher {
    pub fn compose() -> anyhow::Result<Self> {
        Ok(Launcher {
            capabilities: compose_capabilities()?,
            cgroup: ContainerCgroup::create()?,
        })
    }

    /// The argv that runs `argv` in the container cgroup with exactly the compose
    /// capabilities (bounding set, no inheritable or ambient ones) and `no_new_privs`.
    pub fn wrap(&self, argv: &[&str]) -> Vec<String> {
        let bounding: String = self.capabilities.iter().map(|c| format!(",+{c}")).collect();
        let script = format!(
            "{}exec setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all{bounding} \
             --no-new-privs \"$@\"",
            self.cgroup.join_script()
        );
        let mut out = vec!["/bin/sh".to_string(), "-c".into(), script, "sh".into()];
        out.extend(argv.iter().map(|a| a.to_string()));
        out
    }
}
