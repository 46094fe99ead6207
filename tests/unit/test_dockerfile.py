"""operator/Dockerfile and .dockerignore, checked without a container engine (these machines
have none): the stages and what each may hold, the user the chart expects, the entry point,
and the build context - the last one for real, by building Ballast's wheel from exactly the
files .dockerignore lets through, as the builder stage does."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

import ballast
from ballast.build.security import DEFAULT_USER_ID
from ballast.cli import main as ballast_cli
from tests.support.helm import CHART, find, rendered
from tests.support.kube import REPO

DOCKERFILE = REPO / "operator" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
LOCKS = ("operator/requirements.lock", "operator/build-requirements.lock")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
VENV = "/opt/ballast"
BUILD_TOOLS = (
    "build-essential",
    "gcc",
    "g++",
    "clang",
    "make",
    "cmake",
    "gfortran",
    "python3-dev",
    "libc6-dev",
    "apt-get",
    "apk ",
    "yum ",
    "dnf ",
)


# --- a small Dockerfile reader ----------------------------------------------------------------


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def text(self) -> str:
        return "\n".join(f"{key} {args}" for key, args in self.instructions)


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuation lines joined, comments dropped (also
    those between continuation lines, as Docker drops them)."""
    result, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        result.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def stages(text: str) -> list[Stage]:
    found: list[Stage] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            parts = [p for p in args.split() if not p.startswith("--platform")]
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            found.append(Stage(image=parts[0], name=name))
        elif found:
            found[-1].instructions.append((keyword, args))
    return found


def shell_commands(run: str) -> list[list[str]]:
    """A RUN line's commands, split at && ; and |."""
    return [shlex.split(part) for part in re.split(r"&&|;|\|", run) if part.strip()]


def pip_commands(stage: Stage) -> list[list[str]]:
    """Every `pip ...` / `python -m pip ...` command of the stage, from `pip` on."""
    found = []
    for run in stage.all("RUN"):
        for argv in shell_commands(run):
            for i, word in enumerate(argv):
                if word == "pip" or word.endswith("/pip") or (word == "-m" and argv[i + 1 : i + 2] == ["pip"]):
                    found.append(argv[i + 1 :] if word == "-m" else argv[i:])
                    break
    return found


@pytest.fixture(scope="module")
def dockerfile() -> list[Stage]:
    return stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final(dockerfile) -> Stage:
    return dockerfile[-1]


# --- stages -------------------------------------------------------------------------------------


def test_reader_sees_continued_lines_and_stages():
    # the reader itself, on a Dockerfile whose answers are known
    sample = "# c\nARG V=1\nFROM a:${V} AS b\nRUN x \\\n  # inner\n  && y\nFROM a:${V}\nUSER 1:2\n"
    parsed = stages(sample)
    assert [(s.image, s.name) for s in parsed] == [("a:${V}", "b"), ("a:${V}", None)]
    assert parsed[0].instructions == [("RUN", "x && y")]
    assert parsed[1].all("USER") == ["1:2"]


def test_image_is_multi_stage_and_the_final_stage_takes_only_the_virtualenv(dockerfile, final):
    assert len(dockerfile) >= 2
    builder = dockerfile[0]
    assert builder.name == "builder"
    copies = final.all("COPY") + final.all("ADD")
    # the final stage copies nothing from the build context (no source, no tests, no lock): only the venv
    assert copies == [f"--from=builder {VENV} {VENV}"]
    assert any(f"venv {VENV}" in args for args in builder.all("RUN"))
    assert f"PATH={VENV}/bin:" in " ".join(final.all("ENV"))


def test_both_stages_use_the_same_base_a_build_argument_names(dockerfile, final):
    # The virtualenv's interpreter link points into the base image, so the bases must be the
    # same; the default is the public slim image (the full python image ships gcc and the -dev
    # packages), and scripts/image.sh passes its Debian base instead.
    assert {stage.image for stage in dockerfile} == {final.image} == {"${BASE_IMAGE}"}
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.M).group(1)
    match = re.fullmatch(r"python:(\d+\.\d+)-slim(-[a-z]+)?", default)
    assert match, default
    minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, match.group(1).split("."))) >= tuple(map(int, minimum.split(".")))


def test_only_python3_is_called_so_a_debian_base_works_too(dockerfile):
    # Debian's python3 package has no `python` command and no pip; a venv's own python is fine.
    for stage in dockerfile:
        for run in stage.all("RUN"):
            for argv in shell_commands(run):
                words = [w for w in argv if w not in ("if", "then", "fi", "else", "!")]
                assert not words or words[0] != "python", f"RUN {run}: Debian's base has no `python`"
                assert not words or words[0] not in ("pip", "pip3"), f"RUN {run}: Debian's base has no pip"


