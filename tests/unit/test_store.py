"""The store's parts (engine/store/) on a real SQLite index and real files
in a temporary root, no privileges needed: finding images by id, name and
short name; rmi keeping what another image shares; the collector waiting
for writers; recovery from a killed unpack."""
import fcntl
import json
import os

import pytest

from minirun.engine.store import ImageNotFound, Store, StoreError, hex_of
from minirun.engine.store.shared import remove_tree


def a_layer(store: Store, content: bytes) -> tuple[str, str]:
    """(diff_id, blob digest) of a layer unpacked into the store (one file)."""
    blob = store.put_blob(b"tar of " + content)
    diff_id = "sha256:" + hex_of(store.put_blob(b"diff " + content))
    os.unlink(store.blob_path(diff_id))
    tmp = store.temp_layer_dir(diff_id)
    with open(os.path.join(tmp, "file"), "wb") as f:
        f.write(content)
    store.commit_layer(diff_id, tmp, len(content))
    return diff_id, blob


def an_image(store: Store, name: str, layers: list[tuple[str, str]], image_id=None) -> str:
    image_id = image_id or store.put_blob(json.dumps({"config": name}).encode())
    manifest = store.put_blob(json.dumps({"manifest": name}).encode())
    store.add_image(image_id, manifest, layers, 1, [name])
    return image_id


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "store"))
    yield s
    s.db.close()


def test_images_are_found_by_id_name_and_short_name(store):
    hub = an_image(store, "docker.io/library/busybox:latest", [])
    quay = an_image(store, "quay.io/x/y:1", [])
    assert store.resolve("busybox") == (hub, "docker.io/library/busybox:latest")
    assert store.resolve("x/y:1") == (quay, "quay.io/x/y:1")     # the one registry that has it
    assert store.resolve(hex_of(quay)[:12]) == (quay, None)     # an id removes, not untags
    assert store.lookup("sha256:" + hex_of(hub)) == hub


def test_an_ambiguous_id_prefix_and_an_unknown_image_are_refused(store):
    for last in "01":
        an_image(store, f"localhost/i{last}:1", [], image_id="sha256:abc" + last * 61)
    with pytest.raises(StoreError, match="`abc` is ambiguous"):
        store.resolve("abc")
    with pytest.raises(ImageNotFound, match="`nothing:here` is not in the store") as e:
        store.resolve("nothing:here")
    assert e.value.exit_code == 125


def test_rmi_keeps_what_another_image_shares(store):
    shared, own = a_layer(store, b"shared"), a_layer(store, b"own")
    kept = an_image(store, "localhost/kept:1", [shared])
    gone = an_image(store, "localhost/gone:1", [shared, own])
    manifest = store.db.execute("SELECT manifest_digest FROM images WHERE id=?",
                                (gone,)).fetchone()[0]
    cut_short = os.path.join(store.root, "layers", ".tmp-" + hex_of(own[0]))
    os.mkdir(cut_short)
    copy = store.mapped_layer_dir(own[0], "1000")
    os.makedirs(copy)
    record = store.lazy_record(gone)
    os.makedirs(os.path.dirname(record))
    with open(record, "w") as f:
        json.dump({"layers": [{"digest": own[1]}]}, f)
    os.makedirs(os.path.dirname(store.lazy_cache(own[1])))
    open(store.lazy_cache(own[1], ".windows"), "w").close()

    assert store.remove_image(gone) == [own[0]]
    for path in (store.layer_dir(own[0]), cut_short, copy, record,
                 store.lazy_cache(own[1], ".windows"), store.blob_path(own[1]),
                 store.blob_path(gone), store.blob_path(manifest)):
        assert not os.path.lexists(path), path
    assert os.path.isdir(store.layer_dir(shared[0])) and store.has_blob(shared[1])
    assert store.has_blob(kept) and store.has_layer(shared[0])
    assert [i["Names"] for i in store.images()] == [["localhost/kept:1"]]


def test_the_collector_waits_for_writers(store):
    an_image(store, "localhost/i:1", [])
    stray = store.put_blob(b"left by a failed pull")
    with store.writing():
        assert store.collect() == []            # a pull under way: its blobs are not named yet
    assert store.has_blob(stray)
    assert store.collect() == [hex_of(stray)]
    assert not store.has_blob(stray) and len(store.referenced_blobs()) == 2


def test_opening_removes_what_a_killed_unpack_left(store, tmp_path):
    diff_id = "sha256:" + "d" * 64
    busy_id = "sha256:" + "e" * 64
    tmp, busy = store.temp_layer_dir(diff_id), store.temp_layer_dir(busy_id)
    fd = os.open(os.path.join(store.root, "layers", hex_of(busy_id) + ".lock"),
                 os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)          # still being unpacked by someone
        Store(store.root).db.close()
        assert not os.path.exists(tmp) and os.path.isdir(busy)
    finally:
        os.close(fd)
    remove_tree(busy)


def test_a_store_made_by_an_older_minirun_is_upgraded_in_place(tmp_path):
    """A version-1 store (no containers.usage, no networks, leases or pods
    tables) opens, gains what it lacks and keeps its images: every
    existing user's store takes this path once."""
    import re
    import sqlite3
    from minirun.engine.store import SCHEMA, SCHEMA_VERSION
    root = str(tmp_path / "store")
    os.makedirs(root)
    old = re.sub(r"CREATE TABLE IF NOT EXISTS (networks|leases|pods) \(.*?\n\);", "", SCHEMA,
                 flags=re.S)
    old = re.sub(r"options TEXT,(.*)\n\s*usage TEXT.*\n", r"options TEXT \1\n", old)
    assert "usage" not in old and "pods" not in old
    db = sqlite3.connect(os.path.join(root, "store.db"))
    db.executescript(old)
    db.execute("INSERT INTO tags (name, image_id) VALUES ('localhost/old:1', 'sha256:ab')")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    store = Store(root)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master")}
    assert {"networks", "leases", "pods"} <= tables
    columns = {r[1] for r in store.db.execute("PRAGMA table_info(containers)")}
    assert "usage" in columns
    assert store.db.execute("SELECT image_id FROM tags").fetchall() == [("sha256:ab",)]


def test_two_removers_of_one_tree_both_succeed(tmp_path):
    """rm -f of a pooled container and its owner's pool may remove the same
    directory at once: what the other took first is no error."""
    import threading
    for _ in range(20):
        top = tmp_path / "container"
        for i in range(30):
            (top / "rootfs" / f"d{i}" / "e").mkdir(parents=True)
            (top / "rootfs" / f"d{i}" / "e" / "f").write_text("x")
        errors = []

        def remove():
            try:
                remove_tree(str(top))
            except OSError as e:
                errors.append(e)
        threads = [threading.Thread(target=remove) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and not top.exists(), errors
