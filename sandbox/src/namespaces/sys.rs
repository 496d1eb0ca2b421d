//! Raw system calls the namespace mechanism needs and `libc`/`nix` don't wrap, or wrap in a
//! way that is unsafe in its children (those both mechanisms use are in `src/sys.rs`).
//!
//! Two kinds of function live here:
//! - parent-side wrappers returning `io::Result` (the new mount API, `clone`);
//! - child-side ones (`raw*`) for the code between `clone` and `execve` (`child.rs`): inline
//!   `syscall` instructions returning `-errno`, never touching `errno`. That matters because
//!   the run's init and the program's process share the worker's memory until `execve`
//!   (`CLONE_VM`, see `child.rs`): glibc wrappers would write `errno` into the *worker
//!   thread's* TLS, and some of them do worse (`setresuid` broadcasts to the worker's other
//!   threads and waits for them; `fork` takes the malloc locks).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use libc::{c_int, c_long, c_uint, c_ulong};

pub const OPEN_TREE_CLONE: c_uint = 1;
pub const OPEN_TREE_CLOEXEC: c_uint = libc::O_CLOEXEC as c_uint;
pub const MOVE_MOUNT_F_EMPTY_PATH: c_uint = 0x4;
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const FSOPEN_CLOEXEC: c_uint = 1;
pub const FSMOUNT_CLOEXEC: c_uint = 1;
pub const FSCONFIG_SET_STRING: c_uint = 1;
pub const FSCONFIG_CMD_CREATE: c_uint = 6;
/// Linux 6.15+ (`open_tree_attr`); not in every `libc` release yet.
pub const SYS_OPEN_TREE_ATTR: c_long = 467;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// The calling thread's `errno`.
pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn check(ret: c_long) -> io::Result<c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A detached copy of the mount tree at `dirfd`/`path` (`open_tree(OPEN_TREE_CLONE)`), with
/// `attr_set` applied to every mount in it and propagation made private, so that nothing
/// mounted on it later can propagate back to the host. It can be attached in any mount
/// namespace with [`raw_move_mount`] by a process that has `CAP_SYS_ADMIN` there.
pub fn detached_bind(
    dirfd: RawFd,
    path: &CStr,
    recursive: bool,
    attr_set: u64,
) -> io::Result<OwnedFd> {
    // Never through a symlink in the last component: callers name what they inspected.
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_SYMLINK_NOFOLLOW as c_uint;
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as c_uint;
    }
    if recursive {
        flags |= libc::AT_RECURSIVE as c_uint;
    }
    // SAFETY: plain syscall with a valid C string.
    let fd = check(unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) })?;
    // SAFETY: open_tree returned a new file descriptor that we now own.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let attr = MountAttr {
        attr_set,
        propagation: libc::MS_PRIVATE,
        ..MountAttr::default()
    };
    let mut set_flags = libc::AT_EMPTY_PATH as c_uint;
    if recursive {
        set_flags |= libc::AT_RECURSIVE as c_uint;
    }
    // SAFETY: plain syscall; attr outlives the call and its size is passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            set_flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(tree)
}

/// Result of [`clone_process`].
pub enum Cloned {
    /// We are the new process.
    Child,
    /// We are the caller; the child has this pid and pidfd.
    Parent { pid: libc::pid_t, pidfd: OwnedFd },
}

