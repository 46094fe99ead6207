"""Imports the operator once, then forks a fresh `ballast operator` whenever it is asked to.

    python tests/support/operator_fork_server.py LOG -- operator --namespace ns ...

Commands arrive on stdin, one a line; each is answered with one line on stdout:

    start      fork a child that runs `ballast <args>`, its output appended to LOG; answer: its pid
    reap PID   wait until that child has exited (the test SIGKILLs it); answer: its wait status

Why: a cold start of the operator spends most of its two seconds importing scikit-learn (for
skops). The kill storm restarts the operator a hundred times on a two-core CI machine: cold
starts would cost minutes, and most kills would land in `import` instead of in reconciliation.
A forked child is still a new process: no memory of its predecessor's kopf state, watches or
connections, only the imported modules. Nothing here imports anything but Ballast and the
standard library, so the script runs without the tests on sys.path.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import signal
import sys
import traceback

PR_SET_PDEATHSIG = 1


def run_child(log_path: str, args: list[str]) -> None:
    """In the forked child: the operator, with stdout and stderr in the log. Never returns."""
    code = 1
    try:
        # when the server goes (its test is over, or was killed), the operator goes with it
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        from ballast.cli import main

        main(args=args, prog_name="ballast")
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child must never return into the server's loop
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(log_path: str, args: list[str]) -> int:
    for module in ("ballast.cli", "ballast.controller", "ballast.handlers"):
        importlib.import_module(module)  # the slow part, once, before any fork

    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "start":
            pid = os.fork()
            if pid == 0:
                run_child(log_path, args)
            answer = str(pid)
        elif command == "reap":
            _, status = os.waitpid(int(argument), 0)
            answer = str(status)
        else:
            answer = f"unknown command {command!r}"
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    log_path, separator, *operator_args = sys.argv[1:]
    if separator != "--":
        sys.exit("usage: operator_fork_server.py LOG -- ARGS...")
    sys.exit(serve(log_path, operator_args))
