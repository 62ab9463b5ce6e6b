"""A dossier conversation written before its data was a dataclass reads the same afterwards: a deploy in the
middle of placing an album or of taking a file back loses nothing."""

from __future__ import annotations

from handlers.dossier_files import FilesForm
from handlers.dossier_form import DossierForm, WaitingFile


def test_a_row_from_before_the_dataclass_keeps_its_waiting_files_and_place() -> None:
    row = {
        "dossier_id": 7,
        "page": "more",
        "expiry_asked": [3],
        "stray": [[11, "a.jpg", "image/jpeg"], [12, None, "application/pdf"], ["x"]],
        "burst": ["album", "2026-03-01T08:00:00+00:00"],
        "then": "menu",
    }
    form = DossierForm.load(row)
    assert (form.dossier_id, form.page, form.expiry_asked, form.then) == (7, "more", [3], "menu")
    assert form.waiting() == [
        WaitingFile(11, "a.jpg", "image/jpeg"),
        WaitingFile(12, None, "application/pdf"),
        WaitingFile(-1, None, ""),  # not ours: read as a file that is gone, never as someone's id
    ]
    dumped = form.dump()
    assert dumped["stray"] == row["stray"] and dumped["burst"] == row["burst"]


def test_a_file_kept_twice_waits_once() -> None:
    form = DossierForm()
    form.keep_waiting(WaitingFile(5, "a.jpg", "image/jpeg"))
    form.keep_waiting(WaitingFile(5, "a.jpg", "image/jpeg"))
    assert form.stray == [[5, "a.jpg", "image/jpeg"]]


def test_the_files_flow_carries_the_item_there_and_back_without_the_waiting_files() -> None:
    old_files_row = {"dossier_id": 7, "item_id": 9, "page": "required", "expiry_asked": [9], "link_id": 4}
    files = FilesForm.load(old_files_row)
    back = files.back()
    assert (back.dossier_id, back.item_id, back.expiry_asked) == (7, 9, [9])
    there = FilesForm.load(DossierForm(dossier_id=7, item_id=9, stray=[[1, None, "image/png"]]).item_view().dump())
    assert (there.dossier_id, there.item_id, there.link_id) == (7, 9, None)
