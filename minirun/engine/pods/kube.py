"""Kubernetes YAML, as podman reads and writes it.

generate   a pod (or one container, as a pod of its own) -> a v1 Pod:
           its containers' image, command and args, env, ports (the
           pod's, on its first container), resources.limits, workingDir,
           securityContext where one was set, and volumeMounts with
           volumes: hostPath for a bind mount, persistentVolumeClaim for a
           named volume, emptyDir for an anonymous one
play       Pods and Deployments (the pod template: one replica) -> pods,
           made and started; every document is read and checked before
           anything is made, and a failure removes what was made;
           restartPolicy becomes each container's --restart (none given:
           Never, so that a container that ends stays ended), hostNetwork
           the pod's --network host, shareProcessNamespace its --share
           +pid; initContainers, hostPID and hostIPC are refused;
           --replace takes pods of the same names down first, and
           --start=false leaves the pods made, not started
down       the pods a file's documents name, stopped and removed

Members are named POD-CONTAINER, as podman names them, and generate
takes the pod's name off again, so that playing what generate wrote
gives the same pod.  Only PyYAML's safe loader reads the file.
"""
import os
import re

from minirun.engine.pods import records as pods
from minirun.engine.pods.records import PodError
from minirun.engine.store import Store

HEADER = ("# Save the output of this file and use kubectl create -f to import\n"
          "# it into Kubernetes.\n#\n# Created with minirun-{version}\n")


class KubeError(PodError):
    """A Kubernetes YAML file minirun cannot play: names the document and
    field, and what is wrong with it; or a name kube generate finds no pod
    and no container by."""


# --- generate -------------------------------------------------------------------------


def generate(store: Store, name: str) -> str:
    """The YAML of pod (or container) ``name``."""
    import yaml
    from minirun import __version__
    from minirun.engine.containers import records as ct
    try:
        pod = pods.find(store, name)
        recs = [r for r in pods.members(store, pod) if r["id"] != pod["infra"]]
        pod_name, created = pod["name"], pod["created"]
        infra = ct.record(store, pod["infra"]) if pod["infra"] else None
        ports = (infra["options"].get("ports") or []) if infra else []
        hostname = pods.hostname(pod) if "uts" in (pod["options"].get("share") or []) else ""
    except pods.NoSuchPod:
        try:
            rec = ct.find(store, name)
        except ct.NoSuchContainer:
            raise KubeError(f"no pod or container with name or ID {name} found (minirun pod "
                            "ps and ps -a list them)") from None
        recs, pod_name, created = [rec], f"{rec['name']}-pod", rec["created"]
        ports, hostname = rec["options"].get("ports") or [], rec["options"].get("hostname")
    volumes: list[dict] = []
    containers = [_container(rec, pod_name, ports if i == 0 else [], volumes)
                  for i, rec in enumerate(recs)]
    if not containers:
        raise PodError(f"pod {pod_name} has no containers to generate YAML of: add one "
                       "(run --pod)")
    spec: dict = {"automountServiceAccountToken": False, "containers": containers,
                  "enableServiceLinks": False}
    if hostname:
        spec["hostname"] = hostname
    spec["restartPolicy"] = _restart_policy(recs)
    if volumes:
        spec["volumes"] = volumes
    doc = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"creationTimestamp": _timestamp(created),
                        "labels": {"app": pod_name}, "name": pod_name},
           "spec": spec}
    return HEADER.format(version=__version__) + yaml.safe_dump(doc, sort_keys=False)


# Kubernetes' restartPolicy (one for the pod) and --restart (each container's)
RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}


def _restart_policy(recs: list[dict]) -> str:
    """The pod's restartPolicy: its first container's --restart (Never for
    no, podman's default, as podman writes it)."""
    policy = (recs[0]["options"].get("restart") or "no") if recs else "no"
    policy = "always" if policy == "unless-stopped" else policy
    return {v: k for k, v in RESTART.items()}.get(policy, "Never")


def _timestamp(stamp: str) -> str:
    """RFC 3339 in whole seconds, in UTC, as Kubernetes and podman write it."""
    return stamp.split(".")[0].rstrip("Z") + "Z"