def test_final_stage_runs_as_a_numeric_non_root_user(final):
    users = final.all("USER")
    assert users, "the final stage sets no USER: the image would run as root"
    user = users[-1]
    assert re.fullmatch(r"\d+(:\d+)?", user), (
        f"USER {user}: the kubelet can only verify runAsNonRoot for a numeric user"
    )
    assert all(int(part) != 0 for part in user.split(":"))
    # and nothing after it switches back
    keywords = [key for key, _ in final.instructions]
    assert "RUN" not in keywords[keywords.index("USER") :]


def test_no_build_tools_package_managers_or_pip_caches_in_the_final_stage(dockerfile, final):
    text = final.text()
    for tool in BUILD_TOOLS:
        assert tool not in text, f"{tool!r} in the final stage"
    # the final stage installs nothing: its only pip command removes pip
    assert all(argv[1] == "uninstall" for argv in pip_commands(final))
    assert "--mount=type=cache" not in text
    # the builder needs no compiler either: binary wheels only, and pip keeps no cache
    builder = dockerfile[0]
    for tool in BUILD_TOOLS:
        assert tool not in builder.text(), f"{tool!r} in the builder stage"
    assert "PIP_NO_CACHE_DIR=1" in " ".join(builder.all("ENV"))
    from_lock = [argv for argv in pip_commands(builder) if argv[1] == "install" and "--requirement" in argv]
    assert from_lock and all("--only-binary=:all:" in argv for argv in from_lock)
    # and the virtualenv holds no pip when it is copied into the final stage
    assert any(argv[1] == "uninstall" and "pip" in argv[2:] for argv in pip_commands(builder))


def test_pip_settings_for_the_build_stay_in_the_builder(dockerfile, final):
    """The index and CA settings scripts/image.sh passes are build arguments of the builder
    only: an ARG of the final stage would be in the pushed image's history."""
    builder_args = {a.split("=")[0] for a in dockerfile[0].all("ARG")}
    assert {"PIP_INDEX_URL", "PIP_CERT"} <= builder_args
    assert not [a for a in final.all("ARG") if a.startswith("PIP_")]
    assert "PIP_" not in " ".join(final.all("ENV"))


def test_runtime_dependencies_come_from_the_lock_verified_by_hash(dockerfile):
    """The dependencies are installed from operator/requirements.lock alone (which
    tests/unit/test_lock.py keeps true to pyproject.toml), every file checked against its hash;
    Ballast itself from the wheel the builder made, without dependencies of its own, then
    `pip check` proves the lock satisfies what the wheel requires."""
    dependency_names = {
        re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower()
        for d in PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["all"]
    }
    builder = dockerfile[0]
    installs = [argv for argv in pip_commands(builder) if argv[1] == "install"]
    options_with_value = {"--wheel-dir", "-w", "--find-links", "-f", "--only-binary", "--no-binary"}
    targets, requirement_files = [], []
    for argv in installs + [argv for argv in pip_commands(builder) if argv[1] == "wheel"]:
        words = iter(argv[2:])
        for word in words:
            if word in options_with_value:
                next(words)
            elif word in ("-r", "--requirement"):
                requirement_files.append(next(words))
                assert "--require-hashes" in argv, f"pip {' '.join(argv[1:])}: without --require-hashes"
            elif word in ("-c", "--constraint"):
                pytest.fail(f"pip {' '.join(argv[1:])}: constraints are not checked against hashes")
            elif not word.startswith("-"):
                targets.append(word)
    assert sorted(requirement_files) == sorted(LOCKS)
    assert set(targets) == {".", "ballast-operator[all]"}, targets
    assert not {t.lower() for t in targets} & dependency_names
    # Ballast with the image's extra, from its wheel alone: nothing more can come from an index,
    # so a dependency the lock lacks fails the build
    (own,) = [argv for argv in installs if "ballast-operator[all]" in argv]
    assert "--no-index" in own and own[own.index("--find-links") + 1] == "/wheels" and "--no-deps" not in own
    assert ["pip", "check"] in pip_commands(builder)
    # the lock is installed (and its layer cached) before Ballast's source enters the build
    copies = builder.all("COPY")
    lock_copy = next(i for i, c in enumerate(copies) if "operator/requirements.lock" in c)
    source_copy = next(i for i, c in enumerate(copies) if "operator/ballast/" in c)
    assert lock_copy < source_copy
    keywords = [(k, a) for k, a in builder.instructions]
    lock_install = next(i for i, (k, a) in enumerate(keywords) if k == "RUN" and "requirements.lock" in a)
    assert lock_install < keywords.index(("COPY", copies[source_copy]))


def test_entry_point_is_the_ballast_command_with_every_role(final):
    assert final.all("ENTRYPOINT") == ['["ballast"]']
    assert PYPROJECT["project"]["scripts"]["ballast"] == "ballast.cli:main"
    assert {"operator", "ingest", "train", "serve"} <= set(ballast_cli.commands)


