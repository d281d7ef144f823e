"""`sam deploy --guided`, pressing Enter at every prompt, must end in a deploy of a working
stack: no question whose default aborts (SAM CLI asks, per route without an API Gateway
authorizer, whether that is acceptable, and N stops the deploy) and no change set left waiting
for a confirmation whose default is no.

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
                result = CliRunner().invoke(cli, ["deploy", "--guided"], input="\n" * 200)
        finally:
            os.chdir(cwd)
    output = result.output.replace("\033[1m", "").replace("\033[0m", "")
    failures = []
    if result.exit_code != 0:
        failures.append(f"sam deploy --guided exited {result.exit_code}: {result.exception!r}")
    if "has no authentication" in output:
        failures.append("it asks whether routes without an authorizer are acceptable (default: no)")
    if not deployed:
        failures.append("it never reached the deploy")
    elif deployed.get("confirm_changeset"):
        failures.append('it would stop at "Deploy this changeset? [y/N]" (default: no)')
    elif "CAPABILITY_IAM" not in (deployed.get("capabilities") or []):
        failures.append(f"the deploy lacks CAPABILITY_IAM: {deployed.get('capabilities')}")
    if failures:
        print(output, file=sys.stderr)
        for failure in failures:
            print(f"check_guided: {failure}", file=sys.stderr)
        return 1
    print(f"check_guided: Enter at every prompt deploys stack {deployed.get('stack_name')!r} without a question")
    return 0


if __name__ == "__main__":
    sys.exit(main())
