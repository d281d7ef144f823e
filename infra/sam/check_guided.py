"""`sam deploy --guided`, pressing Enter at every prompt, must end in a deploy of a working
stack: no question whose default aborts (SAM CLI asks, per route without an API Gateway
authorizer, whether that is acceptable, and N stops the deploy) and no change set left waiting
for a confirmation whose default is no.

Then the round trip: the next plain `sam deploy` (what an operator runs after every change) must
send every parameter with the value the guided deploy gave it, the one-off `--parameter-overrides`
of the documented first deploy (docs/deploy.md: `WebAclArn`) included. A plain deploy sends the
parameters samconfig.toml lists and keeps the others (`UsePreviousValue`), so a value that
changed would change the stack. stratus-admin writes parameters in the guided deploy's own form
(`Key="value"`), which this reads back through SAM's parser.

Runs SAM CLI's own deploy command offline: the calls that would reach AWS (the managed bucket,
packaging, the CloudFormation deploy) are replaced by stubs that record what they were given.
Usage: python check_guided.py TEMPLATE SAMCONFIG
"""

import os
import shutil
import sys
import tempfile
from unittest import mock

os.environ["SAM_CLI_TELEMETRY"] = "0"
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from click.testing import CliRunner  # noqa: E402
from samcli.cli.main import cli  # noqa: E402
from samcli.commands.deploy import guided_context  # noqa: E402


def main() -> int:
    template, samconfig = sys.argv[1], sys.argv[2]
    deployed = {}

    def deploy_context(**arguments):
        deployed.update(arguments)
        return mock.MagicMock()

    web_acl = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/stratus-edge/0123"

    with tempfile.TemporaryDirectory() as scratch:
        shutil.copy(template, os.path.join(scratch, "template.yaml"))
        shutil.copy(samconfig, os.path.join(scratch, "samconfig.toml"))
        cwd = os.getcwd()
        os.chdir(scratch)
        try:
            with (
                mock.patch.object(guided_context, "manage_stack", lambda **_: "stub-managed-bucket"),
                mock.patch.object(guided_context.GuidedContext, "prompt_image_repository", lambda *_, **__: {}),
                mock.patch("samcli.commands.package.package_context.PackageContext"),
                mock.patch("samcli.commands.deploy.deploy_context.DeployContext", side_effect=deploy_context),
            ):
                result = CliRunner().invoke(
                    cli, ["deploy", "--guided", "--parameter-overrides", f"WebAclArn={web_acl}"], input="\n" * 200
                )
                guided = dict(deployed)
                deployed.clear()
                # The plain deploy finds the bucket the guided one saved; nothing reaches AWS.
                with mock.patch("samcli.commands.deploy.command.manage_stack", lambda **_: "stub-managed-bucket"):
                    plain = CliRunner().invoke(cli, ["deploy"])
                plain_sent = dict(deployed)
        finally:
            os.chdir(cwd)
    output = result.output.replace("\033[1m", "").replace("\033[0m", "")
    failures = []
    if result.exit_code != 0:
        failures.append(f"sam deploy --guided exited {result.exit_code}: {result.exception!r}")
    if "has no authentication" in output:
        failures.append("it asks whether routes without an authorizer are acceptable (default: no)")
    if not guided:
        failures.append("it never reached the deploy")
    elif guided.get("confirm_changeset"):
        failures.append('it would stop at "Deploy this changeset? [y/N]" (default: no)')
    elif "CAPABILITY_IAM" not in (guided.get("capabilities") or []):
        failures.append(f"the deploy lacks CAPABILITY_IAM: {guided.get('capabilities')}")
    sent = guided.get("parameter_overrides") or {}
    if sent.get("WebAclArn") != web_acl:
        failures.append(f"the guided deploy did not send the one-off WebAclArn: {sent.get('WebAclArn')!r}")
    if plain.exit_code != 0 or not plain_sent:
        failures.append(f"the plain deploy after it never reached the deploy: {plain.output} {plain.exception!r}")
    else:
        again = plain_sent.get("parameter_overrides") or {}
        changed = {k: (v, again.get(k)) for k, v in sent.items() if k in again and again[k] != v}
        if changed:
            failures.append(f"a plain deploy after the guided one changes parameters (guided, plain): {changed}")
        if set(again) != set(sent):
            failures.append(f"the guided deploy saved other parameters than it sent: {set(sent) ^ set(again)}")
    if failures:
        print(output, file=sys.stderr)
        for failure in failures:
            print(f"check_guided: {failure}", file=sys.stderr)
        return 1
    print(
        f"check_guided: Enter at every prompt deploys stack {guided.get('stack_name')!r} without a question, "
        f"and a plain deploy after it keeps all {len(sent)} parameters"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
