"""Manuscript transcription and TEI edition workbench: facsimiles → kraken → TEI.

The packages are the architecture (README, "Layout of the code"):

- ``model``, ``edition``, ``journal``, ``files``: the types, the edition folder and its
  one way of saving, the edit journal, safe writes;
- ``tei``: TEI documents, a line's text, the editors' shorthand, validation;
- ``layout``: lines on a page: geometry, ids, merging and mending segmentations, hand
  corrections and their log;
- ``htr``: kraken (the only place it is imported), the pipeline, training, evaluation;
- ``exchange``: PAGE and ALTO, import and export;
- ``search``: word analysis for old and modern Bulgarian spelling, the Whoosh index;
- ``images``: page images, line crops; ``sample``: rendered pre-1945 pages;
- ``transcription``, ``metadata``, ``users``, ``jobs``: line saves, header fields,
  accounts, background jobs;
- ``web`` and ``cli``: the two front ends, which only compose the rest.
"""