@pytest.mark.tools
def test_charts_default_users_are_the_images_user(final):
    uid, _, gid = final.all("USER")[-1].partition(":")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["operator"]["runAsUser"] == values["workloads"]["runAsUser"] == int(uid) == int(gid)
    assert DEFAULT_USER_ID == int(uid)  # the operator's own default for the pods it creates
    (deployment,) = find(rendered(), "Deployment")
    security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"], security["runAsNonRoot"]) == (int(uid), int(gid), True)


# --- .dockerignore ------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Docker's patternmatcher reads it: Go's filepath.Match plus
    `**` for any number of directories."""
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]"
            i = end
        elif char == "\\":
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(f"^{out}$")


def dockerignore_patterns(text: str) -> list[tuple[bool, re.Pattern]]:
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        cleaned = str(Path(line.removeprefix("!").strip().lstrip("/")))
        patterns.append((exclusion, _pattern_regex(cleaned)))
    return patterns


def ignored(path: str, patterns) -> bool:
    """True when the path is left out of the build context: the last pattern that matches the
    path or one of its parent directories decides (patternmatcher.MatchesOrParentMatches)."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    matched = False
    for exclusion, regex in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            matched = not exclusion
    return matched


@pytest.fixture(scope="module")
def patterns():
    return dockerignore_patterns(DOCKERIGNORE.read_text())


def test_dockerignore_reader_follows_dockers_rules():
    rules = dockerignore_patterns("*\n!src/\n**/__pycache__\nsrc/secret.txt\n!src/secret.txt\n*.md\n")
    assert ignored("tests/x.py", rules) and ignored(".git/HEAD", rules)
    assert not ignored("src/a/b.py", rules)
    assert ignored("src/a/__pycache__/b.pyc", rules)
    assert not ignored("src/secret.txt", rules)  # the last matching pattern wins
    assert ignored("README.md", rules)


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "tests/unit/test_chart.py",
        "tests/conftest.py",
        "operator/ballast/__pycache__/cli.cpython-311.pyc",
        "operator/ballast/api/__pycache__/crd.cpython-312.pyc",
        ".pytest_cache/v/cache/lastfailed",
        ".hypothesis/constants/0",
        "operator/ballast.egg-info/PKG-INFO",
        "charts/ballast/values.yaml",
        "manifests/base/kustomization.yaml",
        "benchmarks/train_fit.py",
        "operator/Dockerfile",
        "crds/datasets.ballast.dev.yaml",
        "operator/constraints.txt",
        "scripts/image.sh",
    ],
)
def test_dockerignore_leaves_out(path, patterns):
    assert ignored(path, patterns)


def _context_files(patterns) -> list[str]:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(f for f in files if (REPO / f).is_file() and not ignored(f, patterns))


def test_build_context_is_the_package_and_the_files_pyproject_names(patterns):
    context = _context_files(patterns)
    assert {"pyproject.toml", PYPROJECT["project"]["readme"]} <= set(context)
    package = sorted(
        str(p.relative_to(REPO)) for p in (REPO / "operator" / "ballast").rglob("*.py") if "__pycache__" not in p.parts
    )
    assert set(package) <= set(context)
    assert set(context) - set(package) == {"pyproject.toml", "README.md", *LOCKS}


def test_every_copy_from_the_context_is_in_it(dockerfile, patterns):
    for stage in dockerfile:
        for args in stage.all("COPY"):
            if args.startswith("--from="):
                continue
            *sources, _destination = args.split()
            for source in sources:
                assert (REPO / source).exists(), source
                assert not ignored(source.rstrip("/"), patterns), f"COPY {source}: .dockerignore leaves it out"


def test_the_build_context_builds_ballasts_wheel(patterns, tmp_path):
    """The builder's wheel of Ballast, for real: `pip wheel --no-deps .` on exactly the files the
    context holds. It fails when .dockerignore leaves out something the build needs, and the
    wheel must carry the `ballast` command and pyproject.toml's dependencies."""
    context = tmp_path / "context"
    for relative in _context_files(patterns):
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, context / relative)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "wheels").glob("ballast_operator-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "ballast/cli.py" in names and "ballast/runtime/serve.py" in names
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
    assert re.search(r"^ballast = ballast\.cli:main$", entry_points, re.M)
    required = {Requirement(r) for r in metadata.get_all("Requires-Dist") if "extra ==" not in r}
    assert required == {Requirement(d) for d in PYPROJECT["project"]["dependencies"]}
    # the distribution's own name and the one version, ballast.__version__
    assert (metadata["Name"], metadata["Version"]) == ("ballast-operator", ballast.__version__)
    assert {"cli", "all"} <= set(metadata.get_all("Provides-Extra"))
