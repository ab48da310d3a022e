"""Pods without privileges: a member's spec made from its pod's words
(containers/spec.make's ``pod``), the namespaces it joins written into a
config (containers/joining.apply), pod create's --share and --infra as
podman reads them, pod ps's filters and sorts (engine/pods/listing), and
Kubernetes YAML read and written (engine/pods/kube): quantities, names,
securityContext both ways, documents refused before anything is made."""
import os

import pytest

from minirun.engine.containers import joining
from minirun.engine.containers.spec import make
from minirun.engine.pods import create, kube, listing
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
    assert kube._timestamp("2026-01-02T03:04:05.123456789Z") == "2026-01-02T03:04:05Z"


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


def test_share_as_podman_reads_it():
    assert create.parse_share(None, True) == ["ipc", "net", "uts"]
    assert create.parse_share("+pid", True) == ["ipc", "net", "pid", "uts"]
    assert create.parse_share("+pid,net", True) == ["ipc", "net", "pid", "uts"]
    assert create.parse_share("pid,net", True) == ["net", "pid"]
    assert create.parse_share("none", False) == create.parse_share("", False) == []
    with pytest.raises(MiniRunError, match="`mnt` cannot be shared"):
        create.parse_share("ipc,mnt", True)
    with pytest.raises(MiniRunError, match="`[+]pid` cannot be shared"):
        create.parse_share("net,+pid", True)          # (as podman: + starts the list only)
    with pytest.raises(MiniRunError, match="members always join the infra's user namespace"):
        create.parse_share("user", True)
    with pytest.raises(MiniRunError, match="without an infra container"):
        create.parse_share("net", False)
    # an infra container unless asked not to, or unless the pod shares nothing
    assert create.wants_infra(None, None) and create.wants_infra("+pid", None)
    assert not create.wants_infra("none", None) and not create.wants_infra(" ", None)
    assert create.wants_infra("none", True) and not create.wants_infra(None, False)


def _row(name, status="Running", labels=None, ctrs=(("i" * 64, "x-infra", "running"),),
         created="2026-01-02T03:04:05.000000000Z", networks=("minirun",)):
    return {"Name": name, "Id": name * 32, "Status": status, "Labels": labels or {},
            "Created": created, "Networks": list(networks),
            "Containers": [{"Id": i, "Names": n, "Status": s} for i, n, s in ctrs]}


def _passes(row, *filters):
    return all(any(test(row, v) for v in values)
               for test, values in listing._parse_filters(filters))


def test_pod_ps_filters_or_within_a_key_and_across_keys():
    row = _row("ab", labels={"app": "x"},
               ctrs=(("1" * 64, "ab-infra", "running"), ("2" * 64, "web", "exited")))
    assert _passes(row, "name=^a", "label=app", "label=app=x", "status=running")
    assert _passes(row, "name=zz", "name=b$")               # one key's values: or
    assert not _passes(row, "name=ab", "status=exited")     # keys: and
    assert not _passes(row, "label=app=y") and not _passes(row, "label=tier")
    assert _passes(row, "ctr-names=^web$", "ctr-status=exited", "ctr-ids=222", "ctr-number=2")
    assert not _passes(row, "ctr-number=1") and not _passes(row, "id=zz")
    assert _passes(row, "id=abab", "network=minirun", "until=2026-01-03T00:00:00Z")
    assert not _passes(row, "until=2026-01-01T00:00:00Z")
    for bad, said in [("bogus=1", "filter pods by name"), ("name", "filter pods by name"),
                      ("status=up", "a pod's status is"), ("ctr-number=x", "a number"),
                      ("name=(", "not a regular expression"), ("until=soon", "a duration")]:
        with pytest.raises(MiniRunError, match=said):
            listing._parse_filters([bad])


def test_security_context_both_ways():
    options = {"privileged": True, "read_only": True, "cap_add": ["CAP_SYS_TIME"],
               "cap_drop": ["net_raw"], "user": "1000:100"}
    sc = kube._security(options)
    assert sc == {"privileged": True, "readOnlyRootFilesystem": True,
                  "capabilities": {"add": ["SYS_TIME"], "drop": ["NET_RAW"]},
                  "runAsUser": 1000, "runAsGroup": 100}
    assert kube._play_security(sc) == {"privileged": True, "read_only": True,
                                       "cap_add": ("SYS_TIME",), "cap_drop": ("NET_RAW",),
                                       "user": "1000:100"}
    assert kube._security({}) == {} and kube._play_security({}) == {"cap_add": (),
                                                                      "cap_drop": ()}


def test_pod_fields_played_or_refused():
    pod = {"kind": "Pod", "metadata": {"name": "p"},
           "spec": {"hostNetwork": True, "shareProcessNamespace": True,
                    "containers": [{"name": "a", "image": "busybox"}]}}
    ((name, words, members),) = kube._plans([pod])
    assert (name, words["network"], words["share"]) == ("p", "host", "+pid")
    assert [m["name"] for m in members] == ["p-a"]
    for field in ("initContainers", "hostPID", "hostIPC"):
        doc = dict(pod, spec=dict(pod["spec"], **{field: [{"name": "i"}]}))
        with pytest.raises(kube.KubeError, match=f"spec.{field}: not supported"):
            kube._plans([doc])


def test_a_member_of_a_host_network_pod_uses_the_hosts_network_itself():
    """Not through the infra: a plain user's infra's user namespace does not
    own the host's network namespace, so setns(2) to it from there fails."""
    spec = make("busybox", ["true"], pod=dict(POD, network="host"))
    assert spec.network == "host" and "network" not in spec.joins
    assert spec.joins.get("ipc") == spec.joins.get("uts") == POD["infra"]
