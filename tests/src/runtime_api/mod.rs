//! Runs the release binaries of the functions the way Lambda runs them: each process gets the
//! environment template.yaml gives it (resolved against resources this harness creates on the
//! local engines), talks to an emulated Lambda Runtime API on a loopback port, and is fed
//! API Gateway v2 or SQS events.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use stratus_tests::runtime_api::{Function, LocalStack};
//! let stack = LocalStack::provision().await?;
//! let mut health = Function::spawn(stack.launch_spec("health")?).await?;
//! let response = health.invoke(&serde_json::json!({ "version": "2.0" })).await?;
//! println!("init {:?}, peak RSS {:?}", health.init_duration(), health.peak_rss());
//! # Ok(()) }
//! ```

pub mod emulator;
pub mod gateway;
pub mod stack;

pub use crate::template::{Resolver, Template};
pub use emulator::{
    Function, FunctionError, InitErrorReport, Invocation, InvokeError, LaunchError, LaunchSpec, Outcome,
    Timings,
};
pub use gateway::{Delivery, Gateway, Measured, decode_response, request, sqs_event};
pub use stack::{BUILD_COMMAND, Engines, LocalStack, RoleCredentials, binaries_dir};
