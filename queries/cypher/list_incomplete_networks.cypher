// Networks whose export is running or was interrupted (status 'writing'): the next export of
// the same network cleans them up and redoes them; `prunegraph delete --network ID` removes them.
MATCH (n:Network)
WHERE n.status <> 'complete'
RETURN n.network_id AS network_id, n.study AS study, n.status AS status,
       n.level AS stored_level, n.target_level AS target_level, n.updated_at AS updated_at
ORDER BY updated_at
