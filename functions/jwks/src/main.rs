fn main() -> Result<(), lambda_http::Error> {
    stratus_wiring::lambda_init::main_http(jwks::build)
}
