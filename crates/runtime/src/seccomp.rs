//! Docker's default seccomp profile, as `docker run` applies it.
//!
//! The table below transcribes moby's `profiles/seccomp/default.json` as shipped with the last Docker 20.10
//! release (20.10.27): 20.10.0's profile plus the 20.10.x backports (5.11 syscalls #41971, `clone3` → ENOSYS
//! #42836, Landlock and kernel 5.12–5.16 syscalls #43991, `name_to_handle_at` always allowed #45835; the AF_VSOCK
//! block of 20.10.22 was reverted in 20.10.23). Like 20.10's `setupSeccomp`, [`docker_default`] keeps the rules
//! whose `includes` the container meets and drops those whose `excludes` it meets, for the architecture gantry is
//! compiled for and the running kernel.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompOperator, LinuxSyscall,
};

/// Docker's default seccomp profile for a container with these capabilities (names like "CAP_SYS_ADMIN"):
/// docker adds the rules whose `includes.caps` the container has and drops those whose `excludes.caps` it has.
///
/// Like 20.10 it sets no `defaultErrnoRet` (the profile only gained one in 23.0): blocked syscalls fail with the
/// runtime's default errno, EPERM for runc and youki alike.
pub fn docker_default(capabilities: &[String]) -> LinuxSeccomp {
    build(capabilities, &NATIVE, running_kernel())
}

/// The syscalls every container may make, whatever its capabilities (moby's first, unconditional rule).
const ALWAYS: &str = "\
    accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime \
    clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep \
    clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create \
    epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd \
    eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate \
    fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr \
    flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate \
    ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 \
    geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid \
    getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list \
    getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr \
    inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents \
    io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter \
    io_uring_register io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset \
    landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek \
    lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier memfd_create memfd_secret mincore mkdir \
    mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open \
    mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget \
    msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open \
    openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 poll ppoll ppoll_time64 prctl pread64 \
    preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read \
    readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages \
    removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending \
    rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 \
    rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max \
    sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 \
    sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl \
    semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid \
    setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority \
    setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit \
    set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl \
    shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socket socketcall socketpair \
    splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee \
    tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime \
    timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times \
    tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes \
    vfork vmsplice wait4 waitid waitpid write writev";

/// `clone` flags that create namespaces; without CAP_SYS_ADMIN docker lets `clone` through only when none is set.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

const SYS_ADMIN: &[&str] = &["CAP_SYS_ADMIN"];
const S390: &[&str] = &["s390", "s390x"];

/// moby's rules, in its order (the order is kept in the output, as docker does).
const PROFILE: &[Rule] = &[
    allow(ALWAYS),
    // ptrace is only safe from 4.8 on, where seccomp can no longer be bypassed with it.
    allow("ptrace").if_kernel(4, 8),
    // personality(2) only for the Linux personalities, with or without UNAME26, and for querying (0xffffffff).
    allow("personality").with_args(&[(0, 0x0, EQ)]),
    allow("personality").with_args(&[(0, 0x0008, EQ)]),
    allow("personality").with_args(&[(0, 0x20000, EQ)]),
    allow("personality").with_args(&[(0, 0x20008, EQ)]),
    allow("personality").with_args(&[(0, 0xffff_ffff, EQ)]),
    allow("sync_file_range2").if_arches(&["ppc64le"]),
    allow("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls")
        .if_arches(&["arm", "arm64"]),
    allow("arch_prctl").if_arches(&["amd64", "x32"]),
    allow("modify_ldt").if_arches(&["amd64", "x32", "x86"]),
    allow("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr").if_arches(S390),
    allow("open_by_handle_at").if_caps(&["CAP_DAC_READ_SEARCH"]),
    allow(
        "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr \
         move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount \
         umount2 unshare",
    )
    .if_caps(SYS_ADMIN),
    allow("clone").with_args(&[(0, CLONE_NAMESPACE_FLAGS, MASKED_EQ)]).unless_caps(SYS_ADMIN).unless_arches(S390),
    // s390 passes the flags as clone's second argument.
    allow("clone").with_args(&[(1, CLONE_NAMESPACE_FLAGS, MASKED_EQ)]).if_arches(S390).unless_caps(SYS_ADMIN),
    // clone3's flags are behind a pointer seccomp cannot read: ENOSYS makes glibc fall back to (filtered) clone.
    errno("clone3", libc::ENOSYS as u32).unless_caps(SYS_ADMIN),
    allow("reboot").if_caps(&["CAP_SYS_BOOT"]),
    allow("chroot").if_caps(&["CAP_SYS_CHROOT"]),
    allow("delete_module init_module finit_module").if_caps(&["CAP_SYS_MODULE"]),
    allow("acct").if_caps(&["CAP_SYS_PACCT"]),
    allow("kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace").if_caps(&["CAP_SYS_PTRACE"]),
    allow("iopl ioperm").if_caps(&["CAP_SYS_RAWIO"]),
    allow("settimeofday stime clock_settime clock_settime64").if_caps(&["CAP_SYS_TIME"]),
    allow("vhangup").if_caps(&["CAP_SYS_TTY_CONFIG"]),
    allow("get_mempolicy mbind set_mempolicy").if_caps(&["CAP_SYS_NICE"]),
    allow("syslog").if_caps(&["CAP_SYSLOG"]),
];

