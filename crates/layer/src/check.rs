//! Per-entry checks: everything that would let a layer write outside its root, or that
//! we cannot apply faithfully, is refused before the layer enters the store.
//!
//! Checks are lexical (on the bytes of names and link targets): the store applies layers
//! with paths resolved inside the root anyway (DESIGN.md, "Safe by construction"); this
//! is the first line, and it gives a precise message naming the entry.

use std::io::Read;

use crate::LayerError;

/// What is wrong with one entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    /// `/etc/passwd`: layer paths are relative to the root.
    #[error("path is absolute")]
    AbsolutePath,
    /// Any `..` component (docker cleans `a/../b`; we refuse it, no tool writes it).
    #[error("path escapes the root")]
    PathEscapes,
    /// A NUL byte inside a name (only possible through pax / GNU long names).
    #[error("path or link target contains a NUL byte")]
    NulByte,
    /// A non-directory entry for the root itself (`.` or `./` as a file or link).
    #[error("the root can only be a directory")]
    RootNotDirectory,
    /// A hardlink without a target, or to the root directory.
    #[error("hardlink has no target")]
    EmptyHardlink,
    /// A hardlink to a path above the root.
    #[error("hardlink target {0:?} escapes the root")]
    HardlinkEscapes(String),
    /// `ln -s ""` is impossible on Linux.
    #[error("symlink has an empty target")]
    EmptySymlink,
    /// A relative symlink that climbs above the root (docker: "invalid symlink").
    #[error("invalid symlink: target {0:?} escapes the root")]
    SymlinkEscapes(String),
    /// `.wh.`, `.wh..` or `.wh...`: a whiteout that would delete its own directory or
    /// its parent.
    #[error("whiteout names no file")]
    InvalidWhiteout,
    /// Anything but a regular file, directory, symlink, hardlink, device or fifo
    /// (contiguous and sparse files, GNU volume headers...), which docker refuses too.
    #[error("unsupported entry type {0}")]
    UnsupportedType(String),
}

/// Checks one entry; returns what it adds to the layer's content size (regular file
/// size, symlink target length, 0 for everything else, like docker).
pub(crate) fn check_entry<R: Read>(entry: &tar::Entry<'_, R>) -> Result<u64, LayerError> {
    let path = entry.path_bytes();
    let fail = |problem| LayerError::Entry { path: String::from_utf8_lossy(&path).into_owned(), problem };
    let kind = entry.header().entry_type().as_byte();
    if kind == b'g' {
        // A pax global header (git archive writes one): metadata, not a file. Docker ignores it.
        return Ok(0);
    }
    let depth = check_path(&path).map_err(fail)?;
    let is_root = depth == 0;
    match kind {
        b'0' | b'\0' => {
            if is_root {
                return Err(fail(EntryProblem::RootNotDirectory));
            }
            Ok(entry.size())
        }
        b'5' => Ok(0),
        b'1' => {
            if is_root {
                return Err(fail(EntryProblem::RootNotDirectory));
            }
            check_hardlink(entry.link_name_bytes().as_deref().unwrap_or(b"")).map_err(fail)?;
            Ok(0)
        }
        b'2' => {
            if is_root {
                return Err(fail(EntryProblem::RootNotDirectory));
            }
            let target = entry.link_name_bytes();
            let target = target.as_deref().unwrap_or(b"");
            check_symlink(&path, target).map_err(fail)?;
            Ok(target.len() as u64)
        }
        b'3' | b'4' | b'6' => {
            if is_root {
                return Err(fail(EntryProblem::RootNotDirectory));
            }
            Ok(0)
        }
        other => Err(fail(EntryProblem::UnsupportedType(type_name(other)))),
    }
}

/// Checks an entry path; returns its depth (number of components; 0 = the root).
fn check_path(path: &[u8]) -> Result<usize, EntryProblem> {
    if path.contains(&0) {
        return Err(EntryProblem::NulByte);
    }
    if path.starts_with(b"/") {
        return Err(EntryProblem::AbsolutePath);
    }
    let mut depth = 0;
    let mut last: &[u8] = b"";
    for component in components(path) {
        if component == b".." {
            return Err(EntryProblem::PathEscapes);
        }
        depth += 1;
        last = component;
    }
    if let Some(rest) = last.strip_prefix(b".wh.") {
        if rest.is_empty() || rest == b"." || rest == b".." {
            return Err(EntryProblem::InvalidWhiteout);
        }
    }
    Ok(depth)
}

/// Hardlink targets are root-relative whatever they look like (a leading `/` is
/// ignored, as docker joins them to the root).
fn check_hardlink(target: &[u8]) -> Result<(), EntryProblem> {
    if target.contains(&0) {
        return Err(EntryProblem::NulByte);
    }
    let escapes = || EntryProblem::HardlinkEscapes(String::from_utf8_lossy(target).into_owned());
    match walk(0, target) {
        None => Err(escapes()),
        Some(0) => Err(EntryProblem::EmptyHardlink),
        Some(_) => Ok(()),
    }
}

