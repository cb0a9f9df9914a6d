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
            let mut cmd = command();
            eprintln!("lxcfs: {e}\n");
            let _ = cmd.print_help();
            return ExitCode::FAILURE;
        }
    };
    let level = lxcfs_host::logging::init(debug);
    match daemon::run(cfg, level) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("lxcfs: {e}");
            ExitCode::FAILURE
        }
    }
}
