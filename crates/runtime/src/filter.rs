//! A seccomp profile as the kernel runs it: a BPF program. Compiling docker's profile
//! (three architectures, some 350 syscalls) with libseccomp takes milliseconds, more than
//! the rest of a container's start, so the program is compiled once per profile, kept
//! in the runtime's state directory under the profile's digest, and loaded from there
//! with one `seccomp(2)` call by every later container with the same profile (crun
//! does the same).
//!
//! The translation follows runc's: the default errno is EPERM, a rule whose action is
//! the default one is left out, names the kernel does not know are skipped, several
//! comparisons of one argument become separate rules, and `SCMP_CMP_MASKED_EQ` masks
//! the argument with `value` and compares it with `valueTwo` (docker's `clone` rule
//! means "no namespace flags" that way).

use std::io::Write;
use std::path::{Path, PathBuf};

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

/// One BPF instruction (`struct sock_filter`) is 8 bytes.
const INSTRUCTION: usize = std::mem::size_of::<libc::sock_filter>();

/// A compiled profile: the program and the `seccomp(2)` flags it is loaded with.
pub struct Program {
    instructions: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

impl Program {
    /// The program for `profile`, compiled unless `cache` already holds it (it is then
    /// added there). `None` for a profile gantry leaves to the runtime: one that hands
    /// syscalls to a user-space agent (`SCMP_ACT_NOTIFY`) needs the runtime's socket.
    pub fn cached(profile: &LinuxSeccomp, cache: &Path) -> Result<Option<Program>, String> {
        if !Self::compilable(profile) {
            return Ok(None);
        }
        let flags = flags(profile);
        let path = Self::cache_path(profile, cache)?;
        if let Some(instructions) = std::fs::read(&path).ok().and_then(|b| decode(&b)) {
            return Ok(Some(Program { instructions, flags }));
        }
        // Exported into a file of its own, renamed into place once whole.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let compiled = compile(profile, &tmp).and_then(|()| {
            let bytes = std::fs::read(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            let instructions = decode(&bytes).ok_or("libseccomp exported a malformed program")?;
            std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(instructions)
        });
        if compiled.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        Ok(Some(Program { instructions: compiled?, flags }))
    }

    fn compilable(profile: &LinuxSeccomp) -> bool {
        let notify = LinuxSeccompAction::ScmpActNotify;
        profile.default_action() != notify
            && profile.syscalls().iter().flatten().all(|s| s.action() != notify)
            && profile.listener_path().is_none()
    }

    /// `<cache>/<sha256 of the profile's JSON>.bpf`.
    fn cache_path(profile: &LinuxSeccomp, cache: &Path) -> Result<PathBuf, String> {
        let json = serde_json::to_vec(profile).map_err(|e| format!("seccomp profile: {e}"))?;
        let mut h = gantry_image::Sha256::new();
        h.update(&json);
        std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
        Ok(cache.join(format!("{}.bpf", h.finish().hex())))
    }

