"""Pictures: page images accepted into an edition, and line crops."""
