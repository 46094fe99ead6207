"""Reading the serving pods' /metrics directly (no Prometheus needed): one GET per pod.

A pod's answer is read under a size cap, and all the pods of one scrape share one overall
deadline (ballast.net.http): a pod that drips its answer or sends hundreds of megabytes costs
the operator at most the deadline and the cap, never a handler thread for longer or its memory.
Only the addresses the caller vouches for (ballast.canary.pods: the version's own pods) are
read, each as the one address its egress policy allows.
"""

from __future__ import annotations

import ipaddress
import logging
from concurrent.futures import ThreadPoolExecutor

from ballast.build.serving import SERVING_PORT
from ballast.net.egress import AllowRule, EgressDenied, EgressPolicy
from ballast.net.http import Deadline, FetchError, open_url

log = logging.getLogger(__name__)
DEADLINE_SECONDS = 5.0
"""For a whole scrape, every pod together: what one reconcile may spend waiting for pods."""
IDLE_SECONDS = 2.0
"""The longest a pod may stay silent before it counts as not answering."""
MAX_BYTES = 4 << 20
"""A serving pod's /metrics is some tens of KiB (a few hundred series); 4 MiB leaves room for
many features and bins, and a bigger answer is refused rather than read."""
MAX_PARALLEL = 8


def scrape(addresses: list[str]) -> list[str]:
    """The metrics text of every pod that answered; a pod that did not is left out (its
    counters then look reset, which the window treats as counting from zero)."""
    return list(scrape_by_address(addresses).values())


def scrape_by_address(
    addresses: list[str],
    port: int | None = SERVING_PORT,
    *,
    path: str = "/metrics",
    deadline_seconds: float = DEADLINE_SECONDS,
    max_bytes: int = MAX_BYTES,
) -> dict[str, str]:
    """Pod address -> metrics text at `path`, for the pods that answered in time and within the
    cap. With `port` None, each address carries its own port (host:port)."""
    if not addresses:
        return {}
    deadline = Deadline(deadline_seconds, idle_seconds=min(IDLE_SECONDS, deadline_seconds))
    urls = [f"http://{address}:{port}{path}" if port else f"http://{address}{path}" for address in addresses]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(addresses))) as pool:
        texts = pool.map(lambda url: _get(url, deadline, max_bytes), urls)
        return {address: text for address, text in zip(addresses, texts) if text is not None}


def _get(url: str, deadline: Deadline, max_bytes: int) -> str | None:
    try:
        with open_url(url, _only(url), deadline, max_redirects=0) as response:
            if response.status != 200:
                log.info("scraping %s: HTTP %d", url, response.status)
                return None
            return response.read(max_bytes).decode()
    except (FetchError, EgressDenied, UnicodeDecodeError, ValueError) as error:
        log.info("scraping %s failed: %s", url, error)
        return None


def _only(url: str) -> EgressPolicy:
    """A policy that allows the URL's own address (a pod's, from the index: the default denies
    may cover it, e.g. loopback behind a port-forward). Only addresses are read, never names,
    and no redirect is followed, so nothing else is reached."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    network = ipaddress.ip_network(host.strip("[]"))
    return EgressPolicy(allow=(AllowRule(network=network, port=int(port)),))
