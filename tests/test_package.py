"""The package's public surface: every advertised name resolves, and `import jcolbert` stays light."""

import subprocess
import sys

import jcolbert


def test_every_public_name_resolves():
    assert set(jcolbert.__all__) - {"__version__"} == set(jcolbert._LAZY)
    for name in jcolbert.__all__:
        assert getattr(jcolbert, name) is not None


def test_import_does_not_load_torch():
    code = "import sys, jcolbert; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
