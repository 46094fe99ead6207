"""A drift window from Prometheus: what a model version's pods counted between two instants,
as the same `ballast.drift.counters.Window` that scraping the pods gives, without the reference
(the operator keeps the version's own copy: ballast.reference_metrics).

Prometheus keeps every pod's counters, so a window can be read after the fact and survives
pods that came and went; scraping sees only the pods alive at both ends. The queries, all
instant queries at the window's end over a range of the window's length (HTTP API,
/api/v1/query):

    names      /api/v1/label/__name__/values?match[]={selector}   the series the pods export
    counters   sum by (OWN_LABELS) (increase(NAME{selector}[W]))   *_total, *_bucket, *_count
    sums       sum by (OWN_LABELS) (delta(NAME{selector}[W]))      histogram *_sum
    pods       count(last_over_time(ballast_serving_rows_total{selector}[W]))
    restarts   count(resets(ballast_serving_rows_total{selector}[W]) > 0)

selector is {namespace="...", model="...", version="..."}: `namespace` is the label
Prometheus's Kubernetes discovery (and the Prometheus Operator) puts on the pod's series,
`model` and `version` are the server's own (docs/metrics.md).

Labels. The result keeps only the server's own labels of the counted families (OWN_LABELS:
feature, category, le, class, result, true_class, predicted_class, group). Every other label is
summed away: the target labels Prometheus adds (instance, job, pod, namespace, service,
endpoint, container, node, and whatever a setup adds by relabelling, podTargetLabels or
external labels) and model and version. `sum by` rather than `sum without(<target
labels>)` because the target labels depend on the Prometheus setup, while OWN_LABELS is
Ballast's interface, checked against a real server in tests/unit/test_drift_prometheus.py:
a target label that `without` forgot would split the sum per pod, silently. `le` is
re-spelled as the server spells it (Prometheus 3 rewrites it as Go formats floats, e.g.
-2500000.0 becomes -2.5e+06) so it still matches the reference's `bin`.

How it differs from scraping (`counters.window_between`): increase() extrapolates the
first and last samples inside the window to its ends, so with quiet boundaries a count is
the exact one times a factor between 1 and W / (last sample - first sample), at most about
W / (W - 2 scrape intervals); bucket shares (what the drift statistics compare) barely move
because every series of a pod is scaled alike. A window needs two scrapes of a pod inside
it. Counter resets inside the window are compensated by increase(), so `restarted_pods`
counts pods whose counters reset (they are not undercounted, unlike scraping). Histogram
sums use delta(): they fall with negative values, which increase() would take for a reset;
in exchange a pod restarted inside the window makes its sum wrong, and in a window holding a
pod's first samples a sum is extrapolated a little further than its count (increase() stops
extrapolating where a counter would reach zero, delta() does not).
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client.utils import floatToGoString

from ballast.drift.counters import COUNTED_FAMILY_PREFIXES, ROWS, SeriesKey, Window, series_key
from ballast.net.egress import EGRESS_DENIED, EgressDenied, EgressPolicy
from ballast.net.http import Deadline, FetchError, RedirectRefused, TooLarge, open_url, redact_url

OWN_LABELS = ("feature", "category", "le", "class", "result", "true_class", "predicted_class", "group")
"""The labels of the counted families (docs/metrics.md), without model and version."""
NAMESPACE_LABEL = "namespace"
COUNTED_SUFFIXES = ("_total", "_bucket", "_count", "_sum")
DEFAULT_TIMEOUT_SECONDS = 10.0
"""The overall deadline of one window's queries, all of them together."""
MAX_ANSWER_BYTES = 16 << 20
"""The largest answer read (a names list or one vector of a few hundred features' buckets is far less)."""
ERROR_TYPES = frozenset(
    {"timeout", "canceled", "execution", "bad_data", "internal", "unavailable", "not_found", "not_acceptable"}
)
"""Prometheus's errorType values (web/api/v1): a word of this list may be shown, nothing else it answered."""
NAMES_PATTERN = "|".join(re.escape(prefix) + ".+" for prefix in COUNTED_FAMILY_PREFIXES)


