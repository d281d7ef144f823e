//! Prints the OpenAPI document generated from the functions' code: `make openapi` writes it to
//! `functions/docs/openapi.json`, which the docs function serves.

fn main() {
    print!("{}", local_api::openapi_json());
}
