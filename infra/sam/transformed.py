"""The template as CloudFormation receives it: SAM's transform run offline (samtranslator, the
library `sam deploy` and cfn-lint use), then put in a canonical form so that two templates that
deploy the same resources compare equal.

    transformed.py --compare REV [TEMPLATE]   exit 1, with the differences, unless TEMPLATE
                                              (template.yaml) deploys what REV's template did

What counts: every resource's logical id, Type, Properties, Condition, DependsOn and deletion
policies, and the Outputs. What does not: comments and layout; Metadata (build and checkov notes,
no part of the deployed resource); the order of the clauses of a Metrics Insights `OR` chain and of
a dashboard's metric lists (the same alarm, the same graph; CloudFormation updates them in place).
"""
import copy
import json
import logging
import os
import re
import subprocess
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.parser import parser
from samtranslator.translator.translator import Translator

KEPT = ("Type", "Properties", "Condition", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy")


# samtranslator's own metrics warn at exit that nobody published them.
logging.getLogger("samtranslator").setLevel(logging.ERROR)


def transform(text):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse(text)
    # As `sam deploy` packages it: each function's local code becomes an S3 object.
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = f"s3://artifacts/{logical_id}"
    translated = Translator(managed_policy_map={}, sam_parser=parser.Parser()).translate(
        sam_template=copy.deepcopy(template), parameter_values={}, passthrough_metadata=False
    )
    resources = {
        logical_id: canonical({k: v for k, v in resource.items() if k in KEPT})
        for logical_id, resource in translated["Resources"].items()
    }
    return {"Resources": resources, "Outputs": canonical(translated.get("Outputs", {}))}


def canonical(node):
    if isinstance(node, dict):
        node = {k: canonical(v) for k, v in node.items()}
        if "Expression" in node and isinstance(node["Expression"], dict) and "Fn::Sub" in node["Expression"]:
            node["Expression"] = {"Fn::Sub": or_chain(node["Expression"]["Fn::Sub"])}
        if "DashboardBody" in node and isinstance(node["DashboardBody"], dict):
            node["DashboardBody"] = {"Fn::Sub": dashboard(node["DashboardBody"]["Fn::Sub"])}
        return node
    if isinstance(node, list):
        return [canonical(v) for v in node]
    return node


def or_chain(expression):
    head, sep, clauses = expression.partition(" WHERE ")
    if not sep:
        return expression
    return head + sep + " OR ".join(sorted(clauses.split(" OR ")))


def dashboard(body):
    widgets = json.loads(body)
    for widget in widgets.get("widgets", []):
        metrics = widget.get("properties", {}).get("metrics")
        if metrics:
            metrics.sort(key=json.dumps)
    return json.dumps(widgets, sort_keys=True)


def differences(before, after, path=""):
    if type(before) is not type(after):
        return [f"{path}: {json.dumps(before)[:200]} -> {json.dumps(after)[:200]}"]
    if isinstance(before, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            if key not in after:
                out.append(f"{path}/{key}: removed")
            elif key not in before:
                out.append(f"{path}/{key}: added")
            else:
                out += differences(before[key], after[key], f"{path}/{key}")
        return out
    if isinstance(before, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in differences(b, a, f"{path}[{i}]")]
    return [] if before == after else [f"{path}: {json.dumps(before)[:300]} -> {json.dumps(after)[:300]}"]


def main(argv):
    if len(argv) < 2 or argv[0] != "--compare":
        sys.exit(__doc__)
    rev, path = argv[1], (argv[2] if len(argv) > 2 else "template.yaml")
    old = subprocess.run(["git", "show", f"{rev}:template.yaml"], check=True, capture_output=True, text=True).stdout
    found = differences(transform(old), transform(open(path).read()))
    for line in found:
        print(line)
    if found:
        sys.exit(f"transformed.py: {len(found)} differences between {rev}'s template and {path}")
    print(f"transformed.py: {path} deploys exactly the resources and outputs of {rev}'s template")


if __name__ == "__main__":
    main(sys.argv[1:])