class PrometheusError(Exception):
    """Base of every failure to read a window from Prometheus."""

    reason = "PrometheusError"


class PrometheusUnreachable(PrometheusError):
    """No answer: connection refused, DNS, TLS or a timeout."""

    reason = "PrometheusUnreachable"


class PrometheusEgressDenied(PrometheusError):
    """The URL (or an address its host resolves to) is one Ballast does not read (ballast.net.egress)."""

    reason = EGRESS_DENIED


class PrometheusRefused(PrometheusError):
    """An answer Ballast will not read: larger than MAX_ANSWER_BYTES, or a redirect to another
    scheme, host or port (or too many)."""

    reason = "PrometheusRefused"


class PrometheusBadResponse(PrometheusError):
    """An answer that is not a successful API response: an HTTP error, a query error, not JSON,
    or JSON of an unexpected shape (a proxy's login page, another API)."""

    reason = "PrometheusBadResponse"


class PrometheusNoData(PrometheusError):
    """Prometheus answered but holds no counts of the model version in the window: it does not
    scrape the pods, the labels differ, or the window is shorter than two scrape intervals."""

    reason = "PrometheusNoData"


# --- queries (pure) ----------------------------------------------------------------------------


def _quote(value: str) -> str:
    """A PromQL string literal: JSON's escapes are a subset of PromQL's (Go's), and UTF-8 stays
    as it is (JSON would write astral characters as surrogate pairs, which Go refuses)."""
    return json.dumps(value, ensure_ascii=False)


def series_selector(namespace: str, model: str, version: str, *, namespace_label: str = NAMESPACE_LABEL) -> str:
    """The label matchers of one model version's series, inside braces."""
    return (
        "{"
        + ",".join(
            f"{label}={_quote(value)}"
            for label, value in ((namespace_label, namespace), ("model", model), ("version", version))
        )
        + "}"
    )


def names_selector(selector: str) -> str:
    """The series the names query asks for: the counted families."""
    return "{" + f"__name__=~{_quote(NAMES_PATTERN)}," + selector[1:]


def window_range(start: datetime | float, end: datetime | float) -> str:
    """The range of the window in whole milliseconds, e.g. `300000ms` (PromQL's resolution)."""
    milliseconds = round((_seconds(end) - _seconds(start)) * 1000)
    if milliseconds <= 0:
        raise ValueError(f"the window must end after it starts ({start} .. {end})")
    return f"{milliseconds}ms"


def counted_names(names: list[str]) -> list[str]:
    """Which exported names are counts, as `counters.parse_metrics` keeps them: counters' _total
    and histograms' _bucket, _count and _sum. Prometheus keeps no types, so a `_sum` is a
    histogram's only if the same family has a `_count` (servers before the rename to
    ballast_feedback_signed_error exported that gauge as ballast_feedback_error_sum, and
    Prometheus keeps their series); _created series (prometheus_client's creation timestamps)
    are not counts."""
    present = set(names)
    kept = []
    for name in sorted(present):
        if not name.startswith(COUNTED_FAMILY_PREFIXES) or not name.endswith(COUNTED_SUFFIXES):
            continue
        if name.endswith("_sum") and name[: -len("_sum")] + "_count" not in present:
            continue
        kept.append(name)
    return kept


def count_query(name: str, selector: str, range_: str) -> str:
    function = "delta" if name.endswith("_sum") else "increase"
    return f"sum by ({', '.join(OWN_LABELS)}) ({function}({name}{selector}[{range_}]))"


def pods_query(selector: str, range_: str) -> str:
    return f"count(last_over_time({ROWS}{selector}[{range_}]))"


def restarts_query(selector: str, range_: str) -> str:
    return f"count(resets({ROWS}{selector}[{range_}]) > 0)"


# --- responses (pure) --------------------------------------------------------------------------


