"""cluster/*.yaml: valid for `ray up` in this Ray, and laid out the way the stages expect."""

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from synclr_ray.cluster import SUBCLUSTER_LABEL
from synclr_ray.config import load_config

REPO = Path(__file__).resolve().parents[2]
LAUNCHER_YAMLS = sorted((REPO / "cluster").glob("*.yaml"))
SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_there_are_launcher_yamls_for_aws_and_gcp():
    assert {p.name for p in LAUNCHER_YAMLS} >= {"aws.yaml", "gcp.yaml"}


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=lambda p: p.name)
def test_validates_against_the_schema_in_the_ray_wheel(path):
    config = _load(path)
    jsonschema.validate(config, SCHEMA)
    # What `ray up` runs: provider defaults merged in, then the schema and the cross-field checks.
    validate_config(prepare_config(copy.deepcopy(config)))


def test_the_schema_check_rejects_a_broken_node_type():
    config = _load(REPO / "cluster" / "aws.yaml")
    config["available_node_types"]["generation"]["resources"]["GPU"] = "4"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, SCHEMA)


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=lambda p: p.name)
def test_node_groups_match_the_presets_labels(path):
    config = _load(path)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"]["CPU"] == 0, "the head must not take stage work"
    by_label = {t.get("labels", {}).get(SUBCLUSTER_LABEL): t for t in types.values()}
    for preset in ("paper-vitb16", "paper-vitl14"):
        ray_cfg = load_config(preset).ray
        for label in (ray_cfg.generation_label, ray_cfg.training_label):
            assert label in by_label, f"{preset} pins a stage to {SUBCLUSTER_LABEL}={label}, which no node type has"
            group = by_label[label]
            assert group["resources"]["GPU"] >= 1
            assert group["max_workers"] > group.get("min_workers", 0) == 0, "GPU groups scale from zero"


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=lambda p: p.name)
def test_image_is_rayproject_ray_at_the_installed_version(path):
    image = _load(path)["docker"]["image"]
    assert re.fullmatch(rf"rayproject/ray:{re.escape(ray.__version__)}-py311-(gpu|cu\d+)", image), image


def test_cluster_image_builds_on_the_same_ray():
    dockerfile = (REPO / "cluster" / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.MULTILINE)[1]
    assert base == _load(REPO / "cluster" / "aws.yaml")["docker"]["image"]
    for copied in re.findall(r"^COPY \S+ (.+) \S+$", dockerfile, re.MULTILINE):
        for name in copied.split():
            assert (REPO / name).exists(), f"cluster/Dockerfile copies {name}, which is missing"
    assert "requirements-gpu.txt" in dockerfile


def _commands(config: dict, key: str) -> list[str]:
    return [" ".join(str(cmd).split()) for cmd in config.get(key, [])]


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=lambda p: p.name)
def test_no_vm_cluster_exposes_the_dashboard_or_starts_without_token_auth(path):
    """The dashboard and job API (code execution by design) stay on loopback, and every node runs Ray
    with token auth, the token written from the cloud's secret store to the file Ray reads before `ray start`."""
    config = _load(path)
    text = json.dumps(config)  # what the launcher runs, comments aside
    assert "0.0.0.0" not in text, "nothing may bind every interface"
    assert "RAY_AUTH_TOKEN=" not in text and "RAY_AUTH_MODE=disabled" not in text, "no token in the YAML"
    assert "--env RAY_AUTH_MODE=token" in config["docker"]["run_options"]
    store = config["provider"]["type"]
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        commands = _commands(config, key)
        starts = [i for i, cmd in enumerate(commands) if re.search(r"\bray start\b", cmd)]
        fetch = [
            i
            for i, cmd in enumerate(commands)
            if re.fullmatch(rf"python -m synclr_ray.secrets {store}:\S+ ~/.ray/auth_token", cmd)
        ]
        assert len(starts) == 1 and fetch and fetch[0] < starts[0], (key, commands)
        assert "--dashboard-host" not in commands[starts[0]] or "--dashboard-host=127.0.0.1" in commands[starts[0]]
    (head_start,) = [cmd for cmd in _commands(config, "head_start_ray_commands") if "ray start" in cmd]
    assert "--dashboard-host=127.0.0.1" in head_start


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=lambda p: p.name)
def test_every_node_type_has_its_own_scoped_identity(path):
    """Head and workers each run as an identity of cluster/iam/ (workers too: they read models, write shards)."""
    config = _load(path)
    types = config["available_node_types"]
    head = config["head_node_type"]
    if config["provider"]["type"] == "aws":
        iam = _load(REPO / "cluster" / "iam" / "aws.yaml")["Resources"]
        names = {"head": iam["HeadProfile"]["Properties"]["InstanceProfileName"]}
        names["worker"] = iam["WorkerProfile"]["Properties"]["InstanceProfileName"]
        identity = {name: t["node_config"]["IamInstanceProfile"]["Name"] for name, t in types.items()}
        run_options = config["docker"]["run_options"]
        assert f"--env AWS_REGION={config['provider']['region']}" in run_options, "the secrets client needs the region"
    else:
        script = (REPO / "cluster" / "iam" / "gcp.sh").read_text()
        names = {role: f"synclr-ray-{role}@PROJECT_ID.iam.gserviceaccount.com" for role in ("head", "worker")}
        assert all(f"synclr-ray-{role}" in script for role in names)
        identity = {name: t["node_config"]["serviceAccounts"][0]["email"] for name, t in types.items()}
    assert identity[head] == names["head"]
    assert all(identity[name] == names["worker"] for name in types if name != head)


def test_cluster_image_runs_as_a_non_root_user():
    users = re.findall(r"^USER (\S+)$", (REPO / "cluster" / "Dockerfile").read_text(), re.MULTILINE)
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid, which Kubernetes' runAsNonRoot can verify"
