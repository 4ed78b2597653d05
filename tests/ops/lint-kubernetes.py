#!/usr/bin/env python3
"""Check the Kubernetes manifests of copybench_exporter against its needs.

Usage: lint-kubernetes.py [--write-config FILE]

Reads deploy/kubernetes (and its operator/, variants/, without-operator/).
With --write-config, also writes the ConfigMap's copybench.toml to FILE so
that the exporter's own `check-config` can validate it.

Checked:
  - DaemonSets (default and CPU-limit variant): non-root, read-only root file
    system, all capabilities dropped, no privilege escalation, seccomp
    RuntimeDefault, no host namespaces; scratch emptyDir behind
    COPYBENCH__WORKLOAD__WORKDIR; NODE_NAME from spec.nodeName; port
    http-metrics = 10720; the ConfigMap mounted where --config.file points;
    probes on /-/ready and /-/healthy; grace period above shutdown_grace
  - the default DaemonSet has no CPU limit, the variant has one, and the two
    differ only in the container's resources
  - the headless Service and the PodMonitor select the DaemonSet's pods on
    http-metrics, and the PodMonitor and the plain scrape config put the node
    name from __meta_kubernetes_pod_node_name into a label
  - every namespaced object lives in the namespace that namespace.yaml creates
"""

import copy
import glob
import os
import re
import sys
import tomllib

import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
K8S = os.path.join(REPO, "deploy", "kubernetes")
CONFIG_FILE = "/etc/copybench_exporter/copybench.toml"
PORT_NAME, PORT = "http-metrics", 10720

problems = []


def problem(where, msg):
    problems.append(f"{where}: {msg}")


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def rel(path):
    return os.path.relpath(path, REPO)


