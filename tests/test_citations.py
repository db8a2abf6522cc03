"""Formatted citations: the workbench's Bulgarian style and Harvard, in Bulgarian and English."""

from __future__ import annotations

import pytest

from tests.exchange.test_bibliographic import sample_entries
from workbench import citations
from workbench.model import WorkbenchError


def test_the_bulgarian_style_follows_bds_in_both_languages():
    bulgarian = citations.cite(sample_entries(), "bds", "bg")
    assert bulgarian == {
        "b001": "Шекспиръ, Уилямъ. Хамлетъ, принцъ датски / Прев. Трифонъ Ц. Трифоновъ. – "
        "София : Т. Ф. Чипевъ, 1900. – 180 с.",
        "b002": "Трифоновъ, Трифонъ. Нѣколко думи за превода // Периодическо списание, год. 12, 1895, № 3, с. 45–60.",
    }
    english = citations.cite(sample_entries(), "bds", "en")
    assert english["b001"].endswith("/ Transl. Трифонъ Ц. Трифоновъ. – София : Т. Ф. Чипевъ, 1900. – 180 p.")
    assert english["b002"].endswith("// Периодическо списание, vol. 12, 1895, no. 3, p. 45–60.")


def test_harvard_from_the_installed_citeproc_py_in_both_languages():
    bulgarian = citations.cite(sample_entries(), "harvard", "bg")
    assert (
        bulgarian["b001"]
        == "Шекспиръ, У. (1900) Хамлетъ, принцъ датски. Преведен от Т.Ц. Трифоновъ. София: Т. Ф. Чипевъ."
    )
    assert (
        bulgarian["b002"] == "Трифоновъ, Т. (1895) „Нѣколко думи за превода“, Периодическо списание, 12(3), стр. 45–60."
    )
    english = citations.cite(sample_entries(), "harvard", "en")
    assert "Translated by Т.Ц. Трифоновъ" in english["b001"]
    assert english["b002"].endswith("‘Нѣколко думи за превода’, Периодическо списание, 12(3), pp. 45–60.")


def test_an_unknown_style_or_language_is_refused():
    with pytest.raises(WorkbenchError, match="unknown citation style"):
        citations.cite(sample_entries(), "chicago", "bg")
    with pytest.raises(WorkbenchError, match="no citations in 'de'"):
        citations.cite(sample_entries(), "bds", "de")


def test_the_bulgarian_style_is_valid_csl(tmp_path):
    import warnings

    from citeproc import CitationStylesStyle

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # citeproc-py reports an invalid style as a warning
        CitationStylesStyle(citations.STYLES["bds"], validate=True)
        broken = tmp_path / "broken.csl"
        broken.write_text(
            open(citations.STYLES["bds"], encoding="utf-8").read().replace('variable="title"', 'variabel="title"')
        )
        with pytest.raises(Warning, match="didn.t pass schema validation"):
            CitationStylesStyle(str(broken), validate=True)
