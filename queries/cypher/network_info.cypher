// Everything stored on one Network node (identity, outcomes, configuration JSON, level,
// status, sizes and any metrics), whatever its status; no row if the id is not stored.
// :param network_id => '0123456789abcdef'
MATCH (n:Network {network_id: $network_id})
RETURN n.network_id AS network_id, n.status AS status, n.level AS level,
       properties(n) AS properties
