//! `make soak` (not part of CI): the release binaries under the Runtime API emulator, several
//! sandboxes per function, on DynamoDB Local and moto, held at a fixed request rate for a bounded
//! time with a realistic mix (register, login, refresh, me, messages written and read, add and
//! result), while the worker takes the queue. It ends with a table: requests by status, p50 and
//! p99 per one-minute bucket, each sandbox's RSS after warm-up and at the end, tasks accepted
//! versus completed, messages written versus readable; and fails (exit 1) on any unexpected
//! status, an RSS that grew more than 10% after warm-up, or a task or message unaccounted for.
//!
//! `target/release/examples/soak [--minutes 10] [--rate 20] [--sandboxes 3] [--out docs/soak.md]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stratus_tests::runtime_api::{Function, Gateway, LocalStack, decode_response, request};
use stratus_tests::{PASSWORD, registration};
use tokio::sync::Mutex;

const UNLIMITED: &str = "1000000";
/// The functions the mix calls; the worker runs through the gateway's event source mapping.
const FUNCTIONS: [&str; 8] =
    ["register", "login", "refresh-token", "me", "create-message", "get-message", "add", "result"];

struct Options {
    minutes: u64,
    rate: u64,
    sandboxes: usize,
    out: std::path::PathBuf,
}

fn options() -> Options {
    let mut options =
        Options { minutes: 10, rate: 20, sandboxes: 3, out: std::path::PathBuf::from("docs/soak.md") };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--minutes" => options.minutes = value.parse().expect("--minutes takes a count"),
            "--rate" => options.rate = value.parse().expect("--rate takes requests per second"),
            "--sandboxes" => options.sandboxes = value.parse().expect("--sandboxes takes a count"),
            "--out" => options.out = value.into(),
            other => panic!("unknown flag {other}"),
        }
    }
    options
}

/// Several warm sandboxes of each function; a request takes a free one, as Lambda routes to an
/// idle sandbox, or waits for the one it drew.
struct Pool {
    gateway: Gateway,
    sandboxes: BTreeMap<&'static str, Vec<Mutex<Function>>>,
    next: std::sync::atomic::AtomicUsize,
}

impl Pool {
    async fn send(&self, request: http::Request<Vec<u8>>) -> u16 {
        let (function, event) = self.gateway.routed(request, true);
        let sandboxes = &self.sandboxes[function];
        let mut sandbox = match sandboxes.iter().find_map(|s| s.try_lock().ok()) {
            Some(free) => free,
            None => {
                let drawn = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % sandboxes.len();
                sandboxes[drawn].lock().await
            }
        };
        match sandbox.invoke(&event).await {
            Ok(response) => decode_response(&response).map_or(0, |reply| reply.status),
            Err(error) => {
                eprintln!("{function}: {error}");
                0
            }
        }
    }

    async fn send_json(&self, request: http::Request<Vec<u8>>) -> (u16, Value) {
        let (function, event) = self.gateway.routed(request, true);
        let sandbox = &self.sandboxes[function][0];
        let response = sandbox.lock().await.invoke(&event).await;
        match response.ok().and_then(|r| decode_response(&r).ok()) {
            Some(reply) => (reply.status, serde_json::from_slice(&reply.body).unwrap_or(Value::Null)),
            None => (0, Value::Null),
        }
    }

    async fn rss(&self) -> BTreeMap<String, u64> {
        let mut rss = BTreeMap::new();
        for (function, sandboxes) in &self.sandboxes {
            for (i, sandbox) in sandboxes.iter().enumerate() {
                let pid = sandbox.lock().await.pid();
                rss.insert(format!("{function}#{i}"), current_rss(pid).unwrap_or(0));
            }
        }
        rss
    }
}

/// `VmRSS` in bytes.
fn current_rss(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse::<u64>().ok()? * 1024)
}

#[derive(Clone)]
struct User {
    name: String,
    access: String,
    refresh: String,
}

#[derive(Default)]
struct Record {
    /// (kind, status) → count.
    statuses: BTreeMap<(String, u16), u64>,
    unexpected: u64,
    /// Per minute: latencies in microseconds.
    latencies: BTreeMap<u64, Vec<u64>>,
    tasks: Vec<(String, String)>,
    messages: Vec<(String, String)>,
}

struct Shared {
    pool: Pool,
    users: Mutex<Vec<User>>,
    record: Mutex<Record>,
    started: Instant,
}

async fn note(shared: &Shared, kind: &str, status: u16, expected: &[u16], took: Duration) {
    let minute = shared.started.elapsed().as_secs() / 60;
    let mut record = shared.record.lock().await;
    *record.statuses.entry((kind.to_owned(), status)).or_default() += 1;
    if !expected.contains(&status) {
        record.unexpected += 1;
    }
    record.latencies.entry(minute).or_default().push(took.as_micros() as u64);
}

