"""Writing outputs: atomic, and never replacing what a person wrote without force."""

import os

import pytest

from derive import LayergradError
from numeric.export import module_source
from numeric.files import MANIFEST, check_writable, write_output


def test_writes_and_may_replace_its_own_untouched_file(tmp_path):
    path = write_output(tmp_path / "a.md", "one")
    assert path.read_text() == "one"
    write_output(path, "two")
    assert path.read_text() == "two"
    assert (tmp_path / MANIFEST).exists()


def test_refuses_a_file_it_did_not_write_unless_forced(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("mine")
    with pytest.raises(LayergradError, match="use --force"):
        write_output(path, "generated")
    assert path.read_text() == "mine"
    write_output(path, "generated", force=True)
    assert path.read_text() == "generated"


def test_refuses_a_file_edited_since_it_was_written(tmp_path):
    path = write_output(tmp_path / "sheet.md", "generated")
    path.write_text("generated, then corrected by hand")
    with pytest.raises(LayergradError, match="edited since"):
        write_output(path, "generated again")


def test_a_generated_module_is_recognised_without_a_manifest(tmp_path):
    path = tmp_path / "layers.py"
    path.write_text(module_source("cs231n", "keep"))
    write_output(path, module_source("cs231n", "drop"))
    assert 'DROPOUT_CONVENTION = "drop"' in path.read_text()


def test_no_temporary_file_is_left_behind(tmp_path):
    write_output(tmp_path / "sub" / "x.txt", b"bytes")
    assert sorted(os.listdir(tmp_path / "sub")) == [MANIFEST, "x.txt"]


def test_bad_targets_are_clear_errors(tmp_path):
    with pytest.raises(LayergradError, match="is a directory"):
        write_output(tmp_path, "x")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LayergradError, match="cannot create folder"):
        write_output(blocker / "inside.txt", "x")


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux's /sys")
def test_a_folder_that_exists_but_cannot_be_written_is_a_clear_error():
    with pytest.raises(LayergradError, match=r"cannot write /sys/kernel/layergrad\.txt"):
        write_output("/sys/kernel/layergrad.txt", "x")


def test_check_writable_refuses_before_anything_is_computed(tmp_path):
    mine = tmp_path / "report.json"
    mine.write_text("a person's notes")
    with pytest.raises(LayergradError, match="use --force"):
        check_writable(mine)
    assert check_writable(mine, force=True) == mine and mine.read_text() == "a person's notes"
    write_output(tmp_path / "ours.json", "{}")
    assert check_writable(tmp_path / "ours.json") == tmp_path / "ours.json"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".probe"] == []
