//! Docker's `--format` front door: picks table, JSON-lines or raw template output the way
//! docker's formatter does, and lays tables out with docker's tabwriter settings.

use std::io::Write as _;

use serde_json::Value;
use tabwriter::TabWriter;

use super::template::{ExecOptions, Template, TemplateError};

/// Why output could not be produced; the text matches docker's ("template parsing error: ...",
/// which docker uses for execution errors too).
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("template parsing error: {0}")]
    Template(#[from] TemplateError),
    #[error("writing table: {0}")]
    Io(#[from] std::io::Error),
}

/// The three output shapes docker distinguishes in a `--format` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns with a header row; holds the row template (without the `table` word).
    Table(String),
    /// One rendered template per row, each followed by a newline.
    Raw(String),
    /// One JSON object per row (docker 24+: `--format json` means `{{json .}}`).
    Json,
}

/// Docker's preprocessing of user templates: trims spaces and turns the two-character escapes
/// `\t` and `\n` (as typed on a shell command line) into real tabs and newlines.
fn clean(template: &str) -> String {
    let t = template.trim_matches(' ');
    let mut out = String::with_capacity(t.len());
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('t') => {
                    chars.next();
                    out.push('\t');
                    continue;
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

impl Format {
    /// Interprets a `--format` value as docker does. `default_table` is the command's default
    /// table (docker's constants, e.g. `"table {{.Repository}}\t{{.Tag}}"`; the leading `table`
    /// is optional), used for an empty value and for `table` alone. A value that merely starts
    /// with `table` is a table, as in docker.
    pub fn parse(format: &str, default_table: &str) -> Format {
        if format.is_empty() || format == "table" {
            let row = default_table.strip_prefix("table").unwrap_or(default_table);
            return Format::Table(clean(row));
        }
        if format == "json" {
            return Format::Json;
        }
        match format.strip_prefix("table") {
            Some(row) => Format::Table(clean(row)),
            None => Format::Raw(clean(format)),
        }
    }

    /// Whether docker would print a header and align columns.
    pub fn is_table(&self) -> bool {
        matches!(self, Format::Table(_))
    }
}

/// Renders rows as docker's formatter does. `headers` maps field names to column titles
/// (docker's `SubHeaderContext`, e.g. `{"ID": "IMAGE ID"}`); the header row is the row template
/// executed over it, so custom `table` formats get the right titles for free.
pub fn render(format: &Format, rows: &[Value], headers: &Value) -> Result<String, FormatError> {
    let row_opts = ExecOptions { header: false, row_context: true };
    match format {
        Format::Json => {
            let t = Template::parse("{{json .}}")?;
            let mut out = String::new();
            for row in rows {
                out.push_str(&t.execute_with(row, row_opts)?);
                out.push('\n');
            }
            Ok(out)
        }
        Format::Raw(src) => {
            let t = Template::parse(src)?;
            let mut out = String::new();
            for row in rows {
                out.push_str(&t.execute_with(row, row_opts)?);
                out.push('\n');
            }
            Ok(out)
        }
        Format::Table(src) => {
            let t = Template::parse(src)?;
            // Rows first: a failing row aborts before anything is printed, as in docker.
            let mut body = String::new();
            for row in rows {
                body.push_str(&t.execute_with(row, row_opts)?);
                body.push('\n');
            }
            // Docker ignores header errors and keeps whatever the header printed.
            let (header, _) = t.execute_partial(headers, ExecOptions { header: true, row_context: false });
            Ok(tabulate(&(header + "\n" + &body))?)
        }
    }
}

/// Go's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)` as docker configures it. The Rust crate
/// pads cells to `max(minwidth, width) + padding` where Go uses `max(minwidth, width + padding)`,
/// so Go's minimum width 10 with padding 3 is the crate's minimum width 7.
pub fn tabulate(text: &str) -> Result<String, std::io::Error> {
    let mut tw = TabWriter::new(Vec::new()).minwidth(7).padding(3);
    tw.write_all(text.as_bytes())?;
    tw.flush()?;
    let bytes = tw.into_inner().map_err(|e| std::io::Error::other(e.error().to_string()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::template::object;
    use serde_json::json;

    const IMAGES_TABLE: &str =
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";

    fn image_headers() -> Value {
        object([
            ("ID", json!("IMAGE ID")),
            ("Repository", json!("REPOSITORY")),
            ("Tag", json!("TAG")),
            ("Digest", json!("DIGEST")),
            ("CreatedSince", json!("CREATED")),
            ("CreatedAt", json!("CREATED AT")),
            ("Size", json!("SIZE")),
            ("Containers", json!("CONTAINERS")),
        ])
    }

    fn image(repo: &str, tag: &str, id: &str, created: &str, size: &str) -> Value {
        json!({"Containers": "N/A", "CreatedAt": "2017-01-01 00:00:00 +0000 UTC", "CreatedSince": created,
               "Digest": "<none>", "ID": id, "Repository": repo, "Size": size, "Tag": tag})
    }

    #[test]
    fn parses_format_values_like_docker() {
        let cases: &[(&str, Format)] = &[
            ("", Format::Table("{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}".into())),
            ("table", Format::Table("{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}".into())),
            ("table {{.ID}}\\t{{.Tag}}", Format::Table("{{.ID}}\t{{.Tag}}".into())),
            ("table{{.ID}}", Format::Table("{{.ID}}".into())),
            ("json", Format::Json),
            ("{{json .}}", Format::Raw("{{json .}}".into())),
            ("  {{.ID}}\\n{{.Tag}}  ", Format::Raw("{{.ID}}\n{{.Tag}}".into())),
            ("{{.ID}}\\\\t", Format::Raw("{{.ID}}\\\t".into())),
            ("JSON", Format::Raw("JSON".into())),
        ];
        for (input, want) in cases {
            assert_eq!(&Format::parse(input, IMAGES_TABLE), want, "--format {input:?}");
        }
        assert_eq!(Format::parse("", "{{.ID}}"), Format::Table("{{.ID}}".into()));
    }

    #[test]
    fn renders_docker_images_table() {
        // The example output of `docker images` in docker's reference documentation.
        let rows = vec![
            image("<none>", "<none>", "77af4d6b9913", "19 hours ago", "1.089GB"),
            image("committ", "latest", "b6fa739cedf5", "19 hours ago", "1.089GB"),
            image("<none>", "<none>", "78a85c484f71", "19 hours ago", "1.089GB"),
            image("docker", "latest", "30557a29d5ab", "20 hours ago", "1.089GB"),
            image("<none>", "<none>", "5ed6274db6ce", "24 hours ago", "1.089GB"),
            image("postgres", "9", "746b819f315e", "4 days ago", "213.4MB"),
            image("postgres", "9.3", "746b819f315e", "4 days ago", "213.4MB"),
            image("postgres", "9.3.5", "746b819f315e", "4 days ago", "213.4MB"),
            image("postgres", "latest", "746b819f315e", "4 days ago", "213.4MB"),
        ];
        let want = "\
REPOSITORY   TAG       IMAGE ID       CREATED        SIZE
<none>       <none>    77af4d6b9913   19 hours ago   1.089GB
committ      latest    b6fa739cedf5   19 hours ago   1.089GB
<none>       <none>    78a85c484f71   19 hours ago   1.089GB
docker       latest    30557a29d5ab   20 hours ago   1.089GB
<none>       <none>    5ed6274db6ce   24 hours ago   1.089GB
postgres     9         746b819f315e   4 days ago     213.4MB
postgres     9.3       746b819f315e   4 days ago     213.4MB
postgres     9.3.5     746b819f315e   4 days ago     213.4MB
postgres     latest    746b819f315e   4 days ago     213.4MB
";
        let out = render(&Format::parse("", IMAGES_TABLE), &rows, &image_headers());
        assert_eq!(out.map_err(|e| e.to_string()), Ok(want.to_string()));
    }

    #[test]
    fn custom_table_and_raw_formats() {
        let rows = vec![image("busybox", "latest", "e7d168d7db45", "2 weeks ago", "4.26MB")];
        let h = image_headers();
        let out = render(&Format::parse("table {{.ID}}\\t{{.Repository}}", IMAGES_TABLE), &rows, &h);
        assert_eq!(out.ok().as_deref(), Some("IMAGE ID       REPOSITORY\ne7d168d7db45   busybox\n"));
        let out = render(&Format::parse("{{.ID}}: {{.Size}}", IMAGES_TABLE), &rows, &h);
        assert_eq!(out.ok().as_deref(), Some("e7d168d7db45: 4.26MB\n"));
        // Header-only table when there are no rows.
        let out = render(&Format::parse("", IMAGES_TABLE), &[], &h);
        assert_eq!(out.ok().as_deref(), Some("REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"));
        // Unknown header fields print Go's <no value>, like docker's header map.
        let out = render(&Format::parse("table {{.ID}}\\t{{.Nope}}", IMAGES_TABLE), &rows, &h);
        assert_eq!(out.ok().as_deref(), Some("IMAGE ID       <no value>\ne7d168d7db45   <no value>\n"));
        // Header functions are the identity, pad is not.
        let out = render(&Format::parse("table {{lower .Repository}}|{{pad .Tag 1 1}}", IMAGES_TABLE), &rows, &h);
        assert_eq!(out.ok().as_deref(), Some("REPOSITORY| TAG \nbusybox| latest \n"));
    }

    #[test]
    fn table_layout_matches_docker_context_ls() {
        // Recorded from `docker context ls` (docker 28) with these contexts.
        let headers = object([
            ("Name", json!("NAME")),
            ("Description", json!("DESCRIPTION")),
            ("DockerEndpoint", json!("DOCKER ENDPOINT")),
            ("Error", json!("ERROR")),
        ]);
        let ctx = |n: &str, d: &str, e: &str| json!({"Name": n, "Description": d, "DockerEndpoint": e, "Error": ""});
        let rows = vec![
            ctx("default *", "Current DOCKER_HOST based configuration", "unix:///var/run/docker.sock"),
            ctx("foo", "a <b> & c", "unix:///tmp/x.sock"),
            ctx("longer-name-here", "", "unix:///a"),
            ctx("uni", "héllo 日本語", "unix:///u"),
        ];
        let f = Format::parse("table {{.Name}}\\t{{.Description}}\\t{{.DockerEndpoint}}\\t{{.Error}}", "");
        let want = "\
NAME               DESCRIPTION                               DOCKER ENDPOINT               ERROR
default *          Current DOCKER_HOST based configuration   unix:///var/run/docker.sock   
foo                a <b> & c                                 unix:///tmp/x.sock            
longer-name-here                                             unix:///a                     
uni                héllo 日本語                              unix:///u                     
";
        assert_eq!(render(&f, &rows, &headers).map_err(|e| e.to_string()), Ok(want.to_string()));
    }

    #[test]
    fn json_lines_are_sorted_and_html_escaped_like_docker() {
        let rows = vec![json!({"Name": "foo", "Description": "a <b> & c", "Current": false, "Error": ""})];
        let out = render(&Format::Json, &rows, &json!({}));
        assert_eq!(
            out.ok().as_deref(),
            Some(
                "{\"Current\":false,\"Description\":\"a \\u003cb\\u003e \\u0026 c\",\"Error\":\"\",\"Name\":\"foo\"}\n"
            )
        );
    }

    #[test]
    fn errors_carry_dockers_prefix() {
        let rows = vec![json!({"S": "x"})];
        let e = render(&Format::parse("{{.S.T}}", ""), &rows, &json!({}));
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("template parsing error: template: :1:4: executing \"\" at <.S.T>: can't evaluate field T in type string"
                .to_string())
        );
        let e = render(&Format::parse("table {{foo}}", ""), &rows, &json!({}));
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("template parsing error: template: :1: function \"foo\" not defined".to_string())
        );
    }
}
