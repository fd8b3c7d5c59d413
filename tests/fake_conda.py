"""A stand-in conda installation for tests of how Snakemake builds the rules' environments.

It answers what Snakemake asks conda (`conda info --json`, `--version`, `config --get`, `clean`), and
`conda env create --file F --prefix P` does what conda does with the file's pip section: it
writes the pip requirements next to F and runs pip with F's folder as working directory, so a
relative path resolves from where Snakemake put its copy of the env file. Instead of
installing, it records each pip requirement (a path resolved from that folder; a path that is
not a Python project fails as pip would). Every environment gets a `python` that records its
arguments and working directory instead of running, so a post-deploy script can be checked.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

CONDA = r'''#!{python}
import json, os, sys
from pathlib import Path
import yaml

base = Path(__file__).resolve().parent.parent
args = sys.argv[1:]
if args == ["--version"]:
    print("conda 24.9.2")
elif args[:2] == ["info", "--json"]:
    print(json.dumps({{"conda_prefix": str(base), "platform": "linux-64"}}))
elif args[:2] == ["config", "--get"]:
    print(json.dumps({{"get": {{"channel_priority": "strict"}}}}))
elif args[:1] == ["clean"]:
    pass
elif args[:2] == ["env", "create"]:
    env_file = Path(args[args.index("--file") + 1])
    prefix = Path(args[args.index("--prefix") + 1])
    spec = yaml.safe_load(env_file.read_text())
    pip = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d]
    workdir = env_file.resolve().parent  # conda runs pip from the env file's folder
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python").write_text({python_stub!r})
    (prefix / "bin" / "python").chmod(0o755)
    requirements = []
    for line in (pip[0] if pip else []):
        target = line.removeprefix("-e").strip()
        if target.startswith((".", "/", "file:")):
            path = (workdir / target.removeprefix("file:")).resolve()
            if not (path / "pyproject.toml").exists() and not (path / "setup.py").exists():
                sys.exit(f"ERROR: {{path}} does not appear to be a Python project")
            target = str(path)
        requirements.append(target)
    (prefix / "pip-requirements.json").write_text(json.dumps(requirements))
else:
    sys.exit(f"fake conda: unexpected arguments {{args}}")
'''

PYTHON_STUB = """#!/bin/sh
# records the call instead of running Python
printf '%s\\n' "$PWD" "$@" > "$(dirname "$0")/../python-call.txt"
"""

ACTIVATE = """# sourced by Snakemake as: source activate <env prefix>
PATH="$1/bin:$PATH"
export PATH
"""


def install_fake_conda(root: Path) -> Path:
    """Write the stand-in conda under `root`; returns its bin folder (put it first on PATH)."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    conda = bin_dir / "conda"
    conda.write_text(CONDA.format(python=sys.executable, python_stub=PYTHON_STUB))
    conda.chmod(conda.stat().st_mode | stat.S_IXUSR)
    (bin_dir / "activate").write_text(ACTIVATE)
    return bin_dir


def pip_requirements(env_prefix: Path) -> list[str]:
    """The pip requirements conda was given for the environment at `env_prefix` (paths resolved)."""
    return json.loads((env_prefix / "pip-requirements.json").read_text())


def python_call(env_prefix: Path) -> tuple[Path, list[str]]:
    """The working directory and arguments of the one call of the environment's `python`."""
    lines = (env_prefix / "python-call.txt").read_text().splitlines()
    return Path(lines[0]), lines[1:]


def with_path(bin_dir: Path) -> dict[str, str]:
    """os.environ with `bin_dir` first on PATH."""
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