def response_data(body: bytes | str, what: str) -> Any:
    """The `data` of a successful API response; PrometheusBadResponse for anything else."""
    try:
        answer = json.loads(body)
    except ValueError:
        raise PrometheusBadResponse(f"{what}: the answer is not JSON ({len(body)} bytes)") from None
    if not isinstance(answer, dict) or "status" not in answer:
        raise PrometheusBadResponse(f"{what}: not a Prometheus API answer ({len(body)} bytes of JSON)")
    if answer["status"] != "success":
        kind = answer.get("errorType")
        raise PrometheusBadResponse(
            f"{what}: Prometheus answered an error" + (f" ({kind})" if kind in ERROR_TYPES else "")
        )
    if "data" not in answer:
        raise PrometheusBadResponse(f"{what}: a successful answer without data")
    return answer["data"]


def vector_samples(data: Any, what: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of each element of an instant vector."""
    if not isinstance(data, dict) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise PrometheusBadResponse(f"{what}: the answer is not an instant vector")
    samples = []
    for index, element in enumerate(data["result"]):
        try:
            labels, (_, value) = element["metric"], element["value"]
            samples.append(({str(k): str(v) for k, v in labels.items()}, float(value)))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PrometheusBadResponse(f"{what}: sample {index} of the answer is malformed") from None
    return samples


def string_list(data: Any, what: str) -> list[str]:
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise PrometheusBadResponse(f"{what}: the answer is not a list of names")
    return data


def server_le(value: str) -> str:
    """The server's spelling of an `le` (prometheus_client's floatToGoString) from any spelling
    of the same float, such as Prometheus 3's Go formatting of it."""
    try:
        # prometheus_client leaves floatToGoString unannotated
        return str(floatToGoString(float(value)))  # type: ignore[no-untyped-call]
    except ValueError:
        return value


def series_from_samples(name: str, samples: list[tuple[dict[str, str], float]]) -> dict[SeriesKey, float]:
    """Keys as `counters.series_key` makes them from a scrape."""
    series = {}
    for labels, value in samples:
        labels = dict(labels)
        labels.pop("__name__", None)
        if "le" in labels:
            labels["le"] = server_le(labels["le"])
        series[series_key(name, labels)] = value
    return series


def window_from_results(
    counts: Mapping[str, list[tuple[dict[str, str], float]]], pods: float, restarted_pods: float
) -> Window:
    """The Window of the query results, by series name. Values that are not finite (a NaN from
    Prometheus) are refused rather than carried into a statistic."""
    window_counts: dict[SeriesKey, float] = {}
    for name, samples in counts.items():
        window_counts.update(series_from_samples(name, samples))
    for value in window_counts.values():
        if not math.isfinite(value):
            # the series' labels came from the server: its value is all the message says
            raise PrometheusBadResponse(f"a count of the answer is {value}")
    return Window(counts=window_counts, pods=int(pods), restarted_pods=int(restarted_pods))


def _seconds(instant: datetime | float) -> float:
    if isinstance(instant, datetime):
        if instant.tzinfo is None:
            raise ValueError(f"{instant} has no time zone")
        return instant.timestamp()
    return float(instant)


# --- the HTTP API ------------------------------------------------------------------------------


