"""Pusher: puts a blessed model into the serving folder atomically, and never overwrites.

TFX's Pusher copies file by file into the final version folder, so a crash mid-copy leaves a
half-written version where a model server (or `local_runner.py predict`) would load it. Here
the model is copied into a hidden temporary folder inside the serving folder, flushed to disk,
and renamed to its version folder in one step; the completion marker is written after the
rename. A version that already exists is never replaced: the push takes the next free number.
Nothing is written unless the gate's blessing has `blessed` = 1 for this very model.

Object stores such as GCS (a `gs://` serving dir on Vertex) have no atomic folder rename. There
the model is copied straight into its new version folder, `saved_model.pb` last (the file TF
Serving waits for, as TFX's Pusher does), and the marker after it; a push killed mid-copy leaves
a version without the marker, which readers of the marker ignore.
"""

import errno
import json
import os
import shutil
import socket
import time
import uuid
from dataclasses import dataclass

from tfx import v1 as tfx
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types.artifact import Artifact
from tfx.utils import path_utils

from components.gate import ChampionBlessing, GateReport
from components.model_card import model_card_files
from components.selector import SOURCE_MODEL_ID
from components.serving import COMPLETE_MARKER, read_operating_point, version_folders

TMP_PREFIX = ".push-tmp-"
PUSH_RECORD = "push.json"
# Versions are Unix seconds like TFX's; a collision moves up by one, this many times at most.
MAX_VERSION_ATTEMPTS = 1000


class PushError(RuntimeError):
    """The model could not be pushed; the serving folder is unchanged."""


@dataclass
class PushResult:
    pushed: bool
    destination: str = ""
    version: str = ""
    reason: str = ""


def is_blessed(blessing: Artifact, model: Artifact) -> bool:
    """True only for a blessing with `blessed` = 1 that names this model (when it names one)."""
    if not blessing.has_custom_property("blessed"):
        return False
    if blessing.get_int_custom_property("blessed") != 1:
        return False
    if blessing.has_custom_property("current_model_id") and model.id:
        blessed_id = blessing.get_int_custom_property("current_model_id")
        if blessed_id != model.id:
            raise PushError(
                f"the blessing {blessing.uri} is for model id {blessed_id}, not for the model "
                f"to push (id {model.id}, {model.uri}); refusing to push"
            )
    return True


def _fsync_tree(root: str) -> None:
    # The rename must not become visible before the data it points to is on disk.
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(serving_dir: str) -> list[str]:
    """Delete temporary folders that a killed push on this host left behind."""
    host = socket.gethostname()
    removed = []
    for name in os.listdir(serving_dir):
        if not name.startswith(TMP_PREFIX):
            continue
        owner_host, _, rest = name[len(TMP_PREFIX) :].rpartition("@")
        pid = rest.split("-")[0]
        if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(serving_dir, name), ignore_errors=True)
            removed.append(name)
    return removed


def _claim_version(tmp: str, serving_dir: str, now: float) -> str:
    """Rename tmp to the first free version >= now (and above every existing one)."""
    existing = [v for v, _ in version_folders(serving_dir)]
    version = max(int(now), existing[-1] + 1 if existing else 0)
    for _ in range(MAX_VERSION_ATTEMPTS):
        target = os.path.join(serving_dir, str(version))
        if not os.path.lexists(target):
            try:
                # POSIX rename replaces only a missing or empty directory; a version with a
                # model in it (say, a concurrent push that took this number) makes it fail.
                os.replace(tmp, target)
                return str(version)
            except OSError as error:
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    raise
        version += 1
    raise PushError(f"no free version folder in {serving_dir} after {MAX_VERSION_ATTEMPTS} tries")


def _write_json_atomically(path: str, data: dict) -> None:
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))


def _is_local(path: str) -> bool:
    return "://" not in path


def _copy_tree(src: str, dst: str) -> None:
    """Copy through TFX's fileio (local paths, gs:// ...), with saved_model.pb last."""
    pairs = []
    src = src.rstrip("/")
    for folder, _, files in fileio.walk(src):
        # Not os.path.relpath: it would normalise "gs://" to "gs:/".
        relative = folder.rstrip("/")[len(src) :].lstrip("/")
        target = os.path.join(dst, relative) if relative else dst
        fileio.makedirs(target)
        pairs += [(os.path.join(folder, n), os.path.join(target, n)) for n in files]
    graph = os.path.join(src, "saved_model.pb")
    for source, target in sorted(pairs, key=lambda pair: pair[0] == graph):
        fileio.copy(source, target, overwrite=False)


