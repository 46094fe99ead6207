"""Keeps the operator's resident memory close to what it really holds.

The operator's heap swells in bursts (thousands of watch events parsed at once on a start or a
resync) and then shrinks, but glibc keeps the freed pages: the scale benchmark measured 440 MiB
resident of which malloc_trim gave back 166 MiB. Two glibc knobs, through ctypes because
Python has no API for them: fewer malloc arenas (one per thread by default, each fragmenting on
its own) and a periodic malloc_trim. On a C library other than glibc both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    # once: find_library runs ldconfig in a subprocess, too much for every trim
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """At most `arenas` malloc arenas for threads started from now on; False without glibc."""
    libc = _glibc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, arenas) == 1)


def trim_freed_memory() -> bool:
    """Returns freed heap pages to the system; False without glibc (or when nothing was freed)."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0) == 1)


def start_trimming(every_seconds: float) -> threading.Event:
    """A daemon thread trimming every `every_seconds` (a few milliseconds each); set the
    returned event to stop it."""
    stop = threading.Event()

    def trim_until_stopped() -> None:
        while not stop.wait(every_seconds):
            trim_freed_memory()

    threading.Thread(target=trim_until_stopped, name="malloc-trim", daemon=True).start()
    return stop
