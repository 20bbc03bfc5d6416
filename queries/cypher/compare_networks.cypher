// Compare two networks' MGE edge sets layer by layer (both stored at level 'full', same
// architecture): per layer |E_a|, |E_b|, shared edges, Jaccard |A∩B|/|A∪B| and overlap
// |A∩B|/min(|A|,|B|); every row also carries the network-level stability metrics of
// Cunegatti et al. 2023, eq. 4: SJ = Σ J_i e_i / Σ e_i and SO likewise, with e_i = (|E_a,i| + |E_b,i|) / 2.
// :param network_a => '0123456789abcdef'
// :param network_b => 'fedcba9876543210'
MATCH (na:Network {network_id: $network_a, status: 'complete', level: 'full'})
MATCH (nb:Network {network_id: $network_b, status: 'complete', level: 'full'})
WHERE na.partition_sizes = nb.partition_sizes
MATCH (na)-[:HAS_LAYER]->(la:Layer)
MATCH (nb)-[:HAS_LAYER]->(lb:Layer {index: la.index})
CALL (na, la) {
  MATCH (x:Unit {network_id: $network_a})
  WHERE na.partition_offsets[la.src_partition] <= x.uid < na.partition_offsets[la.src_partition] + na.partition_sizes[la.src_partition]
  MATCH (x)-[r]->(y)
  WHERE r.layer = la.index
  MATCH (xb:Unit {network_id: $network_b, uid: x.uid})
  RETURN sum(COUNT { (xb)-[rb]->(yb) WHERE rb.layer = la.index AND yb.uid = y.uid }) AS shared
}
WITH la.index AS layer, la.name AS name, la.n_edges AS edges_a, lb.n_edges AS edges_b, shared
WITH layer, name, edges_a, edges_b, shared,
     (edges_a + edges_b) / 2.0 AS e,
     CASE WHEN edges_a + edges_b - shared = 0 THEN null
          ELSE toFloat(shared) / (edges_a + edges_b - shared) END AS jaccard,
     CASE WHEN edges_a = 0 OR edges_b = 0 THEN null
          ELSE toFloat(shared) / CASE WHEN edges_a < edges_b THEN edges_a ELSE edges_b END END AS overlap
ORDER BY layer
WITH collect({layer: layer, name: name, edges_a: edges_a, edges_b: edges_b, shared: shared,
              e: e, jaccard: jaccard, overlap: overlap}) AS rows
WITH rows, reduce(s = 0.0, r IN rows | s + r.e) AS total
UNWIND rows AS r
RETURN r.layer AS layer, r.name AS name, r.edges_a AS edges_a, r.edges_b AS edges_b,
       r.shared AS shared, r.jaccard AS jaccard, r.overlap AS overlap,
       CASE WHEN total = 0 THEN null
            ELSE reduce(s = 0.0, x IN rows | s + coalesce(x.jaccard, 0.0) * x.e) / total END AS sj,
       CASE WHEN total = 0 THEN null
            ELSE reduce(s = 0.0, x IN rows | s + coalesce(x.overlap, 0.0) * x.e) / total END AS so
ORDER BY layer
