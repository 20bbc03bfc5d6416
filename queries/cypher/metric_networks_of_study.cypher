// Network ids of one study (for `prunegraph metrics --study`).
// :param study => 'demo'
MATCH (:Study {name: $study})-[:HAS_NETWORK]->(n:Network)
RETURN n.network_id AS network_id ORDER BY network_id
