"""The Neo4j store, the Cypher library, GDS projections and the metric engine."""
