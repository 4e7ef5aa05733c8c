"""Without Lightning, importing the integration says what to install (runs whether Lightning is there or not)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_logger_without_lightning_says_what_to_install() -> None:
    code = ("import sys; sys.modules['lightning'] = sys.modules['pytorch_lightning'] = None\n"
            "try:\n    import runyard.integrations.lightning\n"
            "except Exception as err:\n    print(type(err).__name__, err)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout == ("MissingDependency runyard.integrations.lightning needs the optional package 'lightning': "
                           "pip install 'runyard[lightning]'\n")