/// `clone(2)` like `fork`, with extra namespace `flags`, returning a pidfd for the child.
///
/// # Safety
/// In the child, only async-signal-safe code may run until `execve` or `_exit`: the parent
/// may be multithreaded, and the child is a copy of one thread with every lock frozen in
/// whatever state the other threads left it.
pub unsafe fn clone_process(flags: c_ulong) -> io::Result<Cloned> {
    let mut pidfd: c_int = -1;
    let all = flags | libc::CLONE_PIDFD as c_ulong | libc::SIGCHLD as c_ulong;
    // x86_64 argument order: flags, stack, parent_tid (receives the pidfd), child_tid, tls.
    // A null stack means "continue on a copy of the current stack", as fork does.
    // SAFETY: the caller upholds the child-side contract above.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            all,
            0usize,
            &mut pidfd as *mut c_int,
            0usize,
            0usize,
        )
    };
    match ret {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(Cloned::Child),
        // SAFETY: CLONE_PIDFD stored a new descriptor that we now own.
        pid => Ok(Cloned::Parent {
            pid: pid as libc::pid_t,
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

// ---- child-side calls: inline syscalls, no errno, no allocation, no TLS ----

/// One system call; returns the result or `-errno`.
///
/// # Safety
/// The arguments must be valid for system call `nr`.
#[inline(always)]
pub unsafe fn raw(nr: c_long, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the x86-64 system call convention; rcx and r11 are clobbered by `syscall`.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// `raw` for calls with fewer arguments.
///
/// # Safety
/// As [`raw`].
#[inline(always)]
pub unsafe fn raw3(nr: c_long, a0: usize, a1: usize, a2: usize) -> isize {
    // SAFETY: forwarded contract.
    unsafe { raw(nr, [a0, a1, a2, 0, 0, 0]) }
}

/// The entry point of a process started by [`clone_on_stack`].
pub type Entry = unsafe extern "C" fn(arg: *mut libc::c_void) -> !;

/// `clone(flags, stack_top, parent_tid)` with the child running `entry(arg)` on `stack_top`.
/// Returns the child's pid (or `-errno`) in the caller.
///
/// The child starts on a fresh stack, so it never returns into the caller's frames (which,
/// with `CLONE_VM`, are live memory of the caller). `stack_top` must be 16-byte aligned.
///
/// # Safety
/// `entry` must not return and, with `CLONE_VM`, may only touch its own stack and memory
/// the caller keeps alive and unchanged while the child can use it.
pub unsafe fn clone_on_stack(
    flags: c_ulong,
    stack_top: *mut u8,
    parent_tid: *mut c_int,
    entry: Entry,
    arg: *mut libc::c_void,
) -> isize {
    let ret: isize;
    // SAFETY: raw clone; the child branch calls `entry` on its new stack and never comes
    // back (ud2 traps if it did). r12/r13 survive the syscall in both processes.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone as isize => ret,
            in("rdi") flags,
            in("rsi") stack_top,
            in("rdx") parent_tid,
            in("r10") 0usize,
            in("r8") 0usize,
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// `CLONE_INTO_CGROUP` (Linux 5.7): the child starts in the cgroup `CloneArgs::cgroup`.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of `clone3(2)` (version 2, with `cgroup`).
#[repr(C)]
#[derive(Debug, Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    /// Lowest address of the child's stack.
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// `clone3(args)` with the child running `entry(arg)` on the stack `args` names. Returns
/// the child's pid (or `-errno`) in the caller.
///
/// # Safety
/// As [`clone_on_stack`]; `args.stack`/`stack_size` describe memory kept alive for the child.
pub unsafe fn clone3_on_stack(args: &CloneArgs, entry: Entry, arg: *mut libc::c_void) -> isize {
    let ret: isize;
    // SAFETY: raw clone3; the child branch calls `entry` on its new stack (the kernel points
    // rsp at stack + stack_size) and never comes back. r12/r13 survive the syscall.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 as isize => ret,
            in("rdi") args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// A stack for a child started with [`clone_on_stack`]: an anonymous mapping with a guard
/// page below it. Reused run after run (one per slot and role).
pub struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; it is used by one child at a time
// (the slot lock serialises runs).
unsafe impl Send for ChildStack {}

impl ChildStack {
    pub fn new(size: usize) -> io::Result<ChildStack> {
        let page = 4096;
        let len = size.next_multiple_of(page) + page;
        // SAFETY: anonymous private mapping, checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the lowest page of our own mapping becomes the guard.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            let e = io::Error::last_os_error();
            // SAFETY: unmapping what we just mapped.
            unsafe { libc::munmap(base, len) };
            return Err(e);
        }
        Ok(ChildStack { base, len })
    }

    /// The usable part, above the guard page, as `clone3` wants it: (lowest address, size).
    pub fn region(&self) -> (u64, u64) {
        let page = 4096;
        (self.base as u64 + page, (self.len - page as usize) as u64)
    }

    /// The (16-byte aligned) top of the stack.
    pub fn top(&self) -> *mut u8 {
        // SAFETY: one past the end of our mapping; len is a multiple of the page size.
        unsafe { self.base.cast::<u8>().add(self.len) }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no child uses it any more (runs hold the slot).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Block every signal in the calling thread (glibc's internal ones too, which
/// `pthread_sigmask` refuses to block); returns the previous mask for [`restore_signals`].
pub fn block_all_signals() -> u64 {
    let all: u64 = !0;
    let mut old: u64 = 0;
    // SAFETY: rt_sigprocmask with valid 8-byte masks.
    unsafe {
        raw(
            libc::SYS_rt_sigprocmask,
            [
                libc::SIG_SETMASK as usize,
                &all as *const u64 as usize,
                &mut old as *mut u64 as usize,
                8,
                0,
                0,
            ],
        )
    };
    old
}

pub fn restore_signals(old: u64) {
    // SAFETY: rt_sigprocmask with a valid 8-byte mask.
    unsafe {
        raw(
            libc::SYS_rt_sigprocmask,
            [
                libc::SIG_SETMASK as usize,
                &old as *const u64 as usize,
                0,
                8,
                0,
                0,
            ],
        )
    };
}

/// `exit_group` without running atexit handlers or flushing stdio.
pub fn raw_exit(code: c_int) -> ! {
    loop {
        // SAFETY: exit_group does not return.
        unsafe { raw3(libc::SYS_exit_group, code as usize, 0, 0) };
    }
}

/// Write all of `buf` to `fd` (short writes retried), ignoring failures: used only to report
/// to the parent, which treats a missing report as an error anyway.
pub fn raw_write_all(fd: RawFd, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice.
        let n = unsafe {
            raw3(
                libc::SYS_write,
                fd as usize,
                buf.as_ptr() as usize,
                buf.len(),
            )
        };
        if n == -(libc::EINTR as isize) {
            continue;
        }
        if n <= 0 {
            return;
        }
        buf = buf.get(n as usize..).unwrap_or(&[]);
    }
}

/// Close every descriptor above 2 that is not in `keep` (sorted ascending).
pub fn raw_close_all_but(keep: &[RawFd]) {
    let mut next: c_uint = 3;
    for &fd in keep {
        if fd < 3 {
            continue;
        }
        let fd = fd as c_uint;
        if fd > next {
            // SAFETY: plain syscall.
            unsafe { raw3(libc::SYS_close_range, next as usize, (fd - 1) as usize, 0) };
        }
        next = fd.saturating_add(1);
    }
    // SAFETY: plain syscall.
    unsafe {
        raw3(
            libc::SYS_close_range,
            next as usize,
            c_uint::MAX as usize,
            0,
        )
    };
}
