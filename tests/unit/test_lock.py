"""operator/requirements.lock (the image's dependencies), operator/build-requirements.lock (the
backend that builds Ballast's wheel in the image) and operator/constraints.txt (the same pins
for the dev virtualenv) against pyproject.toml, offline: `make lock` writes all three with
`uv pip compile --universal --generate-hashes`, and these tests fail when pyproject.toml has
changed since in a way the locks no longer follow. The build (`pip install --require-hashes`,
then `pip check`) is the judge of the transitive dependencies, which need the index to know."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.kube import REPO

LOCK = REPO / "operator" / "requirements.lock"
BUILD_LOCK = REPO / "operator" / "build-requirements.lock"
CONSTRAINTS = REPO / "operator" / "constraints.txt"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
DISTRIBUTION = PYPROJECT["project"]["name"]
FROM_PYPROJECT = f"{DISTRIBUTION} (pyproject.toml)"
# what the image installs, and so what the lock is compiled for (scripts/image.sh lock)
IMAGE_EXTRA = "all"

# The interpreters the image is built on (Debian bookworm's python3, the python:3.12-slim
# default) on both architectures a cluster node is likely to have.
ENVIRONMENTS = [
    {
        "python_version": py,
        "python_full_version": f"{py}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    for py in ("3.11", "3.12")
    for machine in ("x86_64", "aarch64")
]


@dataclass
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)

    def applies(self, environment: dict) -> bool:
        return self.marker is None or self.marker.evaluate(environment)


def parse_lock(text: str) -> list[Pin]:
    """uv's requirements format: `name==version [; marker] \\`, `--hash=sha256:...` lines, then
    `# via x` or `# via` and one `#   x` line per dependent."""
    pins: list[Pin] = []
    in_via = False
    for line in text.splitlines():
        stripped = line.strip().removesuffix("\\").strip()
        if not stripped:
            continue
        if not line.startswith((" ", "#")):
            requirement = Requirement(stripped)
            (spec,) = requirement.specifier
            assert spec.operator == "==", line
            pins.append(Pin(canonicalize_name(requirement.name), Version(spec.version), requirement.marker))
            in_via = False
        elif stripped.startswith("--hash="):
            pins[-1].hashes.append(stripped.removeprefix("--hash="))
        elif pins and stripped.startswith("# via"):
            rest = stripped.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                pins[-1].via.add(rest)
        elif pins and in_via and stripped.startswith("#   "):
            pins[-1].via.add(stripped.removeprefix("#   ").strip())
    return pins


def stale(requirements: list[str], requires_python: str | None, pins: list[Pin], *, direct_via: bool) -> list[str]:
    """What makes the lock stale for these requirements: one missing, or pinned outside its
    specifier, or pinned twice, for any of the ENVIRONMENTS; a pin without sha256 hashes; and
    (direct_via) a pin the lock says pyproject.toml asked for that it no longer does."""
    problems = []
    wanted = [Requirement(r) for r in requirements]
    for environment in ENVIRONMENTS:
        if requires_python and not Requirement(f"python{requires_python}").specifier.contains(
            environment["python_version"]
        ):
            continue
        for requirement in wanted:
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            name = canonicalize_name(requirement.name)
            chosen = [p for p in pins if p.name == name and p.applies(environment)]
            where = f"Python {environment['python_version']} {environment['platform_machine']}"
            if len(chosen) != 1:
                problems.append(f"{requirement}: {len(chosen)} pins for {where}")
            elif not requirement.specifier.contains(chosen[0].version, prereleases=True):
                problems.append(f"{requirement}: pinned to {chosen[0].version} for {where}")
    for pin in pins:
        if not pin.hashes or not all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes):
            problems.append(f"{pin.name}=={pin.version}: no sha256 hashes")
    if direct_via:
        names = {canonicalize_name(r.name) for r in wanted}
        for pin in pins:
            if FROM_PYPROJECT in pin.via and pin.name not in names:
                problems.append(f"{pin.name}: locked as a dependency pyproject.toml no longer has")
    return sorted(set(problems))


def without_hashes(lock_text: str) -> list[str]:
    """The lock's requirement lines, as constraints.txt must hold them."""
    lines = []
    for line in lock_text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "--hash=")):
            lines.append(stripped.removesuffix("\\").strip())
    return lines


@pytest.fixture(scope="module")
def pins() -> list[Pin]:
    return parse_lock(LOCK.read_text())


