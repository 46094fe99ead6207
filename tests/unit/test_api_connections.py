from ballast import kube
from ballast.controller import HANDLER_THREADS, RECONCILE_WORKERS


def test_every_thread_that_calls_the_api_server_at_once_keeps_its_connection():
    lease_thread = 1
    assert kube.API_CONNECTIONS >= RECONCILE_WORKERS + HANDLER_THREADS + lease_thread