const EQ: LinuxSeccompOperator = LinuxSeccompOperator::ScmpCmpEq;
const MASKED_EQ: LinuxSeccompOperator = LinuxSeccompOperator::ScmpCmpMaskedEq;

/// One rule of the profile: a syscall group (names separated by spaces), what to do with it, and when it applies.
struct Rule {
    names: &'static str,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    /// (argument index, value, operator); every condition must hold.
    args: &'static [(usize, u64, LinuxSeccompOperator)],
    includes: Filter,
    excludes: Filter,
}

/// moby's `includes`/`excludes`: a rule is included when the container has all of `caps`, runs on one of `arches`
/// and on at least `min_kernel`; excluded when it has any of `caps`, runs on one of `arches` or on `min_kernel`+.
#[derive(Clone, Copy)]
struct Filter {
    caps: &'static [&'static str],
    /// Go's GOARCH names ("amd64", "arm64"...), which is what docker compares them with.
    arches: &'static [&'static str],
    min_kernel: Option<(u32, u32)>,
}

const ANY: Filter = Filter { caps: &[], arches: &[], min_kernel: None };

const fn allow(names: &'static str) -> Rule {
    Rule { names, action: LinuxSeccompAction::ScmpActAllow, errno_ret: None, args: &[], includes: ANY, excludes: ANY }
}

const fn errno(names: &'static str, errno: u32) -> Rule {
    Rule { action: LinuxSeccompAction::ScmpActErrno, errno_ret: Some(errno), ..allow(names) }
}

impl Rule {
    const fn with_args(mut self, args: &'static [(usize, u64, LinuxSeccompOperator)]) -> Rule {
        self.args = args;
        self
    }

    const fn if_caps(mut self, caps: &'static [&'static str]) -> Rule {
        self.includes.caps = caps;
        self
    }

    const fn if_arches(mut self, arches: &'static [&'static str]) -> Rule {
        self.includes.arches = arches;
        self
    }

    const fn if_kernel(mut self, major: u32, minor: u32) -> Rule {
        self.includes.min_kernel = Some((major, minor));
        self
    }

    const fn unless_caps(mut self, caps: &'static [&'static str]) -> Rule {
        self.excludes.caps = caps;
        self
    }

    const fn unless_arches(mut self, arches: &'static [&'static str]) -> Rule {
        self.excludes.arches = arches;
        self
    }

    /// Whether docker keeps this rule for the container (20.10's `setupSeccomp`). An unknown kernel counts as
    /// new enough: the kernel check only guards against pre-4.8 kernels, which gantry does not support anyway.
    fn applies(&self, caps: &[String], arch: &str, kernel: Option<(u32, u32)>) -> bool {
        let has = |cap: &&str| caps.iter().any(|c| c == cap);
        let kernel_at_least = |min: (u32, u32)| kernel.is_none_or(|k| k >= min);
        let ex = &self.excludes;
        if ex.arches.contains(&arch) || ex.caps.iter().any(has) || ex.min_kernel.is_some_and(kernel_at_least) {
            return false;
        }
        let inc = &self.includes;
        (inc.arches.is_empty() || inc.arches.contains(&arch))
            && inc.caps.iter().all(has)
            && inc.min_kernel.is_none_or(kernel_at_least)
    }

    /// The OCI form of the rule; `None` if an argument condition cannot be built (it always can), dropping the
    /// rule rather than allowing its syscalls unconditionally.
    fn to_oci(&self) -> Option<LinuxSyscall> {
        let mut syscall = LinuxSyscall::default();
        syscall.set_names(self.names.split_whitespace().map(String::from).collect());
        syscall.set_action(self.action);
        syscall.set_errno_ret(self.errno_ret);
        if !self.args.is_empty() {
            let args = self
                .args
                .iter()
                .map(|&(index, value, op)| LinuxSeccompArgBuilder::default().index(index).value(value).op(op).build());
            syscall.set_args(Some(args.collect::<Result<_, _>>().ok()?));
        }
        Some(syscall)
    }
}

