// Write per-layer metric values (whitelisted property names) onto the Layer nodes of one network.
// :param network_id => '0123456789abcdef'
// :param rows => [{index: 0, props: {delta_r: 1.5}}]
UNWIND $rows AS row
MATCH (l:Layer {network_id: $network_id, index: row.index})
SET l += row.props
RETURN count(l) AS updated
