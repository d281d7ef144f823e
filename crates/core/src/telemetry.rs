//! JSON logs, one object per line, carrying the request id of the span they were written in.
//! Lambda's JSON log format passes them through to CloudWatch as they are.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

pub fn init() {
    // Lambda's `LoggingConfig.ApplicationLogLevel` arrives as AWS_LAMBDA_LOG_LEVEL; RUST_LOG,
    // when set, is more precise and wins.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            EnvFilter::try_new(
                std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "info".into()).to_lowercase(),
            )
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    init_with(filter, std::io::stdout);
}

/// The same format into any writer: tests capture logs with it to check what they hold.
pub fn init_with<W>(filter: EnvFilter, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
}
