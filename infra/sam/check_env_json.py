"""Checks env.json against template.yaml the way `sam local start-api --env-vars env.json`
resolves them, using the pinned SAM CLI's own resolver (run with infra/sam/tools.sh's venv).

Every variable a function declares must end up with a concrete local value: no logical id
standing in for a table name, no unresolved intrinsic or dynamic reference, engine endpoints on
the local engines, and no origin secret (sam local has no CloudFront in front). Every env.json
entry must be used by some function, so the file cannot drift from the template."""

import json
import sys

from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

TEMPLATE, ENV_FILE = sys.argv[1], sys.argv[2]
# Variables whose template value is right under sam local as it is.
KEPT_FROM_TEMPLATE = (
    "TOKEN_ISSUER",
    "TOKEN_AUDIENCE",
    "LOGIN_RATE_LIMIT",
    "LOGIN_USER_RATE_LIMIT",
    "SESSION_MAX_LIFETIME_SECONDS",
    "MESSAGE_RATE_LIMIT",
    "MESSAGE_TTL_SECONDS",
    "STALE_TASK_SECONDS",
    "REQUIRE_VERIFIED_EMAIL",
)

with open(ENV_FILE) as f:
    env_values = json.load(f)
overrides = env_values.get("Parameters", {})

stacks, _ = SamLocalStackProvider.get_stacks(TEMPLATE, parameter_overrides={}, global_parameter_overrides={})
provider = SamFunctionProvider(stacks)
runner = LocalLambdaRunner(local_runtime=None, function_provider=provider, cwd=".", real_path=".",
                           env_vars_values=env_values)
logical_ids = set(stacks[0].resources.keys())

problems, used = [], set()
functions = list(provider.get_all())
for function in functions:
    declared = (function.environment or {}).get("Variables", {})
    resolved = runner._make_env_vars(function).resolve()
    for name in declared:
        value = resolved.get(name)
        used.add(name)
        where = f"{function.name}: {name}={value!r}"
        if name not in overrides and name not in KEPT_FROM_TEMPLATE:
            problems.append(f"{where} is not set by {ENV_FILE}")
        elif value in logical_ids or "{{resolve" in value or value.startswith("{"):
            problems.append(f"{where} is not a usable local value")
        elif name.startswith("AWS_ENDPOINT_URL_") and not value.startswith("http://"):
            problems.append(f"{where} does not point at a local engine")
        elif name == "ORIGIN_VERIFY_SECRET_ARN" and value != "":
            problems.append(f"{where}: sam local has no CloudFront to send it, so it must be empty")

for name in overrides:
    if name not in used:
        problems.append(f"{ENV_FILE} sets {name}, which no function declares")

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"env.json: {len(functions)} functions get concrete local values for every declared variable")
