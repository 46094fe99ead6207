"""List-then-watch loops that survive API server restarts, expired resource versions and
dropped connections, handing every object to a callback as a plain dict."""

from __future__ import annotations

import json
import logging
import threading
from typing import Callable

from kubernetes import watch
from kubernetes.client.rest import ApiException

log = logging.getLogger(__name__)

# The server ends each watch after WATCH_SECONDS; a client-side read timeout a little longer
# catches a connection that silently stopped delivering anything.
WATCH_SECONDS = 60
LIST_TIMEOUT_SECONDS = 30

Handler = Callable[[str, dict], None]  # (event type: ADDED/MODIFIED/DELETED/SYNC, object)


def run_informer(name: str, list_func: Callable, handler: Handler, stop: threading.Event,
                 *, on_relist: Callable[[set[str]], None] | None = None, **list_kwargs) -> None:
    """Keeps `handler` fed until `stop` is set.

    After each (re-)list every current object is delivered as SYNC, and `on_relist` gets the
    uids that exist, so callers can forget objects deleted while the watch was down.
    """
    backoff = 1.0
    while not stop.is_set():
        try:
            listing = list_func(_preload_content=False, _request_timeout=LIST_TIMEOUT_SECONDS, **list_kwargs)
            data = _json(listing)
            resource_version = data["metadata"]["resourceVersion"]
            uids = set()
            for item in data.get("items", []):
                uids.add(item["metadata"]["uid"])
                handler("SYNC", item)
            if on_relist:
                on_relist(uids)
            backoff = 1.0
            resource_version = _watch(name, list_func, handler, stop, resource_version, list_kwargs)
        except Exception as error:  # the API server may be restarting; list again shortly
            if stop.is_set():
                return
            log.warning("%s: list/watch failed (%s); retrying in %.0fs", name, _short(error), backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)


def _watch(name, list_func, handler, stop, resource_version, list_kwargs) -> str:
    while not stop.is_set():
        stream = watch.Watch()
        try:
            for event in stream.stream(list_func, resource_version=resource_version,
                                       timeout_seconds=WATCH_SECONDS, allow_watch_bookmarks=True,
                                       _request_timeout=WATCH_SECONDS + 30, **list_kwargs):
                if stop.is_set():
                    stream.stop()
                    return resource_version
                kind = event["type"]
                obj = event["raw_object"]
                if kind == "ERROR":
                    code = obj.get("code")
                    if code == 410:  # resource version too old: start over with a list
                        raise _Expired()
                    raise RuntimeError(f"watch error {obj}")
                resource_version = obj["metadata"].get("resourceVersion", resource_version)
                if kind == "BOOKMARK":
                    continue
                handler(kind, obj)
        except ApiException as error:
            if error.status == 410:
                raise _Expired() from error
            raise
    return resource_version


class _Expired(Exception):
    pass


def _json(response) -> dict:
    return json.loads(response.data)


def _short(error: Exception) -> str:
    text = str(error).replace("\n", " ")
    return text[:200]

