"""The operator gives freed heap back to the system (glibc's malloc_trim), measured on this
very process: a burst of allocations, freed, leaves resident memory behind until trimmed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ballast.memory import _glibc

PROBE = """
import gc, sys
from ballast.memory import limit_malloc_arenas, trim_freed_memory

def rss_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

assert limit_malloc_arenas()
# parsed watch events: dicts and strings big enough for malloc (pymalloc takes <= 512 bytes),
# and a few survivors pinning the heap's top, as the objects the operator keeps do
burst = [{f"field{k}": "x" * 600 + str(i) for k in range(12)} for i in range(20_000)]
survivors = burst[::500]
del burst
gc.collect()
before = rss_mib()
assert trim_freed_memory()
print(before, rss_mib())
"""


@pytest.mark.skipif(_glibc() is None, reason="malloc_trim is glibc's; this C library has none")
def test_trimming_returns_a_freed_burst_to_the_system():
    before, after = map(
        float, subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout.split()
    )
    assert before - after > 50, f"resident {before:.0f} MiB before the trim, {after:.0f} MiB after"
