//! How long a fresh process waits for its first random bytes from aws-lc, the crypto provider
//! under rustls, argon2 salts, refresh tokens and one-time codes. aws-lc seeds its DRBG on the
//! first draw, from CPU jitter unless built with `AWS_LC_SYS_NO_JITTER_ENTROPY=1`; every TLS
//! handshake to AWS draws, so this lands in every function's first invocation on Lambda.
//!
//! `first_random [runs]` starts itself `runs` times (default 30) and prints the p50 and p90 of
//! the first and of a second draw, in microseconds. `make bench` runs it both ways; see
//! infra/bench/run.sh.

use std::process::Command;
use std::time::Instant;

fn draw() -> u128 {
    let mut bytes = [0u8; 32];
    let started = Instant::now();
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
    started.elapsed().as_nanos()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p / 100.0).round() as usize]
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--once") {
        let first = draw();
        let second = draw();
        println!("{first} {second}");
        return;
    }
    let runs: usize = std::env::args().nth(1).map_or(30, |n| n.parse().expect("runs is a count"));
    let me = std::env::current_exe().expect("the probe knows its path");
    let (mut firsts, mut seconds) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let out = Command::new(&me).arg("--once").output().expect("the probe starts itself");
        let text = String::from_utf8(out.stdout).expect("the probe prints numbers");
        let mut numbers = text.split_whitespace().map(|n| n.parse::<f64>().expect("a number") / 1000.0);
        firsts.push(numbers.next().expect("first draw"));
        seconds.push(numbers.next().expect("second draw"));
    }
    firsts.sort_by(f64::total_cmp);
    seconds.sort_by(f64::total_cmp);
    println!(
        "{{\"runs\": {runs}, \"first_p50_us\": {:.1}, \"first_p90_us\": {:.1}, \"second_p50_us\": {:.1}}}",
        percentile(&firsts, 50.0),
        percentile(&firsts, 90.0),
        percentile(&seconds, 50.0)
    );
}
