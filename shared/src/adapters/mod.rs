pub mod dynamodb;
pub mod memory;