async fn new_user(shared: &Shared) -> Option<User> {
    let name = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let started = Instant::now();
    let body = registration(&name, &format!("{name}@example.com"));
    let status = shared.pool.send(request("POST", "/register", None, Some(&body))).await;
    note(shared, "register", status, &[201], started.elapsed()).await;
    let started = Instant::now();
    let body = json!({"username": name, "password": PASSWORD});
    let (status, tokens) = shared.pool.send_json(request("POST", "/login", None, Some(&body))).await;
    note(shared, "login", status, &[200], started.elapsed()).await;
    (status == 200).then(|| User {
        name,
        access: tokens["access_token"].as_str().unwrap_or_default().to_owned(),
        refresh: tokens["refresh_token"].as_str().unwrap_or_default().to_owned(),
    })
}

/// One request of the mix (weights out of 100).
async fn one(shared: Arc<Shared>, draw: u64) {
    let pool = &shared.pool;
    let user = {
        let mut users = shared.users.lock().await;
        // A refresh spends the token: the user is taken out while it runs.
        let count = users.len();
        if count == 0 { None } else { Some(users.swap_remove((draw as usize * 7919) % count)) }
    };
    let Some(mut user) = user else {
        if let Some(user) = new_user(&shared).await {
            shared.users.lock().await.push(user);
        }
        return;
    };
    let started = Instant::now();
    match draw % 100 {
        0..5 => {
            if let Some(fresh) = new_user(&shared).await {
                shared.users.lock().await.push(fresh);
            }
        }
        5..15 => {
            let body = json!({"username": user.name, "password": PASSWORD});
            let (status, tokens) = pool.send_json(request("POST", "/login", None, Some(&body))).await;
            note(&shared, "login", status, &[200], started.elapsed()).await;
            if status == 200 {
                user.access = tokens["access_token"].as_str().unwrap_or_default().to_owned();
                user.refresh = tokens["refresh_token"].as_str().unwrap_or_default().to_owned();
            }
        }
        15..25 => {
            let body = json!({"refresh_token": user.refresh});
            let (status, tokens) = pool.send_json(request("POST", "/token/refresh", None, Some(&body))).await;
            note(&shared, "refresh", status, &[200], started.elapsed()).await;
            if status == 200 {
                user.access = tokens["access_token"].as_str().unwrap_or_default().to_owned();
                user.refresh = tokens["refresh_token"].as_str().unwrap_or_default().to_owned();
            }
        }
        25..50 => {
            let status = pool.send(request("GET", "/users/me", Some(&user.access), None)).await;
            note(&shared, "me", status, &[200], started.elapsed()).await;
        }
        50..65 => {
            let message = format!("soak {} {draw}", uuid::Uuid::new_v4());
            let body = json!({"message": message});
            let (status, answer) = pool.send_json(request("POST", "/messages", None, Some(&body))).await;
            note(&shared, "message write", status, &[201, 200], started.elapsed()).await;
            if let Some(digest) = answer["digest"].as_str() {
                shared.record.lock().await.messages.push((digest.to_owned(), message));
            }
        }
        65..80 => {
            let written = shared.record.lock().await.messages.last().map(|(d, _)| d.clone());
            if let Some(digest) = written {
                let status = pool.send(request("GET", &format!("/messages/{digest}"), None, None)).await;
                note(&shared, "message read", status, &[200], started.elapsed()).await;
            }
        }
        80..90 => {
            let body = json!({"a": draw, "b": 1});
            let (status, answer) =
                pool.send_json(request("POST", "/add", Some(&user.access), Some(&body))).await;
            note(&shared, "add", status, &[202], started.elapsed()).await;
            if let Some(id) = answer["task_id"].as_str() {
                shared.record.lock().await.tasks.push((id.to_owned(), user.access.clone()));
            }
        }
        _ => {
            let task = shared.record.lock().await.tasks.last().cloned();
            if let Some((id, token)) = task {
                let status = pool.send(request("GET", &format!("/result/{id}"), Some(&token), None)).await;
                note(&shared, "result", status, &[200], started.elapsed()).await;
            }
        }
    }
    shared.users.lock().await.push(user);
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// The machine's one-minute load average, as the kernel reports it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = options();
    let stack = LocalStack::provision().await.unwrap_or_else(|e| panic!("provisioning the local stack: {e}"));
    let mut gateway = Gateway::new(stack);
    for limit in [
        "REGISTER_RATE_LIMIT",
        "LOGIN_RATE_LIMIT",
        "LOGIN_USER_RATE_LIMIT",
        "MESSAGE_RATE_LIMIT",
        "ADD_RATE_LIMIT",
        "PASSWORD_WORK_RATE_LIMIT",
    ] {
        gateway = gateway.with_var(limit, UNLIMITED);
    }
    let mut sandboxes = BTreeMap::new();
    for function in FUNCTIONS {
        let mut started = Vec::new();
        for _ in 0..options.sandboxes {
            let spec = gateway.launch_spec(function).unwrap_or_else(|e| panic!("{e}"));
            let sandbox = Function::spawn(spec).await.unwrap_or_else(|e| panic!("starting {function}: {e}"));
            started.push(Mutex::new(sandbox));
        }
        sandboxes.insert(function, started);
    }
    let shared = Arc::new(Shared {
        pool: Pool { gateway, sandboxes, next: 0.into() },
        users: Mutex::new(Vec::new()),
        record: Mutex::new(Record::default()),
        started: Instant::now(),
    });
    // The worker takes the queue as the event source mapping would, all along.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = {
        let (shared, stop) = (shared.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let delivery = shared.pool.gateway.deliver_queue().await;
                shared.pool.gateway.retry_now(&delivery).await;
            }
        })
    };
    let total = Duration::from_secs(options.minutes * 60);
    let warm_up = Duration::from_secs(60).min(total / 2);
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / options.rate.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut rss_start = None;
    let mut draw = 0u64;
    let load_at_start = load_average();
    eprintln!(
        "soak: {} min at {} requests/s, {} sandboxes per function",
        options.minutes, options.rate, options.sandboxes
    );
    while shared.started.elapsed() < total {
        ticker.tick().await;
        if rss_start.is_none() && shared.started.elapsed() >= warm_up {
            rss_start = Some(shared.pool.rss().await);
        }
        draw = draw.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        in_flight.spawn(one(shared.clone(), (draw >> 33) % 1000));
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    let rss_end = shared.pool.rss().await;
    let rss_start = rss_start.unwrap_or_else(|| rss_end.clone());

    // Every accepted task done, every written message readable.
    let (tasks, messages) = {
        let record = shared.record.lock().await;
        (record.tasks.clone(), record.messages.clone())
    };
    let mut completed = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    for (id, token) in &tasks {
        loop {
            let (status, body) =
                shared.pool.send_json(request("GET", &format!("/result/{id}"), Some(token), None)).await;
            if status == 200 && body["status"] != "pending" {
                completed += usize::from(body["status"] == "succeeded");
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = worker.await;
    let mut readable = 0;
    for (digest, message) in &messages {
        let (status, body) =
            shared.pool.send_json(request("GET", &format!("/messages/{digest}"), None, None)).await;
        readable += usize::from(status == 200 && body["message"] == message.as_str());
    }

    let record = shared.record.lock().await;
    let mut out = format!(
        "# Soak\n\n{} minutes at {} requests/s, {} sandboxes per function, release binaries on DynamoDB Local. \
         Run on {} with {} cores; load average {load_at_start} at the start, {} at the end \
         (what else ran moves the latencies, not the pass).\n\n",
        options.minutes,
        options.rate,
        options.sandboxes,
        time::OffsetDateTime::now_utc().date(),
        std::thread::available_parallelism().map_or(1, usize::from),
        load_average(),
    );
    out.push_str("## Requests by status\n\n| request | status | count |\n|---|---:|---:|\n");
    for ((kind, status), count) in &record.statuses {
        out.push_str(&format!("| {kind} | {status} | {count} |\n"));
    }
    out.push_str(&format!("\nUnexpected statuses: {}\n\n", record.unexpected));
    out.push_str("## Latency per minute\n\n| minute | requests | p50 ms | p99 ms |\n|---:|---:|---:|---:|\n");
    for (minute, latencies) in &record.latencies {
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        out.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} |\n",
            minute + 1,
            sorted.len(),
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.99)
        ));
    }
    out.push_str("\n## RSS per sandbox (after warm-up, at the end)\n\n| sandbox | start MiB | end MiB | growth |\n|---|---:|---:|---:|\n");
    let mut grew = Vec::new();
    for (sandbox, end) in &rss_end {
        let start = rss_start.get(sandbox).copied().unwrap_or(*end);
        let growth = if start == 0 { 0.0 } else { (*end as f64 / start as f64 - 1.0) * 100.0 };
        if growth > 10.0 {
            grew.push(sandbox.clone());
        }
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        out.push_str(&format!("| {sandbox} | {:.1} | {:.1} | {growth:+.1}% |\n", mib(start), mib(*end)));
    }
    out.push_str(&format!(
        "\n## Accounted for\n\n| | accepted or written | completed or readable |\n|---|---:|---:|\n| tasks | {} | {completed} |\n| messages | {} | {readable} |\n",
        tasks.len(),
        messages.len()
    ));
    let pass =
        record.unexpected == 0 && grew.is_empty() && completed == tasks.len() && readable == messages.len();
    out.push_str(&format!(
        "\n**{}**: {} unexpected statuses, RSS grew more than 10% in {grew:?}, {} tasks and {} messages unaccounted for.\n",
        if pass { "PASS" } else { "FAIL" },
        record.unexpected,
        tasks.len() - completed,
        messages.len() - readable
    ));
    if let Some(dir) = options.out.parent() {
        std::fs::create_dir_all(dir).expect("the output directory");
    }
    std::fs::write(&options.out, &out).expect("the table written");
    println!("{out}");
    if !pass {
        std::process::exit(1);
    }
}
