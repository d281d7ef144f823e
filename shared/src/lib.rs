//! What more than one Stratus function needs: domain types, ports and their adapters,
//! HTTP helpers, the route table, configuration and telemetry.

pub mod adapters;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod lambda_init;
pub mod openapi;
pub mod origin;
pub mod ports;
pub mod problem;
pub mod routes;
pub mod telemetry;
pub mod wiring;

pub use problem::Problem;
pub use wiring::{InitError, Wiring};
