"""The GitHub workflows: valid against the GitHub workflow schema, offline, and following the book's CI policy.

The schema check uses check-jsonschema (pinned in requirements.txt) with its vendored schema
(`--builtin-schema vendor.github-workflows`), so it needs no network. The run is cut off from the network to prove
it: in a new network namespace (`unshare -n`, as root) where that is allowed, and always with proxies pointing to
a closed local port and an empty cache folder. A deliberately broken workflow must fail the same check.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTION_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


def offline_prefix():
    """A command prefix that runs without any network, where this machine allows one."""
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
                return prefix
        except FileNotFoundError:
            return []
    return []


def validate(paths, cache):
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens, any fetch fails at once
    env = {**os.environ, "HTTP_PROXY": closed, "HTTPS_PROXY": closed, "XDG_CACHE_HOME": str(cache), "NO_PROXY": ""}
    command = [*offline_prefix(), sys.executable, "-m", "check_jsonschema", "--builtin-schema"]
    command += ["vendor.github-workflows", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def load(path):
    workflow = yaml.safe_load(path.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def steps(workflow):
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_there_are_workflows():
    names = {path.stem for path in WORKFLOWS}
    assert {"ci", "accelerators", "pages", "upgrade-canary", "portability"} <= names


def test_workflows_match_the_github_schema_offline(tmp_path):
    run = validate(WORKFLOWS, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ok -- validation done" in run.stdout


def test_a_broken_workflow_fails_the_schema_check(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "name: broken\non: push\njobs:\n  test:\n    runs-on: ubuntu-24.04\n    stepz:\n      - run: make\n"
    )
    bad_permission = tmp_path / "bad_permission.yml"
    bad_permission.write_text(
        "name: bad\non: push\npermissions:\n  contents: readwrite\njobs:\n  test:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: make\n"
    )
    for path, expected in ((broken, "'stepz' was unexpected"), (bad_permission, "permissions")):
        run = validate([path], tmp_path)
        assert run.returncode == 1, run.stdout + run.stderr
        assert expected in run.stdout, run.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.stem for path in WORKFLOWS])
def test_policy(path):
    workflow = load(path)
    permissions = workflow.get("permissions")
    assert permissions == {"contents": "read"}, "least privilege: the workflow grants read-only contents"
    assert "group" in workflow.get("concurrency", {}), "a concurrency group"
    for job in workflow["jobs"].values():
        assert "timeout-minutes" in job
    for step in steps(workflow):
        if "uses" in step:
            assert ACTION_PIN.match(step["uses"]), f"pin {step['uses']} to a full version tag or commit"
        if step.get("uses", "").startswith("actions/setup-python@"):
            # 3.12 (the pins' own) everywhere; the nightly portability run adds 3.13 (Colab's), listed first so
            # that 3.12 stays the default python.
            versions = str(step["with"]["python-version"]).split()
            assert step["with"]["cache"] == "pip" and versions[-1] == "3.12"
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False


def test_ci_runs_make_test_on_push_and_pull_request():
    workflow = load(ROOT / ".github" / "workflows" / "ci.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    assert "make test" in [step.get("run") for step in steps(workflow)]


def test_accelerator_jobs_use_one_target_on_self_hosted_runners():
    workflow = load(ROOT / ".github" / "workflows" / "accelerators.yml")
    job = workflow["jobs"]["nbval"]
    runners = {entry["backend"]: entry["runner"] for entry in job["strategy"]["matrix"]["include"]}
    assert runners == {"gpu": ["self-hosted", "linux", "gpu"], "tpu": ["self-hosted", "linux", "tpu"]}
    assert job["runs-on"] == "${{ matrix.runner }}"
    assert "make test-notebooks BACKEND=${{ matrix.backend }}" in [step.get("run") for step in steps(workflow)]
    assert "head.repo.full_name == github.repository" in job["if"], "forks never run on self-hosted runners"


def test_pages_deploys_from_main_with_only_the_pages_permissions():
    workflow = load(ROOT / ".github" / "workflows" / "pages.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write", "actions": "read"}
    assert "make book" in [step.get("run") for step in steps(workflow)]
    upload = [step for step in steps(workflow) if step.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload[0]["with"]["path"] == "_build/html"


def test_scheduled_workflows():
    canary = load(ROOT / ".github" / "workflows" / "upgrade-canary.yml")
    assert canary["on"]["schedule"] and canary["jobs"]["canary"]["continue-on-error"] is True
    runs = "\n".join(step.get("run", "") for step in steps(canary))
    assert "pip install --upgrade jax jaxlib optax" in runs and "tools/canary_report.py" in runs
    assert "GITHUB_STEP_SUMMARY" in runs
    nightly = load(ROOT / ".github" / "workflows" / "portability.yml")
    assert nightly["on"]["schedule"] and "make test-portability" in [step.get("run") for step in steps(nightly)]
    assert "make test-colab" in [step.get("run") for step in steps(nightly)]
    setup = next(step for step in steps(nightly) if step.get("uses", "").startswith("actions/setup-python@"))
    assert "3.13" in str(setup["with"]["python-version"]).split(), "the Python 3.13 passes need a 3.13"


def test_make_targets_named_by_workflows_exist():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    for path in WORKFLOWS:
        for target in re.findall(r"\bmake ([\w-]+)", path.read_text()):
            assert target in targets, f"{path.name} runs `make {target}`, which the Makefile does not define"
