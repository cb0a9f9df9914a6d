//! Writes the `lxcfs(1)` manual page.
//!
//! The NAME, SYNOPSIS, DESCRIPTION and OPTIONS sections come from the same clap definition the
//! daemon parses its command line with ([`lxcfs_host::cli::command`]), so the page cannot drift
//! from the binary. The sections clap knows nothing about (signals, files, examples) are added
//! here. The build (meson) runs this program once and installs its output as `lxcfs.1`.
//!
//! Usage: `lxcfs-mangen [OUTPUT]`: the page goes to OUTPUT, or to standard output without one.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;
use lxcfs_host::cli::{self, DEFAULT_LIBRARY, DEFAULT_RUNTIME_DIR};

/// The conventional mount point, used by the packaged unit and the LXC hooks.
const MOUNTPOINT: &str = "/var/lib/lxcfs";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let output = args.next().map(PathBuf::from);
    if args.next().is_some() {
        eprintln!("usage: lxcfs-mangen [OUTPUT]");
        return ExitCode::from(2);
    }

    let mut page = Vec::new();
    if let Err(err) = render(&mut page) {
        eprintln!("lxcfs-mangen: cannot render the manual page: {err}");
        return ExitCode::FAILURE;
    }

    let written = match &output {
        Some(path) => std::fs::write(path, &page),
        None => std::io::stdout().lock().write_all(&page),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let target =
                output.map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
            eprintln!("lxcfs-mangen: cannot write {target}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Renders the whole page into `w`.
fn render(w: &mut dyn Write) -> std::io::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    // The NAME line wants a short noun phrase, not the usage-style first line of the help.
    let command = cli::command()
        .version(version)
        .about("FUSE filesystem that makes /proc and /sys files container-aware");
    let man = Man::new(command).manual("LXCFS");
    man.render_title(w)?;
    man.render_name_section(w)?;
    synopsis(&cli::command()).to_writer(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    extra_sections().to_writer(w)?;
    man.render_version_section(w)
}

/// SYNOPSIS: every visible option with its value name (`-p|--pidfile FILE`), which
/// clap_mangen's own synopsis leaves out, then the positional arguments.
fn synopsis(cmd: &clap::Command) -> Roff {
    let mut roff = Roff::new();
    section(&mut roff, "SYNOPSIS");
    let mut line: Vec<Inline> = vec![bold(cmd.get_name())];
    let visible = cmd.get_arguments().filter(|a| !a.is_hide_set());
    let (positional, options): (Vec<_>, Vec<_>) = visible.partition(|a| a.is_positional());
    for arg in options.into_iter().chain(positional) {
        let value = arg.get_action().takes_values().then(|| {
            arg.get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| arg.get_id().as_str().to_uppercase(), |v| v.to_string())
        });
        line.push(roman(" ["));
        if arg.is_positional() {
            line.push(italic(value.unwrap_or_default()));
        } else {
            let names: Vec<String> = arg
                .get_short()
                .map(|c| format!("-{c}"))
                .into_iter()
                .chain(arg.get_long().map(|l| format!("--{l}")))
                .collect();
            for (i, n) in names.into_iter().enumerate() {
                if i > 0 {
                    line.push(roman("|"));
                }
                line.push(bold(n));
            }
            if let Some(v) = value {
                line.push(roman(" "));
                line.push(italic(v));
            }
        }
        line.push(roman("]"));
    }
    roff.text(line);
    roff
}

/// Adds `.SH name` to `roff`.
fn section(roff: &mut Roff, name: &str) {
    roff.control("SH", [name]);
}

/// Adds a tagged paragraph: `tag` on its own line, `body` indented below it.
fn item(roff: &mut Roff, tag: impl Into<Vec<Inline>>, body: &str) {
    roff.control("TP", []);
    roff.text(tag);
    roff.text([roman(body)]);
}

/// Adds a literal, unfilled block (a command line in EXAMPLES).
fn example(roff: &mut Roff, lines: &[&str]) {
    roff.control("PP", []);
    roff.control("RS", ["4"]);
    roff.control("nf", []);
    for line in lines {
        roff.text([roman(*line)]);
    }
    roff.control("fi", []);
    roff.control("RE", []);
}

/// Adds a plain paragraph.
fn paragraph(roff: &mut Roff, text: impl Into<Vec<Inline>>) {
    roff.control("PP", []);
    roff.text(text);
}

/// SIGNALS, FILES, ENVIRONMENT, EXAMPLES and SEE ALSO.
fn extra_sections() -> Roff {
    let mut roff = Roff::new();

    section(&mut roff, "SIGNALS");
    item(
        &mut roff,
        [bold("SIGUSR1")],
        "Load the library again from disk (normally after a package upgrade replaced it). \
         The mount stays in place, so containers keep their bind mounts.",
    );
    item(
        &mut roff,
        [bold("SIGUSR2")],
        "Toggle virtualization: while it is off, the proc files show the host's values.",
    );
    item(
        &mut roff,
        [bold("SIGTERM"), roman(", "), bold("SIGINT")],
        "Unmount the filesystem, remove the pid file and exit.",
    );

    section(&mut roff, "FILES");
    item(
        &mut roff,
        [italic(MOUNTPOINT)],
        "The usual mount point; container managers bind-mount files from below it.",
    );
    item(
        &mut roff,
        [italic(DEFAULT_LIBRARY)],
        "The library holding the file implementations, loaded at start and on SIGUSR1 \
         unless --library names another one.",
    );
    let pidfile = format!("{DEFAULT_RUNTIME_DIR}/lxcfs.pid");
    item(
        &mut roff,
        [italic(pidfile.as_str())],
        "The default pid file. It is locked while lxcfs runs, so a second instance using \
         the same file refuses to start.",
    );

    section(&mut roff, "ENVIRONMENT");
    item(
        &mut roff,
        [bold("RUST_LOG")],
        "Log filter in tracing-subscriber syntax (for example debug, or lxcfs=trace). Logs go \
         to standard error.",
    );

    section(&mut roff, "EXAMPLES");
    paragraph(&mut roff, [roman("Mount at the usual place:")]);
    example(
        &mut roff,
        &[
            &format!("mkdir -p {MOUNTPOINT}"),
            &format!("lxcfs {MOUNTPOINT}"),
        ],
    );
    paragraph(
        &mut roff,
        [roman(
            "Give a Docker container its own memory and uptime view:",
        )],
    );
    example(
        &mut roff,
        &[
            "docker run -m 256m \\",
            &format!("  -v {MOUNTPOINT}/proc/meminfo:/proc/meminfo:rw \\"),
            &format!("  -v {MOUNTPOINT}/proc/uptime:/proc/uptime:rw \\"),
            "  debian:12 free -m",
        ],
    );
    paragraph(
        &mut roff,
        [roman(
            "Switch to a newly installed library without unmounting:",
        )],
    );
    example(
        &mut roff,
        &["systemctl reload lxcfs", "kill -USR1 $(pidof lxcfs)"],
    );

    section(&mut roff, "SEE ALSO");
    roff.text([
        bold("lxc.container.conf"),
        roman("(5), "),
        bold("mount.fuse3"),
        roman("(8), "),
        bold("systemctl"),
        roman("(1), "),
        bold("proc"),
        roman("(5)"),
    ]);
    roff
}