/// The compile target as docker's seccomp code sees it: Go's name for it (what `arches` filters match) and its
/// archMap entry, the native architecture then the compat ones the filter must cover too (empty: native only).
struct Native {
    go_arch: &'static str,
    architectures: &'static [Arch],
}

const NATIVE: Native = if cfg!(target_arch = "x86_64") {
    Native { go_arch: "amd64", architectures: &[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32] }
} else if cfg!(target_arch = "aarch64") {
    Native { go_arch: "arm64", architectures: &[Arch::ScmpArchAarch64, Arch::ScmpArchArm] }
} else if cfg!(target_arch = "s390x") {
    Native { go_arch: "s390x", architectures: &[Arch::ScmpArchS390x, Arch::ScmpArchS390] }
} else if cfg!(all(target_arch = "mips64", target_endian = "big")) {
    Native { go_arch: "mips64", architectures: &[Arch::ScmpArchMips64, Arch::ScmpArchMips, Arch::ScmpArchMips64n32] }
} else if cfg!(target_arch = "mips64") {
    Native {
        go_arch: "mips64le",
        architectures: &[Arch::ScmpArchMipsel64, Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
    }
} else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
    Native { go_arch: "ppc64le", architectures: &[] }
} else if cfg!(target_arch = "riscv64") {
    Native { go_arch: "riscv64", architectures: &[] }
} else if cfg!(target_arch = "arm") {
    Native { go_arch: "arm", architectures: &[] }
} else if cfg!(target_arch = "x86") {
    Native { go_arch: "386", architectures: &[] }
} else {
    Native { go_arch: "", architectures: &[] }
};

fn build(caps: &[String], native: &Native, kernel: Option<(u32, u32)>) -> LinuxSeccomp {
    let mut seccomp = LinuxSeccomp::default();
    seccomp.set_default_action(LinuxSeccompAction::ScmpActErrno);
    if !native.architectures.is_empty() {
        seccomp.set_architectures(Some(native.architectures.to_vec()));
    }
    let rules = PROFILE.iter().filter(|r| r.applies(caps, native.go_arch, kernel));
    seccomp.set_syscalls(Some(rules.filter_map(Rule::to_oci).collect()));
    seccomp
}

