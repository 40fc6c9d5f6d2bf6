//! Typed instructions: every instruction and flag, every validation error (message and
//! line), stage splitting, and a no-panic property test over random nodes.

use std::time::Duration;

use gantry_dockerfile::instructions::{
    parse_dockerfile, parse_mount, parse_node, Add, Copy, From, Healthcheck, Instruction, InstructionError, Mount,
    MountType, Run, Sharing, ShellOrExec,
};
use gantry_dockerfile::{Ast, Directives, Heredoc, Node};

// ---------------------------------------------------------------------------------
// Building nodes by hand (the parser's output shape, see ast.rs and the conformance
// dump format).

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

/// A node as the parser makes it: `original` reconstructed from keyword, flags, args.
fn node(line: usize, keyword: &str, flags: &[&str], args: &[&str]) -> Node {
    let mut original = keyword.to_string();
    for f in flags {
        original.push(' ');
        original.push_str(f);
    }
    for a in args {
        original.push(' ');
        original.push_str(a);
    }
    Node {
        keyword: keyword.to_lowercase(),
        original,
        flags: strings(flags),
        args: strings(args),
        json: false,
        nested: None,
        heredocs: Vec::new(),
        start_line: line,
        end_line: line,
    }
}

fn json(mut n: Node) -> Node {
    n.json = true;
    n
}

fn ok(n: &Node) -> Instruction {
    match parse_node(n) {
        Ok(i) => i,
        Err(e) => panic!("{:?} should type, got: {e}", n.original),
    }
}

fn err(n: &Node) -> InstructionError {
    match parse_node(n) {
        Ok(i) => panic!("{:?} should fail, got {i:?}", n.original),
        Err(e) => e,
    }
}

fn heredoc(name: &str, content: &str) -> Heredoc {
    Heredoc { name: name.into(), content: content.into(), expand: true, chomp: false, file_descriptor: 0 }
}

fn ast(nodes: Vec<Node>) -> Ast {
    Ast { directives: Directives::default(), children: nodes, warnings: Vec::new() }
}

fn bind(target: &str) -> Mount {
    Mount {
        typ: MountType::Bind,
        target: Some(target.into()),
        source: None,
        from: None,
        readonly: true,
        id: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        env: None,
        size: None,
        spec: format!("target={target}"),
        needs_expansion: false,
    }
}

fn copy() -> Copy {
    Copy {
        sources: strings(&["a"]),
        dest: "/d".into(),
        heredocs: vec![],
        from: None,
        chown: None,
        chmod: None,
        link: false,
        parents: false,
        exclude: vec![],
    }
}

fn add() -> Add {
    Add {
        sources: strings(&["a"]),
        dest: "/d".into(),
        heredocs: vec![],
        chown: None,
        chmod: None,
        link: false,
        exclude: vec![],
        checksum: None,
        keep_git_dir: false,
        unpack: None,
    }
}

fn health(test: &[&str]) -> Healthcheck {
    Healthcheck {
        test: strings(test),
        interval: None,
        timeout: None,
        start_period: None,
        start_interval: None,
        retries: None,
    }
}

// ---------------------------------------------------------------------------------
// Every instruction and flag, typed.

