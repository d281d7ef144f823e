//! The HTTP layer of every Stratus function: problem+json (RFC 9457), request parsing and the
//! `Endpoint` wrapper, the route table, the OpenAPI pieces, the origin guard, and the mapping of
//! the typed outcomes of the layers below (a refused token, a rate limit, a store failure) to
//! responses.

pub mod guard;
pub mod http;
pub mod oauth;
pub mod openapi;
pub mod origin;
pub mod page;
pub mod problem;

pub use problem::Problem;
