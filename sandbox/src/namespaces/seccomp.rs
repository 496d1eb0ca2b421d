//! The seccomp filters every sandboxed program runs under, built once with `seccompiler`.
//!
//! A deny-list, not an allow-list: compilers, the JVM and CPython use hundreds of system calls,
//! and namespaces, the unprivileged uid and the empty capability sets already stop most
//! things. The filter closes what those layers do not: kernel attack surface reachable without
//! privileges (bpf, io_uring, userfaultfd, perf, keyrings), channels that namespaces don't
//! cover (keyrings, `memfd_secret`), tracing and cross-process memory access, anything that
//! builds new namespaces or mounts (a user namespace would give the program capabilities
//! again), and every socket family but `AF_UNIX`.
//!
//! It also closes channels between concurrent runs that the mount and PID namespaces leave
//! open because the toolchain files are shared: inotify (a watch on `/usr/include` sees
//! another slot's compiler open a header) is refused, and file locks (`flock`, and the
//! `F_SETLK` family of `fcntl`, which work on read-only files) succeed without doing
//! anything, so no run can hold a lock another could test. Runtimes lock their own files as
//! a matter of course (the JVM `flock`s its perf-data file), so refusing would break them;
//! competitive programs never share a locked file between their processes.
//!
//! A seccompiler filter has one action on match, and four are needed:
//! - `EPERM` for the deny-list below, so programs see an ordinary failure;
//! - `ENOSYS` for `clone3`, whose flags live in memory where BPF cannot look; glibc and the
//!   JVM fall back to `clone`, whose namespace flags the first filter checks;
//! - `EAFNOSUPPORT` for `socket`/`socketpair` of any family but `AF_UNIX`;
//! - success without effect (`SECCOMP_RET_ERRNO` with errno 0) for the locks.
//!
//! The programs are chained into one (each "allow" of one jumps to the start of the
//! next) because attaching a filter costs ~80 µs on these machines (the kernel evaluates it
//! for every syscall number to build its allow cache), a third of the sandbox's setup time.
//! The sets of syscalls they act on are disjoint, so chaining decides exactly as three
//! stacked filters would.
//!
//! Non-native ABIs: seccompiler's own prologue kills the process for any audit arch but
//! x86-64 (so i386 `int 0x80` dies), and a hand-written prefix on the first program kills any
//! x32 call (x86-64 arch, syscall number with bit 30 set), which seccompiler would otherwise
//! treat as an unknown number and allow.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

use crate::SandboxError;

use super::sys::SYS_OPEN_TREE_ATTR;

/// The compiled filter.
pub struct Filters {
    program: BpfProgram,
}

/// Denied unconditionally with `EPERM`.
const DENIED: &[libc::c_long] = &[
    // Tracing and other processes' memory.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_pidfd_getfd,
    libc::SYS_kcmp,
    // Mounts, roots and namespaces.
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    SYS_OPEN_TREE_ATTR,
    libc::SYS_mount_setattr,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_setns,
    libc::SYS_unshare,
    // Kernel attack surface reachable without privileges.
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_memfd_secret,
    // Keyrings are not namespaced: a channel between sandboxes.
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    // Whole-machine operations (need capabilities anyway; denied for defence in depth).
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_fanotify_init,
    // A watch on a shared read-only tree reports what other runs open (a channel).
    libc::SYS_inotify_init,
    libc::SYS_inotify_init1,
    // File handles bypass path-based access checks (the "shocker" escape).
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
];

/// The namespace flags `clone` may not carry.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    // CLONE_NEWTIME (0x80) exists only for clone3 and unshare, both denied whole; in clone's
    // flags that bit belongs to the exit signal.
];

/// `fcntl` commands that take or release a lock: made no-ops (see the module doc).
const LOCK_COMMANDS: [libc::c_int; 4] = [
    libc::F_SETLK,
    libc::F_SETLKW,
    libc::F_OFD_SETLK,
    libc::F_OFD_SETLKW,
];

/// x32 system calls have this bit set in the syscall number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

fn setup_err(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Setup(format!("building the seccomp filter ({what}): {e}"))
}

