// Unit count per partition of one stored MGE (fallback when the Network lacks partition shapes).
// :param label => 'N_0123456789abcdef'
MATCH (u:$($label))
RETURN u.p AS p, count(*) AS size
ORDER BY p
