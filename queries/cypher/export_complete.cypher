// Export protocol, last step: mark a network complete at $level after its last batch.
// :param network_id => '0123456789abcdef'
// :param level => 'full'
// :param has_rolled => true
// :param has_rolled_channel => true
MATCH (n:Network {network_id: $network_id})
SET n.status = 'complete', n.level = $level, n.has_rolled = $has_rolled,
    n.has_rolled_channel = $has_rolled_channel, n.updated_at = datetime()
REMOVE n.target_level
RETURN n.network_id AS network_id, n.status AS status, n.level AS level
