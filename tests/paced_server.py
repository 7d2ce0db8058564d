"""``python -m app`` with every OpenCV Telea fill held for at least TEST_FILL_SECONDS.

Fault tests need jobs that are mid-run when the fault hits. How long a real fill takes depends
on the machine and on how fast the backend has become, so the tests pace the fill instead of
sizing an image for it: the real backend still runs, then the job waits out the rest of the
pace inside the fill, holding its lease like any slow inference would.
"""

from __future__ import annotations

import os
import sys
import time

from app.inpainting.backends.opencv import OpenCVBackend

FILL_SECONDS = float(os.environ["TEST_FILL_SECONDS"])
_real_inpaint = OpenCVBackend.inpaint


def _paced_inpaint(self, image, mask, params):  # type: ignore[no-untyped-def]
    began = time.monotonic()
    result = _real_inpaint(self, image, mask, params)
    time.sleep(max(0.0, FILL_SECONDS - (time.monotonic() - began)))
    return result


OpenCVBackend.inpaint = _paced_inpaint  # type: ignore[method-assign]

if __name__ == "__main__":
    from app.__main__ import main

    sys.exit(main())
