// Read back the rolled-BGE edges of one network, one page of source units at a time (uid > $after,
// at most $batch_size units): the page's unit uids and parallel lists of edge source and target
// uids, weights, layers and relationship types. Page on with $after = the last uid returned.
// :param network_id => '0123456789abcdef'
// :param after => -1
// :param batch_size => 1000
MATCH (a:RolledUnit {network_id: $network_id})
WHERE a.uid > $after
WITH a ORDER BY a.uid LIMIT $batch_size
WITH collect(a) AS page
UNWIND page AS a
OPTIONAL MATCH (a)-[r]->(b)
WITH page, collect(CASE WHEN r IS NOT NULL THEN [a.uid, b.uid, r.w, r.layer, type(r)] END) AS edges
RETURN [x IN page | x.uid] AS units, [e IN edges | e[0]] AS src, [e IN edges | e[1]] AS dst,
       [e IN edges | e[2]] AS w, [e IN edges | e[3]] AS layer, [e IN edges | e[4]] AS type
