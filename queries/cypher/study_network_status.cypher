// Every network of a study with its write status, storage level and which metrics it holds
// (the study runner reads this to skip networks that are already complete).
// :param study => 'demo'
MATCH (n:Network {study: $study})
RETURN n.network_id AS network_id, n.status AS status, n.level AS level,
       n.metric_engines AS metric_engines, n.pruner AS pruner, n.sparsity AS sparsity,
       n.acc_sparse AS acc_sparse
ORDER BY network_id
