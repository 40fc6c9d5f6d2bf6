//! The parsed Dockerfile, before typing: what BuildKit's `parser.Parse` returns.
//! The parser fills it; the instruction layer and the conformance dump read it.

/// Parser directives from the top of the file (`# syntax=`, `# escape=`, `# check=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub syntax: Option<String>,
    /// The escape character: `\` unless `# escape=` says "`".
    pub escape: char,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { syntax: None, escape: '\\', check: None }
    }
}

/// A heredoc attached to an instruction (`RUN <<EOF`, `COPY <<a.txt /dst`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word as written, without quotes (`EOF`).
    pub name: String,
    /// The body, with `<<-` tab stripping applied, ending with a newline.
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`): no expansion of the body.
    pub expand: bool,
    /// True for `<<-`.
    pub chomp: bool,
    /// The file descriptor a RUN heredoc is redirected to (0 unless `3<<EOF`).
    pub file_descriptor: u32,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction keyword, lower case (`from`, `run`, `copy`, ...).
    pub keyword: String,
    /// The whole instruction as written (continuations joined), for error messages
    /// and history (`created_by`).
    pub original: String,
    /// `--flags` as written, e.g. `["--from=builder", "--chown=1:1"]`.
    pub flags: Vec<String>,
    /// Arguments as BuildKit's parser splits them for this keyword (see the
    /// conformance dump format): one per JSON element in exec form; the whole rest of
    /// the line in shell form; key/value pairs flattened for ENV/LABEL/ARG.
    pub args: Vec<String>,
    /// True for JSON (exec) form.
    pub json: bool,
    /// ONBUILD's nested instruction.
    pub nested: Option<Box<Node>>,
    pub heredocs: Vec<Heredoc>,
    /// 1-based lines of the instruction's first and last source line.
    pub start_line: usize,
    pub end_line: usize,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ast {
    pub directives: Directives,
    pub children: Vec<Node>,
    /// Non-fatal findings BuildKit prints as warnings (e.g. empty continuation lines).
    pub warnings: Vec<String>,
}

/// A syntax error, naming the line like BuildKit (`dockerfile parse error on line 3: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}
