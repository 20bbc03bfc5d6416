// The names of the projections in the GDS graph catalog (to drop stale ones by name).
CALL gds.graph.list() YIELD graphName
RETURN graphName AS graph_name
ORDER BY graph_name
