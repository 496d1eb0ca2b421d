//! The rlimits of a run, one list for both mechanisms. They are kernel-side backstops: the
//! limits that decide a verdict are the supervisor's (whole-tree CPU time, wall clock,
//! output) and the cgroup's (memory, processes), which can say *which* limit was hit.

use crate::Limits;

#[cfg(target_env = "gnu")]
pub(crate) type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub(crate) type Resource = libc::c_int;

pub(crate) fn for_limits(l: &Limits) -> Vec<(Resource, libc::rlimit)> {
    let same = |v: u64| libc::rlimit {
        rlim_cur: v,
        rlim_max: v,
    };
    // RLIMIT_CPU is per process: SIGXCPU a second after the whole-tree limit, SIGKILL a
    // second later, in case the supervisor is somehow late.
    let cpu_soft = l.cpu_time.as_secs() + 1 + u64::from(l.cpu_time.subsec_nanos() > 0);
    vec![
        (
            libc::RLIMIT_CPU,
            libc::rlimit {
                rlim_cur: cpu_soft,
                rlim_max: cpu_soft + 1,
            },
        ),
        (libc::RLIMIT_FSIZE, same(l.file_size_bytes)),
        (libc::RLIMIT_NOFILE, same(l.open_files.max(3))),
        (libc::RLIMIT_STACK, same(l.stack_bytes)),
        (libc::RLIMIT_CORE, same(0)),
        (libc::RLIMIT_MEMLOCK, same(0)),
        // Per real uid: each slot has its own, so this bounds exactly this run (the plain
        // runner shares the worker's uid, where it is only a weak backstop).
        (libc::RLIMIT_NPROC, same(l.processes.max(1))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DiskQuota;
    use std::time::Duration;

    #[test]
    fn cpu_backstop_lies_above_the_limit() {
        let l = Limits {
            cpu_time: Duration::from_millis(1500),
            wall_time: Duration::from_secs(2),
            memory_bytes: 64 << 20,
            processes: 8,
            output_bytes: 1024,
            file_size_bytes: 1024,
            open_files: 16,
            stack_bytes: 8 << 20,
            disk: DiskQuota::mib(1, 16),
        };
        let r = for_limits(&l);
        let cpu = r.iter().find(|(k, _)| *k == libc::RLIMIT_CPU).unwrap().1;
        assert_eq!((cpu.rlim_cur, cpu.rlim_max), (3, 4));
    }
}
