"""examples/notebooks/quickstart.ipynb, executed as Jupyter would (nbclient, a Python kernel of
this virtualenv) against the local cluster and the session's operator: the Dataset is ingested,
the run trains in its Job on the real node, and the notebook shows the ModelVersion it registered."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.support.kube import REPO, Kubectl

NOTEBOOK = REPO / "examples" / "notebooks" / "quickstart.ipynb"


def test_the_quickstart_notebook_runs_to_a_registered_model_version(
    kubeconfig: Path, kubectl: Kubectl, namespace: str, ballast_operator, monkeypatch, tmp_path
):
    # the kernel inherits the environment: the cluster's kubeconfig and the test's namespace
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("BALLAST_NAMESPACE", namespace)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    (version,) = kubectl.in_namespace(namespace).get_json("modelversions")["items"]
    last_output = "".join(
        output.get("text", "") for output in notebook.cells[-1].outputs if output.get("output_type") == "stream"
    )
    assert version["metadata"]["name"] in last_output
    assert version["spec"]["source"]["trainingRun"] == "quickstart-logistic"
    shown = [o for o in notebook.cells[-1].outputs if o.get("output_type") == "execute_result"]
    assert "accuracy" in shown[0]["data"]["text/plain"]
