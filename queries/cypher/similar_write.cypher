// Store the pairwise stability of networks of one architecture (Cunegatti et al. 2023, eq. 4)
// as SIMILAR relationships, one per unordered pair and setting ('init': seeds differ; 'data':
// datasets differ), drawn from the smaller network_id. MERGE on (a, b, setting): running it
// again replaces the values, never duplicates a relationship.
// :param rows => [{a: '0123456789abcdef', b: 'fedcba9876543210', setting: 'init', jaccard: 0.5, overlap: 0.7}]
UNWIND $rows AS row
MATCH (a:Network {network_id: row.a})
MATCH (b:Network {network_id: row.b})
MERGE (a)-[r:SIMILAR {setting: row.setting}]->(b)
SET r.jaccard = row.jaccard, r.overlap = row.overlap
RETURN count(r) AS n
