"""Query and mutation resolvers; REST handlers as thin wrappers over GraphQL documents."""
