"""The queries: query and mutation resolvers, the request context and its dataloaders. They return
rows, pages and metric snapshots for ``graph/`` to present, and never import it."""
