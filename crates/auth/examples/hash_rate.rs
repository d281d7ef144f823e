//! How many passwords one core hashes per second at the production parameters (argon2id, 19 MiB,
//! t=2, p=1), as login and register do: what the sensitive routes' API Gateway throttle is sized
//! from (template.yaml, `LoginThrottleRateLimit`; the arithmetic is there, the numbers in
//! docs/costs.md).
//!
//! `cargo run --release --locked -p stratus-auth --example hash_rate [ROUNDS] [HASHES]`
//! (default 5 rounds of 40): prints each round's rate and the best, on one thread, because a
//! Lambda sandbox serves one request at a time.

use std::time::Instant;

use stratus_auth::{Password, password};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u32>().expect("a count"));
    let rounds = args.next().unwrap_or(5);
    let hashes = args.next().unwrap_or(40);
    let candidate = Password::parse("analytical engine 1843".to_owned(), &[]).expect("a valid password");
    let stored = password::hash(&candidate).expect("hashes"); // also warms the kept blocks
    let mut best = 0f64;
    for round in 1..=rounds {
        let started = Instant::now();
        for i in 0..hashes {
            // Half hashes (register), half verifications (login): the same argon2 work each.
            if i % 2 == 0 {
                password::hash(&candidate).expect("hashes");
            } else {
                assert!(matches!(
                    password::verify("analytical engine 1843", Some(&stored)),
                    password::Verified::Yes { .. }
                ));
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let rate = f64::from(hashes) / seconds;
        best = best.max(rate);
        println!(
            "round {round}: {hashes} hashes in {seconds:.3} s = {rate:.1} hashes/s ({:.1} ms each)",
            1000.0 / rate
        );
    }
    println!("best: {best:.1} hashes/s per core ({:.1} ms each)", 1000.0 / best);
}
