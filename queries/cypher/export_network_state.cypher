// Export protocol: the stored state of one network (no row when it is not stored).
// status 'writing' means an export or upgrade is running or was interrupted.
// :param network_id => '0123456789abcdef'
MATCH (n:Network {network_id: $network_id})
RETURN n.status AS status, n.level AS level, n.target_level AS target_level,
       n.content_hash AS content_hash, n.study AS study,
       coalesce(n.has_rolled, false) AS has_rolled,
       coalesce(n.has_rolled_channel, false) AS has_rolled_channel
