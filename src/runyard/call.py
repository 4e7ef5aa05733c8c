"""``python -m runyard.call package.module:function --params JSON ...``: run one call step (see
:mod:`runyard.execute.pycall`)."""

from __future__ import annotations

if __name__ == "__main__":
    import sys

    from runyard.execute.pycall import main

    sys.exit(main())
