"""The format registry, header sniffing and open_inputs (folders, zip members, gzip)."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.sources.formats.base import (
    FORMATS,
    ReadOptions,
    format_for,
    load_all,
    open_inputs,
    read_header,
)
from tests.pipeline.sources.formats.support import DATA, read_all


def test_load_all_registers_the_four_formats_with_titles_and_help() -> None:
    formats = load_all()
    assert {"datashop", "orats", "hod", "databento"} <= set(formats) == set(FORMATS)
    assert all(f.title and f.help and f.name == name for name, f in formats.items())


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("datashop_calcs.csv", "datashop"),
        ("orats_strikes.csv", "orats"),
        ("orats_near_eod.csv", "orats"),
        ("hod_l2.csv", "hod"),
        ("hod_l3.csv", "hod"),
        ("hod_pre2010.csv", "hod"),
    ],
)
def test_each_header_is_recognised_by_exactly_its_format(file: str, name: str) -> None:
    header = read_header(DATA / file)
    found = format_for(header)
    assert found is not None and found.name == name
    assert [f.name for f in load_all().values() if f.matches(header)] == [name]


def test_folders_are_walked_recursively_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    for name in ("b/2.csv", "a.csv", "b/1.csv"):
        (tmp_path / name).write_text("x\n")
    found = [label for _, label in open_inputs([tmp_path])]
    assert found == [str(tmp_path / n) for n in ("a.csv", "b/1.csv", "b/2.csv")]


def test_zip_members_and_gzip_files_are_read_with_their_labels(tmp_path: Path) -> None:
    archive = tmp_path / "day.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(DATA / "hod_l2.csv", "hod_l2.csv")
        z.write(DATA / "datashop_calcs.csv", "datashop.csv")
    packed = tmp_path / "orats.csv.gz"
    packed.write_bytes(gzip.compress((DATA / "orats_strikes.csv").read_bytes()))
    seen = {}
    for path, label in open_inputs([archive, packed]):
        fmt = format_for(read_header(path))
        assert fmt is not None
        chains = read_all(fmt.name, path, ReadOptions(origin=label))
        seen[label] = (fmt.name, chains[0].chain.origin)
    assert seen == {
        f"{archive}:datashop.csv": ("datashop", f"{archive}:datashop.csv"),
        f"{archive}:hod_l2.csv": ("hod", f"{archive}:hod_l2.csv"),
        str(packed): ("orats", str(packed)),
    }


def test_errors_name_the_zip_member(tmp_path: Path) -> None:
    archive = tmp_path / "day.zip"
    text = (DATA / "datashop_calcs.csv").read_text().replace(",8123,", ",-8123,")
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("bad.csv", text)
    with pytest.raises(InputError, match=f"^{archive}:bad.csv, line 2, column 'open_interest'"):
        for path, label in open_inputs([archive]):  # a member lives until the next is asked
            read_all("datashop", path, ReadOptions(origin=label))


def test_a_corrupt_zip_member_is_one_line_naming_zip_and_member(tmp_path: Path) -> None:
    archive = tmp_path / "day.zip"
    body = (DATA / "hod_l2.csv").read_bytes()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("good.csv", b"a\n1\n")
        z.writestr("hod.csv", body)
    raw = archive.read_bytes()
    archive.write_bytes(raw.replace(body[100:120], b"X" * 20, 1))  # CRC no longer matches
    with pytest.raises(InputError, match=f"^{archive}: member hod.csv is corrupt") as caught:
        list(open_inputs([archive]))
    assert "\n" not in str(caught.value)


def test_a_corrupt_gzip_file_or_a_missing_path_is_refused(tmp_path: Path) -> None:
    packed = tmp_path / "day.csv.gz"
    rows = "".join(f"{i},{i * i}\n" for i in range(5000)).encode()
    packed.write_bytes(gzip.compress(b"a,b\n" + rows)[:400])
    with pytest.raises(InputError, match="corrupt gzip file"):
        list(open_inputs([packed]))
    with pytest.raises(InputError, match="no such file or folder"):
        list(open_inputs([tmp_path / "missing.csv"]))
