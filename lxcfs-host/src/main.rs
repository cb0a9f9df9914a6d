//! `lxcfs [options] <mountpoint>`: see `lxcfs --help` and lxcfs(1).

use std::process::ExitCode;

use clap::Parser;
use lxcfs_host::cli::{command, Cli};
use lxcfs_host::daemon;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help prints and exits 0; every usage error exits 1, as upstream lxcfs does.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if cli.version {
        println!("lxcfs {}", env!("CARGO_PKG_VERSION"));
        match daemon::find_library(cli.library.as_deref())
            .map_err(|e| e.to_string())
            .and_then(|p| daemon::library_info(&p).map_err(|e| e.to_string()))
        {
            Ok(info) => {
                println!(
                    "liblxcfs {} (build {}) {}",
                    info.version,
                    info.build_id,
                    info.path.display()
                );
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                println!("liblxcfs: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let debug = cli.debug;
    let cfg = match cli.into_config() {
        Ok(c) => c,
        Err(e) => {
            // As clap's own usage errors: the error, the usage line, a pointer to --help.
            let usage = command().render_usage();
            eprintln!("lxcfs: {e}\n\n{usage}\n\nFor more information, try '--help'.");
            return ExitCode::FAILURE;
        }
    };
    let level = lxcfs_host::logging::init(debug);
    match daemon::run(cfg, level) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Logged once, to stderr (the journal under systemd).
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
