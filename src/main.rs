//! The `switchyard` binary: parses flags, builds the runtime, wires the control store, IPAM,
//! proxy and DNS crates together, waits for a signal and drains. No logic of its own lives here.

mod cli;
mod cmd;
mod logging;
mod run;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => run::run(*args).await,
        Command::Demo(args) => run::demo(*args).await,
        Command::Apply(args) => cmd::apply::run(args).await,
        Command::Get(args) => cmd::get::run(args).await,
        Command::Delete(args) => cmd::delete::run(args).await,
        Command::Dns(args) => run::dns_only(args).await,
        Command::Proxy(args) => run::proxy_only(args).await,
        Command::Agent(args) => run::agent_only(args).await,
        Command::Cleanup(args) => run::cleanup(args).await,
        Command::Kubeconfig(args) => cmd::kubeconfig::run(args),
    }
}
