// Which studies are stored: per study, how many networks are complete (and how many are still
// being written or were interrupted), their architectures, pruners and sparsities, and how many
// MGE edges are stored at level 'full'.
MATCH (s:Study)
RETURN s.name AS study,
       COUNT { (s)-[:HAS_NETWORK]->(n:Network {status: 'complete'}) } AS networks,
       COUNT { (s)-[:HAS_NETWORK]->(n:Network) WHERE n.status <> 'complete' } AS incomplete,
       COLLECT { MATCH (s)-[:HAS_NETWORK]->(n:Network {status: 'complete'})
                 RETURN DISTINCT n.architecture AS a ORDER BY a } AS architectures,
       COLLECT { MATCH (s)-[:HAS_NETWORK]->(n:Network {status: 'complete'})
                 RETURN DISTINCT n.pruner AS p ORDER BY p } AS pruners,
       COLLECT { MATCH (s)-[:HAS_NETWORK]->(n:Network {status: 'complete'})
                 RETURN DISTINCT n.sparsity AS x ORDER BY x } AS sparsities,
       reduce(total = 0, e IN COLLECT { MATCH (s)-[:HAS_NETWORK]->(n:Network {status: 'complete', level: 'full'})
                                        RETURN n.n_edges } | total + e) AS full_edges
ORDER BY study
