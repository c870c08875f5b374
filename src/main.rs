//! The `sesame` binary: parse the command line and run it.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = sesame::cli::Cli::parse();
    std::process::exit(sesame::cli::run(cli).await);
}
