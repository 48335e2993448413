"""Inputs -> articles -> chunks: `load.load_sources` reads files, folders, pages, feeds and JSON
Lines (a `Failure` with its reason for each bad item), and `chunk.chunk_article` cuts an article
on sentence boundaries. docs/architecture.md shows where each step lives."""
