//! local-api's log lines: byte for byte the lines `stratus_core::telemetry` writes (the
//! tests below compare them), written without what tracing-subscriber's JSON formatter does
//! on every event: parse the current span's fields back out of their JSON text, and push the
//! line through a `fmt::Write` adaptor that checks each small piece for UTF-8. One line per
//! request is most of what the default log level costs local-api under load.

use std::cell::RefCell;
use std::fmt;
use std::io::Write as _;

use stratus_core::telemetry::tracing_subscriber::EnvFilter;
use stratus_core::telemetry::tracing_subscriber::fmt::format::{JsonFields, Writer};
use stratus_core::telemetry::tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use stratus_core::telemetry::tracing_subscriber::fmt::{
    FmtContext, FormatEvent, FormattedFields, MakeWriter,
};
use stratus_core::telemetry::tracing_subscriber::registry::LookupSpan;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};

/// `stratus_core::telemetry::init`, with the lines written by `JsonLines`.
pub fn init() {
    init_with(stratus_core::telemetry::default_filter(), std::io::stdout);
}

pub fn init_with<W>(filter: EnvFilter, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = stratus_core::telemetry::builder(filter, writer).event_format(JsonLines).try_init();
}

/// The event formatter of `stratus_core::telemetry`'s format (tracing-subscriber's JSON,
/// flattened, with the current span and neither target nor span list): `timestamp`, `level`,
/// the event's fields, then `span` with the span's fields and its `name`.
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        thread_local! {
            static LINE: RefCell<(Vec<u8>, String)> = const { RefCell::new((Vec::new(), String::new())) };
        }
        LINE.with(|buffers| {
            let Ok(mut buffers) = buffers.try_borrow_mut() else {
                // A field's Debug that logs: format this line with buffers of its own.
                return format_line(ctx, &mut writer, event, &mut Vec::new(), &mut String::new());
            };
            let (line, timestamp) = &mut *buffers;
            let written = format_line(ctx, &mut writer, event, line, timestamp);
            line.clear();
            timestamp.clear();
            if line.capacity() > 64 * 1024 {
                line.shrink_to(1024);
            }
            written
        })
    }
}

fn format_line<S>(
    ctx: &FmtContext<'_, S, JsonFields>,
    writer: &mut Writer<'_>,
    event: &Event<'_>,
    line: &mut Vec<u8>,
    timestamp: &mut String,
) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    SystemTime.format_time(&mut Writer::new(timestamp))?;
    let meta = event.metadata();
    line.extend_from_slice(b"{\"timestamp\":");
    json_string(line, timestamp)?;
    line.extend_from_slice(b",\"level\":");
    json_string(line, meta.level().as_str())?;

    let mut fields = Fields { line, failed: false };
    event.record(&mut fields);
    if fields.failed {
        return Err(fmt::Error);
    }

    let span = event.parent().and_then(|id| ctx.span(id)).or_else(|| ctx.lookup_current());
    if let Some(span) = span {
        let extensions = span.extensions();
        let stored = extensions
            .get::<FormattedFields<JsonFields>>()
            .expect("Unable to find FormattedFields in extensions; this is a bug");
        line.extend_from_slice(b",\"span\":");
        // JsonFields wrote the span's fields as one JSON object, sorted by name, which is
        // what tracing-subscriber's formatter writes again after parsing it: copy it, and
        // add the name as the last member.
        match stored.strip_prefix('{').and_then(|inner| inner.strip_suffix('}')) {
            Some(inner) => {
                line.push(b'{');
                line.extend_from_slice(inner.as_bytes());
                if !inner.is_empty() {
                    line.push(b',');
                }
            }
            None => return Err(fmt::Error),
        }
        line.extend_from_slice(b"\"name\":");
        json_string(line, span.metadata().name())?;
        line.push(b'}');
    }
    line.extend_from_slice(b"}\n");
    writer.write_str(std::str::from_utf8(line).map_err(|_| fmt::Error)?)
}

fn json_string(line: &mut Vec<u8>, text: &str) -> fmt::Result {
    serde_json::to_writer(line, text).map_err(|_| fmt::Error)
}

/// An event's fields as members of the line's object, as tracing-serde's map visitor writes
/// them: numbers and booleans as JSON, strings escaped, anything else by its `Debug` text.
struct Fields<'a> {
    line: &'a mut Vec<u8>,
    failed: bool,
}

impl Fields<'_> {
    fn member(&mut self, field: &Field, value: &impl serde::Serialize) {
        if self.failed {
            return;
        }
        self.line.push(b',');
        let written = serde_json::to_writer(&mut *self.line, field.name())
            .and_then(|()| self.line.write_all(b":").map_err(serde_json::Error::io))
            .and_then(|()| serde_json::to_writer(&mut *self.line, value));
        self.failed = written.is_err();
    }
}

