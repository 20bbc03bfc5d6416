// Export protocol, step 1: create (or reopen) the Network node with status 'writing' and link
// it to its Study (moving it if the study changed). Readers skip 'writing' networks.
// :param record => {network_id: '0123456789abcdef', study: 'demo', architecture: 'mlp', dataset: 'digits', pruner: 'magnitude', pruner_category: 'pai', sparsity: 0.5, seed: 0, input_shape: [64], config_json: '{}', content_hash: 'abcdef0123456789'}
// :param graph => {n_nodes: 3, n_edges: 2, n_partitions: 2, partition_sizes: [2, 1], partition_offsets: [0, 2], partition_shapes_json: '[[2],[1]]'}
// :param target_level => 'full'
MERGE (s:Study {name: $record.study})
MERGE (n:Network {network_id: $record.network_id})
  ON CREATE SET n.created_at = datetime()
SET n += $record, n += $graph, n.status = 'writing', n.target_level = $target_level,
    n.updated_at = datetime()
MERGE (s)-[:HAS_NETWORK]->(n)
WITH s, n
OPTIONAL MATCH (other:Study)-[old:HAS_NETWORK]->(n) WHERE other <> s
DELETE old
RETURN n.network_id AS network_id, n.level AS level
