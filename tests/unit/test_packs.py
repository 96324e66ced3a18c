"""Built-in scenarios by name: what `mockserver serve css chaos/throttled` loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.packs import BUILTIN_DIR, builtin_names, resolve


def test_the_built_in_folder_is_the_repository_s_top_level_scenarios() -> None:
    assert Path(__file__).resolve().parents[2] / "scenarios" == BUILTIN_DIR


def test_names_cover_packs_and_files_without_suffix() -> None:
    names = builtin_names()
    assert {"css", "css/chaos", "css/chaos/throttled", "chaos/throttled", "demo", "status"} <= set(names)
    assert not [n for n in names if n.endswith((".yaml", ".json"))]


def test_a_name_after_a_pack_is_looked_up_in_it_first(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve(["css", "chaos/throttled"]) == [BUILTIN_DIR / "css",
                                                   BUILTIN_DIR / "css/chaos/throttled.yaml"]
    assert resolve(["chaos/throttled"]) == [BUILTIN_DIR / "chaos/throttled.yaml"]
    assert resolve(["css/chaos/timeout.yaml"]) == [BUILTIN_DIR / "css/chaos/timeout.yaml"]


def test_what_exists_on_disk_wins_and_unknown_names_are_left_for_the_loader(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "css").mkdir()
    given = ["css", "nope", "../scenarios/css"]
    assert resolve(given) == [Path(p) for p in given]