/// Absolute symlink targets resolve inside the root when the container runs, so they
/// are fine; a relative one, joined to the link's directory, must not climb above the
/// root (which would point outside it when resolved on the host).
fn check_symlink(path: &[u8], target: &[u8]) -> Result<(), EntryProblem> {
    if target.is_empty() {
        return Err(EntryProblem::EmptySymlink);
    }
    if target.contains(&0) {
        return Err(EntryProblem::NulByte);
    }
    if target.starts_with(b"/") {
        return Ok(());
    }
    // The path has no `..` (checked before), so its depth is its component count.
    let parent_depth = components(path).count().saturating_sub(1);
    match walk(parent_depth, target) {
        Some(_) => Ok(()),
        None => Err(EntryProblem::SymlinkEscapes(String::from_utf8_lossy(target).into_owned())),
    }
}

/// Walks `path` lexically from `depth`; `None` if it ever goes above the root.
fn walk(mut depth: usize, path: &[u8]) -> Option<usize> {
    for component in components(path) {
        if component == b".." {
            depth = depth.checked_sub(1)?;
        } else {
            depth += 1;
        }
    }
    Some(depth)
}

/// Path components, without empty ones and `.` (`a//./b/` is `a`, `b`).
fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".")
}

fn type_name(kind: u8) -> String {
    let name = match kind {
        b'7' => " (contiguous file)",
        b'S' => " (GNU sparse file)",
        b'V' => " (GNU volume header)",
        b'M' => " (GNU multi-volume continuation)",
        b'D' => " (GNU dump directory)",
        b'N' => " (GNU old long name)",
        b'L' | b'K' | b'x' => " (long name or pax header in a pre-POSIX tar)",
        _ => "",
    };
    format!("{:?}{name}", kind as char)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(check_path(b"a/b/c"), Ok(3));
        assert_eq!(check_path(b"./a//./b/"), Ok(2));
        assert_eq!(check_path(b"./"), Ok(0));
        assert_eq!(check_path(b""), Ok(0));
        assert_eq!(check_path(b"/etc/x"), Err(EntryProblem::AbsolutePath));
        assert_eq!(check_path(b"../etc/passwd"), Err(EntryProblem::PathEscapes));
        assert_eq!(check_path(b"a/../b"), Err(EntryProblem::PathEscapes));
        assert_eq!(check_path(b"a/.."), Err(EntryProblem::PathEscapes));
        assert_eq!(check_path(b"a\0b"), Err(EntryProblem::NulByte));
        assert_eq!(check_path(b"..a/b.."), Ok(2));
        assert_eq!(check_path(b"a/.wh.b"), Ok(2));
        assert_eq!(check_path(b"a/.wh..wh..opq"), Ok(2));
        for bad in [&b"a/.wh."[..], b".wh..", b"a/.wh..."] {
            assert_eq!(check_path(bad), Err(EntryProblem::InvalidWhiteout), "{bad:?}");
        }
    }

    #[test]
    fn hardlinks() {
        assert_eq!(check_hardlink(b"a/b"), Ok(()));
        assert_eq!(check_hardlink(b"/a/b"), Ok(()));
        assert_eq!(check_hardlink(b"a/../b"), Ok(()));
        assert!(matches!(check_hardlink(b"../b"), Err(EntryProblem::HardlinkEscapes(_))));
        assert!(matches!(check_hardlink(b"/../b"), Err(EntryProblem::HardlinkEscapes(_))));
        assert!(matches!(check_hardlink(b"a/../../b"), Err(EntryProblem::HardlinkEscapes(_))));
        assert_eq!(check_hardlink(b""), Err(EntryProblem::EmptyHardlink));
        assert_eq!(check_hardlink(b"a/.."), Err(EntryProblem::EmptyHardlink));
    }

    #[test]
    fn symlinks() {
        assert_eq!(check_symlink(b"a/l", b"/etc/passwd"), Ok(()));
        assert_eq!(check_symlink(b"a/l", b"/../../etc"), Ok(()));
        assert_eq!(check_symlink(b"a/l", b"b"), Ok(()));
        assert_eq!(check_symlink(b"a/l", b".."), Ok(()));
        assert_eq!(check_symlink(b"a/b/l", b"../../x"), Ok(()));
        assert_eq!(check_symlink(b"./a/b/l/", b"../../x"), Ok(()));
        assert!(matches!(check_symlink(b"l", b"../x"), Err(EntryProblem::SymlinkEscapes(_))));
        assert!(matches!(check_symlink(b"a/l", b"../../x"), Err(EntryProblem::SymlinkEscapes(_))));
        // Climbing out and back in is still out: the root's own name is unknown.
        assert!(matches!(check_symlink(b"a/l", b"b/../../../a"), Err(EntryProblem::SymlinkEscapes(_))));
        assert_eq!(check_symlink(b"a/l", b""), Err(EntryProblem::EmptySymlink));
    }

    #[test]
    fn type_names() {
        assert_eq!(type_name(b'S'), "'S' (GNU sparse file)");
        assert_eq!(type_name(1), "'\\u{1}'");
    }
}