def _container(rec: dict, pod_name: str, ports: list[dict], volumes: list[dict]) -> dict:
    o = rec["options"]
    name = rec["name"].removeprefix(pod_name + "-") or rec["name"]
    c: dict = {"name": name, "image": o.get("image")}
    if o.get("entrypoint"):
        c["command"] = [o["entrypoint"]]
    if o.get("command"):
        c["args"] = list(o["command"])
    env = [e.split("=", 1) for e in o.get("env") or [] if "=" in e]
    if env:
        c["env"] = [{"name": k, "value": v} for k, v in env]
    if ports:
        c["ports"] = [dict({"containerPort": p["container_port"], "hostPort": p["host_port"]},
                           **({"hostIP": p["host_ip"]} if p.get("host_ip") else {}),
                           **({"protocol": "UDP"} if p["protocol"] == "udp" else {}))
                      for p in ports]
    limits = _limits(o.get("resources") or {})
    if limits:
        c["resources"] = {"limits": limits}
    mounts = _mounts(o, volumes)
    if mounts:
        c["volumeMounts"] = mounts
    if o.get("workdir"):
        c["workingDir"] = o["workdir"]
    security = _security(o)
    if security:
        c["securityContext"] = security
    return c


def _limits(resources: dict) -> dict:
    out = {}
    memory = (resources.get("memory") or {}).get("limit")
    if memory:
        out["memory"] = _binary(memory)
    cpu = resources.get("cpu") or {}
    if cpu.get("quota") and cpu.get("period"):
        out["cpu"] = f"{cpu['quota'] * 1000 // cpu['period']}m"
    return out


