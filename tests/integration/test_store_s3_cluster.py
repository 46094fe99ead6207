"""The whole first half of the loop with an s3:// artifact store: the ingest and training pods
read and write a real S3-compatible server with credentials from a Secret, and the operator
verifies the model there. The server listens on the pods' gateway, on this machine."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.support.ballast_objects import condition, dataset, iris_rows, training_run, wait_for_condition
from tests.support.kube import Kubectl
from tests.support.operator_process import OperatorProcess
from tests.support.s3server import running_s3_server


def pod_gateway(kubectl: Kubectl) -> str:
    """The address pods reach the host at: the API server advertises it (tests/cluster/README.md)."""
    return kubectl.run(
        "get",
        "endpointslices",
        "-n",
        "default",
        "-l",
        "kubernetes.io/service-name=kubernetes",
        "-o",
        "jsonpath={.items[0].endpoints[0].addresses[0]}",
    ).stdout.strip()


def test_datasets_and_models_live_in_s3_when_the_store_is_s3(kubectl: Kubectl, kubeconfig: Path, crds, tmp_path: Path):
    namespace = f"s3-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", namespace)
    k = kubectl.in_namespace(namespace)
    try:
        with running_s3_server(tmp_path / "s3", host=pod_gateway(kubectl)) as s3:
            bucket = s3.new_bucket()
            k.run(
                "create",
                "secret",
                "generic",
                "s3-credentials",
                *[f"--from-literal={key}={value}" for key, value in s3.environ().items()],
            )
            settings = {
                "BALLAST_STORE_URI": f"s3://{bucket}/ballast",
                "BALLAST_STORE_SECRET": "s3-credentials",
                **s3.environ(),
            }
            with OperatorProcess(
                kubeconfig, tmp_path / "operator.log", env=settings, namespaces=(namespace,)
            ) as operator:
                k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
                ready = condition(wait_for_condition(k, "dataset", "iris", "Ready", timeout=120), "Ready")
                assert ready["status"] == "True", ready
                version = k.get_json("dataset", "iris")["status"]["versions"][0]
                # the namespace's own prefix of the bucket (a bucket policy per prefix makes it private)
                assert (
                    version["snapshotUri"]
                    == f"s3://{bucket}/ballast/{namespace}/datasets/iris/{version['sha256']}/data.parquet"
                )
                assert (
                    s3.data_dir / bucket / f"ballast/{namespace}/datasets/iris" / version["sha256"] / "data.parquet"
                ).is_file()

                k.apply(training_run("iris-s3", "iris"))
                run = wait_for_condition(k, "trainingrun", "iris-s3", "Succeeded")
                assert condition(run, "Succeeded")["status"] == "True", condition(run, "Succeeded")
                artifact = run["status"]["artifact"]
                assert artifact["uri"].startswith(f"s3://{bucket}/ballast/{namespace}/models/iris/")
                model_file = (
                    s3.data_dir / bucket / f"ballast/{namespace}/models/iris" / artifact["sha256"] / "model.skops"
                )
                assert model_file.is_file()
                registered = wait_for_condition(k, "modelversion", run["status"]["modelVersion"], "Ready", timeout=60)
                assert condition(registered, "Ready")["status"] == "True", condition(registered, "Ready")
                # no claim is needed when the store is not a volume
                assert not k.get_json("pvc")["items"]
            assert operator.log_problems() == []
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)
