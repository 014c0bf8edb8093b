"""GraphQL schema, request context, dataloaders, permissions and the ASGI app."""
