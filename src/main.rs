//! The `autosvar` binary: parse arguments, set up logging, run the command, and turn the
//! result into an exit code (0 ok, 1 `check` found problems, 2 error, 78 a configuration
//! or trust problem: see [`autosvar::cli::exit_code_for`]).

use clap::Parser;

fn main() {
    let args = autosvar::cli::Args::parse();
    autosvar::cli::init_tracing(&args);
    autosvar::pipeline::install_panic_hook();
    let code = match autosvar::cli::run(args) {
        Ok(code) => code,
        // `autosvar eval … | head`: the reader left; that is not an error.
        Err(err)
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            0
        }
        Err(err) => {
            eprintln!(
                "{}",
                autosvar::log::stderr_line("ERROR", &format!("{err:#}"))
            );
            autosvar::cli::exit_code_for(&err)
        }
    };
    std::process::exit(code);
}
