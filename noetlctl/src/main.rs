use clap::Parser;

#[derive(Parser)]
#[command(name = "noetl", version, about = "NoETL command-line tool")]
struct Cli {
    #[arg(long, default_value = "https://localhost:8082")]
    server_url: String,
}

fn main() {
    let cli = Cli::parse();
    let client = reqwest::blocking::Client::builder().build().expect("client");
    let _ = (client, cli.server_url);
}