def _binary(n: int) -> str:
    """Bytes as a Kubernetes quantity, in the largest binary unit that
    divides them (64Mi), as podman writes a memory limit."""
    for unit, shift in (("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)):
        if n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


# securityContext's fields and run's words for them, both ways
SECURITY_FLAGS = (("privileged", "privileged"), ("readOnlyRootFilesystem", "read_only"))
CAPABILITIES = (("add", "cap_add"), ("drop", "cap_drop"))


def _security(o: dict) -> dict:
    out: dict = {field: True for field, word in SECURITY_FLAGS if o.get(word)}
    caps = {field: [c.upper().removeprefix("CAP_") for c in o[word]]
            for field, word in CAPABILITIES if o.get(word)}
    if caps:
        out["capabilities"] = caps
    user, _, group = (o.get("user") or "").partition(":")
    if user.isdigit():
        out["runAsUser"] = int(user)
    if group.isdigit():
        out["runAsGroup"] = int(group)
    return out


def _slug(path: str) -> str:
    """A path as a volume's name (a DNS label: lower case, digits, -)."""
    return re.sub(r"[^a-z0-9-]+", "-", path.lower()).strip("-")[:40] or "root"


def _mounts(o: dict, volumes: list[dict]) -> list[dict]:
    """A container's volumeMounts; the volumes they name added to ``volumes``
    (one entry per source, shared by containers that mount the same one)."""
    from minirun.engine.containers.volumes import parse_spec
    out = []
    for text in o.get("volumes") or []:
        src, dest, ro = parse_spec(text)
        if not src:
            volume, name, numbered = {"emptyDir": {}}, f"{_slug(dest)}-empty", True
        elif src.startswith("/"):
            volume = {"hostPath": {"path": src, "type": "Directory" if os.path.isdir(src)
                                   else "File"}}
            name, numbered = f"{_slug(src)}-host", True
        else:                           # one per claim, named as podman names it
            volume = {"persistentVolumeClaim": {"claimName": src}}
            name, numbered = f"{src}-pvc", False
        name = _volume_name(volumes, name, volume, numbered)
        out.append({"mountPath": dest, "name": name, **({"readOnly": True} if ro else {})})
    return out


def _volume_name(volumes: list[dict], base: str, source: dict, numbered: bool = True) -> str:
    """The name of the volume entry for ``source``: an existing one, or a new
    one named ``base-N`` (``base`` itself where not ``numbered``)."""
    for v in volumes:
        if {k: v[k] for k in v if k != "name"} == source:
            return v["name"]
    name = f"{base}-{sum(v['name'].startswith(base + '-') for v in volumes)}" if numbered \
        else base
    volumes.append({"name": name, **source})
    return name


# --- play -----------------------------------------------------------------------------


def _load(filename: str) -> list[dict]:
    import yaml
    try:
        with open(filename) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except OSError as e:
        raise KubeError(f"cannot read `{filename}`: {e.strerror}") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" (line {where.line + 1})" if where else ""
        raise KubeError(f"`{filename}` is not YAML{at}: "
                        f"{getattr(e, 'problem', None) or e}") from None
    if not docs:
        raise KubeError(f"`{filename}` holds no Kubernetes document")
    return docs


def _pod_of(doc: dict, n: int) -> tuple[str, dict]:
    """(the pod's name, its spec) of document ``n``: a Pod, or a
    Deployment's pod template (as podman: one pod, NAME-pod-0)."""
    where = f"document {n + 1}"
    if not isinstance(doc, dict):
        raise KubeError(f"{where}: not a Kubernetes object (a mapping)")
    kind = doc.get("kind")
    name = (doc.get("metadata") or {}).get("name")
    if not name or not isinstance(name, str):
        raise KubeError(f"{where}: metadata.name is missing")
    if kind == "Pod":
        spec = doc.get("spec")
    elif kind == "Deployment":
        spec = (((doc.get("spec") or {}).get("template") or {}).get("spec"))
        name = f"{name}-pod-0"
        where += ".spec.template"
    else:
        raise KubeError(f"{where}: kind {kind!r} is not supported: minirun plays Pod and "
                        "Deployment")
    if not isinstance(spec, dict) or not spec.get("containers"):
        raise KubeError(f"{where}: spec.containers is missing")
    return name, spec


def _quantity(text, field: str, cpu: bool = False) -> str:
    """A Kubernetes quantity as minirun's flags take it: bytes, or CPUs."""
    m = re.match(r"^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$", str(text))
    if not m:
        raise KubeError(f"{field}: {text!r} is not a quantity (64Mi, 500m, 1)")
    units = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}
    value = float(m.group(1)) * units[m.group(2)]
    return f"{value:g}" if cpu else str(int(value))


def _options(pod: str, c: dict, volumes: dict, where: str) -> dict:
    """run's words (containers/spec.make) for container ``c`` of pod ``pod``."""
    if not isinstance(c, dict) or not c.get("name") or not c.get("image"):
        raise KubeError(f"{where}: a container needs a name and an image")
    kw: dict = {"name": f"{pod}-{c['name']}"}
    command, args = list(c.get("command") or []), list(c.get("args") or [])
    if command:          # command replaces the image's entrypoint (and its Cmd)
        kw["entrypoint"], args = command[0], command[1:] + args
    kw["command"] = tuple(str(a) for a in args)
    env = []
    for e in c.get("env") or []:
        if "valueFrom" in e:
            raise KubeError(f"{where}.env {e.get('name')}: valueFrom is not supported")
        env.append(f"{e['name']}={e.get('value', '')}")
    kw["env"] = tuple(env)
    limits = (c.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        kw["memory"] = _quantity(limits["memory"], f"{where}.resources.limits.memory")
    if "cpu" in limits:
        kw["cpus"] = _quantity(limits["cpu"], f"{where}.resources.limits.cpu", cpu=True)
    if c.get("workingDir"):
        kw["workdir"] = c["workingDir"]
    kw.update(_play_security(c.get("securityContext") or {}))
    mounts = []
    for m in c.get("volumeMounts") or []:
        source = volumes.get(m.get("name"))
        if source is None:
            raise KubeError(f"{where}.volumeMounts {m.get('name')}: no volume of that name "
                            "in spec.volumes")
        ro = ":ro" if m.get("readOnly") else ""
        mounts.append(f"{source}:{m['mountPath']}{ro}" if source else m["mountPath"])
    kw["volume"] = tuple(mounts)
    return kw


def _play_security(sc: dict) -> dict:
    kw: dict = {word: True for field, word in SECURITY_FLAGS if sc.get(field)}
    caps = sc.get("capabilities") or {}
    kw.update({word: tuple(caps.get(field) or ()) for field, word in CAPABILITIES})
    if sc.get("runAsUser") is not None:
        kw["user"] = str(sc["runAsUser"]) + (f":{sc['runAsGroup']}"
                                             if sc.get("runAsGroup") is not None else "")
    return kw


def _volumes(spec: dict, where: str) -> dict:
    """spec.volumes: name -> a -v source (a host path, a volume's name), or
    "" for an anonymous volume (emptyDir); host directories made for
    DirectoryOrCreate."""
    out = {}
    for v in spec.get("volumes") or []:
        name = v.get("name")
        if "hostPath" in v:
            path, kind = v["hostPath"].get("path"), v["hostPath"].get("type") or ""
            if not path or not path.startswith("/"):
                raise KubeError(f"{where}.volumes {name}: hostPath.path must be absolute")
            if kind == "DirectoryOrCreate":
                os.makedirs(path, mode=0o755, exist_ok=True)
            elif kind in ("Directory", "File") and not os.path.exists(path):
                raise KubeError(f"{where}.volumes {name}: hostPath {path} does not exist")
            out[name] = path
        elif "emptyDir" in v:
            out[name] = ""
        elif "persistentVolumeClaim" in v:
            out[name] = v["persistentVolumeClaim"].get("claimName")
        else:
            raise KubeError(f"{where}.volumes {name}: minirun plays hostPath, emptyDir and "
                            "persistentVolumeClaim volumes")
    return out


# a Pod's fields that would change what runs, which minirun does not play
# (refused, not passed over)
UNPLAYED = {"initContainers": "minirun plays spec.containers only, all started at once",
            "ephemeralContainers": "they are added to a running pod, which kube play does not",
            "hostPID": "a pod's containers share the infra's PID namespace (--share pid) "
                       "or have their own; the host's is not offered",
            "hostIPC": "a pod's containers share the infra's IPC namespace; the host's is not "
                       "offered"}


def _plans(docs: list[dict]) -> list[tuple[str, dict, list[dict]]]:
    """Every document checked into (pod name, pod words, containers' words),
    before anything is made."""
    from minirun.engine.containers import spec as specs
    plans = []
    for n, doc in enumerate(docs):
        name, spec = _pod_of(doc, n)
        where = f"document {n + 1} ({name})"
        volumes = _volumes(spec, where)
        for field in UNPLAYED:
            if spec.get(field):
                raise KubeError(f"{where}.spec.{field}: not supported: {UNPLAYED[field]}")
        policy = spec.get("restartPolicy") or "Never"
        if policy not in RESTART:
            raise KubeError(f"{where}.spec.restartPolicy: {policy!r}: use Always, OnFailure "
                            "or Never")
        ports, members = [], []
        for i, c in enumerate(spec["containers"]):
            cw = f"{where}.spec.containers[{i}]"
            for p in c.get("ports") or []:
                if p.get("hostPort"):
                    ip = f"{p['hostIP']}:" if p.get("hostIP") else ""
                    ports.append(f"{ip}{p['hostPort']}:{p['containerPort']}/"
                                 f"{(p.get('protocol') or 'TCP').lower()}")
            kw = dict(_options(name, c, volumes, cw), restart=RESTART[policy])
            specs.make(c["image"], kw["command"],    # checked now: nothing made yet
                       **{k: v for k, v in kw.items() if k != "command"})
            members.append(dict(kw, image=c["image"]))
        plans.append((name, {"publish": tuple(ports), "hostname": spec.get("hostname"),
                             "network": "host" if spec.get("hostNetwork") else None,
                             "share": "+pid" if spec.get("shareProcessNamespace") else None},
                      members))
    return plans


def play(root: str | None, store: Store, filename: str, replace: bool = False,
         start: bool = True) -> list[str]:
    """Make (and, if ``start``, start) the pods of ``filename``; the lines
    podman prints.  ``replace``: pods of those names are taken down first
    (said as kube down says it)."""
    from minirun.engine.containers import create as creating
    from minirun.engine.containers import spec as specs
    from minirun.engine.pods import create as pod_create, lifecycle
    plans = _plans(_load(filename))
    lines, made = [], []
    if replace:
        lines += _take_down(store, [pods.find(store, name)["id"] for name, _, _ in plans
                                    if lifecycle.exists(store, name)])
    try:
        for name, pod_words, members in plans:
            pod_id = pod_create.create(store, name=name, **pod_words)
            made.append(pod_id)
            ids = []
            for kw in members:
                creating.ensure_image(root, kw["image"], store=store)
                words = {k: v for k, v in kw.items() if k not in ("image", "command")}
                spec = specs.make(kw["image"], kw["command"],
                                  pod=pods.joining(store, pod_id), **words)
                ids.append(creating.create(store, spec))
            if start:
                lifecycle.start(store, pod_id)
            lines += ["Pod:", pod_id, "Container:" if len(ids) == 1 else "Containers:",
                      *ids, ""]
    except BaseException:
        for pod_id in made:
            lifecycle.remove(store, pod_id, force=True)
        raise
    return lines


def down(store: Store, filename: str) -> list[str]:
    """Stop and remove the pods that ``filename`` names (each must be there:
    a missing one is said before any is touched, as podman); the lines
    podman prints."""
    names = [_pod_of(doc, n)[0] for n, doc in enumerate(_load(filename))]
    return _take_down(store, [pods.find(store, n)["id"] for n in names])


def _take_down(store: Store, found: list[str]) -> list[str]:
    """Pods stopped, then removed; podman's lines for it (none for none)."""
    from minirun.engine.pods import lifecycle
    stopped = [lifecycle.stop(store, pod_id) for pod_id in found]
    removed = [lifecycle.remove(store, pod_id, force=True) for pod_id in found]
    return ["Pods stopped:", *stopped, "Pods removed:", *removed] if found else []
