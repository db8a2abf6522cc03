"""A base pretrained on synthetic lines, on the models page: said so, and offered to fine-tune."""

from __future__ import annotations

import json
from dataclasses import asdict

from lxml import html

from workbench.htr import training


def test_a_pretrained_base_is_listed_as_synthetic_and_offered_to_start_from(editor, sample_edition):
    record = training.ModelRecord(
        name="bg-base",
        created="2026-12-01T23:00:00Z",
        base=None,
        manuscripts=[],
        training_lines=3600,
        validation_lines=400,
        held_out=[],
        epochs=30,
        validation_accuracy=0.9,
        synthetic={"seed": 7, "lines": 4000, "fonts": ["/usr/share/fonts/a.ttf"], "fonts_skipped": {}, "spec": "[]"},
    )
    folder = training.ModelStore.of(sample_edition).folder / "bg-base"
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps(asdict(record)))
    assert training.ModelStore.of(sample_edition).get("bg-base").synthetic["seed"] == 7  # read back as written

    page = html.fromstring(editor.get("/models/", headers={"Accept-Language": "bg"}).get_data(as_text=True))
    row = page.get_element_by_id("model-bg-base")
    assert "синтетични редове (начално число 7)" in row.text_content()
    assert page.xpath('//select[@name="base"]/option[@value="bg-base"]')
    page = html.fromstring(editor.get("/models/?lang=en").get_data(as_text=True))
    assert "synthetic lines (seed 7)" in page.get_element_by_id("model-bg-base").text_content()