/// A profile file as `docker run --security-opt seccomp=FILE` takes it: docker's format (OCI's plus `archMap`,
/// `name`, and `includes`/`excludes` per rule), resolved for a container with these capabilities on this machine
/// as 20.10's `setupSeccomp` does. The error is the reason alone.
pub fn from_docker_json(text: &str, capabilities: &[String]) -> Result<LinuxSeccomp, String> {
    use serde_json::{Map, Value};
    let profile: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Value::Object(profile) = profile else { return Err("the profile is not a JSON object".into()) };
    let mut out = Map::new();
    for key in ["defaultAction", "defaultErrnoRet", "flags", "listenerPath", "listenerMetadata"] {
        if let Some(v) = profile.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    let listed = |key: &str| profile.get(key).and_then(Value::as_array).filter(|a| !a.is_empty());
    match (listed("architectures"), listed("archMap")) {
        (Some(_), Some(_)) => {
            return Err("'architectures' and 'archMap' were specified in the seccomp profile, use either \
                        'architectures' or 'archMap'"
                .into())
        }
        (Some(arches), None) => {
            out.insert("architectures".into(), Value::Array(arches.clone()));
        }
        (None, Some(map)) => {
            // The entry for this machine's architecture: it and its compatible ones.
            let native = NATIVE.architectures.first().and_then(|a| serde_json::to_value(a).ok());
            if let Some(entry) = map.iter().find(|e| native.as_ref().is_some_and(|n| &e["architecture"] == n)) {
                let mut arches = vec![entry["architecture"].clone()];
                arches.extend(entry["subArchitectures"].as_array().cloned().unwrap_or_default());
                out.insert("architectures".into(), Value::Array(arches));
            }
        }
        (None, None) => {}
    }
    let kernel = running_kernel();
    let mut syscalls = Vec::new();
    for rule in profile.get("syscalls").and_then(Value::as_array).into_iter().flatten() {
        let names = match (rule.get("name").and_then(Value::as_str), listed_in(rule, "names")) {
            (Some(_), Some(_)) => {
                return Err(
                    "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'".into()
                )
            }
            (Some(name), None) => vec![Value::String(name.into())],
            (None, Some(names)) => names.clone(),
            (None, None) => continue,
        };
        let includes = Conditions::read(rule, "includes")?;
        let excludes = Conditions::read(rule, "excludes")?;
        let has = |cap: &String| capabilities.contains(cap);
        let kernel_at_least = |min: (u32, u32)| kernel.is_none_or(|k| k >= min);
        let excluded = excludes.arches.iter().any(|a| a == NATIVE.go_arch)
            || excludes.caps.iter().any(has)
            || excludes.min_kernel.is_some_and(kernel_at_least);
        let included = (includes.arches.is_empty() || includes.arches.iter().any(|a| a == NATIVE.go_arch))
            && includes.caps.iter().all(has)
            && includes.min_kernel.is_none_or(kernel_at_least);
        if excluded || !included {
            continue;
        }
        let mut oci = Map::new();
        oci.insert("names".into(), Value::Array(names));
        for key in ["action", "errnoRet", "args"] {
            if let Some(v) = rule.get(key).filter(|v| !v.is_null()) {
                oci.insert(key.into(), v.clone());
            }
        }
        syscalls.push(Value::Object(oci));
    }
    out.insert("syscalls".into(), Value::Array(syscalls));
    serde_json::from_value(Value::Object(out)).map_err(|e| e.to_string())
}

fn listed_in<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a Vec<serde_json::Value>> {
    v.get(key).and_then(serde_json::Value::as_array).filter(|a| !a.is_empty())
}

/// A rule's `includes` or `excludes` in a profile file.
struct Conditions {
    caps: Vec<String>,
    arches: Vec<String>,
    min_kernel: Option<(u32, u32)>,
}

impl Conditions {
    fn read(rule: &serde_json::Value, key: &str) -> Result<Conditions, String> {
        let c = &rule[key];
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
        };
        let min_kernel = match c["minKernel"].as_str() {
            Some(k) => Some(parse_release(k).ok_or_else(|| format!("invalid minKernel {k:?}"))?),
            None => None,
        };
        Ok(Conditions { caps: strings(&c["caps"]), arches: strings(&c["arches"]), min_kernel })
    }
}

/// The running kernel's (major, minor), which decides rules with a minimum kernel, as in docker.
fn running_kernel() -> Option<(u32, u32)> {
    parse_release(&std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?)
}