def seconds(text):
    m = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h)\s*", str(text))
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2)
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def check_daemonset(path, ds, configmap, shutdown_grace):
    where = rel(path)
    pod = ds["spec"]["template"]["spec"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    if ds["spec"]["selector"]["matchLabels"].items() - labels.items():
        problem(where, "selector does not match the pod template labels")
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        problem(where, "pod securityContext.runAsNonRoot is not true")
    if psc.get("runAsUser", 1) == 0:
        problem(where, "pod runs as root")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problem(where, "pod seccompProfile is not RuntimeDefault")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problem(where, f"{key} is set")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if shutdown_grace is not None and grace <= shutdown_grace:
        problem(where, f"terminationGracePeriodSeconds {grace} is not above shutdown_grace {shutdown_grace}s")
    containers = pod["containers"]
    if len(containers) != 1:
        problem(where, f"expected one container, found {len(containers)}")
    c = containers[0]
    sc = c.get("securityContext", {})
    if sc.get("allowPrivilegeEscalation") is not False:
        problem(where, "allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        problem(where, "readOnlyRootFilesystem is not true")
    if sc.get("privileged"):
        problem(where, "container is privileged")
    caps = sc.get("capabilities", {})
    if "ALL" not in (caps.get("drop") or []) or caps.get("add"):
        problem(where, "capabilities: must drop ALL and add none")
    if sc.get("runAsUser") == 0:
        problem(where, "container runs as root")

    env = {e["name"]: e for e in c.get("env", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    workdir = env.get("COPYBENCH__WORKLOAD__WORKDIR", {}).get("value")
    if not workdir:
        problem(where, "COPYBENCH__WORKLOAD__WORKDIR is not set")
    elif workdir not in mounts or "emptyDir" not in volumes.get(mounts[workdir]["name"], {}):
        problem(where, f"COPYBENCH__WORKLOAD__WORKDIR={workdir} is not an emptyDir mount")
    node = env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    if node != "spec.nodeName":
        problem(where, "NODE_NAME does not come from the downward API (spec.nodeName)")

    ports = {p.get("name"): p for p in c.get("ports", [])}
    if ports.get(PORT_NAME, {}).get("containerPort") != PORT:
        problem(where, f"no container port {PORT_NAME}={PORT}")
    args = c.get("args", []) + c.get("command", [])
    if f"--config.file={CONFIG_FILE}" not in args:
        problem(where, f"--config.file={CONFIG_FILE} is not passed")
    cfg_dir, cfg_name = os.path.split(CONFIG_FILE)
    m = mounts.get(cfg_dir)
    cm_vol = volumes.get(m["name"], {}).get("configMap") if m else None
    if not cm_vol or cm_vol.get("name") != configmap["metadata"]["name"]:
        problem(where, f"the ConfigMap {configmap['metadata']['name']} is not mounted at {cfg_dir}")
    else:
        items = {i["key"]: i["path"] for i in cm_vol.get("items", [])} or {k: k for k in configmap["data"]}
        if items.get(cfg_name) != cfg_name:
            problem(where, f"the ConfigMap key {cfg_name} is not mounted as {CONFIG_FILE}")
    for probe, path_ in (("readinessProbe", "/-/ready"), ("livenessProbe", "/-/healthy")):
        if (c.get(probe) or {}).get("httpGet", {}).get("path") != path_:
            problem(where, f"{probe} does not GET {path_}")
    for mpath, mount in mounts.items():
        vol = volumes.get(mount["name"])
        if vol is None:
            problem(where, f"volume {mount['name']} mounted at {mpath} is not defined")
        elif "hostPath" in vol:
            problem(where, f"hostPath volume at {mpath}")
    return pod


def main(argv):
    write_config = None
    if argv[1:2] == ["--write-config"] and len(argv) == 3:
        write_config = argv[2]
    elif argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2

    objects = {}
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml")) + glob.glob(os.path.join(K8S, "operator", "*.yaml"))):
        if os.path.basename(path) == "kustomization.yaml":
            continue  # kubectl's build file, checked by check-kubernetes.sh
        for doc in load(path):
            objects.setdefault(doc["kind"], []).append((path, doc))

    def one(kind):
        found = objects.get(kind, [])
        if len(found) != 1:
            problem("deploy/kubernetes", f"expected exactly one {kind}, found {len(found)}")
            return None, None
        return found[0]

    _, ns = one("Namespace")
    cm_path, cm = one("ConfigMap")
    ds_path, ds = one("DaemonSet")
    svc_path, svc = one("Service")
    pm_path, pm = one("PodMonitor")
    if None in (ns, cm, ds, svc, pm):
        for p in problems:
            print(p, file=sys.stderr)
        return 1
    namespace = ns["metadata"]["name"]
    for kind, items in objects.items():
        for path, doc in items:
            if kind != "Namespace" and doc["metadata"].get("namespace") != namespace:
                problem(rel(path), f"{kind} is not in namespace {namespace}")

    shutdown_grace = None
    toml_text = cm["data"].get(os.path.basename(CONFIG_FILE))
    if toml_text is None:
        problem(rel(cm_path), f"no key {os.path.basename(CONFIG_FILE)}")
    else:
        try:
            cfg = tomllib.loads(toml_text)
            shutdown_grace = seconds(cfg.get("schedule", {}).get("shutdown_grace", "30s"))
        except tomllib.TOMLDecodeError as e:
            problem(rel(cm_path), f"copybench.toml is not valid TOML: {e}")
        if write_config:
            with open(write_config, "w") as f:
                f.write(toml_text)

    pod = check_daemonset(ds_path, ds, cm, shutdown_grace)
    res = pod["containers"][0].get("resources", {})
    if "cpu" in res.get("limits", {}):
        problem(rel(ds_path), "has a CPU limit: CFS quota distorts the measured timings")
    for key in ("cpu", "memory"):
        if key not in res.get("requests", {}):
            problem(rel(ds_path), f"no {key} request")
    if "memory" not in res.get("limits", {}):
        problem(rel(ds_path), "no memory limit")

    variants = sorted(glob.glob(os.path.join(K8S, "variants", "*.yaml")))
    if not variants:
        problem("deploy/kubernetes/variants", "no DaemonSet variant with a CPU limit")
    for vpath in variants:
        (vds,) = load(vpath)
        vpod = check_daemonset(vpath, vds, cm, shutdown_grace)
        if "cpu" not in vpod["containers"][0].get("resources", {}).get("limits", {}):
            problem(rel(vpath), "has no CPU limit")
        a, b = copy.deepcopy(ds), copy.deepcopy(vds)
        for d in (a, b):
            d["spec"]["template"]["spec"]["containers"][0].pop("resources", None)
        if a != b:
            problem(rel(vpath), f"differs from {rel(ds_path)} in more than the container's resources")

    pod_labels = ds["spec"]["template"]["metadata"]["labels"]
    if svc["spec"].get("clusterIP") != "None":
        problem(rel(svc_path), "Service is not headless (clusterIP: None)")
    if svc["spec"]["selector"].items() - pod_labels.items():
        problem(rel(svc_path), "selector does not match the DaemonSet's pods")
    if not any(p.get("name") == PORT_NAME and p.get("port") == PORT for p in svc["spec"]["ports"]):
        problem(rel(svc_path), f"no port {PORT_NAME}={PORT}")

    spec = pm["spec"]
    if spec["selector"].get("matchLabels", {}).items() - pod_labels.items():
        problem(rel(pm_path), "selector does not match the DaemonSet's pods")
    names = (spec.get("namespaceSelector") or {}).get("matchNames")
    if names is not None and namespace not in names:
        problem(rel(pm_path), f"namespaceSelector does not include {namespace}")
    for ep in spec["podMetricsEndpoints"]:
        if ep.get("port") != PORT_NAME:
            problem(rel(pm_path), f"endpoint port is {ep.get('port')!r}, expected {PORT_NAME}")
        if not any(r.get("sourceLabels") == ["__meta_kubernetes_pod_node_name"] and r.get("targetLabel") == "node"
                   for r in ep.get("relabelings", [])):
            problem(rel(pm_path), "no relabeling of __meta_kubernetes_pod_node_name into the node label")

    plain = os.path.join(K8S, "without-operator", "prometheus.yml")
    with open(plain) as f:
        prom = yaml.safe_load(f)
    for job in prom.get("scrape_configs", []):
        rc = job.get("relabel_configs", [])
        if not any(r.get("source_labels") == ["__meta_kubernetes_pod_node_name"] and r.get("target_label") == "node"
                   for r in rc):
            problem(rel(plain), f"job {job['job_name']}: no relabeling of the node name into the node label")
        if not any(r.get("action") == "keep" and r.get("regex") == PORT_NAME for r in rc):
            problem(rel(plain), f"job {job['job_name']}: does not keep only the {PORT_NAME} port")

    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"deploy/kubernetes: policy checks passed ({sum(len(v) for v in objects.values())} objects, "
          f"{len(variants)} variant(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
