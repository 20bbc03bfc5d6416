// Export protocol: the stored state of one network (no row when it is not stored).
// status 'writing' means an export or upgrade is running or was interrupted; flags lists
// the stored-family flags that are true (has_rolled, has_rolled_channel, ...).
// :param network_id => '0123456789abcdef'
MATCH (n:Network {network_id: $network_id})
RETURN n.status AS status, n.level AS level, n.target_level AS target_level,
       n.content_hash AS content_hash, n.study AS study,
       [k IN keys(n) WHERE k STARTS WITH 'has_' AND n[k] = true] AS flags
