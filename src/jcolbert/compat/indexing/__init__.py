"""``colbert.indexing`` for jcolbert: only `collection_indexer.CollectionIndexer`, for code that imports it."""
