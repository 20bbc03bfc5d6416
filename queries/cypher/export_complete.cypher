// Export protocol, last step: mark a network complete at $level after its last batch, with
// its stored-family flags ($flags: has_rolled, has_rolled_channel, ...).
// :param network_id => '0123456789abcdef'
// :param level => 'full'
// :param flags => {has_rolled: true, has_rolled_channel: true}
MATCH (n:Network {network_id: $network_id})
SET n.status = 'complete', n.level = $level, n += $flags, n.updated_at = datetime()
REMOVE n.target_level
RETURN n.network_id AS network_id, n.status AS status, n.level AS level
