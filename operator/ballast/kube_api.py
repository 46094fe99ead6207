"""The Kubernetes API as JSON: the official client's configuration, authentication, connection
pool and ApiException, without its typed API classes.

Importing the client's typed API classes (CoreV1Api, AppsV1Api, BatchV1Api, NetworkingV1Api,
CustomObjectsApi) imports the pydantic models of every object their methods name, about 340
modules and 11,000 pydantic fields: 31 MiB of the operator's resident memory, for answers it
reads as plain JSON anyway. So the operator names the API's paths itself (they are the stable
REST API that kubectl uses) and sends its requests through the ApiClient those classes would use.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

# Connections kept open to the API server: at least as many as threads that call it at once
# (the reconcile workers, kopf's handler threads, the Lease's thread). With fewer, urllib3
# discards a connection after each burst and opens a new TLS connection for the next request.
API_CONNECTIONS = 24

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@functools.cache
def api_client() -> client.ApiClient:
    """The client every call shares; its configuration becomes the default, which clients made
    elsewhere with client.ApiClient() (the Lease's) start from."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = API_CONNECTIONS
    client.Configuration.set_default(configuration)
    return client.ApiClient()


def path(api_version: str, plural: str, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
    """The REST path of a namespaced collection, or of one object (and its subresource)."""
    root = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    parts = [root, "namespaces", quote(namespace, safe=""), plural]
    if name is not None:
        parts.append(quote(name, safe=""))
    if subresource is not None:
        parts.append(subresource)
    return "/".join(parts)


def request(
    method: str,
    resource_path: str,
    *,
    body: Any = None,
    query: Mapping[str, Any] | None = None,
    content_type: str | None = None,
    accept: str = JSON,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The answer as a plain dict ({} when it is not a JSON object); ApiException for any answer
    outside 2xx, as the typed methods raise it. content_type defaults to JSON, and to a merge
    patch for PATCH."""
    headers = {"Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type or (MERGE_PATCH if method == "PATCH" else JSON)
    api = api_client()
    serialized = api.param_serialize(
        method=method,
        resource_path=resource_path,
        query_params=[(key, value) for key, value in (query or {}).items() if value is not None],
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*serialized, _request_timeout=timeout)
    response.read()
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    document = json.loads(response.data or b"{}")
    return document if isinstance(document, dict) else {}
