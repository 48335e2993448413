"""The articles: loading (ingest/), the Chroma collection and its keyword index (store.py), the
embedding model (embed.py). Imports nothing from qa or ui.py."""
