pub mod dynamodb;
pub mod mail;
pub mod memory;
pub mod sqs;
