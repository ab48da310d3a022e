"""References, manifests, registries.conf and auth.json: pure parsing."""
import json

import pytest

from minirun.engine import digest as dg
from minirun.engine.images import manifest as mf
from minirun.engine import reference
from minirun.engine.images import registries

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("text,domain,path,tag,digest", [
    ("busybox", None, "busybox", "latest", None),
    ("busybox:1.36", None, "busybox", "1.36", None),
    ("docker.io/busybox", "docker.io", "library/busybox", "latest", None),
    ("localhost:5000/x/y:tag", "localhost:5000", "x/y", "tag", None),
    ("localhost/app", "localhost", "app", "latest", None),
    (f"quay.io/org/app@{D}", "quay.io", "org/app", None, D),
    (f"127.0.0.1:5000/a/b:v1@{D}", "127.0.0.1:5000", "a/b", "v1", D),
])
def test_references(text, domain, path, tag, digest):
    r = reference.parse(text)
    assert (r.domain, r.path, r.tag, r.digest) == (domain, path, tag, digest)


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("Busybox", "lowercase"),
    ("x/../y", "lowercase"),
    ("busybox:bad tag", "tag"),
    ("busybox@sha256:../x", "not a valid digest"),
    ("busybox@md5:abc", "not a valid digest"),
])
def test_bad_references(text, message):
    with pytest.raises(reference.InvalidReference if "digest" not in message
                       else dg.DigestError) as e:
        reference.parse(text)
    assert message in str(e.value)


def test_short_names_resolve_through_search_registries():
    r = reference.parse("busybox")
    assert str(r.with_domain("docker.io")) == "docker.io/library/busybox:latest"
    assert str(r.with_domain("localhost:5000")) == "localhost:5000/busybox:latest"


def _layer(mt="application/vnd.oci.image.layer.v1.tar+gzip"):
    return {"mediaType": mt, "digest": D, "size": 10}


def _manifest(**changes):
    doc = {"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
           "config": {"mediaType": mf.OCI_CONFIG, "digest": D, "size": 2},
           "layers": [_layer()]}
    doc.update(changes)
    return json.dumps(doc).encode()


def test_a_manifest_and_an_index_parse():
    m = mf.parse(_manifest())
    assert isinstance(m, mf.Manifest) and m.layers[0].size == 10
    idx = mf.parse(json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": [
        {"mediaType": mf.OCI_MANIFEST, "digest": D, "size": 5,
         "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": mf.OCI_MANIFEST, "digest": "sha256:" + "b" * 64, "size": 5,
         "platform": mf.host_platform()}]}).encode())
    assert mf.choose(idx).digest == "sha256:" + "b" * 64
    with pytest.raises(mf.ManifestError, match="no image for linux/s390x"):
        mf.choose(idx, {"os": "linux", "architecture": "s390x"})


@pytest.mark.parametrize("data,message", [
    (_manifest(manifests=[]), "ambiguous"),
    (_manifest(mediaType="application/json"), "is not an image manifest"),
    (_manifest(schemaVersion=1), "schemaVersion 1"),
    (_manifest(layers=[dict(_layer(), digest="sha256:../../etc/passwd")]), "not a valid digest"),
    (_manifest(layers=[_layer("application/x-tar-exe")]), "not a layer type"),
    (_manifest(config={"mediaType": "application/vnd.cncf.helm.config", "digest": D,
                       "size": 1}), "artifact"),
    (_manifest(layers=[dict(_layer(), size=-1)]), "non-negative"),
    (b"{" + b" " * (5 << 20) + b"}", "more than"),
    (b"[1, 2]", "JSON object"),
])
def test_malformed_documents_are_refused(data, message):
    with pytest.raises((mf.ManifestError, dg.DigestError)) as e:
        mf.parse(data)
    assert message in str(e.value)


def test_served_media_type_must_agree():
    with pytest.raises(mf.ManifestError, match="served as"):
        mf.parse(_manifest(), mf.DOCKER_MANIFEST)


def test_chain_ids():
    a, b = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    assert mf.chain_ids((a, b)) == [a, dg.of_bytes(f"{a} {b}".encode())]


def test_verifier():
    v = dg.Verifier(dg.of_bytes(b"hello"), 5, "blob")
    v.update(b"hel")
    v.update(b"lo")
    v.check()
    v = dg.Verifier(dg.of_bytes(b"hello"), 5, "blob")
    v.update(b"hellO")
    with pytest.raises(dg.DigestError, match="tampered"):
        v.check()
    v = dg.Verifier(dg.of_bytes(b"hello"), 5, "blob")
    with pytest.raises(dg.DigestError, match="more than"):
        v.update(b"hello!")


def test_registries_conf(tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text('unqualified-search-registries = ["a.example", "b.example"]\n'
                    '[[registry]]\nlocation = "a.example"\ninsecure = true\n'
                    '[[registry]]\nprefix = "b.example/blocked"\nlocation = "b.example/x"\n'
                    'blocked = true\n')
    c = registries.load([str(conf)])
    assert c.search == ("a.example", "b.example")
    assert c.insecure("a.example/foo") and not c.insecure("b.example/foo")
    assert c.find("b.example/blocked/img").blocked
    assert c.find("c.example/img") is None
    conf.write_text("not = [toml")
    with pytest.raises(registries.RegistryConfigError, match="cannot read"):
        registries.load([str(conf)])


def test_auth_json_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    assert registries.credentials("r.example/x") is None
    registries.store_credentials("r.example", "alice", "s3:cret")
    assert registries.credentials("r.example/x/y") == ("alice", "s3:cret")
    doc = json.loads((tmp_path / "auth.json").read_text())
    assert doc["auths"]["r.example"]["auth"] == "YWxpY2U6czM6Y3JldA=="
    assert (tmp_path / "auth.json").stat().st_mode & 0o777 == 0o600
    assert registries.remove_credentials("r.example") == [str(tmp_path / "auth.json")]
    assert registries.credentials("r.example/x") is None
