from ballast import kube
from ballast.controller import HANDLER_THREADS, RECONCILE_WORKERS


def test_every_thread_that_calls_the_api_server_at_once_keeps_its_connection():
    lease_thread = 1
    assert kube.API_CONNECTIONS >= RECONCILE_WORKERS + HANDLER_THREADS + lease_thread


class _Response:
    def __init__(self, data: bytes):
        self.data = data


def test_answers_are_read_as_plain_json_never_as_the_clients_models():
    calls = []

    def create_namespaced_job(namespace, body, **options):
        calls.append(options)
        return _Response(b'{"kind": "Job", "metadata": {"resourceVersion": "7"}}')

    answer = kube.unparsed(create_namespaced_job, "team", {"kind": "Job"})
    assert answer == {"kind": "Job", "metadata": {"resourceVersion": "7"}}
    assert calls == [{"_preload_content": False}]
    assert kube.unparsed(lambda **_: _Response(b"")) == {}
