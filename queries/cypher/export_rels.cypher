// Export: create one batch of relationships of one whitelisted type (CONV, LINEAR, SKIP,
// POOLED_CONV, POOLED_LINEAR, ROLLED, ROLLED_CHANNEL) between nodes created by this export,
// addressed by internal id; columns $src, $dst, $w are parallel lists.
// :param type => 'LINEAR'
// :param layer => 0
// :param src => [0]
// :param dst => [1]
// :param w => [0.5]
UNWIND range(0, size($src) - 1) AS k
MATCH (a) WHERE id(a) = $src[k]
MATCH (b) WHERE id(b) = $dst[k]
CREATE (a)-[:$($type) {w: $w[k], layer: $layer}]->(b)
RETURN count(*) AS n