#[test]
fn instructions_type() {
    let run = |cmd: ShellOrExec| Run { cmd, heredocs: vec![], mounts: vec![], network: None, security: None };
    let cases: Vec<(Node, Instruction)> = vec![
        (
            node(1, "FROM", &[], &["alpine:3"]),
            Instruction::From(From { image: "alpine:3".into(), name: None, platform: None }),
        ),
        (
            node(1, "FROM", &["--platform=linux/arm64"], &["alpine", "AS", "Build-1.x_y"]),
            Instruction::From(From {
                image: "alpine".into(),
                name: Some("build-1.x_y".into()),
                platform: Some("linux/arm64".into()),
            }),
        ),
        (
            node(1, "from", &["--platform=$BUILDPLATFORM"], &["$BASE", "as", "b"]),
            Instruction::From(From {
                image: "$BASE".into(),
                name: Some("b".into()),
                platform: Some("$BUILDPLATFORM".into()),
            }),
        ),
        (node(1, "RUN", &[], &["echo hi && ls"]), Instruction::Run(run(ShellOrExec::Shell("echo hi && ls".into())))),
        (
            json(node(1, "RUN", &[], &["echo", "a b"])),
            Instruction::Run(run(ShellOrExec::Exec(strings(&["echo", "a b"])))),
        ),
        (
            node(1, "RUN", &["--network=none"], &["x"]),
            Instruction::Run(Run { network: Some("none".into()), ..run(ShellOrExec::Shell("x".into())) }),
        ),
        (
            node(1, "RUN", &["--network=host", "--security=insecure"], &["x"]),
            Instruction::Run(Run {
                network: Some("host".into()),
                security: Some("insecure".into()),
                ..run(ShellOrExec::Shell("x".into()))
            }),
        ),
        (
            node(1, "RUN", &["--network=default", "--security=sandbox"], &["x"]),
            Instruction::Run(Run {
                network: Some("default".into()),
                security: Some("sandbox".into()),
                ..run(ShellOrExec::Shell("x".into()))
            }),
        ),
        (
            node(1, "RUN", &["--mount=target=/a", "--mount=target=/b"], &["x"]),
            Instruction::Run(Run { mounts: vec![bind("/a"), bind("/b")], ..run(ShellOrExec::Shell("x".into())) }),
        ),
        (node(1, "CMD", &[], &["echo hi"]), Instruction::Cmd(ShellOrExec::Shell("echo hi".into()))),
        (json(node(1, "CMD", &[], &["a", "b"])), Instruction::Cmd(ShellOrExec::Exec(strings(&["a", "b"])))),
        (json(node(1, "ENTRYPOINT", &[], &[])), Instruction::Entrypoint(ShellOrExec::Exec(vec![]))),
        (
            node(1, "ENTRYPOINT", &[], &["/bin/app -x"]),
            Instruction::Entrypoint(ShellOrExec::Shell("/bin/app -x".into())),
        ),
        (node(1, "COPY", &[], &["a", "/d"]), Instruction::Copy(copy())),
        (
            node(1, "COPY", &[], &["a", "b*", "/d"]),
            Instruction::Copy(Copy { sources: strings(&["a", "b*"]), ..copy() }),
        ),
        (
            node(
                1,
                "COPY",
                &[
                    "--from=Builder",
                    "--chown=1:2",
                    "--chmod=0755",
                    "--link",
                    "--parents=true",
                    "--exclude=*.md",
                    "--exclude=x/",
                ],
                &["a", "/d"],
            ),
            Instruction::Copy(Copy {
                from: Some("Builder".into()),
                chown: Some("1:2".into()),
                chmod: Some("0755".into()),
                link: true,
                parents: true,
                exclude: strings(&["*.md", "x/"]),
                ..copy()
            }),
        ),
        (
            node(1, "COPY", &["--chmod=u+rwx,go-w,a=rX", "--link=false"], &["a", "/d"]),
            Instruction::Copy(Copy { chmod: Some("u+rwx,go-w,a=rX".into()), ..copy() }),
        ),
        (
            node(1, "COPY", &["--chmod=$MODE", "--chown="], &["a", "/d"]),
            Instruction::Copy(Copy { chmod: Some("$MODE".into()), ..copy() }),
        ),
        (
            json(node(1, "COPY", &[], &["test file", "/tmp/test file"])),
            Instruction::Copy(Copy { sources: strings(&["test file"]), dest: "/tmp/test file".into(), ..copy() }),
        ),
        (node(1, "ADD", &[], &["a", "/d"]), Instruction::Add(add())),
        (
            node(
                1,
                "ADD",
                &[
                    "--chown=u",
                    "--chmod=644",
                    "--link",
                    "--keep-git-dir",
                    "--checksum=sha256:abc",
                    "--unpack=false",
                    "--exclude=e",
                ],
                &["a", "/d"],
            ),
            Instruction::Add(Add {
                chown: Some("u".into()),
                chmod: Some("644".into()),
                link: true,
                keep_git_dir: true,
                checksum: Some("sha256:abc".into()),
                unpack: Some(false),
                exclude: strings(&["e"]),
                ..add()
            }),
        ),
        (node(1, "ADD", &["--unpack"], &["a", "/d"]), Instruction::Add(Add { unpack: Some(true), ..add() })),
        (
            node(1, "ENV", &[], &["A", "1", "=", "B", "\"x y\"", "="]),
            Instruction::Env(vec![("A".into(), "1".into()), ("B".into(), "\"x y\"".into())]),
        ),
        (node(1, "ENV", &[], &["PATH", "/x:$PATH", ""]), Instruction::Env(vec![("PATH".into(), "/x:$PATH".into())])),
        (node(1, "LABEL", &[], &["a.b", "c", "="]), Instruction::Label(vec![("a.b".into(), "c".into())])),
        (
            node(1, "ARG", &[], &["foo", "bar=baz", "e="]),
            Instruction::Arg(vec![
                ("foo".into(), None),
                ("bar".into(), Some("baz".into())),
                ("e".into(), Some("".into())),
            ]),
        ),
        (
            node(1, "EXPOSE", &[], &["8080/tcp", "443", "53/udp"]),
            Instruction::Expose(strings(&["443", "53/udp", "8080/tcp"])),
        ),
        (node(1, "USER", &[], &["app:app"]), Instruction::User("app:app".into())),
        (node(1, "WORKDIR", &[], &["/app"]), Instruction::Workdir("/app".into())),
        (node(1, "VOLUME", &[], &["/a", " /b "]), Instruction::Volume(strings(&["/a", "/b"]))),
        (json(node(1, "SHELL", &[], &["/bin/bash", "-c"])), Instruction::Shell(strings(&["/bin/bash", "-c"]))),
        (node(1, "STOPSIGNAL", &[], &["SIGKILL"]), Instruction::StopSignal("SIGKILL".into())),
        (node(1, "MAINTAINER", &[], &["me <me@x>"]), Instruction::Maintainer("me <me@x>".into())),
        (node(1, "HEALTHCHECK", &[], &["NONE"]), Instruction::Healthcheck(health(&["NONE"]))),
        (
            node(1, "HEALTHCHECK", &[], &["CMD", "curl -f localhost"]),
            Instruction::Healthcheck(health(&["CMD-SHELL", "curl -f localhost"])),
        ),
        (
            json(node(1, "HEALTHCHECK", &[], &["cmd", "curl", "-f"])),
            Instruction::Healthcheck(health(&["CMD", "curl", "-f"])),
        ),
        (
            // BuildKit: no command words in shell form gives one empty word.
            node(1, "HEALTHCHECK", &[], &["CMD"]),
            Instruction::Healthcheck(health(&["CMD-SHELL", ""])),
        ),
        (
            node(
                1,
                "HEALTHCHECK",
                &["--interval=5s", "--timeout=1m30s", "--start-period=0s", "--start-interval=1.5ms", "--retries=3"],
                &["CMD", "true"],
            ),
            Instruction::Healthcheck(Healthcheck {
                interval: Some(Duration::from_secs(5)),
                timeout: Some(Duration::from_secs(90)),
                start_period: Some(Duration::ZERO),
                start_interval: Some(Duration::from_micros(1500)),
                retries: Some(3),
                ..health(&["CMD-SHELL", "true"])
            }),
        ),
        (
            node(1, "HEALTHCHECK", &["--retries=0"], &["CMD", "true"]),
            Instruction::Healthcheck(Healthcheck { retries: Some(0), ..health(&["CMD-SHELL", "true"]) }),
        ),
    ];
    for (n, want) in &cases {
        assert_eq!(&ok(n), want, "{}", n.original);
    }
    // Flags are ignored by BuildKit on STOPSIGNAL, ARG and HEALTHCHECK NONE.
    assert_eq!(ok(&node(1, "STOPSIGNAL", &["--x"], &["9"])), Instruction::StopSignal("9".into()));
    assert_eq!(ok(&node(1, "ARG", &["--x"], &["a"])), Instruction::Arg(vec![("a".into(), None)]));
    assert_eq!(
        ok(&node(1, "HEALTHCHECK", &["--interval=bogus"], &["NONE"])),
        Instruction::Healthcheck(health(&["NONE"]))
    );
    // `--` ends the flags.
    assert_eq!(
        ok(&node(1, "COPY", &["--link", "--", "--bogus"], &["a", "/d"])),
        Instruction::Copy(Copy { link: true, ..copy() })
    );
}

