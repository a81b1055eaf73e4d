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


@pytest.mark.slow  # cfn-lint loads every resource schema: ~35 s here
def test_aws_template_passes_cfn_lint():
    problems = [str(m) for m in lint_all(AWS_TEMPLATE.read_text()) if m.rule.id[0] in "EW"]
    assert not problems, problems


def _statements(document: dict | str) -> list[dict]:
    if isinstance(document, str):  # moto keeps a policy that a stack attaches as a Python literal
        document = ast.literal_eval(document)
    return [
        {**s, "Action": [s["Action"]] if isinstance(s["Action"], str) else s["Action"]} for s in document["Statement"]
    ]


OIDC = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE0123"


@pytest.fixture(scope="module")
def deployed(s3_endpoint: str) -> dict[str, list[dict]]:
    """The stack on moto with a run bucket, no read-only bucket and an EKS cluster's OIDC provider; each role's
    statements by role name (the pods' role under "synclr-ray-pods")."""
    stack = f"synclr-iam-{uuid.uuid4().hex[:8]}"
    cfn = boto3.client("cloudformation", endpoint_url=s3_endpoint)
    params = [{"ParameterKey": "RunBucket", "ParameterValue": "my-runs"},
              {"ParameterKey": "EksOidcProvider", "ParameterValue": OIDC},
              {"ParameterKey": "KubernetesNamespace", "ParameterValue": "ml"}]  # fmt: skip
    cfn.create_stack(
        StackName=stack, TemplateBody=AWS_TEMPLATE.read_text(), Parameters=params, Capabilities=["CAPABILITY_NAMED_IAM"]
    )
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    iam = boto3.client("iam", endpoint_url=s3_endpoint)
    roles = {}
    pods = iam.get_role(RoleName="synclr-ray-pods")["Role"]
    for profile in ("synclr-ray-head", "synclr-ray-worker", "synclr-ray-pods"):
        if profile == "synclr-ray-pods":
            role = pods
        else:
            (role,) = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
        name = role["RoleName"]
        assert not iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"], "no managed (broad) policies"
        documents = [
            iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
            for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
        ]
        roles[profile] = [s for d in documents for s in _statements(d)]
    roles["trust of synclr-ray-pods"] = _statements(pods["AssumeRolePolicyDocument"])
    yield roles
    cfn.delete_stack(StackName=stack)


def test_aws_roles_reach_only_the_run_bucket_and_the_synclr_secrets(deployed):
    for profile in ("synclr-ray-head", "synclr-ray-worker", "synclr-ray-pods"):
        statements = deployed[profile]
        s3 = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
        assert s3 and all(s["Resource"] in ("arn:aws:s3:::my-runs", "arn:aws:s3:::my-runs/*") for s in s3), profile
        assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= {a for s in s3 for a in s["Action"]}
        (secrets,) = [s for s in statements if s["Action"] == ["secretsmanager:GetSecretValue"]]
        assert secrets["Resource"].endswith(":secret:synclr/*"), profile
        assert all(
            s["Effect"] == "Allow" and "*" not in "".join(s["Action"]).replace("Describe*", "") for s in statements
        )
    for pods in ("synclr-ray-worker", "synclr-ray-pods"):
        launching = [s for s in deployed[pods] if any(a.split(":")[0] in ("ec2", "iam") for a in s["Action"])]
        assert not launching, f"{pods} launch nothing"


def test_aws_pods_role_is_assumable_only_by_the_two_service_accounts(deployed):
    (trust,) = deployed["trust of synclr-ray-pods"]
    assert trust["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert trust["Principal"] == {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{OIDC}"}
    assert trust["Condition"]["StringEquals"] == {
        f"{OIDC}:aud": "sts.amazonaws.com",
        f"{OIDC}:sub": ["system:serviceaccount:ml:synclr-ray-head", "system:serviceaccount:ml:synclr-ray-worker"],
    }
    accounts = list(yaml.safe_load_all((REPO / "cluster" / "kuberay" / "serviceaccounts.yaml").read_text()))
    assert {a["metadata"]["name"] for a in accounts} == {"synclr-ray-head", "synclr-ray-worker"}
    assert all(a["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/synclr-ray-pods")
               for a in accounts)  # fmt: skip


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
    env.update(PROJECT_ID="proj-7", RUN_BUCKET="my-runs", READ_ONLY_BUCKET="my-data", GKE_NAMESPACE="ml")
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
        (head, "roles/iam.serviceAccountUser"),
        # GKE workload identity: the two Kubernetes accounts of cluster/kuberay/serviceaccounts.yaml run as the worker.
        ("serviceAccount:proj-7.svc.id.goog[ml/synclr-ray-head]", "roles/iam.workloadIdentityUser"),
        ("serviceAccount:proj-7.svc.id.goog[ml/synclr-ray-worker]", "roles/iam.workloadIdentityUser"),
    ]
