"""`minirun --explain run` of an image, as root and rootless: the engine's
steps (pull or "image present", the bundle, the network) and the runtime's
(overlay mount, namespaces, pivot_root, ...), each under the process that
makes it (cli, monitor, parent, child, init), each with a why and its man
page; and nothing of the narration in the container's own output or log."""
from tests.kernel.test_explain import check_launch, find, parse


def test_explain_run_pulls_then_finds_the_image(mr, registry):
    name = f"{registry.addr}/test/busybox:latest"
    r = mr("--explain", "run", "--rm", name, "echo", "out")
    assert r.returncode == 0 and r.stdout == "out\n", r.stderr
    steps = parse(r.stderr)
    find(steps, "not in the store: pull it", "cli")
    # rootless, the pull runs as root of a user namespace, to keep files' owners
    puller = "store child" if mr.rt.rootless else "cli"
    assert find(steps, "manifest sha256:", puller)["why"]
    layer = find(steps, "GET, sha256, unpack", puller)
    assert "containers-storage(5)" in layer["pages"]
    find(steps, "recorded:", puller)
    find(steps, "config.json, upper/ and work/", "cli")

    r = mr("--explain", "run", "--rm", "--name", "told", name, "echo", "out")
    assert r.returncode == 0 and r.stdout == "out\n", r.stderr
    steps = parse(r.stderr)
    find(steps, "present in the store", "cli")
    assert not any("GET" in s["message"] for s in steps)
    network = find(steps, "network ", "monitor")
    if mr.rt.rootless:
        assert network["pages"] == "network_namespaces(7)"
        assert any(s["message"].split()[0].endswith(("pasta", "slirp4netns"))
                   and s["why"] for s in steps), "the helper's start, with its why"
    else:
        assert find(steps, "type veth peer", "monitor")["pages"] == "veth(4)"
        assert find(steps, "nft -f -", "monitor")["pages"] == "nft(8)"
    overlay = find(steps, 'mount("overlay"', "init")
    assert "read-only" in overlay["why"] and overlay["pages"] == "mount(8)"
    check_launch(steps, mr.rt.rootless, engine=True)
    order = [s["actor"] for s in steps]
    assert order.index("cli") < order.index("monitor") < order.index("parent") \
        < order.index("child") < order.index("init")


def test_the_narration_stays_out_of_the_containers_log(mr, img):
    r = mr("--explain", "run", "--name", "quiet", img, "echo", "only this")
    assert r.returncode == 0 and "execve(" in r.stderr, r.stderr
    assert mr("logs", "quiet", check=True).stdout == "only this\n"
