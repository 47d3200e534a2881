"""Every template passes cfn-lint with no error and no warning."""
import subprocess

from conftest import ROOT


def test_cfn_lint_is_clean():
    templates = sorted(str(p) for p in (ROOT / "stacks").glob("*.yaml"))
    assert len(templates) == 7
    run = subprocess.run(["cfn-lint", *templates], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
