"""A pod that passes for a serving pod (issue 12, row 10): the serving labels of a real one, a
tiny HTTP server of its own (python, in the Ballast image, the only image a tenant's pods may
run here), and a /metrics that answers either forged counters or hundreds of MiB. It prints
every request it gets, so its log says whether the operator ever scraped it.
"""

from __future__ import annotations

from ballast.build.security import restricted_container_security_context, restricted_pod_security_context
from tests.support.image import ballast_image
from tests.support.kube import Kubectl

FORGED_COUNT = 10**9
"""Predictions the forged counters add at each scrape: no real window of the suite comes near it."""
HUGE_MIB = 512
REQUEST_MARK = "impostor-request "

SERVER = f"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = sys.argv[1]
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
scrapes = 0


def forged():  # counters that grow at each scrape: a reader that trusts them sees that many more rows
    count = {FORGED_COUNT} * scrapes
    return "".join(
        ["# TYPE ballast_serving_rows counter\\n", f"ballast_serving_rows_total {{count}}\\n",
         "# TYPE ballast_serving_requests counter\\n",
         f'ballast_serving_requests_total{{{{endpoint="infer",code="200"}}}} {{count}}\\n',
         "# TYPE ballast_feature_missing counter\\n"]
        + [f'ballast_feature_missing_total{{{{feature="{{name}}"}}}} {{count}}\\n' for name in FEATURES]
        + ["# TYPE ballast_prediction_class counter\\n",
           f'ballast_prediction_class_total{{{{class="setosa"}}}} {{count}}\\n']).encode()


class Impostor(BaseHTTPRequestHandler):
    def do_GET(self):
        global scrapes
        scrapes += 1
        print("{REQUEST_MARK}" + self.client_address[0] + " " + self.path, flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        if MODE == "forged":
            body = forged()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.end_headers()  # no length: streamed until the reader gives up
        padding = b"# " + b"x" * (1 << 20) + b"\\n"
        try:
            self.wfile.write(forged())
            for _ in range({HUGE_MIB}):
                self.wfile.write(padding)
        except OSError:
            pass

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("", 8080), Impostor).serve_forever()
"""


def impostor_pod(name: str, labels: dict[str, str], mode: str, owner: dict | None = None) -> dict:
    """mode: `forged` or `huge`. owner: an ownerReference to claim (controller: true)."""
    metadata: dict = {"name": name, "labels": labels}
    if owner:
        metadata["ownerReferences"] = [{**owner, "controller": True}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "securityContext": restricted_pod_security_context(),  # as the namespace's Pod Security level requires
            "containers": [
                {
                    "name": "server",
                    "image": ballast_image(),
                    "command": ["python3", "-c", SERVER, mode],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "securityContext": restricted_container_security_context(),
                }
            ],
        },
    }


def requests_to(admin: Kubectl, pod: str) -> list[str]:
    """The requests the impostor printed (the admin reads its log: the tenant's role may not)."""
    log = admin.run("logs", pod, check=False).stdout
    return [line.removeprefix(REQUEST_MARK) for line in log.splitlines() if line.startswith(REQUEST_MARK)]
