"""TEI: the document codec, a line's text, the hardened XML parser, the editors' shorthand, validation."""
