fn main() -> Result<(), lambda_runtime::Error> {
    stratus_wiring::lambda_init::main_events(signing_keys::build)
}