    /// Installs the program on the calling thread. Without `no_new_privs` this needs
    /// CAP_SYS_ADMIN, so it comes before the capabilities are dropped (as in runc).
    pub fn load(&self) -> std::io::Result<()> {
        let len = u16::try_from(self.instructions.len()).map_err(|_| std::io::Error::from_raw_os_error(libc::E2BIG))?;
        let prog = libc::sock_fprog { len, filter: self.instructions.as_ptr().cast_mut() };
        // SAFETY: `prog` points at `len` instructions that outlive the call; the kernel
        // copies and verifies them.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// The `seccomp(2)` flags the profile asks for.
fn flags(profile: &LinuxSeccomp) -> libc::c_ulong {
    profile.flags().iter().flatten().fold(0, |acc, f| {
        acc | match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            // Only meaningful with a notify listener, which is never compiled here.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        }
    })
}

/// The exported program as instructions; `None` unless it is a whole number of them.
fn decode(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(INSTRUCTION) {
        return None;
    }
    let instructions = bytes
        .chunks_exact(INSTRUCTION)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Some(instructions)
}

/// A name as libseccomp spells it: the OCI JSON form of the value (`SCMP_ARCH_X86_64`).
fn oci_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    let name = oci_name(&action);
    ScmpAction::from_str(&name, Some(errno)).map_err(|e| format!("seccomp action {name}: {e}"))
}

fn compare(index: u32, op: LinuxSeccompOperator, value: u64, value_two: Option<u64>) -> ScmpArgCompare {
    match op {
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            ScmpArgCompare::new(index, ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0))
        }
        LinuxSeccompOperator::ScmpCmpNe => ScmpArgCompare::new(index, ScmpCompareOp::NotEqual, value),
        LinuxSeccompOperator::ScmpCmpLt => ScmpArgCompare::new(index, ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => ScmpArgCompare::new(index, ScmpCompareOp::LessOrEqual, value),
        LinuxSeccompOperator::ScmpCmpEq => ScmpArgCompare::new(index, ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpGe => ScmpArgCompare::new(index, ScmpCompareOp::GreaterEqual, value),
        LinuxSeccompOperator::ScmpCmpGt => ScmpArgCompare::new(index, ScmpCompareOp::Greater, value),
    }
}

/// libseccomp's program for `profile`, exported into the file `out`.
fn compile(profile: &LinuxSeccomp, out: &Path) -> Result<(), String> {
    let failed = |what: &str, e: libseccomp::error::SeccompError| format!("seccomp profile: {what}: {e}");
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| failed("default action", e))?;
    for arch in profile.architectures().iter().flatten() {
        let name = oci_name(arch);
        let arch = name.parse::<ScmpArch>().map_err(|e| failed(&name, e))?;
        ctx.add_arch(arch).map_err(|e| failed(&name, e))?;
    }
    // The runtime decides about no_new_privs, not the filter.
    ctx.set_ctl_nnp(false).map_err(|e| failed("no_new_privs", e))?;
    for rule in profile.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let args: Vec<ScmpArgCompare> =
            rule.args().iter().flatten().map(|a| compare(a.index() as u32, a.op(), a.value(), a.value_two())).collect();
        let mut indexes: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
        indexes.sort_unstable();
        let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall the kernel lacks.
            let Ok(syscall) = ScmpSyscall::from_name(name) else { continue };
            let added = if args.is_empty() {
                ctx.add_rule(act, syscall).map(drop)
            } else if repeated {
                // libseccomp compares an argument once per rule: one rule per comparison.
                args.iter().try_for_each(|c| ctx.add_rule_conditional(act, syscall, std::slice::from_ref(c)).map(drop))
            } else {
                ctx.add_rule_conditional(act, syscall, &args).map(drop)
            };
            added.map_err(|e| failed(name, e))?;
        }
    }
    let mut file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    ctx.export_bpf(&file).map_err(|e| failed("export", e))?;
    file.flush().map_err(|e| format!("{}: {e}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> LinuxSeccomp {
        let caps: Vec<String> = crate::spec::DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect();
        crate::seccomp::docker_default(&caps)
    }

    fn code(p: &Program) -> Vec<(u16, u8, u8, u32)> {
        p.instructions.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
    }

    #[test]
    fn compiles_once_and_reads_the_same_program_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = Program::cached(&profile(), dir.path()).unwrap().unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "one cached program and no scratch file: {files:?}");
        assert!(files[0].extension().is_some_and(|e| e == "bpf"));
        assert!(first.instructions.len() > 100);
        assert_eq!(first.instructions.last().unwrap().code, (libc::BPF_RET | libc::BPF_K) as u16);
        let again = Program::cached(&profile(), dir.path()).unwrap().unwrap();
        assert_eq!(code(&first), code(&again));
    }

    #[test]
    fn a_damaged_cache_entry_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let first = Program::cached(&profile(), dir.path()).unwrap().unwrap();
        let path = Program::cache_path(&profile(), dir.path()).unwrap();
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(code(&Program::cached(&profile(), dir.path()).unwrap().unwrap()), code(&first));
        assert_eq!(std::fs::read(&path).unwrap().len(), first.instructions.len() * INSTRUCTION);
    }

    #[test]
    fn other_profiles_get_other_programs() {
        let dir = tempfile::tempdir().unwrap();
        let admin = vec!["CAP_SYS_ADMIN".to_string()];
        let a = Program::cached(&profile(), dir.path()).unwrap().unwrap();
        let b = Program::cached(&crate::seccomp::docker_default(&admin), dir.path()).unwrap().unwrap();
        assert_ne!(code(&a), code(&b));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn notify_profiles_are_left_to_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = profile();
        p.set_default_action(LinuxSeccompAction::ScmpActNotify);
        assert!(Program::cached(&p, dir.path()).unwrap().is_none());
    }

    #[test]
    fn a_profile_libseccomp_refuses_is_one_error_and_no_cache_entry() {
        let dir = tempfile::tempdir().unwrap();
        let p: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]
        }))
        .unwrap();
        let e = Program::cached(&p, dir.path()).err().expect("an argument index past 5 is refused");
        assert!(e.starts_with("seccomp profile: read:"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing cached, no scratch file left");
    }

    /// What the loaded program does: a child process installs it and reports how
    /// `getpgid` (unused by anything else) fares with several arguments.
    #[test]
    fn masked_equal_masks_with_value_and_compares_with_value_two() {
        // ENOTSUP when (arg0 & 0xF0) == 0x20, as runc reads a masked rule such as
        // docker's clone rule; everything else allowed. (Read the other way round,
        // masking with 0x20, 0x33 would match too.)
        let p: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTSUP,
                          "args": [{"index": 0, "value": 0xF0, "valueTwo": 0x20, "op": "SCMP_CMP_MASKED_EQ"}]}]
        }))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let program = Program::cached(&p, dir.path()).unwrap().unwrap();
        let errno_of = |arg: libc::c_long| -> libc::c_long {
            // SAFETY: raw getpgid; only errno is looked at.
            let r = unsafe { libc::syscall(libc::SYS_getpgid, arg) };
            if r < 0 {
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as libc::c_long
            } else {
                0
            }
        };
        // SAFETY: the child only makes raw syscalls (no allocation) and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            let ok = program.load().is_ok()
                && errno_of(0x7FFF_FF23) == libc::ENOTSUP as libc::c_long
                && errno_of(0x7FFF_FF33) == libc::ESRCH as libc::c_long
                && errno_of(0x7FFF_FF13) == libc::ESRCH as libc::c_long
                && errno_of(0) == 0;
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status:#x}");
    }
}
