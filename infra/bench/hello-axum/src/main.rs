//! `hello-axum [--port N]`: answers every GET with a short text body and nothing else: no
//! routing table to speak of, no logging, no JSON. `make bench` loads it with the same wrk
//! settings as local-api, so local-api's figures read as a multiple of what axum, tokio and
//! hyper cost on this machine.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut port = 3000u16;
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--port", Some(value)) => port = value.parse().expect("--port takes a port number"),
            _ => {
                eprintln!("usage: hello-axum [--port N]");
                std::process::exit(2);
            }
        }
    }
    let app = Router::new().fallback(get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the port is free");
    axum::serve(listener, app).await.expect("the server runs");
}
