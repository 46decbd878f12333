import subprocess
import sys
from pathlib import Path

import ci_release_demo


def test_runs_from_the_installed_wheel():
    assert "site-packages" in Path(ci_release_demo.__file__).parts


def test_version_and_package_data():
    script = Path(sys.executable).with_name("ci-release-demo")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ci_release_demo.__version__
    assert subprocess.run([script], capture_output=True, text=True, check=True).stdout == (
        "hello from the wheel\n"
    )
