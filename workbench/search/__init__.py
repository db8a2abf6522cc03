"""The readers' search: word analysis for old and modern spelling, the Whoosh index, keeping it in step."""
