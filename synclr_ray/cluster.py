"""Start or join a Ray cluster, and the resource placement every stage shares."""

import logging
import os
import sys
from typing import Any

import ray
from ray.data import DataContext, ExecutionOptions

from synclr_ray.config.ray import RayConfig

log = logging.getLogger(__name__)

# Ray's reserved node label that separates generation and training nodes on a cluster.
SUBCLUSTER_LABEL = "ray-subcluster"
# Per-row bookkeeping between the generator pools (post-processing, metering, write-through) is light, so it
# reserves no CPU and a cap bounds it instead: Ray Data shares a group's CPUs out by reservation, and on a node
# sized for its generators a bookkeeping operator's share fell below even a quarter core, stalling the stream.
BOOKKEEPING: dict[str, Any] = {"num_cpus": 0, "compute": ray.data.TaskPoolStrategy(size=2)}


def init_ray(cfg: RayConfig, **kwargs: Any) -> None:
    """Join ``cfg.address``/``RAY_ADDRESS`` if given, else start a local cluster sized by ``cfg.num_cpus``.

    A local cluster gets more logical CPUs than cores on purpose: Ray Train reserves its
    workers first, and Ray Data needs slots left for its actor pools.
    """
    # Progress bars redraw a terminal line; in a file or job log they are noise (see cli.plain_output_when_piped).
    DataContext.get_current().enable_progress_bars = cfg.progress_bars and sys.stderr.isatty()
    if ray.is_initialized():
        return
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        context = ray.init(address=address, **kwargs)
    else:
        # Workers of a local cluster inherit this process's environment (storage endpoint,
        # credentials, caches): nothing secret needs to travel in a runtime env.
        context = ray.init(num_cpus=cfg.num_cpus, include_dashboard=cfg.dashboard, **kwargs)
    log.info("ray resources: %s", ray.cluster_resources())
    if context.dashboard_url:
        log.info("Ray dashboard (jobs, Ray Data and Train progress, logs): http://%s", context.dashboard_url)


def label_selector(label: str | None) -> dict[str, str] | None:
    """Node label selector pinning a stage to one ``ray-subcluster`` group (None: anywhere)."""
    return {SUBCLUSTER_LABEL: label} if label else None


def data_options(label: str | None, **options: Any) -> ExecutionOptions:
    """Ray Data execution options that run a dataset's tasks and actors in one ``ray-subcluster`` group.

    Ray Data 2.60 budgets an execution from the nodes of the group its ``label_selector`` names, and an
    execution without one from the unlabelled nodes alone: on a cluster whose workers all carry a group
    label (cluster/aws.yaml, whose head has no CPUs), an unscoped dataset gets no budget and stalls.
    """
    return ExecutionOptions(label_selector=label_selector(label), **options)


def run_data_in(label: str | None) -> None:
    """Scope the Ray Data executions this process starts from now on to one ``ray-subcluster`` group."""
    DataContext.get_current().execution_options.label_selector = label_selector(label)
