//! JSON logs, one object per line, carrying the request id of the span they were written in.
//! Lambda's JSON log format passes them through to CloudWatch as they are.

/// The crate the format is built on, for a process that writes the same lines its own way
/// (local-api; the formatter has to name its types).
pub use tracing_subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::SubscriberBuilder;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields};

pub fn init() {
    init_with(default_filter(), std::io::stdout);
}

/// Lambda's `LoggingConfig.ApplicationLogLevel` arrives as AWS_LAMBDA_LOG_LEVEL; RUST_LOG,
/// when set, is more precise and wins. `info` otherwise.
pub fn default_filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| {
            EnvFilter::try_new(
                std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "info".into()).to_lowercase(),
            )
        })
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The same format into any writer: tests capture logs with it to check what they hold.
pub fn init_with<W>(filter: EnvFilter, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = builder(filter, writer).try_init();
}

/// The subscriber `init_with` installs, not yet installed: a process may swap in an event
/// formatter that writes the very same lines (`event_format`), or scope it to a test.
pub fn builder<W>(filter: EnvFilter, writer: W) -> SubscriberBuilder<JsonFields, Format<Json>, EnvFilter, W>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer)
}
