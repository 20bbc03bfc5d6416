// Schema: one (:Layer) per (network_id, index) (composite uniqueness constraint; Community allows it).
CREATE CONSTRAINT layer_key IF NOT EXISTS FOR (l:Layer) REQUIRE (l.network_id, l.index) IS UNIQUE