def _write_files(folder: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = os.path.join(folder, name)
        if _is_local(folder):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            with fileio.open(path, "w") as f:
                f.write(text)


def _push_to_object_store(
    model_dir: str, serving_dir: str, now: float, marker: dict, files: dict[str, str]
) -> PushResult:
    fileio.makedirs(serving_dir)
    existing = [int(n.rstrip("/")) for n in fileio.listdir(serving_dir) if n.rstrip("/").isdigit()]
    version = max(int(now), max(existing) + 1 if existing else 0)
    while fileio.exists(os.path.join(serving_dir, str(version))):
        version += 1
    destination = os.path.join(serving_dir, str(version))
    _copy_tree(model_dir, destination)
    _write_files(destination, files)
    with fileio.open(os.path.join(destination, COMPLETE_MARKER), "w") as f:
        f.write(json.dumps({**marker, "version": str(version)}, indent=2, sort_keys=True))
    return PushResult(pushed=True, destination=destination, version=str(version), reason="pushed")


def push_model(
    model_dir: str,
    serving_dir: str,
    *,
    blessed: bool,
    details: dict | None = None,
    now: float | None = None,
    files: dict[str, str] | None = None,
) -> PushResult:
    """Copy the SavedModel at model_dir into a new version folder of serving_dir.

    Without a blessing nothing is touched, not even created. `details` goes into the marker;
    `files` (name -> text, the model card) go into the version with the model, before it.
    """
    if not blessed:
        return PushResult(pushed=False, reason="the model is not blessed")
    if not fileio.exists(os.path.join(model_dir, "saved_model.pb")):
        raise PushError(f"{model_dir} is not a SavedModel (no saved_model.pb); nothing pushed")
    now = time.time() if now is None else now
    marker = {"source": model_dir, "pushed_at": time.time(), **(details or {})}
    if not _is_local(serving_dir):
        return _push_to_object_store(model_dir, serving_dir, now, marker, files or {})
    os.makedirs(serving_dir, exist_ok=True)
    remove_stale_temporaries(serving_dir)
    # Host and pid in the name let a later push tell a dead push's leftovers from a live one.
    tmp = os.path.join(
        serving_dir, f"{TMP_PREFIX}{socket.gethostname()}@{os.getpid()}-{uuid.uuid4().hex[:8]}"
    )
    try:
        if _is_local(model_dir):
            shutil.copytree(model_dir, tmp)
        else:
            _copy_tree(model_dir, tmp)
        _write_files(tmp, files or {})
        _fsync_tree(tmp)
        version = _claim_version(tmp, serving_dir, now)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(serving_dir)
    destination = os.path.join(serving_dir, version)
    _write_json_atomically(
        os.path.join(destination, COMPLETE_MARKER), {**marker, "version": version}
    )
    return PushResult(pushed=True, destination=destination, version=version, reason="pushed")


@component
def AtomicPusher(
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    model_blessing: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ModelBlessing],
    pushed_model: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.PushedModel],
    champion: tfx.dsl.components.OutputArtifact[ChampionBlessing],
    serving_dir: tfx.dsl.components.Parameter[str],
    gate_report: tfx.dsl.components.InputArtifact[GateReport] = None,
    data_location: tfx.dsl.components.Parameter[str] = "",
):
    model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    # One id everywhere (card, push marker, champion): the Trainer's model, of which the
    # Selector's is a copy.
    model_id = model.get_int_custom_property(SOURCE_MODEL_ID) or model.id
    candidate = model.get_string_custom_property("candidate")
    blessed = is_blessed(model_blessing, model)
    # Rendered before anything is written: a card that fails fails the push, serving untouched.
    card = (
        model_card_files(
            model_dir,
            gate_report.uri if gate_report is not None else None,
            data_location=data_location,
            model_id=model_id,
            candidate=candidate,
        )
        if blessed
        else None
    )
    result = push_model(
        model_dir,
        serving_dir,
        blessed=blessed,
        files=card,
        details={
            "model_id": model_id,
            "candidate": candidate,
            "blessing": model_blessing.uri,
            # The decision threshold travels with the push, for servers that read only this.
            "operating_point": read_operating_point(model_dir),
        },
    )
    # The properties TFX's Pusher sets, which local_runner and other readers expect.
    pushed_model.set_int_custom_property("pushed", int(result.pushed))
    if result.pushed:
        pushed_model.set_string_custom_property("pushed_destination", result.destination)
        pushed_model.set_string_custom_property("pushed_version", result.version)
    # The champion resolver (LatestBlessedModelStrategy) reads these: the model pushed last is
    # the one every later candidate is judged against.
    champion.set_int_custom_property("blessed", int(result.pushed))
    champion.set_int_custom_property("current_model_id", model_id)
    champion.set_string_custom_property("current_model", model.uri)
    # Named in every later run's change checks: "vs. the champion (version V, candidate C)".
    champion.set_string_custom_property("pushed_version", result.version)
    champion.set_string_custom_property("candidate", candidate)
    fileio.makedirs(champion.uri)
    fileio.makedirs(pushed_model.uri)
    with fileio.open(os.path.join(pushed_model.uri, PUSH_RECORD), "w") as f:
        f.write(json.dumps(result.__dict__, indent=2, sort_keys=True))
    print(f"Pushed to {result.destination}" if result.pushed else f"Not pushed: {result.reason}")
