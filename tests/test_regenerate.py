"""The generated modules layergrad itself runs on are checked in and must match their generators."""

from numeric import regenerate


def test_checked_in_generated_modules_are_up_to_date():
    stale = regenerate.stale()
    assert stale == [], f"{[str(p) for p in stale]} differ from their generators: run python -m numeric.regenerate"


def test_a_hand_edit_is_detected(tmp_path, monkeypatch):
    path, arguments = next(iter(regenerate.PACKAGED.items()))
    copy = tmp_path / path.name
    copy.write_text(path.read_text().replace("dx = dout*mask", "dx = dout"))
    monkeypatch.setattr(regenerate, "PACKAGED", {copy: arguments})
    assert regenerate.stale() == [copy]
    regenerate.main()
    assert regenerate.stale() == [] and copy.read_text() == path.read_text()