/// "5.15.0-105-generic" → (5, 15).
fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?;
    let digits = minor.find(|c: char| !c.is_ascii_digit()).unwrap_or(minor.len());
    Some((major, minor[..digits].parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD64: Native =
        Native { go_arch: "amd64", architectures: &[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32] };
    const ARM64: Native = Native { go_arch: "arm64", architectures: &[Arch::ScmpArchAarch64, Arch::ScmpArchArm] };
    const NEW_KERNEL: Option<(u32, u32)> = Some((5, 15));

    /// Docker's default capability set, which leaves out everything the gated rules ask for.
    const DEFAULT_CAPS: &[&str] = &crate::spec::DEFAULT_CAPABILITIES;

    fn caps(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn all_caps() -> Vec<String> {
        caps(&crate::spec::ALL_CAPABILITIES)
    }

    fn profile(cap_names: &[&str]) -> LinuxSeccomp {
        build(&caps(cap_names), &AMD64, NEW_KERNEL)
    }

    fn rules(seccomp: &LinuxSeccomp) -> &[LinuxSyscall] {
        seccomp.syscalls().as_deref().unwrap_or_default()
    }

    /// The rules naming `name`.
    fn rules_for<'a>(seccomp: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        rules(seccomp).iter().filter(|r| r.names().iter().any(|n| n == name)).collect()
    }

    /// Allowed whatever its arguments.
    fn allowed(seccomp: &LinuxSeccomp, name: &str) -> bool {
        rules_for(seccomp, name).iter().any(|r| r.action() == LinuxSeccompAction::ScmpActAllow && r.args().is_none())
    }

    #[test]
    fn default_action_is_errno_without_explicit_errno() {
        let p = profile(DEFAULT_CAPS);
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        // 20.10 sets none, so runtimes use EPERM; 23.0+ writes `"defaultErrnoRet": 1` explicitly.
        assert_eq!(p.default_errno_ret(), None);
        assert!(p.flags().is_none() && p.listener_path().is_none());
    }

    #[test]
    fn common_syscalls_are_always_allowed() {
        let p = profile(&[]);
        for name in ["read", "write", "execve", "exit_group", "futex", "openat", "mmap", "socket", "rseq", "statx"] {
            assert!(allowed(&p, name), "{name} should be allowed");
        }
        // Added by 20.10.x backports.
        for name in ["close_range", "epoll_pwait2", "faccessat2", "landlock_create_ruleset", "name_to_handle_at"] {
            assert!(allowed(&p, name), "{name} should be allowed");
        }
    }

    #[test]
    fn clone_is_masked_and_clone3_enosys_without_sys_admin() {
        let p = profile(DEFAULT_CAPS);
        assert!(!allowed(&p, "clone"));
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1, "only the masked rule, not the s390 one");
        let args = clone[0].args().as_deref().unwrap_or_default();
        assert_eq!(args.len(), 1);
        assert_eq!((args[0].index(), args[0].value(), args[0].op()), (0, 2114060288, MASKED_EQ));
        assert_eq!(clone[0].action(), LinuxSeccompAction::ScmpActAllow);

        let clone3 = rules_for(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(libc::ENOSYS as u32));
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            assert_eq!(clone3[0].errno_ret(), Some(38));
        }
    }

    #[test]
    fn sys_admin_unmasks_clone_and_allows_mount() {
        let p = profile(&["CAP_SYS_ADMIN"]);
        for name in ["clone", "clone3", "mount", "umount2", "unshare", "setns", "fsopen", "mount_setattr", "bpf"] {
            assert!(allowed(&p, name), "{name} should be allowed with CAP_SYS_ADMIN");
        }
        assert!(rules_for(&p, "clone").iter().all(|r| r.args().is_none()), "the masked clone rule is excluded");
        assert!(rules_for(&p, "clone3").iter().all(|r| r.action() == LinuxSeccompAction::ScmpActAllow));

        let unprivileged = profile(DEFAULT_CAPS);
        for name in ["mount", "umount2", "unshare", "setns", "bpf", "perf_event_open", "quotactl_fd"] {
            assert!(rules_for(&unprivileged, name).is_empty(), "{name} should not be allowed without CAP_SYS_ADMIN");
        }
    }

    #[test]
    fn capability_gated_rules() {
        let gated = [
            ("reboot", "CAP_SYS_BOOT"),
            ("init_module", "CAP_SYS_MODULE"),
            ("finit_module", "CAP_SYS_MODULE"),
            ("acct", "CAP_SYS_PACCT"),
            ("kcmp", "CAP_SYS_PTRACE"),
            ("iopl", "CAP_SYS_RAWIO"),
            ("settimeofday", "CAP_SYS_TIME"),
            ("clock_settime64", "CAP_SYS_TIME"),
            ("vhangup", "CAP_SYS_TTY_CONFIG"),
            ("mbind", "CAP_SYS_NICE"),
            ("syslog", "CAP_SYSLOG"),
            ("open_by_handle_at", "CAP_DAC_READ_SEARCH"),
        ];
        for (name, cap) in gated {
            assert!(!allowed(&profile(DEFAULT_CAPS), name), "{name} without {cap}");
            assert!(allowed(&profile(&[cap]), name), "{name} with {cap}");
        }
        // chroot is gated too, but CAP_SYS_CHROOT is a default capability.
        assert!(allowed(&profile(DEFAULT_CAPS), "chroot"));
        assert!(!allowed(&profile(&[]), "chroot"));
        // 20.10 has no CAP_BPF / CAP_PERFMON rules (23.0 added them).
        assert!(!allowed(&profile(&["CAP_BPF", "CAP_PERFMON"]), "bpf"));
    }

    #[test]
    fn dangerous_syscalls_are_never_allowed() {
        let p = build(&all_caps(), &AMD64, NEW_KERNEL);
        for name in [
            "kexec_load",
            "kexec_file_load",
            "add_key",
            "keyctl",
            "request_key",
            "pivot_root",
            "swapon",
            "swapoff",
            "userfaultfd",
            "move_pages",
            "uselib",
            "_sysctl",
            "vm86",
            "nfsservctl",
            "create_module",
            "query_module",
            "get_kernel_syms",
        ] {
            assert!(rules_for(&p, name).is_empty(), "{name} is not in docker's profile");
        }
    }

    #[test]
    fn ptrace_needs_kernel_4_8_or_cap_sys_ptrace() {
        let new = build(&caps(DEFAULT_CAPS), &AMD64, Some((4, 8)));
        assert!(allowed(&new, "ptrace"));
        assert!(!allowed(&new, "process_vm_readv"), "20.10 allows only ptrace itself by kernel version");
        let old = build(&caps(DEFAULT_CAPS), &AMD64, Some((4, 4)));
        assert!(!allowed(&old, "ptrace"));
        assert!(allowed(&build(&caps(&["CAP_SYS_PTRACE"]), &AMD64, Some((4, 4))), "ptrace"));
        // The machine running the tests has a kernel from this decade.
        assert!(allowed(&docker_default(&caps(DEFAULT_CAPS)), "ptrace"));
    }

    #[test]
    fn personality_only_with_known_values() {
        let p = profile(DEFAULT_CAPS);
        assert!(!allowed(&p, "personality"));
        let values: Vec<u64> = rules_for(&p, "personality")
            .iter()
            .flat_map(|r| r.args().as_deref().unwrap_or_default())
            .map(|a| {
                assert_eq!((a.index(), a.op()), (0, EQ));
                a.value()
            })
            .collect();
        assert_eq!(values, [0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    }

    #[test]
    fn architectures_follow_the_target() {
        let x86 = profile(DEFAULT_CAPS);
        assert_eq!(
            x86.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        assert!(allowed(&x86, "arch_prctl") && allowed(&x86, "modify_ldt"));
        assert!(!allowed(&x86, "cacheflush") && !allowed(&x86, "s390_runtime_instr"));

        let arm = build(&caps(DEFAULT_CAPS), &ARM64, NEW_KERNEL);
        assert_eq!(arm.architectures().as_deref(), Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..]));
        assert!(allowed(&arm, "cacheflush") && allowed(&arm, "set_tls"));
        assert!(!allowed(&arm, "arch_prctl") && !allowed(&arm, "modify_ldt"));

        let s390 = Native { go_arch: "s390x", architectures: &[Arch::ScmpArchS390x, Arch::ScmpArchS390] };
        let clone = build(&caps(DEFAULT_CAPS), &s390, NEW_KERNEL);
        let args: Vec<usize> = rules_for(&clone, "clone")
            .iter()
            .flat_map(|r| r.args().as_deref().unwrap_or_default())
            .map(|a| a.index())
            .collect();
        assert_eq!(args, [1], "s390 masks clone's second argument");

        let native = docker_default(&[]);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(native.architectures(), x86.architectures());
        } else if cfg!(target_arch = "aarch64") {
            assert_eq!(native.architectures(), arm.architectures());
        }
    }

    #[test]
    fn serializes_with_oci_field_names() {
        let json = serde_json::to_value(profile(DEFAULT_CAPS)).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(json.get("defaultErrnoRet").is_none());
        assert_eq!(json["architectures"], serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]));
        let syscalls = json["syscalls"].as_array().unwrap();
        assert_eq!(syscalls[0]["action"], "SCMP_ACT_ALLOW");
        assert_eq!(syscalls[0]["names"][0], "accept");
        assert!(syscalls[0].get("args").is_none());
        let clone = syscalls.iter().find(|s| s["names"] == serde_json::json!(["clone"])).unwrap();
        assert_eq!(
            clone["args"],
            serde_json::json!([{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}])
        );
        let clone3 = syscalls.iter().find(|s| s["names"] == serde_json::json!(["clone3"])).unwrap();
        assert_eq!(clone3["action"], "SCMP_ACT_ERRNO");
        assert_eq!(clone3["errnoRet"], libc::ENOSYS);
        // And it reads back as the same profile, as runtimes will.
        let back: LinuxSeccomp = serde_json::from_value(json).unwrap();
        assert_eq!(back, profile(DEFAULT_CAPS));
    }

    #[test]
    fn allowed_syscall_count_is_docker_s() {
        let unconditional: Vec<&str> = ALWAYS.split_whitespace().collect();
        let mut unique = unconditional.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), unconditional.len(), "no name twice");
        assert_eq!(unconditional.len(), 347, "20.10.27's unconditional list");

        let p = profile(DEFAULT_CAPS);
        let mut names: Vec<&str> = rules(&p)
            .iter()
            .filter(|r| r.action() == LinuxSeccompAction::ScmpActAllow && r.args().is_none())
            .flat_map(|r| r.names().iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        // + ptrace, arch_prctl, modify_ldt, chroot.
        assert_eq!(names.len(), 351);
        let privileged = build(&all_caps(), &AMD64, NEW_KERNEL);
        let mut all: Vec<&str> = rules(&privileged).iter().flat_map(|r| r.names().iter().map(String::as_str)).collect();
        all.sort_unstable();
        all.dedup();
        assert!((351..=420).contains(&all.len()), "{} syscalls with every capability", all.len());
    }

    #[test]
    fn kernel_release_parsing() {
        assert_eq!(parse_release("5.15.0-105-generic\n"), Some((5, 15)));
        assert_eq!(parse_release("6.1-rc3"), Some((6, 1)));
        assert_eq!(parse_release("4.8"), Some((4, 8)));
        assert_eq!(parse_release("garbage"), None);
        assert_eq!(parse_release("5"), None);
    }

    #[test]
    fn docker_profile_files_resolve_for_the_container() {
        let caps = vec!["CAP_CHOWN".to_string()];
        let text = r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
                {"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["chown"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_CHOWN"], "minKernel": "3.0"}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_CHOWN"]}},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
            ]}"#;
        let p = from_docker_json(text, &caps).unwrap();
        assert_eq!(p.default_errno_ret(), Some(38));
        let names: Vec<&str> = rules(&p).iter().flat_map(|r| r.names().iter().map(String::as_str)).collect();
        assert_eq!(names, ["read", "write", "chown", "personality"]);
        assert_eq!(rules(&p)[2].args().as_ref().map(Vec::len), Some(1));
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                p.architectures().clone().unwrap_or_default(),
                [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
            );
        }
        // An OCI profile reads as itself.
        let oci = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#;
        let p = from_docker_json(oci, &caps).unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(rules(&p)[0].names(), &["mkdir".to_string()]);
    }

    #[test]
    fn bad_profile_files_say_why() {
        let caps = Vec::new();
        for (text, why) in [
            ("{", "EOF"),
            ("[]", "not a JSON object"),
            (r#"{"defaultAction": "SCMP_ACT_NOPE"}"#, "unknown variant"),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86"}]}"#,
                "use either 'architectures' or 'archMap'",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}"#,
                "use either 'name' or 'names'",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "x"}}]}"#,
                "invalid minKernel",
            ),
        ] {
            let e = from_docker_json(text, &caps).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
