"""A node agent that lets a container-less machine run real Kubernetes pods as host processes.

Ballast's local cluster (tests/cluster/localcluster.py) is a real control plane - etcd,
kube-apiserver, kube-controller-manager, kube-scheduler - started by kwokctl. This package
plays the kubelet's part for one Node: it registers the Node, keeps its Lease fresh, and runs
every pod the scheduler binds to it as ordinary processes on this machine.

What a pod gets, and how it differs from a kubelet with a container runtime:

* Processes, not images. `command` + `args` run with the host's PATH (the agent prepends the
  bin directory of the Python it runs under, so a virtualenv's tools are found). The image is
  ignored, except that an optional image->entrypoint map (``--image-entrypoints FILE``, a
  YAML/JSON mapping of image or repository to an argv list) can stand in for an image's
  ENTRYPOINT. A container without `command` and without a mapped image stays Waiting with
  reason ``CreateContainerError`` and a message saying so.
* Root. Processes run as root by default, because this machine's Python lives under /root
  (mode 0700) and would be unusable by any other uid. ``--honor-run-as-user`` makes the agent
  drop to `runAsUser`/`runAsGroup` with setpriv when they are set; volumes are made
  world-writable (emptyDir 0777, provisioned PVC directories 0777) so that still works.
* Filesystem. Each container runs in a private mount namespace (``unshare --mount --uts``):
  volumes are bind-mounted at their mountPath (readOnly and subPath honoured), the container's
  own termination-log file is bound at terminationMessagePath, and the hostname is the pod's.
  Everything else is the host's filesystem.
* Network. As with a kubelet and the bridge CNI plugin: the agent keeps a host bridge
  (``--pod-bridge``, default ``ballast0``) holding the gateway, the first address of the pod
  CIDR (``--pod-cidr``, default 10.244.0.0/16, so 10.244.0.1), and refuses a CIDR that overlaps a
  route or address the host already has. Each pod gets a network namespace
  (/run/netns/<bridge>-<pod uid>) whose ``eth0`` is a veth peer of a host interface on the
  bridge, with the pod's address, ``lo`` up and a default route via the gateway; every container
  process (and exec probe) runs in it, so pods bind 0.0.0.0 without colliding and their
  127.0.0.1 is their own. Addresses are persisted (STATE_DIR/pod-ips.json), so resumed pods
  keep theirs, and reported as status.podIP/podIPs; the real EndpointSlice controller publishes
  them. The agent (host side) reaches pods over the bridge: httpGet/tcpSocket probes, tests.
  Pods reach the host at the gateway, and KUBERNETES_SERVICE_HOST/PORT name the gateway and the
  API server's port (localcluster.py makes the API server listen there and puts the gateway in
  its certificate). No IP forwarding, NAT or kube-proxy: ClusterIPs do not route, and nothing
  beyond the pod CIDR and the host's own addresses is reachable from a pod (no DNS either;
  /etc/resolv.conf and /etc/hosts are the host's). A pod's namespace and veth are removed when
  its containers can no longer run (terminal phase, deletion, agent stop; its address is freed
  only with the pod), and at start the agent removes those a killed agent left. hostNetwork
  pods stay in the host's namespace with the node's address (127.0.0.1) as pod IP, which the
  API server refuses in EndpointSlices.
* Processes are tracked in a cgroup-v2 directory per container when the unified hierarchy is
  writable (else by process group), so everything a container forks is stopped with it, and
  nothing outlives the agent: SIGTERM/SIGINT to the agent stops every pod cleanly, and a new
  agent kills whatever a crashed one left behind.
* Host side effects: a mountPath (or terminationMessagePath, /dev/termination-log by default)
  that does not exist on the host is created there, empty, once; the bind mounts themselves
  are private to the container.
* Logs: one file per container run, <log-dir>/<namespace>_<pod>_<uid>/<container>.<run>.log,
  with <container>.log pointing at the current run; `kubectl logs` (with -f, --tail,
  --previous) reads them through a kubelet-style HTTPS endpoint when the agent has a
  certificate (localcluster.py passes kwokctl's).
* Agent restarts: stopping the agent stops every container (a kubelet would leave them
  running). A new agent resumes the pods: restart counts are kept, and a container that was
  running counts as a run that ended with exit code 137/143, so restartPolicy decides what
  happens next (a Job's Never pod fails and the Job controller replaces it).
* Native sidecars (init containers with restartPolicy Always) start in order, are not awaited,
  restart when they exit, and are stopped once all regular containers have finished.
* Not implemented: resource limits and OOM kills, image pulls, exec/attach/port-forward,
  ephemeral containers, postStart hooks (preStop exec/httpGet/sleep hooks run), grpc probes,
  runAsNonRoot checks, service-link variables for Services other than `kubernetes`,
  hostNetwork beyond using the node's address as the pod IP, hostPort, NetworkPolicy, IPv6.
"""
