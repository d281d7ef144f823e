//! The bottom layer of Stratus: domain types (parse, don't validate), the ports the functions
//! talk through, the one typed settings tree, the clock and the log format. Nothing here calls
//! AWS or knows HTTP; every other crate builds on it.

pub mod clock;
pub mod config;
pub mod domain;
pub mod ports;
pub mod telemetry;