def with_extras(project: dict, extras: list[str]) -> list[str]:
    """The project's dependencies plus those of extras, an extra that names the project itself
    (`ballast-operator[cli]`) replaced by that extra's own."""
    requirements = list(project["dependencies"])
    for extra in extras:
        for entry in project["optional-dependencies"][extra]:
            requirement = Requirement(entry)
            if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
                requirements += with_extras({**project, "dependencies": []}, sorted(requirement.extras))
            else:
                requirements.append(entry)
    return requirements


def runtime_problems(pyproject: dict, pins: list[Pin]) -> list[str]:
    project = pyproject["project"]
    return stale(with_extras(project, [IMAGE_EXTRA]), project["requires-python"], pins, direct_via=True)


def test_lock_pins_every_dependency_of_pyproject_with_hashes(pins):
    assert runtime_problems(PYPROJECT, pins) == [], "operator/requirements.lock is stale: run make lock"


def test_lock_covers_the_images_pythons_and_architectures(pins):
    # numpy and scipy drop 3.11 before the rest; the lock must still give 3.11 (Debian's) one.
    for environment in ENVIRONMENTS:
        names = [p.name for p in pins if p.applies(environment)]
        assert len(names) == len(set(names)), f"a package pinned twice for {environment['python_version']}"
        assert {"numpy", "scipy", "scikit-learn", "pyarrow", "kopf"} <= set(names)
    # and it is the whole graph: everything in it is there because of something else in it
    names = {p.name for p in pins}
    for pin in pins:
        assert pin.via, f"{pin.name}: nothing in the lock needs it"
        assert all(v == FROM_PYPROJECT or canonicalize_name(v) in names for v in pin.via), pin


@pytest.mark.parametrize(
    "change",
    [
        lambda deps: deps + ["requests-toolbelt>=1"],  # a new dependency
        lambda deps: [d for d in deps if not d.startswith("skops")],  # one removed
        lambda deps: [("kopf>=99" if d.startswith("kopf") else d) for d in deps],  # a raised floor
        lambda deps: [("scipy<1.0" if d.startswith("scipy") else d) for d in deps],  # a new ceiling
    ],
)
def test_a_changed_pyproject_makes_the_lock_stale(pins, change):
    # the staleness check itself, on pyproject.toml changes it must notice
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    changed = {
        "project": {**project, "optional-dependencies": {**extras, IMAGE_EXTRA: change(list(extras[IMAGE_EXTRA]))}}
    }
    assert runtime_problems(changed, pins)


def test_the_image_extra_holds_the_cli_extra_and_the_sdk():
    requirements = {canonicalize_name(Requirement(r).name) for r in with_extras(PYPROJECT["project"], [IMAGE_EXTRA])}
    assert {"click", "pydantic", "kubernetes", "scikit-learn", "kopf"} <= requirements


def test_parser_reads_markers_hashes_and_via():
    sample = (
        "# header\nnumpy==2.0.0 ; python_full_version < '3.12' \\\n    --hash=sha256:" + "a" * 64 + "\n"
        "    # via\n    #   ballast-operator (pyproject.toml)\n    #   scipy\nscipy==1.0 \\\n    --hash=sha256:"
        + "b" * 64
        + "\n    # via ballast-operator (pyproject.toml)\n"
    )
    numpy, scipy = parse_lock(sample)
    assert (numpy.name, str(numpy.version), numpy.via) == ("numpy", "2.0.0", {FROM_PYPROJECT, "scipy"})
    assert numpy.applies(ENVIRONMENTS[0]) and not numpy.applies(ENVIRONMENTS[-1])
    assert scipy.via == {FROM_PYPROJECT} and len(scipy.hashes) == 1
    assert without_hashes(sample) == ["numpy==2.0.0 ; python_full_version < '3.12'", "scipy==1.0"]


def test_build_lock_pins_pyprojects_build_backend_with_hashes():
    pins = parse_lock(BUILD_LOCK.read_text())
    assert (
        stale(PYPROJECT["build-system"]["requires"], PYPROJECT["project"]["requires-python"], pins, direct_via=False)
        == []
    ), "operator/build-requirements.lock is stale: run make lock"


def test_constraints_are_the_locks_pins_without_hashes():
    # pip treats a hashed constraints file as --require-hashes, which an editable install cannot
    # meet; so the dev virtualenv reads the same pins from constraints.txt.
    assert without_hashes(CONSTRAINTS.read_text()) == without_hashes(LOCK.read_text()), (
        "operator/constraints.txt differs from operator/requirements.lock: run make lock"
    )
