"""The push: atomic rename into a new version folder, never an overwrite, only when blessed."""

import os
import shutil
import subprocess
import sys

import pytest
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts

from components import pusher
from components.pusher import PushError, is_blessed, push_model, remove_stale_temporaries
from components.serving import COMPLETE_MARKER, ServingError, complete_versions, latest_model_dir
from tests.runs import snapshot

NOW = 1_700_000_000


@pytest.fixture
def model_dir(tmp_path):
    """A stand-in SavedModel folder: the pusher copies files, it never loads them."""
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "assets").mkdir()
    (model / "saved_model.pb").write_bytes(b"graph" * 100)
    (model / "variables" / "variables.index").write_bytes(b"index")
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(4096))
    (model / "assets" / "tokens").write_text("a\nb\n")
    return model


def model_files(folder) -> dict:
    return {k: v for k, v in snapshot(folder).items() if k != COMPLETE_MARKER}


def test_blessed_push_makes_one_complete_version_and_leaves_no_temporary(model_dir, tmp_path):
    serving = tmp_path / "serving"
    result = push_model(str(model_dir), str(serving), blessed=True, now=NOW)
    assert result.pushed and result.version == str(NOW)
    assert os.listdir(serving) == [str(NOW)]
    assert model_files(result.destination) == snapshot(model_dir)
    assert latest_model_dir(str(serving)) == result.destination


def test_unblessed_push_touches_nothing(model_dir, tmp_path):
    serving = tmp_path / "serving"
    result = push_model(str(model_dir), str(serving), blessed=False, now=NOW)
    assert not result.pushed and "not blessed" in result.reason
    assert not serving.exists()


def test_existing_version_is_never_overwritten(model_dir, tmp_path):
    serving = tmp_path / "serving"
    first = push_model(str(model_dir), str(serving), blessed=True, now=NOW)
    before = snapshot(first.destination)
    (model_dir / "saved_model.pb").write_bytes(b"a newer model")
    # Same clock second, and then a clock that went backwards.
    second = push_model(str(model_dir), str(serving), blessed=True, now=NOW)
    third = push_model(str(model_dir), str(serving), blessed=True, now=NOW - 100)
    assert (second.version, third.version) == (str(NOW + 1), str(NOW + 2))
    assert snapshot(first.destination) == before
    assert latest_model_dir(str(serving)) == third.destination


def test_a_version_taken_by_a_concurrent_push_moves_to_the_next_number(
    model_dir, tmp_path, monkeypatch
):
    serving = tmp_path / "serving"
    other = push_model(str(model_dir), str(serving), blessed=True, now=NOW)
    before = snapshot(other.destination)
    # The other push lands between our existence check and our rename: the check sees
    # nothing, so only the rename itself can refuse.
    monkeypatch.setattr(pusher.os.path, "lexists", lambda path: False)
    monkeypatch.setattr(pusher, "version_folders", lambda serving_dir: [])
    ours = push_model(str(model_dir), str(serving), blessed=True, now=NOW)
    assert ours.version == str(NOW + 1)
    assert snapshot(other.destination) == before


def test_failure_mid_copy_leaves_no_version_and_no_temporary(model_dir, tmp_path, monkeypatch):
    serving = tmp_path / "serving"
    kept = push_model(str(model_dir), str(serving), blessed=True, now=NOW)
    before = snapshot(serving)

    def copy_half_then_fail(src, dst):
        os.makedirs(dst)
        shutil.copy2(os.path.join(src, "saved_model.pb"), dst)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pusher.shutil, "copytree", copy_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        push_model(str(model_dir), str(serving), blessed=True, now=NOW + 10)
    assert snapshot(serving) == before
    assert latest_model_dir(str(serving)) == kept.destination


def test_leftovers_of_a_killed_push_are_ignored_by_readers_and_removed_by_the_next_push(
    model_dir, tmp_path
):
    serving = tmp_path / "serving"
    kept = push_model(str(model_dir), str(serving), blessed=True, now=NOW)
    # A push killed mid-copy leaves its temporary folder; its process is gone.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = pusher.socket.gethostname()
    stale = serving / f"{pusher.TMP_PREFIX}{host}@{dead.pid}-deadbeef"
    shutil.copytree(model_dir / "variables", stale)
    live = serving / f"{pusher.TMP_PREFIX}{host}@{os.getpid()}-cafecafe"
    live.mkdir()
    assert latest_model_dir(str(serving)) == kept.destination

    assert remove_stale_temporaries(str(serving)) == [stale.name]
    assert live.exists()
    newer = push_model(str(model_dir), str(serving), blessed=True, now=NOW + 1)
    assert sorted(os.listdir(serving)) == sorted([live.name, kept.version, newer.version])


