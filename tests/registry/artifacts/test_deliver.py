"""``get_artifact``: files land inside the directory given, never through a link, never over
the user's files, and a failure leaves the directory exactly as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry import AlreadyExists, IntegrityError, InvalidInput, Registry
from tests.models import iris_classifier

URL = "floe://model/m/versions/v1/"


@pytest.fixture
def logged(reg: Registry) -> Registry:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    return reg


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: a file's bytes, a link's target, a folder as 'dir'."""
    out: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            out[rel] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = path.read_bytes()
    return out


def test_one_file_goes_inside_an_existing_directory(logged: Registry, tmp_path: Path) -> None:
    dest = tmp_path / "existing"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    # IsADirectoryError before: the file was opened at the directory's own path.
    assert logged.get_artifact(URL + "MANIFEST.yml", dest) == [dest / "MANIFEST.yml"]
    assert logged.get_artifact(URL + "env/conda.yml", str(dest)) == [dest / "conda.yml"]
    assert (dest / "notes.txt").read_text() == "mine"
    # A top-level file into a new directory: the directory is made, the file goes in it.
    assert logged.get_artifact(URL + "MANIFEST.yml", tmp_path / "new") == [
        tmp_path / "new" / "MANIFEST.yml"
    ]
    assert (tmp_path / "new").is_dir()


@pytest.mark.parametrize("local_dir", [123, None, b"/tmp/x", ["dir"], ""])
def test_a_local_dir_that_is_not_a_path_is_refused(logged: Registry, local_dir: object) -> None:
    with pytest.raises(InvalidInput, match="local_dir"):
        logged.get_artifact(URL, local_dir)  # type: ignore[arg-type]


def test_an_unwritable_local_dir_is_one_clear_error(logged: Registry, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(InvalidInput, match="is a file; give a directory"):
        logged.get_artifact(URL, a_file)
    # Below a file: mkdir raises NotADirectoryError (an OSError escaped before).
    with pytest.raises(InvalidInput, match=r"cannot write .*a-file/sub.*choose a directory"):
        logged.get_artifact(URL, a_file / "sub" / "dir")
    assert a_file.read_text() == ""


def test_a_planted_symlink_is_never_written_through(logged: Registry, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "conda.yml").symlink_to(victim)
    before = snapshot(dest)
    with pytest.raises(InvalidInput, match="symbolic link"):
        logged.get_artifact(URL + "env/conda.yml", dest)
    assert victim.read_text() == "precious"  # it was overwritten before
    assert snapshot(dest) == before

    # A linked folder on the way is refused too, and nothing lands where it points.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    whole = tmp_path / "whole"
    whole.mkdir()
    (whole / "env").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InvalidInput, match="symbolic link"):
        logged.get_artifact(URL, whole)
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in whole.iterdir()) == ["env"]


def test_a_file_with_other_contents_is_refused_and_kept(logged: Registry, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "env").mkdir(parents=True)
    (dest / "env" / "conda.yml").write_text("my own environment")
    before = snapshot(dest)
    with pytest.raises(AlreadyExists, match=r"env/conda.yml; nothing was written: move them"):
        logged.get_artifact(URL, dest)
    assert snapshot(dest) == before  # the other files of the version were not written either


def test_the_same_download_twice_succeeds(logged: Registry, tmp_path: Path) -> None:
    first = logged.get_artifact(URL, tmp_path / "dest")
    contents = snapshot(tmp_path / "dest")
    assert logged.get_artifact(URL, tmp_path / "dest") == first
    assert snapshot(tmp_path / "dest") == contents
    assert not [p for p in (tmp_path / "dest").iterdir() if p.name.startswith(".floe-get-")]


def test_a_failure_leaves_the_directory_as_it_was(
    logged: Registry, artifact_root: Path, tmp_path: Path
) -> None:
    mv = logged.get_model("m").version("v1")
    dest = tmp_path / "dest"
    (dest / "model").mkdir(parents=True)
    (dest / "notes.txt").write_text("mine")
    before = snapshot(dest)
    # The last file in download order is corrupt in the root: every earlier one had been
    # written (and was left there) before.
    (artifact_root / "versions" / mv.id / "model" / "model.pkl").write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="model/model.pkl .* nothing was written"):
        logged.get_artifact(URL, dest)
    assert snapshot(dest) == before
    # A new directory made for the download is removed again.
    with pytest.raises(IntegrityError, match=r"nothing was written to .*fresh/dir: "
                                             r"restore the artifact root from a backup"):
        logged.get_artifact(URL, tmp_path / "fresh" / "dir")
    assert not (tmp_path / "fresh").exists()
