"""Reading the serving pods' /metrics directly (no Prometheus needed): one GET per pod."""

from __future__ import annotations

import logging
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from ballast.build.serving import SERVING_PORT

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 2.0


def scrape(addresses: list[str]) -> list[str]:
    """The metrics text of every pod that answered; a pod that did not is left out (its
    counters then look reset, which the window treats as counting from zero)."""
    return list(scrape_by_address(addresses).values())


def scrape_by_address(addresses: list[str], port: int | None = SERVING_PORT) -> dict[str, str]:
    """Pod address -> metrics text, for the pods that answered. With `port` None, each
    address carries its own port (host:port)."""
    if not addresses:
        return {}
    urls = [f"http://{address}:{port}/metrics" if port else f"http://{address}/metrics" for address in addresses]
    with ThreadPoolExecutor(max_workers=min(8, len(addresses))) as pool:
        texts = pool.map(_get, urls)
        return {address: text for address, text in zip(addresses, texts) if text is not None}


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return response.read().decode()
    except OSError as error:
        log.info("scraping %s failed: %s", url, error)
        return None
