"""The transport: the ASGI app, authentication, the GraphQL schema and types, the endpoint, the REST
layer, cache, telemetry, health and pages. It calls the queries in ``resolvers/``."""
