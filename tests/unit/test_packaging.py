"""The package layout promises: `ballast` imports from operator/, `operator` stays the stdlib's."""

import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.support.kube import REPO


def _import_operator_from(cwd: Path, extra_path: str = "") -> str:
    code = (
        f"import sys; sys.path[:0] = [{extra_path!r}] if {extra_path!r} else []; "
        "import operator; print(operator.__file__)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_operator_directory_has_no_init_file():
    assert not (REPO / "operator" / "__init__.py").exists()


def test_import_operator_gives_the_standard_library_from_the_repository_root():
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    found = Path(_import_operator_from(REPO)).resolve()
    assert found.parent == stdlib, found


def test_import_operator_gives_the_standard_library_even_with_the_root_on_sys_path():
    # pytest's rootdir insertion puts the repository root first on sys.path
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    found = Path(_import_operator_from(REPO / "tests", extra_path=str(REPO))).resolve()
    assert found.parent == stdlib, found


def test_ballast_imports_from_the_operator_directory():
    import ballast

    assert Path(ballast.__file__).resolve().parent == REPO / "operator" / "ballast"


def test_console_command_lists_the_operator_subcommand():
    ballast = Path(sys.executable).parent / "ballast"
    result = subprocess.run([str(ballast), "--help"], capture_output=True, text=True, check=True)
    assert "operator" in result.stdout
