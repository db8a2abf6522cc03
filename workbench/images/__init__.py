"""Pictures: page images accepted into an edition, line crops, rendered pages."""