def test_a_version_folder_without_the_marker_is_ignored_and_kept(model_dir, tmp_path):
    serving = tmp_path / "serving"
    # Such as a copy by TFX's file-by-file Pusher that was interrupted.
    partial = serving / str(NOW + 5)
    partial.mkdir(parents=True)
    (partial / "saved_model.pb").write_bytes(b"half")
    with pytest.raises(ServingError, match=f"without {COMPLETE_MARKER}.*{NOW + 5}"):
        latest_model_dir(str(serving))
    result = push_model(str(model_dir), str(serving), blessed=True, now=NOW)
    assert result.version == str(NOW + 6)
    assert (partial / "saved_model.pb").read_bytes() == b"half"
    assert [v for v, _ in complete_versions(str(serving))] == [NOW + 6]


def test_a_folder_that_is_not_a_saved_model_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PushError, match="not a SavedModel"):
        push_model(str(empty), str(tmp_path / "serving"), blessed=True)
    assert not (tmp_path / "serving").exists()


def _artifacts(blessed=None, model_id=7, blessed_id=7):
    model = standard_artifacts.Model()
    model.id = model_id
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = "/pipeline/FairnessGate/blessing/9"
    if blessed is not None:
        blessing.set_int_custom_property("blessed", blessed)
        blessing.set_int_custom_property("current_model_id", blessed_id)
    return blessing, model


def test_only_blessed_one_counts():
    assert is_blessed(*_artifacts(blessed=1))
    assert not is_blessed(*_artifacts(blessed=0))
    assert not is_blessed(*_artifacts(blessed=None))
    assert not is_blessed(*_artifacts(blessed=2))


def test_a_blessing_for_another_model_is_refused():
    with pytest.raises(PushError, match="for model id 6, not for the model to push"):
        is_blessed(*_artifacts(blessed=1, model_id=7, blessed_id=6))


def test_serving_errors_are_clear(tmp_path):
    with pytest.raises(ServingError, match="serving folder not found: .*nowhere"):
        latest_model_dir(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ServingError, match="no complete pushed model in .*empty$"):
        latest_model_dir(str(tmp_path / "empty"))


def _ram_copy(local, remote):
    for root, _, files in os.walk(local):
        for name in files:
            path = os.path.join(root, name)
            target = f"{remote}/{os.path.relpath(path, local)}"
            fileio.makedirs(os.path.dirname(target))
            fileio.copy(path, target)


def test_object_store_push_copies_the_graph_last_and_never_overwrites(model_dir, monkeypatch):
    # TensorFlow's in-memory filesystem stands in for gs://, which has no atomic rename.
    serving = f"ram://serving-{os.getpid()}"
    copied = []
    real_copy = fileio.copy
    monkeypatch.setattr(
        pusher.fileio,
        "copy",
        lambda src, dst, overwrite=False: copied.append(dst) or real_copy(src, dst, overwrite),
    )
    first = push_model(str(model_dir), serving, blessed=True, now=NOW)
    second = push_model(str(model_dir), serving, blessed=True, now=NOW)
    assert (first.version, second.version) == (str(NOW), str(NOW + 1))
    assert copied[3].endswith(f"{NOW}/saved_model.pb") and len(copied) == 8
    for result in (first, second):
        assert fileio.exists(f"{result.destination}/{COMPLETE_MARKER}")
        assert fileio.exists(f"{result.destination}/variables/variables.index")


def test_a_remote_model_is_pushed_atomically_to_a_local_serving_dir(model_dir, tmp_path):
    remote = f"ram://model-{os.getpid()}"
    _ram_copy(model_dir, remote)
    result = push_model(remote, str(tmp_path / "serving"), blessed=True, now=NOW)
    assert os.listdir(tmp_path / "serving") == [str(NOW)]
    assert model_files(result.destination) == snapshot(model_dir)
