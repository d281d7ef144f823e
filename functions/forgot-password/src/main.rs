fn main() -> Result<(), lambda_http::Error> {
    stratus_wiring::lambda_init::main_http(forgot_password::build)
}
