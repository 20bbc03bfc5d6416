// Write metric values (whitelisted property names) onto one Network node; null removes a value.
// :param network_id => '0123456789abcdef'
// :param props => {kcore: 2.5, metric_engines: '{"kcore": "gds"}'}
MATCH (n:Network {network_id: $network_id})
SET n += $props
RETURN count(n) AS updated
