"""The shipped language-family table, overrides, lookups and family ordering."""

import json

import pytest

from hf_cser.cltm import family_labels, language_family, load_language_families, order_by_family


def test_shipped_table_is_package_data_and_covers_the_corpus_languages():
    from importlib import resources

    assert resources.files("hf_cser.cltm").joinpath("language_families.json").is_file()
    families = load_language_families()
    for code in ("en", "zh", "de", "fr", "ur", "es", "it", "ru"):
        assert code in families
    assert families["en"] == families["de"] == "Indo-European (Germanic)"
    assert families["fr"] == families["es"] == "Indo-European (Romance)"
    assert families["zh"] == "Sino-Tibetan (Sinitic)" and families["ja"] == "Japonic"
    coarse = load_language_families(level="family")
    assert coarse["en"] == coarse["fr"] == coarse["ur"] == "Indo-European"


def test_regional_variants_and_unknown_languages():
    families = load_language_families()
    assert language_family("zh-TW", families) == families["zh"]
    assert language_family("pt_BR", families) == families["pt"]
    assert language_family("xx", families) is None
    assert family_labels(["en", "xx"], families) == [families["en"], "unknown:xx"]


def test_user_tables_override(tmp_path):
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"en": "A", "de": "B"}))
    assert load_language_families(flat) == {"en": "A", "de": "B"}
    shaped = {"languages": {"en": {"family": "F", "branch": "b"}, "de": {"family": "F", "branch": None}}}
    assert load_language_families(shaped) == {"en": "F (b)", "de": "F"}
    assert load_language_families(shaped, level="family") == {"en": "F", "de": "F"}
    with pytest.raises(FileNotFoundError):
        load_language_families(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="level"):
        load_language_families(level="genus")
    with pytest.raises(ValueError, match="`family`"):
        load_language_families({"en": {"branch": "x"}})


def test_order_by_family_groups_languages():
    assert order_by_family(["en", "zh", "de", "fr", "ur", "es"]) == ["en", "de", "zh", "fr", "es", "ur"]
    assert order_by_family(["b", "a", "c"], {"a": "X", "b": "Y", "c": "Y"}) == ["b", "c", "a"]