def api_get(
    base_url: str,
    path: str,
    params: list[tuple[str, str]],
    *,
    deadline: Deadline,
    egress: EgressPolicy,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """GET base_url + path within the egress policy and what is left of the deadline; the
    `data` of the answer. What the server answered never reaches an error message: its HTTP
    status, its length and Prometheus's own errorType (a fixed vocabulary) do."""
    url = base_url.rstrip("/") + path + "?" + urllib.parse.urlencode(params)
    shown = redact_url(base_url)
    what = f"{path} {dict(params).get('query', '')}".strip()
    try:
        with open_url(url, egress, deadline, headers={"Accept": "application/json", **(headers or {})}) as response:
            status, body = response.status, response.read(MAX_ANSWER_BYTES)
    except EgressDenied as error:
        raise PrometheusEgressDenied(f"{shown}: {error}") from None
    except (TooLarge, RedirectRefused) as error:
        raise PrometheusRefused(f"{shown}: {what}: {error}") from None
    except FetchError as error:  # name, connection, TLS, deadline
        raise PrometheusUnreachable(f"{shown}: {error}") from None
    if status != 200:
        # Prometheus answers 400 (bad query), 422 (cannot execute) and 503 (timeout, overload)
        # with its JSON error body; a proxy in front of it (or another server) with anything.
        kind = _error_type(body)
        raise PrometheusBadResponse(
            f"HTTP {status}{f' ({kind})' if kind else ''} from {shown}, {len(body)} bytes: {what}"
        )
    return response_data(body, what)


def _error_type(body: bytes) -> str | None:
    """Prometheus's errorType when the body is its error answer and the type one it defines."""
    try:
        kind = json.loads(body).get("errorType")
    except (ValueError, AttributeError):
        return None
    return kind if kind in ERROR_TYPES else None


def query_vector(
    base_url: str,
    query: str,
    at: datetime | float,
    *,
    deadline: Deadline,
    egress: EgressPolicy,
    headers: Mapping[str, str] | None = None,
) -> list[tuple[dict[str, str], float]]:
    # Prometheus stops evaluating when the caller would have stopped waiting
    budget = f"{max(deadline.remaining(), 0.001):.3f}"  # seconds, as Prometheus reads a float
    data = api_get(
        base_url,
        "/api/v1/query",
        [("query", query), ("time", f"{_seconds(at):.3f}"), ("timeout", budget)],
        deadline=deadline,
        egress=egress,
        headers=headers,
    )
    return vector_samples(data, query)


def window_from_prometheus(
    base_url: str,
    namespace: str,
    model: str,
    version: str,
    start: datetime | float,
    end: datetime | float,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    egress: EgressPolicy | None = None,
    namespace_label: str = NAMESPACE_LABEL,
    headers: Mapping[str, str] | None = None,
) -> Window:
    """The counts of one model version's pods from `start` to `end` (aware datetimes or Unix
    seconds), as Prometheus at `base_url` recorded them.

    `timeout` is an overall deadline: all the queries together end within it, whatever the
    server does (a kopf handler thread waits on them). `egress` is the policy every request
    is checked against (the default policy when None: loopback, link-local, metadata refused).
    `headers` are added to every request (e.g. Authorization). Raises PrometheusUnreachable,
    PrometheusBadResponse, PrometheusRefused, PrometheusEgressDenied or PrometheusNoData
    (each with `reason`); ValueError for a window that does not end after it starts.
    """
    range_ = window_range(start, end)
    deadline = Deadline(timeout)
    egress = egress if egress is not None else EgressPolicy()
    selector = series_selector(namespace, model, version, namespace_label=namespace_label)
    names = string_list(
        api_get(
            base_url,
            "/api/v1/label/__name__/values",
            [
                ("match[]", names_selector(selector)),
                ("start", f"{_seconds(start):.3f}"),
                ("end", f"{_seconds(end):.3f}"),
            ],
            deadline=deadline,
            egress=egress,
            headers=headers,
        ),
        "series names",
    )

    def ask(query: str) -> list[tuple[dict[str, str], float]]:
        return query_vector(base_url, query, end, deadline=deadline, egress=egress, headers=headers)

    counts = {name: ask(count_query(name, selector, range_)) for name in counted_names(names)}
    if not any(counts.values()):
        raise PrometheusNoData(
            f"no counts of model {model!r} version {version!r} in {namespace_label}={namespace!r} between "
            f"{_iso(start)} and {_iso(end)} ({len(names)} series names): is Prometheus scraping the pods, and is "
            "the window at least two scrape intervals long?"
        )
    pods = ask(pods_query(selector, range_))
    restarts = ask(restarts_query(selector, range_))
    return window_from_results(counts, pods=pods[0][1] if pods else 0, restarted_pods=restarts[0][1] if restarts else 0)


def _iso(instant: datetime | float) -> str:
    return datetime.fromtimestamp(_seconds(instant), UTC).isoformat(timespec="seconds")
