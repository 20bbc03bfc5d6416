// Complete networks that have no value recorded for one metric (for `prunegraph metrics --missing`).
// :param metric => 'kcore'
MATCH (n:Network)
WHERE n.status = 'complete' AND n[$metric] IS NULL
RETURN n.network_id AS network_id ORDER BY network_id