impl Visit for Fields<'_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, &format_args!("{value:?}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, &value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, &value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[derive(Debug)]
    struct Refused;

    impl fmt::Display for Refused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("refused: \"quoted\"\n")
        }
    }

    impl std::error::Error for Refused {}

    /// Every kind of field and span the format meets, at every level.
    fn emit() {
        tracing::info!("outside any span");
        tracing::warn!(count = 3u64, delta = -7i64, ratio = 0.25f64, whole = 2.0f64, on = true, "numbers");
        tracing::error!(nan = f64::NAN, inf = f64::INFINITY, big = u128::MAX, small = i128::MIN, "edges");
        let text = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} é 🦀 \u{2028}";
        tracing::info!(text, shown = %text, debugged = ?text, "escapes: \"{}\"", 42);
        let error: &(dyn std::error::Error + 'static) = &Refused;
        tracing::error!(error, "an error value");
        tracing::info!(r#type = "raw identifier", "r#");
        tracing::info!(route = "GET /health", status = 200u16, duration_us = 17u64);
        let request = tracing::info_span!("request", request_id = "c23cdbf2-71e6-41c5-0000-000000000000");
        request.in_scope(|| {
            tracing::info!(route = "GET /health", status = 200, duration_us = 17u64, "request handled");
            tracing::debug!(user = ?Some("ada"), "a debug line");
            let inner = tracing::info_span!("inner", b = 2, a = "first", c = tracing::field::Empty);
            inner.in_scope(|| tracing::info!("in the inner span, before its record"));
            inner.record("c", 1.5);
            inner.in_scope(|| tracing::info!("in the inner span, after its record"));
        });
        let empty = tracing::info_span!("no fields");
        empty.in_scope(|| tracing::info!("in a span without fields"));
        let quoted = tracing::info_span!("span \"quoted\"", note = "x\ny");
        tracing::info!(parent: &quoted, "an explicit parent");
        tracing::info!(parent: None, "no parent at all");
        tracing::info!(message = "a message field", extra = 1);
        tracing::info!(empty = tracing::field::Empty, "an empty field");
        tracing::info!(text = "x".repeat(70_000), "a long line");
        tracing::info!("the buffers were cleared after the long line");
    }

    fn lines(make: impl FnOnce(Capture) -> Box<dyn Subscriber + Send + Sync>) -> Vec<String> {
        let capture = Capture::default();
        tracing::subscriber::with_default(make(capture.clone()), emit);
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    /// A line without its timestamp's value, which differs between two runs.
    fn untimed(line: &str) -> String {
        let start = line.find("\"timestamp\":\"").expect("a timestamp") + 13;
        let end = start + line[start..].find('"').unwrap();
        format!("{}…{}", &line[..start], &line[end..])
    }

    #[test]
    fn lines_are_those_of_the_shared_format() {
        let filter = || EnvFilter::new("debug");
        let reference =
            lines(|w| Box::new(stratus_core::telemetry::builder(filter(), move || w.clone()).finish()));
        let ours = lines(|w| {
            let builder = stratus_core::telemetry::builder(filter(), move || w.clone());
            Box::new(builder.event_format(JsonLines).finish())
        });
        assert_eq!(reference.len(), 18, "{reference:#?}");
        assert_eq!(ours.len(), reference.len());
        for (ours, reference) in ours.iter().zip(&reference) {
            assert_eq!(untimed(ours), untimed(reference));
            serde_json::from_str::<serde_json::Value>(ours).expect("each line is JSON");
        }
        let handled = ours.iter().find(|l| l.contains("request handled")).unwrap();
        assert_eq!(
            untimed(handled),
            r#"{"timestamp":"…","level":"INFO","message":"request handled","route":"GET /health","status":200,"duration_us":17,"span":{"request_id":"c23cdbf2-71e6-41c5-0000-000000000000","name":"request"}}"#
        );
        for span in [
            r#""span":{"a":"first","b":2,"name":"inner"}}"#,
            r#""span":{"a":"first","b":2,"c":1.5,"name":"inner"}}"#,
            r#""span":{"name":"no fields"}}"#,
            r#""span":{"note":"x\ny","name":"span \"quoted\""}}"#,
        ] {
            assert!(ours.iter().any(|l| l.ends_with(span)), "no line ends with {span}");
        }
        let timestamp = &ours[0][14..41];
        assert!(
            timestamp.len() == 27 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
            "{timestamp}"
        );
    }

    /// The comparison sees a difference in any member of a line.
    #[test]
    fn the_comparison_can_fail() {
        let line = r#"{"timestamp":"2026-12-05T23:13:45.895403Z","level":"INFO","message":"request handled","span":{"request_id":"x","name":"request"}}"#;
        let other = r#"{"timestamp":"2026-12-05T23:13:45.000000Z","level":"INFO","message":"request handled","span":{"request_id":"y","name":"request"}}"#;
        assert_ne!(untimed(line), untimed(other));
        assert_eq!(untimed(line), untimed(&line.replace("895403", "000001")));
    }
}
