"""Client: create, apply, get, list, watch, wait for and delete Ballast objects from Python.

Every call takes and returns the typed objects of ballast.api.objects; API errors come back as
the exceptions of ballast.client.errors, never as the kubernetes client's ApiException.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import urllib3.exceptions
from kubernetes import client as k8s
from kubernetes import config, watch
from kubernetes.client.exceptions import ApiException

from ballast.api.kinds import GROUP, VERSION
from ballast.api.objects import BallastObject
from ballast.client.errors import (
    ApiError,
    BallastError,
    ConfigError,
    Unreachable,
    WaitFailed,
    WaitTimeout,
    error_from_response,
)
from ballast.client.waiting import Target, failure
from ballast.conditions import ConditionType
from ballast.kubeconfig import context_namespace, pod_namespace
from ballast.reasons.modelversion import Stage

# The field manager of what a person or a notebook applies: `kubectl get -o yaml
# --show-managed-fields` tells their fields from the operator's ("ballast").
FIELD_MANAGER = "ballast-sdk"

ObjectT = TypeVar("ObjectT", bound=BallastObject[Any, Any])


@dataclass(frozen=True)
class WatchEvent(Generic[ObjectT]):
    type: str  # ADDED, MODIFIED or DELETED
    object: ObjectT


class Client:
    """One cluster and namespace. `Client()` uses the kubeconfig's current context (or, in a
    pod, its service account); kubeconfig and context pick others, as kubectl's flags do."""

    def __init__(
        self,
        namespace: str | None = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        field_manager: str = FIELD_MANAGER,
        api_client: k8s.ApiClient | None = None,
    ):
        if api_client is None:
            api_client, default_namespace = _connect(kubeconfig, context)
        else:
            default_namespace = "default"
        self.namespace = namespace or default_namespace
        self.field_manager = field_manager
        self._api = k8s.CustomObjectsApi(api_client)

    # --- writes --------------------------------------------------------------------------------

    def apply(self, obj: ObjectT, *, force: bool = True) -> ObjectT:
        """Server-side apply: create obj or bring its spec, labels and annotations to what obj
        declares, owning those fields as this client's field manager. force takes fields over
        from another manager (as kubectl apply --server-side --force-conflicts); without it
        such a field raises Conflict."""
        manifest = obj.for_apply(self.namespace)
        body = self._call(
            self._api.patch_namespaced_custom_object,
            type(obj),
            manifest["metadata"]["namespace"],
            obj.name,
            manifest,
            field_manager=self.field_manager,
            force=force,
            _content_type="application/apply-patch+yaml",
        )
        return type(obj).model_validate(body)

    def create(self, obj: ObjectT) -> ObjectT:
        """Create obj; AlreadyExists when the name is taken."""
        manifest = obj.for_apply(self.namespace)
        body = self._call(
            self._api.create_namespaced_custom_object,
            type(obj),
            manifest["metadata"]["namespace"],
            None,
            manifest,
            field_manager=self.field_manager,
        )
        return type(obj).model_validate(body)

    def delete(self, kind: type[ObjectT], name: str, *, namespace: str | None = None) -> None:
        """Delete one object; NotFound when it does not exist."""
        self._call(self._api.delete_namespaced_custom_object, kind, namespace or self.namespace, name)

    # --- reads ---------------------------------------------------------------------------------

    def get(self, kind: type[ObjectT], name: str, *, namespace: str | None = None) -> ObjectT:
        """The object as the API server has it now; NotFound when it does not exist."""
        return kind.model_validate(
            self._call(self._api.get_namespaced_custom_object, kind, namespace or self.namespace, name)
        )

    def list(
        self, kind: type[ObjectT], *, namespace: str | None = None, label_selector: str | None = None
    ) -> list[ObjectT]:
        body = self._call(
            self._api.list_namespaced_custom_object,
            kind,
            namespace or self.namespace,
            None,
            label_selector=label_selector or "",
        )
        return [kind.model_validate(item) for item in body["items"]]

    def watch(
        self,
        kind: type[ObjectT],
        name: str | None = None,
        *,
        namespace: str | None = None,
        timeout: float | None = None,
        resource_version: str | None = None,
    ) -> Iterator[WatchEvent[ObjectT]]:
        """Changes to objects of kind (only name's, if given) as they happen, for timeout
        seconds (None: until the caller stops iterating). Without resource_version the current
        objects come first, as ADDED."""
        namespace = namespace or self.namespace
        arguments: dict[str, Any] = {"field_selector": f"metadata.name={name}"} if name else {}
        if timeout is not None:
            arguments["timeout_seconds"] = max(1, int(timeout))
        if resource_version:
            arguments["resource_version"] = resource_version
        stream = watch.Watch().stream(
            self._api.list_namespaced_custom_object, GROUP, VERSION, namespace, kind.info.plural, **arguments
        )
        try:
            for event in stream:
                if event["type"] == "ERROR":
                    raw = event["raw_object"] or {}
                    raise error_from_response(raw.get("code", 500), json.dumps(raw), _what(kind, name, namespace))
                yield WatchEvent(event["type"], kind.model_validate(event["raw_object"]))
        except (ApiException, urllib3.exceptions.HTTPError) as error:
            raise _translated(error, _what(kind, name, namespace)) from None

    def wait_for(
        self,
        kind: type[ObjectT],
        name: str,
        *,
        condition: str | None = ConditionType.READY,
        status: str = "True",
        stage: Stage | str | None = None,
        namespace: str | None = None,
        timeout: float = 300,
    ) -> ObjectT:
        """Wait until name has condition=status (and, for a ModelVersion, stage), watching rather
        than polling; the object as it then is. WaitFailed as soon as it fails for good (Stalled,
        Succeeded=False, stage Failed), WaitTimeout after timeout seconds. condition=None waits
        for the stage alone; an object not yet created is waited for too."""
        target = Target(condition=condition, status=status, stage=Stage(stage) if stage else None)
        deadline = time.monotonic() + timeout
        last: ObjectT | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    f"{_what(kind, name, namespace or self.namespace)}: not {target.describe()} within {timeout:g}s",
                    last,
                )
            body = self._call(
                self._api.list_namespaced_custom_object,
                kind,
                namespace or self.namespace,
                None,
                field_selector=f"metadata.name={name}",
            )
            items = [kind.model_validate(item) for item in body["items"]]
            for obj in items:
                last = self._judge(obj, target)
                if last is None:
                    return obj
            try:
                for event in self.watch(
                    kind,
                    name,
                    namespace=namespace,
                    timeout=deadline - time.monotonic(),
                    resource_version=body["metadata"]["resourceVersion"],
                ):
                    if event.type == "DELETED":
                        last = None
                        continue
                    last = self._judge(event.object, target)
                    if last is None:
                        return event.object
            except ApiError as error:
                if error.status != 410:  # the watch's resourceVersion is too old: list again
                    raise

    @staticmethod
    def _judge(obj: ObjectT, target: Target) -> ObjectT | None:
        """None when obj has reached target; obj itself while it still may; WaitFailed if not."""
        if target.reached(obj):
            return None
        why = failure(obj, target)
        if why:
            raise WaitFailed(f"{obj.info.kind} {obj.name}: {why}", obj)
        return obj

    # --- the one place API errors are translated -----------------------------------------------

    @staticmethod
    def _call(method: Any, kind: Any, namespace: str, name: str | None, *args: Any, **kwargs: Any) -> Any:
        """method on kind's resource in namespace (on the object name, when given)."""
        try:
            response = method(
                GROUP,
                VERSION,
                namespace,
                kind.info.plural,
                *([name] if name else []),
                *args,
                # the answer as the JSON it is: the client deserializes some answers (an apply's)
                # to None
                _preload_content=False,
                **kwargs,
            )
            return json.loads(response.data or b"{}")
        except (ApiException, urllib3.exceptions.HTTPError) as error:
            raise _translated(error, _what(kind, name, namespace)) from None


def _translated(error: Exception, what: str) -> BallastError:
    if isinstance(error, ApiException):
        return error_from_response(error.status or 0, error.body, what)
    return Unreachable(f"the API server did not answer: {error}")


def _what(kind: Any, name: str | None, namespace: str) -> str:
    label = kind.info.kind if name else kind.info.plural
    return f"{label} {name or ''} in namespace {namespace}".replace("  ", " ")


def _connect(kubeconfig: str | None, context: str | None) -> tuple[k8s.ApiClient, str]:
    """An API client and the namespace to default to, from the kubeconfig (KUBECONFIG or
    ~/.kube/config, or the path given) or, failing that in a pod, its service account."""
    try:
        api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        return api_client, context_namespace(kubeconfig, context) or "default"
    except (config.ConfigException, FileNotFoundError) as error:
        if kubeconfig is None and context is None:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                pass
            else:
                if namespace := pod_namespace():
                    return k8s.ApiClient(), namespace
        raise ConfigError(f"no usable kubeconfig: {error}") from None


__all__ = ["FIELD_MANAGER", "Client", "WatchEvent"]
