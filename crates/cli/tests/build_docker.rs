//! Differential tests: `gantry build` against the real docker (issues 3 and 4: RUN
//! cases included). Each case is built three times from the same context and the same
//! busybox base (loaded from the same archive into both tools):
//!
//! - by docker's legacy builder (`DOCKER_BUILDKIT=0 docker build`, Debian's 20.10),
//! - by docker's BuildKit (`DOCKER_BUILDKIT=1`, the BuildKit built into that dockerd),
//! - by gantry,
//!
//! and the results are compared: the image config's `config` section field by field,
//! `os`/`architecture`/`author`, and the merged filesystem (every path's type, mode,
//! owner, content or link target, and the mtime of non-directories) obtained from
//! `docker save` / `gantry save` by applying the layers in order, whiteouts included.
//!
//! The legacy builder is the reference. gantry follows BuildKit's Dockerfile semantics,
//! so where the legacy builder and BuildKit disagree, the expected value is BuildKit's,
//! and every such disagreement must be listed in the case with the reason
//! (`legacy_differs`): an undocumented one fails the test, so a new difference is never
//! silently absorbed. Cases the legacy builder cannot build at all (BuildKit-only
//! flags such as `--chmod`) use BuildKit as the reference (`Oracle::BuildKit`).
//! Documented differences that stop being differences fail too, so the table stays true.
//!
//! docker 20.10 embeds BuildKit v0.8. Where that old BuildKit has a bug that today's
//! BuildKit fixed, the case states today's value and the upstream fix
//! (`old_buildkit_bugs`). Timestamps, layer boundaries and history are not compared:
//! the legacy builder commits a layer per COPY/WORKDIR with its own history strings,
//! BuildKit (and gantry) write theirs; only the merged result must agree.
//!
//! Nothing about files' modes, owners or contents is normalized: a difference there is
//! a gantry bug. What is normalized, and why, is said next to the code that does it.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gantry_testkit::base;
use gantry_testkit::peers::Dockerd;
use gantry_testkit::Gantry;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// The base image both tools build from, loaded from the same archive (same image ID).
const BASE_TAG: &str = "busybox:latest";

/// Where a case's `base_dockerfile` is written in its context.
const BASE_DOCKERFILE: &str = "Dockerfile.base";

/// Fixed mtime of every context entry (2001-09-09T01:46:40Z), whole seconds: the
/// legacy client sends the context as a tar, which keeps only seconds.
const CONTEXT_MTIME: i64 = 1_000_000_000;

/// One entry of a case's build context.
#[derive(Clone, Copy)]
enum Ctx {
    /// A regular file with this content and mode.
    File(&'static str, u32),
    /// A directory with this mode (its contents are listed separately).
    Dir(u32),
    /// A symbolic link to this target.
    Link(&'static str),
}

/// What gantry is compared with.
enum Oracle {
    /// The legacy builder, except for the keys listed: known legacy-vs-BuildKit
    /// differences, where BuildKit's value is expected. A key is `config.<Field>`,
    /// `author`, or a path of the image (`/etc/x`), with the reason.
    Legacy { legacy_differs: &'static [(&'static str, &'static str)] },
    /// docker's BuildKit, because the legacy builder cannot build this Dockerfile.
    BuildKit { why: &'static str },
}

struct Case {
    name: &'static str,
    dockerfile: &'static str,
    context: &'static [(&'static str, Ctx)],
    /// Extra `build` arguments given to docker and gantry alike (`--build-arg`, `--target`).
    args: &'static [&'static str],
    oracle: Oracle,
    /// A Dockerfile built first (same context, same builder) and tagged
    /// `gantry-diff-base/<name>:latest`, for a case whose FROM needs a built image.
    base_dockerfile: Option<&'static str>,
    /// Bugs of the BuildKit in docker 20.10 (v0.8) that today's BuildKit fixed: the
    /// key, the value today's BuildKit gives (as the failure report prints it, or
    /// `<absent>`), why.
    old_buildkit_bugs: &'static [(&'static str, &'static str, &'static str)],
    /// Paths (and everything under them) that RUN steps write at build time: their
    /// mtimes are the build's clock in every builder, so they are not compared.
    run_made: &'static [&'static str],
}

// ---------------------------------------------------------------------------------
// The cases.
// ---------------------------------------------------------------------------------

const LEGACY: Oracle = Oracle::Legacy { legacy_differs: &[] };

