"""Pods without privileges: a member's spec made from its pod's words
(containers/spec.make's ``pod``), the namespaces it joins written into a
config (containers/joining.apply), and Kubernetes YAML read and written
(engine/pods/kube): quantities, names, documents refused before anything
is made."""
import os

import pytest

from minirun.engine.containers import joining
from minirun.engine.containers.spec import make
from minirun.engine.pods import kube
from minirun.errors import MiniRunError

POD = {"id": "p" * 64, "infra": "i" * 64, "share": ["ipc", "net", "uts"], "hostname": "shop"}


def test_a_member_joins_the_infras_shared_namespaces():
    spec = make("busybox", ["true"], pod=POD)
    assert spec.pod == POD["id"] and not spec.infra
    assert spec.network == f"container:{POD['infra']}" and spec.hostname == "shop"
    expected = {"network": POD["infra"], "ipc": POD["infra"], "uts": POD["infra"]}
    if os.geteuid() != 0:         # a plain user's: the user namespace that owns them
        expected["user"] = POD["infra"]
    assert spec.joins == expected


def test_the_infra_and_a_pod_without_one_join_nothing():
    infra = make("pause", ["/catatonit", "-P"], pod={"id": POD["id"], "role": "infra"},
                 network="none")
    assert (infra.pod, infra.infra, infra.joins) == (POD["id"], True, {})
    lone = make("busybox", ["true"], pod={"id": POD["id"], "infra": None, "share": []},
                network="none")
    assert (lone.pod, lone.infra, lone.joins, lone.network) == (POD["id"], False, {}, "none")


@pytest.mark.parametrize("options, message", [
    ({"publish": ["8080:80"]}, "published or exposed ports must be defined when the pod"),
    ({"hostname": "x"}, "cannot set hostname when joining the pod UTS namespace"),
    ({"network": "host"}, "networks must be defined when the pod is created"),
])
def test_what_a_member_may_not_set(options, message):
    with pytest.raises(MiniRunError) as e:
        make("busybox", ["true"], pod=POD, **options)
    assert message in str(e.value) and e.value.exit_code == 125


def test_a_plain_users_member_keeps_the_infras_id_maps():
    if os.geteuid() == 0:
        pytest.skip("a plain user's rule: root's members join no user namespace")
    with pytest.raises(MiniRunError, match="--userns keep-id: a pod's containers share"):
        make("busybox", ["true"], pod=POD, userns="keep-id")


def test_joining_points_the_config_at_the_namespaces_and_drops_own_maps():
    from minirun.runtime.defaults import default_config
    config = default_config(rootless=True)
    config["linux"]["uidMappings"] = config["linux"]["gidMappings"] = [{"size": 1}]
    joins = {"ipc": "c", "uts": "c", "user": "c"}
    joining.apply(config, joins, {"ipc": "/proc/7/ns/ipc", "user": "/proc/7/ns/user"})
    paths = {n["type"]: n.get("path") for n in config["linux"]["namespaces"]}
    assert paths["ipc"] == "/proc/7/ns/ipc" and paths["user"] == "/proc/7/ns/user"
    assert paths["uts"] is None and paths["mount"] is None     # (not known yet; not joined)
    assert "uidMappings" not in config["linux"] and "gidMappings" not in config["linux"]


def test_kubernetes_quantities_both_ways():
    assert kube._quantity("64Mi", "f") == str(64 << 20)
    assert kube._quantity("1G", "f") == str(10 ** 9)
    assert kube._quantity("500m", "f", cpu=True) == "0.5"
    assert kube._quantity(2, "f", cpu=True) == "2"
    with pytest.raises(kube.KubeError, match="not a quantity"):
        kube._quantity("lots", "spec.containers[0].resources.limits.memory")
    assert kube._binary(64 << 20) == "64Mi" and kube._binary(3 << 30) == "3Gi"
    assert kube._binary(1000) == "1000"
    assert kube._timestamp("2026-01-02T03:04:05.123456789Z") == "2026-01-02T03:04:05+00:00"


def test_documents_a_pod_and_a_deployment_and_refusals():
    containers = [{"name": "a", "image": "busybox"}]
    assert kube._pod_of({"kind": "Pod", "metadata": {"name": "p"},
                         "spec": {"containers": containers}}, 0)[0] == "p"
    dep = {"kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"template": {"spec": {"containers": containers}}}}
    assert kube._pod_of(dep, 0) == ("d-pod-0", {"containers": containers})
    for doc, said in [({"kind": "Service", "metadata": {"name": "s"}}, "kind 'Service'"),
                      ({"kind": "Pod", "spec": {}}, "metadata.name is missing"),
                      ({"kind": "Pod", "metadata": {"name": "p"}}, "spec.containers"),
                      ([1, 2], "not a Kubernetes object")]:
        with pytest.raises(kube.KubeError, match=said):
            kube._pod_of(doc, 0)


def test_a_containers_words_from_its_yaml():
    volumes = {"data": "/srv/data", "scratch": ""}
    kw = kube._options("web", {
        "name": "app", "image": "busybox", "command": ["sh", "-c"], "args": ["echo hi"],
        "env": [{"name": "A", "value": "b"}], "workingDir": "/w",
        "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}},
        "securityContext": {"runAsUser": 1000, "runAsGroup": 100, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["NET_RAW"]}},
        "volumeMounts": [{"name": "data", "mountPath": "/d", "readOnly": True},
                         {"name": "scratch", "mountPath": "/s"}]}, volumes, "doc")
    assert kw["name"] == "web-app" and kw["entrypoint"] == "sh"
    assert kw["command"] == ("-c", "echo hi") and kw["env"] == ("A=b",)
    assert (kw["memory"], kw["cpus"], kw["workdir"]) == (str(64 << 20), "0.25", "/w")
    assert (kw["user"], kw["read_only"], kw["cap_drop"]) == ("1000:100", True, ("NET_RAW",))
    assert kw["volume"] == ("/srv/data:/d:ro", "/s")
    with pytest.raises(kube.KubeError, match="no volume of that name"):
        kube._options("web", {"name": "a", "image": "b",
                              "volumeMounts": [{"name": "x", "mountPath": "/x"}]}, {}, "doc")
