// The most and least stable pruners of one study, per architecture, sparsity and setting
// ('init': seeds differ; 'data': datasets differ): the mean layer-weighted Jaccard (and
// overlap) of the stored SIMILAR pairs of each pruner (Cunegatti et al. 2023, eq. 4), then,
// per group, the pruner with the highest and the lowest mean Jaccard (ties by name).
// :param study => 'demo'
MATCH (a:Network {study: $study, status: 'complete'})-[r:SIMILAR]->(b:Network {status: 'complete'})
WITH r.setting AS setting, a.architecture AS architecture, a.sparsity AS sparsity,
     a.pruner AS pruner, avg(r.jaccard) AS jaccard, avg(r.overlap) AS overlap, count(r) AS pairs
ORDER BY jaccard DESC, pruner
WITH setting, architecture, sparsity,
     collect({pruner: pruner, jaccard: jaccard, overlap: overlap, pairs: pairs}) AS ranked
WITH setting, architecture, sparsity, ranked, ranked[0] AS most,
     [x IN ranked WHERE x.jaccard = ranked[-1].jaccard][0] AS least
RETURN setting, architecture, sparsity, size(ranked) AS pruners,
       most.pruner AS most_stable, most.jaccard AS most_jaccard, most.overlap AS most_overlap,
       least.pruner AS least_stable, least.jaccard AS least_jaccard,
       least.overlap AS least_overlap
ORDER BY setting, architecture, sparsity