fn cond(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, SandboxError> {
    SeccompCondition::new(arg, len, op, value).map_err(|e| setup_err("condition", e))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, SandboxError> {
    SeccompRule::new(conditions).map_err(|e| setup_err("rule", e))
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    on_match: SeccompAction,
    what: &str,
) -> Result<BpfProgram, SandboxError> {
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, on_match, TargetArch::x86_64)
        .map_err(|e| setup_err(what, e))?;
    BpfProgram::try_from(filter).map_err(|e| setup_err(what, e))
}

impl Filters {
    /// Compile the filters. Pure computation; done once per sandbox.
    pub fn build() -> Result<Filters, SandboxError> {
        if !cfg!(target_arch = "x86_64") {
            return Err(SandboxError::Setup(
                "the namespace sandbox's seccomp filter is written for x86-64".into(),
            ));
        }
        let mut deny: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        for &nr in DENIED {
            deny.insert(nr, Vec::new());
        }
        // clone with any namespace flag (one rule per flag: rules are OR-ed).
        let mut clone_rules = Vec::new();
        for &flag in NAMESPACE_FLAGS {
            let flag = flag as u64;
            clone_rules.push(rule(vec![cond(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?])?);
        }
        deny.insert(libc::SYS_clone, clone_rules);
        // personality: only the query form (0xffffffff) is allowed; changing the persona
        // (e.g. READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE) is not.
        deny.insert(
            libc::SYS_personality,
            vec![rule(vec![cond(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Ne,
                0xffff_ffff,
            )?])?],
        );
        // TIOCSTI pushes input into a terminal; the program has none, but a shared one would
        // be an escape.
        deny.insert(
            libc::SYS_ioctl,
            vec![rule(vec![cond(
                1,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                libc::TIOCSTI,
            )?])?],
        );
        let mut deny = compile(deny, SeccompAction::Errno(libc::EPERM as u32), "deny")?;
        let mut prefixed = x32_prefix();
        prefixed.append(&mut deny);

        let mut nosys = BTreeMap::new();
        nosys.insert(libc::SYS_clone3, Vec::new());
        let nosys = compile(nosys, SeccompAction::Errno(libc::ENOSYS as u32), "clone3")?;

        let mut sockets = BTreeMap::new();
        for nr in [libc::SYS_socket, libc::SYS_socketpair] {
            sockets.insert(
                nr,
                vec![rule(vec![cond(
                    0,
                    SeccompCmpArgLen::Dword,
                    SeccompCmpOp::Ne,
                    libc::AF_UNIX as u64,
                )?])?],
            );
        }
        let sockets = compile(
            sockets,
            SeccompAction::Errno(libc::EAFNOSUPPORT as u32),
            "sockets",
        )?;

        let mut locks = BTreeMap::new();
        locks.insert(libc::SYS_flock, Vec::new());
        locks.insert(
            libc::SYS_fcntl,
            LOCK_COMMANDS
                .iter()
                .map(|&cmd| {
                    rule(vec![cond(
                        1,
                        SeccompCmpArgLen::Dword,
                        SeccompCmpOp::Eq,
                        cmd as u64,
                    )?])
                })
                .collect::<Result<Vec<_>, _>>()?,
        );
        let locks = compile(locks, SeccompAction::Errno(0), "locks")?;

        let program = chain(vec![prefixed, nosys, sockets, locks]);
        if program.len() > usize::from(u16::MAX) || program.len() > 4096 {
            return Err(setup_err("chain", "program too long"));
        }
        Ok(Filters { program })
    }

    /// `sock_fprog`s pointing into the compiled program, for the child to install. They
    /// borrow `self`: keep the filters alive until the child has exec'd.
    pub fn fprogs(&self) -> Vec<libc::sock_fprog> {
        vec![libc::sock_fprog {
            len: self.program.len() as libc::c_ushort,
            // seccompiler's sock_filter is repr(C) and laid out as the kernel's.
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        }]
    }
}

const BPF_RET_K: u16 = 0x06;
const BPF_JMP_JA: u16 = 0x05;

/// One program from several: every `return ALLOW` of each program but the last becomes an
/// unconditional jump to the first instruction of the next one. Same length, so the other
/// jumps inside a program keep their targets.
fn chain(programs: Vec<BpfProgram>) -> BpfProgram {
    let count = programs.len();
    let mut out = Vec::new();
    for (i, mut program) in programs.into_iter().enumerate() {
        if i + 1 < count {
            let len = program.len();
            for (j, insn) in program.iter_mut().enumerate() {
                if insn.code == BPF_RET_K && insn.k == libc::SECCOMP_RET_ALLOW {
                    *insn = sock_filter {
                        code: BPF_JMP_JA,
                        jt: 0,
                        jf: 0,
                        k: (len - j - 1) as u32,
                    };
                }
            }
        }
        out.append(&mut program);
    }
    out
}

/// `if (nr & X32_SYSCALL_BIT) kill_process;` — placed before seccompiler's prologue.
fn x32_prefix() -> BpfProgram {
    // BPF_LD | BPF_W | BPF_ABS
    const BPF_LD_W_ABS: u16 = 0x20;
    const BPF_JMP_JSET_K: u16 = 0x05 | 0x40;
    vec![
        // A = seccomp_data.nr (offset 0)
        sock_filter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
        // if (A & X32_SYSCALL_BIT) goto kill; else skip it
        sock_filter {
            code: BPF_JMP_JSET_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_KILL_PROCESS,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_and_fit() {
        let f = Filters::build().unwrap();
        assert!(!f.program.is_empty() && f.program.len() < 4096);
        let progs = f.fprogs();
        assert_eq!(progs[0].len as usize, f.program.len());
        // Only the last program may still return ALLOW.
        let allows: Vec<usize> = f
            .program
            .iter()
            .enumerate()
            .filter(|(_, i)| i.code == BPF_RET_K && i.k == libc::SECCOMP_RET_ALLOW)
            .map(|(n, _)| n)
            .collect();
        assert!(!allows.is_empty());
        let jumps_past_end = f
            .program
            .iter()
            .enumerate()
            .any(|(n, i)| i.code == BPF_JMP_JA && n + 1 + i.k as usize > f.program.len());
        assert!(!jumps_past_end);
    }
}
