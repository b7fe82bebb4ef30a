"""rules/ and templates/ ship inside the wheel and are found outside the checkout."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_rules_and_works_outside_the_checkout(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
         "-q", "-w", str(tmp_path / "dist")],
        check=True, timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("certcheck-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"certcheck/rules/catalog/core.toml", "certcheck/rules/profiles.toml"} <= names
    assert "certcheck/templates/__init__.py" in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, timeout=300,
    )
    code = (
        "import certcheck.catalog as c, sys;"
        "assert 'untrusted_root' in c.load_catalog();"
        "assert 'wechat' in c.load_profiles();"
        "print(c.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(target))