#[test]
fn onbuild() {
    let mut n = node(3, "ONBUILD", &[], &[]);
    n.original = "ONBUILD RUN echo hi".into();
    n.nested = Some(Box::new(node(3, "RUN", &[], &["echo hi"])));
    assert_eq!(ok(&n), Instruction::Onbuild("RUN echo hi".into()));

    // Case-insensitive keyword, heredocs appended like BuildKit.
    n.original = "  onbuild   COPY <<EOF /x".into();
    n.nested = Some(Box::new(node(3, "COPY", &[], &["<<EOF", "/x"])));
    n.heredocs = vec![heredoc("EOF", "hello\n")];
    assert_eq!(ok(&n), Instruction::Onbuild("COPY <<EOF /x\nhello\nEOF".into()));

    // The nested instruction is not validated (BuildKit checks it when the image is
    // used as a base).
    n.original = "ONBUILD BOGUS x".into();
    n.heredocs.clear();
    n.nested = Some(Box::new(node(3, "BOGUS", &[], &["x"])));
    assert_eq!(ok(&n), Instruction::Onbuild("BOGUS x".into()));
}

#[test]
fn heredocs() {
    // RUN keeps the instruction's heredocs.
    let mut n = node(2, "RUN", &[], &["<<EOF"]);
    n.heredocs = vec![heredoc("EOF", "echo hi\n")];
    match ok(&n) {
        Instruction::Run(r) => {
            assert_eq!(r.cmd, ShellOrExec::Shell("<<EOF".into()));
            assert_eq!(r.heredocs, vec![heredoc("EOF", "echo hi\n")]);
        }
        other => panic!("{other:?}"),
    }

    // COPY sources from heredocs, quoted delimiters not expanded, `<<-` chomped.
    let mut n = node(2, "COPY", &[], &["<<a.txt", "<<-\"b.sh\"", "c", "/dst/"]);
    n.heredocs = vec![heredoc("a.txt", "A $X\n"), heredoc("b.sh", "\t\tB\n\tC\n")];
    match ok(&n) {
        Instruction::Copy(c) => {
            assert_eq!(c.sources, strings(&["c"]));
            assert_eq!(c.dest, "/dst/");
            assert_eq!(
                c.heredocs,
                vec![
                    heredoc("a.txt", "A $X\n"),
                    Heredoc {
                        name: "b.sh".into(),
                        content: "B\nC\n".into(),
                        expand: false,
                        chomp: true,
                        file_descriptor: 0,
                    }
                ]
            );
        }
        other => panic!("{other:?}"),
    }

    // ADD too.
    let mut n = node(2, "ADD", &[], &["<<EOF", "/f"]);
    n.heredocs = vec![heredoc("EOF", "x\n")];
    match ok(&n) {
        Instruction::Add(a) => {
            assert!(a.sources.is_empty());
            assert_eq!(a.heredocs, vec![heredoc("EOF", "x\n")]);
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------
// Every validation error: message and line.

#[test]
fn instruction_errors() {
    let nd = |kw: &str, flags: &[&str], args: &[&str]| node(7, kw, flags, args);
    let onb = |trigger: &str| {
        let mut n = node(7, "ONBUILD", &[], &[]);
        n.original = format!("ONBUILD {trigger} x");
        n.nested = Some(Box::new(node(7, trigger, &[], &["x"])));
        n
    };
    let cases: Vec<(Node, &str)> = vec![
        // Unknown instructions, with BuildKit's suggestion.
        // BuildKit's own cases: FOO is 2 edits from FROM, so it gets a hint too.
        (nd("FOO", &[], &["bar"]), "unknown instruction: FOO (did you mean FROM?)"),
        (nd("foo", &[], &["bar"]), "unknown instruction: foo (did you mean from?)"),
        (nd("BOGUS", &[], &["bar"]), "unknown instruction: BOGUS"),
        (nd("FORM", &[], &["x"]), "unknown instruction: FORM (did you mean FROM?)"),
        (nd("form", &[], &["x"]), "unknown instruction: form (did you mean from?)"),
        (nd("Runn", &[], &["x"]), "unknown instruction: Runn (did you mean run?)"),
        (nd("ENTRYPONT", &[], &["x"]), "unknown instruction: ENTRYPONT (did you mean ENTRYPOINT?)"),
        // Unknown flags, and flags on instructions that take none.
        (nd("COPY", &["--chmd=1"], &["a", "b"]), "unknown flag: --chmd (did you mean chmod?)"),
        (nd("COPY", &["--bogus"], &["a", "b"]), "unknown flag: --bogus"),
        (nd("ADD", &["--from=x"], &["a", "b"]), "unknown flag: --from"),
        (nd("ADD", &["--parents"], &["a", "b"]), "unknown flag: --parents"),
        (nd("COPY", &["--checksum=x"], &["a", "b"]), "unknown flag: --checksum"),
        (nd("RUN", &["--mounts=type=bind"], &["x"]), "unknown flag: --mounts (did you mean mount?)"),
        (nd("FROM", &["--platfrom=x"], &["a"]), "unknown flag: --platfrom (did you mean platform?)"),
        (nd("MAINTAINER", &["--boo"], &["joe"]), "unknown flag: --boo"),
        (nd("ENV", &["--x"], &["a", "b", "="]), "unknown flag: --x"),
        (nd("LABEL", &["--x"], &["a", "b", "="]), "unknown flag: --x"),
        (nd("WORKDIR", &["--x"], &["/"]), "unknown flag: --x"),
        (nd("USER", &["--x"], &["u"]), "unknown flag: --x"),
        (nd("CMD", &["--doit"], &["a"]), "unknown flag: --doit"),
        (nd("ENTRYPOINT", &["--x=1"], &["a"]), "unknown flag: --x"),
        (nd("EXPOSE", &["--x"], &["80"]), "unknown flag: --x"),
        (nd("VOLUME", &["--x"], &["/v"]), "unknown flag: --x"),
        (json(nd("SHELL", &["--x"], &["sh"])), "unknown flag: --x"),
        (nd("HEALTHCHECK", &["--x"], &["CMD", "a"]), "unknown flag: --x"),
        // Malformed flags.
        (nd("COPY", &["--from"], &["a", "b"]), "missing a value on flag: --from"),
        (nd("COPY", &["--link="], &["a", "b"]), "missing a value on flag: --link"),
        (nd("COPY", &["--link=yes"], &["a", "b"]), "expecting boolean value for flag --link, not: yes"),
        (nd("COPY", &["--from=a", "--from=b"], &["a", "b"]), "duplicate flag specified: --from"),
        (nd("COPY", &["-from=a"], &["a", "b"]), "arg should start with -- : -from=a"),
        // --chmod.
        (
            nd("COPY", &["--chmod=64a"], &["a", "b"]),
            "invalid chmod parameter: '64a'. it should be octal string and between 0 and 07777",
        ),
        (
            nd("COPY", &["--chmod=10000"], &["a", "b"]),
            "invalid chmod parameter: '10000'. it should be octal string and between 0 and 07777",
        ),
        (
            nd("ADD", &["--chmod=u+q"], &["a", "b"]),
            "invalid chmod parameter: 'u+q'. it should be octal string and between 0 and 07777",
        ),
        (
            nd("ADD", &["--chmod=0o755"], &["a", "b"]),
            "invalid chmod parameter: '0o755'. it should be octal string and between 0 and 07777",
        ),
        // RUN --network / --security.
        (nd("RUN", &["--network=bridge"], &["x"]), "invalid network mode \"bridge\""),
        (nd("RUN", &["--network="], &["x"]), "invalid network mode \"\""),
        (nd("RUN", &["--security=root"], &["x"]), "security \"root\" is not valid"),
        // RUN --mount.
        (nd("RUN", &["--mount=type=bnd,target=/x"], &["x"]), "unsupported mount type \"bnd\" (did you mean bind?)"),
        (nd("RUN", &["--mount=tagret=/x"], &["x"]), "unexpected key 'tagret' in 'tagret=/x' (did you mean target?)"),
        (nd("RUN", &["--mount=target"], &["x"]), "invalid field 'target' must be a key=value pair"),
        (nd("RUN", &["--mount=type=cache,target=/x,sharing=all"], &["x"]), "unsupported sharing value \"all\""),
        (nd("RUN", &["--mount=type=cache,target=/x,mode=999"], &["x"]), "invalid value 999 for mode"),
        (nd("RUN", &["--mount=type=cache,target=/x,uid=-1"], &["x"]), "invalid value -1 for uid"),
        (nd("RUN", &["--mount=type=cache,target=/x,gid=g"], &["x"]), "invalid value g for gid"),
        (nd("RUN", &["--mount=target=/x,ro=maybe"], &["x"]), "invalid value for ro: maybe"),
        (nd("RUN", &["--mount=target=/x,mode=0700"], &["x"]), "mode not allowed for \"bind\" type mounts"),
        (nd("RUN", &["--mount=type=tmpfs,target=/x,uid=1"], &["x"]), "uid not allowed for \"tmpfs\" type mounts"),
        (nd("RUN", &["--mount=target=/x,required"], &["x"]), "unexpected key 'required' for mount type 'bind'"),
        (nd("RUN", &["--mount=type=cache,target=/x,size=1m"], &["x"]), "unexpected key 'size' for mount type 'cache'"),
        (nd("RUN", &["--mount=type=tmpfs,target=/x,size=big"], &["x"]), "invalid value for size: big"),
        (nd("RUN", &["--mount=target=/x,sharing=locked"], &["x"]), "invalid cache sharing set for bind mount"),
        (nd("RUN", &["--mount=type=secret"], &["x"]), "invalid secret mount. one of source, target required"),
        (nd("RUN", &["--mount=type=secret,id=a,from=b"], &["x"]), "secret mount should not have a from"),
        (nd("RUN", &["--mount=type=secret,id=a,source=b"], &["x"]), "both source and id can't be set"),
        (nd("RUN", &["--mount=type=secret,id=a,sharing=shared"], &["x"]), "secret mount should not define sharing"),
        (
            nd("RUN", &["--mount=from=$STAGE,target=/x"], &["x"]),
            "'from' doesn't support variable expansion, define alias stage instead",
        ),
        (
            nd("RUN", &["--mount=target=a\"b"], &["x"]),
            "failed to parse csv mounts: parse error on line 1, column 9: bare \" in non-quoted-field",
        ),
        // HEALTHCHECK.
        (nd("HEALTHCHECK", &[], &[]), "HEALTHCHECK requires at least one argument"),
        (nd("HEALTHCHECK", &[], &["NONE", "x"]), "HEALTHCHECK NONE takes no arguments"),
        (nd("HEALTHCHECK", &[], &["CONNECT", "TCP 7000"]), "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)"),
        (json(nd("HEALTHCHECK", &[], &["CMD"])), "Missing command after HEALTHCHECK CMD"),
        (nd("HEALTHCHECK", &["--interval=5"], &["CMD", "a"]), "time: missing unit in duration \"5\""),
        (nd("HEALTHCHECK", &["--timeout=abc"], &["CMD", "a"]), "time: invalid duration \"abc\""),
        (nd("HEALTHCHECK", &["--start-period=3d"], &["CMD", "a"]), "time: unknown unit \"d\" in duration \"3d\""),
        (nd("HEALTHCHECK", &["--interval=50ns"], &["CMD", "a"]), "Interval \"interval\" cannot be less than 1ms"),
        (
            nd("HEALTHCHECK", &["--start-interval=-1s"], &["CMD", "a"]),
            "Interval \"start-interval\" cannot be less than 1ms",
        ),
        (nd("HEALTHCHECK", &["--retries=x"], &["CMD", "a"]), "strconv.ParseInt: parsing \"x\": invalid syntax"),
        (
            nd("HEALTHCHECK", &["--retries=99999999999"], &["CMD", "a"]),
            "strconv.ParseInt: parsing \"99999999999\": value out of range",
        ),
        (nd("HEALTHCHECK", &["--retries=-1"], &["CMD", "a"]), "--retries cannot be negative (-1)"),
        // Argument counts.
        (
            nd("COPY", &[], &["a"]),
            "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
        ),
        (
            nd("ADD", &[], &[]),
            "ADD requires at least two arguments, but only one was provided. Destination could not be determined",
        ),
        (nd("COPY", &[], &["a", "<<EOF"]), "COPY cannot accept a heredoc as a destination"),
        (nd("ADD", &[], &["a", "<<-EOF"]), "ADD cannot accept a heredoc as a destination"),
        (nd("FROM", &[], &[]), "FROM requires either one or three arguments"),
        (nd("FROM", &[], &["a", "b"]), "FROM requires either one or three arguments"),
        (nd("FROM", &[], &["a", "IS", "b"]), "FROM requires either one or three arguments"),
        (nd("FROM", &[], &["a", "AS", "b", "c"]), "FROM requires either one or three arguments"),
        (
            nd("FROM", &[], &["a", "AS", "1st"]),
            "invalid name for build stage: \"1st\", name can't start with a number or contain symbols",
        ),
        (
            nd("FROM", &[], &["a", "AS", "Bad$Name"]),
            "invalid name for build stage: \"Bad$Name\", name can't start with a number or contain symbols",
        ),
        (nd("ENV", &[], &[]), "ENV requires at least one argument"),
        (nd("ENV", &[], &["a", "b"]), "Bad input to ENV, too many arguments"),
        (nd("ENV", &[], &["", "b", "="]), "ENV names can not be blank"),
        (nd("LABEL", &[], &[]), "LABEL requires at least one argument"),
        (nd("LABEL", &[], &["a", "b", "=", "c"]), "Bad input to LABEL, too many arguments"),
        (nd("LABEL", &[], &["", "b", "="]), "LABEL names can not be blank"),
        (nd("ARG", &[], &[]), "ARG requires at least one argument"),
        (nd("ARG", &[], &["=x"]), "ARG names can not be blank"),
        (nd("MAINTAINER", &[], &[]), "MAINTAINER requires exactly one argument"),
        (nd("WORKDIR", &[], &[]), "WORKDIR requires exactly one argument"),
        (json(nd("WORKDIR", &[], &["/a", "/b"])), "WORKDIR requires exactly one argument"),
        (nd("USER", &[], &[]), "USER requires exactly one argument"),
        (nd("STOPSIGNAL", &[], &[]), "STOPSIGNAL requires exactly one argument"),
        (nd("EXPOSE", &[], &[]), "EXPOSE requires at least one argument"),
        (nd("VOLUME", &[], &[]), "VOLUME requires at least one argument"),
        (json(nd("VOLUME", &[], &["/a", " "])), "VOLUME specified can not be an empty string"),
        (nd("ONBUILD", &[], &[]), "ONBUILD requires at least one argument"),
        (nd("SHELL", &[], &["/bin/sh -c"]), "SHELL requires the arguments to be in JSON form"),
        (json(nd("SHELL", &[], &[])), "SHELL requires at least one argument"),
        // ONBUILD triggers.
        (onb("ONBUILD"), "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        (onb("FROM"), "FROM isn't allowed as an ONBUILD trigger"),
        (onb("maintainer"), "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ];
    for (n, want) in &cases {
        let e = err(n);
        assert_eq!(e.message, *want, "{}", n.original);
        assert_eq!(e.line, 7, "{}", n.original);
        assert_eq!(e.to_string(), format!("dockerfile parse error on line 7: {want}"));
    }
}

#[test]
fn shell_not_json_windows_hint() {
    let mut n = node(1, "SHELL", &[], &[r#"["c:\windows\cmd.exe", "/S"]"#]);
    n.original = r#"SHELL ["c:\windows\cmd.exe", "/S"]"#.into();
    let e = err(&n);
    assert!(
        e.message.starts_with(
            "SHELL requires the arguments to be in JSON form. It looks like '[\"c:\\windows\\cmd.exe\", \"/s\"]' includes a file path without an escaped back-slash"
        ),
        "{}",
        e.message
    );
}

// ---------------------------------------------------------------------------------
// --mount values.

#[test]
fn mounts() {
    let m = |s: &str| match parse_mount(s, None) {
        Ok(m) => m,
        Err(e) => panic!("{s}: {e}"),
    };
    let base = |spec: &str, typ: MountType| Mount {
        typ,
        target: None,
        source: None,
        from: None,
        readonly: false,
        id: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        env: None,
        size: None,
        spec: spec.into(),
        needs_expansion: false,
    };

    let s = "type=cache,target=/root/.cache,id=go,sharing=LOCKED,mode=0700,uid=1000,gid=1000,from=builder,source=/c";
    assert_eq!(
        m(s),
        Mount {
            target: Some("/root/.cache".into()),
            id: Some("go".into()),
            sharing: Some(Sharing::Locked),
            mode: Some(0o700),
            uid: Some(1000),
            gid: Some(1000),
            from: Some("builder".into()),
            source: Some("/c".into()),
            ..base(s, MountType::Cache)
        }
    );
    // Bind: read-only unless rw; aliases; keys are case-insensitive.
    let s = "Type=Bind,SRC=x,dst=/y,rw";
    assert_eq!(m(s), Mount { source: Some("x".into()), target: Some("/y".into()), ..base(s, MountType::Bind) });
    let s = "destination=/y,readwrite=true,from=img";
    assert_eq!(m(s), Mount { target: Some("/y".into()), from: Some("img".into()), ..base(s, MountType::Bind) });
    // Cache and tmpfs are writable unless ro.
    let s = "type=tmpfs,target=/t,size=64m";
    assert_eq!(m(s), Mount { target: Some("/t".into()), size: Some(64 << 20), ..base(s, MountType::Tmpfs) });
    let s = "type=cache,target=/c,ro";
    assert_eq!(m(s), Mount { target: Some("/c".into()), readonly: true, ..base(s, MountType::Cache) });
    // Secrets and ssh.
    let s = "type=secret,id=tok,env=TOKEN,required";
    assert_eq!(
        m(s),
        Mount {
            id: Some("tok".into()),
            env: Some("TOKEN".into()),
            required: true,
            readonly: true,
            ..base(s, MountType::Secret)
        }
    );
    let s = "type=ssh,required=false,mode=0600";
    assert_eq!(m(s), Mount { mode: Some(0o600), readonly: true, ..base(s, MountType::Ssh) });
    // CSV quoting.
    let s = "type=bind,\"target=/a,b\"";
    assert_eq!(m(s), Mount { target: Some("/a,b".into()), readonly: true, ..base(s, MountType::Bind) });
    // Values needing expansion are deferred; the builder re-parses with an expander.
    let s = "type=cache,target=$HOME/.cache,uid=$UID";
    let d = m(s);
    assert!(d.needs_expansion);
    assert_eq!(d.target, None);
    let expand = |v: &str| -> Result<String, String> { Ok(v.replace("$HOME", "/root").replace("$UID", "7")) };
    let e = parse_mount(s, Some(&expand)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.target.as_deref(), Some("/root/.cache"));
    assert_eq!(e.uid, Some(7));
    assert!(!e.needs_expansion);
    // A deferred type skips the type-dependent checks until expansion.
    assert!(m("type=$T,target=/x,mode=0700").needs_expansion);
    let bad = |v: &str| -> Result<String, String> { Err(format!("bad {v}")) };
    assert_eq!(parse_mount("target=$X", Some(&bad)), Err("bad $X".into()));
    // `from=` ending in `$` is not a variable.
    assert_eq!(m("from=a$,target=/x").from.as_deref(), Some("a$"));
    // Errors.
    assert_eq!(parse_mount("", None), Err("invalid field '' must be a key=value pair".into()));
    assert_eq!(parse_mount("type=secret,required,type=ssh", None).map(|m| m.typ), Ok(MountType::Ssh));
    assert_eq!(
        parse_mount("target=/x,\"unterminated", None),
        Err("failed to parse csv mounts: parse error on line 1, column 24: extraneous or missing \" in quoted-field"
            .into())
    );
    assert_eq!(
        parse_mount("tagret=$X", None),
        Err("unexpected key 'tagret' in 'tagret=$X' (did you mean target?)".into())
    );
}

// ---------------------------------------------------------------------------------
// Stages.

#[test]
fn stages() {
    let mut arg = node(1, "ARG", &[], &["BASE=alpine"]);
    arg.original = "ARG BASE=alpine".into();
    let nodes = vec![
        arg.clone(),
        node(2, "FROM", &[], &["$BASE", "AS", "Build"]),
        node(3, "RUN", &[], &["make"]),
        node(4, "ARG", &[], &["X"]),
        node(5, "FROM", &["--platform=linux/amd64"], &["scratch"]),
        node(6, "COPY", &["--from=build"], &["/out", "/"]),
    ];
    let mut a = ast(nodes);
    a.directives.escape = '`';
    let df = match parse_dockerfile(&a) {
        Ok(df) => df,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(df.escape, '`');
    assert_eq!(df.meta_args.len(), 1);
    assert_eq!(df.meta_args[0].node, arg);
    assert_eq!(df.meta_args[0].line(), 1);
    assert_eq!(df.stages.len(), 2);
    let s0 = &df.stages[0];
    assert_eq!(s0.name.as_deref(), Some("build"));
    assert_eq!(s0.base, "$BASE");
    assert_eq!(s0.from_node.start_line, 2);
    assert_eq!(s0.commands.len(), 2);
    assert!(matches!(s0.commands[0].instruction, Instruction::Run(_)));
    assert_eq!(s0.commands[1].instruction, Instruction::Arg(vec![("X".into(), None)]));
    let s1 = &df.stages[1];
    assert_eq!(s1.name, None);
    assert_eq!(s1.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(s1.commands[0].line(), 6);
}

#[test]
fn stage_errors() {
    let e = |nodes: Vec<Node>| match parse_dockerfile(&ast(nodes)) {
        Ok(df) => panic!("should fail: {df:?}"),
        Err(e) => e,
    };
    let got = e(vec![node(1, "ARG", &[], &["A"]), node(2, "RUN", &[], &["x"]), node(3, "FROM", &[], &["a"])]);
    assert_eq!(got, InstructionError { line: 2, message: "no build stage in current context".into() });
    assert_eq!(got.to_string(), "dockerfile parse error on line 2: no build stage in current context");
    // Stage names are case-insensitive.
    let got = e(vec![
        node(1, "FROM", &[], &["a", "AS", "Foo"]),
        node(2, "FROM", &[], &["b"]),
        node(4, "FROM", &[], &["c", "as", "foo"]),
    ]);
    assert_eq!(got.line, 4);
    assert_eq!(got.message, "Duplicate stage name \"foo\", stage names should be unique");
    // The first bad instruction wins, with its own line.
    let got = e(vec![node(1, "FROM", &[], &["a"]), node(9, "COPY", &[], &["x"]), node(10, "BOGUS", &[], &[])]);
    assert_eq!(got.line, 9);
    // Only ARGs: nothing to build.
    let got = e(vec![node(1, "ARG", &[], &["A"])]);
    assert_eq!(got.line, 0);
    assert_eq!(got.to_string(), "dockerfile contains no stages to build");
}

// ---------------------------------------------------------------------------------
// No panics on any input: random nodes from a tiny LCG.

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const KEYWORDS: &[&str] = &[
    "from",
    "run",
    "cmd",
    "entrypoint",
    "copy",
    "add",
    "env",
    "arg",
    "label",
    "expose",
    "user",
    "workdir",
    "volume",
    "shell",
    "stopsignal",
    "healthcheck",
    "onbuild",
    "maintainer",
    "frm",
    "",
    "é",
    "FROM",
];
const FLAG_NAMES: &[&str] = &[
    "from",
    "chown",
    "chmod",
    "link",
    "parents",
    "exclude",
    "checksum",
    "keep-git-dir",
    "unpack",
    "platform",
    "mount",
    "network",
    "security",
    "interval",
    "timeout",
    "start-period",
    "start-interval",
    "retries",
    "x",
    "",
];
const PIECES: &[&str] = &[
    "",
    "a",
    "AS",
    "as",
    "=",
    "$",
    "$X",
    "<<",
    "<<EOF",
    "<<-'E'",
    "3<<x",
    "\"",
    "'",
    ",",
    "0",
    "0755",
    "u+x",
    "-1",
    "5s",
    "1.5",
    "type=",
    "cache",
    "secret",
    "ssh",
    "tmpfs",
    "bind",
    "target=/x",
    "ro",
    "rw",
    "required",
    "size=1k",
    "mode=7",
    "uid=1",
    "sharing=locked",
    "id=i",
    "env=E",
    "src=s",
    "from=$",
    "NONE",
    "CMD",
    "ONBUILD",
    "é",
    "ü",
    "\t",
    " ",
    "\\",
    "[",
    "]",
    "µs",
    "9999999999999999999999",
    "h",
    "ms",
];

fn random_string(r: &mut Lcg) -> String {
    let mut s = String::new();
    for _ in 0..r.below(5) {
        s.push_str(r.pick(PIECES));
    }
    s
}

fn random_node(r: &mut Lcg, depth: usize) -> Node {
    let keyword = r.pick(KEYWORDS).to_string();
    let mut flags = Vec::new();
    for _ in 0..r.below(4) {
        let mut f = match r.below(10) {
            0 => String::new(),
            1 => "-".into(),
            2 => "--".into(),
            _ => format!("--{}", r.pick(FLAG_NAMES)),
        };
        if r.below(3) > 0 {
            f.push('=');
            f.push_str(&random_string(r));
            if r.below(2) == 0 {
                f.push(',');
                f.push_str(&random_string(r));
            }
        }
        flags.push(f);
    }
    let args = (0..r.below(6)).map(|_| random_string(r)).collect();
    let heredocs = (0..r.below(3))
        .map(|_| Heredoc {
            name: r.pick(&["EOF", "E", "x", ""]).into(),
            content: random_string(r),
            expand: r.below(2) == 0,
            chomp: r.below(2) == 0,
            file_descriptor: r.below(4) as u32,
        })
        .collect();
    let nested = (depth < 2 && r.below(3) == 0).then(|| Box::new(random_node(r, depth + 1)));
    let mut original = random_string(r);
    if r.below(2) == 0 {
        original = format!("{keyword} {original}");
    }
    Node {
        keyword,
        original,
        flags,
        args,
        json: r.below(2) == 0,
        nested,
        heredocs,
        start_line: r.below(100),
        end_line: r.below(100),
    }
}

#[test]
fn random_nodes_never_panic() {
    let mut r = Lcg(0x5eed);
    let (mut typed, mut failed) = (0, 0);
    for _ in 0..20_000 {
        let n = random_node(&mut r, 0);
        match parse_node(&n) {
            Ok(_) => typed += 1,
            Err(e) => {
                assert!(!e.message.is_empty());
                failed += 1;
            }
        }
        let spec = random_string(&mut r);
        let _ = parse_mount(&spec, None);
        let expand = |v: &str| -> Result<String, String> { Ok(v.replace('$', "")) };
        let _ = parse_mount(&spec, Some(&expand));
    }
    assert!(typed > 1000 && failed > 1000, "typed {typed}, failed {failed}");
    for _ in 0..2_000 {
        let nodes = (0..r.below(8)).map(|_| random_node(&mut r, 0)).collect();
        let _ = parse_dockerfile(&ast(nodes));
    }
}

// ---------------------------------------------------------------------------------
// End to end through the parser.

fn parse_src(src: &str) -> Result<gantry_dockerfile::instructions::Dockerfile, String> {
    let ast = gantry_dockerfile::parser::parse(src).map_err(|e| format!("parser: {e}"))?;
    parse_dockerfile(&ast).map_err(|e| e.to_string())
}

/// Every BuildKit parser test file either types cleanly or fails with an
/// instruction-level error that BuildKit's instructions package also reports (those
/// files only test the parser).
#[test]
fn conformance_testfiles() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/buildkit/parser/testfiles");
    let no_stage = "dockerfile parse error on line 1: no build stage in current context";
    let expected_failures: &[(&str, &str)] = &[
        // `COPY --user=me`, `--doit=true`: COPY has no such flags.
        ("flags", "dockerfile parse error on line 3: unknown flag: --user"),
        // A bare `HEALTHCHECK` (dumped as `(healthcheck)`).
        ("health", "dockerfile parse error on line 4: HEALTHCHECK requires at least one argument"),
        // These files are a lone CMD without FROM.
        ("jeztah-invalid-json-json-inside-string", no_stage),
        ("jeztah-invalid-json-json-inside-string-double", no_stage),
        ("jeztah-invalid-json-single-quotes", no_stage),
        ("jeztah-invalid-json-unterminated-bracket", no_stage),
        ("jeztah-invalid-json-unterminated-string", no_stage),
        ("json", no_stage),
    ];
    let mut entries: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    entries.sort();
    assert!(entries.len() >= 30, "{} test files", entries.len());
    let (mut typed, mut failed) = (0, 0);
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let src = std::fs::read_to_string(path.join("Dockerfile")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = expected_failures.iter().find(|(n, _)| *n == name).map(|(_, m)| *m);
        match (parse_src(&src), expected) {
            (Ok(df), None) => {
                typed += 1;
                let n: usize = df.stages.iter().map(|s| s.commands.len()).sum();
                println!("{name}: ok, {} stage(s), {n} command(s)", df.stages.len());
            }
            (Err(e), Some(want)) => {
                failed += 1;
                println!("{name}: fails as expected: {e}");
                assert_eq!(e, want, "{name}");
            }
            (Ok(_), Some(want)) => panic!("{name}: typed, but expected {want:?}"),
            (Err(e), None) => panic!("{name}: {e}"),
        }
    }
    assert_eq!(failed, expected_failures.len());
    println!("{typed} typed, {failed} failed as expected");
}

/// Real Dockerfile text through parser and typing.
#[test]
fn end_to_end() {
    let src = r#"# syntax=docker/dockerfile:1
ARG GO=1.22
FROM --platform=$BUILDPLATFORM golang:${GO} AS Build
ENV CGO_ENABLED=0 A="x y"
WORKDIR /src
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=bind,source=.,target=/src \
    go build -o /out/app .
COPY <<EOF /etc/conf
hello
EOF
RUN <<EOT bash
set -e
echo hi
EOT
FROM scratch
COPY --from=build --chmod=0755 /out/app /app
LABEL org.opencontainers.image.title=app
EXPOSE 8080 443/tcp
HEALTHCHECK --interval=30s --retries=3 CMD ["/app", "health"]
ONBUILD RUN echo triggered
USER 65534:65534
ENTRYPOINT ["/app"]
"#;
    let df = parse_src(src).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(df.meta_args.len(), 1);
    assert_eq!(df.meta_args[0].instruction, Instruction::Arg(vec![("GO".into(), Some("1.22".into()))]));
    let build = &df.stages[0];
    assert_eq!(build.name.as_deref(), Some("build"));
    assert_eq!(build.base, "golang:${GO}");
    assert_eq!(build.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(build.from_node.start_line, 3);
    let ins: Vec<&Instruction> = build.commands.iter().map(|c| &c.instruction).collect();
    assert_eq!(ins[0], &Instruction::Env(vec![("CGO_ENABLED".into(), "0".into()), ("A".into(), "\"x y\"".into())]));
    assert_eq!(ins[1], &Instruction::Workdir("/src".into()));
    match ins[2] {
        Instruction::Run(r) => {
            assert_eq!(r.mounts.len(), 2);
            assert_eq!(r.mounts[0].typ, MountType::Cache);
            assert_eq!(r.mounts[0].target.as_deref(), Some("/root/.cache/go-build"));
            assert!(!r.mounts[0].readonly);
            assert_eq!(r.mounts[1].source.as_deref(), Some("."));
            assert!(r.mounts[1].readonly);
            assert!(matches!(&r.cmd, ShellOrExec::Shell(s) if s.contains("go build -o /out/app .")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(build.commands[2].line(), 6);
    match ins[3] {
        Instruction::Copy(c) => {
            assert!(c.sources.is_empty());
            assert_eq!(c.dest, "/etc/conf");
            assert_eq!(c.heredocs.len(), 1);
            assert_eq!(c.heredocs[0].name, "EOF");
            assert_eq!(c.heredocs[0].content, "hello\n");
        }
        other => panic!("{other:?}"),
    }
    match ins[4] {
        Instruction::Run(r) => {
            assert_eq!(r.cmd, ShellOrExec::Shell("<<EOT bash".into()));
            assert_eq!(r.heredocs.len(), 1);
            assert_eq!(r.heredocs[0].content, "set -e\necho hi\n");
        }
        other => panic!("{other:?}"),
    }
    let fin = &df.stages[1];
    assert_eq!(fin.name, None);
    let ins: Vec<&Instruction> = fin.commands.iter().map(|c| &c.instruction).collect();
    assert_eq!(
        ins[0],
        &Instruction::Copy(Copy {
            sources: strings(&["/out/app"]),
            dest: "/app".into(),
            from: Some("build".into()),
            chmod: Some("0755".into()),
            ..copy()
        })
    );
    assert_eq!(ins[1], &Instruction::Label(vec![("org.opencontainers.image.title".into(), "app".into())]));
    assert_eq!(ins[2], &Instruction::Expose(strings(&["443/tcp", "8080"])));
    assert_eq!(
        ins[3],
        &Instruction::Healthcheck(Healthcheck {
            interval: Some(Duration::from_secs(30)),
            retries: Some(3),
            ..health(&["CMD", "/app", "health"])
        })
    );
    assert_eq!(ins[4], &Instruction::Onbuild("RUN echo triggered".into()));
    assert_eq!(ins[5], &Instruction::User("65534:65534".into()));
    assert_eq!(ins[6], &Instruction::Entrypoint(ShellOrExec::Exec(strings(&["/app"]))));
}

/// Key error cases written as Dockerfiles (the parser's real node shapes).
#[test]
fn end_to_end_errors() {
    let cases: &[(&str, &str)] = &[
        ("FROM a\nFOO bar\n", "dockerfile parse error on line 2: unknown instruction: FOO (did you mean FROM?)"),
        ("FROM a\nfrm x\n", "dockerfile parse error on line 2: unknown instruction: frm (did you mean from?)"),
        ("FROM a\nCOPY --chmod=64a a b\n", "dockerfile parse error on line 2: invalid chmod parameter: '64a'. it should be octal string and between 0 and 07777"),
        ("FROM a\n\nRUN --mount=type=foo x\n", "dockerfile parse error on line 3: unsupported mount type \"foo\""),
        ("FROM a\nCOPY onlyone\n", "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM a b\n", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
        ("FROM a AS 9x\n", "dockerfile parse error on line 1: invalid name for build stage: \"9x\", name can't start with a number or contain symbols"),
        ("FROM a AS x\nFROM b AS X\n", "dockerfile parse error on line 2: Duplicate stage name \"x\", stage names should be unique"),
        ("RUN x\nFROM a\n", "dockerfile parse error on line 1: no build stage in current context"),
        ("FROM a\nONBUILD ONBUILD RUN x\n", "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM a\nONBUILD FROM b\n", "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"),
        ("FROM a\nonbuild maintainer me\n", "dockerfile parse error on line 2: MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("FROM a\nHEALTHCHECK NONE x\n", "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments"),
        ("FROM a\nHEALTHCHECK --interval=1 CMD x\n", "dockerfile parse error on line 2: time: missing unit in duration \"1\""),
        ("FROM a\nHEALTHCHECK --retries=x CMD x\n", "dockerfile parse error on line 2: strconv.ParseInt: parsing \"x\": invalid syntax"),
        ("FROM a\nMAINTAINER --boo joe\n", "dockerfile parse error on line 2: unknown flag: --boo"),
        ("FROM a\nCOPY a <<EOF\nx\nEOF\n", "dockerfile parse error on line 2: COPY cannot accept a heredoc as a destination"),
        ("FROM a\nSHELL /bin/sh -c\n", "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"),
        ("FROM a\nRUN \\\n  --network=bridge x\n", "dockerfile parse error on line 2: invalid network mode \"bridge\""),
        ("FROM a\nENV A=1 =2\n", "dockerfile parse error on line 2: ENV names can not be blank"),
        ("FROM a\nVOLUME []\n", "dockerfile parse error on line 2: VOLUME requires at least one argument"),
        ("ARG A\n", "dockerfile contains no stages to build"),
    ];
    for (src, want) in cases {
        match parse_src(src) {
            Ok(df) => panic!("{src:?} typed: {df:?}"),
            Err(e) => assert_eq!(&e, want, "{src:?}"),
        }
    }
}

/// ONBUILD triggers keep their text as written (BuildKit stores it in the config).
#[test]
fn onbuild_end_to_end() {
    let src = "FROM a\nONBUILD RUN [\"echo\", \"test\"]\nonbuild   RUN echo test\nONBUILD COPY . /\nONBUILD RUN <<EOF\necho hi\nEOF\n";
    let df = parse_src(src).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<&Instruction> = df.stages[0].commands.iter().map(|c| &c.instruction).collect();
    assert_eq!(
        got,
        vec![
            &Instruction::Onbuild("RUN [\"echo\", \"test\"]".into()),
            &Instruction::Onbuild("RUN echo test".into()),
            &Instruction::Onbuild("COPY . /".into()),
            &Instruction::Onbuild("RUN <<EOF\necho hi\nEOF".into()),
        ]
    );
}