/// Every metadata instruction, in its various syntaxes.
const METADATA: Case = Case {
    name: "metadata",
    dockerfile: r#"FROM busybox
MAINTAINER Jane Doe <jane@example.com>
LABEL a=1 "b c"="two words" d='single quoted'
LABEL multi="line \
one"
ENV A=1 B="two words" C=$A-x
ENV LEGACY legacy form value
ENV PATH=/opt/bin:$PATH
EXPOSE 8080 53/udp 443/tcp
EXPOSE 9000-9002
VOLUME ["/data", "/logs"]
VOLUME /cache /srv
USER user
STOPSIGNAL SIGUSR1
LABEL user=$USER home=${HOME:-unset} b=$B
"#,
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

const HEALTHCHECK_OPTIONS: Case = Case {
    name: "healthcheck_options",
    dockerfile: "FROM busybox\n\
                 HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=4 \\\n  CMD wget -q -O- http://localhost:8080/ || exit 1\n\
                 CMD [\"httpd\", \"-f\"]\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// HEALTHCHECK exec form in one stage, HEALTHCHECK NONE in a stage built FROM it.
const HEALTHCHECK_NONE_FROM_STAGE: Case = Case {
    name: "healthcheck_none_from_stage",
    dockerfile: "FROM busybox AS checked\n\
                 HEALTHCHECK --interval=1m30s CMD [\"/bin/true\"]\n\
                 LABEL stage=checked\n\
                 FROM checked\n\
                 HEALTHCHECK NONE\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: Oracle::Legacy {
        legacy_differs: &[(
            "config.Healthcheck",
            "HEALTHCHECK NONE: the legacy builder keeps the inherited Interval next to Test [\"NONE\"]; \
             BuildKit replaces the whole healthcheck",
        )],
    },
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// ENTRYPOINT clears the CMD inherited from the base image.
const ENTRYPOINT_CLEARS_INHERITED_CMD: Case = Case {
    name: "entrypoint_clears_inherited_cmd",
    dockerfile: "FROM busybox\nENTRYPOINT [\"/bin/echo\", \"hello\"]\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// CMD set in this stage survives a later ENTRYPOINT; shell forms wrap in /bin/sh -c.
const CMD_THEN_ENTRYPOINT_SHELL_FORM: Case = Case {
    name: "cmd_then_entrypoint_shell_form",
    dockerfile: "FROM busybox\nCMD [\"--help\"]\nENTRYPOINT /bin/echo \"start $HOME\"\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// ENTRYPOINT then CMD, both shell form; a second stage FROM it with ENTRYPOINT again
/// (the CMD it inherits is cleared: CMD was not set in *that* stage).
const ENTRYPOINT_THEN_CMD_AND_INHERITED: Case = Case {
    name: "entrypoint_then_cmd_and_inherited",
    dockerfile: "FROM busybox AS first\nENTRYPOINT echo first\nCMD echo args\n\
                 FROM first\nENTRYPOINT [\"/bin/sh\"]\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// SHELL changes how later shell-form CMD/ENTRYPOINT/HEALTHCHECK are wrapped.
const SHELL_THEN_SHELL_FORM: Case = Case {
    name: "shell_then_shell_form",
    dockerfile: "FROM busybox\n\
                 SHELL [\"/bin/sh\", \"-e\", \"-c\"]\n\
                 ENTRYPOINT [\"/bin/env\"]\n\
                 CMD echo \"$0\" && exit 3\n\
                 HEALTHCHECK CMD test -e /tmp\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

const ONBUILD: Case = Case {
    name: "onbuild",
    dockerfile: "FROM busybox\n\
                 ONBUILD COPY app.txt /app/\n\
                 ONBUILD RUN echo built > /built\n\
                 onbuild env X=1\n\
                 ONBUILD LABEL from=onbuild\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// ENV wins over an earlier ARG of the same name; build args override defaults; an
/// ARG's value is visible to COPY's words only from its declaration on.
const ENV_OVERRIDES_ARG: Case = Case {
    name: "env_overrides_arg",
    dockerfile: "FROM busybox\n\
                 ARG X=from-arg\n\
                 ARG Y=default-y\n\
                 ARG Z\n\
                 LABEL x1=$X y=$Y z=${Z:-no-z}\n\
                 ENV X=from-env\n\
                 LABEL x2=$X\n\
                 COPY ${FILE:-a.txt} /before-arg-file-${X}\n\
                 ARG FILE=a.txt\n\
                 COPY ${FILE} /after-arg-file-${Y}\n\
                 ARG X=arg-again\n\
                 LABEL x3=$X\n\
                 ENV DERIVED=${Y}_${X}\n",
    base_dockerfile: None,
    context: &[("a.txt", Ctx::File("a\n", 0o644)), ("b.txt", Ctx::File("b\n", 0o644))],
    args: &["--build-arg", "Y=from-cli", "--build-arg", "FILE=b.txt"],
    oracle: Oracle::Legacy {
        legacy_differs: &[
            (
                "config.Labels",
                "an ARG declared *after* an ENV of the same name: BuildKit's dispatchArg adds the ARG to the \
                 state's environment, which words are expanded with, so x3 is \"arg-again\"; the legacy builder \
                 lets ENV win whatever the order (\"from-env\"). ENV still wins in the image's Env",
            ),
            ("config.Env", "as config.Labels: DERIVED expands X after the second ARG X"),
        ],
    },
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// ARG before the first FROM is visible in FROM, and in a stage only once redeclared.
const GLOBAL_ARG_IN_FROM: Case = Case {
    name: "global_arg_in_from",
    dockerfile: "ARG BASE=busybox\n\
                 ARG TAG=latest\n\
                 ARG UNUSED_GLOBAL=g\n\
                 FROM ${BASE}:${TAG} AS base\n\
                 ARG TAG\n\
                 LABEL tag=$TAG base=x${BASE}x global=x${UNUSED_GLOBAL}x\n\
                 FROM $BASE\n\
                 ARG BASE=overridden\n\
                 LABEL base=$BASE\n",
    base_dockerfile: None,
    context: &[],
    args: &["--build-arg", "TAG=latest"],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// Relative WORKDIRs chain; COPY's relative destination is relative to WORKDIR.
const WORKDIR_RELATIVE_CHAIN: Case = Case {
    name: "workdir_relative_chain",
    dockerfile: "FROM busybox\n\
                 WORKDIR a\n\
                 WORKDIR b/c\n\
                 COPY f.txt .\n\
                 COPY f.txt rel/\n\
                 WORKDIR ../d/./e\n\
                 ENV BASEDIR=/srv\n\
                 WORKDIR $BASEDIR/app\n\
                 COPY f.txt ./\n\
                 WORKDIR /etc\n\
                 WORKDIR /abs//x/\n",
    base_dockerfile: None,
    context: &[("f.txt", Ctx::File("f\n", 0o644))],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// WORKDIR after USER: BuildKit creates the directory owned by the user.
const WORKDIR_AFTER_USER: Case = Case {
    name: "workdir_after_user",
    dockerfile: "FROM busybox\nUSER user\nWORKDIR /home/user/app\nUSER 1000:1000\nWORKDIR sub\nCOPY f.txt ./\n",
    base_dockerfile: None,
    context: &[("f.txt", Ctx::File("f\n", 0o644))],
    args: &[],
    oracle: Oracle::Legacy {
        legacy_differs: &[
            (
                "/home",
                "the legacy builder creates WORKDIR (and its parents) as root; BuildKit creates them as USER \
                 (dispatchWorkdir's mkdir runs with the stage's user)",
            ),
            ("/home/user", "as /home"),
            ("/home/user/app", "as /home"),
            ("/home/user/app/sub", "as /home"),
        ],
    },
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// Destination rules: new file name, trailing slash, existing directory, directory
/// sources (contents copied), several sources, wildcards, `.`.
const COPY_DESTINATION_RULES: Case = Case {
    name: "copy_destination_rules",
    dockerfile: "FROM busybox\n\
                 COPY a.txt /renamed\n\
                 COPY a.txt /newdir/\n\
                 COPY a.txt /etc\n\
                 COPY a.txt b.txt /multi/\n\
                 COPY *.txt /glob/\n\
                 COPY [\"a.txt\", \"/json form/\"]\n\
                 COPY dir /dircontents\n\
                 COPY dir/ /dirslash/\n\
                 COPY dir /etc/\n\
                 COPY d* /globdirs/\n\
                 COPY dir/sub/*.md /deep/glob/\n\
                 COPY ?.txt /question/\n\
                 COPY [ab].txt /class/\n\
                 COPY a.txt relative/\n\
                 COPY . /everything/\n\
                 COPY dir/sub /etc/sub\n",
    base_dockerfile: None,
    context: &[
        ("a.txt", Ctx::File("a\n", 0o644)),
        ("b.txt", Ctx::File("b\n", 0o644)),
        ("c.bin", Ctx::File("not a txt\n", 0o644)),
        ("dir", Ctx::Dir(0o755)),
        ("dir/one", Ctx::File("one\n", 0o644)),
        ("dir/sub", Ctx::Dir(0o755)),
        ("dir/sub/readme.md", Ctx::File("# readme\n", 0o644)),
        ("dir/sub/other.md", Ctx::File("# other\n", 0o644)),
        ("dir2", Ctx::Dir(0o755)),
        ("dir2/two", Ctx::File("two\n", 0o644)),
        ("dir2/sub", Ctx::Dir(0o755)),
        ("dir2/sub/merged", Ctx::File("merged\n", 0o644)),
    ],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// Modes of files and directories are kept, setuid and sticky bits included.
const COPY_KEEPS_MODES: Case = Case {
    name: "copy_keeps_modes",
    dockerfile: "FROM busybox\n\
                 COPY tree /tree\n\
                 COPY tree/ /tree2/\n\
                 COPY tree/private /private\n\
                 COPY exec.sh ro.txt suid /files/\n",
    base_dockerfile: None,
    context: &[
        ("exec.sh", Ctx::File("#!/bin/sh\necho hi\n", 0o755)),
        ("ro.txt", Ctx::File("read only\n", 0o444)),
        ("suid", Ctx::File("setuid\n", 0o4750)),
        ("tree", Ctx::Dir(0o750)),
        ("tree/private", Ctx::Dir(0o700)),
        ("tree/private/key", Ctx::File("secret\n", 0o600)),
        ("tree/sticky", Ctx::Dir(0o1777)),
        ("tree/sticky/x", Ctx::File("x\n", 0o640)),
        ("tree/group", Ctx::Dir(0o2775)),
        ("tree/empty", Ctx::Dir(0o711)),
    ],
    args: &[],
    oracle: Oracle::Legacy {
        legacy_differs: &[(
            "/files/suid",
            "the legacy builder drops the setuid bit of a copied file (4750 -> 0750); BuildKit keeps the mode",
        )],
    },
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// --chown by name, name:group, uid:gid, uid alone, on files, directories and the
/// directories COPY creates for the destination.
const CHOWN: Case = Case {
    name: "chown",
    dockerfile: "FROM busybox\n\
                 COPY --chown=user a.txt /by-name\n\
                 COPY --chown=user:user a.txt /by-name-group\n\
                 COPY --chown=1000:1000 a.txt /by-ids\n\
                 COPY --chown=1000 a.txt /by-uid\n\
                 COPY --chown=root:user a.txt /root-user\n\
                 COPY --chown=1234:5678 a.txt /unknown-ids\n\
                 COPY --chown=user dir /owned/deep/dir/\n\
                 COPY --chown=1000:1000 dir/ /etc/owned/\n\
                 ADD --chown=user:1000 a.txt /added/\n\
                 ARG OWNER=user\n\
                 COPY --chown=$OWNER a.txt /from-arg\n",
    base_dockerfile: None,
    context: &[
        ("a.txt", Ctx::File("a\n", 0o640)),
        ("dir", Ctx::Dir(0o750)),
        ("dir/f", Ctx::File("f\n", 0o600)),
        ("dir/sub", Ctx::Dir(0o755)),
        ("dir/sub/g", Ctx::File("g\n", 0o644)),
    ],
    args: &[],
    oracle: Oracle::Legacy {
        legacy_differs: &[
            (
                "/owned",
                "directories COPY creates above its destination: the legacy builder makes them root's, \
                 BuildKit gives them the --chown owner",
            ),
            ("/owned/deep", "as /owned"),
        ],
    },
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// `--chown=nobody`: the user's primary group (65534, named "nogroup" in /etc/group).
const CHOWN_PRIMARY_GROUP: Case = Case {
    name: "chown_primary_group",
    dockerfile: "FROM busybox\nCOPY --chown=nobody a.txt /nobody\n",
    base_dockerfile: None,
    context: &[("a.txt", Ctx::File("a\n", 0o644))],
    args: &[],
    oracle: Oracle::BuildKit {
        why: "the legacy builder looks the group up by the user's name (there is no group \"nobody\", so it fails: \
              \"unable to find group nobody\"); BuildKit uses the user's primary group from /etc/passwd",
    },
    old_buildkit_bugs: &[],
    run_made: &[],
};

const CHMOD: Case = Case {
    name: "chmod",
    dockerfile: "FROM busybox\n\
                 COPY --chmod=600 a.txt /a600\n\
                 COPY --chmod=0755 a.txt /a755\n\
                 COPY --chmod=4711 a.txt /suid\n\
                 COPY --chmod=640 --chown=user dir /chmod-dir/\n\
                 COPY --chmod=700 a.txt b.txt /new/parent/\n\
                 ADD --chmod=444 b.txt /added\n",
    base_dockerfile: None,
    context: &[
        ("a.txt", Ctx::File("a\n", 0o644)),
        ("b.txt", Ctx::File("b\n", 0o600)),
        ("dir", Ctx::Dir(0o755)),
        ("dir/f", Ctx::File("f\n", 0o644)),
        ("dir/sub", Ctx::Dir(0o755)),
        ("dir/sub/g", Ctx::File("g\n", 0o755)),
    ],
    args: &[],
    oracle: Oracle::BuildKit { why: "COPY/ADD --chmod: the legacy builder refuses it (\"requires BuildKit\")" },
    old_buildkit_bugs: &[(
        "/suid",
        "file 4711 0:0 \"a\\n\" mtime=1000000000",
        "BuildKit before fsutil#168 dropped setuid/setgid/sticky from --chmod (moby/buildkit#3920, fixed in 2024)",
    )],
    run_made: &[],
};

/// Multi-stage: COPY --from a stage by name and by index, and from an image. (The
/// unused stage must build: the legacy builder builds every stage, BuildKit only
/// those the target needs; build.rs checks that gantry skips it.)
const MULTI_STAGE_COPY_FROM: Case = Case {
    name: "multi_stage_copy_from",
    dockerfile: "FROM busybox AS builder\n\
                 WORKDIR /out\n\
                 COPY --chown=user a.txt ./built.txt\n\
                 COPY dir ./dir\n\
                 FROM scratch AS unused\n\
                 COPY a.txt /unused\n\
                 FROM scratch\n\
                 COPY --from=builder /out /result\n\
                 COPY --from=builder /out/dir/ /result-dir/\n\
                 COPY --from=0 /bin/busybox /bin/sh /bin/\n\
                 COPY --from=busybox /etc/passwd /etc/group /etc/\n\
                 COPY --from=builder /tmp /tmp\n\
                 COPY --from=builder /out/built.txt /renamed\n\
                 ENV FROM_SCRATCH=1\n\
                 CMD [\"/bin/sh\"]\n",
    base_dockerfile: None,
    context: &[
        ("a.txt", Ctx::File("a\n", 0o644)),
        ("dir", Ctx::Dir(0o755)),
        ("dir/x", Ctx::File("x\n", 0o755)),
        ("dir/link", Ctx::Link("x")),
    ],
    args: &[],
    oracle: Oracle::Legacy {
        legacy_differs: &[(
            "config.WorkingDir",
            "FROM scratch: BuildKit's empty image has WorkingDir \"/\" (dockerfile2llb emptyImage), \
             the legacy builder leaves it unset",
        )],
    },
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// --target builds a middle stage (and what it depends on), not the last one.
const TARGET_MIDDLE_STAGE: Case = Case {
    name: "target_middle_stage",
    dockerfile: "FROM busybox AS one\nCOPY a.txt /one\nLABEL stage=one\n\
                 FROM one AS two\nCOPY b.txt /two\nLABEL stage=two\n\
                 FROM two AS three\nCOPY --from=one /one /three\nLABEL stage=three\n",
    base_dockerfile: None,
    context: &[("a.txt", Ctx::File("a\n", 0o644)), ("b.txt", Ctx::File("b\n", 0o644))],
    args: &["--target", "two"],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// A context for .dockerignore: wildcards, `**`, exceptions (`!`) re-including files,
/// partly ignored directories (one of mode 0700).
const IGNORE_CONTEXT: &[(&str, Ctx)] = &[
        (".dockerignore", Ctx::File("*.log\n!keep.log\nbuild/\n**/*.tmp\n!important.tmp\nsecret*\n!secret-public\n# comment\ndocs/*.md\n!docs/README.md\n", 0o644)),
        ("a.log", Ctx::File("ignored\n", 0o644)),
        ("keep.log", Ctx::File("kept\n", 0o644)),
        ("build", Ctx::Dir(0o755)),
        ("build/out", Ctx::File("ignored\n", 0o644)),
        ("src", Ctx::Dir(0o755)),
        ("src/x.tmp", Ctx::File("ignored\n", 0o644)),
        ("src/deep", Ctx::Dir(0o700)),
        ("src/deep/y.tmp", Ctx::File("ignored\n", 0o644)),
        ("src/deep/important.tmp", Ctx::File("kept\n", 0o644)),
        ("src/main.c", Ctx::File("int main;\n", 0o644)),
        ("important.tmp", Ctx::File("kept\n", 0o644)),
        ("secret-key", Ctx::File("ignored\n", 0o600)),
        ("secret-public", Ctx::File("kept\n", 0o644)),
        ("docs", Ctx::Dir(0o755)),
        ("docs/a.md", Ctx::File("ignored\n", 0o644)),
        ("docs/README.md", Ctx::File("kept\n", 0o644)),
        ("docs/a.txt", Ctx::File("kept\n", 0o644)),
];

/// A RUN bind mount of the context shows what the context sends: nothing .dockerignore
/// leaves out (read-only and rw, the whole context and a directory of it).
const RUN_MOUNT_DOCKERIGNORE: Case = Case {
    name: "run_mount_dockerignore",
    dockerfile: "FROM busybox\n\
                 RUN --mount=type=bind,target=/ctx cd /ctx && find . | sort > /listing && cat secret-public\n\
                 RUN --mount=type=bind,source=src,target=/src,rw cd /src && find . | sort > /src-listing\n",
    base_dockerfile: None,
    context: IGNORE_CONTEXT,
    args: &[],
    oracle: Oracle::BuildKit { why: "RUN --mount: the legacy builder refuses it" },
    old_buildkit_bugs: &[
        (
            "/ctx",
            "<absent>",
            "BuildKit before moby/buildkit#3307 (2022) left the empty mount point of a RUN --mount behind",
        ),
        (
            "/src",
            "<absent>",
            "BuildKit before moby/buildkit#3307 (2022) left the empty mount point of a RUN --mount behind",
        ),
    ],
    run_made: &["/listing", "/src-listing"],
};

/// .dockerignore with wildcards, `**`, and exceptions (`!`) re-including files.
const DOCKERIGNORE_EXCEPTIONS: Case = Case {
    name: "dockerignore_exceptions",
    dockerfile: "FROM busybox\nCOPY . /ctx/\n",
    base_dockerfile: None,
    context: IGNORE_CONTEXT,
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// Symlinks in the context: a source that is a link is followed, links inside a copied
/// directory are copied as links (even dangling or absolute ones).
const SYMLINKS_IN_CONTEXT: Case = Case {
    name: "symlinks_in_context",
    dockerfile: "FROM busybox\n\
                 COPY link.txt /followed\n\
                 COPY tree /tree\n\
                 COPY dirlink/ /via-dirlink/\n\
                 COPY tree/rel-link /kept-rel\n\
                 COPY link.txt dirlink /multi/\n",
    base_dockerfile: None,
    context: &[
        ("a.txt", Ctx::File("a\n", 0o600)),
        ("link.txt", Ctx::Link("a.txt")),
        ("tree", Ctx::Dir(0o755)),
        ("tree/file", Ctx::File("file\n", 0o644)),
        ("tree/rel-link", Ctx::Link("file")),
        ("tree/up-link", Ctx::Link("../a.txt")),
        ("tree/abs-link", Ctx::Link("/etc/passwd")),
        ("tree/dangling", Ctx::Link("nowhere")),
        ("tree/dir-link", Ctx::Link("sub")),
        ("tree/sub", Ctx::Dir(0o755)),
        ("tree/sub/inner", Ctx::File("inner\n", 0o644)),
        ("dirlink", Ctx::Link("tree/sub")),
    ],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// ADD of local files and directories (not archives, not URLs) behaves as COPY.
const ADD_LOCAL: Case = Case {
    name: "add_local",
    dockerfile: "FROM busybox\n\
                 ADD a.txt /added\n\
                 ADD dir /added-dir/\n\
                 ADD a.txt b.txt /added-multi/\n\
                 ADD *.txt /added-glob/\n",
    base_dockerfile: None,
    context: &[
        ("a.txt", Ctx::File("a\n", 0o644)),
        ("b.txt", Ctx::File("b\n", 0o755)),
        ("dir", Ctx::Dir(0o700)),
        ("dir/f", Ctx::File("f\n", 0o644)),
    ],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// FROM scratch with files, metadata and a user by uid:gid (both builders give a
/// scratch image the default PATH).
const SCRATCH: Case = Case {
    name: "scratch",
    dockerfile: "FROM scratch\n\
                 COPY a.txt /\n\
                 COPY dir /opt/dir\n\
                 ENV HOME=/opt\n\
                 USER 1000:1000\n\
                 WORKDIR /\n\
                 ENTRYPOINT [\"/opt/dir/run\"]\n",
    base_dockerfile: None,
    context: &[
        ("a.txt", Ctx::File("a\n", 0o644)),
        ("dir", Ctx::Dir(0o755)),
        ("dir/run", Ctx::File("#!/bin/sh\n", 0o755)),
    ],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// A COPY over existing files replaces them, and a later stage overwrites a directory
/// with a file of the same name's parent intact.
const COPY_OVERWRITES: Case = Case {
    name: "copy_overwrites",
    dockerfile: "FROM busybox\n\
                 COPY a.txt /etc/passwd\n\
                 COPY a.txt /target\n\
                 COPY b.txt /target\n\
                 COPY dir /etc\n\
                 COPY b.txt /bin/sh\n",
    base_dockerfile: None,
    context: &[
        ("a.txt", Ctx::File("a\n", 0o600)),
        ("b.txt", Ctx::File("b\n", 0o755)),
        ("dir", Ctx::Dir(0o700)),
        ("dir/group", Ctx::File("overwritten group\n", 0o644)),
        ("dir/new", Ctx::File("new\n", 0o644)),
    ],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// USER forms and the way WORKDIR, EXPOSE, VOLUME and LABEL expand variables.
const EXPANSION_IN_METADATA: Case = Case {
    name: "expansion_in_metadata",
    dockerfile: "FROM busybox\n\
                 ARG PORT=8080\n\
                 ARG U=user\n\
                 ENV VOL=/vol APP=app\n\
                 EXPOSE $PORT ${PORT}/udp\n\
                 VOLUME $VOL ${VOL}2\n\
                 USER ${U}:${U}\n\
                 WORKDIR /srv/${APP}\n\
                 LABEL \"$APP.name\"=${APP:+set} escaped=\\$APP\n\
                 STOPSIGNAL ${SIG:-SIGTERM}\n",
    base_dockerfile: None,
    context: &[],
    args: &["--build-arg", "PORT=9090"],
    oracle: Oracle::Legacy {
        legacy_differs: &[
            ("/srv", "WORKDIR after USER: BuildKit creates the directory as USER, the legacy builder as root"),
            ("/srv/app", "as /srv"),
        ],
    },
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// ONBUILD triggers of an image run when a build starts FROM it (and are not inherited).
const ONBUILD_TRIGGERS_FROM_IMAGE: Case = Case {
    name: "onbuild_triggers_from_image",
    base_dockerfile: Some(
        "FROM busybox\n\
         ONBUILD COPY a.txt /triggered/\n\
         ONBUILD ENV TRIGGERED=yes\n\
         ONBUILD LABEL from=trigger\n\
         ONBUILD WORKDIR /onbuild-wd\n\
         LABEL base=yes\n",
    ),
    dockerfile: "FROM gantry-diff-base/onbuild_triggers_from_image\nLABEL child=yes\nCOPY b.txt ./\n",
    context: &[("a.txt", Ctx::File("a\n", 0o644)), ("b.txt", Ctx::File("b\n", 0o600))],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// ONBUILD triggers of an earlier stage run in a stage built FROM it.
const ONBUILD_TRIGGERS_FROM_STAGE: Case = Case {
    name: "onbuild_triggers_from_stage",
    base_dockerfile: None,
    dockerfile: "FROM busybox AS base\n\
                 ONBUILD COPY a.txt /triggered\n\
                 ONBUILD ENV TRIGGERED=yes\n\
                 FROM base\n\
                 LABEL child=yes\n",
    context: &[("a.txt", Ctx::File("a\n", 0o644))],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// The escape parser directive: backtick continues lines, backslash is literal.
const ESCAPE_DIRECTIVE: Case = Case {
    name: "escape_directive",
    base_dockerfile: None,
    dockerfile: "# escape=`\n\
                 FROM busybox\n\
                 ENV WINPATH=C:\\Program\\Files DOLLAR=`$HOME\n\
                 LABEL multi=\"one `\n\
                 two\" path=$WINPATH\n\
                 COPY a.txt `\n\
                 \x20    /escaped/\n",
    context: &[("a.txt", Ctx::File("a\n", 0o644))],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// The config of a bare FROM scratch stage: default PATH, and WorkingDir "/" in BuildKit.
const SCRATCH_DEFAULTS: Case = Case {
    name: "scratch_defaults",
    base_dockerfile: None,
    dockerfile: "FROM scratch\nCOPY a.txt /a\n",
    context: &[("a.txt", Ctx::File("a\n", 0o644))],
    args: &[],
    oracle: Oracle::Legacy {
        legacy_differs: &[(
            "config.WorkingDir",
            "FROM scratch: BuildKit's empty image has WorkingDir \"/\" (dockerfile2llb emptyImage), \
             the legacy builder leaves it unset",
        )],
    },
    old_buildkit_bugs: &[],
    run_made: &[],
};

/// RUN's changes: new files with modes and owners, a deleted file (whiteout), links,
/// a build arg and ENV in the command's environment, exec form.
const RUN_CHANGES: Case = Case {
    name: "run_changes",
    dockerfile: "FROM busybox\n\
                 ARG V=from-arg\n\
                 ENV E=from-env\n\
                 RUN mkdir -p /app/sub && echo \"$V $E\" > /app/x && chmod 640 /app/x && chown 1:2 /app/x\n\
                 RUN rm /bin/vi && ln -s /app/x /app/link && ln /app/x /app/sub/hard\n\
                 RUN [\"/bin/sh\", \"-c\", \"echo exec-form $E > /app/exec\"]\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &["/app"],
};

/// USER and WORKDIR apply to RUN; files it makes belong to that user.
const RUN_USER_WORKDIR: Case = Case {
    name: "run_user_workdir",
    dockerfile: "FROM busybox\n\
                 WORKDIR /srv/data\n\
                 RUN chown user /srv/data\n\
                 USER user\n\
                 RUN touch made-by-user && id > id.txt && pwd > pwd.txt\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: Oracle::Legacy {
        legacy_differs: &[(
            "/srv/data/id.txt",
            "the legacy builder adds the user's primary group to the supplementary groups \
             (groups=1000); BuildKit sets only the groups /etc/group lists the user in",
        )],
    },
    old_buildkit_bugs: &[],
    run_made: &["/srv"],
};

/// A directory removed and made again in a later RUN (opaque directory or whiteouts),
/// and a file replaced by a directory.
const RUN_REPLACES_TREES: Case = Case {
    name: "run_replaces_trees",
    dockerfile: "FROM busybox\n\
                 RUN mkdir -p /d/sub && touch /d/sub/a /d/b /f\n\
                 RUN rm -rf /d /f && mkdir -p /d /f && touch /d/new /f/inside\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &["/d", "/f"],
};

/// SHELL changes how shell-form RUN runs.
const RUN_WITH_SHELL: Case = Case {
    name: "run_with_shell",
    dockerfile: "FROM busybox\n\
                 SHELL [\"/bin/sh\", \"-e\", \"-c\"]\n\
                 RUN echo \"$0 $-\" > /shell.txt\n",
    base_dockerfile: None,
    context: &[],
    args: &[],
    oracle: LEGACY,
    old_buildkit_bugs: &[],
    run_made: &["/shell.txt"],
};

const CASES: &[&Case] = &[
    &METADATA,
    &HEALTHCHECK_OPTIONS,
    &HEALTHCHECK_NONE_FROM_STAGE,
    &ENTRYPOINT_CLEARS_INHERITED_CMD,
    &CMD_THEN_ENTRYPOINT_SHELL_FORM,
    &ENTRYPOINT_THEN_CMD_AND_INHERITED,
    &SHELL_THEN_SHELL_FORM,
    &ONBUILD,
    &ENV_OVERRIDES_ARG,
    &GLOBAL_ARG_IN_FROM,
    &WORKDIR_RELATIVE_CHAIN,
    &WORKDIR_AFTER_USER,
    &COPY_DESTINATION_RULES,
    &COPY_KEEPS_MODES,
    &CHOWN,
    &CHOWN_PRIMARY_GROUP,
    &CHMOD,
    &MULTI_STAGE_COPY_FROM,
    &TARGET_MIDDLE_STAGE,
    &DOCKERIGNORE_EXCEPTIONS,
    &SYMLINKS_IN_CONTEXT,
    &ADD_LOCAL,
    &SCRATCH,
    &COPY_OVERWRITES,
    &EXPANSION_IN_METADATA,
    &ONBUILD_TRIGGERS_FROM_IMAGE,
    &ONBUILD_TRIGGERS_FROM_STAGE,
    &ESCAPE_DIRECTIVE,
    &SCRATCH_DEFAULTS,
    &RUN_CHANGES,
    &RUN_USER_WORKDIR,
    &RUN_REPLACES_TREES,
    &RUN_WITH_SHELL,
];

macro_rules! case_tests {
    ($($test:ident => $case:ident,)*) => {
        $(
            #[test]
            fn $test() {
                run_case(&$case);
            }
        )*
    };
}

case_tests! {
    metadata => METADATA,
    healthcheck_options => HEALTHCHECK_OPTIONS,
    healthcheck_none_from_stage => HEALTHCHECK_NONE_FROM_STAGE,
    entrypoint_clears_inherited_cmd => ENTRYPOINT_CLEARS_INHERITED_CMD,
    cmd_then_entrypoint_shell_form => CMD_THEN_ENTRYPOINT_SHELL_FORM,
    entrypoint_then_cmd_and_inherited => ENTRYPOINT_THEN_CMD_AND_INHERITED,
    shell_then_shell_form => SHELL_THEN_SHELL_FORM,
    onbuild => ONBUILD,
    env_overrides_arg => ENV_OVERRIDES_ARG,
    global_arg_in_from => GLOBAL_ARG_IN_FROM,
    workdir_relative_chain => WORKDIR_RELATIVE_CHAIN,
    workdir_after_user => WORKDIR_AFTER_USER,
    copy_destination_rules => COPY_DESTINATION_RULES,
    copy_keeps_modes => COPY_KEEPS_MODES,
    chown => CHOWN,
    chown_primary_group => CHOWN_PRIMARY_GROUP,
    chmod => CHMOD,
    multi_stage_copy_from => MULTI_STAGE_COPY_FROM,
    target_middle_stage => TARGET_MIDDLE_STAGE,
    dockerignore_exceptions => DOCKERIGNORE_EXCEPTIONS,
    run_mount_dockerignore => RUN_MOUNT_DOCKERIGNORE,
    symlinks_in_context => SYMLINKS_IN_CONTEXT,
    add_local => ADD_LOCAL,
    scratch => SCRATCH,
    copy_overwrites => COPY_OVERWRITES,
    expansion_in_metadata => EXPANSION_IN_METADATA,
    onbuild_triggers_from_image => ONBUILD_TRIGGERS_FROM_IMAGE,
    onbuild_triggers_from_stage => ONBUILD_TRIGGERS_FROM_STAGE,
    escape_directive => ESCAPE_DIRECTIVE,
    scratch_defaults => SCRATCH_DEFAULTS,
    run_changes => RUN_CHANGES,
    run_user_workdir => RUN_USER_WORKDIR,
    run_replaces_trees => RUN_REPLACES_TREES,
    run_with_shell => RUN_WITH_SHELL,
}

#[test]
fn the_table_covers_enough_cases_with_unique_names() {
    assert!(CASES.len() >= 15, "issue 3 asks for at least 15 Dockerfiles, the table has {}", CASES.len());
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names must be unique (they name docker's tags)");
}

// ---------------------------------------------------------------------------------
// Running a case.
// ---------------------------------------------------------------------------------

/// The shared dockerd with the base image loaded (once per test process).
fn docker() -> &'static Dockerd {
    static LOADED: OnceLock<()> = OnceLock::new();
    // Dockerd::shared panics (failing every test) when dockerd cannot start.
    let d = Dockerd::shared();
    LOADED.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("temp dir");
        let img = base::busybox_archive(tmp.path(), BASE_TAG);
        d.docker_ok(&["load", "-i", path_str(&img.archive)]);
        let id = d.docker_ok(&["inspect", "--format", "{{.Id}}", BASE_TAG]);
        assert_eq!(id.trim(), img.id, "docker loaded the base with another ID");
    });
    d
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Writes the context, with fixed modes and mtimes (umask and clock play no part).
fn write_context(dir: &Path, case: &Case) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(dir.join("Dockerfile"), case.dockerfile).unwrap();
    if let Some(base) = case.base_dockerfile {
        std::fs::write(dir.join(BASE_DOCKERFILE), base).unwrap();
    }
    for (rel, entry) in case.context {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        match entry {
            Ctx::File(content, _) => std::fs::write(&p, content).unwrap(),
            Ctx::Dir(_) => std::fs::create_dir_all(&p).unwrap(),
            Ctx::Link(target) => std::os::unix::fs::symlink(target, &p).unwrap(),
        }
    }
    // Modes and mtimes last, deepest first, so that writing into a directory does not
    // change its mtime afterwards and read-only directories can still be filled.
    let mut all: Vec<(PathBuf, Ctx)> = case.context.iter().map(|(r, e)| (dir.join(r), *e)).collect();
    all.push((dir.join("Dockerfile"), Ctx::File("", 0o644)));
    if case.base_dockerfile.is_some() {
        all.push((dir.join(BASE_DOCKERFILE), Ctx::File("", 0o644)));
    }
    all.sort_by_key(|(p, _)| std::cmp::Reverse(p.as_os_str().len()));
    for (p, entry) in &all {
        match entry {
            Ctx::File(_, mode) | Ctx::Dir(mode) => {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(*mode)).unwrap();
            }
            Ctx::Link(_) => {}
        }
        set_mtime(p);
    }
    set_mtime(dir);
}

fn set_mtime(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let t = libc::timespec { tv_sec: CONTEXT_MTIME, tv_nsec: 0 };
    let times = [t, t];
    // SAFETY: a valid NUL-terminated path and two timespecs.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    assert_eq!(rc, 0, "utimensat {}: {}", p.display(), std::io::Error::last_os_error());
}

/// What a builder made: the config JSON and the merged filesystem.
struct Built {
    config: Value,
    fs: BTreeMap<String, Node>,
}

#[derive(Debug, Clone, PartialEq)]
struct Node {
    kind: &'static str,
    mode: u32,
    uid: u64,
    gid: u64,
    /// Content of a regular file (or the target of a link).
    data: Vec<u8>,
    mtime: u64,
}

impl Node {
    fn show(&self) -> String {
        let data = if self.kind == "file" {
            match std::str::from_utf8(&self.data) {
                Ok(s) if self.data.len() <= 80 => format!("{s:?}"),
                _ => format!("{} bytes {}", self.data.len(), base::sha256_digest(&self.data)),
            }
        } else if self.kind == "dir" {
            String::new()
        } else {
            format!("-> {}", String::from_utf8_lossy(&self.data))
        };
        format!("{} {:04o} {}:{} {data}", self.kind, self.mode, self.uid, self.gid)
    }
}

/// The tag of a case's base image (its `base_dockerfile`), which its Dockerfile names.
fn base_tag(case: &Case) -> String {
    format!("gantry-diff-base/{}:latest", case.name)
}

/// `docker build` with one builder, or the error output when it fails.
fn docker_build_one(
    d: &Dockerd,
    ctx: &Path,
    file: &str,
    tag: &str,
    extra: &[&str],
    buildkit: bool,
) -> Result<(), String> {
    let dockerfile = ctx.join(file);
    // The private dockerd has no bridge: RUN uses the host's network, as gantry's does.
    let mut args = vec!["build", "--network", "host", "-f", path_str(&dockerfile), "-t", tag];
    args.extend_from_slice(extra);
    args.push(path_str(ctx));
    let out = d
        .docker_cmd(&args)
        .env("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" })
        .env("BUILDKIT_PROGRESS", "plain")
        .output()
        .expect("start docker");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

fn docker_build(d: &Dockerd, case: &Case, ctx: &Path, buildkit: bool) -> Result<Built, String> {
    if case.base_dockerfile.is_some() {
        // Built by the same builder just before: the legacy and BuildKit runs of one
        // case are sequential, so the shared tag is never raced.
        docker_build_one(d, ctx, BASE_DOCKERFILE, &base_tag(case), &[], buildkit)
            .map_err(|e| format!("building the base image: {e}"))?;
    }
    let tag = format!("gantry-diff/{}:{}", case.name, if buildkit { "buildkit" } else { "legacy" });
    docker_build_one(d, ctx, "Dockerfile", &tag, case.args, buildkit)?;
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("saved.tar");
    d.docker_ok(&["save", "-o", path_str(&saved), &tag]);
    d.docker_ok(&["rmi", &tag]);
    Ok(read_saved(&saved))
}

fn gantry_build(case: &Case, ctx: &Path) -> Result<Built, String> {
    let g = Gantry::new(BIN);
    let tmp = tempfile::tempdir().unwrap();
    let img = base::busybox_archive(tmp.path(), BASE_TAG);
    g.ok(&["load", "-i", path_str(&img.archive)]);
    let build = |file: &str, tag: &str, extra: &[&str]| -> Result<(), String> {
        let dockerfile = ctx.join(file);
        let mut args = vec!["build", "-f", path_str(&dockerfile), "-t", tag];
        args.extend_from_slice(extra);
        args.push(path_str(ctx));
        let r = g.run(&args);
        if r.success() {
            Ok(())
        } else {
            Err(format!("{}{}", r.stdout, r.stderr))
        }
    };
    if case.base_dockerfile.is_some() {
        build(BASE_DOCKERFILE, &base_tag(case), &[]).map_err(|e| format!("building the base image: {e}"))?;
    }
    let tag = format!("gantry-diff/{}:gantry", case.name);
    build("Dockerfile", &tag, case.args)?;
    let saved = tmp.path().join("saved.tar");
    g.ok(&["save", "-o", path_str(&saved), &tag]);
    Ok(read_saved(&saved))
}

/// Reads a docker-archive: the config named by manifest.json, and the layers applied
/// in order.
fn read_saved(archive: &Path) -> Built {
    let manifest: Value =
        serde_json::from_slice(&base::archive_member(archive, "manifest.json").expect("manifest.json")).unwrap();
    let m = &manifest[0];
    let config = base::archive_member(archive, m["Config"].as_str().unwrap()).expect("config");
    let config: Value = serde_json::from_slice(&config).unwrap();
    let mut fs = BTreeMap::new();
    for layer in m["Layers"].as_array().unwrap() {
        let bytes = base::archive_member(archive, layer.as_str().unwrap()).expect("layer");
        apply_layer(&mut fs, &decompress(bytes));
    }
    Built { config, fs }
}

fn decompress(bytes: Vec<u8>) -> Vec<u8> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        bytes
    }
}

/// Applies one layer: whiteouts remove from the layers below (`.wh.NAME` removes NAME
/// and what is under it, `.wh..wh..opq` empties its directory), then the entries are
/// added. Hard links get their target's content (a copy in the merged view).
fn apply_layer(fs: &mut BTreeMap<String, Node>, tar_bytes: &[u8]) {
    let mut entries: Vec<(String, Node, Option<String>)> = Vec::new();
    let mut ar = tar::Archive::new(tar_bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = format!("/{}", e.path().unwrap().to_string_lossy().trim_start_matches("./").trim_end_matches('/'));
        let path = if path == "/" || path == "/." { "/".to_string() } else { path };
        let h = e.header().clone();
        let t = h.entry_type();
        let mut hardlink = None;
        let (kind, data) = if t.is_dir() {
            ("dir", Vec::new())
        } else if t.is_symlink() {
            ("symlink", e.link_name_bytes().unwrap().into_owned())
        } else if t.is_hard_link() {
            let target = String::from_utf8_lossy(&e.link_name_bytes().unwrap()).into_owned();
            hardlink = Some(format!("/{}", target.trim_start_matches("./").trim_start_matches('/')));
            ("file", Vec::new())
        } else if t.is_file() {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            ("file", v)
        } else if t.is_fifo() {
            ("fifo", Vec::new())
        } else if t.is_character_special() {
            ("char", Vec::new())
        } else if t.is_block_special() {
            ("block", Vec::new())
        } else {
            continue; // pax headers and the like
        };
        let node = Node {
            kind,
            mode: h.mode().unwrap() & 0o7777,
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            data,
            mtime: h.mtime().unwrap(),
        };
        entries.push((path, node, hardlink));
    }
    for (path, _, _) in &entries {
        let (dir, name) = path.rsplit_once('/').unwrap();
        if name == ".wh..wh..opq" {
            let prefix = format!("{dir}/");
            fs.retain(|p, _| !p.starts_with(&prefix));
        } else if let Some(victim) = name.strip_prefix(".wh.") {
            let victim = format!("{dir}/{victim}");
            let prefix = format!("{victim}/");
            fs.retain(|p, _| *p != victim && !p.starts_with(&prefix));
        }
    }
    for (path, mut node, hardlink) in entries {
        if path.rsplit('/').next().unwrap().starts_with(".wh.") {
            continue;
        }
        if let Some(target) = hardlink {
            let t = fs.get(&target).unwrap_or_else(|| panic!("hard link {path} to missing {target}"));
            node.data = t.data.clone();
        }
        // A file or link replacing a directory replaces what was under it too.
        if node.kind != "dir" {
            let prefix = format!("{path}/");
            fs.retain(|p, _| !p.starts_with(&prefix));
        }
        fs.insert(path, node);
    }
}

// ---------------------------------------------------------------------------------
// Comparing.
// ---------------------------------------------------------------------------------

/// The `config` fields compared. Not compared, on purpose:
/// - `Image`, `Hostname`, `Domainname`, `AttachStdin`/`AttachStdout`/`AttachStderr`,
///   `Tty`, `OpenStdin`, `StdinOnce`: the legacy builder writes them from the
///   container it committed (`Image` is the ID of the parent layer image, `Hostname`
///   that container's ID); BuildKit, and gantry, do not write them.
/// - `ArgsEscaped`: BuildKit sets it for shell-form CMD/ENTRYPOINT (meaningful only on
///   Windows), the legacy builder on Linux never does.
const CONFIG_FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
];

/// A config value with "unset" written one way: the legacy builder writes unset fields
/// as `null`, `""` or `[]`/`{}` where BuildKit omits them; all mean "not set".
fn normalized(v: Option<&Value>) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::Array(a)) if a.is_empty() => Value::Null,
        Some(Value::Object(o)) if o.is_empty() => Value::Null,
        Some(v) => v.clone(),
    }
}

/// Everything compared, as key -> printable value (`None`: absent).
fn facts(b: &Built, run_made: &[&str]) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for f in CONFIG_FIELDS {
        let v = normalized(b.config.get("config").and_then(|c| c.get(*f)));
        out.insert(format!("config.{f}"), (!v.is_null()).then(|| v.to_string()));
    }
    for f in ["os", "architecture", "author"] {
        let v = normalized(b.config.get(f));
        out.insert(f.to_string(), (!v.is_null()).then(|| v.to_string()));
    }
    for (path, node) in &b.fs {
        let mut shown = node.show();
        // Directory mtimes are not compared: COPY and WORKDIR stamp the directories
        // they create with the build's clock, and the legacy builder also touches
        // existing parents when it commits a container. Files and links keep their
        // source's mtime in every builder, so theirs are compared.
        let made_by_run = run_made.iter().any(|r| {
            let r = r.trim_start_matches('/');
            let p = path.trim_start_matches('/');
            p == r || p.starts_with(&format!("{r}/"))
        });
        if node.kind != "dir" && !made_by_run {
            shown.push_str(&format!(" mtime={}", node.mtime));
        }
        out.insert(path.clone(), Some(shown));
    }
    out
}

/// Keys whose values differ between two fact sets, with both values.
fn differences(
    a: &BTreeMap<String, Option<String>>,
    b: &BTreeMap<String, Option<String>>,
) -> Vec<(String, Option<String>, Option<String>)> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let x = a.get(k).cloned().flatten();
            let y = b.get(k).cloned().flatten();
            (x != y).then(|| (k.clone(), x, y))
        })
        .collect()
}

fn show(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("<absent>")
}

fn run_case(case: &Case) {
    let d = docker();
    let ctx = tempfile::Builder::new().prefix("gantry-diff-ctx-").tempdir().unwrap();
    write_context(ctx.path(), case);

    let legacy = docker_build(d, case, ctx.path(), false);
    let buildkit = docker_build(d, case, ctx.path(), true)
        .unwrap_or_else(|e| panic!("{}: docker's BuildKit failed to build it:\n{e}", case.name));
    let buildkit = facts(&buildkit, case.run_made);

    // The expected facts: the legacy builder's, with BuildKit's value wherever the
    // case documents that the two differ.
    let (expected, reference) = match &case.oracle {
        Oracle::Legacy { legacy_differs } => {
            let legacy = legacy.unwrap_or_else(|e| panic!("{}: docker's legacy builder failed:\n{e}", case.name));
            let mut expected = facts(&legacy, case.run_made);
            let mut undocumented = Vec::new();
            for (key, l, b) in differences(&expected, &buildkit) {
                if legacy_differs.iter().any(|(k, _)| *k == key) {
                    match &b {
                        Some(v) => expected.insert(key, Some(v.clone())),
                        None => expected.remove(&key),
                    };
                } else {
                    undocumented.push(format!("  {key}\n    legacy:   {}\n    buildkit: {}", show(&l), show(&b)));
                }
            }
            assert!(
                undocumented.is_empty(),
                "{}: docker's legacy builder and BuildKit differ where the case documents no difference \
                 (gantry follows BuildKit: add each to legacy_differs with the reason):\n{}",
                case.name,
                undocumented.join("\n")
            );
            for (key, why) in *legacy_differs {
                assert!(!why.is_empty(), "{}: {key} needs a reason", case.name);
                assert!(
                    expected.get(*key) == buildkit.get(*key)
                        && differences(&facts(&legacy, case.run_made), &buildkit).iter().any(|(k, _, _)| k == key),
                    "{}: {key} is documented as a legacy-vs-BuildKit difference but the two agree: remove it",
                    case.name
                );
            }
            (expected, "docker legacy builder (BuildKit where documented)")
        }
        Oracle::BuildKit { why } => {
            if let Ok(legacy) = &legacy {
                // The legacy builder managed after all: the reason must be about values.
                let diffs = differences(&facts(legacy, case.run_made), &buildkit);
                assert!(
                    !diffs.is_empty(),
                    "{}: the legacy builder builds this the same as BuildKit; the reason given \
                     ({why}) no longer holds: use Oracle::Legacy",
                    case.name
                );
            }
            (buildkit.clone(), "docker BuildKit")
        }
    };

    // Where docker 20.10's BuildKit has a bug that today's BuildKit fixed, today's value.
    let mut expected = expected;
    for (key, value, why) in case.old_buildkit_bugs {
        assert!(!why.is_empty(), "{}: {key} needs a reason", case.name);
        // "<absent>": today's BuildKit leaves no such path.
        let today = (*value != "<absent>").then(|| value.to_string());
        assert_ne!(
            buildkit.get(*key).cloned().flatten(),
            today,
            "{}: docker's BuildKit gives {key} = {value} now: remove it from old_buildkit_bugs",
            case.name
        );
        expected.insert(key.to_string(), today);
    }

    let gantry = gantry_build(case, ctx.path())
        .unwrap_or_else(|e| panic!("{}: gantry failed to build what docker builds:\n{e}", case.name));
    let got = facts(&gantry, case.run_made);
    let diffs = differences(&expected, &got);
    let report: Vec<String> =
        diffs.iter().map(|(k, e, g)| format!("  {k}\n    docker: {}\n    gantry: {}", show(e), show(g))).collect();
    assert!(
        report.is_empty(),
        "{}: gantry's image differs from the {reference}'s in {} place(s):\n{}\n--- Dockerfile ---\n{}",
        case.name,
        report.len(),
        report.join("\n"),
        case.dockerfile
    );
}
