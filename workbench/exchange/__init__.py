"""Other tools' formats: PAGE XML and ALTO files, import and export."""
