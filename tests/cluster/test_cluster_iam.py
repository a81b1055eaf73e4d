"""cluster/iam/: the nodes' identities reach the run bucket and the synclr secrets, and nothing more.

The AWS template is linted (cfn-lint) and deployed on moto's CloudFormation; the GCP script
runs against a stand-in `gcloud` that records each call.
"""

import ast
import os
import stat
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest
import yaml
from cfnlint.api import lint_all

REPO = Path(__file__).resolve().parents[2]
AWS_TEMPLATE = REPO / "cluster" / "iam" / "aws.yaml"
GCP_SCRIPT = REPO / "cluster" / "iam" / "gcp.sh"


def test_aws_template_passes_cfn_lint():
    problems = [str(m) for m in lint_all(AWS_TEMPLATE.read_text()) if m.rule.id[0] in "EW"]
    assert not problems, problems


def _statements(document: dict | str) -> list[dict]:
    if isinstance(document, str):  # moto keeps a policy that a stack attaches as a Python literal
        document = ast.literal_eval(document)
    return [
        {**s, "Action": [s["Action"]] if isinstance(s["Action"], str) else s["Action"]} for s in document["Statement"]
    ]


@pytest.fixture(scope="module")
def deployed(s3_endpoint: str) -> dict[str, list[dict]]:
    """The stack on moto with a run bucket and no read-only bucket; each role's statements by role name."""
    stack = f"synclr-iam-{uuid.uuid4().hex[:8]}"
    cfn = boto3.client("cloudformation", endpoint_url=s3_endpoint)
    params = [{"ParameterKey": "RunBucket", "ParameterValue": "my-runs"}]
    cfn.create_stack(
        StackName=stack, TemplateBody=AWS_TEMPLATE.read_text(), Parameters=params, Capabilities=["CAPABILITY_NAMED_IAM"]
    )
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    iam = boto3.client("iam", endpoint_url=s3_endpoint)
    roles = {}
    for profile in ("synclr-ray-head", "synclr-ray-worker"):
        (role,) = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
        name = role["RoleName"]
        assert not iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"], "no managed (broad) policies"
        documents = [
            iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
            for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
        ]
        roles[profile] = [s for d in documents for s in _statements(d)]
    yield roles
    cfn.delete_stack(StackName=stack)


def test_aws_roles_reach_only_the_run_bucket_and_the_synclr_secrets(deployed):
    for profile, statements in deployed.items():
        s3 = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
        assert s3 and all(s["Resource"] in ("arn:aws:s3:::my-runs", "arn:aws:s3:::my-runs/*") for s in s3), profile
        assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= {a for s in s3 for a in s["Action"]}
        (secrets,) = [s for s in statements if s["Action"] == ["secretsmanager:GetSecretValue"]]
        assert secrets["Resource"].endswith(":secret:synclr/*"), profile
        assert all(
            s["Effect"] == "Allow" and "*" not in "".join(s["Action"]).replace("Describe*", "") for s in statements
        )
    worker = deployed["synclr-ray-worker"]
    assert not [s for s in worker if any(a.split(":")[0] in ("ec2", "iam") for a in s["Action"])], (
        "workers launch nothing"
    )


def test_aws_head_ends_only_its_clusters_instances_and_passes_only_the_worker_role(deployed):
    head = {s.get("Sid"): s for s in deployed["synclr-ray-head"]}
    ending = head["EndOnlyThisClustersInstances"]
    assert "ec2:TerminateInstances" in ending["Action"]
    assert ending["Condition"] == {"StringEquals": {"ec2:ResourceTag/ray-cluster-name": "synclr"}}
    cluster_name = yaml.safe_load((REPO / "cluster" / "aws.yaml").read_text())["cluster_name"]
    assert cluster_name == "synclr", "the template's ClusterName default must match cluster/aws.yaml"
    passing = head["HandWorkersTheirRole"]
    assert passing["Action"] == ["iam:PassRole"] and passing["Resource"].endswith(":role/synclr-ray-worker")
    broad = [s for s in deployed["synclr-ray-head"] if s["Resource"] == "*" and "Condition" not in s]
    assert all(set(s["Action"]) <= {"ec2:RunInstances", "ec2:CreateTags", "ec2:Describe*"} for s in broad), broad


def test_gcp_script_grants_on_the_bucket_and_secrets_never_project_wide_storage(tmp_path):
    log = tmp_path / "calls.jsonl"
    gcloud = tmp_path / "bin" / "gcloud"
    gcloud.parent.mkdir()
    # A stand-in that records each call; `describe` fails so that the accounts are created.
    gcloud.write_text(
        '#!/usr/bin/env bash\nprintf "%s\\037" "$@" >> "$GCLOUD_LOG"; echo >> "$GCLOUD_LOG"\n'
        '[[ " $* " != *" describe "* ]]\n'
    )
    gcloud.chmod(gcloud.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{gcloud.parent}{os.pathsep}{os.environ['PATH']}", "GCLOUD_LOG": str(log)}
    env.update(PROJECT_ID="proj-7", RUN_BUCKET="my-runs", READ_ONLY_BUCKET="my-data")
    subprocess.run(["bash", str(GCP_SCRIPT)], env=env, check=True, capture_output=True, timeout=60)
    calls = [line.rstrip("\x1f").split("\x1f") for line in log.read_text().splitlines()]

    def granted(*prefix: str) -> list[tuple[str, str]]:
        return [
            (call[call.index("--member") + 1], call[call.index("--role") + 1])
            for call in calls
            if call[: len(prefix)] == list(prefix)
        ]

    head, worker = (f"serviceAccount:synclr-ray-{r}@proj-7.iam.gserviceaccount.com" for r in ("head", "worker"))
    assert ["iam", "service-accounts", "create", "synclr-ray-head"] == [c for c in calls if "create" in c][0][:4]
    buckets = granted("storage", "buckets", "add-iam-policy-binding", "gs://my-runs")
    assert sorted(buckets) == sorted([(head, "roles/storage.objectUser"), (worker, "roles/storage.objectUser")])
    assert set(granted("storage", "buckets", "add-iam-policy-binding", "gs://my-data")) == {
        (head, "roles/storage.objectViewer"),
        (worker, "roles/storage.objectViewer"),
    }
    for secret in ("synclr-ray-auth-token", "synclr-serve-token"):
        assert set(granted("secrets", "add-iam-policy-binding", secret)) == {
            (head, "roles/secretmanager.secretAccessor"),
            (worker, "roles/secretmanager.secretAccessor"),
        }
    assert granted("projects", "add-iam-policy-binding") == [(head, "roles/compute.instanceAdmin.v1")]
    assert granted("iam", "service-accounts", "add-iam-policy-binding", worker.split(":")[1]) == [
        (head, "roles/iam.serviceAccountUser")
    ]
