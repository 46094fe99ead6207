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


def scrape_by_address(addresses: list[str]) -> dict[str, str]:
    """Pod address -> metrics text, for the pods that answered."""
    if not addresses:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(addresses))) as pool:
        texts = pool.map(_get, addresses)
        return {address: text for address, text in zip(addresses, texts) if text is not None}


def _get(address: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{address}:{SERVING_PORT}/metrics", timeout=TIMEOUT_SECONDS) as response:
            return response.read().decode()
    except OSError as error:
        log.info("scraping %s failed: %s", address, error)
        return None
